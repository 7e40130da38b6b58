//! Who took part in a block, read strictly: its proposer, and each carried
//! attestation's committees and aggregation bits; its sync aggregate's bits;
//! and the EIP-7002 withdrawal requests it carries (exits and partial
//! withdrawals asked for from the execution layer, Electra on).
//! The one reader of `GET /eth/v2/beacon/blocks/{id}` for participation,
//! shared by doppelganger protection and the performance ledger.
//!
//! Nothing is guessed: a bitlist without its delimiter bit, bits that are
//! not hex, a `committee_bits` naming no committee, or a missing field make
//! the whole block malformed (an error naming what), never "not seen".

use super::client::BeaconClient;
use super::error::{AnswerError, BeaconError};
use poolvc_signer::types::{Address, Hash256, PublicKeyBytes};
use serde::Deserialize;
use std::time::Duration;

/// An attestation as carried in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedBits {
    /// `data.slot`.
    pub slot: u64,
    /// The committees its bits cover, in order: `[data.index]` before
    /// Electra, the set `committee_bits` (ascending) from Electra on.
    pub committees: Vec<u64>,
    /// The aggregation bits over those committees, concatenated.
    pub bits: Vec<bool>,
    /// `data.beacon_block_root`.
    pub head: Hash256,
    /// `data.target.root`.
    pub target: Hash256,
}

/// What a block says about who took part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockParticipation {
    /// Slot.
    pub slot: u64,
    /// Proposer index.
    pub proposer: u64,
    /// Parent root.
    pub parent: Hash256,
    /// The attestations it carries, in block order.
    pub attestations: Vec<IncludedBits>,
    /// Its sync aggregate's bits (empty before Altair).
    pub sync_bits: Vec<bool>,
    /// The withdrawal requests this block processes, in order: its own
    /// `execution_requests.withdrawals` (Electra, Fulu), or from Gloas on
    /// its parent payload's (`parent_execution_requests`, the parent's
    /// envelope's, which the bid committed to); empty before Electra.
    pub withdrawal_requests: Vec<WithdrawalRequest>,
}

/// An EIP-7002 withdrawal request, as processed by the consensus layer
/// (`process_withdrawal_request`): a full exit when `amount_gwei` is 0
/// (`FULL_EXIT_REQUEST_AMOUNT`), else a partial withdrawal. Only the key's
/// own withdrawal address can make one count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithdrawalRequest {
    /// The address that sent it (the execution-layer caller).
    pub source_address: Address,
    /// The validator it is for.
    pub pubkey: PublicKeyBytes,
    /// Gwei; 0 asks for a full exit.
    pub amount_gwei: u64,
}

impl WithdrawalRequest {
    /// `amount == FULL_EXIT_REQUEST_AMOUNT`.
    pub fn is_full_exit(&self) -> bool {
        self.amount_gwei == 0
    }
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
    #[serde(default)]
    execution_requests: Option<ExecutionRequestsJson>,
    /// Gloas on: the requests of the parent's payload (its envelope's),
    /// which this block processes.
    #[serde(default)]
    parent_execution_requests: Option<ExecutionRequestsJson>,
}
#[derive(Deserialize)]
struct ExecutionRequestsJson {
    #[serde(default)]
    withdrawals: Vec<WithdrawalRequestJson>,
}
#[derive(Deserialize)]
struct WithdrawalRequestJson {
    source_address: String,
    validator_pubkey: String,
    #[serde(with = "serde_utils::quoted_u64")]
    amount: u64,
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

/// Why a block's participation could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParticipationError {
    /// Bits that are not hex.
    #[error("not hex: {0}")]
    Hex(#[from] hex::FromHexError),
    /// A bitlist without its delimiter bit.
    #[error("the bitlist has no delimiter bit")]
    NoDelimiter,
    /// `committee_bits` naming no committee.
    #[error("committee_bits names no committee")]
    NoCommittee,
    /// The block is not the JSON the API specifies.
    #[error("{0}")]
    Json(String),
    /// One attestation of the block.
    #[error("attestation {index}: {source}")]
    Attestation {
        /// Its position in the block.
        index: usize,
        /// What is wrong.
        source: Box<ParticipationError>,
    },
    /// The sync aggregate's bits.
    #[error("sync bits: {0}")]
    SyncBits(Box<ParticipationError>),
    /// One withdrawal request of the block.
    #[error("execution_requests.withdrawals[{index}]: {what}")]
    WithdrawalRequest {
        /// Its position in the block.
        index: usize,
        /// What is wrong.
        what: String,
    },
}

/// Hex (`0x…`) to bytes.
fn hex_bytes(s: &str) -> Result<Vec<u8>, ParticipationError> {
    Ok(hex::decode(s.strip_prefix("0x").unwrap_or(s))?)
}

/// An SSZ bitlist: the bits below the highest set bit of the last byte
/// (the length delimiter).
pub fn bitlist(s: &str) -> Result<Vec<bool>, ParticipationError> {
    let bytes = hex_bytes(s)?;
    let last = *bytes.last().ok_or(ParticipationError::NoDelimiter)?;
    if last == 0 {
        return Err(ParticipationError::NoDelimiter);
    }
    let len = (bytes.len() - 1) * 8 + (7 - last.leading_zeros() as usize);
    Ok((0..len).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

/// An SSZ bitvector, every bit of every byte.
pub fn bitvector(s: &str) -> Result<Vec<bool>, ParticipationError> {
    let bytes = hex_bytes(s)?;
    Ok((0..bytes.len() * 8).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

impl AttestationJson {
    fn bits(&self) -> Result<IncludedBits, ParticipationError> {
        let committees = match &self.committee_bits {
            Some(cb) => {
                bitvector(cb)?.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| i as u64).collect::<Vec<_>>()
            }
            None => vec![self.data.index],
        };
        if committees.is_empty() {
            return Err(ParticipationError::NoCommittee);
        }
        Ok(IncludedBits {
            slot: self.data.slot,
            committees,
            bits: bitlist(&self.aggregation_bits)?,
            head: self.data.beacon_block_root,
            target: self.data.target.root,
        })
    }
}

impl BlockJson {
    fn participation(&self) -> Result<BlockParticipation, ParticipationError> {
        let mut attestations = Vec::with_capacity(self.body.attestations.len());
        for (index, a) in self.body.attestations.iter().enumerate() {
            attestations.push(a.bits().map_err(|e| ParticipationError::Attestation { index, source: Box::new(e) })?);
        }
        let sync_bits = match &self.body.sync_aggregate {
            Some(s) => bitvector(&s.sync_committee_bits).map_err(|e| ParticipationError::SyncBits(Box::new(e)))?,
            None => Vec::new(),
        };
        // Before Gloas a block carries its own payload's requests; from
        // Gloas on its parent's (the envelope's), processed by this block.
        let carried = self.body.execution_requests.as_ref().or(self.body.parent_execution_requests.as_ref());
        let requests = carried.map_or(&[][..], |r| &r.withdrawals[..]);
        let mut withdrawal_requests = Vec::with_capacity(requests.len());
        for (index, r) in requests.iter().enumerate() {
            withdrawal_requests.push(r.read().map_err(|what| ParticipationError::WithdrawalRequest { index, what })?);
        }
        Ok(BlockParticipation {
            slot: self.slot,
            proposer: self.proposer_index,
            parent: self.parent_root,
            attestations,
            sync_bits,
            withdrawal_requests,
        })
    }
}

impl WithdrawalRequestJson {
    fn read(&self) -> Result<WithdrawalRequest, String> {
        let bytes = |s: &str, n: usize, what: &str| match hex_bytes(s) {
            Ok(b) if b.len() == n => Ok(b),
            Ok(b) => Err(format!("{what} is {} bytes, not {n}", b.len())),
            Err(e) => Err(format!("{what}: {e}")),
        };
        let source = bytes(&self.source_address, 20, "source_address")?;
        let pubkey = bytes(&self.validator_pubkey, 48, "validator_pubkey")?;
        Ok(WithdrawalRequest {
            source_address: Address::from_slice(&source),
            pubkey: PublicKeyBytes::from_slice(&pubkey),
            amount_gwei: self.amount,
        })
    }
}

/// Reads participation from a block's JSON (`{"data": {"message": ..}}`).
pub fn read_block(json: &[u8]) -> Result<BlockParticipation, ParticipationError> {
    let env: BlockEnvelope = serde_json::from_slice(json).map_err(|e| ParticipationError::Json(e.to_string()))?;
    env.data.message.participation()
}

impl BeaconClient {
    /// `GET /eth/v2/beacon/blocks/{id}` (`id` a slot or a root) read for
    /// participation; `None` when every node says there is no such block (an
    /// empty slot). A node whose block is malformed is passed over for the
    /// next; if every node's is, the error names what is wrong.
    pub async fn block_participation(&self, id: &str, t: Duration) -> Result<Option<BlockParticipation>, BeaconError> {
        let path = format!("/eth/v2/beacon/blocks/{id}");
        let strict = |e: &BlockEnvelope| e.data.message.participation().map(|_| ()).map_err(AnswerError::from);
        let env: BlockEnvelope = match self.get_checked(&path, t, strict).await {
            Ok(b) => b,
            Err(BeaconError::NotServed { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        env.data
            .message
            .participation()
            .map(Some)
            .map_err(|e| BeaconError::Invalid { url: path, reason: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn block(att_bits: &str, committee_bits: Option<&str>, sync_bits: &str) -> Vec<u8> {
        let cb = committee_bits.map(|c| format!(r#","committee_bits":"{c}""#)).unwrap_or_default();
        let zero = format!("0x{}", "00".repeat(32));
        format!(
            r#"{{"data":{{"message":{{"slot":"9","proposer_index":"4","parent_root":"{zero}","body":{{
            "attestations":[{{"aggregation_bits":"{att_bits}"{cb},"data":{{"slot":"8","index":"0",
            "beacon_block_root":"{zero}","target":{{"root":"{zero}"}}}}}}],
            "sync_aggregate":{{"sync_committee_bits":"{sync_bits}"}}}}}}}}}}"#
        )
        .into_bytes()
    }

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
    fn reads_bits_and_committees() {
        let p = read_block(&block("0x0d", Some("0x0a"), "0x01")).unwrap();
        assert_eq!((p.slot, p.proposer), (9, 4));
        assert_eq!(p.attestations[0].committees, vec![1, 3]);
        assert_eq!(p.attestations[0].bits, vec![true, false, true]);
        assert_eq!(p.sync_bits, vec![true, false, false, false, false, false, false, false]);
        let before_electra = read_block(&block("0x03", None, "0x00")).unwrap();
        assert_eq!(before_electra.attestations[0].committees, vec![0]);
    }

    #[test]
    fn malformed_bits_are_errors_not_absence() {
        for (bits, cb, sync, what) in [
            ("0x00", None, "0x00", "delimiter"),
            ("0x", None, "0x00", "delimiter"),
            ("zz", None, "0x00", "not hex"),
            ("0x03", Some("0x00"), "0x00", "names no committee"),
            ("0x03", None, "0xq1", "sync bits"),
        ] {
            let e = read_block(&block(bits, cb, sync)).unwrap_err().to_string();
            assert!(e.contains(what), "{bits} {cb:?} {sync}: {e}");
        }
        assert!(read_block(br#"{"data":{"message":{"slot":"1"}}}"#).is_err());
    }

    /// `execution_requests.withdrawals` as the Beacon API gives them
    /// (Electra's `WithdrawalRequest`): a full exit (amount 0) and a partial
    /// withdrawal read, and the same as a Gloas block's
    /// `parent_execution_requests`; a short key or bad hex makes the block
    /// malformed.
    #[test]
    fn reads_eip7002_withdrawal_requests() {
        let with = |requests: &str| {
            let b = String::from_utf8(block("0x03", None, "0x00")).unwrap();
            b.replacen(r#""sync_aggregate""#, &format!(r#""execution_requests":{{"deposits":[],"withdrawals":[{requests}],"consolidations":[]}},"sync_aggregate""#), 1)
                .into_bytes()
        };
        let (src, pk) = (format!("0x{}", "ab".repeat(20)), format!("0x{}", "cd".repeat(48)));
        let two = format!(
            r#"{{"source_address":"{src}","validator_pubkey":"{pk}","amount":"0"}},
               {{"source_address":"{src}","validator_pubkey":"{pk}","amount":"1000000000"}}"#
        );
        let p = read_block(&with(&two)).unwrap();
        assert_eq!(p.withdrawal_requests.len(), 2);
        assert!(p.withdrawal_requests[0].is_full_exit() && !p.withdrawal_requests[1].is_full_exit());
        assert_eq!(p.withdrawal_requests[1].amount_gwei, 1_000_000_000);
        assert_eq!(p.withdrawal_requests[0].source_address, Address::repeat_byte(0xab));
        assert_eq!(p.withdrawal_requests[0].pubkey, PublicKeyBytes::from_slice(&[0xcd; 48]));
        assert!(read_block(&block("0x03", None, "0x00")).unwrap().withdrawal_requests.is_empty());
        // Gloas: the block carries its parent payload's requests.
        let gloas =
            String::from_utf8(with(&two)).unwrap().replacen("execution_requests", "parent_execution_requests", 1);
        let p = read_block(gloas.as_bytes()).unwrap();
        assert_eq!(p.withdrawal_requests.len(), 2);
        assert!(p.withdrawal_requests[0].is_full_exit());
        let short = format!(r#"{{"source_address":"{src}","validator_pubkey":"0xcdcd","amount":"0"}}"#);
        let e = read_block(&with(&short)).unwrap_err().to_string();
        assert!(e.contains("withdrawals[0]") && e.contains("validator_pubkey is 2 bytes"), "{e}");
        let bad = format!(r#"{{"source_address":"0xzz","validator_pubkey":"{pk}","amount":"0"}}"#);
        assert!(read_block(&with(&bad)).unwrap_err().to_string().contains("source_address"));
    }
}
