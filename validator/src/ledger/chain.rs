//! Reading one epoch's [`Window`] from a beacon node: the canonical block
//! headers of the epoch and the next (an empty slot is a 404), each block by
//! its root, the committees, the proposers and the sync committee; and, where
//! the node serves it, the attestation rewards of the epoch.
//!
//! Nothing here trusts the node: bitfields are decoded strictly, the blocks
//! must form a chain ([`super::verdict::judge`] checks it), and a node that
//! does not serve the rewards route leaves the rewards view empty, not
//! wrong.

use super::verdict::{BlockFacts, Window};
use crate::beacon::{BeaconApi, BeaconError, Committees, NodeError};
use poolvc_signer::types::{Hash256, Preset};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// Why a window could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node failed.
    #[error("epoch {epoch}: {source}")]
    Node {
        /// The epoch being read.
        epoch: u64,
        /// The node's error.
        source: BeaconError,
    },
    /// The node answered with something malformed.
    #[error("epoch {epoch}: {what}: {reason}")]
    Malformed {
        /// The epoch being read.
        epoch: u64,
        /// Which answer.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

/// A canonical header: `(slot, root, parent)`.
pub type HeaderFact = (u64, Hash256, Hash256);

/// A digest of a window's canonical headers: two reads give the same digest
/// exactly when the window's blocks are the same (the reorg check).
pub fn digest(headers: &[HeaderFact]) -> [u8; 32] {
    let mut h = Sha256::new();
    for (slot, root, _) in headers {
        h.update(slot.to_le_bytes());
        h.update(root.as_slice());
    }
    h.finalize().into()
}

/// The canonical headers of slots `[from, to)`; an empty slot is skipped.
pub async fn headers<P: Preset>(
    beacon: &dyn BeaconApi<P>,
    epoch: u64,
    from: u64,
    to: u64,
    t: Duration,
) -> Result<Vec<HeaderFact>, ChainError> {
    let mut out = Vec::new();
    for slot in from..to {
        match beacon.block_header(&slot.to_string(), t).await {
            Ok((root, m)) => {
                if m.slot != slot {
                    return Err(ChainError::Malformed {
                        epoch,
                        what: format!("header of slot {slot}"),
                        reason: format!("it is the header of slot {}", m.slot),
                    });
                }
                out.push((slot, root, m.parent_root));
            }
            Err(BeaconError::NotServed { .. }) => {}
            Err(source) => return Err(ChainError::Node { epoch, source }),
        }
    }
    Ok(out)
}

/// Reads epoch `epoch`'s window (the caller waits until epoch + 1 is over).
/// Returns the window and the digest of its headers.
pub async fn read_window<P: Preset>(
    beacon: &dyn BeaconApi<P>,
    epoch: u64,
    spe: u64,
    t: Duration,
) -> Result<(Window, [u8; 32]), ChainError> {
    let node = |source| ChainError::Node { epoch, source };
    let malformed = |what: String, reason: String| ChainError::Malformed { epoch, what, reason };
    let start = epoch * spe;
    let hs = headers(beacon, epoch, start, start + 2 * spe, t).await?;
    // The genesis block (slot 0) carries no duties: it is the root before.
    let (genesis, judged): (Vec<HeaderFact>, Vec<HeaderFact>) = hs.iter().partition(|h| h.0 == 0);
    let mut blocks = Vec::with_capacity(judged.len());
    let mut withdrawal_requests = Vec::new();
    for (slot, root, parent) in &judged {
        let m = match beacon.block_participation(&root.to_string(), t).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(malformed(format!("block {root}"), "no node serves the block its header names".into()))
            }
            Err(BeaconError::Invalid { reason, .. }) => return Err(malformed(format!("block {root}"), reason)),
            Err(source) => return Err(node(source)),
        };
        if m.slot != *slot || m.parent != *parent {
            return Err(malformed(format!("block {root}"), "its slot or parent differs from its header".into()));
        }
        if *slot < start + spe {
            withdrawal_requests.extend(m.withdrawal_requests.iter().map(|r| (*slot, *r)));
        }
        blocks.push(BlockFacts {
            slot: *slot,
            root: *root,
            parent: *parent,
            proposer: m.proposer,
            attestations: m.attestations,
            sync_bits: m.sync_bits,
        });
    }
    let committees = beacon.committees(&start.to_string(), Committees::OfEpoch(epoch), t).await.map_err(node)?;
    if let Some(c) = committees.iter().find(|c| c.slot < start || c.slot >= start + spe) {
        return Err(malformed("committees".into(), format!("a committee of slot {}, outside the epoch", c.slot)));
    }
    let proposers = beacon.proposer_duties(epoch, t).await.map_err(node)?;
    let proposers = proposers.data.iter().map(|d| (d.slot, d.validator_index)).collect();
    let sync_committee = match beacon.sync_committee(&start.to_string(), epoch, t).await {
        Ok(validators) => validators,
        // Before Altair there is no sync committee.
        Err(e) if not_served(&e) => Vec::new(),
        Err(source) => return Err(node(source)),
    };
    let root_before = match genesis.first() {
        Some(g) => g.1,
        None => judged.first().map(|h| h.2).unwrap_or_default(),
    };
    let d = digest(&hs);
    let w = Window {
        epoch,
        slots_per_epoch: spe,
        committees,
        blocks,
        root_before,
        proposers,
        sync_committee,
        withdrawal_requests,
    };
    Ok((w, d))
}

/// Whether every node answered that it does not serve the route (404, 405,
/// 501) or does not have the object (400 for an epoch before a fork).
pub fn not_served(e: &BeaconError) -> bool {
    match e {
        BeaconError::NotServed { .. } => true,
        BeaconError::AllFailed { errors, .. } => {
            errors.iter().all(|n| matches!(n, NodeError::Status { status: 400 | 404 | 405 | 501, .. }))
        }
        _ => false,
    }
}

/// One validator's attestation reward of an epoch (the beacon route's type).
pub use crate::beacon::AttestationReward as Reward;

/// `POST /eth/v1/beacon/rewards/attestations/{epoch}` for `indices`;
/// `None` when the node does not serve the route.
pub async fn attestation_rewards<P: Preset>(
    beacon: &dyn BeaconApi<P>,
    epoch: u64,
    indices: &[u64],
    t: Duration,
) -> Result<Option<HashMap<u64, Reward>>, ChainError> {
    match beacon.attestation_rewards(epoch, indices, t).await {
        Ok(r) => Ok(Some(r)),
        Err(e) if not_served(&e) => Ok(None),
        Err(BeaconError::Invalid { reason, .. }) => {
            Err(ChainError::Malformed { epoch, what: "attestation rewards".into(), reason })
        }
        Err(source) => Err(ChainError::Node { epoch, source }),
    }
}
