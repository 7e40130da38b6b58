//! Per-epoch duties of the client's validators: fetching them (one request
//! per duty kind for all keys), the selection proofs signed ahead in one
//! batch, the aggregator selection rules, and the reorg watch that refetches
//! an epoch whose dependent root moved.

use super::runtime::{Stats, Vc, VcError};
use crate::beacon::{AttesterDuty, CommitteeSubscription, Data, DutiesResponse, ProposerDuty, SyncDuty};
use poolvc_signer::batch::SignRequest;
use poolvc_signer::types::{Hash256, Preset, SignableMessage, SignatureBytes, SyncAggregatorSelectionData};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tracing::{info, warn};

/// An attester duty with its selection proof (if this validator aggregates).
#[derive(Debug, Clone)]
pub struct Attester {
    /// The duty.
    pub duty: AttesterDuty,
    /// Selection proof, when the validator is an aggregator for its slot.
    pub selection_proof: Option<SignatureBytes>,
}

/// A sync-committee aggregator of one slot and subcommittee.
#[derive(Debug, Clone)]
pub struct SyncAggregator {
    /// Validator index.
    pub validator_index: u64,
    /// Subcommittee (subnet) index.
    pub subcommittee_index: u64,
    /// Its sync selection proof for the slot.
    pub selection_proof: SignatureBytes,
}

/// Duties of one epoch.
#[derive(Debug, Clone, Default)]
pub struct EpochDuties {
    /// Attesters, by slot.
    pub attesters: HashMap<u64, Vec<Attester>>,
    /// Proposers, by slot.
    pub proposers: HashMap<u64, ProposerDuty>,
    /// Sync-committee members.
    pub sync: Vec<SyncDuty>,
    /// Sync aggregators, by slot.
    pub sync_aggregators: HashMap<u64, Vec<SyncAggregator>>,
    /// Dependent root of the attester duties.
    pub dependent_root: Hash256,
    /// Dependent root of the proposer duties.
    pub proposer_dependent_root: Hash256,
}

fn hash_mod(selection_proof: &SignatureBytes, modulo: u64) -> bool {
    let h = Sha256::digest(selection_proof.as_slice());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b) % modulo.max(1) == 0
}

/// `is_aggregator` of the phase0 validator guide.
pub fn is_aggregator(
    committee_length: u64,
    target_aggregators_per_committee: u64,
    selection_proof: &SignatureBytes,
) -> bool {
    hash_mod(selection_proof, (committee_length / target_aggregators_per_committee.max(1)).max(1))
}

/// `is_sync_committee_aggregator` of the Altair validator guide.
pub fn is_sync_aggregator(
    sync_committee_size: u64,
    subnet_count: u64,
    target_aggregators_per_sync_subcommittee: u64,
    selection_proof: &SignatureBytes,
) -> bool {
    let modulo = sync_committee_size / subnet_count.max(1) / target_aggregators_per_sync_subcommittee.max(1);
    hash_mod(selection_proof, modulo.max(1))
}

impl<P: Preset> Vc<P> {
    fn indices_body(&self) -> serde_json::Value {
        let indices: Vec<String> = self.by_index.keys().map(|i| i.to_string()).collect();
        serde_json::json!(indices)
    }

    /// Fetches and prepares the duties of `epoch`: attester, proposer and
    /// sync duties, selection proofs (attestation and sync) signed in one
    /// batch, committee and sync subscriptions.
    pub(super) async fn fetch_duties(&self, epoch: u64) -> Result<EpochDuties, VcError> {
        let t = self.slot_timeout() * 4;
        let body = self.indices_body();
        let att: DutiesResponse<AttesterDuty> =
            self.beacon.post(&format!("/eth/v1/validator/duties/attester/{epoch}"), &body, t).await?;
        let prop: DutiesResponse<ProposerDuty> =
            self.beacon.get(&format!("/eth/v1/validator/duties/proposer/{epoch}"), t).await?;
        let sync: Vec<SyncDuty> = if self.spec.fork_name_at_epoch(epoch).altair_enabled() {
            self.beacon
                .post::<Data<Vec<SyncDuty>>>(&format!("/eth/v1/validator/duties/sync/{epoch}"), &body, t)
                .await?
                .data
                .into_iter()
                .filter(|s| self.by_index.contains_key(&s.validator_index))
                .collect()
        } else {
            Vec::new()
        };
        let mine: Vec<AttesterDuty> =
            att.data.into_iter().filter(|d| self.by_index.contains_key(&d.validator_index)).collect();

        // Every selection proof of the epoch in one signing batch: one per
        // attester duty, and one per (sync member, subcommittee, slot).
        let ctx = self.ctx();
        let sub_size = (self.spec.sync_committee_size / self.spec.sync_committee_subnet_count.max(1)).max(1);
        let mut sync_jobs: Vec<(u64, u64, u64)> = Vec::new(); // (slot, validator, subcommittee)
        for s in &sync {
            let mut subs: Vec<u64> = s.validator_sync_committee_indices.iter().map(|i| i / sub_size).collect();
            subs.sort_unstable();
            subs.dedup();
            for slot in self.spec.start_slot(epoch)..self.spec.start_slot(epoch + 1) {
                for sub in &subs {
                    sync_jobs.push((slot, s.validator_index, *sub));
                }
            }
        }
        let handle = |i: &u64| self.validators[self.by_index[i]].handle;
        let mut reqs: Vec<SignRequest> = mine
            .iter()
            .map(|d| SignRequest {
                key: handle(&d.validator_index),
                signing_root: ctx.signing_root::<P>(&SignableMessage::SelectionProof(d.slot)),
            })
            .collect();
        reqs.extend(sync_jobs.iter().map(|(slot, v, sub)| SignRequest {
            key: handle(v),
            signing_root: ctx.signing_root::<P>(&SignableMessage::SyncSelectionProof(&SyncAggregatorSelectionData {
                slot: *slot,
                subcommittee_index: *sub,
            })),
        }));
        let mut proofs = self.sign(reqs).await?;
        let sync_proofs = proofs.split_off(mine.len());

        let mut duties = EpochDuties {
            dependent_root: att.dependent_root,
            proposer_dependent_root: prop.dependent_root,
            ..Default::default()
        };
        let mut subs = Vec::new();
        for (d, proof) in mine.into_iter().zip(proofs) {
            let agg = is_aggregator(d.committee_length, self.spec.target_aggregators_per_committee, &proof);
            subs.push(CommitteeSubscription {
                validator_index: d.validator_index,
                committee_index: d.committee_index,
                committees_at_slot: d.committees_at_slot,
                slot: d.slot,
                is_aggregator: agg,
            });
            duties
                .attesters
                .entry(d.slot)
                .or_default()
                .push(Attester { duty: d, selection_proof: agg.then_some(proof) });
        }
        for ((slot, validator_index, subcommittee_index), proof) in sync_jobs.into_iter().zip(sync_proofs) {
            if is_sync_aggregator(
                self.spec.sync_committee_size,
                self.spec.sync_committee_subnet_count,
                self.spec.target_aggregators_per_sync_subcommittee,
                &proof,
            ) {
                duties.sync_aggregators.entry(slot).or_default().push(SyncAggregator {
                    validator_index,
                    subcommittee_index,
                    selection_proof: proof,
                });
            }
        }
        if !subs.is_empty() {
            let body = serde_json::to_value(&subs).unwrap_or_default();
            if let Err(e) = self.beacon.post_ignore("/eth/v1/validator/beacon_committee_subscriptions", &body, t).await
            {
                warn!("committee subscriptions: {e}");
            }
        }
        if !sync.is_empty() {
            let until = (epoch / self.spec.epochs_per_sync_committee_period.max(1) + 1)
                * self.spec.epochs_per_sync_committee_period.max(1);
            let subs: Vec<serde_json::Value> = sync
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "validator_index": s.validator_index.to_string(),
                        "sync_committee_indices": s.validator_sync_committee_indices.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                        "until_epoch": until.to_string(),
                    })
                })
                .collect();
            if let Err(e) = self
                .beacon
                .post_ignore("/eth/v1/validator/sync_committee_subscriptions", &serde_json::json!(subs), t)
                .await
            {
                warn!("sync committee subscriptions: {e}");
            }
        }
        for p in prop.data.into_iter().filter(|p| self.by_index.contains_key(&p.validator_index)) {
            duties.proposers.insert(p.slot, p);
        }
        duties.sync = sync;
        Ok(duties)
    }

    /// The dependent roots of `epoch`'s attester and proposer duties, asked
    /// cheaply: the attester route with one index, the proposer route as is.
    async fn dependent_roots(&self, epoch: u64) -> Result<(Hash256, Hash256), VcError> {
        let t = self.slot_timeout();
        let Some(one) = self.by_index.keys().next() else { return Ok((Hash256::ZERO, Hash256::ZERO)) };
        let body = serde_json::json!([one.to_string()]);
        let att: DutiesResponse<AttesterDuty> =
            self.beacon.post(&format!("/eth/v1/validator/duties/attester/{epoch}"), &body, t).await?;
        let prop: DutiesResponse<ProposerDuty> =
            self.beacon.get(&format!("/eth/v1/validator/duties/proposer/{epoch}"), t).await?;
        Ok((att.dependent_root, prop.dependent_root))
    }

    /// Refetches the duties of the current and next epoch if their dependent
    /// roots changed (a reorg across the block they depend on).
    pub(super) async fn refresh_changed_duties(&self, epoch: u64, duties: &mut HashMap<u64, EpochDuties>) {
        for e in [epoch, epoch + 1] {
            let Some(known) = duties.get(&e) else { continue };
            let roots = match self.dependent_roots(e).await {
                Ok(r) => r,
                Err(err) => {
                    warn!(epoch = e, "dependent roots: {err}");
                    continue;
                }
            };
            if roots == (known.dependent_root, known.proposer_dependent_root) {
                continue;
            }
            info!(epoch = e, attester_root = %roots.0, proposer_root = %roots.1, "dependent root changed; refetching duties");
            match self.fetch_duties(e).await {
                Ok(d) => {
                    Stats::add(&self.stats.duty_refreshes, 1);
                    duties.insert(e, d);
                }
                Err(err) => {
                    Stats::add(&self.stats.errors, 1);
                    warn!(epoch = e, "duties: {err}");
                }
            }
        }
    }
}
