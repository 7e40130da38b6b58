//! Large JSON answers are decoded as they arrive: a 100,000-key attester
//! duties answer (about 25 MB) costs the client its decoded form plus a few
//! chunks, not the body and its decoded form at once; and a large answer
//! that goes wrong midway (bad JSON, a cut connection, past its cap, stalled
//! past the deadline) is refused with the cause, on time.
//!
//! The node is a plain TCP server on loopback writing the body in 64 KiB
//! pieces, with or without `Content-Length`. Memory is counted by this test
//! binary's global allocator (every thread: the decoder runs on a blocking
//! one), so the tests here take turns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::beacon::{AttesterDuty, BeaconClient, Data, DutiesResponse};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes allocated now, and the most since the last [`reset_peak`].
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is passed to `System` unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One test at a time: the counters are the whole process's.
static TURN: Mutex<()> = Mutex::new(());

fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::SeqCst);
    PEAK.store(now, Ordering::SeqCst);
    now
}

/// How the node sends its answer.
#[derive(Clone, Copy)]
enum Send {
    /// Whole, announcing its length or not (then the close ends it).
    Whole { announce: bool },
    /// Announces the whole length, sends `at` bytes, closes.
    CutAt { at: usize },
    /// Sends `at` bytes, then waits `secs` before the rest.
    StallAt { at: usize, secs: u64 },
}

/// A node answering every request with `body`, sent as `how`.
fn node(body: Arc<Vec<u8>>, how: Send) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut s) = stream else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                if read_request(&mut s).is_none() {
                    return;
                }
                let length = match how {
                    Send::Whole { announce: false } => String::new(),
                    _ => format!("content-length: {}\r\n", body.len()),
                };
                let head =
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{length}connection: close\r\n\r\n");
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let (upto, stall) = match how {
                    Send::Whole { .. } => (body.len(), None),
                    Send::CutAt { at } => (at, None),
                    Send::StallAt { at, secs } => (at, Some(secs)),
                };
                for piece in body[..upto].chunks(64 << 10) {
                    if s.write_all(piece).is_err() {
                        return;
                    }
                }
                if let Some(secs) = stall {
                    std::thread::sleep(Duration::from_secs(secs));
                    let _ = s.write_all(&body[upto..]);
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Reads one request's head and body (by its `Content-Length`).
fn read_request(s: &mut std::net::TcpStream) -> Option<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut have = got.len() - head_end;
    while have < length {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    Some(())
}

/// An attester duties answer for `n` validators, as a node writes it.
fn duties_body(n: u64) -> Vec<u8> {
    let mut out = String::from("{\"dependent_root\":\"0x");
    out.push_str(&"ab".repeat(32));
    out.push_str("\",\"execution_optimistic\":false,\"data\":[");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"pubkey\":\"0x{:096x}\",\"validator_index\":\"{i}\",\"committee_index\":\"{}\",\"committee_length\":\"{}\",\"committees_at_slot\":\"64\",\"validator_committee_index\":\"{}\",\"slot\":\"{}\"}}",
            u128::from(i as u32) * 0x1_0001 + 1,
            i % 64,
            n / 2048 + 1,
            i / 2048,
            32 + i % 32,
        ));
    }
    out.push_str("]}");
    out.into_bytes()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn fields(d: &AttesterDuty) -> (Vec<u8>, u64, u64, u64, u64, u64, u64) {
    (
        d.pubkey.0.to_vec(),
        d.validator_index,
        d.committee_index,
        d.committee_length,
        d.committees_at_slot,
        d.validator_committee_index,
        d.slot,
    )
}

const KEYS: u64 = 100_000;

async fn ask(client: &BeaconClient, keys: u64, timeout: Duration) -> Result<DutiesResponse<AttesterDuty>, String> {
    let indices: Vec<u64> = (0..keys).collect();
    client.attester_duties(1, &indices, timeout).await.map_err(|e| e.to_string())
}

#[test]
fn a_large_duties_answer_costs_its_decoded_form_not_its_body() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let body = Arc::new(duties_body(KEYS));
    let expected: Data<Vec<AttesterDuty>> = serde_json::from_slice(&body).unwrap();
    let rt = rt();
    for announce in [true, false] {
        let client = BeaconClient::new(vec![node(body.clone(), Send::Whole { announce })]);
        // Warm the connection pool and runtime so the measurement is the answer's.
        let _ = rt.block_on(ask(&client, 1, Duration::from_secs(10)));
        let before = reset_peak();
        let started = Instant::now();
        let got = rt.block_on(ask(&client, KEYS, Duration::from_secs(30))).expect("decodes");
        let streamed_time = started.elapsed();
        let peak = PEAK.load(Ordering::SeqCst) - before;
        let decoded = got.data.capacity() * std::mem::size_of::<AttesterDuty>();
        assert_eq!(got.data.len(), expected.data.len());
        assert!(
            got.data.iter().zip(&expected.data).all(|(a, b)| fields(a) == fields(b)),
            "same duties as a whole-body decode"
        );
        // The same answer read whole and then decoded, as before, in this run.
        let before = reset_peak();
        let started = Instant::now();
        let whole = rt.block_on(whole_then_decode(&node(body.clone(), Send::Whole { announce })));
        let whole_time = started.elapsed();
        let whole_peak = PEAK.load(Ordering::SeqCst) - before;
        assert_eq!(whole.data.len(), got.data.len());
        drop(whole);
        println!(
            "announce={announce}: body {} bytes, decoded {decoded} bytes; peak over baseline: streamed {peak}, whole {whole_peak} ({:.2}x); took {streamed_time:?} vs {whole_time:?} (not asserted)",
            body.len(),
            peak as f64 / whole_peak as f64
        );
        // Streamed: the decoded duties and a few MiB of chunks, not the body.
        assert!(peak < decoded + (8 << 20), "peak {peak} over decoded {decoded} + 8 MiB");
        assert!(peak * 10 < whole_peak * 6, "streamed {peak} vs whole {whole_peak}");
    }
}

/// The whole-body way poolvc read answers before: into one buffer sized
/// by `Content-Length` when there is one, then decoded.
async fn whole_then_decode(url: &str) -> DutiesResponse<AttesterDuty> {
    let indices: Vec<String> = (0..KEYS).map(|i| i.to_string()).collect();
    let mut resp = reqwest::Client::new()
        .post(format!("{url}/eth/v1/validator/duties/attester/1"))
        .json(&indices)
        .send()
        .await
        .unwrap();
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_large_answer_that_goes_wrong_midway_is_refused_with_its_cause() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let good = duties_body(KEYS);
    let mut bad = good.clone();
    let at = 3 << 20;
    bad[at..at + 8].copy_from_slice(b"}}]]{{::");
    let rt = rt();

    let client = BeaconClient::new(vec![node(Arc::new(bad), Send::Whole { announce: true })]);
    let e = rt.block_on(ask(&client, KEYS, Duration::from_secs(20))).unwrap_err();
    assert!(e.contains("malformed body") && e.contains("/eth/v1/validator/duties/attester"), "{e}");

    let good = Arc::new(good);
    let client = BeaconClient::new(vec![node(good.clone(), Send::CutAt { at })]);
    let e = rt.block_on(ask(&client, KEYS, Duration::from_secs(20))).unwrap_err();
    assert!(e.contains("/eth/v1/validator/duties/attester"), "{e}");
    assert!(!e.contains("within"), "a cut body is not a timeout: {e}");

    // Asked for 1,000 keys, a 25 MB answer is past the cap (about 1 MiB);
    // not announced, it is counted and dropped as it streams.
    let client = BeaconClient::new(vec![node(good.clone(), Send::Whole { announce: false })]);
    let e = rt.block_on(ask(&client, 1_000, Duration::from_secs(20))).unwrap_err();
    assert!(e.contains("with more than") && e.contains("the answer was dropped"), "{e}");

    let client = BeaconClient::new(vec![node(good, Send::StallAt { at, secs: 6 })]);
    let started = Instant::now();
    let e = rt.block_on(ask(&client, KEYS, Duration::from_millis(1500))).unwrap_err();
    let took = started.elapsed();
    assert!(e.contains("did not answer") && e.contains("within 1500 ms"), "{e}");
    assert!(took < Duration::from_millis(2500), "ended by its deadline, not the node: {took:?}");
}

#[test]
fn small_answers_and_empty_ones_still_decode() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let rt = rt();
    for n in [0, 1, 100] {
        let client = BeaconClient::new(vec![node(Arc::new(duties_body(n)), Send::Whole { announce: n != 1 })]);
        let got = rt.block_on(ask(&client, n.max(1), Duration::from_secs(5))).expect("decodes");
        assert_eq!(got.data.len() as u64, n);
    }
}
