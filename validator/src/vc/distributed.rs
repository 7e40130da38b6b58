//! `--distributed`: a distributed validator's share. Each key here is one
//! share of a validator whose other shares sign elsewhere; whether the
//! validator aggregates is decided by the *combined* selection proof, which
//! the distributed-validator middleware (between this client and the beacon
//! node) builds from the shares' partial proofs. The partial proofs go out
//! through `beacon_committee_selections` / `sync_committee_selections` once
//! an epoch, and the combined ones that come back replace them.
//!
//! Invariant: an answer is only taken for an entry that was asked for (same
//! validator, slot and subcommittee); anything else the middleware sends is
//! ignored, so it cannot add an aggregation duty. An entry it leaves out, or
//! an exchange that fails, means no aggregation for that entry (the
//! attestation itself is unaffected), and is said in a warning.

use super::context::Ctx;
use crate::beacon::{BeaconCommitteeSelection, SyncCommitteeSelection};
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::time::Duration;
use tracing::warn;

/// Exchanges the partial attestation selection proofs `proofs` (one per
/// `(validator, slot)` of `duties`, `None` where none was signed) for the
/// combined ones.
pub(super) async fn combine_attestation_proofs<P: Preset>(
    ctx: &Ctx<P>,
    duties: &[(u64, u64)],
    proofs: Vec<Option<SignatureBytes>>,
    t: Duration,
) -> Vec<Option<SignatureBytes>> {
    let partial: Vec<BeaconCommitteeSelection> = duties
        .iter()
        .zip(&proofs)
        .filter_map(|(&(validator_index, slot), p)| {
            p.map(|selection_proof| BeaconCommitteeSelection { validator_index, slot, selection_proof })
        })
        .collect();
    if partial.is_empty() {
        return proofs;
    }
    let combined: HashMap<(u64, u64), SignatureBytes> = match ctx.beacon.beacon_committee_selections(&partial, t).await
    {
        Ok(answer) => answer.into_iter().map(|s| ((s.validator_index, s.slot), s.selection_proof)).collect(),
        Err(e) => {
            warn!("beacon_committee_selections: {e}; no attestation aggregation for {} duties", partial.len());
            return vec![None; proofs.len()];
        }
    };
    let out: Vec<Option<SignatureBytes>> =
        duties.iter().zip(&proofs).map(|(key, p)| p.and_then(|_| combined.get(key).copied())).collect();
    let missing = partial.iter().filter(|s| !combined.contains_key(&(s.validator_index, s.slot))).count();
    if missing > 0 {
        warn!(
            "beacon_committee_selections: no combined proof for {missing} of {} duties; they do not aggregate",
            partial.len()
        );
    }
    out
}

/// Exchanges the partial sync selection proofs `proofs` (one per
/// `(validator, selection)` of `jobs`, `None` where none was signed) for
/// the combined ones.
pub(super) async fn combine_sync_proofs<P: Preset>(
    ctx: &Ctx<P>,
    jobs: &[(u64, SyncAggregatorSelectionData)],
    proofs: Vec<Option<SignatureBytes>>,
    t: Duration,
) -> Vec<Option<SignatureBytes>> {
    let partial: Vec<SyncCommitteeSelection> = jobs
        .iter()
        .zip(&proofs)
        .filter_map(|((validator_index, sel), p)| {
            p.map(|selection_proof| SyncCommitteeSelection {
                validator_index: *validator_index,
                slot: sel.slot,
                subcommittee_index: sel.subcommittee_index,
                selection_proof,
            })
        })
        .collect();
    if partial.is_empty() {
        return proofs;
    }
    let combined: HashMap<(u64, u64, u64), SignatureBytes> =
        match ctx.beacon.sync_committee_selections(&partial, t).await {
            Ok(answer) => answer
                .into_iter()
                .map(|s| ((s.validator_index, s.slot, s.subcommittee_index), s.selection_proof))
                .collect(),
            Err(e) => {
                warn!("sync_committee_selections: {e}; no sync aggregation for {} selections", partial.len());
                return vec![None; proofs.len()];
            }
        };
    let key = |v: u64, sel: &SyncAggregatorSelectionData| (v, sel.slot, sel.subcommittee_index);
    let out: Vec<Option<SignatureBytes>> =
        jobs.iter().zip(&proofs).map(|((v, sel), p)| p.and_then(|_| combined.get(&key(*v, sel)).copied())).collect();
    let missing =
        partial.iter().filter(|s| !combined.contains_key(&(s.validator_index, s.slot, s.subcommittee_index))).count();
    if missing > 0 {
        warn!(
            "sync_committee_selections: no combined proof for {missing} of {} selections; they do not aggregate",
            partial.len()
        );
    }
    out
}
