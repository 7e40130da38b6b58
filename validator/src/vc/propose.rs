//! Block proposal: RANDAO reveal, produce, check (slot, proposer, a known
//! parent at an earlier slot), slashing check, sign, publish. Before Electra
//! on produceBlockV2 and the v1 publish route (what old nodes such as
//! Lodestar v1.5.1 serve); from Electra on, produceBlockV3 with full or
//! blinded blocks and the v2 publish routes with the `Eth-Consensus-Version`
//! header, in SSZ when the node offers it (JSON otherwise, and as fallback).

use super::runtime::{Stats, Vc, VcError};
use super::ssz_envelope::{self, BLOB_BYTES, KZG_PROOF_BYTES};
use crate::beacon::{BeaconError, Data, ProducedBlock, ProducedBlockV3};
use poolvc_signer::batch::SignRequest;
use poolvc_signer::slashing::BlockRecord;
use poolvc_signer::types::*;
use std::sync::Arc;
use tracing::{info, warn};

/// The blob sidecar parts of full block contents (Deneb on), as received.
enum Sidecars {
    /// JSON `kzg_proofs` and `blobs`.
    Json(serde_json::Value, serde_json::Value),
    /// SSZ-concatenated proofs and blobs.
    Ssz { proofs: Vec<u8>, blobs: Vec<u8> },
}

/// A block produced by the node, parsed by the slot's fork.
enum Produced<P: Preset> {
    /// A full block, with its sidecar parts from Deneb on.
    Full { block: BeaconBlock<P>, sidecars: Option<Sidecars> },
    /// A blinded block (builder payload header); `ssz` if the node sent SSZ.
    Blinded { block: BlindedBeaconBlock<P>, ssz: bool },
}

impl<P: Preset> Produced<P> {
    fn header(&self) -> BeaconBlockHeader {
        match self {
            Self::Full { block, .. } => block.header(),
            Self::Blinded { block, .. } => block.header(),
        }
    }
}

/// `GET /eth/v1/beacon/headers/{root}` (the parts used).
#[derive(serde::Deserialize)]
struct HeaderEntry {
    header: SignedHeader,
}

#[derive(serde::Deserialize)]
struct SignedHeader {
    message: BeaconBlockHeader,
}

fn graffiti_bytes(graffiti: &str) -> [u8; 32] {
    let mut g = [0u8; 32];
    let gb = graffiti.as_bytes();
    g[..gb.len().min(32)].copy_from_slice(&gb[..gb.len().min(32)]);
    g
}

impl<P: Preset> Vc<P> {
    async fn produce(&self, slot: u64, randao: SignatureBytes, graffiti: [u8; 32]) -> Result<Produced<P>, VcError> {
        let t = self.slot_timeout() * 2;
        let expected = self.spec.fork_name_at_slot(slot);
        let bad = |what: String| VcError::Config(format!("slot {slot}: {what}"));
        let parse_fork = |v: &str| -> Result<ForkName, VcError> {
            let fork: ForkName = v.parse().map_err(|e: UnknownForkName| bad(e.to_string()))?;
            if fork != expected {
                return Err(bad(format!("node produced a {fork} block, the slot is {expected}")));
            }
            Ok(fork)
        };
        let g = hex::encode(graffiti);
        if !expected.electra_enabled() {
            let path = format!("/eth/v2/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{g}");
            let produced: ProducedBlock = self.beacon.get(&path, t).await?;
            let fork = parse_fork(&produced.version)?;
            let block =
                BeaconBlock::<P>::from_json(fork, produced.data).map_err(|e| bad(format!("produced block: {e}")))?;
            return Ok(Produced::Full { block, sidecars: None });
        }
        let boost = if self.cfg.builder_proposals { 100 } else { 0 };
        let path = format!(
            "/eth/v3/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{g}&builder_boost_factor={boost}"
        );
        let raw = self.beacon.get_ssz_or_json(&path, t).await?;
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
                return Ok(Produced::Blinded { block, ssz: true });
            }
            let (block, proofs, blobs) = ssz_envelope::split_block_contents(&raw.body).map_err(bad)?;
            let block =
                BeaconBlock::<P>::from_ssz_bytes(fork, block).map_err(|e| bad(format!("produced block: {e}")))?;
            let sidecars = Sidecars::Ssz { proofs: proofs.to_vec(), blobs: blobs.to_vec() };
            return Ok(Produced::Full { block, sidecars: Some(sidecars) });
        }
        let produced: ProducedBlockV3 =
            serde_json::from_slice(&raw.body).map_err(|e| bad(format!("produced block response: {e}")))?;
        let fork = parse_fork(&produced.version)?;
        if produced.execution_payload_blinded {
            let block = BlindedBeaconBlock::<P>::from_json(fork, produced.data)
                .map_err(|e| bad(format!("produced blinded block: {e}")))?;
            return Ok(Produced::Blinded { block, ssz: false });
        }
        let serde_json::Value::Object(mut contents) = produced.data else {
            return Err(bad("produced block contents are not an object".into()));
        };
        let take = |m: &mut serde_json::Map<String, serde_json::Value>, k: &str| {
            m.remove(k).ok_or_else(|| bad(format!("produced block contents lack `{k}`")))
        };
        let block_json = take(&mut contents, "block")?;
        let proofs = take(&mut contents, "kzg_proofs")?;
        let blobs = take(&mut contents, "blobs")?;
        let block = BeaconBlock::<P>::from_json(fork, block_json).map_err(|e| bad(format!("produced block: {e}")))?;
        Ok(Produced::Full { block, sidecars: Some(Sidecars::Json(proofs, blobs)) })
    }

    /// Refuses a block whose parent the node does not know, or whose parent
    /// is not at an earlier slot. Other errors asking are logged, not fatal.
    async fn check_parent(&self, slot: u64, parent_root: Hash256) -> Result<(), VcError> {
        let path = format!("/eth/v1/beacon/headers/{parent_root}");
        match self.beacon.get::<Data<HeaderEntry>>(&path, self.slot_timeout()).await {
            Ok(h) if h.data.header.message.slot < slot => Ok(()),
            Ok(h) => Err(VcError::Config(format!(
                "node produced a block for slot {slot} on a parent at slot {}; refused",
                h.data.header.message.slot
            ))),
            Err(BeaconError::NotServed(_)) => Err(VcError::Config(format!(
                "node produced a block for slot {slot} on unknown parent {parent_root}; refused"
            ))),
            Err(e) => {
                warn!(slot, "could not check the block's parent: {e}");
                Ok(())
            }
        }
    }

    async fn publish(&self, fork: ForkName, produced: Produced<P>, sig: SignatureBytes) -> Result<(), VcError> {
        let t = self.slot_timeout() * 2;
        let sig_bytes: [u8; 96] = sig.0;
        match produced {
            Produced::Full { block, sidecars: None } => {
                let body = serde_json::json!({"message": block.to_json(), "signature": sig});
                self.beacon.post_ignore("/eth/v1/beacon/blocks", &body, t).await?;
            }
            Produced::Full { block, sidecars: Some(Sidecars::Json(kzg_proofs, blobs)) } => {
                let body = serde_json::json!({
                    "signed_block": {"message": block.to_json(), "signature": sig},
                    "kzg_proofs": kzg_proofs,
                    "blobs": blobs,
                });
                self.beacon.post_versioned("/eth/v2/beacon/blocks", &body, fork, t).await?;
            }
            Produced::Full { block, sidecars: Some(Sidecars::Ssz { proofs, blobs }) } => {
                let signed = ssz_envelope::signed_block(&block.as_ssz_bytes(), &sig_bytes);
                let ssz = ssz_envelope::signed_block_contents(&signed, &proofs, &blobs);
                if let Err(e) = self.beacon.post_ssz_versioned("/eth/v2/beacon/blocks", &ssz, fork, t).await {
                    warn!("SSZ publish failed ({e}); publishing as JSON");
                    let body = serde_json::json!({
                        "signed_block": {"message": block.to_json(), "signature": sig},
                        "kzg_proofs": ssz_envelope::hex_items(&proofs, KZG_PROOF_BYTES),
                        "blobs": ssz_envelope::hex_items(&blobs, BLOB_BYTES),
                    });
                    self.beacon.post_versioned("/eth/v2/beacon/blocks", &body, fork, t).await?;
                }
            }
            Produced::Blinded { block, ssz } => {
                let published = if ssz {
                    let bytes = ssz_envelope::signed_block(&block.as_ssz_bytes(), &sig_bytes);
                    match self.beacon.post_ssz_versioned("/eth/v2/beacon/blinded_blocks", &bytes, fork, t).await {
                        Ok(()) => true,
                        Err(e) => {
                            warn!("SSZ publish failed ({e}); publishing as JSON");
                            false
                        }
                    }
                } else {
                    false
                };
                if !published {
                    let body = serde_json::json!({"message": block.to_json(), "signature": sig});
                    self.beacon.post_versioned("/eth/v2/beacon/blinded_blocks", &body, fork, t).await?;
                }
            }
        }
        Ok(())
    }

    /// Proposes the block of `slot` for our validator `proposer`.
    pub(super) async fn propose(&self, slot: u64, proposer: u64) -> Result<(), VcError> {
        let v = &self.validators[self.by_index[&proposer]];
        let ctx = self.ctx();
        let epoch = self.spec.epoch_of(slot);
        let fork = self.spec.fork_name_at_slot(slot);
        let randao = self
            .sign(vec![SignRequest {
                key: v.handle,
                signing_root: ctx.signing_root::<P>(&SignableMessage::RandaoReveal(epoch)),
            }])
            .await?
            .pop()
            .unwrap_or_default();
        let graffiti = v.graffiti.clone().or_else(|| self.cfg.graffiti.clone()).unwrap_or_else(|| "poolvc".into());
        let produced = self.produce(slot, randao, graffiti_bytes(&graffiti)).await?;
        let header = produced.header();
        if header.slot != slot || header.proposer_index != proposer {
            Stats::add(&self.stats.refusals, 1);
            return Err(VcError::Config(format!(
                "node produced a block for slot {} proposer {}, expected {slot} {proposer}; refused",
                header.slot, header.proposer_index
            )));
        }
        if let Err(e) = self.check_parent(slot, header.parent_root).await {
            Stats::add(&self.stats.refusals, 1);
            return Err(e);
        }
        let root = match &produced {
            Produced::Full { block, .. } => ctx.signing_root::<P>(&SignableMessage::Block(block)),
            Produced::Blinded { block, .. } => ctx.signing_root::<P>(&SignableMessage::BlindedBlock(block)),
        };
        let db = Arc::clone(&self.slashing);
        let rec = BlockRecord { pubkey: v.pubkey, slot, signing_root: Some(root) };
        let started = std::time::Instant::now();
        let verdict = tokio::task::spawn_blocking(move || db.check_and_insert_blocks(&[rec]))
            .await
            .map_err(|e| VcError::Config(e.to_string()))??;
        self.stats.slashing_seconds.observe(started.elapsed().as_secs_f64());
        if let Some(Err(reason)) = verdict.first() {
            Stats::add(&self.stats.refusals, 1);
            return Err(VcError::Config(format!("slashing protection refused block: {reason}")));
        }
        let sig = self.sign(vec![SignRequest { key: v.handle, signing_root: root }]).await?.pop().unwrap_or_default();
        let blinded = matches!(produced, Produced::Blinded { .. });
        self.publish(fork, produced, sig).await?;
        Stats::add(&self.stats.blocks, 1);
        info!(slot, proposer, blinded, "block proposed");
        Ok(())
    }
}
