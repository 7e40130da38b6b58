//! Block proposal: RANDAO reveal, produce, check, slashing check, sign,
//! publish. Before Electra on produceBlockV2 and the v1 publish route (what
//! old nodes such as Lodestar v1.5.1 serve); from Electra on, produceBlockV3
//! with full or blinded blocks and the v2 publish routes with the
//! `Eth-Consensus-Version` header.

use super::runtime::{Stats, Vc, VcError};
use crate::beacon::{ProducedBlock, ProducedBlockV3};
use poolvc_signer::batch::SignRequest;
use poolvc_signer::slashing::BlockRecord;
use poolvc_signer::types::*;
use std::sync::Arc;
use tracing::info;

/// A block produced by the node, parsed by the slot's fork.
enum Produced<P: Preset> {
    /// A full block; `contents` holds `kzg_proofs` and `blobs` (Deneb on).
    Full { block: BeaconBlock<P>, contents: Option<(serde_json::Value, serde_json::Value)> },
    /// A blinded block (builder payload header).
    Blinded(BlindedBeaconBlock<P>),
}

impl<P: Preset> Produced<P> {
    fn header(&self) -> BeaconBlockHeader {
        match self {
            Self::Full { block, .. } => block.header(),
            Self::Blinded(b) => b.header(),
        }
    }
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
            return Ok(Produced::Full { block, contents: None });
        }
        let boost = if self.cfg.builder_proposals { 100 } else { 0 };
        let path = format!(
            "/eth/v3/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{g}&builder_boost_factor={boost}"
        );
        let produced: ProducedBlockV3 = self.beacon.get(&path, t).await?;
        let fork = parse_fork(&produced.version)?;
        if produced.execution_payload_blinded {
            let block = BlindedBeaconBlock::<P>::from_json(fork, produced.data)
                .map_err(|e| bad(format!("produced blinded block: {e}")))?;
            return Ok(Produced::Blinded(block));
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
        Ok(Produced::Full { block, contents: Some((proofs, blobs)) })
    }

    /// Proposes the block of `slot` for our validator `proposer`.
    pub(super) async fn propose(&self, slot: u64, proposer: u64) -> Result<(), VcError> {
        let t = self.slot_timeout() * 2;
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
        let root = match &produced {
            Produced::Full { block, .. } => ctx.signing_root::<P>(&SignableMessage::Block(block)),
            Produced::Blinded(b) => ctx.signing_root::<P>(&SignableMessage::BlindedBlock(b)),
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
        let blinded = matches!(produced, Produced::Blinded(_));
        match produced {
            Produced::Full { block, contents: None } => {
                let body = serde_json::json!({"message": block.to_json(), "signature": sig});
                self.beacon.post_ignore("/eth/v1/beacon/blocks", &body, t).await?;
            }
            Produced::Full { block, contents: Some((kzg_proofs, blobs)) } => {
                let body = serde_json::json!({
                    "signed_block": {"message": block.to_json(), "signature": sig},
                    "kzg_proofs": kzg_proofs,
                    "blobs": blobs,
                });
                self.beacon.post_versioned("/eth/v2/beacon/blocks", &body, fork, t).await?;
            }
            Produced::Blinded(b) => {
                let body = serde_json::json!({"message": b.to_json(), "signature": sig});
                self.beacon.post_versioned("/eth/v2/beacon/blinded_blocks", &body, fork, t).await?;
            }
        }
        Stats::add(&self.stats.blocks, 1);
        info!(slot, proposer, blinded, "block proposed");
        Ok(())
    }
}
