//! poolvc against the simulated Electra/Fulu beacon node (`poolvc_tests::simnode`),
//! at both presets: every duty of the watched epochs is done, on the Electra
//! and Fulu routes, and every signature the node receives verifies with real
//! BLS under the real domains; nothing slashable is ever sent.
//!
//! Minimal preset: Electra from genesis, Fulu at epoch 2; epochs 1 (Electra)
//! and 2 (Fulu) are checked in full, and a reorg during epoch 1 reshuffles
//! epoch 2's duties, which the client must follow (the node checks duties
//! against its reshuffled assignments). Mainnet preset: Fulu at epoch 1,
//! epoch 1 checked in full. Builder proposals are on: the node serves
//! blinded blocks on odd slots, full block contents on even ones; at the
//! mainnet preset the node offers SSZ, and blocks are produced and published
//! in SSZ (JSON at the minimal preset). The
//! client follows the node's head events and attests when the slot's block
//! arrives, not at the 1/3-slot deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::runtime::VcSummary;
use poolvc_signer::types::*;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electra_fulu_minimal_two_epochs_with_reorg() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let cfg = SimConfig::electra_minimal();
    let h = SimHandle::<Minimal>::start(cfg.clone(), 1).await;
    // The client starts before genesis, at slot 1; it runs to the end of epoch 2.
    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut vc_cfg = vc_config(h.urls(), dir.path(), 23);
    vc_cfg.metrics = Some(metrics_addr);
    let vc = tokio::spawn(poolvc::runtime::run(vc_cfg));
    // Mid-epoch 1 (slot 12), a reorg reshuffles epoch 2 (and 3).
    let reorg_at = cfg.genesis_time * 1000 + 12 * cfg.slot_ms + 200;
    tokio::time::sleep(Duration::from_millis(
        reorg_at.saturating_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64),
    ))
    .await;
    let before = h.sim.chain().attester_duties(2);
    h.sim.reorg(2);
    assert_ne!(before, h.sim.chain().attester_duties(2), "the reorg changes epoch 2's duties");
    let summary: VcSummary = vc.await.unwrap().unwrap();
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1, 2]);
    // Every slot has a block: attestations go out on its head event, well
    // before the 1/3-slot deadline (667 ms).
    let mut offsets: Vec<u64> = r.attestation_offsets_ms.iter().map(|(_, ms)| *ms).collect();
    offsets.sort_unstable();
    let median = offsets[offsets.len() / 2];
    eprintln!("minimal: {line}; attestation median {median} ms into the slot; client {summary:?}");
    assert!(median < 400, "attestations follow head events (median {median} ms into the slot)");
    // Prometheus metrics agree with the client's totals.
    let text = scrape(metrics_addr);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    };
    assert_eq!(value("poolvc_attestations_published_total") as u64, summary.attestations);
    assert_eq!(value("poolvc_blocks_published_total") as u64, summary.blocks);
    assert_eq!(value("poolvc_contributions_published_total") as u64, summary.contributions);
    assert_eq!(value("poolvc_validators") as u64, VALIDATORS);
    assert!(value("poolvc_signing_batch_seconds_count") > 0.0);
    assert!(value("poolvc_slashing_batch_seconds_count") > 0.0);
    assert!(text.contains("poolvc_beacon_node_synced{node=\""), "{text}");
    assert!(summary.duty_refreshes >= 1, "the client refetched duties after the dependent root changed");
    assert_eq!(summary.refusals, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulu_mainnet_full_epoch() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let slot_ms = 1500;
    // Genesis in the past so the client starts late in epoch 0 (slot 27).
    let genesis_time = now() - 40;
    let cfg = SimConfig { fulu_epoch: 1, slot_ms, genesis_time, ssz: true, ..SimConfig::electra_minimal() };
    let h = SimHandle::<Mainnet>::start(cfg, 1).await;
    let current =
        (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 - genesis_time * 1000) / slot_ms;
    let first = current + 1;
    assert!(first < 32, "starts in epoch 0");
    let summary: VcSummary = poolvc::runtime::run(vc_config(h.urls(), dir.path(), 64 - first)).await.unwrap();
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1]);
    eprintln!("mainnet: {line}; {} blocks produced and published in SSZ; client {summary:?}", r.ssz_blocks);
    assert_eq!(summary.refusals, 0);
    assert_eq!(r.ssz_blocks, summary.blocks, "the node offers SSZ: every block went both ways in SSZ");
}

/// `GET /metrics` over a plain TCP connection.
fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}
