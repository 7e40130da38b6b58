//! The block routes of a proposal: produce (`produceBlockV2` before
//! Electra, `produceBlockV3` from Electra on, SSZ when the node offers it),
//! the parent's header, and publish (full or blinded, SSZ first with JSON as
//! the fallback). A produced block is parsed by the fork the caller expects
//! at the slot; a node that answers another fork is refused here.

use super::client::BeaconClient;
use super::error::BeaconError;
use super::options::Topic;
use super::ssz_envelope::{self, BLOB_BYTES, KZG_PROOF_BYTES};
use super::types::Data;
use poolvc_signer::types::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The blob sidecar parts of full block contents (Deneb on), as received.
#[derive(Debug, Clone)]
pub enum Sidecars {
    /// JSON `kzg_proofs` and `blobs` (each a list of hex strings, handed
    /// back to the node as they came).
    Json(serde_json::Value, serde_json::Value),
    /// SSZ-concatenated proofs and blobs.
    Ssz {
        /// The KZG proofs, concatenated.
        proofs: Vec<u8>,
        /// The blobs, concatenated.
        blobs: Vec<u8>,
    },
}

/// A block produced by the node, parsed by the slot's fork.
#[derive(Debug, Clone)]
pub enum Produced<P: Preset> {
    /// A full block, with its sidecar parts from Deneb on.
    Full {
        /// The block.
        block: BeaconBlock<P>,
        /// Its sidecar parts (Deneb on; `None` from `produceBlockV2`).
        sidecars: Option<Sidecars>,
    },
    /// A blinded block (builder payload header).
    Blinded {
        /// The block.
        block: BlindedBeaconBlock<P>,
        /// Whether the node sent SSZ (published back in SSZ first).
        ssz: bool,
        /// The node that produced it (named when it is refused).
        node: String,
    },
}

impl<P: Preset> Produced<P> {
    /// The block's header.
    pub fn header(&self) -> BeaconBlockHeader {
        match self {
            Self::Full { block, .. } => block.header(),
            Self::Blinded { block, .. } => block.header(),
        }
    }
}

/// Why a produced block was refused before anyone looked inside it.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The nodes failed.
    #[error(transparent)]
    Beacon(#[from] BeaconError),
    /// The answer is not a block of the slot's fork.
    #[error("slot {slot}: {what}")]
    Malformed {
        /// The slot.
        slot: u64,
        /// What is wrong.
        what: String,
    },
}

/// A `GET /eth/v2/validator/blocks` response.
#[derive(Deserialize)]
struct ProducedV2 {
    version: String,
    data: serde_json::Value,
}

/// A `GET /eth/v3/validator/blocks` JSON response.
#[derive(Deserialize)]
struct ProducedV3 {
    version: String,
    execution_payload_blinded: bool,
    data: serde_json::Value,
}

/// Full block contents (Deneb on) in JSON.
#[derive(Deserialize)]
struct BlockContentsJson {
    block: serde_json::Value,
    kzg_proofs: serde_json::Value,
    blobs: serde_json::Value,
}

/// `GET /eth/v1/beacon/headers/{id}` (the parts used).
#[derive(Deserialize)]
struct HeaderEntry {
    root: Hash256,
    header: SignedHeader,
}

#[derive(Deserialize)]
struct SignedHeader {
    message: BeaconBlockHeader,
}

/// A signed block or blinded block in JSON.
#[derive(Serialize)]
struct SignedJson<'a> {
    message: serde_json::Value,
    signature: &'a SignatureBytes,
}

/// Signed block contents in JSON.
#[derive(Serialize)]
struct SignedContentsJson<'a> {
    signed_block: SignedJson<'a>,
    kzg_proofs: &'a serde_json::Value,
    blobs: &'a serde_json::Value,
}

/// Signed block contents in JSON, the sidecar parts re-encoded from SSZ.
#[derive(Serialize)]
struct SignedContentsFromSsz<'a> {
    signed_block: SignedJson<'a>,
    kzg_proofs: Vec<String>,
    blobs: Vec<String>,
}

impl BeaconClient {
    /// Asks for the block of `slot` of fork `expected` (the slot's fork by
    /// the client's spec): `produceBlockV2` before Electra (full blocks
    /// only), `produceBlockV3` with `builder_boost_factor` from Electra on.
    pub async fn produce_block<P: Preset>(
        &self,
        slot: u64,
        expected: ForkName,
        randao: SignatureBytes,
        graffiti: [u8; 32],
        boost: u64,
        t: Duration,
    ) -> Result<Produced<P>, ProduceError> {
        let bad = |what: String| ProduceError::Malformed { slot, what };
        let parse_fork = |v: &str| -> Result<ForkName, ProduceError> {
            let fork: ForkName = v.parse().map_err(|e: UnknownForkName| bad(e.to_string()))?;
            if fork != expected {
                return Err(bad(format!("node produced a {fork} block, the slot is {expected}")));
            }
            Ok(fork)
        };
        let g = hex::encode(graffiti);
        if !expected.electra_enabled() {
            let path = format!("/eth/v2/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{g}");
            let produced: ProducedV2 = self.get(&path, t).await?;
            let fork = parse_fork(&produced.version)?;
            let block =
                BeaconBlock::<P>::from_json(fork, produced.data).map_err(|e| bad(format!("produced block: {e}")))?;
            return Ok(Produced::Full { block, sidecars: None });
        }
        let path = format!(
            "/eth/v3/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{g}&builder_boost_factor={boost}"
        );
        let raw = self.get_ssz_or_json(&path, t).await?;
        if raw.is_ssz() {
            let fork = parse_fork(raw.version.as_deref().unwrap_or(""))?;
            let blinded = match raw.blinded.as_deref() {
                Some("true") => true,
                Some("false") => false,
                other => return Err(bad(format!("SSZ block with Eth-Execution-Payload-Blinded {other:?}"))),
            };
            if blinded {
                let block = BlindedBeaconBlock::<P>::from_ssz_bytes(fork, &raw.body)
                    .map_err(|e| bad(format!("produced blinded block: {e}")))?;
                return Ok(Produced::Blinded { block, ssz: true, node: raw.node });
            }
            let (block, proofs, blobs) =
                ssz_envelope::split_block_contents(&raw.body).map_err(|e| bad(e.to_string()))?;
            let block =
                BeaconBlock::<P>::from_ssz_bytes(fork, block).map_err(|e| bad(format!("produced block: {e}")))?;
            let sidecars = Sidecars::Ssz { proofs: proofs.to_vec(), blobs: blobs.to_vec() };
            return Ok(Produced::Full { block, sidecars: Some(sidecars) });
        }
        let produced: ProducedV3 =
            serde_json::from_slice(&raw.body).map_err(|e| bad(format!("produced block response: {e}")))?;
        let fork = parse_fork(&produced.version)?;
        if produced.execution_payload_blinded {
            let block = BlindedBeaconBlock::<P>::from_json(fork, produced.data)
                .map_err(|e| bad(format!("produced blinded block: {e}")))?;
            return Ok(Produced::Blinded { block, ssz: false, node: raw.node });
        }
        let contents: BlockContentsJson =
            serde_json::from_value(produced.data).map_err(|e| bad(format!("produced block contents: {e}")))?;
        let block =
            BeaconBlock::<P>::from_json(fork, contents.block).map_err(|e| bad(format!("produced block: {e}")))?;
        Ok(Produced::Full { block, sidecars: Some(Sidecars::Json(contents.kzg_proofs, contents.blobs)) })
    }

    /// `GET /eth/v1/beacon/headers/{id}` (`id` a slot or a block root): the
    /// header's root and message.
    pub async fn block_header(&self, id: &str, t: Duration) -> Result<(Hash256, BeaconBlockHeader), BeaconError> {
        let h = self.get::<Data<HeaderEntry>>(&format!("/eth/v1/beacon/headers/{id}"), t).await?.data;
        Ok((h.root, h.header.message))
    }

    /// Publishes `produced` signed with `sig` (a `--broadcast` block topic):
    /// before Electra the v1 route in JSON; from Electra on the v2 routes
    /// with `Eth-Consensus-Version`, in SSZ first when the node produced
    /// SSZ, JSON if that fails.
    pub async fn publish_block<P: Preset>(
        &self,
        fork: ForkName,
        produced: &Produced<P>,
        sig: SignatureBytes,
        t: Duration,
    ) -> Result<(), BeaconError> {
        let topic = Some(Topic::Blocks);
        let signed_json = |message| SignedJson { message, signature: &sig };
        match produced {
            Produced::Full { block, sidecars: None } => {
                self.publish("/eth/v1/beacon/blocks", &signed_json(block.to_json()), topic, None, t).await
            }
            Produced::Full { block, sidecars: Some(Sidecars::Json(kzg_proofs, blobs)) } => {
                let body = SignedContentsJson { signed_block: signed_json(block.to_json()), kzg_proofs, blobs };
                self.publish("/eth/v2/beacon/blocks", &body, topic, Some(fork), t).await
            }
            Produced::Full { block, sidecars: Some(Sidecars::Ssz { proofs, blobs }) } => {
                let signed = ssz_envelope::signed_block(&block.as_ssz_bytes(), &sig.0);
                let ssz = ssz_envelope::signed_block_contents(&signed, proofs, blobs);
                let Err(e) = self.publish_ssz("/eth/v2/beacon/blocks", &ssz, Topic::Blocks, fork, t).await else {
                    return Ok(());
                };
                tracing::warn!("SSZ publish failed ({e}); publishing as JSON");
                let body = SignedContentsFromSsz {
                    signed_block: signed_json(block.to_json()),
                    kzg_proofs: ssz_envelope::hex_items(proofs, KZG_PROOF_BYTES),
                    blobs: ssz_envelope::hex_items(blobs, BLOB_BYTES),
                };
                self.publish("/eth/v2/beacon/blocks", &body, topic, Some(fork), t).await
            }
            Produced::Blinded { block, ssz, .. } => {
                if *ssz {
                    let bytes = ssz_envelope::signed_block(&block.as_ssz_bytes(), &sig.0);
                    match self.publish_ssz("/eth/v2/beacon/blinded_blocks", &bytes, Topic::Blocks, fork, t).await {
                        Ok(()) => return Ok(()),
                        Err(e) => tracing::warn!("SSZ publish failed ({e}); publishing as JSON"),
                    }
                }
                let body = signed_json(block.to_json());
                self.publish("/eth/v2/beacon/blinded_blocks", &body, topic, Some(fork), t).await
            }
        }
    }
}
