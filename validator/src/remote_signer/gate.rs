//! The remote signer's gate: the only path from a request to a signature
//! in `poolvc signer`.
//!
//! ```text
//!  requests (one, or a batch in order)
//!     1. key: the identifier must be a loaded key (404 otherwise), allowed
//!        to sign the message's kind (`--allowed-kinds-file`; 403 otherwise)
//!     2. check: the signer computes the root from the message with its own
//!        config; another network, fork or signingRoot is refused (400); a
//!        message dated past the wall clock (`poolvc_signer::clock`) is
//!        refused (412), so nobody can poison a key's slashing watermarks
//!     3. slashing: one check-and-insert for the batch's attestations and
//!        one for its blocks, durable before step 4 (412 when slashable)
//!     4. engine: one batch for everything that passed (same-message
//!        batching: a slot's attestations share one hash-to-curve)
//! ```
//!
//! Invariants kept here:
//! - nothing is signed whose root was not computed here from the message;
//! - a slashable message is signed only after its record is durable in the
//!   database (shared by every signer instance on PostgreSQL, whose row
//!   locks serialize two instances checking the same key); a database
//!   error signs nothing.

use super::exposure::KindsPolicy;
use poolvc_signer::batch::{KeyHandle, KeySet, SignRequest, SigningEngine};
use poolvc_signer::clock::WallClock;
use poolvc_signer::keys::{PublicKey, SecretKey};
use poolvc_signer::slashing::protect::{protect, Protection, ToProtect};
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::{ChainSpec, Hash256, Preset, PublicKeyBytes, Slashable};
use poolvc_signer::web3signer::{self, BatchAnswer, SigningRequest};
use std::collections::HashMap;
use std::sync::Arc;

/// Keys, config, slashing database and engine of one signer.
pub struct SignerGate<P: Preset> {
    spec: ChainSpec,
    genesis_validators_root: Hash256,
    clock: WallClock,
    engine: Arc<SigningEngine>,
    keys: HashMap<PublicKeyBytes, KeyHandle>,
    slashing: Arc<dyn SlashingDatabase>,
    /// Requests refused as dated past the wall clock.
    ahead_of_clock: std::sync::atomic::AtomicU64,
    /// Which kinds each key signs.
    kinds: KindsPolicy,
    _p: std::marker::PhantomData<P>,
}

impl<P: Preset> std::fmt::Debug for SignerGate<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerGate").field("keys", &self.keys.len()).finish()
    }
}

fn refused(status: u16, message: impl Into<String>) -> BatchAnswer {
    BatchAnswer::Refused { status, message: message.into() }
}

impl<P: Preset> SignerGate<P> {
    /// A gate over `keys` (registered with the slashing database here, so
    /// no key signs unprotected). Blocking: a database call.
    pub fn new(
        spec: ChainSpec,
        genesis_validators_root: Hash256,
        clock: WallClock,
        keys: Vec<(SecretKey, PublicKey)>,
        slashing: Arc<dyn SlashingDatabase>,
        threads: usize,
    ) -> Result<Self, poolvc_signer::slashing::SlashingError> {
        let pubkeys: Vec<PublicKeyBytes> = keys.iter().map(|(_, pk)| pk.to_bytes()).collect();
        slashing.register_validators(&pubkeys)?;
        let engine = Arc::new(SigningEngine::new(KeySet::new(), threads));
        let handles = engine.add_keys(&keys);
        let keys = pubkeys.into_iter().zip(handles).collect();
        Ok(Self {
            spec,
            genesis_validators_root,
            clock,
            engine,
            keys,
            slashing,
            ahead_of_clock: std::sync::atomic::AtomicU64::new(0),
            kinds: KindsPolicy::any(),
            _p: std::marker::PhantomData,
        })
    }

    /// Limits the kinds each key signs.
    pub fn with_kinds(mut self, kinds: KindsPolicy) -> Self {
        self.kinds = kinds;
        self
    }

    /// The keys, in no particular order.
    pub fn pubkeys(&self) -> Vec<PublicKeyBytes> {
        self.keys.keys().copied().collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Requests refused so far as dated past the wall clock.
    pub fn ahead_of_clock(&self) -> u64 {
        self.ahead_of_clock.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the slashing database answers.
    pub async fn database_ok(&self) -> bool {
        let db = Arc::clone(&self.slashing);
        tokio::task::spawn_blocking(move || db.genesis_validators_root().is_ok()).await.unwrap_or(false)
    }

    /// Signs a batch of requests: one answer per request, in order.
    pub async fn sign(&self, batch: Vec<(PublicKeyBytes, SigningRequest<P>)>) -> Vec<BatchAnswer> {
        let mut out: Vec<Option<BatchAnswer>> = vec![None; batch.len()];
        // Steps 1 and 2.
        let mut passed: Vec<(usize, PublicKeyBytes, KeyHandle, web3signer::Checked)> = Vec::new();
        for (pos, (pubkey, req)) in batch.iter().enumerate() {
            let Some(handle) = self.keys.get(pubkey) else {
                out[pos] = Some(refused(404, format!("public key {pubkey} is not loaded by this signer")));
                continue;
            };
            let kind = req.message.kind();
            if !self.kinds.allows(pubkey, kind) {
                out[pos] = Some(refused(403, format!("{kind} is not allowed for {pubkey} by --allowed-kinds-file")));
                continue;
            }
            match web3signer::check(&self.spec, self.genesis_validators_root, &self.clock, req) {
                Ok(c) => passed.push((pos, *pubkey, *handle, c)),
                Err(e @ web3signer::RequestError::AheadOfClock { .. }) => {
                    self.ahead_of_clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(%pubkey, "refused: {e}");
                    out[pos] = Some(refused(412, e.to_string()))
                }
                Err(e) => out[pos] = Some(refused(400, e.to_string())),
            }
        }
        // Step 3: the one protected batch (records from the messages).
        let batch: Vec<ToProtect> = passed
            .iter()
            .map(|(_, pk, _, c)| ToProtect { pubkey: *pk, slashable: c.slashable, signing_root: c.signing_root })
            .collect();
        let db = Arc::clone(&self.slashing);
        let verdicts = match tokio::task::spawn_blocking(move || protect(db.as_ref(), &batch)).await {
            Ok(r) => r.map_err(|e| format!("slashing protection database: {e}")),
            Err(e) => Err(format!("slashing protection task: {e}")),
        };
        let mut safe = Vec::with_capacity(passed.len());
        match verdicts {
            Ok(v) => {
                for (p, protection) in passed.into_iter().zip(v) {
                    match protection {
                        Protection::NotSlashable | Protection::Safe(_) => safe.push(p),
                        Protection::Refused(why) => out[p.0] = Some(refused(412, format!("slashable: {why}"))),
                    }
                }
            }
            Err(why) => {
                // Nothing slashable is signed without its record; the rest
                // goes on.
                for p in passed {
                    if matches!(p.3.slashable, Slashable::No) {
                        safe.push(p);
                    } else {
                        out[p.0] = Some(refused(500, why.clone()));
                    }
                }
            }
        }
        // Step 4.
        if !safe.is_empty() {
            let reqs =
                safe.iter().map(|(_, _, key, c)| SignRequest { key: *key, signing_root: c.signing_root }).collect();
            match self.engine.sign_async(reqs).await {
                Ok(sigs) if sigs.len() == safe.len() => {
                    for ((pos, ..), signature) in safe.iter().zip(sigs) {
                        out[*pos] = Some(BatchAnswer::Signed { signature });
                    }
                }
                Ok(sigs) => {
                    let why = format!("engine returned {} signatures for {} requests", sigs.len(), safe.len());
                    for (pos, ..) in &safe {
                        out[*pos] = Some(refused(500, why.clone()));
                    }
                }
                Err(e) => {
                    for (pos, ..) in &safe {
                        out[*pos] = Some(refused(500, format!("signing engine: {e}")));
                    }
                }
            }
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| refused(500, "not processed"))).collect()
    }
}
