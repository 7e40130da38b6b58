//! The chain's verdict on one epoch's duties, computed from canonical
//! blocks the way Lido's performance oracle counts them.
//!
//! An attestation duty of epoch `E` is *included* when one of the
//! validator's aggregation bits is set in a canonical block of epoch `E` or
//! `E + 1` (the EIP-7045 window). Beside inclusion, the Altair participation
//! flags the state would record are derived from the same blocks, as the
//! union over every inclusion (flags are only ever added):
//! - source: included within `integer_squareroot(SLOTS_PER_EPOCH)` slots;
//! - target: the vote's target root is the canonical root at `E`'s first slot;
//! - head: target matches, the vote's head is the canonical root at the
//!   vote's slot, and it was included in the next slot.
//!
//! A proposal duty is *made* when the canonical block at its slot exists;
//! a sync-committee duty exists per committee position for every slot of `E`
//! that has a block, and is met when the block's aggregate has its bit.
//!
//! Invariant: everything here is a pure function of a [`Window`]; the same
//! window gives the same verdict (the ledger relies on it to replace an
//! epoch after a reorg without double counting).

use crate::beacon::WithdrawalRequest;
use poolvc_signer::types::Hash256;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One beacon committee of the epoch, and an attestation as a block
/// carries it: the types the strict reader (`beacon::participation`,
/// `beacon::chain`) gives, judged here as they are.
pub use crate::beacon::{Committee, IncludedBits as IncludedAttestation};

/// What the verdict needs of one canonical block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockFacts {
    /// Slot.
    pub slot: u64,
    /// Block root.
    pub root: Hash256,
    /// Parent root.
    pub parent: Hash256,
    /// Proposer index.
    pub proposer: u64,
    /// Its attestations.
    pub attestations: Vec<IncludedAttestation>,
    /// Its sync aggregate's bits (none before Altair).
    pub sync_bits: Vec<bool>,
}

/// Everything the chain says about epoch `epoch`'s duties.
#[derive(Debug, Clone)]
pub struct Window {
    /// The epoch judged.
    pub epoch: u64,
    /// `SLOTS_PER_EPOCH`.
    pub slots_per_epoch: u64,
    /// Committees of the epoch.
    pub committees: Vec<Committee>,
    /// Canonical blocks of slots `[E * spe, (E + 2) * spe)`, ascending, each
    /// the child of the one before.
    pub blocks: Vec<BlockFacts>,
    /// The canonical root before the window's first block (its parent).
    pub root_before: Hash256,
    /// The proposer of every slot of the epoch (slot 0 has none).
    pub proposers: Vec<(u64, u64)>,
    /// The sync committee of the epoch, by position.
    pub sync_committee: Vec<u64>,
    /// The EIP-7002 withdrawal requests of the epoch's own blocks (not of
    /// the next epoch's, which the next window holds), with their slots.
    pub withdrawal_requests: Vec<(u64, WithdrawalRequest)>,
}

/// Duty counters: one validator's in one epoch, or summed over validators
/// and epochs (a frame, an operator, the network).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Attestation duties assigned.
    pub att_assigned: u64,
    /// Of those, included (Lido's measure).
    pub att_included: u64,
    /// Sum of the first inclusion's delay (slots) over the included ones.
    pub att_delay_sum: u64,
    /// Included with the timely-source flag.
    pub att_source: u64,
    /// Included with the timely-target flag.
    pub att_target: u64,
    /// Included with the timely-head flag.
    pub att_head: u64,
    /// Proposals assigned.
    pub prop_assigned: u64,
    /// Proposals made (a canonical block at the slot).
    pub prop_made: u64,
    /// Sync-committee duties in slots that have a block.
    pub sync_assigned: u64,
    /// Of those, with the bit set.
    pub sync_included: u64,
}

impl Counts {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &Counts) {
        self.att_assigned += o.att_assigned;
        self.att_included += o.att_included;
        self.att_delay_sum += o.att_delay_sum;
        self.att_source += o.att_source;
        self.att_target += o.att_target;
        self.att_head += o.att_head;
        self.prop_assigned += o.prop_assigned;
        self.prop_made += o.prop_made;
        self.sync_assigned += o.sync_assigned;
        self.sync_included += o.sync_included;
    }

    /// Takes `o` back out of `self` (saturating: never below zero).
    pub fn sub(&mut self, o: &Counts) {
        self.att_assigned = self.att_assigned.saturating_sub(o.att_assigned);
        self.att_included = self.att_included.saturating_sub(o.att_included);
        self.att_delay_sum = self.att_delay_sum.saturating_sub(o.att_delay_sum);
        self.att_source = self.att_source.saturating_sub(o.att_source);
        self.att_target = self.att_target.saturating_sub(o.att_target);
        self.att_head = self.att_head.saturating_sub(o.att_head);
        self.prop_assigned = self.prop_assigned.saturating_sub(o.prop_assigned);
        self.prop_made = self.prop_made.saturating_sub(o.prop_made);
        self.sync_assigned = self.sync_assigned.saturating_sub(o.sync_assigned);
        self.sync_included = self.sync_included.saturating_sub(o.sync_included);
    }

    /// Whether no duty of any kind was assigned.
    pub fn is_empty(&self) -> bool {
        self.att_assigned == 0 && self.prop_assigned == 0 && self.sync_assigned == 0
    }

    /// Attestation duties assigned and not included.
    pub fn att_missed(&self) -> u64 {
        self.att_assigned.saturating_sub(self.att_included)
    }
}

/// The verdict on one epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochVerdict {
    /// The epoch.
    pub epoch: u64,
    /// Every validator with a duty in the epoch, and its counts.
    pub by_validator: HashMap<u64, Counts>,
    /// The sum over all validators (the network's performance).
    pub network: Counts,
}

/// What is wrong with a window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    /// Blocks out of order, out of the window or not a chain.
    #[error("epoch {epoch}: block at slot {slot} is not the child of the block before it in the window")]
    NotAChain {
        /// The epoch.
        epoch: u64,
        /// The offending block's slot.
        slot: u64,
    },
    /// An attestation whose bits do not fit its committees.
    #[error("epoch {epoch}: block at slot {block_slot} has an attestation for slot {slot} whose {bits} bits do not match its committees ({expected} members)")]
    BitsMismatch {
        /// The epoch.
        epoch: u64,
        /// The block.
        block_slot: u64,
        /// The attestation's slot.
        slot: u64,
        /// Bits carried.
        bits: usize,
        /// Members of the committees named.
        expected: usize,
    },
    /// An attestation naming a committee the epoch does not have.
    #[error("epoch {epoch}: block at slot {block_slot} names committee {index} of slot {slot}, which does not exist")]
    NoCommittee {
        /// The epoch.
        epoch: u64,
        /// The block.
        block_slot: u64,
        /// The attestation's slot.
        slot: u64,
        /// The committee index.
        index: u64,
    },
}

/// `integer_squareroot(n)`.
fn isqrt(n: u64) -> u64 {
    let mut x = (n as f64).sqrt() as u64;
    while x * x > n {
        x -= 1;
    }
    while (x + 1) * (x + 1) <= n {
        x += 1;
    }
    x
}

/// Judges `w`.
pub fn judge(w: &Window) -> Result<EpochVerdict, VerdictError> {
    let spe = w.slots_per_epoch.max(1);
    let (start, end, window_end) = (w.epoch * spe, (w.epoch + 1) * spe, (w.epoch + 2) * spe);
    let epoch = w.epoch;
    // The chain: ascending, inside the window, each block the child of the previous.
    let mut prev = w.root_before;
    let mut last_slot = None;
    for b in &w.blocks {
        if b.slot < start || b.slot >= window_end || last_slot.is_some_and(|s| b.slot <= s) || b.parent != prev {
            return Err(VerdictError::NotAChain { epoch, slot: b.slot });
        }
        prev = b.root;
        last_slot = Some(b.slot);
    }
    let root_at = |slot: u64| -> Hash256 {
        w.blocks.iter().take_while(|b| b.slot <= slot).last().map(|b| b.root).unwrap_or(w.root_before)
    };
    let target_root = root_at(start);
    let committees: HashMap<(u64, u64), &Committee> = w.committees.iter().map(|c| ((c.slot, c.index), c)).collect();

    let mut v: HashMap<u64, Counts> = HashMap::new();
    // Attestation duties, and for each the flags seen so far: (included, min delay, source, target, head).
    let mut flags: HashMap<u64, (bool, u64, bool, bool, bool)> = HashMap::new();
    for c in &w.committees {
        for &i in &c.validators {
            v.entry(i).or_default().att_assigned += 1;
        }
    }
    let source_limit = isqrt(spe);
    for b in &w.blocks {
        for a in &b.attestations {
            if a.slot < start || a.slot >= end {
                continue; // another epoch's duty
            }
            let delay = b.slot.saturating_sub(a.slot);
            let target_ok = a.target == target_root;
            let head_ok = target_ok && a.head == root_at(a.slot) && delay == 1;
            let mut offset = 0usize;
            let mut members: Vec<&[u64]> = Vec::with_capacity(a.committees.len());
            for &ci in &a.committees {
                let c = committees.get(&(a.slot, ci)).ok_or(VerdictError::NoCommittee {
                    epoch,
                    block_slot: b.slot,
                    slot: a.slot,
                    index: ci,
                })?;
                members.push(&c.validators);
            }
            let expected: usize = members.iter().map(|m| m.len()).sum();
            if expected != a.bits.len() {
                return Err(VerdictError::BitsMismatch {
                    epoch,
                    block_slot: b.slot,
                    slot: a.slot,
                    bits: a.bits.len(),
                    expected,
                });
            }
            for m in members {
                for (k, &i) in m.iter().enumerate() {
                    if a.bits[offset + k] {
                        let f = flags.entry(i).or_insert((false, u64::MAX, false, false, false));
                        f.0 = true;
                        f.1 = f.1.min(delay);
                        f.2 |= delay <= source_limit;
                        f.3 |= target_ok;
                        f.4 |= head_ok;
                    }
                }
                offset += m.len();
            }
        }
    }
    for (i, (_, delay, s, t, h)) in flags {
        let c = v.entry(i).or_default();
        c.att_included = 1;
        c.att_delay_sum = delay;
        c.att_source = u64::from(s);
        c.att_target = u64::from(t);
        c.att_head = u64::from(h);
    }
    // Proposals: a canonical block's proposer had the duty and made it (the
    // state transition checked who may propose); an empty slot's duty is
    // the proposer list's, and missed.
    let duty: HashMap<u64, u64> = w.proposers.iter().copied().collect();
    for slot in start.max(1)..end {
        let (proposer, made) = match w.blocks.iter().find(|b| b.slot == slot) {
            Some(b) => (b.proposer, true),
            None => match duty.get(&slot) {
                Some(p) => (*p, false),
                None => continue,
            },
        };
        let c = v.entry(proposer).or_default();
        c.prop_assigned += 1;
        c.prop_made += u64::from(made);
    }
    // Sync committee, only in slots with a block.
    for b in w.blocks.iter().filter(|b| b.slot < end) {
        for (pos, &i) in w.sync_committee.iter().enumerate() {
            let c = v.entry(i).or_default();
            c.sync_assigned += 1;
            if b.sync_bits.get(pos).copied().unwrap_or(false) {
                c.sync_included += 1;
            }
        }
    }
    let mut network = Counts::default();
    for c in v.values() {
        network.add(c);
    }
    Ok(EpochVerdict { epoch, by_validator: v, network })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn h(n: u8) -> Hash256 {
        Hash256::repeat_byte(n)
    }

    fn block(slot: u64, parent: u8, root: u8, proposer: u64, atts: Vec<IncludedAttestation>) -> BlockFacts {
        BlockFacts {
            slot,
            root: h(root),
            parent: h(parent),
            proposer,
            attestations: atts,
            sync_bits: vec![true, false],
        }
    }

    fn att(slot: u64, committees: Vec<u64>, bits: Vec<bool>, head: u8, target: u8) -> IncludedAttestation {
        IncludedAttestation { slot, committees, bits, head: h(head), target: h(target) }
    }

    /// Epoch 1 of 4-slot epochs: slots 4..7, window to slot 11. Committees:
    /// slot 4 index 0 = [10, 11], slot 5 index 0 = [12], index 1 = [13].
    fn window(blocks: Vec<BlockFacts>) -> Window {
        Window {
            epoch: 1,
            slots_per_epoch: 4,
            committees: vec![
                Committee { slot: 4, index: 0, validators: vec![10, 11] },
                Committee { slot: 5, index: 0, validators: vec![12] },
                Committee { slot: 5, index: 1, validators: vec![13] },
            ],
            blocks,
            root_before: h(3),
            proposers: vec![(4, 20), (5, 21), (6, 22), (7, 23)],
            sync_committee: vec![30, 31],
            withdrawal_requests: vec![],
        }
    }

    #[test]
    fn inclusion_flags_proposals_and_sync_follow_the_blocks() {
        // Slot 4: block 4 (target root). Slot 5: block 5 includes slot 4's
        // vote of 10 (head 4, delay 1). Slot 6 empty (22 missed). Slot 7:
        // Electra aggregate over committees 0 and 1 of slot 5 (12 and 13),
        // delay 2, head 5. Slot 9 (next epoch): 11's vote, delay 5, wrong target.
        let w = window(vec![
            block(4, 3, 4, 20, vec![]),
            block(5, 4, 5, 21, vec![att(4, vec![0], vec![true, false], 4, 4)]),
            block(7, 5, 7, 23, vec![att(5, vec![0, 1], vec![true, true], 5, 4)]),
            block(9, 7, 9, 99, vec![att(4, vec![0], vec![false, true], 4, 8)]),
        ]);
        let v = judge(&w).unwrap();
        let c = |i| v.by_validator[&i];
        assert_eq!(
            (c(10).att_included, c(10).att_delay_sum, c(10).att_source, c(10).att_target, c(10).att_head),
            (1, 1, 1, 1, 1)
        );
        // Delay 2 with 4-slot epochs: source limit isqrt(4) = 2; head needs delay 1.
        assert_eq!((c(12).att_included, c(12).att_source, c(12).att_target, c(12).att_head), (1, 1, 1, 0));
        assert_eq!((c(13).att_included, c(13).att_delay_sum), (1, 2));
        assert_eq!((c(11).att_included, c(11).att_delay_sum, c(11).att_source, c(11).att_target), (1, 5, 0, 0));
        assert_eq!((c(20).prop_assigned, c(20).prop_made), (1, 1));
        assert_eq!((c(22).prop_assigned, c(22).prop_made), (1, 0));
        assert!(!v.by_validator.contains_key(&99), "a proposer of the next epoch has no duty in this one");
        // Three blocks in epoch 1: each sync position assigned three times.
        assert_eq!((c(30).sync_assigned, c(30).sync_included), (3, 3));
        assert_eq!((c(31).sync_assigned, c(31).sync_included), (3, 0));
        assert_eq!(v.network.att_assigned, 4);
        assert_eq!(v.network.att_included, 4);
        assert_eq!(v.network.prop_assigned, 4);
        assert_eq!(v.network.prop_made, 3);
    }

    #[test]
    fn a_vote_not_included_in_the_window_is_missed_and_flags_are_unions() {
        let w = window(vec![
            block(4, 3, 4, 20, vec![]),
            // 10 votes twice: late with the right head, then timely with a wrong head.
            block(6, 4, 6, 22, vec![att(4, vec![0], vec![true, false], 4, 4)]),
            block(8, 6, 8, 1, vec![att(5, vec![1], vec![true], 9, 4)]),
        ]);
        let v = judge(&w).unwrap();
        assert_eq!(v.by_validator[&11].att_included, 0);
        assert_eq!(v.by_validator[&12].att_included, 0);
        assert_eq!(v.by_validator[&11].att_missed(), 1);
        // 13 at delay 3: no source flag with a limit of 2, target yes, head no.
        let c = v.by_validator[&13];
        assert_eq!((c.att_included, c.att_source, c.att_target, c.att_head), (1, 0, 1, 0));
    }

    #[test]
    fn empty_slots_before_the_first_block_take_the_root_before() {
        // No block at slot 4: the target root is the root before the window.
        let w = window(vec![block(5, 3, 5, 21, vec![att(4, vec![0], vec![true, true], 3, 3)])]);
        let v = judge(&w).unwrap();
        assert_eq!((v.by_validator[&10].att_target, v.by_validator[&10].att_head), (1, 1));
        assert_eq!(v.by_validator[&20].prop_made, 0);
    }

    #[test]
    fn a_window_that_is_not_a_chain_or_has_bad_bits_is_refused() {
        let broken = window(vec![block(4, 3, 4, 20, vec![]), block(5, 9, 5, 21, vec![])]);
        assert_eq!(judge(&broken), Err(VerdictError::NotAChain { epoch: 1, slot: 5 }));
        let bad_bits = window(vec![block(5, 3, 5, 21, vec![att(4, vec![0], vec![true], 3, 3)])]);
        assert!(matches!(judge(&bad_bits), Err(VerdictError::BitsMismatch { expected: 2, bits: 1, .. })));
        let no_committee = window(vec![block(5, 3, 5, 21, vec![att(4, vec![7], vec![true], 3, 3)])]);
        assert!(matches!(judge(&no_committee), Err(VerdictError::NoCommittee { index: 7, .. })));
    }
}
