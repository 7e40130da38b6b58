//! The batch decision both backends share: decide every message from the
//! per-validator [`Summary`] in one pass (no history read), then, only if
//! something was refused, read the history once to name each refusal.
//!
//! Invariant: the summary alone decides what is allowed; the history only
//! names reasons. A refusal can never turn into an allowance in the second
//! pass (a defensive fallback keeps it refused).

use super::rules::{check_attestation, check_block, AttRow, BlockRow, Summary, Watermarks};
use super::{AttestationRecord, BlockRecord, NotSafe, Safe, Verdict};
use crate::types::PublicKeyBytes;
use std::collections::HashMap;

/// A validator's row as loaded (and locked) for a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyState {
    pub id: i64,
    pub enabled: bool,
    pub summary: Summary,
    /// The summary changed and must be written back.
    pub dirty: bool,
}

/// The summary columns both backends select, in this order.
pub(crate) const SUMMARY_COLUMNS: &str = "id, enabled, block_slot, block_root, block_known, block_imported, \
     att_source, att_target, att_target_source, att_target_root, att_known, att_imported, pubkey";

/// A summary row's columns as read, before they mean anything (one place
/// maps them to a [`KeyState`] for both backends).
pub(crate) struct SummaryColumns {
    pub id: i64,
    pub enabled: bool,
    pub block_slot: Option<i64>,
    pub block_root: Option<Vec<u8>>,
    pub block_known: bool,
    pub block_imported: bool,
    pub att_source: Option<i64>,
    pub att_target: Option<i64>,
    pub att_target_source: Option<i64>,
    pub att_target_root: Option<Vec<u8>>,
    pub att_known: bool,
    pub att_imported: bool,
    pub pubkey: Vec<u8>,
}

impl SummaryColumns {
    /// The key and its state. Stored numbers were written from `u64`s that
    /// fit `i64` (checked on the way in), so the casts are lossless.
    pub fn into_state(self) -> Result<(PublicKeyBytes, KeyState), super::SlashingError> {
        let u = |v: Option<i64>| v.map(|x| x as u64);
        let block_slot = u(self.block_slot);
        let latest_block = match (block_slot, self.block_known) {
            (Some(slot), true) => {
                Some(BlockRow { slot, root: super::blob_root(self.block_root)?, imported: self.block_imported })
            }
            _ => None,
        };
        let att_target = u(self.att_target);
        let latest_att = match (att_target, u(self.att_target_source), self.att_known) {
            (Some(target), Some(source), true) => Some(AttRow {
                source,
                target,
                root: super::blob_root(self.att_target_root)?,
                imported: self.att_imported,
            }),
            _ => None,
        };
        let summary = Summary {
            wm: Watermarks { block_slot, att_source: u(self.att_source), att_target },
            latest_att,
            latest_block,
        };
        Ok((super::pubkey_of(self.pubkey)?, KeyState { id: self.id, enabled: self.enabled, summary, dirty: false }))
    }
}

/// First-pass result.
pub(crate) struct Decision<R> {
    /// Final verdicts; `None` for refusals whose reason is still to be named.
    pub verdicts: Vec<Option<Verdict>>,
    /// Allowed new messages: (batch index, validator id, row).
    pub accepted: Vec<(usize, i64, R)>,
    /// Refusals to name: (batch index, validator id, watermarks at that point).
    pub pending: Vec<(usize, i64, Watermarks)>,
}

fn key_verdict(keys: &HashMap<PublicKeyBytes, KeyState>, pk: &PublicKeyBytes) -> Result<i64, NotSafe> {
    match keys.get(pk) {
        None => Err(NotSafe::UnregisteredValidator),
        Some(k) if !k.enabled => Err(NotSafe::DisabledValidator),
        Some(k) => Ok(k.id),
    }
}

/// The attestation row of a record.
pub(crate) fn att_row(a: &AttestationRecord) -> AttRow {
    AttRow { source: a.source_epoch, target: a.target_epoch, root: a.signing_root, imported: false }
}

/// The block row of a record.
pub(crate) fn block_row(b: &BlockRecord) -> BlockRow {
    BlockRow { slot: b.slot, root: b.signing_root, imported: false }
}

/// First pass over attestations, in order, updating summaries.
pub(crate) fn decide_attestations(
    batch: &[AttestationRecord],
    keys: &mut HashMap<PublicKeyBytes, KeyState>,
) -> Decision<AttRow> {
    let mut d = Decision { verdicts: Vec::with_capacity(batch.len()), accepted: Vec::new(), pending: Vec::new() };
    for (i, a) in batch.iter().enumerate() {
        let id = match key_verdict(keys, &a.pubkey) {
            Ok(id) => id,
            Err(e) => {
                d.verdicts.push(Some(Err(e)));
                continue;
            }
        };
        let Some(k) = keys.get_mut(&a.pubkey) else { continue };
        let new = att_row(a);
        match k.summary.fast_attestation(&new) {
            Some(Ok(Safe::Valid)) => {
                k.summary.record_attestation(&new);
                k.dirty = true;
                d.accepted.push((i, id, new));
                d.verdicts.push(Some(Ok(Safe::Valid)));
            }
            Some(v) => d.verdicts.push(Some(v)),
            None => {
                d.pending.push((i, id, k.summary.wm));
                d.verdicts.push(None);
            }
        }
    }
    d
}

/// First pass over blocks.
pub(crate) fn decide_blocks(batch: &[BlockRecord], keys: &mut HashMap<PublicKeyBytes, KeyState>) -> Decision<BlockRow> {
    let mut d = Decision { verdicts: Vec::with_capacity(batch.len()), accepted: Vec::new(), pending: Vec::new() };
    for (i, b) in batch.iter().enumerate() {
        let id = match key_verdict(keys, &b.pubkey) {
            Ok(id) => id,
            Err(e) => {
                d.verdicts.push(Some(Err(e)));
                continue;
            }
        };
        let Some(k) = keys.get_mut(&b.pubkey) else { continue };
        let new = block_row(b);
        match k.summary.fast_block(&new) {
            Some(Ok(Safe::Valid)) => {
                k.summary.record_block(&new);
                k.dirty = true;
                d.accepted.push((i, id, new));
                d.verdicts.push(Some(Ok(Safe::Valid)));
            }
            Some(v) => d.verdicts.push(Some(v)),
            None => {
                d.pending.push((i, id, k.summary.wm));
                d.verdicts.push(None);
            }
        }
    }
    d
}

/// Second pass: names each pending refusal from `history` (rows of the
/// pending validators with target >= the smallest pending source) plus the
/// batch's earlier accepted rows.
pub(crate) fn name_attestation_refusals(
    batch: &[AttestationRecord],
    d: Decision<AttRow>,
    history: &HashMap<i64, Vec<AttRow>>,
) -> Vec<Verdict> {
    let mut verdicts = d.verdicts;
    for (i, id, wm) in &d.pending {
        let mut h: Vec<AttRow> = history.get(id).cloned().unwrap_or_default();
        h.extend(d.accepted.iter().filter(|(j, aid, _)| j < i && aid == id).map(|(_, _, r)| *r));
        let new = att_row(&batch[*i]);
        let v = match check_attestation(&h, wm, &new) {
            Err(e) => Err(e),
            // Cannot happen (the summary refused it); stay refused regardless.
            Ok(_) => Err(NotSafe::BelowLowWatermark {
                what: "target epoch",
                value: new.target,
                watermark: wm.att_target.unwrap_or_default(),
            }),
        };
        verdicts[*i] = Some(v);
    }
    verdicts.into_iter().map(|v| v.unwrap_or(Err(NotSafe::UnregisteredValidator))).collect()
}

/// Second pass for blocks.
pub(crate) fn name_block_refusals(
    batch: &[BlockRecord],
    d: Decision<BlockRow>,
    history: &HashMap<i64, Vec<BlockRow>>,
) -> Vec<Verdict> {
    let mut verdicts = d.verdicts;
    for (i, id, wm) in &d.pending {
        let mut h: Vec<BlockRow> = history.get(id).cloned().unwrap_or_default();
        h.extend(d.accepted.iter().filter(|(j, aid, _)| j < i && aid == id).map(|(_, _, r)| *r));
        let new = block_row(&batch[*i]);
        let v = match check_block(&h, wm, &new) {
            Err(e) => Err(e),
            Ok(_) => Err(NotSafe::BelowLowWatermark {
                what: "slot",
                value: new.slot,
                watermark: wm.block_slot.unwrap_or_default(),
            }),
        };
        verdicts[*i] = Some(v);
    }
    verdicts.into_iter().map(|v| v.unwrap_or(Err(NotSafe::UnregisteredValidator))).collect()
}
