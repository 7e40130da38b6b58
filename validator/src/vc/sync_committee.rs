//! Sync-committee messages (1/3 slot, one signing batch and one POST for all
//! members) and contributions (2/3 slot, one contribution fetched per
//! subcommittee with an aggregator among ours, selection proofs signed ahead
//! with the epoch's duties).

use super::duties::SyncAggregator;
use super::runtime::{Stats, Vc, VcError};
use crate::beacon::{Data, SyncDuty};
use poolvc_signer::batch::SignRequest;
use poolvc_signer::types::*;
use std::collections::HashMap;
use tracing::warn;

impl<P: Preset> Vc<P> {
    /// Signs and publishes the slot's sync-committee messages over the
    /// node's head; returns the head root signed (for the contributions).
    pub(super) async fn sync_messages(&self, slot: u64, members: &[SyncDuty]) -> Result<Option<Hash256>, VcError> {
        if members.is_empty() {
            return Ok(None);
        }
        let t = self.slot_timeout();
        #[derive(serde::Deserialize)]
        struct Root {
            root: Hash256,
        }
        let head: Data<Root> = self.beacon.get("/eth/v1/beacon/blocks/head/root", t).await?;
        let ctx = self.ctx();
        let root =
            ctx.signing_root::<P>(&SignableMessage::SyncCommitteeMessage { slot, beacon_block_root: head.data.root });
        let reqs = members
            .iter()
            .map(|m| SignRequest { key: self.validators[self.by_index[&m.validator_index]].handle, signing_root: root })
            .collect();
        let sigs = self.sign(reqs).await?;
        let msgs: Vec<SyncCommitteeMessage> = members
            .iter()
            .zip(sigs)
            .map(|(m, signature)| SyncCommitteeMessage {
                slot,
                beacon_block_root: head.data.root,
                validator_index: m.validator_index,
                signature,
            })
            .collect();
        let n = msgs.len() as u64;
        let body = serde_json::to_value(&msgs).unwrap_or_default();
        self.beacon.post_ignore("/eth/v1/beacon/pool/sync_committees", &body, t).await?;
        Stats::add(&self.stats.sync_messages, n);
        Ok(Some(head.data.root))
    }

    /// Signs and publishes the slot's contribution-and-proofs.
    pub(super) async fn contribute(
        &self,
        slot: u64,
        head: Option<Hash256>,
        aggregators: &[SyncAggregator],
    ) -> Result<(), VcError> {
        let Some(head) = head else { return Ok(()) };
        if aggregators.is_empty() {
            return Ok(());
        }
        let t = self.slot_timeout();
        let mut by_sub: HashMap<u64, Vec<&SyncAggregator>> = HashMap::new();
        for a in aggregators {
            by_sub.entry(a.subcommittee_index).or_default().push(a);
        }
        let mut messages = Vec::new();
        for (sub, aggs) in by_sub {
            let path = format!(
                "/eth/v1/validator/sync_committee_contribution?slot={slot}&subcommittee_index={sub}&beacon_block_root={head}"
            );
            let c: Data<SyncCommitteeContribution<P>> = match self.beacon.get(&path, t).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(slot, subcommittee = sub, "sync contribution: {e}");
                    continue;
                }
            };
            if c.data.slot != slot || c.data.beacon_block_root != head || c.data.subcommittee_index != sub {
                Stats::add(&self.stats.refusals, 1);
                warn!(slot, subcommittee = sub, "node served a contribution for another slot, root or subnet; refused");
                continue;
            }
            for a in aggs {
                messages.push(ContributionAndProof::<P> {
                    aggregator_index: a.validator_index,
                    contribution: c.data.clone(),
                    selection_proof: a.selection_proof,
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
                signing_root: ctx.signing_root::<P>(&SignableMessage::ContributionAndProof(m)),
            })
            .collect();
        let sigs = self.sign(reqs).await?;
        let signed: Vec<SignedContributionAndProof<P>> = messages
            .into_iter()
            .zip(sigs)
            .map(|(message, signature)| SignedContributionAndProof { message, signature })
            .collect();
        let n = signed.len() as u64;
        let body = serde_json::to_value(&signed).unwrap_or_default();
        self.beacon.post_ignore("/eth/v1/validator/contribution_and_proofs", &body, t).await?;
        Stats::add(&self.stats.contributions, n);
        Ok(())
    }
}
