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

/// Exchanges the partial proofs `proofs` (one per entry of `keys`, `None`
/// where none was signed) for the combined ones through `exchange`; entries
/// are matched by key, and an entry with no combined proof gets `None`.
async fn combine<K, S, E>(
    route: &str,
    keys: &[K],
    proofs: Vec<Option<SignatureBytes>>,
    entry: impl Fn(&K, SignatureBytes) -> S,
    key_of: impl Fn(&S) -> K,
    proof_of: impl Fn(S) -> SignatureBytes,
    exchange: impl FnOnce(Vec<S>) -> E,
) -> Vec<Option<SignatureBytes>>
where
    K: std::hash::Hash + Eq,
    E: std::future::Future<Output = Result<Vec<S>, crate::beacon::BeaconError>>,
{
    let partial: Vec<S> = keys.iter().zip(&proofs).filter_map(|(k, p)| p.map(|p| entry(k, p))).collect();
    let asked = partial.len();
    if asked == 0 {
        return proofs;
    }
    let combined: HashMap<K, SignatureBytes> = match exchange(partial).await {
        Ok(answer) => answer.into_iter().map(|s| (key_of(&s), proof_of(s))).collect(),
        Err(e) => {
            warn!("{route}: {e}; no aggregation for {asked} selections");
            return vec![None; proofs.len()];
        }
    };
    let out: Vec<Option<SignatureBytes>> =
        keys.iter().zip(&proofs).map(|(k, p)| p.and_then(|_| combined.get(k).copied())).collect();
    let missing = asked - out.iter().flatten().count();
    if missing > 0 {
        warn!("{route}: no combined proof for {missing} of {asked} selections; they do not aggregate");
    }
    out
}

/// Exchanges the partial attestation selection proofs `proofs` (one per
/// `(validator, slot)` of `duties`) for the combined ones.
pub(crate) async fn combine_attestation_proofs<P: Preset>(
    ctx: &Ctx<P>,
    duties: &[(u64, u64)],
    proofs: Vec<Option<SignatureBytes>>,
    t: Duration,
) -> Vec<Option<SignatureBytes>> {
    combine(
        "beacon_committee_selections",
        duties,
        proofs,
        |&(validator_index, slot), selection_proof| BeaconCommitteeSelection { validator_index, slot, selection_proof },
        |s| (s.validator_index, s.slot),
        |s| s.selection_proof,
        |partial| async move { ctx.beacon.beacon_committee_selections(&partial, t).await },
    )
    .await
}

/// Exchanges the partial sync selection proofs `proofs` (one per
/// `(validator, selection)` of `jobs`) for the combined ones.
pub(crate) async fn combine_sync_proofs<P: Preset>(
    ctx: &Ctx<P>,
    jobs: &[(u64, SyncAggregatorSelectionData)],
    proofs: Vec<Option<SignatureBytes>>,
    t: Duration,
) -> Vec<Option<SignatureBytes>> {
    let keys: Vec<(u64, u64, u64)> = jobs.iter().map(|(v, sel)| (*v, sel.slot, sel.subcommittee_index)).collect();
    combine(
        "sync_committee_selections",
        &keys,
        proofs,
        |&(validator_index, slot, subcommittee_index), selection_proof| SyncCommitteeSelection {
            validator_index,
            slot,
            subcommittee_index,
            selection_proof,
        },
        |s| (s.validator_index, s.slot, s.subcommittee_index),
        |s| s.selection_proof,
        |partial| async move { ctx.beacon.sync_committee_selections(&partial, t).await },
    )
    .await
}
