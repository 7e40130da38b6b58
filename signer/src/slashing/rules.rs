//! The slashing rules, as pure functions over a validator's history. Both
//! backends load the relevant history and call these, so they agree exactly.

use super::{NotSafe, Safe, Verdict};
use crate::types::{Epoch, Hash256, Slot};

/// A recorded attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttRow {
    /// Source epoch.
    pub source: Epoch,
    /// Target epoch.
    pub target: Epoch,
    /// Signing root, if known.
    pub root: Option<Hash256>,
    /// Came from an interchange import (re-signing it is refused, as the
    /// minimal strategy requires: poolvc cannot know it was published alike).
    pub imported: bool,
}

/// A recorded block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRow {
    /// Slot.
    pub slot: Slot,
    /// Signing root, if known.
    pub root: Option<Hash256>,
    /// Came from an interchange import.
    pub imported: bool,
}

/// A validator's low watermarks (`None`: no import or pruning yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermarks {
    /// Blocks at or below this slot are refused (unless a repeat).
    pub block_slot: Option<Slot>,
    /// Attestations with a source below this are refused.
    pub att_source: Option<Epoch>,
    /// Attestations with a target at or below this are refused (unless a repeat).
    pub att_target: Option<Epoch>,
}

impl Watermarks {
    /// The larger of two watermarks, field by field (watermarks only rise).
    pub fn max(self, other: Watermarks) -> Watermarks {
        fn m(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, None) => x,
                (None, y) => y,
            }
        }
        Watermarks {
            block_slot: m(self.block_slot, other.block_slot),
            att_source: m(self.att_source, other.att_source),
            att_target: m(self.att_target, other.att_target),
        }
    }
}

fn same_root(a: Option<Hash256>, b: Option<Hash256>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x == y)
}

/// The verdict on attestation `new` given the validator's `history` (which
/// must include every row with `target >= new.source` or `source > new.source`)
/// and watermarks. Beyond the slashing conditions, a vote whose source is
/// below, or whose target is at or below, the newest one signed or imported is
/// refused (EIP-3076's minimal strategy): rows outside `history` are older
/// than `new.source`, so they cannot change that answer.
pub fn check_attestation(history: &[AttRow], wm: &Watermarks, new: &AttRow) -> Verdict {
    if new.source > new.target {
        return Err(NotSafe::SourceGreaterThanTarget { source_epoch: new.source, target_epoch: new.target });
    }
    if let Some(prev) = history.iter().find(|r| r.target == new.target) {
        // A repeat must match exactly (a signing root commits to the source,
        // but the check does not rely on callers passing honest roots), be of
        // the newest vote, and be one this database signed itself.
        let newest = history.iter().map(|r| r.target).max().max(wm.att_target);
        match (same_root(prev.root, new.root) && prev.source == new.source && newest == Some(new.target), prev.imported)
        {
            (true, false) => return Ok(Safe::SameData),
            (false, _) => return Err(NotSafe::DoubleVote { target: new.target, existing_source: prev.source }),
            // A repeat of an imported vote: refused below as not newer.
            (true, true) => {}
        }
    }
    for prev in history {
        if prev.source < new.source && new.target < prev.target {
            return Err(NotSafe::SurroundedByExisting { existing_source: prev.source, existing_target: prev.target });
        }
        if new.source < prev.source && prev.target < new.target {
            return Err(NotSafe::SurroundsExisting { existing_source: prev.source, existing_target: prev.target });
        }
    }
    // Minimal (high-watermark) strategy on top of the complete history: a new
    // vote must not go below the newest source or target already signed or imported.
    let wm = wm.max(Watermarks {
        block_slot: None,
        att_source: history.iter().map(|r| r.source).max(),
        att_target: history.iter().map(|r| r.target).max(),
    });
    if let Some(s) = wm.att_source.filter(|s| new.source < *s) {
        return Err(NotSafe::BelowLowWatermark { what: "source epoch", value: new.source, watermark: s });
    }
    if let Some(t) = wm.att_target.filter(|t| new.target <= *t) {
        return Err(NotSafe::BelowLowWatermark { what: "target epoch", value: new.target, watermark: t });
    }
    Ok(Safe::Valid)
}

/// The verdict on block `new` given the validator's blocks at `new.slot` or
/// later, and watermarks. A block at or below the newest slot signed or
/// imported is refused unless it repeats that exact block.
pub fn check_block(history: &[BlockRow], wm: &Watermarks, new: &BlockRow) -> Verdict {
    if let Some(prev) = history.iter().find(|r| r.slot == new.slot) {
        let newest = history.iter().map(|r| r.slot).max().max(wm.block_slot);
        match (same_root(prev.root, new.root) && newest == Some(new.slot), prev.imported) {
            (true, false) => return Ok(Safe::SameData),
            (false, _) => return Err(NotSafe::DoubleBlockProposal { slot: new.slot }),
            (true, true) => {}
        }
    }
    let newest = history.iter().map(|r| r.slot).max();
    if let Some(s) = wm.block_slot.max(newest).filter(|s| new.slot <= *s) {
        return Err(NotSafe::BelowLowWatermark { what: "slot", value: new.slot, watermark: s });
    }
    Ok(Safe::Valid)
}

/// The verdict on a message a key signs at most once per slot (a Gloas
/// payload attestation) at `slot` with `root`, given the root already
/// recorded at that slot (if any) and the newest slot recorded for the key:
/// the same root again is harmless, another root at the same slot is
/// refused, and so is a slot below the newest (its record may be pruned).
pub fn check_once_per_slot(slot: u64, root: Hash256, at_slot: Option<Hash256>, newest: Option<u64>) -> Verdict {
    match at_slot {
        Some(prev) if prev == root => Ok(Safe::SameData),
        Some(_) => Err(NotSafe::DoublePayloadAttestation { slot }),
        None => match newest.filter(|n| slot < *n) {
            Some(n) => Err(NotSafe::BelowLowWatermark { what: "payload attestation slot", value: slot, watermark: n }),
            None => Ok(Safe::Valid),
        },
    }
}

/// What the database keeps per validator beside the history: the maxima
/// (watermarks; imports and pruning only raise them) and the newest messages.
/// With it, a batch is decided without reading history, except to name the
/// reason of a refusal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Highest slot, source and target signed or imported.
    pub wm: Watermarks,
    /// The attestation at `wm.att_target`, if it is known.
    pub latest_att: Option<AttRow>,
    /// The block at `wm.block_slot`, if it is known.
    pub latest_block: Option<BlockRow>,
}

impl Summary {
    /// The verdict on `new` when it follows from the summary alone: `Valid`
    /// (newer than everything: nothing in the history can conflict) or
    /// `SameData` (an exact repeat of the newest vote signed here). `None`
    /// means refused; [`check_attestation`] over the history names the reason.
    pub fn fast_attestation(&self, new: &AttRow) -> Option<Verdict> {
        if new.source > new.target {
            return Some(Err(NotSafe::SourceGreaterThanTarget { source_epoch: new.source, target_epoch: new.target }));
        }
        let Some(t) = self.wm.att_target else { return Some(Ok(Safe::Valid)) };
        if new.target > t && self.wm.att_source.is_none_or(|s| new.source >= s) {
            return Some(Ok(Safe::Valid));
        }
        match self.latest_att {
            Some(l)
                if l.target == new.target && l.source == new.source && same_root(l.root, new.root) && !l.imported =>
            {
                Some(Ok(Safe::SameData))
            }
            _ => None,
        }
    }

    /// Records a `Valid` attestation.
    pub fn record_attestation(&mut self, new: &AttRow) {
        self.wm =
            self.wm.max(Watermarks { block_slot: None, att_source: Some(new.source), att_target: Some(new.target) });
        if self.wm.att_target == Some(new.target) {
            self.latest_att = Some(*new);
        }
    }

    /// Like [`Self::fast_attestation`], for blocks.
    pub fn fast_block(&self, new: &BlockRow) -> Option<Verdict> {
        let Some(s) = self.wm.block_slot else { return Some(Ok(Safe::Valid)) };
        if new.slot > s {
            return Some(Ok(Safe::Valid));
        }
        match self.latest_block {
            Some(l) if l.slot == new.slot && same_root(l.root, new.root) && !l.imported => Some(Ok(Safe::SameData)),
            _ => None,
        }
    }

    /// Records a `Valid` block.
    pub fn record_block(&mut self, new: &BlockRow) {
        self.wm = self.wm.max(Watermarks { block_slot: Some(new.slot), att_source: None, att_target: None });
        if self.wm.block_slot == Some(new.slot) {
            self.latest_block = Some(*new);
        }
    }

    /// Merges imported records (only raising; an existing newest message at
    /// the same height is kept).
    pub fn merge_import(&mut self, atts: &[AttRow], blocks: &[BlockRow]) {
        if let Some(top) = atts.iter().max_by_key(|a| a.target) {
            if self.wm.att_target.is_none_or(|t| top.target > t) {
                self.latest_att = atts.iter().find(|a| a.target == top.target).copied();
            }
        }
        if let Some(top) = blocks.iter().max_by_key(|b| b.slot) {
            if self.wm.block_slot.is_none_or(|s| top.slot > s) {
                self.latest_block = blocks.iter().find(|b| b.slot == top.slot).copied();
            }
        }
        self.wm = self.wm.max(Watermarks {
            block_slot: blocks.iter().map(|b| b.slot).max(),
            att_source: atts.iter().map(|a| a.source).max(),
            att_target: atts.iter().map(|a| a.target).max(),
        });
    }
}

/// Whether two attestations are slashable together (`is_slashable_attestation_data`).
pub fn slashable_pair(a: &AttRow, b: &AttRow) -> bool {
    (a.target == b.target && !(same_root(a.root, b.root) && a.source == b.source))
        || (a.source < b.source && b.target < a.target)
        || (b.source < a.source && a.target < b.target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(source: u64, target: u64) -> AttRow {
        AttRow { source, target, root: Some(Hash256::repeat_byte(target as u8)), imported: false }
    }

    /// Every slashing case, in a table.
    #[test]
    fn attestation_cases() {
        let h = [a(2, 3), a(5, 7)];
        let none = Watermarks::default();
        let cases: &[(AttRow, Verdict)] = &[
            (a(7, 8), Ok(Safe::Valid)),
            (a(5, 7), Ok(Safe::SameData)),
            (AttRow { root: None, ..a(5, 7) }, Err(NotSafe::DoubleVote { target: 7, existing_source: 5 })),
            (
                AttRow { root: Some(Hash256::ZERO), ..a(6, 7) },
                Err(NotSafe::DoubleVote { target: 7, existing_source: 5 }),
            ),
            (a(6, 6), Err(NotSafe::SurroundedByExisting { existing_source: 5, existing_target: 7 })),
            (a(4, 8), Err(NotSafe::SurroundsExisting { existing_source: 5, existing_target: 7 })),
            (a(1, 4), Err(NotSafe::SurroundsExisting { existing_source: 2, existing_target: 3 })),
            (a(9, 8), Err(NotSafe::SourceGreaterThanTarget { source_epoch: 9, target_epoch: 8 })),
            // Between the two: not slashable, but older than the newest vote.
            (a(3, 4), Err(NotSafe::BelowLowWatermark { what: "source epoch", value: 3, watermark: 5 })),
        ];
        for (new, want) in cases {
            assert_eq!(check_attestation(&h, &none, new), *want, "{new:?}");
        }
        let imported = [AttRow { imported: true, ..a(5, 7) }];
        assert!(matches!(
            check_attestation(&imported, &Watermarks::default(), &a(5, 7)),
            Err(NotSafe::BelowLowWatermark { .. })
        ));
        let wm = Watermarks { block_slot: None, att_source: Some(5), att_target: Some(7) };
        assert!(matches!(check_attestation(&h, &wm, &a(4, 9)), Err(NotSafe::SurroundsExisting { .. })));
        assert!(matches!(
            check_attestation(&[], &wm, &a(4, 9)),
            Err(NotSafe::BelowLowWatermark { what: "source epoch", .. })
        ));
        assert!(matches!(
            check_attestation(&[], &wm, &a(6, 7)),
            Err(NotSafe::BelowLowWatermark { what: "target epoch", .. })
        ));
        assert_eq!(check_attestation(&[], &wm, &a(5, 8)), Ok(Safe::Valid));
    }

    #[test]
    fn block_cases() {
        let root = |b| Some(Hash256::repeat_byte(b));
        let h = [BlockRow { slot: 10, root: root(1), imported: false }];
        let wm = Watermarks { block_slot: Some(10), ..Default::default() };
        assert_eq!(check_block(&h, &wm, &BlockRow { slot: 10, root: root(1), imported: false }), Ok(Safe::SameData));
        assert_eq!(
            check_block(&h, &wm, &BlockRow { slot: 10, root: root(2), imported: false }),
            Err(NotSafe::DoubleBlockProposal { slot: 10 })
        );
        assert_eq!(
            check_block(&h, &wm, &BlockRow { slot: 10, root: None, imported: false }),
            Err(NotSafe::DoubleBlockProposal { slot: 10 })
        );
        assert!(matches!(
            check_block(&[], &wm, &BlockRow { slot: 9, root: root(3), imported: false }),
            Err(NotSafe::BelowLowWatermark { .. })
        ));
        assert_eq!(check_block(&h, &wm, &BlockRow { slot: 11, root: root(3), imported: false }), Ok(Safe::Valid));
    }

    /// The summary's fast path agrees with the full rules over the history:
    /// where it answers, the answer is the same; where it does not, the full
    /// rules refuse.
    #[test]
    fn fast_path_agrees_with_full_rules() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..3_000 {
            let mut history: Vec<AttRow> = Vec::new();
            let mut summary = Summary::default();
            for _ in 0..rnd(8) {
                let t = rnd(12);
                let new = AttRow {
                    source: t.saturating_sub(rnd(4)),
                    target: t,
                    root: Some(Hash256::repeat_byte(rnd(2) as u8)),
                    imported: rnd(5) == 0,
                };
                let full = check_attestation(&history, &summary.wm, &new);
                if let Some(fast) = summary.fast_attestation(&new) {
                    assert_eq!(fast, full, "{new:?} after {history:?}");
                } else {
                    assert!(full.is_err(), "fast path refused {new:?} but rules allow it after {history:?}");
                }
                if full == Ok(Safe::Valid) {
                    if new.imported {
                        summary.merge_import(&[new], &[]);
                    } else {
                        summary.record_attestation(&new);
                    }
                    history.push(new);
                }
            }
        }
    }

    #[test]
    fn watermarks_only_rise() {
        let lo = Watermarks { block_slot: Some(5), att_source: None, att_target: Some(9) };
        let hi = Watermarks { block_slot: Some(3), att_source: Some(2), att_target: Some(10) };
        assert_eq!(lo.max(hi), Watermarks { block_slot: Some(5), att_source: Some(2), att_target: Some(10) });
    }
}
