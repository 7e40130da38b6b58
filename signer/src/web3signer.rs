//! The Web3Signer eth2 signing API's messages (`POST /api/v1/eth2/sign/{identifier}`),
//! shared by poolvc's remote-signing client and `poolvc signer`.
//!
//! A request carries the message itself, the `fork_info` the client signs
//! under and, optionally, the `signingRoot` it expects. The signer never
//! signs a root it did not compute: [`check`] builds the signing root from
//! the message with the signer's own chain config (the one rule for roots,
//! [`SigningContext::signing_root`]), refuses a request whose network or
//! fork version disagrees with that config, and refuses a `signingRoot`
//! that differs from its own. What slashing protection must record for the
//! message comes from the same parse.
//!
//! poolvc adds one route the anchors lack, the batch: many `(identifier,
//! request)` pairs in one HTTP request, answered in order ([`BatchItem`],
//! [`BatchAnswer`]).

use crate::types::*;
use serde::{Deserialize, Serialize};

/// The single signing route (`{identifier}`: the `0x` public key).
pub const SIGN_PATH: &str = "/api/v1/eth2/sign";
/// poolvc's batch route.
pub const BATCH_PATH: &str = "/api/v1/eth2/sign_batch";
/// The key list route.
pub const PUBLIC_KEYS_PATH: &str = "/api/v1/eth2/publicKeys";

/// What is wrong with a signing request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The message is dated past the wall clock ([`crate::clock`]).
    #[error("{kind}: {reason}")]
    AheadOfClock {
        /// The request type.
        kind: &'static str,
        /// What is dated how far.
        reason: crate::clock::AheadOfClock,
    },
    /// `fork_info` is required for this message type.
    #[error("{kind}: fork_info is required")]
    NoForkInfo {
        /// The request type.
        kind: &'static str,
    },
    /// The request is for another network.
    #[error("{kind}: fork_info.genesis_validators_root {got} is not this signer's network ({ours})")]
    OtherNetwork {
        /// The request type.
        kind: &'static str,
        /// What the request says.
        got: Hash256,
        /// The signer's.
        ours: Hash256,
    },
    /// The fork the request names is not the one the signer's config has at the message's epoch.
    #[error("{kind}: fork_info selects version {got} at epoch {epoch}, this signer's config has {ours}")]
    OtherFork {
        /// The request type.
        kind: &'static str,
        /// The message's epoch.
        epoch: Epoch,
        /// The version the request's fork selects.
        got: Version,
        /// The signer's version at that epoch.
        ours: Version,
    },
    /// The `signingRoot` given is not the root of the message.
    #[error("{kind}: signingRoot {given} is not the message's signing root {computed}")]
    RootMismatch {
        /// The request type.
        kind: &'static str,
        /// What the request says.
        given: Hash256,
        /// What the message gives.
        computed: Hash256,
    },
    /// A block's `version` is unknown or does not fit its shape.
    #[error("BLOCK_V2: {reason}")]
    Block {
        /// Why.
        reason: String,
    },
    /// An aggregate's `version` or data is wrong.
    #[error("AGGREGATE_AND_PROOF_V2: {reason}")]
    Aggregate {
        /// Why.
        reason: String,
    },
    /// A Gloas request's `version` or data is wrong.
    #[error("{kind}: {reason}")]
    Gloas {
        /// The request type.
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// A message poolvc's client cannot send remotely.
    #[error("{kind} messages are not signed remotely by poolvc")]
    Unsupported {
        /// The message kind.
        kind: &'static str,
    },
}

/// The fork and network a message is signed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkInfo {
    /// The fork at the message's epoch.
    pub fork: Fork,
    /// The network.
    pub genesis_validators_root: Hash256,
}

/// `{"slot": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotField {
    /// The slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
}

/// `{"epoch": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochField {
    /// The epoch.
    #[serde(with = "serde_utils::quoted_u64")]
    pub epoch: Epoch,
}

/// A sync-committee message's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCommitteeMessageData {
    /// The head block root.
    pub beacon_block_root: Hash256,
    /// The slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: Slot,
}

/// A block as `BLOCK_V2` carries it: the whole block up to Altair, its
/// header from Bellatrix on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionedBlock {
    /// The fork, upper case (`ELECTRA`).
    pub version: String,
    /// Phase0 and Altair: the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<serde_json::Value>,
    /// Bellatrix on: the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_header: Option<BeaconBlockHeader>,
}

/// A fork-versioned object, as `AGGREGATE_AND_PROOF_V2` and every Gloas
/// type (remote-signing API v1.4.0) carry it: `{"version", "data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionedData {
    /// The fork at the message's slot, upper case (`GLOAS`).
    pub version: String,
    /// The object, in that fork's JSON form.
    pub data: serde_json::Value,
}

/// The message of a signing request, by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", bound = "P: Preset")]
pub enum Message<P: Preset> {
    /// An attestation-aggregator selection proof.
    #[serde(rename = "AGGREGATION_SLOT")]
    AggregationSlot {
        /// The slot.
        aggregation_slot: SlotField,
    },
    /// A pre-Electra aggregate and proof (the original type).
    #[serde(rename = "AGGREGATE_AND_PROOF")]
    AggregateAndProof {
        /// The message.
        aggregate_and_proof: AggregateAndProofBase<P>,
    },
    /// An aggregate and proof of any fork.
    #[serde(rename = "AGGREGATE_AND_PROOF_V2")]
    AggregateAndProofV2 {
        /// The message and its fork.
        aggregate_and_proof: VersionedData,
    },
    /// Attestation data.
    #[serde(rename = "ATTESTATION")]
    Attestation {
        /// The vote.
        attestation: AttestationData,
    },
    /// A block.
    #[serde(rename = "BLOCK_V2")]
    BlockV2 {
        /// The block or its header.
        beacon_block: VersionedBlock,
    },
    /// A RANDAO reveal.
    #[serde(rename = "RANDAO_REVEAL")]
    RandaoReveal {
        /// The epoch.
        randao_reveal: EpochField,
    },
    /// A voluntary exit.
    #[serde(rename = "VOLUNTARY_EXIT")]
    VoluntaryExit {
        /// The exit.
        voluntary_exit: VoluntaryExit,
    },
    /// A sync-committee message.
    #[serde(rename = "SYNC_COMMITTEE_MESSAGE")]
    SyncCommitteeMessage {
        /// Its data.
        sync_committee_message: SyncCommitteeMessageData,
    },
    /// A sync-aggregator selection proof.
    #[serde(rename = "SYNC_COMMITTEE_SELECTION_PROOF")]
    SyncCommitteeSelectionProof {
        /// Its data.
        sync_aggregator_selection_data: SyncAggregatorSelectionData,
    },
    /// A contribution and proof.
    #[serde(rename = "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF")]
    SyncCommitteeContributionAndProof {
        /// The message.
        contribution_and_proof: ContributionAndProof<P>,
    },
    /// A builder registration.
    #[serde(rename = "VALIDATOR_REGISTRATION")]
    ValidatorRegistration {
        /// The registration.
        validator_registration: ValidatorRegistrationV1,
    },
    /// A Gloas execution payload bid (builders).
    #[serde(rename = "EXECUTION_PAYLOAD_BID")]
    ExecutionPayloadBid {
        /// `ExecutionPayloadBid`, versioned.
        execution_payload_bid: VersionedData,
    },
    /// A Gloas execution payload envelope (a self-building proposer, or a builder).
    #[serde(rename = "EXECUTION_PAYLOAD_ENVELOPE")]
    ExecutionPayloadEnvelope {
        /// `ExecutionPayloadEnvelope`, versioned.
        execution_payload_envelope: VersionedData,
    },
    /// A Gloas PTC vote: only its `PayloadAttestationData` is signed.
    #[serde(rename = "PAYLOAD_ATTESTATION_MESSAGE")]
    PayloadAttestationMessage {
        /// `PayloadAttestationData`, versioned.
        payload_attestation_message: VersionedData,
    },
    /// Gloas proposer preferences.
    #[serde(rename = "PROPOSER_PREFERENCES")]
    ProposerPreferences {
        /// `ProposerPreferences`, versioned.
        proposer_preferences: VersionedData,
    },
    /// A proposer's request authentication to a builder (no `fork_info`).
    #[serde(rename = "BUILDER_REQUEST_AUTH")]
    BuilderRequestAuth {
        /// `BuilderRequestAuth`, versioned.
        builder_request_auth: VersionedData,
    },
}

impl<P: Preset> Message<P> {
    /// The request type, as the API spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AggregationSlot { .. } => "AGGREGATION_SLOT",
            Self::AggregateAndProof { .. } => "AGGREGATE_AND_PROOF",
            Self::AggregateAndProofV2 { .. } => "AGGREGATE_AND_PROOF_V2",
            Self::Attestation { .. } => "ATTESTATION",
            Self::BlockV2 { .. } => "BLOCK_V2",
            Self::RandaoReveal { .. } => "RANDAO_REVEAL",
            Self::VoluntaryExit { .. } => "VOLUNTARY_EXIT",
            Self::SyncCommitteeMessage { .. } => "SYNC_COMMITTEE_MESSAGE",
            Self::SyncCommitteeSelectionProof { .. } => "SYNC_COMMITTEE_SELECTION_PROOF",
            Self::SyncCommitteeContributionAndProof { .. } => "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF",
            Self::ValidatorRegistration { .. } => "VALIDATOR_REGISTRATION",
            Self::ExecutionPayloadBid { .. } => "EXECUTION_PAYLOAD_BID",
            Self::ExecutionPayloadEnvelope { .. } => "EXECUTION_PAYLOAD_ENVELOPE",
            Self::PayloadAttestationMessage { .. } => "PAYLOAD_ATTESTATION_MESSAGE",
            Self::ProposerPreferences { .. } => "PROPOSER_PREFERENCES",
            Self::BuilderRequestAuth { .. } => "BUILDER_REQUEST_AUTH",
        }
    }
}

/// One signing request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "P: Preset")]
pub struct SigningRequest<P: Preset> {
    /// The message, tagged by `type`.
    #[serde(flatten)]
    pub message: Message<P>,
    /// The fork and network (every type but `VALIDATOR_REGISTRATION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork_info: Option<ForkInfo>,
    /// The signing root the client expects.
    #[serde(rename = "signingRoot", default, skip_serializing_if = "Option::is_none")]
    pub signing_root: Option<Hash256>,
}

/// `{"signature": ...}`, the JSON answer of the single route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningResponse {
    /// The signature.
    pub signature: SignatureBytes,
}

/// One entry of a batch request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "P: Preset")]
pub struct BatchItem<P: Preset> {
    /// The key (`0x` hex).
    pub identifier: PublicKeyBytes,
    /// The request, as the single route takes it.
    pub request: SigningRequest<P>,
}

/// One entry of a batch answer, in request order: a signature, or the
/// status the single route would have answered and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchAnswer {
    /// Signed.
    Signed {
        /// The signature.
        signature: SignatureBytes,
    },
    /// Not signed.
    Refused {
        /// The HTTP status of the single route (400, 404, 412, 500).
        status: u16,
        /// Why.
        message: String,
    },
}

/// The same-duty multi-key batch of remote-signing-api PR #29
/// (`SIGN_BATCH`, `POST /api/v1/eth2/sign` with no identifier): one
/// signing request, signed by each key of `identifiers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "P: Preset")]
pub struct SameRequestBatch<P: Preset> {
    /// The keys, each once.
    pub identifiers: Vec<PublicKeyBytes>,
    /// The request every key signs.
    pub signing_request: SigningRequest<P>,
}

/// Why a same-request batch is refused whole (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SameRequestBatchError {
    /// No identifiers.
    #[error("identifiers is empty")]
    Empty,
    /// More identifiers than the signer takes at once.
    #[error("{count} identifiers in one batch; at most {max}")]
    TooMany {
        /// How many were sent.
        count: usize,
        /// The most taken.
        max: usize,
    },
    /// A key named twice.
    #[error("identifier {pubkey} appears more than once")]
    Duplicate {
        /// The key.
        pubkey: PublicKeyBytes,
    },
    /// A type whose signed object names one validator (or is not a duty
    /// many keys share): it goes to the single-key route.
    #[error("{kind} is not signed in a same-request batch (it names one validator); use {SIGN_PATH}/{{identifier}}")]
    NotBatchable {
        /// The request's type.
        kind: &'static str,
    },
}

impl<P: Preset> SameRequestBatch<P> {
    /// The request types PR #29 batches that this signer signs
    /// (`GENERIC` it signs for no route): their signed object is the same
    /// for every key.
    pub const BATCHABLE: [&'static str; 5] = [
        "AGGREGATION_SLOT",
        "ATTESTATION",
        "RANDAO_REVEAL",
        "SYNC_COMMITTEE_MESSAGE",
        "SYNC_COMMITTEE_SELECTION_PROOF",
    ];

    /// Checks the batch's shape: at least one and at most `max` keys, each
    /// once, and a type every key may share.
    pub fn check_shape(&self, max: usize) -> Result<(), SameRequestBatchError> {
        if self.identifiers.is_empty() {
            return Err(SameRequestBatchError::Empty);
        }
        if self.identifiers.len() > max {
            return Err(SameRequestBatchError::TooMany { count: self.identifiers.len(), max });
        }
        let kind = self.signing_request.message.kind();
        if !Self::BATCHABLE.contains(&kind) {
            return Err(SameRequestBatchError::NotBatchable { kind });
        }
        let mut seen = std::collections::HashSet::with_capacity(self.identifiers.len());
        for pubkey in &self.identifiers {
            if !seen.insert(*pubkey) {
                return Err(SameRequestBatchError::Duplicate { pubkey: *pubkey });
            }
        }
        Ok(())
    }
}

/// One key's result in a same-request batch answer, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyResult {
    /// The key.
    pub identifier: PublicKeyBytes,
    /// Its signature, or why not.
    #[serde(flatten)]
    pub outcome: KeyOutcome,
}

/// A key's signature, or the single route's status and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyOutcome {
    /// Signed.
    Signed {
        /// The signature.
        signature: SignatureBytes,
    },
    /// Not signed.
    Failed {
        /// The status the single-key route would have answered, and why.
        error: KeyError,
    },
}

/// `{code, message}` of a key the batch did not sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyError {
    /// The HTTP status of the single-key route (403, 404, 412, ...).
    pub code: u16,
    /// Why.
    pub message: String,
}

impl KeyResult {
    /// The result of `identifier` from the gate's answer for it.
    pub fn new(identifier: PublicKeyBytes, answer: BatchAnswer) -> Self {
        let outcome = match answer {
            BatchAnswer::Signed { signature } => KeyOutcome::Signed { signature },
            BatchAnswer::Refused { status, message } => {
                KeyOutcome::Failed { error: KeyError { code: status, message } }
            }
        };
        Self { identifier, outcome }
    }
}

/// A request the signer may sign: its root and what protection records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The signing root (computed here, never taken from the request).
    pub signing_root: Hash256,
    /// What slashing protection records.
    pub slashable: Slashable,
    /// The fee recipient the message pays, when it names one
    /// ([`SignableMessage::payee`]).
    pub payee: Option<Address>,
}

/// The message's object in the form the roots are computed from.
enum Owned<P: Preset> {
    Header(BeaconBlockHeader),
    AggBase(Box<AggregateAndProofBase<P>>),
    AggElectra(Box<AggregateAndProofElectra<P>>),
    AggGloas(Box<AggregateAndProofGloas<P>>),
    Bid(Box<ExecutionPayloadBid<P>>),
    Envelope(Box<ExecutionPayloadEnvelope<P>>),
    Ptc(PayloadAttestationData),
    Prefs(ProposerPreferences),
    Auth(BuilderRequestAuth),
}

/// Parses a Gloas request's versioned data: `version` must name a fork
/// from Gloas on and, when the message is dated, the fork this config has
/// at its slot (`slot_of`).
fn gloas_data<T: serde::de::DeserializeOwned>(
    spec: &ChainSpec,
    kind: &'static str,
    v: &VersionedData,
    slot_of: fn(&T) -> Option<Slot>,
) -> Result<T, RequestError> {
    let err = |reason: String| RequestError::Gloas { kind, reason };
    let fork = v.version.parse::<ForkName>().map_err(|e| err(e.to_string()))?;
    if !fork.gloas_enabled() {
        return Err(err(format!("version {} has no {kind}", v.version)));
    }
    let data: T = serde_json::from_value(v.data.clone()).map_err(|e| err(format!("{}: {e}", v.version)))?;
    if let Some(slot) = slot_of(&data) {
        let at = spec.fork_name_at_slot(slot);
        if at != fork {
            return Err(err(format!("version {} but slot {slot} is in {at}", v.version)));
        }
    }
    Ok(data)
}

fn fork_of(version: &str, kind: fn(String) -> RequestError) -> Result<ForkName, RequestError> {
    version.parse::<ForkName>().map_err(|e| kind(e.to_string()))
}

fn block_err(reason: String) -> RequestError {
    RequestError::Block { reason }
}

fn agg_err(reason: String) -> RequestError {
    RequestError::Aggregate { reason }
}

/// Checks a request against the signer's chain config and network, and
/// computes its signing root. See the module doc for the rules.
pub fn check<P: Preset>(
    spec: &ChainSpec,
    genesis_validators_root: Hash256,
    clock: &crate::clock::WallClock,
    req: &SigningRequest<P>,
) -> Result<Checked, RequestError> {
    let kind = req.message.kind();
    let owned: Option<Owned<P>> = match &req.message {
        Message::BlockV2 { beacon_block: b } => {
            let fork = fork_of(&b.version, block_err)?;
            let header = match (fork, &b.block, &b.block_header) {
                (_, _, Some(h)) if fork.bellatrix_enabled() => *h,
                (ForkName::Phase0, Some(v), _) => serde_json::from_value::<BeaconBlockPhase0<P>>(v.clone())
                    .map_err(|e| block_err(format!("PHASE0 block: {e}")))?
                    .header(),
                (ForkName::Altair, Some(v), _) => serde_json::from_value::<BeaconBlockAltair<P>>(v.clone())
                    .map_err(|e| block_err(format!("ALTAIR block: {e}")))?
                    .header(),
                _ if fork.bellatrix_enabled() => {
                    return Err(block_err(format!("{} needs block_header", b.version)));
                }
                _ => return Err(block_err(format!("{} needs block", b.version))),
            };
            if spec.fork_name_at_slot(header.slot) != fork {
                return Err(block_err(format!(
                    "version {} but slot {} is in {}",
                    b.version,
                    header.slot,
                    spec.fork_name_at_slot(header.slot)
                )));
            }
            Some(Owned::Header(header))
        }
        Message::AggregateAndProofV2 { aggregate_and_proof: a } => {
            let fork = fork_of(&a.version, agg_err)?;
            let slot = a.data.pointer("/aggregate/data/slot").and_then(|v| v.as_str()).and_then(|s| s.parse().ok());
            match slot {
                Some(slot) if spec.fork_name_at_slot(slot) == fork => {}
                Some(slot) => {
                    let at = spec.fork_name_at_slot(slot);
                    return Err(agg_err(format!("version {} but slot {slot} is in {at}", a.version)));
                }
                None => return Err(agg_err("data.aggregate.data.slot is missing or not a quoted integer".into())),
            }
            Some(if fork.gloas_enabled() {
                Owned::AggGloas(Box::new(
                    serde_json::from_value(a.data.clone()).map_err(|e| agg_err(format!("{}: {e}", a.version)))?,
                ))
            } else if fork.electra_enabled() {
                Owned::AggElectra(Box::new(
                    serde_json::from_value(a.data.clone()).map_err(|e| agg_err(format!("{}: {e}", a.version)))?,
                ))
            } else {
                Owned::AggBase(Box::new(
                    serde_json::from_value(a.data.clone()).map_err(|e| agg_err(format!("{}: {e}", a.version)))?,
                ))
            })
        }
        Message::ExecutionPayloadBid { execution_payload_bid: v } => {
            Some(Owned::Bid(Box::new(gloas_data(spec, kind, v, |b: &ExecutionPayloadBid<P>| Some(b.slot))?)))
        }
        Message::ExecutionPayloadEnvelope { execution_payload_envelope: v } => {
            Some(Owned::Envelope(Box::new(gloas_data(spec, kind, v, |e: &ExecutionPayloadEnvelope<P>| {
                Some(e.payload.slot_number)
            })?)))
        }
        Message::PayloadAttestationMessage { payload_attestation_message: v } => {
            Some(Owned::Ptc(gloas_data(spec, kind, v, |d: &PayloadAttestationData| Some(d.slot))?))
        }
        Message::ProposerPreferences { proposer_preferences: v } => {
            Some(Owned::Prefs(gloas_data(spec, kind, v, |p: &ProposerPreferences| Some(p.proposal_slot))?))
        }
        // Signed under the genesis fork's domain: its version only says the
        // shape, whatever fork its slot is in.
        Message::BuilderRequestAuth { builder_request_auth: v } => {
            Some(Owned::Auth(gloas_data(spec, kind, v, |_: &BuilderRequestAuth| None)?))
        }
        _ => None,
    };
    let msg: SignableMessage<'_, P> = match (&req.message, &owned) {
        (Message::AggregationSlot { aggregation_slot }, _) => SignableMessage::SelectionProof(aggregation_slot.slot),
        (Message::AggregateAndProof { aggregate_and_proof }, _) => {
            SignableMessage::AggregateAndProofBase(aggregate_and_proof)
        }
        (Message::AggregateAndProofV2 { .. }, Some(Owned::AggBase(a))) => SignableMessage::AggregateAndProofBase(a),
        (Message::AggregateAndProofV2 { .. }, Some(Owned::AggElectra(a))) => {
            SignableMessage::AggregateAndProofElectra(a)
        }
        (Message::AggregateAndProofV2 { .. }, Some(Owned::AggGloas(a))) => SignableMessage::AggregateAndProofGloas(a),
        (Message::ExecutionPayloadBid { .. }, Some(Owned::Bid(b))) => SignableMessage::ExecutionPayloadBid(b),
        (Message::ExecutionPayloadEnvelope { .. }, Some(Owned::Envelope(e))) => {
            SignableMessage::ExecutionPayloadEnvelope(e)
        }
        (Message::PayloadAttestationMessage { .. }, Some(Owned::Ptc(d))) => SignableMessage::PayloadAttestation(d),
        (Message::ProposerPreferences { .. }, Some(Owned::Prefs(p))) => SignableMessage::ProposerPreferences(p),
        (Message::BuilderRequestAuth { .. }, Some(Owned::Auth(r))) => SignableMessage::BuilderRequestAuth(r),
        (Message::Attestation { attestation: d }, _) => SignableMessage::Attestation(d),
        (Message::BlockV2 { .. }, Some(Owned::Header(h))) => SignableMessage::BlockHeader(h),
        (Message::RandaoReveal { randao_reveal }, _) => SignableMessage::RandaoReveal(randao_reveal.epoch),
        (Message::VoluntaryExit { voluntary_exit }, _) => SignableMessage::VoluntaryExit(voluntary_exit),
        (Message::SyncCommitteeMessage { sync_committee_message: m }, _) => {
            SignableMessage::SyncCommitteeMessage { slot: m.slot, beacon_block_root: m.beacon_block_root }
        }
        (Message::SyncCommitteeSelectionProof { sync_aggregator_selection_data }, _) => {
            SignableMessage::SyncSelectionProof(sync_aggregator_selection_data)
        }
        (Message::SyncCommitteeContributionAndProof { contribution_and_proof }, _) => {
            SignableMessage::ContributionAndProof(contribution_and_proof)
        }
        (Message::ValidatorRegistration { validator_registration }, _) => {
            SignableMessage::ValidatorRegistration(validator_registration)
        }
        // The parse above always fills `owned` for these.
        (
            Message::AggregateAndProofV2 { .. }
            | Message::BlockV2 { .. }
            | Message::ExecutionPayloadBid { .. }
            | Message::ExecutionPayloadEnvelope { .. }
            | Message::PayloadAttestationMessage { .. }
            | Message::ProposerPreferences { .. }
            | Message::BuilderRequestAuth { .. },
            _,
        ) => return Err(RequestError::Unsupported { kind }),
    };
    clock.check(&msg).map_err(|reason| RequestError::AheadOfClock { kind, reason })?;
    let slashable = SigningContext { spec, genesis_validators_root }.protection(&msg);
    let (domain_kind, epoch, _) = msg.parts(spec.slots_per_epoch);
    // Registrations and builder request authentications carry no fork_info
    // (their domain is the genesis fork's, with no network root); every
    // other type must name this network and the fork this config has at the
    // message's epoch.
    if !without_fork_info(domain_kind) {
        let info = req.fork_info.ok_or(RequestError::NoForkInfo { kind })?;
        if info.genesis_validators_root != genesis_validators_root {
            return Err(RequestError::OtherNetwork {
                kind,
                got: info.genesis_validators_root,
                ours: genesis_validators_root,
            });
        }
        let got = if epoch >= info.fork.epoch { info.fork.current_version } else { info.fork.previous_version };
        let ours = spec.fork_version_at_epoch(epoch);
        if got != ours {
            return Err(RequestError::OtherFork { kind, epoch, got, ours });
        }
    }
    let computed = SigningContext { spec, genesis_validators_root }.signing_root(&msg);
    if let Some(given) = req.signing_root {
        if given != computed {
            return Err(RequestError::RootMismatch { kind, given, computed });
        }
    }
    Ok(Checked { signing_root: computed, slashable, payee: msg.payee() })
}

/// Messages signed under the genesis fork with no network root carry no
/// `fork_info`.
fn without_fork_info(kind: DomainKind) -> bool {
    matches!(kind, DomainKind::ApplicationBuilder | DomainKind::RequestAuth)
}

fn upper(fork: ForkName) -> String {
    fork.as_str().to_ascii_uppercase()
}

/// `{"version", "data"}` for an object dated `slot`: the fork at that slot.
fn versioned<T: Serialize>(
    spec: &ChainSpec,
    slot: Slot,
    object: &T,
    kind: &'static str,
) -> Result<VersionedData, RequestError> {
    let data = serde_json::to_value(object).map_err(|e| RequestError::Gloas { kind, reason: e.to_string() })?;
    Ok(VersionedData { version: upper(spec.fork_name_at_slot(slot)), data })
}

/// The request a client sends for `msg` (its root computed by the caller
/// with the same config, sent as `signingRoot` so a signer on another
/// config refuses rather than signs something else).
pub fn request_for<P: Preset>(
    spec: &ChainSpec,
    genesis_validators_root: Hash256,
    msg: &SignableMessage<'_, P>,
    signing_root: Hash256,
) -> Result<SigningRequest<P>, RequestError> {
    let block = |fork: ForkName, full: Option<serde_json::Value>, header: BeaconBlockHeader| VersionedBlock {
        version: upper(fork),
        block_header: if fork.bellatrix_enabled() { Some(header) } else { None },
        block: if fork.bellatrix_enabled() { None } else { full },
    };
    let to_value = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| RequestError::Block { reason: format!("encoding the block: {e}") })
    };
    let message = match msg {
        SignableMessage::Block(b) => {
            let full = match b {
                BeaconBlock::Phase0(x) => Some(to_value(serde_json::to_value(x))?),
                BeaconBlock::Altair(x) => Some(to_value(serde_json::to_value(x))?),
                _ => None,
            };
            Message::BlockV2 { beacon_block: block(b.fork_name(), full, b.header()) }
        }
        SignableMessage::BlindedBlock(b) => Message::BlockV2 { beacon_block: block(b.fork_name(), None, b.header()) },
        SignableMessage::BlockHeader(h) => {
            let fork = spec.fork_name_at_slot(h.slot);
            if !fork.bellatrix_enabled() {
                return Err(RequestError::Unsupported { kind: "pre-Bellatrix block header" });
            }
            Message::BlockV2 { beacon_block: block(fork, None, **h) }
        }
        SignableMessage::Attestation(d) => Message::Attestation { attestation: **d },
        SignableMessage::RandaoReveal(e) => Message::RandaoReveal { randao_reveal: EpochField { epoch: *e } },
        SignableMessage::SelectionProof(s) => Message::AggregationSlot { aggregation_slot: SlotField { slot: *s } },
        SignableMessage::AggregateAndProofBase(a) => Message::AggregateAndProofV2 {
            aggregate_and_proof: VersionedData {
                version: upper(spec.fork_name_at_slot(a.aggregate.data.slot)),
                data: serde_json::to_value(a).map_err(|e| agg_err(e.to_string()))?,
            },
        },
        SignableMessage::AggregateAndProofElectra(a) => Message::AggregateAndProofV2 {
            aggregate_and_proof: VersionedData {
                version: upper(spec.fork_name_at_slot(a.aggregate.data.slot)),
                data: serde_json::to_value(a).map_err(|e| agg_err(e.to_string()))?,
            },
        },
        SignableMessage::SyncCommitteeMessage { slot, beacon_block_root } => Message::SyncCommitteeMessage {
            sync_committee_message: SyncCommitteeMessageData { beacon_block_root: *beacon_block_root, slot: *slot },
        },
        SignableMessage::SyncSelectionProof(d) => {
            Message::SyncCommitteeSelectionProof { sync_aggregator_selection_data: **d }
        }
        SignableMessage::ContributionAndProof(c) => {
            Message::SyncCommitteeContributionAndProof { contribution_and_proof: (*c).clone() }
        }
        SignableMessage::VoluntaryExit(e) => Message::VoluntaryExit { voluntary_exit: **e },
        SignableMessage::ValidatorRegistration(r) => Message::ValidatorRegistration { validator_registration: **r },
        SignableMessage::AggregateAndProofGloas(a) => Message::AggregateAndProofV2 {
            aggregate_and_proof: versioned(spec, a.aggregate.data.slot, a, "AGGREGATE_AND_PROOF_V2")?,
        },
        SignableMessage::ExecutionPayloadBid(b) => {
            Message::ExecutionPayloadBid { execution_payload_bid: versioned(spec, b.slot, b, "EXECUTION_PAYLOAD_BID")? }
        }
        SignableMessage::ExecutionPayloadEnvelope(e) => Message::ExecutionPayloadEnvelope {
            execution_payload_envelope: versioned(spec, e.payload.slot_number, e, "EXECUTION_PAYLOAD_ENVELOPE")?,
        },
        SignableMessage::PayloadAttestation(d) => Message::PayloadAttestationMessage {
            payload_attestation_message: versioned(spec, d.slot, d, "PAYLOAD_ATTESTATION_MESSAGE")?,
        },
        SignableMessage::ProposerPreferences(p) => Message::ProposerPreferences {
            proposer_preferences: versioned(spec, p.proposal_slot, p, "PROPOSER_PREFERENCES")?,
        },
        SignableMessage::BuilderRequestAuth(r) => {
            Message::BuilderRequestAuth { builder_request_auth: versioned(spec, r.slot, r, "BUILDER_REQUEST_AUTH")? }
        }
        SignableMessage::Deposit(_) => return Err(RequestError::Unsupported { kind: "DEPOSIT" }),
        SignableMessage::BlsToExecutionChange(_) => {
            return Err(RequestError::Unsupported { kind: "BLS_TO_EXECUTION_CHANGE" })
        }
    };
    let (domain_kind, epoch, _) = msg.parts(spec.slots_per_epoch);
    let fork_info = (!without_fork_info(domain_kind))
        .then(|| ForkInfo { fork: spec.fork_at_epoch(epoch), genesis_validators_root });
    Ok(SigningRequest { message, fork_info, signing_root: Some(signing_root) })
}
