//! The high-availability setup operators run: two poolvc instances with the
//! same keys, each on its own host, sharing one PostgreSQL slashing
//! database, against one beacon node. Each instance runs in its own network
//! namespace (`ip netns`, a veth pair to this host) and reaches the
//! simulated node and PostgreSQL through its own interface only.
//!
//! Both instances try every duty; PostgreSQL's row locks let one of them
//! sign a conflicting message and make the other refuse it (their blocks
//! differ by graffiti). The node must see every duty of epoch 1 done and
//! nothing slashable; the losing instance's refusals are logged and counted.
//!
//! Needs root (network namespaces) and PostgreSQL (`POOLVC_TEST_POSTGRES_URL`);
//! without them the test says it is skipped, except under `CI=true`, where it
//! must run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::netns::{forward, make_hosts, split_url, strip_ansi, total};
use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_one_postgres_overlapping_keys() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let fresh = tokio::task::spawn_blocking(|| poolvc_tests::fresh_postgres("ha_two_hosts"));
    let Some(db_url) = fresh.await.unwrap() else { return };
    let Some(hosts) = make_hosts(&[(1, false), (2, false)]) else { return };
    let (auth, pg, db) = split_url(&db_url);
    let bin = poolvc_bin();
    let cfg = SimConfig { genesis_time: now() + 4, ..SimConfig::electra_minimal() };
    let binds: Vec<SocketAddr> = hosts.iter().map(|h| SocketAddr::from((h.gateway(), 0))).collect();
    let h = SimHandle::<Minimal>::start_on(cfg, &binds).await;
    let mut children = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let pg_here = SocketAddr::from((host.gateway(), 15432));
        forward(pg_here, pg).await;
        let dir = datadir();
        let log = dir.path().join("vc.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &host.ns])
            .arg(&bin)
            .args(["vc", "--beacon-nodes", &h.urls()[i], "--datadir"])
            .arg(dir.path())
            .args([
                "--init-slashing-protection",
                "--slashing-protection-db",
                &format!("postgres://{auth}@{pg_here}/{db}"),
            ])
            .args(["--suggested-fee-recipient", "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--builder-proposals"])
            .args(["--graffiti", &format!("host {}", host.n), "--max-slots", "15"])
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("vc.err")).unwrap())
            .spawn()
            .unwrap();
        children.push((child, dir));
    }
    let mut logs = Vec::new();
    for (mut child, dir) in children {
        let status = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            loop {
                if let Some(s) = child.try_wait().unwrap() {
                    return Some(s);
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .await
        .unwrap();
        let err = strip_ansi(&std::fs::read_to_string(dir.path().join("vc.err")).unwrap());
        assert!(status.is_some_and(|s| s.success()), "an instance failed ({status:?}):\n{err}");
        logs.push(err);
    }
    let r = h.sim.report();
    // Each host reached the node through its own interface.
    assert!(r.requests.iter().all(|n| *n > 0), "requests per host: {:?}", r.requests);
    // Every duty of epoch 1 done; the node saw nothing slashable.
    let line = check_epochs(&h, &r, &[1]);
    let refusals: Vec<u64> = logs.iter().map(|l| total(l, "refusals")).collect();
    let blocks: Vec<u64> = logs.iter().map(|l| total(l, "blocks")).collect();
    let refused_lines: usize =
        logs.iter().map(|l| l.lines().filter(|x| x.contains("refused: slashing protection")).count()).sum();
    assert_eq!(blocks.iter().sum::<u64>(), r.blocks.len() as u64, "one block per slot between the two hosts");
    assert!(refusals.iter().sum::<u64>() >= 1, "the losing host refused and counted: {refusals:?}");
    assert!(refused_lines as u64 >= refusals.iter().sum::<u64>().min(1), "refusals are logged");
    eprintln!("{line}; blocks per host {blocks:?}, refusals per host {refusals:?}, refusal log lines {refused_lines}");
}
