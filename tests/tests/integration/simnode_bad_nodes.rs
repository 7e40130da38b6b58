//! Bad beacon-node behaviour while poolvc runs, against the simulated
//! Electra node (minimal preset, 2-second slots):
//! - a reorg of the *current* epoch re-assigns validators that already voted
//!   to later slots; the node then serves attestation data that conflicts
//!   with what they signed. The slashing database refuses each, the client
//!   counts them and keeps going, and the node never receives a slashable
//!   message;
//! - the preferred node goes away for three slots and comes back: the client
//!   fails over to the second node, does every duty, and returns to the
//!   first node once it is back;
//! - the preferred node reports itself syncing: the client ranks it below
//!   the synced second node and sends its duties there, and returns to the
//!   first node once it is synced again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn config() -> SimConfig {
    SimConfig::electra_minimal()
}

async fn sleep_until_ms(cfg: &SimConfig, slot: u64, offset_ms: u64) {
    let at = cfg.genesis_time * 1000 + slot * cfg.slot_ms + offset_ms;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(at.saturating_sub(now))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_of_current_epoch_conflicting_votes_are_refused() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let cfg = config();
    let h = SimHandle::<Minimal>::start(cfg.clone(), 1).await;
    let vc = tokio::spawn(poolvc::runtime::run(vc_config(h.urls(), dir.path(), 23)));
    // Early in slot 12 (epoch 1), before that slot's attestations.
    sleep_until_ms(&cfg, 12, 200).await;
    let old = h.sim.chain();
    h.sim.reorg(1);
    let summary = vc.await.unwrap().unwrap();
    let r = h.sim.report();
    // Validators that voted in epoch 1 on the old branch (slots 8..=12, as
    // the client refetches duties at the end of slot 12) and are re-assigned
    // to slots 13..=15: each such vote would be a double vote.
    let new = h.sim.chain().attester_duties(1);
    let voted: HashSet<u64> = old.attester_duties(1).iter().filter(|(_, d)| d.slot <= 12).map(|(v, _)| *v).collect();
    let conflicting: Vec<u64> = new.iter().filter(|(v, d)| d.slot > 12 && voted.contains(v)).map(|(v, _)| *v).collect();
    assert!(!conflicting.is_empty(), "the reorg re-assigns some voters");
    for v in &conflicting {
        let d = new[v];
        assert!(!r.attested.contains(&(d.slot, *v)), "validator {v} voted twice in epoch 1");
    }
    assert_eq!(summary.refusals, conflicting.len() as u64, "each conflicting vote refused and counted");
    // The node saw nothing slashable (it checks every vote) and the client
    // kept doing its duties: all of epoch 2.
    let line = check_epochs(&h, &r, &[2]);
    eprintln!("refused {} conflicting votes; {line}", summary.refusals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_node_goes_away_and_comes_back() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let cfg = config();
    let h = SimHandle::<Minimal>::start(cfg.clone(), 2).await;
    let vc = tokio::spawn(poolvc::runtime::run(vc_config(h.urls(), dir.path(), 15)));
    sleep_until_ms(&cfg, 9, 0).await;
    h.take_down(0);
    let at_down = h.sim.report().requests;
    sleep_until_ms(&cfg, 12, 0).await;
    h.bring_up(0).await;
    let at_up = h.sim.report().requests;
    let summary = vc.await.unwrap().unwrap();
    let r = h.sim.report();
    assert!(at_up[1] > at_down[1], "the second node served while the first was away: {at_down:?} -> {at_up:?}");
    assert!(r.requests[0] > at_up[0], "the first node is used again once back: {at_up:?} -> {:?}", r.requests);
    let line = check_epochs(&h, &r, &[1]);
    eprintln!("requests per node {:?}; {line}; client {summary:?}", r.requests);
    assert_eq!(summary.errors, 0, "no duty step failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncing_node_is_ranked_below_a_synced_one() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let cfg = config();
    let h = SimHandle::<Minimal>::start(cfg.clone(), 2).await;
    h.set_syncing(0, true);
    let vc = tokio::spawn(poolvc::runtime::run(vc_config(h.urls(), dir.path(), 15)));
    sleep_until_ms(&cfg, 12, 0).await;
    let while_syncing = h.sim.report().routes;
    h.set_syncing(0, false);
    let summary = vc.await.unwrap().unwrap();
    let r = h.sim.report();
    let pool = "POST /eth/v2/beacon/pool/attestations".to_string();
    let count = |m: &std::collections::HashMap<(usize, String), u64>, node: usize, route: &str| {
        m.get(&(node, route.to_string())).copied().unwrap_or(0)
    };
    assert_eq!(count(&while_syncing, 0, &pool), 0, "no attestations sent to the syncing node");
    assert!(count(&while_syncing, 1, &pool) > 0, "attestations went to the synced node");
    assert!(count(&while_syncing, 0, "GET /eth/v1/node/syncing") > 0, "the syncing node is polled");
    assert!(count(&r.routes, 0, &pool) > 0, "the first node is preferred again once synced");
    let line = check_epochs(&h, &r, &[1]);
    eprintln!("{line}; client {summary:?}");
}
