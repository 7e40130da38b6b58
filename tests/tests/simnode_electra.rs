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
//! blinded blocks on odd slots, full block contents on even ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::vc::duties::{is_aggregator, is_sync_aggregator};
use poolvc::vc::{VcConfig, VcSummary};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::types::*;
use poolvc_tests::simnode::{Report, SimConfig, SimHandle};
use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const VALIDATORS: u64 = 64;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn datadir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = poolvc::keys_cmd::WriteOptions {
        out: dir.path().to_path_buf(),
        kdf: poolvc_signer::keys::Kdf::Pbkdf2 { c: 16 },
    };
    poolvc::keys_cmd::write_interop(0..=VALIDATORS - 1, &opts).unwrap();
    dir
}

fn vc_config(urls: Vec<String>, dir: &std::path::Path, max_slots: u64) -> VcConfig {
    VcConfig {
        beacon_nodes: urls,
        datadir: dir.to_path_buf(),
        slashing_db_url: None,
        init_slashing_protection: true,
        fee_recipient: Some(Address::repeat_byte(0xaa)),
        graffiti: Some("simnode test".into()),
        testnet_config: None,
        max_slots: Some(max_slots),
        builder_proposals: true,
        gas_limit: 36_000_000,
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Checks that every duty of `epochs` was done, as the node's (post-reorg)
/// assignments say; returns a line of figures.
fn check_epochs<P: Preset>(h: &SimHandle<P>, r: &Report, epochs: &[u64]) -> String {
    assert!(r.failures.is_empty(), "simulated node found problems:\n{}", r.failures.join("\n"));
    let spec = h.sim.spec().clone();
    let ctx = SigningContext { spec: &spec, genesis_validators_root: h.sim.genesis_validators_root() };
    let chain = h.sim.chain();
    let sub_size = spec.sync_committee_size / spec.sync_committee_subnet_count;
    let (mut att, mut agg, mut sync, mut contrib, mut blinded) = (0, 0, 0, 0, 0);
    for &epoch in epochs {
        let duties = chain.attester_duties(epoch);
        for slot in spec.start_slot(epoch)..spec.start_slot(epoch + 1) {
            // The block.
            let (proposer, is_blinded, fork) =
                *r.blocks.get(&slot).unwrap_or_else(|| panic!("no block published for slot {slot}"));
            assert_eq!(proposer, chain.proposer(slot), "slot {slot}: block by the wrong proposer");
            assert_eq!(fork, spec.fork_name_at_slot(slot));
            assert_eq!(is_blinded, slot % 2 == 1, "slot {slot}: blinded/full as the node chose");
            blinded += is_blinded as u64;
            // Attestations and aggregates.
            for (v, d) in duties.iter().filter(|(_, d)| d.slot == slot) {
                assert!(r.attested.contains(&(slot, *v)), "slot {slot}: validator {v} did not attest");
                att += 1;
                let proof = interop_secret_key(*v)
                    .sign(ctx.signing_root::<P>(&SignableMessage::SelectionProof(slot)).as_slice())
                    .to_bytes();
                if is_aggregator(d.committee_length, spec.target_aggregators_per_committee, &proof) {
                    assert!(r.aggregated.contains(&(slot, *v)), "slot {slot}: aggregator {v} did not aggregate");
                    agg += 1;
                }
            }
            // Sync-committee messages and contributions.
            let committee = chain.sync_committee(spec.epoch_of(slot + 1));
            let members: HashSet<u64> = committee.iter().copied().collect();
            for v in &members {
                assert!(r.sync_messages.contains(&(slot, *v)), "slot {slot}: sync member {v} sent no message");
                sync += 1;
            }
            let mut pairs: HashSet<(u64, u64)> = HashSet::new();
            for (j, v) in committee.iter().enumerate() {
                pairs.insert((*v, j as u64 / sub_size));
            }
            for (v, sub) in pairs {
                let sel = SyncAggregatorSelectionData { slot, subcommittee_index: sub };
                let proof = interop_secret_key(v)
                    .sign(ctx.signing_root::<P>(&SignableMessage::SyncSelectionProof(&sel)).as_slice())
                    .to_bytes();
                if is_sync_aggregator(
                    spec.sync_committee_size,
                    spec.sync_committee_subnet_count,
                    spec.target_aggregators_per_sync_subcommittee,
                    &proof,
                ) {
                    assert!(
                        r.contributions.contains(&(slot, v, sub)),
                        "slot {slot}: sync aggregator {v} of subcommittee {sub} sent no contribution"
                    );
                    contrib += 1;
                }
            }
        }
    }
    assert_eq!(r.registrations.len() as u64, VALIDATORS, "every validator registered with the builder");
    format!(
        "epochs {epochs:?}: attestations {att}, aggregates {agg}, blocks {} ({blinded} blinded), sync messages {sync}, \
         contributions {contrib}; {} signatures verified by the node",
        epochs.len() as u64 * spec.slots_per_epoch,
        r.signatures_verified
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electra_fulu_minimal_two_epochs_with_reorg() {
    init_logs();
    let dir = datadir();
    let cfg = SimConfig {
        validators: VALIDATORS,
        electra_epoch: 0,
        fulu_epoch: 2,
        slot_ms: 2000,
        genesis_time: now() + 2,
        builder: true,
    };
    let h = SimHandle::<Minimal>::start(cfg.clone(), 1).await;
    // The client starts before genesis, at slot 1; it runs to the end of epoch 2.
    let vc = tokio::spawn(poolvc::vc::run(vc_config(h.urls(), dir.path(), 23)));
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
    eprintln!("minimal: {line}; client {summary:?}");
    assert!(summary.duty_refreshes >= 1, "the client refetched duties after the dependent root changed");
    assert_eq!(summary.refusals, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulu_mainnet_full_epoch() {
    init_logs();
    let dir = datadir();
    let slot_ms = 1500;
    // Genesis in the past so the client starts late in epoch 0 (slot 27).
    let genesis_time = now() - 40;
    let cfg =
        SimConfig { validators: VALIDATORS, electra_epoch: 0, fulu_epoch: 1, slot_ms, genesis_time, builder: true };
    let h = SimHandle::<Mainnet>::start(cfg, 1).await;
    let current =
        (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 - genesis_time * 1000) / slot_ms;
    let first = current + 1;
    assert!(first < 32, "starts in epoch 0");
    let summary: VcSummary = poolvc::vc::run(vc_config(h.urls(), dir.path(), 64 - first)).await.unwrap();
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1]);
    eprintln!("mainnet: {line}; client {summary:?}");
    assert_eq!(summary.refusals, 0);
}
