//! `GET /eth/v2/beacon/blocks/{id}` read for its execution payload's
//! commitments: the block number, hash, state and receipts roots a pool
//! read is proven against (`el::proof`).
//!
//! From Gloas on a block carries only a bid; its payload is in the block's
//! envelope (`GET /eth/v1/beacon/execution_payload_envelopes/{id}`), which
//! must carry the payload the bid commits to (its block hash, its slot).
//! A block whose payload was never revealed (EMPTY) has none: the
//! execution head is then its parent's payload, or further back.

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
    parent_root: Hash256,
    body: Body,
}
#[derive(Deserialize)]
struct Body {
    execution_payload: Option<Payload>,
    /// Gloas: the bid the block commits to.
    signed_execution_payload_bid: Option<SignedBid>,
}
#[derive(Deserialize)]
struct SignedBid {
    message: Bid,
}
#[derive(Deserialize)]
struct Bid {
    block_hash: Hash256,
}
/// `GET /eth/v1/beacon/execution_payload_envelopes/{id}` (Gloas).
#[derive(Deserialize)]
struct EnvelopeAnswer {
    data: SignedEnvelope,
}
#[derive(Deserialize)]
struct SignedEnvelope {
    message: EnvelopeMessage,
}
#[derive(Deserialize)]
struct EnvelopeMessage {
    payload: Payload,
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

impl Payload {
    fn commitment(&self, slot: u64) -> PayloadCommitment {
        PayloadCommitment {
            slot,
            block_number: self.block_number,
            block_hash: self.block_hash,
            state_root: self.state_root,
            receipts_root: self.receipts_root,
            timestamp: self.timestamp,
        }
    }
}

/// What a block says about its payload.
enum Commits {
    /// Up to Fulu: the payload itself.
    Payload(PayloadCommitment),
    /// From Gloas on: the bid's block hash; the payload is in the envelope.
    Bid { slot: u64, parent_root: Hash256, block_hash: Hash256 },
}

impl Envelope {
    fn commits(&self) -> Result<Commits, AnswerError> {
        let m = &self.data.message;
        match (&m.body.execution_payload, &m.body.signed_execution_payload_bid) {
            (Some(p), _) => Ok(Commits::Payload(p.commitment(m.slot))),
            (None, Some(b)) => {
                Ok(Commits::Bid { slot: m.slot, parent_root: m.parent_root, block_hash: b.message.block_hash })
            }
            (None, None) => Err(format!("the block at slot {} has no execution payload and no bid", m.slot).into()),
        }
    }
}

/// How many EMPTY Gloas blocks (payload never revealed) are walked back
/// over for the execution head before giving up.
const MAX_EMPTY_WALK: usize = 8;

impl BeaconClient {
    /// The execution commitments of block `id` (`head`, `finalized`, a slot
    /// or a root); `None` when every node says there is no such block.
    /// From Gloas on, the payload the block's envelope reveals, or (an
    /// EMPTY block) the latest revealed payload before it.
    pub async fn payload_commitment(&self, id: &str, t: Duration) -> Result<Option<PayloadCommitment>, BeaconError> {
        let mut id = id.to_string();
        for _ in 0..=MAX_EMPTY_WALK {
            let path = format!("/eth/v2/beacon/blocks/{id}");
            let strict = |e: &Envelope| e.commits().map(|_| ());
            let block = match self.get_checked::<Envelope>(&path, t, strict).await {
                Ok(b) => b,
                Err(BeaconError::NotServed { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let (slot, parent_root, block_hash) =
                match block.commits().map_err(|e| BeaconError::Invalid { url: path, reason: e.to_string() })? {
                    Commits::Payload(c) => return Ok(Some(c)),
                    Commits::Bid { slot, parent_root, block_hash } => (slot, parent_root, block_hash),
                };
            // By slot, not `id`: `head` may have moved between the two reads.
            let env_path = format!("/eth/v1/beacon/execution_payload_envelopes/{slot}");
            match self.get::<EnvelopeAnswer>(&env_path, t).await {
                Ok(e) if e.data.message.payload.block_hash == block_hash => {
                    return Ok(Some(e.data.message.payload.commitment(slot)))
                }
                Ok(e) => {
                    return Err(BeaconError::Invalid {
                        url: env_path,
                        reason: format!(
                            "the envelope carries payload {}, the block at slot {slot} commits to {block_hash}",
                            e.data.message.payload.block_hash
                        ),
                    })
                }
                // EMPTY: the block's payload was never revealed.
                Err(BeaconError::NotServed { .. }) => id = format!("{parent_root}"),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{StatusCode, Uri};
    use axum::response::IntoResponse;
    use serde_json::json;

    fn h(b: u8) -> String {
        format!("0x{}", hex::encode([b; 32]))
    }

    fn payload(hash: u8, state: u8) -> serde_json::Value {
        json!({"block_number": "7", "block_hash": h(hash), "state_root": h(state), "receipts_root": h(0xee), "timestamp": "99"})
    }

    fn gloas_block(slot: u64, parent: u8, bid_hash: u8) -> serde_json::Value {
        json!({"version": "gloas", "data": {"message": {"slot": slot.to_string(), "parent_root": h(parent),
            "body": {"signed_execution_payload_bid": {"message": {"block_hash": h(bid_hash)}}}}}})
    }

    /// A node with Gloas blocks at 10 (EMPTY: no envelope) and 9 (its
    /// envelope carrying `env9_hash`), and a Fulu block at 8.
    async fn node(env9_hash: u8) -> String {
        let app = axum::Router::new().fallback(move |uri: Uri| async move {
            let answer = match uri.path() {
                "/eth/v2/beacon/blocks/head" => Some(gloas_block(10, 9, 0x10)),
                p if p == format!("/eth/v2/beacon/blocks/{}", h(9)) => Some(gloas_block(9, 8, 0x09)),
                p if p == format!("/eth/v2/beacon/blocks/{}", h(8)) => {
                    Some(json!({"version": "fulu", "data": {"message": {
                    "slot": "8", "parent_root": h(7), "body": {"execution_payload": payload(0x08, 0x88)}}}}))
                }
                "/eth/v1/beacon/execution_payload_envelopes/9" => {
                    Some(json!({"version": "gloas", "data": {"message": {"payload": payload(env9_hash, 0x99)}}}))
                }
                _ => None,
            };
            match answer {
                Some(v) => axum::Json(v).into_response(),
                None => {
                    (StatusCode::NOT_FOUND, axum::Json(json!({"code": 404, "message": "not found"}))).into_response()
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn from_gloas_on_the_anchor_is_the_latest_revealed_payload_that_fits_its_bid() {
        let t = Duration::from_secs(5);
        // Slot 10 is EMPTY: the execution head is slot 9's revealed payload.
        let client = BeaconClient::new(vec![node(0x09).await]);
        let c = client.payload_commitment("head", t).await.unwrap().unwrap();
        assert_eq!((c.slot, c.block_hash, c.state_root), (9, Hash256::repeat_byte(0x09), Hash256::repeat_byte(0x99)));
        // An envelope whose payload is not the one the block's bid commits to: refused.
        let client = BeaconClient::new(vec![node(0x0a).await]);
        let e = client.payload_commitment("head", t).await.unwrap_err();
        assert!(e.to_string().contains("commits to"), "{e}");
        // Up to Fulu, the block's own payload.
        let client = BeaconClient::new(vec![node(0x09).await]);
        let c = client.payload_commitment(&h(8), t).await.unwrap().unwrap();
        assert_eq!((c.slot, c.state_root), (8, Hash256::repeat_byte(0x88)));
    }
}
