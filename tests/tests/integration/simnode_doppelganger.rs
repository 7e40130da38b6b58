//! Doppelganger protection against the simulated Electra node (minimal
//! preset, 2-second slots, one epoch watched). The client starts in epoch 0,
//! so it watches epoch 1 and may sign from epoch 2 on.
//! - The node's liveness route reports one of the keys live: the client
//!   stops with an error naming it, having signed nothing.
//! - The node lacks the liveness route (404, as Lodestar v1.5.1): the client
//!   says so, watches the chain, finds the key's attestation in a block and
//!   stops the same way.
//! - With no sign of the keys elsewhere, on either path, the client signs
//!   nothing during the watched epoch and does every duty of epoch 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::error::VcError;
use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};

fn config(liveness: bool) -> SimConfig {
    SimConfig { liveness, ..SimConfig::electra_minimal() }
}

async fn detects(liveness: bool) {
    init_logs();
    let dir = datadir();
    let h = SimHandle::<Minimal>::start(config(liveness), 1).await;
    h.sim.add_doppelganger(5);
    let mut cfg = vc_config(h.urls(), dir.path(), 23);
    cfg.doppelganger_epochs = 1;
    let err = poolvc::runtime::run(cfg).await.unwrap_err();
    assert!(matches!(&err, VcError::Doppelganger { validators } if validators == "5"), "{err}");
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(
        r.attested.is_empty() && r.blocks.is_empty() && r.sync_messages.is_empty() && r.registrations.is_empty(),
        "nothing signed before detection"
    );
    if !liveness {
        let watched = r.routes.keys().filter(|(_, route)| route.starts_with("GET /eth/v2/beacon/blocks/")).count();
        assert!(watched > 0, "the chain was watched");
    }
    eprintln!("liveness route {liveness}: {err}");
}

async fn clean_then_signs(liveness: bool) {
    init_logs();
    let dir = datadir();
    let h = SimHandle::<Minimal>::start(config(liveness), 1).await;
    let mut cfg = vc_config(h.urls(), dir.path(), 23);
    cfg.doppelganger_epochs = 1;
    let summary = poolvc::runtime::run(cfg).await.unwrap();
    let r = h.sim.report();
    let start = 16; // epoch 2
    assert!(r.attested.iter().all(|(slot, _)| *slot >= start), "no attestation before epoch 2");
    assert!(r.blocks.keys().all(|slot| *slot >= start), "no block before epoch 2");
    assert!(r.sync_messages.iter().all(|(slot, _)| *slot >= start), "no sync message before epoch 2");
    let line = check_epochs(&h, &r, &[2]);
    eprintln!("liveness route {liveness}: {line}; client {summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_route_reports_a_key_live() {
    let _machine = poolvc_tests::turns::shared();
    detects(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_liveness_route_the_chain_shows_a_key_attesting() {
    let _machine = poolvc_tests::turns::shared();
    detects(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_doppelganger_signing_starts_after_the_window() {
    let _machine = poolvc_tests::turns::shared();
    clean_then_signs(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_doppelganger_on_the_chain_watch_path() {
    let _machine = poolvc_tests::turns::shared();
    clean_then_signs(false).await;
}
