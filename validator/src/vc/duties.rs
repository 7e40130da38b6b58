//! Per-epoch duties of the client's validators, and the aggregator
//! selection rule.

use crate::beacon::{AttesterDuty, ProposerDuty, SyncDuty};
use poolvc_signer::types::{Hash256, SignatureBytes};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// An attester duty with its selection proof (if this validator aggregates).
#[derive(Debug, Clone)]
pub struct Attester {
    /// The duty.
    pub duty: AttesterDuty,
    /// Selection proof, when the validator is an aggregator for its slot.
    pub selection_proof: Option<SignatureBytes>,
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
    /// Dependent root of the attester duties.
    pub dependent_root: Hash256,
}

/// `is_aggregator` of the phase0 validator guide.
pub fn is_aggregator(
    committee_length: u64,
    target_aggregators_per_committee: u64,
    selection_proof: &SignatureBytes,
) -> bool {
    let modulo = (committee_length / target_aggregators_per_committee.max(1)).max(1);
    let h = Sha256::digest(selection_proof.as_slice());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b) % modulo == 0
}
