//! The seam under the duty services: [`BeaconApi`], every typed route a
//! service uses, and nothing else. The services hold an
//! `Arc<dyn BeaconApi<P>>`; in the client it is the health-ranked
//! [`BeaconClient`], in the services' unit tests an in-memory node
//! (`services::testing`). The wire itself (hostile bytes, timing, scale) is
//! tested against the simulated node over HTTP.

use super::anchor::PayloadCommitment;
use super::chain::{AttestationReward, Committee, Committees};
use super::client::{BeaconClient, NodeHealth};
use super::error::{AnswerError, BeaconError};
use super::participation::BlockParticipation;
use super::produce::{BlockRequest, ProduceError, Produced, Sidecars};
use super::routes::{BeaconCommitteeSelection, SyncCommitteeSelection, SyncCommitteeSubscription};
use super::types::*;
use async_trait::async_trait;
use poolvc_signer::types::*;
use std::time::Duration;

/// A check a duties answer must pass; an answer it refuses sends the
/// request to the next node (`fallback`).
pub type AnswerCheck<'a, D> = &'a (dyn Fn(&[D]) -> Result<(), AnswerError> + Send + Sync);

/// The typed Beacon API routes the duty services use, and the node table.
#[async_trait]
pub trait BeaconApi<P: Preset>: Send + Sync + std::fmt::Debug {
    /// The configured nodes (base URLs).
    fn nodes(&self) -> Vec<String>;
    /// Each node's health, in configured order.
    fn health(&self) -> Vec<NodeHealth>;
    /// Node indices, best first.
    fn ranked(&self) -> Vec<usize>;
    /// Polls every node's sync status and updates the ranking.
    async fn check_health(&self, t: Duration);

    /// `POST /eth/v1/beacon/states/head/validators` for `ids`.
    async fn validators_by_post(&self, ids: &[String], t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError>;
    /// `GET /eth/v1/beacon/states/head/validators?id=` for `ids`.
    async fn validators_by_get(&self, ids: &[String], t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError>;
    /// The finalized epoch.
    async fn finalized_epoch(&self, t: Duration) -> Result<u64, BeaconError>;
    /// The head block's root.
    async fn head_root(&self, t: Duration) -> Result<Hash256, BeaconError>;
    /// What block `id`'s execution payload commits to (the root of the pool
    /// reads' proofs); `None` if there is no such block.
    async fn payload_commitment(&self, id: &str, t: Duration) -> Result<Option<PayloadCommitment>, BeaconError>;

    /// Attester duties of `indices` in `epoch`.
    async fn attester_duties(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError>;
    /// Attester duties, each node's answer judged by `check`.
    async fn attester_duties_checked(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
        check: AnswerCheck<'_, AttesterDuty>,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError>;
    /// Proposer duties of `epoch`.
    async fn proposer_duties(&self, epoch: u64, t: Duration) -> Result<DutiesResponse<ProposerDuty>, BeaconError>;
    /// Proposer duties, each node's answer judged by `check`.
    async fn proposer_duties_checked(
        &self,
        epoch: u64,
        t: Duration,
        check: AnswerCheck<'_, ProposerDuty>,
    ) -> Result<DutiesResponse<ProposerDuty>, BeaconError>;
    /// Sync-committee duties, each node's answer judged by `check`.
    async fn sync_duties_checked(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
        check: AnswerCheck<'_, SyncDuty>,
    ) -> Result<Vec<SyncDuty>, BeaconError>;

    /// Combined selection proofs from distributed-validator middleware.
    async fn beacon_committee_selections(
        &self,
        partial: &[BeaconCommitteeSelection],
        t: Duration,
    ) -> Result<Vec<BeaconCommitteeSelection>, BeaconError>;
    /// Combined sync selection proofs from distributed-validator middleware.
    async fn sync_committee_selections(
        &self,
        partial: &[SyncCommitteeSelection],
        t: Duration,
    ) -> Result<Vec<SyncCommitteeSelection>, BeaconError>;
    /// Subnet subscriptions for attesters.
    async fn subscribe_committees(&self, subs: &[CommitteeSubscription], t: Duration) -> Result<(), BeaconError>;
    /// Subnet subscriptions for sync-committee members.
    async fn subscribe_sync_committees(
        &self,
        subs: &[SyncCommitteeSubscription],
        t: Duration,
    ) -> Result<(), BeaconError>;
    /// Every indexed key's fee recipient.
    async fn prepare_beacon_proposer(&self, preps: &[ProposerPreparation], t: Duration) -> Result<(), BeaconError>;
    /// Signed builder registrations, `batch` per request.
    async fn register_validators(
        &self,
        regs: &[SignedValidatorRegistrationV1],
        batch: usize,
        t: Duration,
    ) -> Result<(), BeaconError>;

    /// The attestation data of `slot` (and `committee_index` before Electra).
    async fn attestation_data(
        &self,
        slot: u64,
        committee_index: u64,
        t: Duration,
    ) -> Result<AttestationData, BeaconError>;
    /// Publishes one-bit attestations (before Electra).
    async fn publish_attestations_v1(&self, atts: &[AttestationBase<P>], t: Duration) -> Result<(), BeaconError>;
    /// Publishes `SingleAttestation`s (Electra on).
    async fn publish_single_attestations(
        &self,
        atts: &[SingleAttestation],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError>;
    /// The node's aggregate for data root `root` (before Electra).
    async fn aggregate_attestation_v1(
        &self,
        slot: u64,
        root: Hash256,
        t: Duration,
    ) -> Result<AttestationBase<P>, BeaconError>;
    /// The node's aggregate of one committee for data root `root` (Electra on).
    async fn aggregate_attestation_v2(
        &self,
        slot: u64,
        root: Hash256,
        committee_index: u64,
        t: Duration,
    ) -> Result<AttestationElectra<P>, BeaconError>;
    /// Publishes signed aggregates (before Electra).
    async fn publish_aggregates_v1(
        &self,
        aggs: &[SignedAggregateAndProofBase<P>],
        t: Duration,
    ) -> Result<(), BeaconError>;
    /// Publishes signed aggregates (Electra on).
    async fn publish_aggregates_v2(
        &self,
        aggs: &[SignedAggregateAndProofElectra<P>],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError>;

    /// Publishes sync-committee messages.
    async fn publish_sync_messages(&self, msgs: &[SyncCommitteeMessage], t: Duration) -> Result<(), BeaconError>;
    /// PTC duties of `indices` in `epoch` (Gloas).
    async fn ptc_duties(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<DutiesResponse<PtcDuty>, BeaconError>;
    /// What the PTC votes on at `slot` (Gloas); `None` when the node has
    /// seen no block of the slot (nothing to vote on).
    async fn payload_attestation_data(
        &self,
        slot: u64,
        t: Duration,
    ) -> Result<Option<PayloadAttestationData>, BeaconError>;
    /// Publishes PTC members' payload attestations (Gloas).
    async fn publish_payload_attestations(
        &self,
        msgs: &[PayloadAttestationMessage],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError>;
    /// Publishes signed proposer preferences (Gloas).
    async fn publish_proposer_preferences(
        &self,
        signed: &[SignedProposerPreferences],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError>;
    /// The node's contribution of one subcommittee for `head`.
    async fn sync_committee_contribution(
        &self,
        slot: u64,
        subcommittee_index: u64,
        head: Hash256,
        t: Duration,
    ) -> Result<SyncCommitteeContribution<P>, BeaconError>;
    /// Publishes signed contributions.
    async fn publish_contributions(
        &self,
        signed: &[SignedContributionAndProof<P>],
        t: Duration,
    ) -> Result<(), BeaconError>;

    /// Asks for the block of `slot`, of fork `expected`, as `req` says.
    async fn produce_block(
        &self,
        slot: u64,
        expected: ForkName,
        req: BlockRequest,
        t: Duration,
    ) -> Result<Produced<P>, ProduceError>;
    /// The self-built payload of the block the node produced at `slot`
    /// with root `block_root`, when it did not include it (Gloas).
    async fn execution_payload_envelope(
        &self,
        slot: u64,
        block_root: Hash256,
        t: Duration,
    ) -> Result<ExecutionPayloadEnvelope<P>, BeaconError>;
    /// Publishes a signed envelope, with its blob parts when given (Gloas).
    async fn publish_envelope(
        &self,
        signed: &SignedExecutionPayloadEnvelope<P>,
        sidecars: Option<&Sidecars>,
        t: Duration,
    ) -> Result<(), BeaconError>;
    /// A block header by slot or root.
    async fn block_header(&self, id: &str, t: Duration) -> Result<(Hash256, BeaconBlockHeader), BeaconError>;
    /// Publishes a signed block.
    async fn publish_block(
        &self,
        fork: ForkName,
        produced: &Produced<P>,
        sig: SignatureBytes,
        t: Duration,
    ) -> Result<(), BeaconError>;
    /// Publishes one signed voluntary exit.
    async fn publish_voluntary_exit(&self, exit: &SignedVoluntaryExit, t: Duration) -> Result<(), BeaconError>;

    /// Which of `indices` the node saw live in `epoch`.
    async fn liveness(&self, epoch: u64, indices: &[u64], t: Duration) -> Result<Vec<Liveness>, BeaconError>;
    /// A block's participation, strictly read; `None` for an empty slot.
    async fn block_participation(&self, id: &str, t: Duration) -> Result<Option<BlockParticipation>, BeaconError>;
    /// Committees of a state.
    async fn committees(&self, state: &str, which: Committees, t: Duration) -> Result<Vec<Committee>, BeaconError>;
    /// A state's sync committee members for `epoch`.
    async fn sync_committee(&self, state: &str, epoch: u64, t: Duration) -> Result<Vec<u64>, BeaconError>;
    /// Attestation rewards of `epoch` for `indices`.
    async fn attestation_rewards(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<std::collections::HashMap<u64, AttestationReward>, BeaconError>;
}

#[async_trait]
impl<P: Preset> BeaconApi<P> for BeaconClient {
    fn nodes(&self) -> Vec<String> {
        BeaconClient::nodes(self).to_vec()
    }
    fn health(&self) -> Vec<NodeHealth> {
        BeaconClient::health(self)
    }
    fn ranked(&self) -> Vec<usize> {
        BeaconClient::ranked(self)
    }
    async fn check_health(&self, t: Duration) {
        BeaconClient::check_health(self, t).await
    }
    async fn validators_by_post(&self, ids: &[String], t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError> {
        BeaconClient::validators_by_post(self, ids, t).await
    }
    async fn validators_by_get(&self, ids: &[String], t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError> {
        BeaconClient::validators_by_get(self, ids, t).await
    }
    async fn finalized_epoch(&self, t: Duration) -> Result<u64, BeaconError> {
        BeaconClient::finalized_epoch(self, t).await
    }
    async fn head_root(&self, t: Duration) -> Result<Hash256, BeaconError> {
        BeaconClient::head_root(self, t).await
    }
    async fn payload_commitment(&self, id: &str, t: Duration) -> Result<Option<PayloadCommitment>, BeaconError> {
        BeaconClient::payload_commitment(self, id, t).await
    }
    async fn attester_duties(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError> {
        BeaconClient::attester_duties(self, epoch, indices, t).await
    }
    async fn attester_duties_checked(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
        check: AnswerCheck<'_, AttesterDuty>,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError> {
        BeaconClient::attester_duties_checked(self, epoch, indices, t, check).await
    }
    async fn proposer_duties(&self, epoch: u64, t: Duration) -> Result<DutiesResponse<ProposerDuty>, BeaconError> {
        BeaconClient::proposer_duties(self, epoch, t).await
    }
    async fn proposer_duties_checked(
        &self,
        epoch: u64,
        t: Duration,
        check: AnswerCheck<'_, ProposerDuty>,
    ) -> Result<DutiesResponse<ProposerDuty>, BeaconError> {
        BeaconClient::proposer_duties_checked(self, epoch, t, check).await
    }
    async fn sync_duties_checked(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
        check: AnswerCheck<'_, SyncDuty>,
    ) -> Result<Vec<SyncDuty>, BeaconError> {
        BeaconClient::sync_duties_checked(self, epoch, indices, t, check).await
    }
    async fn beacon_committee_selections(
        &self,
        partial: &[BeaconCommitteeSelection],
        t: Duration,
    ) -> Result<Vec<BeaconCommitteeSelection>, BeaconError> {
        BeaconClient::beacon_committee_selections(self, partial, t).await
    }
    async fn sync_committee_selections(
        &self,
        partial: &[SyncCommitteeSelection],
        t: Duration,
    ) -> Result<Vec<SyncCommitteeSelection>, BeaconError> {
        BeaconClient::sync_committee_selections(self, partial, t).await
    }
    async fn subscribe_committees(&self, subs: &[CommitteeSubscription], t: Duration) -> Result<(), BeaconError> {
        BeaconClient::subscribe_committees(self, subs, t).await
    }
    async fn subscribe_sync_committees(
        &self,
        subs: &[SyncCommitteeSubscription],
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::subscribe_sync_committees(self, subs, t).await
    }
    async fn prepare_beacon_proposer(&self, preps: &[ProposerPreparation], t: Duration) -> Result<(), BeaconError> {
        BeaconClient::prepare_beacon_proposer(self, preps, t).await
    }
    async fn register_validators(
        &self,
        regs: &[SignedValidatorRegistrationV1],
        batch: usize,
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::register_validators(self, regs, batch, t).await
    }
    async fn attestation_data(
        &self,
        slot: u64,
        committee_index: u64,
        t: Duration,
    ) -> Result<AttestationData, BeaconError> {
        BeaconClient::attestation_data(self, slot, committee_index, t).await
    }
    async fn publish_attestations_v1(&self, atts: &[AttestationBase<P>], t: Duration) -> Result<(), BeaconError> {
        BeaconClient::publish_attestations_v1(self, atts, t).await
    }
    async fn publish_single_attestations(
        &self,
        atts: &[SingleAttestation],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_single_attestations(self, atts, fork, t).await
    }
    async fn aggregate_attestation_v1(
        &self,
        slot: u64,
        root: Hash256,
        t: Duration,
    ) -> Result<AttestationBase<P>, BeaconError> {
        BeaconClient::aggregate_attestation_v1(self, slot, root, t).await
    }
    async fn aggregate_attestation_v2(
        &self,
        slot: u64,
        root: Hash256,
        committee_index: u64,
        t: Duration,
    ) -> Result<AttestationElectra<P>, BeaconError> {
        BeaconClient::aggregate_attestation_v2(self, slot, root, committee_index, t).await
    }
    async fn publish_aggregates_v1(
        &self,
        aggs: &[SignedAggregateAndProofBase<P>],
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_aggregates_v1(self, aggs, t).await
    }
    async fn publish_aggregates_v2(
        &self,
        aggs: &[SignedAggregateAndProofElectra<P>],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_aggregates_v2(self, aggs, fork, t).await
    }
    async fn publish_sync_messages(&self, msgs: &[SyncCommitteeMessage], t: Duration) -> Result<(), BeaconError> {
        BeaconClient::publish_sync_messages(self, msgs, t).await
    }
    async fn ptc_duties(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<DutiesResponse<PtcDuty>, BeaconError> {
        BeaconClient::ptc_duties(self, epoch, indices, t).await
    }
    async fn payload_attestation_data(
        &self,
        slot: u64,
        t: Duration,
    ) -> Result<Option<PayloadAttestationData>, BeaconError> {
        BeaconClient::payload_attestation_data(self, slot, t).await
    }
    async fn publish_payload_attestations(
        &self,
        msgs: &[PayloadAttestationMessage],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_payload_attestations(self, msgs, fork, t).await
    }
    async fn publish_proposer_preferences(
        &self,
        signed: &[SignedProposerPreferences],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_proposer_preferences(self, signed, fork, t).await
    }
    async fn sync_committee_contribution(
        &self,
        slot: u64,
        subcommittee_index: u64,
        head: Hash256,
        t: Duration,
    ) -> Result<SyncCommitteeContribution<P>, BeaconError> {
        BeaconClient::sync_committee_contribution(self, slot, subcommittee_index, head, t).await
    }
    async fn publish_contributions(
        &self,
        signed: &[SignedContributionAndProof<P>],
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_contributions(self, signed, t).await
    }
    async fn produce_block(
        &self,
        slot: u64,
        expected: ForkName,
        req: BlockRequest,
        t: Duration,
    ) -> Result<Produced<P>, ProduceError> {
        BeaconClient::produce_block(self, slot, expected, req, t).await
    }
    async fn execution_payload_envelope(
        &self,
        slot: u64,
        block_root: Hash256,
        t: Duration,
    ) -> Result<ExecutionPayloadEnvelope<P>, BeaconError> {
        BeaconClient::execution_payload_envelope(self, slot, block_root, t).await
    }
    async fn publish_envelope(
        &self,
        signed: &SignedExecutionPayloadEnvelope<P>,
        sidecars: Option<&Sidecars>,
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_envelope(self, signed, sidecars, t).await
    }
    async fn block_header(&self, id: &str, t: Duration) -> Result<(Hash256, BeaconBlockHeader), BeaconError> {
        BeaconClient::block_header(self, id, t).await
    }
    async fn publish_block(
        &self,
        fork: ForkName,
        produced: &Produced<P>,
        sig: SignatureBytes,
        t: Duration,
    ) -> Result<(), BeaconError> {
        BeaconClient::publish_block(self, fork, produced, sig, t).await
    }
    async fn publish_voluntary_exit(&self, exit: &SignedVoluntaryExit, t: Duration) -> Result<(), BeaconError> {
        BeaconClient::publish_voluntary_exit(self, exit, t).await
    }
    async fn liveness(&self, epoch: u64, indices: &[u64], t: Duration) -> Result<Vec<Liveness>, BeaconError> {
        BeaconClient::liveness(self, epoch, indices, t).await
    }
    async fn block_participation(&self, id: &str, t: Duration) -> Result<Option<BlockParticipation>, BeaconError> {
        BeaconClient::block_participation(self, id, t).await
    }
    async fn committees(&self, state: &str, which: Committees, t: Duration) -> Result<Vec<Committee>, BeaconError> {
        BeaconClient::committees(self, state, which, t).await
    }
    async fn sync_committee(&self, state: &str, epoch: u64, t: Duration) -> Result<Vec<u64>, BeaconError> {
        BeaconClient::sync_committee(self, state, epoch, t).await
    }
    async fn attestation_rewards(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<std::collections::HashMap<u64, AttestationReward>, BeaconError> {
        BeaconClient::attestation_rewards(self, epoch, indices, t).await
    }
}
