//! Shared set-up of the tests that run poolvc against the simulated node:
//! keystores of interop validators, the client's configuration, and the
//! check that every duty of some epochs was done.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{Report, SimHandle};
use poolvc::config::VcConfig;
use poolvc::services::duty_book::{is_aggregator, is_sync_aggregator};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::types::*;
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

/// Validators of the simulated chain; the client holds all of them.
pub const VALIDATORS: u64 = 64;

/// Unix seconds.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A data dir with keystores (fast PBKDF2) of validators 0..VALIDATORS.
pub fn datadir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = poolvc::cmd::keys::WriteOptions {
        out: dir.path().to_path_buf(),
        kdf: poolvc_signer::keys::Kdf::Pbkdf2 { c: 16 },
    };
    poolvc::cmd::keys::write_interop(0..=VALIDATORS - 1, &opts).unwrap();
    dir
}

/// The client's settings: all keys, SQLite, builder proposals on.
pub fn vc_config(urls: Vec<String>, dir: &std::path::Path, max_slots: u64) -> VcConfig {
    VcConfig {
        init_slashing_protection: true,
        fee_recipient: Some(Address::repeat_byte(0xaa)),
        graffiti: Some("simnode test".into()),
        max_slots: Some(max_slots),
        builder_proposals: true,
        ..VcConfig::new(urls, dir.to_path_buf())
    }
}

/// Client logs in the test output (`RUST_LOG`, default warn).
pub fn init_logs() {
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
pub fn check_epochs<P: Preset>(h: &SimHandle<P>, r: &Report, epochs: &[u64]) -> String {
    assert!(r.failures.is_empty(), "simulated node found problems:\n{}", r.failures.join("\n"));
    let spec = h.sim.spec().clone();
    let ctx = SigningContext { spec: &spec, genesis_validators_root: h.sim.genesis_validators_root() };
    let chain = h.sim.chain();
    let sub_size = spec.sync_committee_size / spec.sync_committee_subnet_count;
    let (mut att, mut agg, mut sync, mut contrib, mut blinded) = (0, 0, 0, 0, 0);
    // Distributed: the middleware's withheld validators must not aggregate.
    let withheld = |v: u64| h.sim.config().distributed && super::middleware_withholds(v);
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
                    if withheld(*v) {
                        assert!(!r.aggregated.contains(&(slot, *v)), "slot {slot}: {v} aggregated, uncombined");
                        continue;
                    }
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
                    if withheld(v) {
                        assert!(!r.contributions.contains(&(slot, v, sub)), "slot {slot}: {v} contributed, uncombined");
                        continue;
                    }
                    assert!(
                        r.contributions.contains(&(slot, v, sub)),
                        "slot {slot}: sync aggregator {v} of subcommittee {sub} sent no contribution"
                    );
                    contrib += 1;
                }
            }
        }
    }
    assert_eq!(r.registrations.len() as u64, h.sim.config().validators, "every validator registered with the builder");
    format!(
        "epochs {epochs:?}: attestations {att}, aggregates {agg}, blocks {} ({blinded} blinded), sync messages {sync}, \
         contributions {contrib}; {} signatures verified by the node",
        epochs.len() as u64 * spec.slots_per_epoch,
        r.signatures_verified
    )
}

/// The `poolvc` binary next to the test binaries (`cargo test --workspace`
/// builds it with the tests), built here only if it is missing: a rebuild
/// with another feature set takes minutes, so call this before a chain's
/// clock starts. Tests that run the client as its own process (its memory,
/// its signals, its network namespace) run this one.
pub fn poolvc_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|d| d.parent()).unwrap().join("poolvc");
    if !bin.exists() {
        let mut args = vec!["build", "-q", "-p", "poolvc", "--bin", "poolvc"];
        if bin.parent().is_some_and(|d| d.ends_with("release")) {
            args.push("--release");
        }
        let st = std::process::Command::new(env!("CARGO")).args(&args).status().unwrap();
        assert!(st.success(), "building poolvc");
    }
    assert!(bin.exists(), "{} not found", bin.display());
    bin
}
