//! Hostile beacon nodes (issue 10): `poolvc vc`, as its own process with 64
//! keys, against two listeners of the simulated Electra node (minimal
//! preset, 2-second slots) over one chain. The first, which the client
//! prefers, attacks; the second is honest. For each attack:
//! - every duty of epoch 1 is done (through the honest node), and the node
//!   sees nothing slashable and no signature by a wrong key;
//! - the client's resident memory stays under [`RSS_BOUND_MB`];
//! - SIGTERM ends it within [`SIGTERM_BOUND`].
//!
//! Attacks: bodies without end and bodies announced at 1 GiB; a million
//! duplicated attester duties and a million sync positions per member (both
//! far past the routes' caps); duties small enough to pass the caps but out
//! of the spec's bounds; every answer trickling in a byte at a time; a node
//! that takes every connection and never answers. The runs take turns (each
//! is timed against the chain's clock).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::attacks::Attacks;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Resident memory the client must stay under (64 keys; it runs at about
/// 20 to 30 MB against honest nodes).
const RSS_BOUND_MB: u64 = 100;

/// SIGTERM to exit.
const SIGTERM_BOUND: Duration = Duration::from_secs(2);

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn against(name: &str, attacks: Attacks) {
    let _turn = TURN.lock().await;
    init_logs();
    let bin = poolvc_bin();
    let cfg = SimConfig { genesis_time: now() + 3, ..SimConfig::electra_minimal() };
    let h = SimHandle::<Minimal>::start(cfg.clone(), 2).await;
    h.set_attacks(0, attacks);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("vc.log");
    let urls = h.urls();
    let mut child = Command::new(&bin)
        .args([
            "vc",
            "--beacon-nodes",
            &format!("{},{}", urls[0], urls[1]),
            "--datadir",
            dir.path().join("vc").to_str().unwrap(),
            "--init-slashing-protection",
            "--interop-indexes",
            &format!("0..{}", VALIDATORS - 1),
            "--suggested-fee-recipient",
            "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "--graffiti",
            "simnode test",
            "--builder-proposals",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Through epoch 1 (slots 8..=15) and its last aggregates and
    // contributions, sampling the client's memory.
    let end = Duration::from_millis(cfg.genesis_time * 1000 + 16 * cfg.slot_ms + 1500);
    let mut peak = 0;
    loop {
        peak = peak.max(rss_kib(pid));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        if now >= end {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{name}: poolvc exited early ({status}):\n{}", std::fs::read_to_string(&log).unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asked = Instant::now();
    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if asked.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{name}: no exit 10 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = asked.elapsed();
    let logs = std::fs::read_to_string(&log).unwrap();
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1]);
    let peak_mb = peak / 1024;
    eprintln!(
        "{name}: {line}; RSS peak {peak_mb} MB; exit {took:?} after SIGTERM ({status}); requests per listener {:?}",
        r.requests
    );
    assert!(r.requests[0] > 0, "{name}: the hostile node was asked");
    assert!(peak_mb < RSS_BOUND_MB, "{name}: RSS peak {peak_mb} MB");
    assert!(took < SIGTERM_BOUND, "{name}: {took:?} from SIGTERM to exit\n{logs}");
    assert!(!logs.contains("panicked"), "{name}: a panic in the client:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies() {
    let a = Attacks {
        endless_attestation_data: true,
        announced_huge_bodies: true,
        duplicated_duties: true,
        sync_position_flood: true,
        ..Default::default()
    };
    against("oversized bodies", a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bound_duties() {
    against("out-of-bound duties", Attacks { out_of_bound_duties: true, ..Default::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_bodies() {
    against("trickling bodies", Attacks { trickle: true, ..Default::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_hangs() {
    against("hanging node", Attacks { hang: true, ..Default::default() }).await;
}
