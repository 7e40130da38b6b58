//! Attestations (1/3 slot) and aggregates (2/3 slot), on the routes of the
//! slot's fork: before Electra, v1 routes with one attestation data per
//! committee; from Electra on, one attestation data per slot, each vote
//! published as a `SingleAttestation` on the v2 pool route, and aggregates on
//! the v2 routes.
//!
//! Each step is one slashing batch, one signing batch and one POST for all
//! keys of the slot; nothing is signed before its slashing record is durable.

use super::duties::Attester;
use super::runtime::{Stats, Vc, VcError};
use crate::beacon::{Data, VersionedData};
use poolvc_signer::batch::SignRequest;
use poolvc_signer::slashing::AttestationRecord;
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::warn;
use tree_hash::TreeHash;

impl<P: Preset> Vc<P> {
    /// Fetches the slot's attestation data: one per committee before
    /// Electra, one for the slot after. Data that does not match its request
    /// is refused and counted. Returns the data by committee index.
    async fn attestation_data(
        &self,
        slot: u64,
        attesters: &[Attester],
        electra: bool,
    ) -> Result<HashMap<u64, AttestationData>, VcError> {
        let t = self.slot_timeout();
        let mut committees: Vec<u64> = attesters.iter().map(|a| a.duty.committee_index).collect();
        committees.sort_unstable();
        committees.dedup();
        let mut data_of = HashMap::new();
        let asks: Vec<u64> = if electra { vec![0] } else { committees.clone() };
        for ci in asks {
            let d: Data<AttestationData> = self
                .beacon
                .get(&format!("/eth/v1/validator/attestation_data?slot={slot}&committee_index={ci}"), t)
                .await?;
            let index_ok = if electra { d.data.index == 0 } else { d.data.index == ci };
            if d.data.slot != slot
                || !index_ok
                || d.data.source.epoch > d.data.target.epoch
                || d.data.target.epoch != self.spec.epoch_of(slot)
            {
                Stats::add(&self.stats.refusals, 1);
                warn!(slot, committee = ci, "beacon node served inconsistent attestation data; refused");
                continue;
            }
            if electra {
                for c in &committees {
                    data_of.insert(*c, d.data);
                }
            } else {
                data_of.insert(ci, d.data);
            }
        }
        Ok(data_of)
    }

    /// Attests for the slot's duties; returns the attestation data used, by
    /// committee, for the aggregation step.
    pub(super) async fn attest(
        &self,
        slot: u64,
        attesters: &[Attester],
    ) -> Result<HashMap<u64, AttestationData>, VcError> {
        if attesters.is_empty() {
            return Ok(HashMap::new());
        }
        let t = self.slot_timeout();
        let fork = self.spec.fork_name_at_slot(slot);
        let electra = fork.electra_enabled();
        let data_of = self.attestation_data(slot, attesters, electra).await?;
        let ctx = self.ctx();
        let mut roots: HashMap<u64, Hash256> = HashMap::new();
        for (ci, d) in &data_of {
            roots.insert(*ci, ctx.signing_root::<P>(&SignableMessage::Attestation(d)));
        }
        let work: Vec<(&Attester, AttestationData, Hash256)> = attesters
            .iter()
            .filter_map(|a| {
                let ci = a.duty.committee_index;
                Some((a, *data_of.get(&ci)?, *roots.get(&ci)?))
            })
            .collect();
        let records: Vec<AttestationRecord> = work
            .iter()
            .map(|(a, d, root)| AttestationRecord {
                pubkey: a.duty.pubkey,
                source_epoch: d.source.epoch,
                target_epoch: d.target.epoch,
                signing_root: Some(*root),
            })
            .collect();
        let db = Arc::clone(&self.slashing);
        let started = std::time::Instant::now();
        let verdicts = tokio::task::spawn_blocking(move || db.check_and_insert_attestations(&records))
            .await
            .map_err(|e| VcError::Config(e.to_string()))??;
        self.stats.slashing_seconds.observe(started.elapsed().as_secs_f64());
        let mut safe = Vec::new();
        for (w, v) in work.into_iter().zip(verdicts) {
            match v {
                Ok(_) => safe.push(w),
                Err(reason) => {
                    Stats::add(&self.stats.refusals, 1);
                    warn!(
                        slot,
                        validator = w.0.duty.validator_index,
                        "slashing protection refused attestation: {reason}"
                    );
                }
            }
        }
        if safe.is_empty() {
            return Ok(data_of);
        }
        let reqs = safe
            .iter()
            .map(|(a, _, root)| SignRequest {
                key: self.validators[self.by_index[&a.duty.validator_index]].handle,
                signing_root: *root,
            })
            .collect();
        let sigs = self.sign(reqs).await?;
        let n = sigs.len() as u64;
        if electra {
            let out: Vec<SingleAttestation> = safe
                .iter()
                .zip(sigs)
                .map(|((a, d, _), signature)| SingleAttestation {
                    committee_index: a.duty.committee_index,
                    attester_index: a.duty.validator_index,
                    data: *d,
                    signature,
                })
                .collect();
            let body = serde_json::to_value(&out).unwrap_or_default();
            self.beacon.post_versioned("/eth/v2/beacon/pool/attestations", &body, fork, t).await?;
        } else {
            let mut out = Vec::with_capacity(safe.len());
            for ((a, d, _), sig) in safe.iter().zip(sigs) {
                let mut bits =
                    ssz_types::BitList::<P::MaxValidatorsPerCommittee>::with_capacity(a.duty.committee_length as usize)
                        .map_err(|e| VcError::Config(format!("committee length {}: {e:?}", a.duty.committee_length)))?;
                bits.set(a.duty.validator_committee_index as usize, true)
                    .map_err(|e| VcError::Config(format!("committee position: {e:?}")))?;
                out.push(AttestationBase::<P> { aggregation_bits: bits, data: *d, signature: sig });
            }
            let body = serde_json::to_value(&out).unwrap_or_default();
            self.beacon.post_ignore("/eth/v1/beacon/pool/attestations", &body, t).await?;
        }
        Stats::add(&self.stats.attestations, n);
        Ok(data_of)
    }

    /// One aggregate per committee with an aggregator among ours (never one
    /// request per key), then one signing batch and one POST.
    pub(super) async fn aggregate(
        &self,
        slot: u64,
        attesters: &[Attester],
        data_of: &HashMap<u64, AttestationData>,
    ) -> Result<(), VcError> {
        let fork = self.spec.fork_name_at_slot(slot);
        let mut by_committee: HashMap<u64, Vec<&Attester>> = HashMap::new();
        for a in attesters.iter().filter(|a| a.selection_proof.is_some()) {
            by_committee.entry(a.duty.committee_index).or_default().push(a);
        }
        if by_committee.is_empty() {
            return Ok(());
        }
        if fork.electra_enabled() {
            self.aggregate_electra(slot, fork, by_committee, data_of).await
        } else {
            self.aggregate_base(slot, by_committee, data_of).await
        }
    }

    async fn aggregate_base(
        &self,
        slot: u64,
        by_committee: HashMap<u64, Vec<&Attester>>,
        data_of: &HashMap<u64, AttestationData>,
    ) -> Result<(), VcError> {
        let t = self.slot_timeout();
        let mut messages = Vec::new();
        for (ci, aggregators) in by_committee {
            // Only committees we attested for: their data passed the checks.
            let Some(data) = data_of.get(&ci) else { continue };
            let root = data.tree_hash_root();
            let path = format!("/eth/v1/validator/aggregate_attestation?slot={slot}&attestation_data_root={root}");
            let agg: Data<AttestationBase<P>> = match self.beacon.get(&path, t).await {
                Ok(a) => a,
                Err(e) => {
                    warn!(slot, committee = ci, "aggregate: {e}");
                    continue;
                }
            };
            if agg.data.data != *data {
                Stats::add(&self.stats.refusals, 1);
                warn!(slot, committee = ci, "aggregate for other attestation data; refused");
                continue;
            }
            for a in aggregators {
                messages.push(AggregateAndProofBase::<P> {
                    aggregator_index: a.duty.validator_index,
                    aggregate: agg.data.clone(),
                    selection_proof: a.selection_proof.unwrap_or_default(),
                });
            }
        }
        if messages.is_empty() {
            return Ok(());
        }
        let ctx = self.ctx();
        let reqs = messages
            .iter()
            .map(|m| SignRequest {
                key: self.validators[self.by_index[&m.aggregator_index]].handle,
                signing_root: ctx.signing_root::<P>(&SignableMessage::AggregateAndProofBase(m)),
            })
            .collect();
        let sigs = self.sign(reqs).await?;
        let signed: Vec<SignedAggregateAndProofBase<P>> = messages
            .into_iter()
            .zip(sigs)
            .map(|(message, signature)| SignedAggregateAndProofBase { message, signature })
            .collect();
        let n = signed.len() as u64;
        let body = serde_json::to_value(&signed).unwrap_or_default();
        self.beacon.post_ignore("/eth/v1/validator/aggregate_and_proofs", &body, t).await?;
        Stats::add(&self.stats.aggregates, n);
        Ok(())
    }

    async fn aggregate_electra(
        &self,
        slot: u64,
        fork: ForkName,
        by_committee: HashMap<u64, Vec<&Attester>>,
        data_of: &HashMap<u64, AttestationData>,
    ) -> Result<(), VcError> {
        let t = self.slot_timeout();
        let mut messages = Vec::new();
        for (ci, aggregators) in by_committee {
            let Some(data) = data_of.get(&ci) else { continue };
            let root = data.tree_hash_root();
            let path = format!(
                "/eth/v2/validator/aggregate_attestation?slot={slot}&attestation_data_root={root}&committee_index={ci}"
            );
            let agg: VersionedData<AttestationElectra<P>> = match self.beacon.get(&path, t).await {
                Ok(a) => a,
                Err(e) => {
                    warn!(slot, committee = ci, "aggregate: {e}");
                    continue;
                }
            };
            let only_ours = agg.data.committee_bits.iter().enumerate().all(|(i, b)| b == (i as u64 == ci));
            if agg.data.data != *data || !only_ours {
                Stats::add(&self.stats.refusals, 1);
                warn!(slot, committee = ci, "aggregate for other attestation data or committees; refused");
                continue;
            }
            for a in aggregators {
                messages.push(AggregateAndProofElectra::<P> {
                    aggregator_index: a.duty.validator_index,
                    aggregate: agg.data.clone(),
                    selection_proof: a.selection_proof.unwrap_or_default(),
                });
            }
        }
        if messages.is_empty() {
            return Ok(());
        }
        let ctx = self.ctx();
        let reqs = messages
            .iter()
            .map(|m| SignRequest {
                key: self.validators[self.by_index[&m.aggregator_index]].handle,
                signing_root: ctx.signing_root::<P>(&SignableMessage::AggregateAndProofElectra(m)),
            })
            .collect();
        let sigs = self.sign(reqs).await?;
        let signed: Vec<SignedAggregateAndProofElectra<P>> = messages
            .into_iter()
            .zip(sigs)
            .map(|(message, signature)| SignedAggregateAndProofElectra { message, signature })
            .collect();
        let n = signed.len() as u64;
        let body = serde_json::to_value(&signed).unwrap_or_default();
        self.beacon.post_versioned("/eth/v2/validator/aggregate_and_proofs", &body, fork, t).await?;
        Stats::add(&self.stats.aggregates, n);
        Ok(())
    }
}
