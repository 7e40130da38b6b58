//! `poolvc bench slot`: the client's hot path for one Gloas slot at
//! mainnet shape, over a whole epoch, against a per-key path measured in the
//! same run: the slot's attestations (N / 32 attesters, one attestation
//! data) and its PTC votes (the keys' share of `PTC_SIZE` = 512 seats drawn
//! from the whole network's [`NETWORK_VALIDATORS`]: about 51 seats per slot
//! for 100,000 keys, one payload attestation data).
//!
//! poolvc's path, per slot: the attestation service's own signing step
//! (`vc::attest::sign_slot`: the validator store's one batch, i.e. key
//! resolution, one durable slashing check-and-insert in SQLite and one
//! signing-engine batch; then the `SingleAttestation` body), then the PTC
//! service's (`ptc::sign_votes`: one store batch, its once-per-slot records
//! durable first), each serialized as the beacon client sends it. Only the
//! HTTP round trips are left out.
//!
//! The per-key path, per slot, is what a client does that treats each
//! validator on its own: one protection transaction per message, then blst
//! `sign` per key (spread over all cores), one JSON object per key. Both
//! write to fresh databases of N registered validators; both signatures are
//! compared byte for byte. The attestation ratio is reported alone (as
//! before the PTC existed) and with the PTC's work in the same slot.

use crate::beacon::AttesterDuty;
use crate::beacon::PtcDuty;
use crate::cmd::bench::signing::BenchError;
use crate::events::EventBus;
use crate::policy::ProposalConfig;
use crate::progress;
use crate::services::attestation::{sign_slot, SlotAttestations};
use crate::services::duty_book::Attester;
use crate::services::ptc::sign_votes;
use crate::store::{StoreTimings, ValidatorStore};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::SecretKey;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::{AttestationRecord, OncePerSlotRecord, SlashingDatabase};
use poolvc_signer::types::*;
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The result, as printed by `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotBenchResult {
    /// Validators.
    pub validators: usize,
    /// Attesters per slot.
    pub attesters_per_slot: usize,
    /// poolvc: median milliseconds per slot (slashing + signing + body).
    pub batched_median_ms: f64,
    /// poolvc: slowest slot.
    pub batched_max_ms: f64,
    /// Per-key path: median milliseconds per slot.
    pub per_key_median_ms: f64,
    /// `per_key_median_ms / batched_median_ms`.
    pub speedup: f64,
    /// Both paths gave the same signatures (attestations and PTC votes).
    pub identical: bool,
    /// The keys' PTC seats per slot.
    pub ptc_seats_per_slot: usize,
    /// poolvc: median milliseconds per slot of the PTC votes.
    pub ptc_batched_median_ms: f64,
    /// Per-key path: median milliseconds per slot of the PTC votes.
    pub ptc_per_key_median_ms: f64,
    /// Per key over poolvc, attestations and PTC votes of each slot together.
    pub slot_speedup: f64,
}

/// Active validators of the whole network the PTC is drawn from (mainnet,
/// late 2026: about a million).
pub const NETWORK_VALIDATORS: usize = 1_000_000;

/// The PTC seats per slot `validators` keys hold on average: their share
/// of `PTC_SIZE` (512) seats drawn from [`NETWORK_VALIDATORS`], at least one.
pub fn ptc_seats(validators: usize) -> usize {
    (512 * validators).div_ceil(NETWORK_VALIDATORS).clamp(1, 512)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Runs the benchmark over `slots` slots (at most 32: one epoch).
pub fn run_slot(validators: usize, slots: usize) -> Result<SlotBenchResult, BenchError> {
    if validators < 32 || slots == 0 || slots > 32 {
        return Err(BenchError::Args("--validators must be at least 32 and --slots 1..=32".into()));
    }
    let per_slot = validators / 32;
    // Mainnet's config with every fork through Gloas from genesis.
    let mut spec_text = include_str!("../../../../testnets/configs/mainnet.yaml").to_string();
    for fork in ["ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA", "FULU", "GLOAS"] {
        let line = spec_text.lines().find(|l| l.starts_with(&format!("{fork}_FORK_EPOCH:"))).map(str::to_string);
        if let Some(line) = line {
            spec_text = spec_text.replace(&line, &format!("{fork}_FORK_EPOCH: 0"));
        }
    }
    let spec = ChainSpec::from_config_yaml("mainnet.yaml", &spec_text).map_err(|e| BenchError::Args(e.to_string()))?;
    let seats = ptc_seats(validators);
    let gvr = Hash256::repeat_byte(0x42);
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr };
    let pb = progress::bar((2 * slots + 2) as u64, "bench slot");

    let sks: Vec<SecretKey> = (0..validators as u64).into_par_iter().map(interop_secret_key).collect();
    let pubkeys: Vec<PublicKeyBytes> = sks.par_iter().map(|sk| sk.public_key().to_bytes()).collect();
    let dir = tempfile::tempdir().map_err(|e| BenchError::Args(format!("temp dir: {e}")))?;
    let db_err = |e: poolvc_signer::slashing::SlashingError| BenchError::Args(format!("database: {e}"));
    let batched_db = SqliteSlashingDb::open(&dir.path().join("batched.sqlite"), gvr).map_err(db_err)?;
    let per_key_db = SqliteSlashingDb::open(&dir.path().join("per_key.sqlite"), gvr).map_err(db_err)?;
    // The bench's chain started at Unix time 0: every slot it signs is past.
    let clock = poolvc_signer::clock::WallClock::new(0, &spec);
    let store = ValidatorStore::<Mainnet>::new(
        spec.clone(),
        gvr,
        clock,
        std::sync::Arc::new(batched_db),
        std::sync::Arc::new(EventBus::new()),
        StoreTimings::default(),
    );
    let config = ProposalConfig {
        fee_recipient: None,
        own_fee_recipient: false,
        gas_limit: 0,
        graffiti: None,
        builder_proposals: false,
        pool: None,
    };
    store
        .add_local_keys(sks.iter().map(|sk| (sk.clone(), config.clone())).collect(), true)
        .map_err(|e| BenchError::Args(e.to_string()))?;
    store.set_indices(pubkeys.iter().enumerate().map(|(i, pk)| (*pk, i as u64)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Args(format!("runtime: {e}")))?;
    pb.inc(1);
    per_key_db.register_validators(&pubkeys).map_err(db_err)?;
    pb.inc(1);

    // Epoch 10's slots; each validator attests once, in slot i / per_slot.
    let epoch = 10u64;
    let data_of = |slot: u64| AttestationData {
        slot,
        index: 0,
        beacon_block_root: Hash256::from_slice(&[slot as u8; 32]),
        source: Checkpoint { epoch: epoch - 1, root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch, root: Hash256::repeat_byte(2) },
    };
    let mut batched_times = Vec::new();
    let mut per_key_times = Vec::new();
    let mut ptc_batched_times = Vec::new();
    let mut ptc_per_key_times = Vec::new();
    let mut identical = true;
    for s in 0..slots {
        let slot = spec.start_slot(epoch) + s as u64;
        let members: Vec<usize> = (s * per_slot..(s + 1) * per_slot).collect();
        let data = data_of(slot);

        // The slot's duties, as the duty book holds them (fetched an epoch
        // ahead): not timed, as the per-key path's are not either.
        let attesters: Vec<Attester> = members
            .iter()
            .map(|i| Attester {
                duty: AttesterDuty {
                    pubkey: pubkeys[*i],
                    validator_index: *i as u64,
                    committee_index: 0,
                    committee_length: per_slot as u64,
                    committees_at_slot: 1,
                    validator_committee_index: (*i - s * per_slot) as u64,
                    slot,
                },
                selection_proof: None,
            })
            .collect();
        // poolvc: the attestation service's signing step (the store's one
        // slashing batch and one signing batch, the pool body), then the body
        // encoded as the beacon client sends it.
        let t = Instant::now();
        let data_of = HashMap::from([(0u64, data)]);
        let (signed, _) = rt.block_on(sign_slot(&store, slot, true, &attesters, &data_of));
        let SlotAttestations::Single(body) = signed else {
            return Err(BenchError::Args("an Electra slot gave pre-Electra attestations".into()));
        };
        let sigs: Vec<SignatureBytes> = body.iter().map(|a| a.signature).collect();
        if sigs.len() != members.len() {
            return Err(BenchError::Args("a fresh attestation was not signed".into()));
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| BenchError::Args(e.to_string()))?;
        batched_times.push(t.elapsed());
        std::hint::black_box(bytes);
        pb.inc(1);

        // Per key: a transaction each, blst sign each, an object each.
        let t = Instant::now();
        for i in &members {
            let root = ctx.signing_root::<Mainnet>(&SignableMessage::Attestation(&data));
            let rec = AttestationRecord {
                pubkey: pubkeys[*i],
                source_epoch: data.source.epoch,
                target_epoch: data.target.epoch,
                signing_root: Some(root),
            };
            if per_key_db.check_and_insert_attestations(std::slice::from_ref(&rec)).map_err(db_err)?[0].is_err() {
                return Err(BenchError::Args("a fresh attestation was refused".into()));
            }
        }
        let per_key_sigs: Vec<SignatureBytes> = members
            .par_iter()
            .map(|i| {
                let root = ctx.signing_root::<Mainnet>(&SignableMessage::Attestation(&data));
                sks[*i].sign(root.as_slice()).to_bytes()
            })
            .collect();
        let objects: Vec<Vec<u8>> = members
            .iter()
            .zip(&per_key_sigs)
            .map(|(i, sig)| {
                let a = SingleAttestation { committee_index: 0, attester_index: *i as u64, data, signature: *sig };
                serde_json::to_vec(&a).unwrap_or_default()
            })
            .collect();
        per_key_times.push(t.elapsed());
        std::hint::black_box(objects);
        identical &= per_key_sigs == sigs;

        // The slot's PTC: `seats` of the slot's attesters (a PTC is drawn
        // from the slot's committees), voting on one data.
        let ptc: Vec<PtcDuty> = members
            .iter()
            .step_by((members.len() / seats).max(1))
            .take(seats)
            .map(|i| PtcDuty { pubkey: pubkeys[*i], validator_index: *i as u64, slot })
            .collect();
        let pdata = PayloadAttestationData {
            beacon_block_root: data.beacon_block_root,
            slot,
            payload_present: true,
            blob_data_available: true,
        };
        let t = Instant::now();
        let votes = rt.block_on(sign_votes(&store, &pdata, &ptc));
        if votes.len() != ptc.len() {
            return Err(BenchError::Args("a fresh payload attestation was not signed".into()));
        }
        let bytes = serde_json::to_vec(&votes).map_err(|e| BenchError::Args(e.to_string()))?;
        ptc_batched_times.push(t.elapsed());
        std::hint::black_box(bytes);

        let t = Instant::now();
        for m in &ptc {
            let root = ctx.signing_root::<Mainnet>(&SignableMessage::PayloadAttestation(&pdata));
            let rec = OncePerSlotRecord { pubkey: m.pubkey, slot, signing_root: root };
            if per_key_db.check_and_insert_payload_attestations(std::slice::from_ref(&rec)).map_err(db_err)?[0].is_err()
            {
                return Err(BenchError::Args("a fresh payload attestation was refused".into()));
            }
        }
        let per_key_votes: Vec<PayloadAttestationMessage> = ptc
            .par_iter()
            .map(|m| {
                let root = ctx.signing_root::<Mainnet>(&SignableMessage::PayloadAttestation(&pdata));
                let signature = sks[m.validator_index as usize].sign(root.as_slice()).to_bytes();
                PayloadAttestationMessage { validator_index: m.validator_index, data: pdata, signature }
            })
            .collect();
        let objects: Vec<Vec<u8>> = per_key_votes.iter().map(|v| serde_json::to_vec(v).unwrap_or_default()).collect();
        ptc_per_key_times.push(t.elapsed());
        std::hint::black_box(objects);
        identical &= per_key_votes.iter().map(|v| v.signature).eq(votes.iter().map(|v| v.signature));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let batched_max = batched_times.iter().max().copied().unwrap_or_default();
    // Each slot's attestations and PTC votes together, per path.
    let whole = |a: &[Duration], b: &[Duration]| a.iter().zip(b).map(|(x, y)| *x + *y).collect::<Vec<_>>();
    let slot_b = ms(median(whole(&batched_times, &ptc_batched_times)));
    let slot_p = ms(median(whole(&per_key_times, &ptc_per_key_times)));
    let b = ms(median(batched_times));
    let p = ms(median(per_key_times));
    Ok(SlotBenchResult {
        validators,
        attesters_per_slot: per_slot,
        batched_median_ms: b,
        batched_max_ms: ms(batched_max),
        per_key_median_ms: p,
        speedup: p / b,
        identical,
        ptc_seats_per_slot: seats,
        ptc_batched_median_ms: ms(median(ptc_batched_times)),
        ptc_per_key_median_ms: ms(median(ptc_per_key_times)),
        slot_speedup: slot_p / slot_b,
    })
}

/// `poolvc bench pruning`: one attestation per key per epoch for `epochs`
/// epochs into two SQLite databases of `validators` keys; one is pruned each
/// epoch to the last `keep` epochs (as the client's pruning service does),
/// the other never. Returns lines of (epoch, rows, file size) for both, and
/// checks that pruning changed no verdict (an old vote is still refused).
pub fn run_pruning(validators: usize, epochs: u64, keep: u64) -> Result<Vec<String>, BenchError> {
    if validators == 0 || epochs == 0 {
        return Err(BenchError::Args("--validators and --epochs must be positive".into()));
    }
    let dir = tempfile::tempdir().map_err(|e| BenchError::Args(format!("temp dir: {e}")))?;
    let db_err = |e: poolvc_signer::slashing::SlashingError| BenchError::Args(format!("database: {e}"));
    let gvr = Hash256::repeat_byte(0x42);
    let pruned_path = dir.path().join("pruned.sqlite");
    let full_path = dir.path().join("full.sqlite");
    let pruned = SqliteSlashingDb::open(&pruned_path, gvr).map_err(db_err)?;
    let full = SqliteSlashingDb::open(&full_path, gvr).map_err(db_err)?;
    let pubkeys: Vec<PublicKeyBytes> = (0..validators as u64)
        .map(|i| {
            let mut b = [0u8; 48];
            b[..8].copy_from_slice(&i.to_le_bytes());
            PublicKeyBytes::from(b)
        })
        .collect();
    pruned.register_validators(&pubkeys).map_err(db_err)?;
    full.register_validators(&pubkeys).map_err(db_err)?;
    // On disk: the database file and its write-ahead log.
    let size = |p: &std::path::Path| {
        let wal = p.with_extension("sqlite-wal");
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    };
    let pb = progress::bar(epochs, "bench pruning");
    let mut lines = Vec::new();
    let started = Instant::now();
    let mut prune_time = Duration::ZERO;
    for epoch in 1..=epochs {
        let records: Vec<AttestationRecord> = pubkeys
            .iter()
            .map(|pk| AttestationRecord {
                pubkey: *pk,
                source_epoch: epoch - 1,
                target_epoch: epoch,
                signing_root: Some(Hash256::from_slice(&[epoch as u8; 32])),
            })
            .collect();
        for db in [&pruned, &full] {
            if db.check_and_insert_attestations(&records).map_err(db_err)?.iter().any(|v| v.is_err()) {
                return Err(BenchError::Args(format!("epoch {epoch}: a new vote was refused")));
            }
        }
        if let Some(before) = epoch.checked_sub(keep) {
            let t = Instant::now();
            pruned.prune(before, 32).map_err(db_err)?;
            prune_time += t.elapsed();
        }
        if epoch.is_power_of_two() || epoch == epochs {
            lines.push(format!(
                "epoch {epoch}: pruned (keep {keep}) {:.1} MB, unpruned {:.1} MB",
                size(&pruned_path) as f64 / 1e6,
                size(&full_path) as f64 / 1e6
            ));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    // Protection unchanged: a vote older than the pruned history is refused.
    let old = AttestationRecord {
        pubkey: pubkeys[0],
        source_epoch: 0,
        target_epoch: 1,
        signing_root: Some(Hash256::repeat_byte(0x99)),
    };
    let refused = pruned.check_and_insert_attestations(&[old]).map_err(db_err)?.iter().all(|v| v.is_err());
    lines.push(format!(
        "{validators} keys x {epochs} epochs in {:.1} s; pruning {:.1} ms per epoch on average; an old vote is \
         still refused after pruning: {refused}",
        started.elapsed().as_secs_f64(),
        prune_time.as_secs_f64() * 1000.0 / epochs.saturating_sub(keep).max(1) as f64
    ));
    if !refused {
        return Err(BenchError::Args("pruning weakened protection: an old vote was accepted".into()));
    }
    Ok(lines)
}
