//! The block routes of a proposal: produce (`produceBlockV2` before
//! Electra, `produceBlockV3` from Electra on, SSZ when the node offers it,
//! `produceBlockV4` from Gloas on, with the self-built payload's envelope),
//! the parent's header, and publish (full or blinded, SSZ first with JSON as
//! the fallback; from Gloas on the block, then the signed envelope). A produced block is parsed by the fork the caller expects
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
    /// A Gloas block (`produceBlockV4`): its body holds a bid; the payload
    /// of a self-built bid comes with it (`include_payload`) or is fetched
    /// from the node that produced it.
    Gloas {
        /// The block.
        block: BeaconBlock<P>,
        /// The self-built payload's envelope and blob parts, when the node
        /// included them (boxed: a payload is large).
        payload: Option<Box<GloasPayload<P>>>,
        /// The node that produced it (asked for the envelope when it was
        /// not included, and named when the block is refused).
        node: String,
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

/// A self-built Gloas payload as produced: the envelope the proposer signs
/// (under `DOMAIN_BEACON_BUILDER`) and the blobs published with it.
#[derive(Debug, Clone)]
pub struct GloasPayload<P: Preset> {
    /// The unsigned envelope.
    pub envelope: ExecutionPayloadEnvelope<P>,
    /// Its blob parts (`None` when the node keeps them: stateful publish).
    pub sidecars: Option<Sidecars>,
}

impl<P: Preset> Produced<P> {
    /// The block's header.
    pub fn header(&self) -> BeaconBlockHeader {
        match self {
            Self::Full { block, .. } | Self::Gloas { block, .. } => block.header(),
            Self::Blinded { block, .. } => block.header(),
        }
    }
}

/// What a proposal asks the node for, besides the slot.
#[derive(Debug, Clone, Copy)]
pub struct BlockRequest {
    /// The proposer's RANDAO reveal for the slot's epoch.
    pub randao: SignatureBytes,
    /// The graffiti, padded to 32 bytes.
    pub graffiti: [u8; 32],
    /// `builder_boost_factor` (0: a local block; from Electra on).
    pub boost: u64,
    /// The key's recipient (named to the node from Gloas on).
    pub fee_recipient: Address,
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

/// A `produceBlockV4` JSON response (Gloas).
#[derive(Deserialize)]
struct ProducedV4 {
    version: String,
    execution_payload_included: bool,
    data: serde_json::Value,
}

/// Gloas block contents in JSON (a self-built block with its payload).
#[derive(Deserialize)]
struct GloasContentsJson {
    block: serde_json::Value,
    execution_payload_envelope: serde_json::Value,
    kzg_proofs: serde_json::Value,
    blobs: serde_json::Value,
}

/// The `BuilderConfig` body of `produceBlockV4` (beacon-APIs PR #630): no
/// builders of poolvc's own; the boost factor weighs the bids the node has.
#[derive(Serialize)]
struct BuilderConfig {
    #[serde(with = "serde_utils::quoted_u64")]
    min_bid: u64,
    #[serde(with = "serde_utils::quoted_u64")]
    builder_boost_factor: u64,
    builders: [(); 0],
}

/// A signed envelope with its blobs (`Eth-Blob-Data-Included: true`).
#[derive(Serialize)]
#[serde(bound = "P: Preset")]
struct SignedEnvelopeContents<'a, P: Preset> {
    signed_execution_payload_envelope: &'a SignedExecutionPayloadEnvelope<P>,
    kzg_proofs: &'a serde_json::Value,
    blobs: &'a serde_json::Value,
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
    /// only), `produceBlockV3` with `builder_boost_factor` from Electra on,
    /// `produceBlockV4` from Gloas on (see [`Self::produce_block_v4`]).
    pub async fn produce_block<P: Preset>(
        &self,
        slot: u64,
        expected: ForkName,
        req: BlockRequest,
        t: Duration,
    ) -> Result<Produced<P>, ProduceError> {
        if expected.gloas_enabled() {
            return self.produce_block_v4(slot, expected, req, t).await;
        }
        let BlockRequest { randao, graffiti, boost, .. } = req;
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

    /// `produceBlockV4` (Gloas): `POST` with a `BuilderConfig` body (as
    /// beacon-APIs PR #630 and Lodestar 1.48 have it), the older `GET` form
    /// when no node serves the `POST`. It asks for the payload inline
    /// (`include_payload=true`: any node can take the envelope) and names
    /// the key's fee recipient with `strict_fee_recipient_check`, so a node
    /// that honours it builds no local payload paying anyone else; the
    /// store checks the bid whatever the node did.
    async fn produce_block_v4<P: Preset>(
        &self,
        slot: u64,
        expected: ForkName,
        req: BlockRequest,
        t: Duration,
    ) -> Result<Produced<P>, ProduceError> {
        let BlockRequest { randao, graffiti, boost, fee_recipient } = req;
        let bad = |what: String| ProduceError::Malformed { slot, what };
        let query = format!(
            "randao_reveal={randao}&graffiti=0x{}&fee_recipient={fee_recipient}&strict_fee_recipient_check=true\
             &include_payload=true",
            hex::encode(graffiti)
        );
        let path = format!("/eth/v4/validator/blocks/{slot}?{query}");
        let config = BuilderConfig { min_bid: 0, builder_boost_factor: boost, builders: [] };
        let raw = match self.request_json_raw(reqwest::Method::POST, &path, Some(&config), Some(expected), t).await {
            Err(e) if e.not_served_or_method() => {
                let get = format!("{path}&builder_boost_factor={boost}");
                self.request_json_raw::<()>(reqwest::Method::GET, &get, None, None, t).await?
            }
            r => r?,
        };
        let produced: ProducedV4 =
            serde_json::from_slice(&raw.body).map_err(|e| bad(format!("produced block response: {e}")))?;
        let fork: ForkName = produced.version.parse().map_err(|e: UnknownForkName| bad(e.to_string()))?;
        if fork != expected {
            return Err(bad(format!("node produced a {fork} block, the slot is {expected}")));
        }
        if let Some(h) = raw.payload_included.as_deref() {
            if h != produced.execution_payload_included.to_string() {
                return Err(bad(format!(
                    "Eth-Execution-Payload-Included {h} but execution_payload_included {}",
                    produced.execution_payload_included
                )));
            }
        }
        if !produced.execution_payload_included {
            let block =
                BeaconBlock::<P>::from_json(fork, produced.data).map_err(|e| bad(format!("produced block: {e}")))?;
            return Ok(Produced::Gloas { block, payload: None, node: raw.node });
        }
        let contents: GloasContentsJson =
            serde_json::from_value(produced.data).map_err(|e| bad(format!("produced block contents: {e}")))?;
        let block =
            BeaconBlock::<P>::from_json(fork, contents.block).map_err(|e| bad(format!("produced block: {e}")))?;
        let envelope: ExecutionPayloadEnvelope<P> = serde_json::from_value(contents.execution_payload_envelope)
            .map_err(|e| bad(format!("produced execution payload envelope: {e}")))?;
        let sidecars = Some(Sidecars::Json(contents.kzg_proofs, contents.blobs));
        Ok(Produced::Gloas { block, payload: Some(Box::new(GloasPayload { envelope, sidecars })), node: raw.node })
    }

    /// `GET /eth/v1/validator/execution_payload_envelopes/{slot}/{root}`
    /// (Gloas, stateful): the self-built payload of the block the node
    /// produced, when it did not include it.
    pub async fn execution_payload_envelope<P: Preset>(
        &self,
        slot: u64,
        block_root: Hash256,
        t: Duration,
    ) -> Result<ExecutionPayloadEnvelope<P>, BeaconError> {
        let path = format!("/eth/v1/validator/execution_payload_envelopes/{slot}/{block_root}");
        Ok(self.get::<Data<ExecutionPayloadEnvelope<P>>>(&path, t).await?.data)
    }

    /// `POST /eth/v1/beacon/execution_payload_envelopes` (Gloas): the signed
    /// envelope with its blobs (`Eth-Blob-Data-Included: true`), or alone
    /// when the node kept them from production.
    pub async fn publish_envelope<P: Preset>(
        &self,
        signed: &SignedExecutionPayloadEnvelope<P>,
        sidecars: Option<&Sidecars>,
        t: Duration,
    ) -> Result<(), BeaconError> {
        let path = "/eth/v1/beacon/execution_payload_envelopes";
        let fork = ForkName::Gloas;
        match sidecars {
            None => self.publish_envelope_json(path, signed, fork, false, t).await,
            Some(Sidecars::Json(kzg_proofs, blobs)) => {
                let body = SignedEnvelopeContents { signed_execution_payload_envelope: signed, kzg_proofs, blobs };
                self.publish_envelope_json(path, &body, fork, true, t).await
            }
            Some(Sidecars::Ssz { proofs, blobs }) => {
                let kzg_proofs = serde_json::json!(ssz_envelope::hex_items(proofs, KZG_PROOF_BYTES));
                let blobs = serde_json::json!(ssz_envelope::hex_items(blobs, BLOB_BYTES));
                let body = SignedEnvelopeContents {
                    signed_execution_payload_envelope: signed,
                    kzg_proofs: &kzg_proofs,
                    blobs: &blobs,
                };
                self.publish_envelope_json(path, &body, fork, true, t).await
            }
        }
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
            // From Gloas on a block has no contents: the payload is the envelope's.
            Produced::Gloas { block, .. } => {
                self.publish("/eth/v2/beacon/blocks", &signed_json(block.to_json()), topic, Some(fork), t).await
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
