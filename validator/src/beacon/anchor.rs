//! `GET /eth/v2/beacon/blocks/{id}` read for its execution payload's
//! commitments: the block number, hash, state and receipts roots a pool
//! read is proven against (`el::proof`).

use super::client::BeaconClient;
use super::error::{AnswerError, BeaconError};
use poolvc_signer::types::Hash256;
use serde::Deserialize;
use std::time::Duration;

/// What a beacon block's execution payload commits to.
pub type PayloadCommitment = poolvc_signer::types::ExecutionCommitment;

#[derive(Deserialize)]
struct Envelope {
    data: Signed,
}
#[derive(Deserialize)]
struct Signed {
    message: Message,
}
#[derive(Deserialize)]
struct Message {
    #[serde(with = "serde_utils::quoted_u64")]
    slot: u64,
    body: Body,
}
#[derive(Deserialize)]
struct Body {
    execution_payload: Option<Payload>,
}
#[derive(Deserialize)]
struct Payload {
    #[serde(with = "serde_utils::quoted_u64")]
    block_number: u64,
    block_hash: Hash256,
    state_root: Hash256,
    receipts_root: Hash256,
    #[serde(with = "serde_utils::quoted_u64")]
    timestamp: u64,
}

impl Envelope {
    fn commitment(&self) -> Result<PayloadCommitment, AnswerError> {
        let m = &self.data.message;
        let p = m
            .body
            .execution_payload
            .as_ref()
            .ok_or_else(|| format!("the block at slot {} has no execution payload", m.slot))?;
        Ok(PayloadCommitment {
            slot: m.slot,
            block_number: p.block_number,
            block_hash: p.block_hash,
            state_root: p.state_root,
            receipts_root: p.receipts_root,
            timestamp: p.timestamp,
        })
    }
}

impl BeaconClient {
    /// The execution commitments of block `id` (`head`, `finalized`, a slot
    /// or a root); `None` when every node says there is no such block.
    pub async fn payload_commitment(&self, id: &str, t: Duration) -> Result<Option<PayloadCommitment>, BeaconError> {
        let path = format!("/eth/v2/beacon/blocks/{id}");
        let strict = |e: &Envelope| e.commitment().map(|_| ());
        match self.get_checked::<Envelope>(&path, t, strict).await {
            Ok(e) => e.commitment().map(Some).map_err(|e| BeaconError::Invalid { url: path, reason: e.to_string() }),
            Err(BeaconError::NotServed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
