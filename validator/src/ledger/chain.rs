//! Reading one epoch's [`Window`] from a beacon node: the canonical block
//! headers of the epoch and the next (an empty slot is a 404), each block by
//! its root, the committees, the proposers and the sync committee; and, where
//! the node serves it, the attestation rewards of the epoch.
//!
//! Nothing here trusts the node: bitfields are decoded strictly, the blocks
//! must form a chain ([`super::verdict::judge`] checks it), and a node that
//! does not serve the rewards route leaves the rewards view empty, not
//! wrong.

use super::verdict::{BlockFacts, Committee, IncludedAttestation, Window};
use crate::beacon::{BeaconClient, BeaconError, Data, NodeError};
use poolvc_signer::types::Hash256;
use serde::Deserialize;
use serde_json::Value;
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

#[derive(Deserialize)]
struct HeaderData {
    root: Hash256,
    header: SignedHeader,
}
#[derive(Deserialize)]
struct SignedHeader {
    message: HeaderMessage,
}
#[derive(Deserialize)]
struct HeaderMessage {
    #[serde(with = "serde_utils::quoted_u64")]
    slot: u64,
    #[serde(with = "serde_utils::quoted_u64")]
    proposer_index: u64,
    parent_root: Hash256,
}

#[derive(Deserialize)]
struct CommitteeJson {
    #[serde(with = "serde_utils::quoted_u64")]
    index: u64,
    #[serde(with = "serde_utils::quoted_u64")]
    slot: u64,
    #[serde(with = "serde_utils::quoted_u64_vec")]
    validators: Vec<u64>,
}

#[derive(Deserialize)]
struct SyncCommitteeJson {
    #[serde(with = "serde_utils::quoted_u64_vec")]
    validators: Vec<u64>,
}

#[derive(Deserialize)]
struct BlockEnvelope {
    data: SignedBlockJson,
}
#[derive(Deserialize)]
struct SignedBlockJson {
    message: BlockJson,
}
#[derive(Deserialize)]
struct BlockJson {
    #[serde(with = "serde_utils::quoted_u64")]
    slot: u64,
    #[serde(with = "serde_utils::quoted_u64")]
    proposer_index: u64,
    parent_root: Hash256,
    body: BodyJson,
}
#[derive(Deserialize)]
struct BodyJson {
    #[serde(default)]
    attestations: Vec<AttestationJson>,
    #[serde(default)]
    sync_aggregate: Option<SyncAggregateJson>,
}
#[derive(Deserialize)]
struct SyncAggregateJson {
    sync_committee_bits: String,
}
#[derive(Deserialize)]
struct AttestationJson {
    aggregation_bits: String,
    data: AttestationDataJson,
    #[serde(default)]
    committee_bits: Option<String>,
}
#[derive(Deserialize)]
struct AttestationDataJson {
    #[serde(with = "serde_utils::quoted_u64")]
    slot: u64,
    #[serde(with = "serde_utils::quoted_u64")]
    index: u64,
    beacon_block_root: Hash256,
    target: CheckpointJson,
}
#[derive(Deserialize)]
struct CheckpointJson {
    root: Hash256,
}

/// Hex (`0x…`) to bytes.
fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("not hex: {e}"))
}

/// An SSZ bitlist: the bits below the highest set bit of the last byte
/// (the length delimiter).
pub fn bitlist(s: &str) -> Result<Vec<bool>, String> {
    let bytes = hex_bytes(s)?;
    let last = *bytes.last().ok_or("an empty bitlist has no delimiter bit")?;
    if last == 0 {
        return Err("the bitlist's last byte has no delimiter bit".into());
    }
    let len = (bytes.len() - 1) * 8 + (7 - last.leading_zeros() as usize);
    Ok((0..len).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

/// An SSZ bitvector, every bit of every byte.
pub fn bitvector(s: &str) -> Result<Vec<bool>, String> {
    let bytes = hex_bytes(s)?;
    Ok((0..bytes.len() * 8).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

impl AttestationJson {
    fn facts(&self) -> Result<IncludedAttestation, String> {
        let committees = match &self.committee_bits {
            Some(cb) => {
                bitvector(cb)?.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| i as u64).collect::<Vec<_>>()
            }
            None => vec![self.data.index],
        };
        if committees.is_empty() {
            return Err("committee_bits names no committee".into());
        }
        Ok(IncludedAttestation {
            slot: self.data.slot,
            committees,
            bits: bitlist(&self.aggregation_bits)?,
            head: self.data.beacon_block_root,
            target: self.data.target.root,
        })
    }
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
pub async fn headers(
    beacon: &BeaconClient,
    epoch: u64,
    from: u64,
    to: u64,
    t: Duration,
) -> Result<Vec<HeaderFact>, ChainError> {
    let mut out = Vec::new();
    for slot in from..to {
        match beacon.get::<Data<HeaderData>>(&format!("/eth/v1/beacon/headers/{slot}"), t).await {
            Ok(d) => {
                let m = d.data.header.message;
                if m.slot != slot {
                    return Err(ChainError::Malformed {
                        epoch,
                        what: format!("header of slot {slot}"),
                        reason: format!("it is the header of slot {}", m.slot),
                    });
                }
                let _ = m.proposer_index;
                out.push((slot, d.data.root, m.parent_root));
            }
            Err(BeaconError::NotServed { .. }) => {}
            Err(source) => return Err(ChainError::Node { epoch, source }),
        }
    }
    Ok(out)
}

/// Reads epoch `epoch`'s window (the caller waits until epoch + 1 is over).
/// Returns the window and the digest of its headers.
pub async fn read_window(
    beacon: &BeaconClient,
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
    for (slot, root, parent) in &judged {
        let env: BlockEnvelope = beacon.get(&format!("/eth/v2/beacon/blocks/{root}"), t).await.map_err(node)?;
        let m = env.data.message;
        if m.slot != *slot || m.parent_root != *parent {
            return Err(malformed(format!("block {root}"), "its slot or parent differs from its header".into()));
        }
        let mut attestations = Vec::with_capacity(m.body.attestations.len());
        for (k, a) in m.body.attestations.iter().enumerate() {
            attestations.push(a.facts().map_err(|r| malformed(format!("block {root} attestation {k}"), r))?);
        }
        let sync_bits = match &m.body.sync_aggregate {
            Some(s) => {
                bitvector(&s.sync_committee_bits).map_err(|r| malformed(format!("block {root} sync bits"), r))?
            }
            None => Vec::new(),
        };
        blocks.push(BlockFacts {
            slot: *slot,
            root: *root,
            parent: *parent,
            proposer: m.proposer_index,
            attestations,
            sync_bits,
        });
    }
    let committees: Data<Vec<CommitteeJson>> =
        beacon.get(&format!("/eth/v1/beacon/states/{start}/committees?epoch={epoch}"), t).await.map_err(node)?;
    let committees = committees
        .data
        .into_iter()
        .map(|c| Committee { slot: c.slot, index: c.index, validators: c.validators })
        .collect::<Vec<_>>();
    if let Some(c) = committees.iter().find(|c| c.slot < start || c.slot >= start + spe) {
        return Err(malformed("committees".into(), format!("a committee of slot {}, outside the epoch", c.slot)));
    }
    let proposers = beacon.proposer_duties(epoch, t).await.map_err(node)?;
    let proposers = proposers.data.iter().map(|d| (d.slot, d.validator_index)).collect();
    let sync_committee = match beacon
        .get::<Data<SyncCommitteeJson>>(&format!("/eth/v1/beacon/states/{start}/sync_committees?epoch={epoch}"), t)
        .await
    {
        Ok(d) => d.data.validators,
        // Before Altair there is no sync committee.
        Err(e) if not_served(&e) => Vec::new(),
        Err(source) => return Err(node(source)),
    };
    let root_before = match genesis.first() {
        Some(g) => g.1,
        None => judged.first().map(|h| h.2).unwrap_or_default(),
    };
    let d = digest(&hs);
    Ok((Window { epoch, slots_per_epoch: spe, committees, blocks, root_before, proposers, sync_committee }, d))
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

/// One validator's attestation reward of an epoch: what it earned and
/// what it would have with perfect votes (gwei; head + target + source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reward {
    /// Earned (may be negative).
    pub actual: i64,
    /// The ideal for its effective balance.
    pub ideal: i64,
}

/// `POST /eth/v1/beacon/rewards/attestations/{epoch}` for `indices`, in
/// chunks; `None` when the node does not serve the route.
pub async fn attestation_rewards(
    beacon: &BeaconClient,
    epoch: u64,
    indices: &[u64],
    t: Duration,
) -> Result<Option<HashMap<u64, Reward>>, ChainError> {
    let mut out = HashMap::new();
    for chunk in indices.chunks(crate::beacon::BULK_CHUNK) {
        let body: Vec<String> = chunk.iter().map(|i| i.to_string()).collect();
        let v: Value = match beacon
            .post_for_keys(&format!("/eth/v1/beacon/rewards/attestations/{epoch}"), &body, chunk.len(), t)
            .await
        {
            Ok(v) => v,
            Err(e) if not_served(&e) => return Ok(None),
            Err(source) => return Err(ChainError::Node { epoch, source }),
        };
        parse_rewards(&v, &mut out).map_err(|reason| ChainError::Malformed {
            epoch,
            what: "attestation rewards".into(),
            reason,
        })?;
    }
    Ok(Some(out))
}

fn num(v: &Value, field: &str) -> Result<i64, String> {
    match v.get(field) {
        None => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| format!("{field} is not an integer: {s:?}")),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("{field} is not an integer")),
        Some(other) => Err(format!("{field} is not an integer: {other}")),
    }
}

/// Sums head + target + source of each validator's total and of the ideal
/// for its effective balance.
fn parse_rewards(v: &Value, out: &mut HashMap<u64, Reward>) -> Result<(), String> {
    let data = v.get("data").ok_or("no data")?;
    let arr = |k: &str| data.get(k).and_then(Value::as_array).ok_or_else(|| format!("no {k} array"));
    let sum = |e: &Value| -> Result<i64, String> { Ok(num(e, "head")? + num(e, "target")? + num(e, "source")?) };
    let mut ideal_by_balance = HashMap::new();
    for e in arr("ideal_rewards")? {
        ideal_by_balance.insert(num(e, "effective_balance")?, sum(e)?);
    }
    for e in arr("total_rewards")? {
        let index = num(e, "validator_index")?;
        let index = u64::try_from(index).map_err(|_| format!("validator_index {index} is negative"))?;
        out.insert(index, Reward { actual: sum(e)?, ideal: 0 });
    }
    // The ideal needs each validator's effective balance, which the total
    // entries do not carry: with one balance class (the common case) it is
    // that class's; otherwise the largest ideal bounds it from above.
    let ideal = ideal_by_balance.values().copied().max().unwrap_or(0);
    for r in out.values_mut() {
        if r.ideal == 0 {
            r.ideal = ideal;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bitlists_keep_the_bits_below_the_delimiter() {
        assert_eq!(bitlist("0x0d").unwrap(), vec![true, false, true]);
        assert_eq!(bitlist("0xff01").unwrap().len(), 8);
        assert!(bitlist("0x").is_err());
        assert!(bitlist("0x0100").is_err(), "a zero last byte has no delimiter");
        assert!(bitlist("0xzz").is_err());
        assert_eq!(bitvector("0x0300").unwrap().iter().filter(|b| **b).count(), 2);
    }

    #[test]
    fn electra_attestations_name_the_committees_of_their_bits() {
        let a: AttestationJson = serde_json::from_value(serde_json::json!({
            "aggregation_bits": "0x0b", "committee_bits": "0x0500000000000000",
            "data": {"slot": "9", "index": "0", "beacon_block_root": format!("0x{}", "11".repeat(32)),
                "source": {"epoch": "0", "root": format!("0x{}", "00".repeat(32))},
                "target": {"epoch": "1", "root": format!("0x{}", "22".repeat(32))}},
            "signature": "0x00"
        }))
        .unwrap();
        let f = a.facts().unwrap();
        assert_eq!(f.committees, vec![0, 2]);
        assert_eq!(f.bits, vec![true, true, false]);
        let none: AttestationJson = serde_json::from_value(serde_json::json!({
            "aggregation_bits": "0x03", "committee_bits": "0x0000000000000000",
            "data": {"slot": "9", "index": "0", "beacon_block_root": format!("0x{}", "11".repeat(32)),
                "target": {"epoch": "1", "root": format!("0x{}", "22".repeat(32))}}
        }))
        .unwrap();
        assert!(none.facts().is_err());
    }

    #[test]
    fn rewards_sum_head_target_and_source() {
        let v = serde_json::json!({"data": {
            "ideal_rewards": [{"effective_balance": "32000000000", "head": "10", "target": "20", "source": "11", "inclusion_delay": "0", "inactivity": "0"}],
            "total_rewards": [{"validator_index": "7", "head": "0", "target": "-20", "source": "11"},
                              {"validator_index": "8", "head": "10", "target": "20", "source": "11"}]}});
        let mut out = HashMap::new();
        parse_rewards(&v, &mut out).unwrap();
        assert_eq!(out[&7], Reward { actual: -9, ideal: 41 });
        assert_eq!(out[&8], Reward { actual: 41, ideal: 41 });
        assert!(parse_rewards(&serde_json::json!({"data": {}}), &mut out).is_err());
    }
}
