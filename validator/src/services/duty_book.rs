//! The duties poolvc holds: one epoch's duties kept for its own keys
//! ([`EpochDuties`]), the book of epochs the services read ([`DutyBook`]),
//! and the spec's aggregator selection. A leaf of the services: types and
//! pure functions, no requests.

use crate::beacon::{AttesterDuty, ProposerDuty, SyncDuty};
use poolvc_signer::types::{Hash256, SignatureBytes};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// An attester duty with its selection proof (if this validator aggregates).
#[derive(Debug, Clone)]
pub struct Attester {
    /// The duty.
    pub duty: AttesterDuty,
    /// Selection proof, when the validator is an aggregator for its slot
    /// (boxed: about one attester in thirty aggregates, and an unboxed
    /// `Option` would add 97 bytes to each of a million duties an epoch).
    pub selection_proof: Option<Box<SignatureBytes>>,
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

/// Duties of one epoch, as served by the node and kept only where they name
/// one of poolvc's keys under its own index.
#[derive(Debug, Clone, Default)]
pub struct EpochDuties {
    /// Attesters, by slot (each slot's shared, so an entry with one slot's
    /// selection proofs added is a copy of 32 pointers, not of the epoch).
    pub attesters: HashMap<u64, Arc<Vec<Attester>>>,
    /// Slots whose attesters' selection proofs were signed for these duties
    /// (the rest have none yet: signed a few slots ahead, see
    /// [`super::duty_fetch::PROOF_LOOKAHEAD`]).
    pub proven: HashSet<u64>,
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
    /// The proposers were fetched during the epoch itself. Fetched an epoch
    /// ahead, the last block of the previous epoch may still move them
    /// (before Fulu's proposer lookahead), and the block service asks again
    /// at the epoch's first slot.
    pub proposers_final: bool,
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

/// Epoch duties by epoch. Invariant: an entry is replaced as a whole (a
/// refetch after its dependent root moved, a slot's selection proofs
/// added), never edited in place, so a service holding an `Arc` of it sees
/// one consistent set.
#[derive(Debug, Default)]
pub(crate) struct DutyBook {
    epochs: RwLock<HashMap<u64, Arc<EpochDuties>>>,
}

impl DutyBook {
    /// The duties of `epoch`, if fetched.
    pub(crate) fn get(&self, epoch: u64) -> Option<Arc<EpochDuties>> {
        self.epochs.read().unwrap_or_else(|p| p.into_inner()).get(&epoch).cloned()
    }

    /// Stores (or replaces) an epoch's duties.
    pub(crate) fn insert(&self, epoch: u64, d: EpochDuties) {
        self.epochs.write().unwrap_or_else(|p| p.into_inner()).insert(epoch, Arc::new(d));
    }

    /// Replaces `epoch`'s entry with `from` whose `slot` has `attesters`
    /// (their selection proofs signed), only if the entry is still `from`:
    /// duties refetched meanwhile keep theirs (their proofs are signed
    /// again). Tells whether it was replaced.
    pub(crate) fn set_proven(&self, epoch: u64, from: &Arc<EpochDuties>, slot: u64, attesters: Vec<Attester>) -> bool {
        let mut epochs = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        if !epochs.get(&epoch).is_some_and(|now| Arc::ptr_eq(now, from)) {
            return false;
        }
        let mut next = EpochDuties::clone(from);
        next.attesters.insert(slot, Arc::new(attesters));
        next.proven.insert(slot);
        epochs.insert(epoch, Arc::new(next));
        true
    }

    /// Drops epochs before `epoch`.
    pub(crate) fn retain_from(&self, epoch: u64) {
        self.epochs.write().unwrap_or_else(|p| p.into_inner()).retain(|e, _| *e >= epoch);
    }
}
