//! Block proposal: RANDAO reveal, produce, check (slot, proposer, a known
//! parent at an earlier slot), slashing check, sign, publish. Before Electra
//! on produceBlockV2 and the v1 publish route (what old nodes such as
//! Lodestar v1.5.1 serve); from Electra on, produceBlockV3 with full or
//! blinded blocks and the v2 publish routes with the `Eth-Consensus-Version`
//! header, in SSZ when the node offers it (JSON otherwise, and as fallback).

use super::context::Ctx;
use crate::beacon::ssz_envelope::{self, BLOB_BYTES, KZG_PROOF_BYTES};
use crate::beacon::{BeaconClient, BeaconError, Data, ProducedBlock, ProducedBlockV3};
use crate::events::{Event, MessageKind, Service};
use crate::outcome::{Outcome, Refusal};
use poolvc_signer::types::*;
use std::sync::Arc;
use tracing::{info, warn};

/// Why a proposal did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProposeError {
    /// The beacon nodes failed.
    #[error(transparent)]
    Beacon(#[from] BeaconError),
    /// The node's block is not one poolvc may sign (told as a refusal).
    #[error("slot {slot}: {what}")]
    BadBlock {
        /// The slot.
        slot: u64,
        /// What is wrong.
        what: String,
    },
    /// The store did not sign (told by the store as a refusal or failure).
    #[error("slot {slot}: {what} not signed")]
    NotSigned {
        /// The slot.
        slot: u64,
        /// What.
        what: &'static str,
    },
}

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

/// Runs the block service: at each slot start, a proposal of ours runs on
/// its own task, so a slow `produceBlockV3` delays nothing else.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>) {
    let mut proposals = tokio::task::JoinSet::new();
    let mut slot = ctx.first_slot;
    while let Some(s) = ctx.next_slot(Service::Block, slot).await {
        slot = s + 1;
        if s == 0 {
            // The genesis block is slot 0's: nobody proposes there.
            continue;
        }
        let epoch = ctx.spec.epoch_of(s);
        let Some(duties) = ctx.duties.get(epoch) else { continue };
        // Proposers fetched an epoch ahead may have moved with the previous
        // epoch's last block: ask again (on the proposal's own task).
        let recheck = !duties.proposers_final;
        if !recheck && !duties.proposers.contains_key(&s) {
            continue;
        }
        let ctx = Arc::clone(&ctx);
        proposals.spawn(async move {
            let duties = if recheck {
                match super::duty_fetch::refetch_proposers(&ctx, epoch, &duties).await {
                    Ok(d) => {
                        ctx.duties.insert(epoch, d.clone());
                        Arc::new(d)
                    }
                    Err(e) => {
                        tracing::warn!(slot = s, "proposer duties: {e}; using those fetched before the epoch");
                        duties
                    }
                }
            } else {
                duties
            };
            let Some(p) = duties.proposers.get(&s).cloned() else { return };
            if !ctx.store.released(p.validator_index) {
                return;
            }
            if let Err(e) = propose(&ctx, s, p.validator_index, p.pubkey).await {
                if let ProposeError::BadBlock { what, .. } = &e {
                    ctx.events.emit(Event::Refused {
                        kind: MessageKind::Block,
                        slot: s,
                        validator: Some(p.validator_index),
                        reason: Refusal::InconsistentNodeData { what: what.clone() },
                    });
                } else {
                    ctx.duty_failed(Service::Block, s, &e);
                }
            }
        });
        while proposals.try_join_next().is_some() {}
    }
    while proposals.join_next().await.is_some() {}
}

async fn produce<P: Preset>(
    ctx: &Ctx<P>,
    bn: &BeaconClient,
    slot: u64,
    randao: SignatureBytes,
    graffiti: [u8; 32],
    boost: u64,
) -> Result<Produced<P>, ProposeError> {
    let t = ctx.slot_timeout() * 2;
    let expected = ctx.spec.fork_name_at_slot(slot);
    let bad = |what: String| ProposeError::BadBlock { slot, what };
    let parse_fork = |v: &str| -> Result<ForkName, ProposeError> {
        let fork: ForkName = v.parse().map_err(|e: UnknownForkName| bad(e.to_string()))?;
        if fork != expected {
            return Err(bad(format!("node produced a {fork} block, the slot is {expected}")));
        }
        Ok(fork)
    };
    let g = hex::encode(graffiti);
    if !expected.electra_enabled() {
        let path = format!("/eth/v2/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{g}");
        let produced: ProducedBlock = bn.get(&path, t).await?;
        let fork = parse_fork(&produced.version)?;
        let block =
            BeaconBlock::<P>::from_json(fork, produced.data).map_err(|e| bad(format!("produced block: {e}")))?;
        return Ok(Produced::Full { block, sidecars: None });
    }
    let path =
        format!("/eth/v3/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{g}&builder_boost_factor={boost}");
    let raw = bn.get_ssz_or_json(&path, t).await?;
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
        let block = BeaconBlock::<P>::from_ssz_bytes(fork, block).map_err(|e| bad(format!("produced block: {e}")))?;
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
    let mut take = |k: &str| contents.remove(k).ok_or_else(|| bad(format!("produced block contents lack `{k}`")));
    let block_json = take("block")?;
    let proofs = take("kzg_proofs")?;
    let blobs = take("blobs")?;
    let block = BeaconBlock::<P>::from_json(fork, block_json).map_err(|e| bad(format!("produced block: {e}")))?;
    Ok(Produced::Full { block, sidecars: Some(Sidecars::Json(proofs, blobs)) })
}

/// Refuses a block whose parent the node does not know, or whose parent is
/// not at an earlier slot. Other errors asking are logged, not fatal.
async fn check_parent<P: Preset>(
    ctx: &Ctx<P>,
    bn: &BeaconClient,
    slot: u64,
    parent_root: Hash256,
) -> Result<(), ProposeError> {
    let path = format!("/eth/v1/beacon/headers/{parent_root}");
    match bn.get::<Data<HeaderEntry>>(&path, ctx.slot_timeout()).await {
        Ok(h) if h.data.header.message.slot < slot => Ok(()),
        Ok(h) => Err(ProposeError::BadBlock {
            slot,
            what: format!("block built on a parent at slot {}", h.data.header.message.slot),
        }),
        Err(BeaconError::NotServed { .. }) => {
            Err(ProposeError::BadBlock { slot, what: format!("block built on unknown parent {parent_root}") })
        }
        Err(e) => {
            warn!(slot, "could not check the block's parent: {e}");
            Ok(())
        }
    }
}

async fn publish<P: Preset>(
    ctx: &Ctx<P>,
    bn: &BeaconClient,
    fork: ForkName,
    produced: &Produced<P>,
    sig: SignatureBytes,
) -> Result<(), BeaconError> {
    let t = ctx.slot_timeout() * 2;
    let sig_bytes: [u8; 96] = sig.0;
    match produced {
        Produced::Full { block, sidecars: None } => {
            let body = serde_json::json!({"message": block.to_json(), "signature": sig});
            bn.post_ignore("/eth/v1/beacon/blocks", &body, t).await?;
        }
        Produced::Full { block, sidecars: Some(Sidecars::Json(kzg_proofs, blobs)) } => {
            let body = serde_json::json!({
                "signed_block": {"message": block.to_json(), "signature": sig},
                "kzg_proofs": kzg_proofs,
                "blobs": blobs,
            });
            bn.post_versioned("/eth/v2/beacon/blocks", &body, fork, t).await?;
        }
        Produced::Full { block, sidecars: Some(Sidecars::Ssz { proofs, blobs }) } => {
            let signed = ssz_envelope::signed_block(&block.as_ssz_bytes(), &sig_bytes);
            let ssz = ssz_envelope::signed_block_contents(&signed, proofs, blobs);
            if let Err(e) = bn.post_ssz_versioned("/eth/v2/beacon/blocks", &ssz, fork, t).await {
                warn!("SSZ publish failed ({e}); publishing as JSON");
                let body = serde_json::json!({
                    "signed_block": {"message": block.to_json(), "signature": sig},
                    "kzg_proofs": ssz_envelope::hex_items(proofs, KZG_PROOF_BYTES),
                    "blobs": ssz_envelope::hex_items(blobs, BLOB_BYTES),
                });
                bn.post_versioned("/eth/v2/beacon/blocks", &body, fork, t).await?;
            }
        }
        Produced::Blinded { block, ssz } => {
            let published = if *ssz {
                let bytes = ssz_envelope::signed_block(&block.as_ssz_bytes(), &sig_bytes);
                match bn.post_ssz_versioned("/eth/v2/beacon/blinded_blocks", &bytes, fork, t).await {
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
                bn.post_versioned("/eth/v2/beacon/blinded_blocks", &body, fork, t).await?;
            }
        }
    }
    Ok(())
}

/// Proposes the block of `slot` for our validator `proposer` (key `pubkey`
/// as the duty named it; the store checks it against its own map).
async fn propose<P: Preset>(
    ctx: &Ctx<P>,
    slot: u64,
    proposer: u64,
    pubkey: PublicKeyBytes,
) -> Result<(), ProposeError> {
    // Fail closed: a key with no fee recipient does not even ask for a block.
    let Some((_, config)) = ctx.store.proposal_config(proposer) else {
        return Err(ProposeError::NotSigned { slot, what: "block of an unknown validator" });
    };
    if let Some(reason) = config.no_recipient(&pubkey) {
        ctx.events.emit(Event::Refused { kind: MessageKind::Block, slot, validator: Some(proposer), reason });
        return Ok(());
    }
    let fork = ctx.spec.fork_name_at_slot(slot);
    let Outcome::Signed(randao) = ctx.store.sign_randao(slot, proposer, pubkey).await else {
        return Err(ProposeError::NotSigned { slot, what: "RANDAO reveal" });
    };
    // The graffiti file (read again now) wins over the definitions' and --graffiti.
    let from_file = ctx.cfg.graffiti_file.as_ref().and_then(|f| {
        let (g, err) = f.graffiti_for(&pubkey);
        if let Some(e) = err {
            warn!(slot, "{e}; using the file's last good reading");
        }
        g
    });
    let graffiti = from_file.or_else(|| config.graffiti.clone()).unwrap_or_else(|| "poolvc".into());
    let boost = match (config.builder(), ctx.cfg.builder_boost_factor) {
        (false, _) => 0,
        (true, Some(factor)) => factor,
        (true, None) => 100,
    };
    // `--proposer-nodes` first; the beacon nodes if they fail (as Lighthouse).
    let mut bn = ctx.proposer_nodes.as_ref().unwrap_or(&ctx.beacon);
    let produced = match produce(ctx, bn, slot, randao, graffiti_bytes(&graffiti), boost).await {
        Err(ProposeError::Beacon(e)) if ctx.proposer_nodes.is_some() => {
            warn!(slot, "proposer nodes failed to produce the block ({e}); asking the beacon nodes");
            bn = &ctx.beacon;
            produce(ctx, bn, slot, randao, graffiti_bytes(&graffiti), boost).await?
        }
        r => r?,
    };
    let header = produced.header();
    if header.slot != slot || header.proposer_index != proposer {
        return Err(ProposeError::BadBlock {
            slot,
            what: format!(
                "node produced a block for slot {} proposer {}, expected {slot} {proposer}",
                header.slot, header.proposer_index
            ),
        });
    }
    check_parent(ctx, bn, slot, header.parent_root).await?;
    let outcome = match &produced {
        Produced::Full { block, .. } => ctx.store.sign_block(proposer, pubkey, block).await,
        Produced::Blinded { block, .. } => ctx.store.sign_blinded_block(proposer, pubkey, block).await,
    };
    let Outcome::Signed(sig) = outcome else {
        // The store told the refusal or failure.
        return Ok(());
    };
    let blinded = matches!(produced, Produced::Blinded { .. });
    let mut r = publish(ctx, bn, fork, &produced, sig).await;
    if let (Err(e), true) = (&r, !std::ptr::eq(bn, &ctx.beacon)) {
        warn!(slot, "proposer nodes failed to publish the block ({e}); publishing through the beacon nodes");
        r = publish(ctx, &ctx.beacon, fork, &produced, sig).await;
    }
    let ok = r.is_ok();
    ctx.publish_outcome(MessageKind::Block, slot, vec![proposer], r);
    if ok {
        info!(slot, proposer, blinded, "block proposed");
    }
    Ok(())
}
