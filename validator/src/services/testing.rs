//! The services' unit-test seam: an in-memory beacon node ([`MemNode`])
//! behind [`BeaconApi`], and a [`Ctx`] over a validator store of interop
//! keys (key `i` has validator index `i`) with an in-memory SQLite slashing
//! database and an event recorder.
//!
//! The node checks what it is sent as a node would: every published
//! signature is verified with real BLS under the real domain (the one the
//! spec and the genesis validators root give), and a batch with a bad one is
//! refused with HTTP 400. Routes a test did not set answer 404, as a node
//! that does not serve them; `down` makes every route answer 503.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::context::Ctx;
use super::duty_book::DutyBook;
use crate::beacon::*;
use crate::config::VcConfig;
use crate::events::{Event, EventBus, Subscriber};
use crate::metrics::Stats;
use crate::store::{StoreTimings, ValidatorStore};
use async_trait::async_trait;
use poolvc_signer::keys::bls::{PublicKey, Signature};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::types::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tree_hash::TreeHash;

/// The test chain's genesis validators root.
pub(crate) const GVR: Hash256 = Hash256::repeat_byte(7);

/// The minimal preset's config with every fork up to and including `fork`
/// at epoch 0.
pub(crate) fn spec_at(fork: ForkName) -> ChainSpec {
    let mut text = include_str!("../../../testnets/configs/minimal.yaml").to_string();
    for (name, f) in [
        ("ALTAIR", ForkName::Altair),
        ("BELLATRIX", ForkName::Bellatrix),
        ("CAPELLA", ForkName::Capella),
        ("DENEB", ForkName::Deneb),
        ("ELECTRA", ForkName::Electra),
        ("FULU", ForkName::Fulu),
        ("GLOAS", ForkName::Gloas),
    ] {
        if f <= fork {
            text = text.replace(&format!("{name}_FORK_EPOCH: 18446744073709551615"), &format!("{name}_FORK_EPOCH: 0"));
        }
    }
    ChainSpec::from_config_yaml("minimal.yaml", &text).unwrap()
}

/// Interop key `i`'s public key.
pub(crate) fn pk(i: u64) -> PublicKeyBytes {
    interop_secret_key(i).public_key().to_bytes()
}

/// What the node was sent on a publishing route.
#[derive(Debug, Clone)]
pub(crate) enum Published<P: Preset> {
    /// `SingleAttestation`s (Electra on).
    Attestations(Vec<SingleAttestation>),
    /// One-bit attestations (before Electra).
    AttestationsV1(Vec<AttestationBase<P>>),
    /// Signed aggregates (Electra on).
    Aggregates(Vec<SignedAggregateAndProofElectra<P>>),
    /// Sync-committee messages.
    SyncMessages(Vec<SyncCommitteeMessage>),
    /// A signed block (its header) or blinded block.
    Block {
        /// The block's header.
        header: BeaconBlockHeader,
        /// Whether it was blinded.
        blinded: bool,
    },
    /// A signed voluntary exit.
    Exit(SignedVoluntaryExit),
    /// Proposer preparations.
    Preparations(Vec<ProposerPreparation>),
    /// Builder registrations.
    Registrations(Vec<SignedValidatorRegistrationV1>),
    /// Payload attestations (Gloas).
    PayloadAttestations(Vec<PayloadAttestationMessage>),
    /// Proposer preferences (Gloas).
    Preferences(Vec<SignedProposerPreferences>),
    /// A signed envelope (Gloas), and whether its blobs came with it.
    Envelope(Box<SignedExecutionPayloadEnvelope<P>>, bool),
}

/// Something a test runs while the in-memory node answers.
pub(crate) struct Hook(pub(crate) Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// What the in-memory node answers, and what it was sent. Tests set the
/// answers before a step and read `published` and `asked` after.
#[derive(Debug)]
pub(crate) struct NodeState<P: Preset> {
    /// Every route answers 503.
    pub(crate) down: bool,
    /// Publishing routes answer this status (the node's pool refuses).
    pub(crate) publish_status: Option<u16>,
    /// The attestation data answered for any slot and committee.
    pub(crate) attestation_data: Option<AttestationData>,
    /// The aggregate answered per committee (Electra on).
    pub(crate) aggregates: HashMap<u64, AttestationElectra<P>>,
    /// The block answered to produce.
    pub(crate) produced: Option<Produced<P>>,
    /// The block answered to a request for a local block
    /// (`builder_boost_factor=0`), when set; else `produced`.
    pub(crate) produced_local: Option<Produced<P>>,
    /// The self-built envelope answered to the stateful fetch (Gloas).
    pub(crate) envelope: Option<ExecutionPayloadEnvelope<P>>,
    /// The fee recipients named to `produce_block`, in order.
    pub(crate) produce_fee_recipients: Vec<Address>,
    /// The `builder_boost_factor`s asked of `produce_block`, in order.
    pub(crate) produce_boosts: Vec<u64>,
    /// Run once by the next `produce_block`, after it answered (the lock
    /// released): what changes while the node produces.
    pub(crate) while_producing: Option<Hook>,
    /// Headers by id (slot or root, as asked).
    pub(crate) headers: HashMap<String, BeaconBlockHeader>,
    /// Whether the liveness route is served; who it reports live.
    pub(crate) liveness_served: bool,
    /// Validators the liveness route reports live.
    pub(crate) live: BTreeSet<u64>,
    /// Blocks' participation by id (slot or root, as asked).
    pub(crate) blocks: HashMap<String, BlockParticipation>,
    /// Committees answered for any state.
    pub(crate) committees: Vec<Committee>,
    /// Attester duties answered (filtered by the indices asked).
    pub(crate) attester_duties: Vec<AttesterDuty>,
    /// Proposer duties answered.
    pub(crate) proposer_duties: Vec<ProposerDuty>,
    /// Sync duties answered (filtered by the indices asked).
    pub(crate) sync_duties: Vec<SyncDuty>,
    /// PTC duties answered (filtered by the indices asked).
    pub(crate) ptc_duties: Vec<PtcDuty>,
    /// The payload attestation data answered for any slot.
    pub(crate) payload_attestation_data: Option<PayloadAttestationData>,
    /// The node has seen no block of the slot (it answers 204).
    pub(crate) no_block_seen: bool,
    /// The dependent root of the duties answers.
    pub(crate) dependent_root: Hash256,
    /// Validators known to the node (index = interop index).
    pub(crate) validators: Vec<u64>,
    /// Their status where not `active_ongoing`.
    pub(crate) statuses: HashMap<u64, String>,
    /// Everything published that the node accepted, in order.
    pub(crate) published: Vec<Published<P>>,
    /// The routes asked, in order (method names of [`BeaconApi`]).
    pub(crate) asked: Vec<&'static str>,
}

impl<P: Preset> Default for NodeState<P> {
    fn default() -> Self {
        Self {
            down: false,
            publish_status: None,
            attestation_data: None,
            aggregates: HashMap::new(),
            produced: None,
            produced_local: None,
            envelope: None,
            produce_fee_recipients: Vec::new(),
            produce_boosts: Vec::new(),
            while_producing: None,
            headers: HashMap::new(),
            liveness_served: true,
            live: BTreeSet::new(),
            blocks: HashMap::new(),
            committees: Vec::new(),
            attester_duties: Vec::new(),
            proposer_duties: Vec::new(),
            sync_duties: Vec::new(),
            ptc_duties: Vec::new(),
            payload_attestation_data: None,
            no_block_seen: false,
            dependent_root: Hash256::repeat_byte(0xd0),
            validators: Vec::new(),
            statuses: HashMap::new(),
            published: Vec::new(),
            asked: Vec::new(),
        }
    }
}

/// An in-memory beacon node (see the module's docs).
#[derive(Debug)]
pub(crate) struct MemNode<P: Preset> {
    spec: ChainSpec,
    /// Answers and records.
    pub(crate) st: Mutex<NodeState<P>>,
}

fn status(route: &str, status: u16, message: impl Into<String>) -> BeaconError {
    BeaconError::AllFailed {
        route: route.into(),
        errors: vec![NodeError::Status { node: "mem".into(), route: route.into(), status, message: message.into() }],
    }
}

fn not_served(route: &str) -> BeaconError {
    BeaconError::NotServed {
        route: route.into(),
        errors: vec![NodeError::Status { node: "mem".into(), route: route.into(), status: 404, message: "".into() }],
    }
}

impl<P: Preset> MemNode<P> {
    /// A node of chain `spec` with nothing set.
    pub(crate) fn new(spec: ChainSpec) -> Arc<Self> {
        Arc::new(Self { spec, st: Mutex::new(NodeState::default()) })
    }

    /// The state, to set answers or read records.
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, NodeState<P>> {
        self.st.lock().unwrap()
    }

    /// Records `route` as asked; 503 when the node is down.
    fn ask(&self, route: &'static str) -> Result<std::sync::MutexGuard<'_, NodeState<P>>, BeaconError> {
        let mut st = self.state();
        st.asked.push(route);
        if st.down {
            return Err(status(route, 503, "node is down"));
        }
        Ok(st)
    }

    /// Whether `sig` is validator `index`'s over `message` under its domain.
    pub(crate) fn verifies(&self, index: u64, message: &SignableMessage<'_, P>, sig: &SignatureBytes) -> bool {
        let ctx = SigningContext { spec: &self.spec, genesis_validators_root: GVR };
        let root = ctx.signing_root(message);
        let (Ok(pk), Ok(sig)) = (PublicKey::from_bytes(pk(index).as_slice()), Signature::from_bytes(sig.as_slice()))
        else {
            return false;
        };
        sig.verify(&pk, root.as_slice())
    }

    /// Accepts `what` if every signature verifies, as a node's pool would.
    fn accept(
        &self,
        route: &'static str,
        checks: impl IntoIterator<Item = (u64, bool)>,
        what: Published<P>,
    ) -> Result<(), BeaconError> {
        let mut st = self.ask(route)?;
        if let Some(code) = st.publish_status {
            return Err(status(route, code, "refused by the test"));
        }
        if let Some((index, _)) = checks.into_iter().find(|(_, ok)| !ok) {
            return Err(status(route, 400, format!("invalid signature of validator {index}")));
        }
        st.published.push(what);
        Ok(())
    }
}

#[async_trait]
impl<P: Preset> BeaconApi<P> for MemNode<P> {
    fn nodes(&self) -> Vec<String> {
        vec!["mem".into()]
    }
    fn health(&self) -> Vec<NodeHealth> {
        vec![NodeHealth::default()]
    }
    fn ranked(&self) -> Vec<usize> {
        vec![0]
    }
    async fn check_health(&self, _t: Duration) {}

    async fn validators_by_post(&self, ids: &[String], _t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError> {
        let st = self.ask("validators_by_post")?;
        let known: Vec<ValidatorEntry> = st
            .validators
            .iter()
            .filter(|i| ids.iter().any(|id| *id == i.to_string() || *id == pk(**i).to_string()))
            .map(|i| ValidatorEntry {
                index: *i,
                status: st.statuses.get(i).cloned().unwrap_or_else(|| "active_ongoing".into()),
                validator: ValidatorInfo {
                    pubkey: pk(*i),
                    effective_balance: Some(32_000_000_000),
                    slashed: Some(false),
                    activation_epoch: Some(0),
                },
            })
            .collect();
        Ok(known)
    }
    async fn validators_by_get(&self, ids: &[String], t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError> {
        self.validators_by_post(ids, t).await
    }
    async fn finalized_epoch(&self, _t: Duration) -> Result<u64, BeaconError> {
        self.ask("finalized_epoch").map(|_| 0)
    }
    async fn head_root(&self, _t: Duration) -> Result<Hash256, BeaconError> {
        self.ask("head_root").map(|_| Hash256::repeat_byte(0x4e))
    }
    async fn payload_commitment(
        &self,
        _id: &str,
        _t: Duration,
    ) -> Result<Option<crate::beacon::PayloadCommitment>, BeaconError> {
        // No execution chain behind the in-memory node: no pool read proves.
        self.ask("payload_commitment").map(|_| None)
    }
    async fn attester_duties(
        &self,
        _epoch: u64,
        indices: &[u64],
        _t: Duration,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError> {
        let st = self.ask("attester_duties")?;
        let data = st.attester_duties.iter().filter(|d| indices.contains(&d.validator_index)).cloned().collect();
        Ok(DutiesResponse { data, dependent_root: st.dependent_root })
    }
    async fn attester_duties_checked(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
        check: AnswerCheck<'_, AttesterDuty>,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError> {
        let d = BeaconApi::<P>::attester_duties(self, epoch, indices, t).await?;
        // One node: an answer the check refuses is still the only one (the
        // fallback hands it back for entry-by-entry filtering).
        let _ = check(&d.data);
        Ok(d)
    }
    async fn proposer_duties(&self, _epoch: u64, _t: Duration) -> Result<DutiesResponse<ProposerDuty>, BeaconError> {
        let st = self.ask("proposer_duties")?;
        Ok(DutiesResponse { data: st.proposer_duties.clone(), dependent_root: st.dependent_root })
    }
    async fn proposer_duties_checked(
        &self,
        epoch: u64,
        t: Duration,
        check: AnswerCheck<'_, ProposerDuty>,
    ) -> Result<DutiesResponse<ProposerDuty>, BeaconError> {
        let d = BeaconApi::<P>::proposer_duties(self, epoch, t).await?;
        let _ = check(&d.data);
        Ok(d)
    }
    async fn sync_duties_checked(
        &self,
        _epoch: u64,
        indices: &[u64],
        _t: Duration,
        check: AnswerCheck<'_, SyncDuty>,
    ) -> Result<Vec<SyncDuty>, BeaconError> {
        let st = self.ask("sync_duties")?;
        let d: Vec<SyncDuty> =
            st.sync_duties.iter().filter(|d| indices.contains(&d.validator_index)).cloned().collect();
        let _ = check(&d);
        Ok(d)
    }
    async fn beacon_committee_selections(
        &self,
        _partial: &[BeaconCommitteeSelection],
        _t: Duration,
    ) -> Result<Vec<BeaconCommitteeSelection>, BeaconError> {
        Err(not_served("beacon_committee_selections"))
    }
    async fn sync_committee_selections(
        &self,
        _partial: &[SyncCommitteeSelection],
        _t: Duration,
    ) -> Result<Vec<SyncCommitteeSelection>, BeaconError> {
        Err(not_served("sync_committee_selections"))
    }
    async fn subscribe_committees(&self, _subs: &[CommitteeSubscription], _t: Duration) -> Result<(), BeaconError> {
        self.ask("subscribe_committees").map(|_| ())
    }
    async fn subscribe_sync_committees(
        &self,
        _subs: &[SyncCommitteeSubscription],
        _t: Duration,
    ) -> Result<(), BeaconError> {
        self.ask("subscribe_sync_committees").map(|_| ())
    }
    async fn prepare_beacon_proposer(&self, preps: &[ProposerPreparation], _t: Duration) -> Result<(), BeaconError> {
        self.accept("prepare_beacon_proposer", [], Published::Preparations(preps.to_vec()))
    }
    async fn register_validators(
        &self,
        regs: &[SignedValidatorRegistrationV1],
        _batch: usize,
        _t: Duration,
    ) -> Result<(), BeaconError> {
        let checks: Vec<(u64, bool)> = regs
            .iter()
            .map(|r| {
                let index = (0..64).find(|i| pk(*i) == r.message.pubkey).unwrap_or(u64::MAX);
                (index, self.verifies(index, &SignableMessage::ValidatorRegistration(&r.message), &r.signature))
            })
            .collect();
        self.accept("register_validators", checks, Published::Registrations(regs.to_vec()))
    }
    async fn attestation_data(
        &self,
        _slot: u64,
        _committee_index: u64,
        _t: Duration,
    ) -> Result<AttestationData, BeaconError> {
        let st = self.ask("attestation_data")?;
        st.attestation_data.ok_or_else(|| not_served("attestation_data"))
    }
    async fn publish_attestations_v1(&self, atts: &[AttestationBase<P>], _t: Duration) -> Result<(), BeaconError> {
        // The attester is the committee member at the one set bit; an
        // attestation of no known committee, or of other than one bit, is
        // refused as a node's pool would.
        let committees = self.state().committees.clone();
        let checks: Vec<(u64, bool)> = atts
            .iter()
            .map(|a| {
                let set: Vec<usize> =
                    a.aggregation_bits.iter().enumerate().filter(|(_, b)| *b).map(|(i, _)| i).collect();
                let member = committees
                    .iter()
                    .find(|c| c.slot == a.data.slot && c.index == a.data.index)
                    .filter(|c| set.len() == 1 && c.validators.len() == a.aggregation_bits.len())
                    .and_then(|c| c.validators.get(set[0]).copied());
                match member {
                    Some(v) => (v, self.verifies(v, &SignableMessage::Attestation(&a.data), &a.signature)),
                    None => (u64::MAX, false),
                }
            })
            .collect();
        self.accept("publish_attestations_v1", checks, Published::AttestationsV1(atts.to_vec()))
    }
    async fn publish_single_attestations(
        &self,
        atts: &[SingleAttestation],
        _fork: ForkName,
        _t: Duration,
    ) -> Result<(), BeaconError> {
        let checks: Vec<(u64, bool)> = atts
            .iter()
            .map(|a| {
                (
                    a.attester_index,
                    self.verifies(a.attester_index, &SignableMessage::Attestation(&a.data), &a.signature),
                )
            })
            .collect();
        self.accept("publish_single_attestations", checks, Published::Attestations(atts.to_vec()))
    }
    async fn aggregate_attestation_v1(
        &self,
        _slot: u64,
        _root: Hash256,
        _t: Duration,
    ) -> Result<AttestationBase<P>, BeaconError> {
        drop(self.ask("aggregate_attestation_v1")?);
        Err(not_served("aggregate_attestation_v1"))
    }
    async fn aggregate_attestation_v2(
        &self,
        _slot: u64,
        _root: Hash256,
        committee_index: u64,
        _t: Duration,
    ) -> Result<AttestationElectra<P>, BeaconError> {
        let st = self.ask("aggregate_attestation_v2")?;
        st.aggregates.get(&committee_index).cloned().ok_or_else(|| not_served("aggregate_attestation_v2"))
    }
    async fn publish_aggregates_v1(
        &self,
        _aggs: &[SignedAggregateAndProofBase<P>],
        _t: Duration,
    ) -> Result<(), BeaconError> {
        Err(not_served("publish_aggregates_v1"))
    }
    async fn publish_aggregates_v2(
        &self,
        aggs: &[SignedAggregateAndProofElectra<P>],
        _fork: ForkName,
        _t: Duration,
    ) -> Result<(), BeaconError> {
        let checks: Vec<(u64, bool)> = aggs
            .iter()
            .flat_map(|a| {
                let m = &a.message;
                let proof = self.verifies(
                    m.aggregator_index,
                    &SignableMessage::SelectionProof(m.aggregate.data.slot),
                    &m.selection_proof,
                );
                let outer =
                    self.verifies(m.aggregator_index, &SignableMessage::AggregateAndProofElectra(m), &a.signature);
                [(m.aggregator_index, proof), (m.aggregator_index, outer)]
            })
            .collect();
        self.accept("publish_aggregates_v2", checks, Published::Aggregates(aggs.to_vec()))
    }
    async fn publish_sync_messages(&self, msgs: &[SyncCommitteeMessage], _t: Duration) -> Result<(), BeaconError> {
        let checks: Vec<(u64, bool)> = msgs
            .iter()
            .map(|m| {
                let message =
                    SignableMessage::SyncCommitteeMessage { slot: m.slot, beacon_block_root: m.beacon_block_root };
                (m.validator_index, self.verifies(m.validator_index, &message, &m.signature))
            })
            .collect();
        self.accept("publish_sync_messages", checks, Published::SyncMessages(msgs.to_vec()))
    }
    async fn ptc_duties(
        &self,
        _epoch: u64,
        indices: &[u64],
        _t: Duration,
    ) -> Result<DutiesResponse<PtcDuty>, BeaconError> {
        let st = self.ask("ptc_duties")?;
        let data = st.ptc_duties.iter().filter(|d| indices.contains(&d.validator_index)).cloned().collect();
        Ok(DutiesResponse { data, dependent_root: st.dependent_root })
    }
    async fn payload_attestation_data(
        &self,
        _slot: u64,
        _t: Duration,
    ) -> Result<Option<PayloadAttestationData>, BeaconError> {
        let st = self.ask("payload_attestation_data")?;
        if st.no_block_seen {
            return Ok(None);
        }
        st.payload_attestation_data.map(Some).ok_or_else(|| not_served("payload_attestation_data"))
    }
    async fn publish_payload_attestations(
        &self,
        msgs: &[PayloadAttestationMessage],
        _fork: ForkName,
        _t: Duration,
    ) -> Result<(), BeaconError> {
        let checks: Vec<(u64, bool)> = msgs
            .iter()
            .map(|m| {
                let message = SignableMessage::PayloadAttestation(&m.data);
                (m.validator_index, self.verifies(m.validator_index, &message, &m.signature))
            })
            .collect();
        self.accept("publish_payload_attestations", checks, Published::PayloadAttestations(msgs.to_vec()))
    }
    async fn publish_proposer_preferences(
        &self,
        signed: &[SignedProposerPreferences],
        _fork: ForkName,
        _t: Duration,
    ) -> Result<(), BeaconError> {
        let checks: Vec<(u64, bool)> = signed
            .iter()
            .map(|p| {
                let message = SignableMessage::ProposerPreferences(&p.message);
                (p.message.validator_index, self.verifies(p.message.validator_index, &message, &p.signature))
            })
            .collect();
        self.accept("publish_proposer_preferences", checks, Published::Preferences(signed.to_vec()))
    }
    async fn sync_committee_contribution(
        &self,
        _slot: u64,
        _subcommittee_index: u64,
        _head: Hash256,
        _t: Duration,
    ) -> Result<SyncCommitteeContribution<P>, BeaconError> {
        drop(self.ask("sync_committee_contribution")?);
        Err(not_served("sync_committee_contribution"))
    }
    async fn publish_contributions(
        &self,
        _signed: &[SignedContributionAndProof<P>],
        _t: Duration,
    ) -> Result<(), BeaconError> {
        Err(not_served("publish_contributions"))
    }
    async fn produce_block(
        &self,
        _slot: u64,
        _expected: ForkName,
        req: BlockRequest,
        _t: Duration,
    ) -> Result<Produced<P>, ProduceError> {
        let (answer, then) = {
            let mut st = self.ask("produce_block")?;
            st.produce_fee_recipients.push(req.fee_recipient);
            st.produce_boosts.push(req.boost);
            let local = if req.boost == 0 { st.produced_local.clone() } else { None };
            (local.or_else(|| st.produced.clone()), st.while_producing.take())
        };
        if let Some(Hook(then)) = then {
            then();
        }
        answer.ok_or_else(|| ProduceError::Beacon(not_served("produce_block")))
    }
    async fn block_header(&self, id: &str, _t: Duration) -> Result<(Hash256, BeaconBlockHeader), BeaconError> {
        let st = self.ask("block_header")?;
        let h = st.headers.get(id).copied().ok_or_else(|| not_served("block_header"))?;
        Ok((h.tree_hash_root(), h))
    }
    async fn publish_block(
        &self,
        _fork: ForkName,
        produced: &Produced<P>,
        sig: SignatureBytes,
        _t: Duration,
    ) -> Result<(), BeaconError> {
        let header = produced.header();
        let (ok, blinded) = match produced {
            Produced::Full { block, .. } | Produced::Gloas { block, .. } => {
                (self.verifies(header.proposer_index, &SignableMessage::Block(block), &sig), false)
            }
            Produced::Blinded { block, .. } => {
                (self.verifies(header.proposer_index, &SignableMessage::BlindedBlock(block), &sig), true)
            }
        };
        self.accept("publish_block", [(header.proposer_index, ok)], Published::Block { header, blinded })
    }
    async fn execution_payload_envelope(
        &self,
        _slot: u64,
        block_root: Hash256,
        _t: Duration,
    ) -> Result<ExecutionPayloadEnvelope<P>, BeaconError> {
        let st = self.ask("execution_payload_envelope")?;
        st.envelope
            .clone()
            .filter(|e| e.beacon_block_root == block_root)
            .ok_or_else(|| not_served("execution_payload_envelope"))
    }
    async fn publish_envelope(
        &self,
        signed: &SignedExecutionPayloadEnvelope<P>,
        sidecars: Option<&Sidecars>,
        _t: Duration,
    ) -> Result<(), BeaconError> {
        // A node takes a self-built envelope signed by the block's proposer.
        let proposer = self.state().published.iter().rev().find_map(|p| match p {
            Published::Block { header, .. } if header.tree_hash_root() == signed.message.beacon_block_root => {
                Some(header.proposer_index)
            }
            _ => None,
        });
        let Some(proposer) = proposer else {
            drop(self.ask("publish_envelope")?);
            return Err(status("publish_envelope", 400, "envelope of a block the node does not have"));
        };
        let ok =
            self.verifies(proposer, &SignableMessage::ExecutionPayloadEnvelope(&signed.message), &signed.signature);
        let what = Published::Envelope(Box::new(signed.clone()), sidecars.is_some());
        self.accept("publish_envelope", [(proposer, ok)], what)
    }
    async fn publish_voluntary_exit(&self, exit: &SignedVoluntaryExit, _t: Duration) -> Result<(), BeaconError> {
        let v = exit.message.validator_index;
        let ok = self.verifies(v, &SignableMessage::VoluntaryExit(&exit.message), &exit.signature);
        self.accept("publish_voluntary_exit", [(v, ok)], Published::Exit(*exit))
    }
    async fn liveness(&self, _epoch: u64, indices: &[u64], _t: Duration) -> Result<Vec<Liveness>, BeaconError> {
        let st = self.ask("liveness")?;
        if !st.liveness_served {
            return Err(not_served("liveness"));
        }
        Ok(indices.iter().map(|i| Liveness { index: *i, is_live: st.live.contains(i) }).collect())
    }
    async fn block_participation(&self, id: &str, _t: Duration) -> Result<Option<BlockParticipation>, BeaconError> {
        let st = self.ask("block_participation")?;
        Ok(st.blocks.get(id).cloned())
    }
    async fn committees(&self, _state: &str, _which: Committees, _t: Duration) -> Result<Vec<Committee>, BeaconError> {
        let st = self.ask("committees")?;
        Ok(st.committees.clone())
    }
    async fn sync_committee(&self, _state: &str, _epoch: u64, _t: Duration) -> Result<Vec<u64>, BeaconError> {
        drop(self.ask("sync_committee")?);
        Err(not_served("sync_committee"))
    }
    async fn attestation_rewards(
        &self,
        _epoch: u64,
        _indices: &[u64],
        _t: Duration,
    ) -> Result<HashMap<u64, AttestationReward>, BeaconError> {
        drop(self.ask("attestation_rewards")?);
        Err(not_served("attestation_rewards"))
    }
}

/// Every event the bus carried, in order.
#[derive(Debug, Default)]
pub(crate) struct Recorder(Mutex<Vec<Event>>);

impl Subscriber for Recorder {
    fn on_event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    /// The events so far.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}

/// A service context over `node` and a store holding interop keys `keys`
/// (indices set, fee recipient `0x11..`; released unless `tweak` turns
/// doppelganger protection on), genesis one hour ago.
pub(crate) fn ctx<P: Preset>(
    spec: ChainSpec,
    node: Arc<MemNode<P>>,
    keys: &[u64],
    tweak: impl FnOnce(&mut VcConfig),
) -> (Arc<Ctx<P>>, Arc<Recorder>) {
    let bus = Arc::new(EventBus::new());
    let recorder = Arc::new(Recorder::default());
    bus.subscribe(recorder.clone());
    let db = SqliteSlashingDb::in_memory(GVR).unwrap();
    let now = super::context::now_secs() as u64;
    let clock = poolvc_signer::clock::WallClock::new(now - 3600, &spec);
    let store =
        ValidatorStore::<P>::new(spec.clone(), GVR, clock, Arc::new(db), Arc::clone(&bus), StoreTimings::default());
    let mut cfg = VcConfig::new(vec!["http://mem".into()], std::env::temp_dir());
    cfg.fee_recipient = Some(Address::repeat_byte(0x11));
    tweak(&mut cfg);
    let config = crate::policy::ProposalConfig {
        fee_recipient: cfg.fee_recipient,
        own_fee_recipient: true,
        gas_limit: cfg.gas_limit,
        graffiti: None,
        builder_proposals: cfg.builder_proposals,
        pool: None,
    };
    let sks = keys.iter().map(|i| (interop_secret_key(*i), config.clone())).collect();
    // With doppelganger protection on, the keys start held (not yet signing).
    store.add_local_keys(sks, cfg.doppelganger_epochs == 0).unwrap();
    store.set_indices(keys.iter().map(|i| (pk(*i), *i)));
    node.state().validators = keys.to_vec();
    let (_, heads) = tokio::sync::watch::channel((0u64, Hash256::ZERO));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    std::mem::forget(stop_tx);
    let ctx = Ctx {
        cfg,
        beacon: node,
        proposer_nodes: None,
        genesis: Genesis { genesis_time: now - 3600, genesis_validators_root: GVR },
        spec,
        store: Arc::new(store),
        duties: DutyBook::default(),
        events: bus,
        stats: Arc::new(Stats::new()),
        heads,
        first_slot: 0,
        end_slot: None,
        stop,
        slot_log: Arc::new(super::slot_log::SlotLog::default()),
        roster: Default::default(),
        recipients_moved: Default::default(),
    };
    (Arc::new(ctx), recorder)
}
