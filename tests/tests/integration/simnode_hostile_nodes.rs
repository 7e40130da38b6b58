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
//! of the spec's bounds; duties relabelled with the client's other keys;
//! every answer trickling in a byte at a time; a node that takes every
//! connection and never answers. And a node that is down when the client
//! starts: waited for. The runs take turns (each
//! is timed against the chain's clock).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::attacks::Attacks;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::path::Path;
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

/// `poolvc vc` with all keys over `urls` (first preferred), logging to `log`.
fn spawn_vc(bin: &Path, urls: &[String], datadir: &Path, log: &Path) -> std::process::Child {
    Command::new(bin)
        .args([
            "vc",
            "--beacon-nodes",
            &urls.join(","),
            "--datadir",
            datadir.to_str().unwrap(),
            "--init-slashing-protection",
            "--interop-indexes",
            &format!("0..{}", VALIDATORS - 1),
            "--suggested-fee-recipient",
            "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "--graffiti",
            "simnode test",
            "--builder-proposals",
        ])
        .env("RUST_LOG", std::env::var("POOLVC_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Runs the client through epoch 1 (slots 8..=15) and its last aggregates
/// and contributions, sampling its memory; then SIGTERM. Returns the peak
/// RSS in MB and the time from SIGTERM to exit.
async fn through_epoch_1(name: &str, cfg: &SimConfig, child: &mut std::process::Child, log: &Path) -> (u64, Duration) {
    let pid = child.id();
    let end = Duration::from_millis(cfg.genesis_time * 1000 + 16 * cfg.slot_ms + 1500);
    let mut peak = 0;
    loop {
        peak = peak.max(rss_kib(pid));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        if now >= end {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{name}: poolvc exited early ({status}):\n{}", std::fs::read_to_string(log).unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asked = Instant::now();
    // SAFETY: kill only sends a signal to the child's pid.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if asked.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{name}: no exit 10 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (peak / 1024, asked.elapsed())
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
    let mut child = spawn_vc(&bin, &h.urls(), &dir.path().join("vc"), &log);
    let (peak_mb, took) = through_epoch_1(name, &cfg, &mut child, &log).await;
    let logs = std::fs::read_to_string(&log).unwrap();
    let r = h.sim.report();
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_epochs(&h, &r, &[1])));
    let line = checked.unwrap_or_else(|e| {
        eprintln!("{name}: the client's log:\n{logs}");
        std::panic::resume_unwind(e)
    });
    eprintln!(
        "{name}: {line}; RSS peak {peak_mb} MB; exit {took:?} after SIGTERM; requests per listener {:?}",
        r.requests
    );
    assert!(r.requests[0] > 0, "{name}: the hostile node was asked");
    assert!(peak_mb < RSS_BOUND_MB, "{name}: RSS peak {peak_mb} MB");
    assert!(took < SIGTERM_BOUND, "{name}: {took:?} from SIGTERM to exit\n{logs}");
    assert!(!logs.contains("panicked"), "{name}: a panic in the client:\n{logs}");
}

/// A beacon node that is down when the client starts is waited for (as
/// Lighthouse waits), with a message naming it; once it is up, every duty of
/// epoch 1 is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_at_start_is_waited_for() {
    let _machine = poolvc_tests::turns::shared();
    let _turn = TURN.lock().await;
    init_logs();
    let bin = poolvc_bin();
    let cfg = SimConfig { genesis_time: now() + 10, ..SimConfig::electra_minimal() };
    let h = SimHandle::<Minimal>::start(cfg.clone(), 1).await;
    h.take_down(0);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("vc.log");
    let mut child = spawn_vc(&bin, &h.urls(), &dir.path().join("vc"), &log);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(child.try_wait().unwrap().is_none(), "poolvc gave up on a node that is down");
    let waiting = std::fs::read_to_string(&log).unwrap();
    assert!(waiting.contains("waiting for a beacon node") && waiting.contains(&h.urls()[0]), "{waiting}");
    h.bring_up(0).await;
    let (_, took) = through_epoch_1("node down at start", &cfg, &mut child, &log).await;
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1]);
    eprintln!("node down at start: {line}; exit {took:?} after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies() {
    let _machine = poolvc_tests::turns::shared();
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
    let _machine = poolvc_tests::turns::shared();
    against("out-of-bound duties", Attacks { out_of_bound_duties: true, ..Default::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabelled_duties() {
    let _machine = poolvc_tests::turns::shared();
    against("relabelled duties", Attacks { relabelled_duties: true, ..Default::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_bodies() {
    let _machine = poolvc_tests::turns::shared();
    against("trickling bodies", Attacks { trickle: true, ..Default::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_hangs() {
    let _machine = poolvc_tests::turns::shared();
    against("hanging node", Attacks { hang: true, ..Default::default() }).await;
}
