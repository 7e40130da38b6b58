//! A beacon node cannot make poolvc sign anything slashable, or pay the
//! wrong fee recipient, and bad keys do not stop the others. Against the
//! simulated Electra node (minimal preset, 2-second slots), misbehaving on
//! purpose; the node verifies every signature it receives under the key of
//! the validator it names and records every vote, so a double or surround
//! vote, or a signature by the wrong key, is a failure the tests see.
//!
//! - duties relabelled with another of the client's keys, duplicated, and
//!   for the same validator at two slots of one epoch (attester, and so
//!   aggregator; proposer; sync): the store refuses the relabelled ones
//!   (poolvc's own index <-> key map), one duty per validator per epoch is
//!   kept, every real duty is done, and nothing slashable is sent;
//! - attestation data for another slot and epoch: refused, counted, nothing
//!   signed for it;
//! - full blocks that pay the node instead of the prepared fee recipient:
//!   refused at signing (blinded builder blocks, asked for and registered,
//!   still proposed);
//! - blinded blocks answered to local requests (builder blocks off):
//!   refused at signing and counted; the full blocks are proposed;
//! - no fee recipient anywhere: no block, no preparation, no registration;
//!   every attestation still done;
//! - a key with a fee recipient that is not an address and a key whose
//!   keystore does not decrypt: named, never signing; the others keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{Misbehaviour, SimConfig, SimHandle};

/// Epoch 1 runs in full when the client stops after slot 15.
const SLOTS: u64 = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabelled_and_duplicated_duties_sign_nothing_twice() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    h.sim.set_misbehaviour(Misbehaviour { relabelled_duplicates: true, duplicate_duties: true, ..Default::default() });
    let summary = poolvc::runtime::run(vc_config(h.urls(), dir.path(), SLOTS)).await.unwrap();
    let r = h.sim.report();
    // Every real duty of epoch 1 done, nothing refused by the node (a
    // signature under the wrong key or a slashable vote would be).
    let line = check_epochs(&h, &r, &[1]);
    // Each epoch's fetch sees one relabelled attester duty per validator.
    assert!(summary.refusals >= VALIDATORS, "relabelled duties refused and counted: {summary:?}");
    eprintln!("{line}; client {summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_data_for_another_slot_is_refused() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    h.sim.set_misbehaviour(Misbehaviour { wrong_attestation_data: true, ..Default::default() });
    let summary = poolvc::runtime::run(vc_config(h.urls(), dir.path(), SLOTS)).await.unwrap();
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "node found problems:\n{}", r.failures.join("\n"));
    let chain = h.sim.chain();
    let duties = chain.attester_duties(1);
    for (v, d) in duties.iter() {
        let attested = r.attested.contains(&(d.slot, *v));
        assert_eq!(attested, d.slot % 2 == 0, "validator {v} at slot {}: attested={attested}", d.slot);
    }
    // One refusal per odd slot with duties (the data is asked once per slot).
    assert!(summary.refusals >= 4, "wrong data refused and counted: {summary:?}");
    assert!(r.attested.iter().all(|(slot, _)| slot % 2 == 0), "nothing attested on wrong data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_blocks_paying_someone_else_are_not_signed() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    h.sim.set_misbehaviour(Misbehaviour { ignore_fee_recipients: true, ..Default::default() });
    let summary = poolvc::runtime::run(vc_config(h.urls(), dir.path(), SLOTS)).await.unwrap();
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "node found problems:\n{}", r.failures.join("\n"));
    // Full blocks (even slots) refused; blinded builder blocks (odd) proposed.
    let full = (1..=SLOTS).filter(|s| s % 2 == 0).count() as u64;
    assert!(r.blocks.keys().all(|s| s % 2 == 1), "no full block paying the node was signed: {:?}", r.blocks);
    assert_eq!(r.blocks.len() as u64, SLOTS - full, "every blinded block proposed");
    assert_eq!(summary.refusals, full, "each full block refused and counted: {summary:?}");
    assert_eq!(summary.blocks, SLOTS - full);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blinded_blocks_answered_to_local_requests_are_not_signed() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    h.sim.set_misbehaviour(Misbehaviour { blinded_to_local_requests: true, ..Default::default() });
    // Builder blocks off: poolvc asks with builder_boost_factor=0.
    let cfg = poolvc::config::VcConfig { builder_proposals: false, ..vc_config(h.urls(), dir.path(), SLOTS) };
    let summary = poolvc::runtime::run(cfg).await.unwrap();
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "node found problems:\n{}", r.failures.join("\n"));
    let blinded = (1..=SLOTS).filter(|s| s % 2 == 1).count() as u64;
    assert!(r.blocks.values().all(|(_, b, _)| !b), "no blinded block was signed: {:?}", r.blocks);
    assert!(r.blocks.keys().all(|s| s % 2 == 0), "{:?}", r.blocks);
    assert_eq!(r.blocks.len() as u64, SLOTS - blinded, "every full block proposed");
    assert_eq!(summary.refusals, blinded, "each blinded block refused and counted: {summary:?}");
    assert!(r.registrations.is_empty(), "no builder registration with builder blocks off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fee_recipient_no_block_but_every_attestation() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    let cfg = poolvc::config::VcConfig { fee_recipient: None, ..vc_config(h.urls(), dir.path(), SLOTS) };
    let summary = poolvc::runtime::run(cfg).await.unwrap();
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "node found problems:\n{}", r.failures.join("\n"));
    assert!(r.blocks.is_empty(), "no block without a fee recipient: {:?}", r.blocks);
    assert!(r.registrations.is_empty(), "no builder registration without a fee recipient");
    assert_eq!(summary.blocks, 0);
    assert!(summary.refusals >= SLOTS, "each proposal refused and counted: {summary:?}");
    for (v, d) in h.sim.chain().attester_duties(1).iter() {
        assert!(r.attested.contains(&(d.slot, *v)), "validator {v} did not attest at slot {}", d.slot);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_are_named_and_the_others_keep_working() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let dir = datadir();
    // Validator 0: a fee recipient that is not an address; validator 1: a
    // password that does not decrypt its keystore.
    let defs_path = dir.path().join("validators/validator_definitions.yml");
    let text = std::fs::read_to_string(&defs_path).unwrap();
    let mut defs: Vec<serde_yaml::Value> = serde_yaml::from_str(&text).unwrap();
    let pk = |i: u64| poolvc_signer::keys::interop::interop_secret_key(i).public_key().to_bytes().to_string();
    let (pk0, pk1) = (pk(0), pk(1));
    for d in defs.iter_mut() {
        let key = d["voting_public_key"].as_str().unwrap().to_string();
        if key.eq_ignore_ascii_case(&pk0) {
            d["suggested_fee_recipient"] = serde_yaml::Value::from("0x1234");
        }
        if key.eq_ignore_ascii_case(&pk1) {
            let pw = d["voting_keystore_password_path"].as_str().unwrap().to_string();
            std::fs::write(pw, "not the password").unwrap();
        }
    }
    std::fs::write(&defs_path, serde_yaml::to_string(&defs).unwrap()).unwrap();
    let loaded = poolvc::datadir::keys::load(
        &poolvc::datadir::keys::Source::under(dir.path()),
        &poolvc::policy::ProposalDefaults::default(),
    )
    .unwrap();
    assert_eq!(loaded.keys.len() as u64, VALIDATORS - 2);
    let errors: Vec<String> = loaded.failures.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains(&pk0) && e.contains("0x1234") && e.contains("not an address")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains(&pk1) && e.contains("checksum mismatch")), "{errors:?}");

    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    let summary = poolvc::runtime::run(vc_config(h.urls(), dir.path(), SLOTS)).await.unwrap();
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "node found problems:\n{}", r.failures.join("\n"));
    assert!(r.attested.iter().all(|(_, v)| *v > 1), "nothing signed for the bad keys");
    assert!(r.sync_messages.iter().all(|(_, v)| *v > 1), "nothing signed for the bad keys");
    for (v, d) in h.sim.chain().attester_duties(1).iter() {
        assert_eq!(r.attested.contains(&(d.slot, *v)), *v > 1, "validator {v} at slot {}", d.slot);
    }
    eprintln!("bad keys skipped: {errors:?}; client {summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_block_production_and_duties_do_not_delay_attestations() {
    let _machine = poolvc_tests::turns::alone();
    init_logs();
    let dir = datadir();
    // 6-second slots: produceBlockV3 takes 5 s, every duty route 3 s. The
    // bound is 500 ms past 1/3 slot, so this test has the machine alone.
    let cfg = SimConfig { slot_ms: 6000, genesis_time: now() + 2, ..SimConfig::electra_minimal() };
    let h = SimHandle::<Minimal>::start(cfg.clone(), 1).await;
    h.sim.set_misbehaviour(Misbehaviour { produce_delay_ms: 5000, duties_delay_ms: 3000, ..Default::default() });
    // Epoch 1 in full: slots 1..=15.
    let summary = poolvc::runtime::run(vc_config(h.urls(), dir.path(), SLOTS)).await.unwrap();
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1]);
    let deadline = cfg.slot_ms / 3 + 500;
    let late: Vec<(u64, u64)> = r.attestation_offsets_ms.iter().copied().filter(|(_, ms)| *ms > deadline).collect();
    assert!(late.is_empty(), "attestations later than 1/3 slot + 500 ms ({deadline} ms), as (slot, ms): {late:?}");
    let mut offsets: Vec<u64> = r.attestation_offsets_ms.iter().map(|(_, ms)| *ms).collect();
    offsets.sort_unstable();
    eprintln!(
        "{line}; attestation offsets ms: median {} max {}; client {summary:?}",
        offsets[offsets.len() / 2],
        offsets[offsets.len() - 1]
    );
}
