//! Domains and signing roots for every message a validator signs.
//!
//! `signing_root = hash_tree_root(SigningData(hash_tree_root(object), domain))`
//! with `domain = compute_domain(domain_type, fork_version, genesis_validators_root)`.
//! Which fork version and which genesis root go into the domain depends on the
//! message; the special cases are kept in [`SigningContext::domain_for`]:
//! - voluntary exits from Deneb on use the Capella fork version (EIP-7044);
//! - builder registrations use `DOMAIN_APPLICATION_BUILDER` with the genesis
//!   fork version and a zero genesis validators root;
//! - deposits use the genesis fork version and a zero root;
//! - BLS-to-execution changes use the genesis fork version and the real root.

use super::attestation::{AggregateAndProofBase, AggregateAndProofElectra};
use super::block::{BeaconBlock, BlindedBeaconBlock};
use super::builder::ValidatorRegistrationV1;
use super::containers::*;
use super::fork::ForkName;
use super::gloas::*;
use super::preset::Preset;
use super::primitives::*;
use super::spec::ChainSpec;
use super::sync::{ContributionAndProof, SyncAggregatorSelectionData};
use tree_hash::TreeHash;

/// `compute_fork_data_root(current_version, genesis_validators_root)`.
pub fn compute_fork_data_root(current_version: Version, genesis_validators_root: Hash256) -> Hash256 {
    ForkData { current_version, genesis_validators_root }.tree_hash_root()
}

/// `compute_domain(domain_type, fork_version, genesis_validators_root)`.
pub fn compute_domain(domain_type: DomainType, fork_version: Version, genesis_validators_root: Hash256) -> Domain {
    let fork_data_root = compute_fork_data_root(fork_version, genesis_validators_root);
    let mut domain = [0u8; 32];
    domain[..4].copy_from_slice(domain_type.as_slice());
    domain[4..].copy_from_slice(&fork_data_root[..28]);
    Domain::from(domain)
}

/// `compute_signing_root(object, domain)` given the object's root.
pub fn compute_signing_root(object_root: Hash256, domain: Domain) -> Hash256 {
    SigningData { object_root, domain }.tree_hash_root()
}

/// The kind of domain a message is signed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainKind {
    /// Blocks.
    BeaconProposer,
    /// Attestations.
    BeaconAttester,
    /// RANDAO reveals.
    Randao,
    /// Deposits.
    Deposit,
    /// Voluntary exits.
    VoluntaryExit,
    /// Attestation-aggregator selection proofs.
    SelectionProof,
    /// Aggregate-and-proof messages.
    AggregateAndProof,
    /// Sync-committee messages.
    SyncCommittee,
    /// Sync-aggregator selection proofs.
    SyncCommitteeSelectionProof,
    /// Contribution-and-proof messages.
    ContributionAndProof,
    /// BLS-to-execution changes.
    BlsToExecutionChange,
    /// Builder registrations.
    ApplicationBuilder,
    /// Gloas bids and envelopes (a self-building proposer signs its envelope).
    BeaconBuilder,
    /// Gloas payload attestations.
    PtcAttester,
    /// Gloas proposer preferences.
    ProposerPreferences,
    /// A proposer's authentication to a builder (builder-specs Gloas).
    RequestAuth,
}

impl ChainSpec {
    /// The domain type of `kind` in this config.
    pub fn domain_type(&self, kind: DomainKind) -> DomainType {
        let d = &self.domains;
        match kind {
            DomainKind::BeaconProposer => d.beacon_proposer,
            DomainKind::BeaconAttester => d.beacon_attester,
            DomainKind::Randao => d.randao,
            DomainKind::Deposit => d.deposit,
            DomainKind::VoluntaryExit => d.voluntary_exit,
            DomainKind::SelectionProof => d.selection_proof,
            DomainKind::AggregateAndProof => d.aggregate_and_proof,
            DomainKind::SyncCommittee => d.sync_committee,
            DomainKind::SyncCommitteeSelectionProof => d.sync_committee_selection_proof,
            DomainKind::ContributionAndProof => d.contribution_and_proof,
            DomainKind::BlsToExecutionChange => d.bls_to_execution_change,
            DomainKind::ApplicationBuilder => d.application_builder,
            DomainKind::BeaconBuilder => d.beacon_builder,
            DomainKind::PtcAttester => d.ptc_attester,
            DomainKind::ProposerPreferences => d.proposer_preferences,
            DomainKind::RequestAuth => d.request_auth,
        }
    }
}

/// Everything that goes into a signing root besides the message: the chain's
/// config and its genesis validators root.
#[derive(Debug, Clone, Copy)]
pub struct SigningContext<'a> {
    /// The chain config.
    pub spec: &'a ChainSpec,
    /// The network's genesis validators root.
    pub genesis_validators_root: Hash256,
}

/// A message to be signed, borrowed from its owner.
#[derive(Debug, Clone, Copy)]
pub enum SignableMessage<'a, P: Preset> {
    /// A full block.
    Block(&'a BeaconBlock<P>),
    /// A blinded block (same root as the full block).
    BlindedBlock(&'a BlindedBeaconBlock<P>),
    /// A block given by its header (same root as the block).
    BlockHeader(&'a BeaconBlockHeader),
    /// Attestation data.
    Attestation(&'a AttestationData),
    /// A RANDAO reveal for an epoch.
    RandaoReveal(Epoch),
    /// An attestation-aggregator selection proof for a slot.
    SelectionProof(Slot),
    /// A pre-Electra aggregate and proof.
    AggregateAndProofBase(&'a AggregateAndProofBase<P>),
    /// An Electra aggregate and proof.
    AggregateAndProofElectra(&'a AggregateAndProofElectra<P>),
    /// A sync-committee message: the head block root at a slot.
    SyncCommitteeMessage {
        /// The slot.
        slot: Slot,
        /// The head block root.
        beacon_block_root: Hash256,
    },
    /// A sync-aggregator selection proof.
    SyncSelectionProof(&'a SyncAggregatorSelectionData),
    /// A sync contribution and proof.
    ContributionAndProof(&'a ContributionAndProof<P>),
    /// A voluntary exit.
    VoluntaryExit(&'a VoluntaryExit),
    /// A builder registration.
    ValidatorRegistration(&'a ValidatorRegistrationV1),
    /// A deposit message.
    Deposit(&'a DepositMessage),
    /// A BLS-to-execution change.
    BlsToExecutionChange(&'a BlsToExecutionChange),
    /// A Gloas aggregate and proof (progressive attestation root).
    AggregateAndProofGloas(&'a AggregateAndProofGloas<P>),
    /// A PTC member's payload attestation data (Gloas).
    PayloadAttestation(&'a PayloadAttestationData),
    /// A proposer's preferences for one proposal slot (Gloas).
    ProposerPreferences(&'a ProposerPreferences),
    /// An execution payload envelope (Gloas; the proposer's for a self-built payload).
    ExecutionPayloadEnvelope(&'a ExecutionPayloadEnvelope<P>),
    /// An execution payload bid (Gloas; builders' keys only).
    ExecutionPayloadBid(&'a ExecutionPayloadBid<P>),
    /// A proposer's request authentication to a builder.
    BuilderRequestAuth(&'a BuilderRequestAuth),
}

/// What slashing protection records for a message: derived from the message
/// itself ([`SignableMessage::slashable`]), never declared beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slashable {
    /// Nothing: the message cannot be slashed.
    No,
    /// An attestation's votes.
    Attestation {
        /// Source epoch.
        source: Epoch,
        /// Target epoch.
        target: Epoch,
    },
    /// A block's slot.
    Block {
        /// The slot.
        slot: Slot,
    },
    /// A Gloas payload attestation: once per slot (not slashable, but a PTC
    /// member never votes twice for one slot).
    PayloadAttestation {
        /// The slot.
        slot: Slot,
    },
    /// A Gloas envelope: signed only for the block the same key signed at
    /// its slot. `block_signing_root` is that block's signing root as the
    /// envelope names it ([`SigningContext::protection`]).
    Envelope {
        /// The envelope's slot.
        slot: Slot,
        /// The block root it names.
        block_root: Hash256,
        /// The signing root a block with that root has at that slot.
        block_signing_root: Hash256,
    },
}

impl<P: Preset> SignableMessage<'_, P> {
    /// The address the message names as the proposer's fee recipient, for
    /// the messages whose signature decides who is paid and that carry it:
    /// builder registrations, Gloas proposer preferences and a self-built
    /// envelope's payload. (A block's payee is checked where the whole
    /// block is seen; a remote signer sees only its header.)
    pub fn payee(&self) -> Option<Address> {
        match self {
            Self::ValidatorRegistration(r) => Some(r.fee_recipient),
            Self::ProposerPreferences(p) => Some(p.fee_recipient),
            Self::ExecutionPayloadEnvelope(e) => Some(e.payload.fee_recipient),
            _ => None,
        }
    }

    /// What slashing protection must check and record before this message
    /// is signed: a block's slot, an attestation's source and target, or
    /// nothing (every other message cannot be slashed).
    pub fn slashable(&self) -> Slashable {
        match self {
            Self::Block(b) => Slashable::Block { slot: b.slot() },
            Self::BlindedBlock(b) => Slashable::Block { slot: b.slot() },
            Self::BlockHeader(h) => Slashable::Block { slot: h.slot },
            Self::Attestation(d) => Slashable::Attestation { source: d.source.epoch, target: d.target.epoch },
            Self::PayloadAttestation(d) => Slashable::PayloadAttestation { slot: d.slot },
            Self::RandaoReveal(_)
            | Self::SelectionProof(_)
            | Self::AggregateAndProofBase(_)
            | Self::AggregateAndProofElectra(_)
            | Self::SyncCommitteeMessage { .. }
            | Self::SyncSelectionProof(_)
            | Self::ContributionAndProof(_)
            | Self::VoluntaryExit(_)
            | Self::ValidatorRegistration(_)
            | Self::Deposit(_)
            | Self::BlsToExecutionChange(_)
            | Self::AggregateAndProofGloas(_)
            | Self::ProposerPreferences(_)
            // An envelope's record needs the chain's domains:
            // `SigningContext::protection`.
            | Self::ExecutionPayloadEnvelope(_)
            | Self::ExecutionPayloadBid(_)
            | Self::BuilderRequestAuth(_) => Slashable::No,
        }
    }

    /// The domain kind, the epoch whose fork applies, and the object root.
    pub fn parts(&self, slots_per_epoch: u64) -> (DomainKind, Epoch, Hash256) {
        let epoch_of = |slot: Slot| slot / slots_per_epoch.max(1);
        match self {
            Self::Block(b) => {
                let h = b.header();
                (DomainKind::BeaconProposer, epoch_of(h.slot), h.tree_hash_root())
            }
            Self::BlindedBlock(b) => {
                let h = b.header();
                (DomainKind::BeaconProposer, epoch_of(h.slot), h.tree_hash_root())
            }
            Self::BlockHeader(h) => (DomainKind::BeaconProposer, epoch_of(h.slot), h.tree_hash_root()),
            Self::Attestation(d) => (DomainKind::BeaconAttester, d.target.epoch, d.tree_hash_root()),
            Self::RandaoReveal(e) => (DomainKind::Randao, *e, e.tree_hash_root()),
            Self::SelectionProof(s) => (DomainKind::SelectionProof, epoch_of(*s), s.tree_hash_root()),
            Self::AggregateAndProofBase(a) => {
                (DomainKind::AggregateAndProof, epoch_of(a.aggregate.data.slot), a.tree_hash_root())
            }
            Self::AggregateAndProofElectra(a) => {
                (DomainKind::AggregateAndProof, epoch_of(a.aggregate.data.slot), a.tree_hash_root())
            }
            Self::SyncCommitteeMessage { slot, beacon_block_root } => {
                (DomainKind::SyncCommittee, epoch_of(*slot), *beacon_block_root)
            }
            Self::SyncSelectionProof(d) => {
                (DomainKind::SyncCommitteeSelectionProof, epoch_of(d.slot), d.tree_hash_root())
            }
            Self::ContributionAndProof(c) => {
                (DomainKind::ContributionAndProof, epoch_of(c.contribution.slot), c.tree_hash_root())
            }
            Self::VoluntaryExit(e) => (DomainKind::VoluntaryExit, e.epoch, e.tree_hash_root()),
            Self::ValidatorRegistration(r) => (DomainKind::ApplicationBuilder, 0, r.tree_hash_root()),
            Self::Deposit(d) => (DomainKind::Deposit, 0, d.tree_hash_root()),
            Self::BlsToExecutionChange(c) => (DomainKind::BlsToExecutionChange, 0, c.tree_hash_root()),
            Self::AggregateAndProofGloas(a) => {
                (DomainKind::AggregateAndProof, epoch_of(a.aggregate.data.slot), a.tree_hash_root())
            }
            Self::PayloadAttestation(d) => (DomainKind::PtcAttester, epoch_of(d.slot), d.tree_hash_root()),
            // `compute_fork_version(compute_epoch_at_slot(proposal_slot))`.
            Self::ProposerPreferences(p) => {
                (DomainKind::ProposerPreferences, epoch_of(p.proposal_slot), p.tree_hash_root())
            }
            // `get_domain(state, DOMAIN_BEACON_BUILDER)` at the payload's slot.
            Self::ExecutionPayloadEnvelope(e) => {
                (DomainKind::BeaconBuilder, epoch_of(e.payload.slot_number), e.tree_hash_root())
            }
            Self::ExecutionPayloadBid(b) => (DomainKind::BeaconBuilder, epoch_of(b.slot), b.tree_hash_root()),
            Self::BuilderRequestAuth(r) => (DomainKind::RequestAuth, 0, r.tree_hash_root()),
        }
    }
}

impl SigningContext<'_> {
    /// The domain for a message of `kind` whose fork is chosen by `epoch`.
    pub fn domain_for(&self, kind: DomainKind, epoch: Epoch) -> Domain {
        let spec = self.spec;
        let domain_type = spec.domain_type(kind);
        match kind {
            // builder-specs: genesis fork version, zero genesis validators root
            // (`compute_domain(DOMAIN_REQUEST_AUTH)` for Gloas's request auth).
            DomainKind::ApplicationBuilder | DomainKind::Deposit | DomainKind::RequestAuth => {
                compute_domain(domain_type, spec.genesis_fork_version, Hash256::ZERO)
            }
            // Capella spec: genesis fork version, real genesis validators root.
            DomainKind::BlsToExecutionChange => {
                compute_domain(domain_type, spec.genesis_fork_version, self.genesis_validators_root)
            }
            // EIP-7044: from Deneb on, exits are always signed with the Capella version.
            DomainKind::VoluntaryExit if spec.fork_name_at_epoch(epoch).deneb_enabled() => {
                let version =
                    spec.scheduled(ForkName::Capella).map_or_else(|| spec.fork_version_at_epoch(epoch), |f| f.version);
                compute_domain(domain_type, version, self.genesis_validators_root)
            }
            _ => compute_domain(domain_type, spec.fork_version_at_epoch(epoch), self.genesis_validators_root),
        }
    }

    /// What protection checks and records for `message`: its
    /// [`SignableMessage::slashable`] class, except for an envelope, which
    /// is tied to the proposer's block at its slot: the signing root a block
    /// whose root is the envelope's `beacon_block_root` has at that slot.
    pub fn protection<P: Preset>(&self, message: &SignableMessage<'_, P>) -> Slashable {
        match message {
            SignableMessage::ExecutionPayloadEnvelope(e) => {
                let slot = e.payload.slot_number;
                let domain = self.domain_for(DomainKind::BeaconProposer, slot / self.spec.slots_per_epoch.max(1));
                Slashable::Envelope {
                    slot,
                    block_root: e.beacon_block_root,
                    block_signing_root: compute_signing_root(e.beacon_block_root, domain),
                }
            }
            m => m.slashable(),
        }
    }

    /// The signing root of `message`.
    pub fn signing_root<P: Preset>(&self, message: &SignableMessage<'_, P>) -> Hash256 {
        let (kind, epoch, object_root) = message.parts(self.spec.slots_per_epoch);
        compute_signing_root(object_root, self.domain_for(kind, epoch))
    }
}
