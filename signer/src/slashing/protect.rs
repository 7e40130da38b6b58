//! The one protected batch: what both gates (the client's validator store
//! and `poolvc signer`'s) do between "this message is acceptable" and "sign
//! it". Each message's record is built from what the message is
//! ([`Slashable`], derived from the message), attestations and blocks are
//! checked and inserted in one transaction each, and each message gets its
//! verdict back in order; a database error is kept apart from a verdict.
//!
//! Invariant: a message whose class is not [`Slashable::No`] is
//! [`Protection::Safe`] only if its record is now in the database (or was
//! already, with the same signing root) or, for a Gloas envelope, the block
//! it names is the one the same key's record holds at its slot; on a
//! database error nothing is safe.

use super::{AttestationRecord, BlockRecord, NotSafe, OncePerSlotRecord, Safe, SlashingDatabase, SlashingError};
use crate::types::{Hash256, PublicKeyBytes, Slashable};

/// One message to protect: the key, what it records, its signing root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToProtect {
    /// The signing key.
    pub pubkey: PublicKeyBytes,
    /// What slashing protection records (from `SignableMessage::slashable`).
    pub slashable: Slashable,
    /// The root that will be signed.
    pub signing_root: Hash256,
}

/// One message's protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// The message cannot be slashed: nothing was checked or recorded.
    NotSlashable,
    /// Checked and recorded: it may be signed.
    Safe(Safe),
    /// Slashable (or otherwise refused): it must not be signed.
    Refused(NotSafe),
}

impl Protection {
    /// Whether the message may be signed.
    pub fn may_sign(&self) -> bool {
        matches!(self, Self::NotSlashable | Self::Safe(_))
    }
}

/// Checks and records `batch` in `db`: one check-and-insert for its
/// attestations, one for its blocks. The answer has one [`Protection`] per
/// message, in order. Blocking (a database call).
pub fn protect(db: &dyn SlashingDatabase, batch: &[ToProtect]) -> Result<Vec<Protection>, SlashingError> {
    let atts: Vec<AttestationRecord> = batch
        .iter()
        .filter_map(|m| match m.slashable {
            Slashable::Attestation { source, target } => Some(AttestationRecord {
                pubkey: m.pubkey,
                source_epoch: source,
                target_epoch: target,
                signing_root: Some(m.signing_root),
            }),
            _ => None,
        })
        .collect();
    let blocks: Vec<BlockRecord> = batch
        .iter()
        .filter_map(|m| match m.slashable {
            Slashable::Block { slot } => {
                Some(BlockRecord { pubkey: m.pubkey, slot, signing_root: Some(m.signing_root) })
            }
            _ => None,
        })
        .collect();
    let ptc: Vec<OncePerSlotRecord> = batch
        .iter()
        .filter_map(|m| match m.slashable {
            Slashable::PayloadAttestation { slot } => {
                Some(OncePerSlotRecord { pubkey: m.pubkey, slot, signing_root: m.signing_root })
            }
            _ => None,
        })
        .collect();
    let att_verdicts = if atts.is_empty() { Vec::new() } else { db.check_and_insert_attestations(&atts)? };
    let ptc_verdicts = if ptc.is_empty() { Vec::new() } else { db.check_and_insert_payload_attestations(&ptc)? };
    if ptc_verdicts.len() != ptc.len() {
        return Err(SlashingError::Corrupt(format!(
            "the database answered {} verdicts for {} payload attestations",
            ptc_verdicts.len(),
            ptc.len()
        )));
    }
    let block_verdicts = if blocks.is_empty() { Vec::new() } else { db.check_and_insert_blocks(&blocks)? };
    if att_verdicts.len() != atts.len() || block_verdicts.len() != blocks.len() {
        return Err(SlashingError::Corrupt(format!(
            "the database answered {} verdicts for {} attestations and {} for {} blocks",
            att_verdicts.len(),
            atts.len(),
            block_verdicts.len(),
            blocks.len()
        )));
    }
    let (mut a, mut b, mut p) = (att_verdicts.into_iter(), block_verdicts.into_iter(), ptc_verdicts.into_iter());
    let mut out = Vec::with_capacity(batch.len());
    for m in batch {
        let verdict = match m.slashable {
            Slashable::No => {
                out.push(Protection::NotSlashable);
                continue;
            }
            Slashable::Attestation { .. } => a.next(),
            Slashable::Block { .. } => b.next(),
            Slashable::PayloadAttestation { .. } => p.next(),
            // Recorded nowhere: signed only if the same key's block at that
            // slot is the one the envelope names.
            Slashable::Envelope { slot, block_root, block_signing_root } => {
                Some(match db.signed_block_root(&m.pubkey, slot)? {
                    Some(r) if r == block_signing_root => Ok(Safe::SameData),
                    _ => Err(NotSafe::EnvelopeOfUnsignedBlock { slot, block_root }),
                })
            }
        };
        out.push(match verdict {
            Some(Ok(s)) => Protection::Safe(s),
            Some(Err(e)) => Protection::Refused(e),
            // The counts were checked above.
            None => return Err(SlashingError::Corrupt("a message without its verdict".into())),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slashing::sqlite::SqliteSlashingDb;

    fn pk(b: u8) -> PublicKeyBytes {
        PublicKeyBytes::from([b; 48])
    }

    #[test]
    fn each_message_gets_its_own_verdict_in_order() {
        let db = SqliteSlashingDb::in_memory(Hash256::repeat_byte(1)).unwrap_or_else(|e| panic!("{e}"));
        db.register_validators(&[pk(1), pk(2)]).unwrap_or_else(|e| panic!("{e}"));
        let att = |p, target, root| ToProtect {
            pubkey: pk(p),
            slashable: Slashable::Attestation { source: 0, target },
            signing_root: Hash256::repeat_byte(root),
        };
        let block = |p, slot, root| ToProtect {
            pubkey: pk(p),
            slashable: Slashable::Block { slot },
            signing_root: Hash256::repeat_byte(root),
        };
        let free = ToProtect { pubkey: pk(1), slashable: Slashable::No, signing_root: Hash256::repeat_byte(9) };
        let first =
            protect(&db, &[att(1, 5, 1), free, block(2, 10, 2), att(2, 5, 3)]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            first,
            vec![
                Protection::Safe(Safe::Valid),
                Protection::NotSlashable,
                Protection::Safe(Safe::Valid),
                Protection::Safe(Safe::Valid)
            ]
        );
        // A double vote and a double proposal are refused; the same root
        // again is harmless; the free message is never recorded.
        let again =
            protect(&db, &[block(2, 10, 7), att(1, 5, 1), att(2, 5, 4), free]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(again[0], Protection::Refused(_)), "{again:?}");
        assert_eq!(again[1], Protection::Safe(Safe::SameData));
        assert!(matches!(again[2], Protection::Refused(_)), "{again:?}");
        assert_eq!(again[3], Protection::NotSlashable);
        assert!(again[3].may_sign() && again[1].may_sign() && !again[0].may_sign());
    }

    #[test]
    fn an_unregistered_key_is_refused_not_signed() {
        let db = SqliteSlashingDb::in_memory(Hash256::repeat_byte(1)).unwrap_or_else(|e| panic!("{e}"));
        let m =
            ToProtect { pubkey: pk(3), slashable: Slashable::Block { slot: 1 }, signing_root: Hash256::repeat_byte(1) };
        // Refused, or a database error: never safe to sign.
        if let Ok(v) = protect(&db, &[m]) {
            assert!(!v[0].may_sign(), "{v:?}");
        }
    }
}
