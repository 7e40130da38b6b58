//! The local signing method: poolvc-signer's batch engine.
//!
//! This module is the only place in the validator crate that holds the
//! engine (apart from `poolvc bench signing`, which measures the engine
//! itself); it is private to the store, so nothing outside the store can
//! sign a root the store's checks did not see. `tests/client/store_is_the_gate.rs`
//! fails if another module names the engine.

use poolvc_signer::batch::{BatchError, SignRequest, SigningEngine};
use poolvc_signer::keys::{PublicKey, SecretKey};
use poolvc_signer::types::{Hash256, SignatureBytes};
use std::sync::Arc;

pub use poolvc_signer::batch::KeyHandle;

/// Why a local batch was not signed.
#[derive(Debug, thiserror::Error)]
pub(super) enum LocalError {
    /// The engine failed the batch.
    #[error(transparent)]
    Engine(#[from] BatchError),
    /// The engine answered with another number of signatures.
    #[error("{got} signatures for {asked} requests")]
    Count {
        /// Signatures returned.
        got: usize,
        /// Requests made.
        asked: usize,
    },
}

/// The engine, with runtime key changes.
#[derive(Debug)]
pub(super) struct LocalSigner {
    engine: Arc<SigningEngine>,
}

impl LocalSigner {
    /// An engine with no keys, on all cores.
    pub(super) fn new() -> Self {
        Self { engine: Arc::new(SigningEngine::new(poolvc_signer::batch::KeySet::new(), 0)) }
    }

    /// Worker threads.
    pub(super) fn threads(&self) -> usize {
        self.engine.threads()
    }

    /// Adds keys; their handles, in order (never reused).
    pub(super) fn add(&self, keys: &[(SecretKey, PublicKey)]) -> Vec<KeyHandle> {
        self.engine.add_keys(keys)
    }

    /// Removes keys.
    pub(super) fn remove(&self, handles: &[KeyHandle]) {
        self.engine.remove_keys(handles);
    }

    /// Signs `(handle, root)` pairs in one engine batch, in order.
    pub(super) async fn sign(&self, work: &[(KeyHandle, Hash256)]) -> Result<Vec<SignatureBytes>, LocalError> {
        let reqs = work.iter().map(|(key, root)| SignRequest { key: *key, signing_root: *root }).collect();
        let sigs = self.engine.sign_async(reqs).await?;
        if sigs.len() != work.len() {
            return Err(LocalError::Count { got: sigs.len(), asked: work.len() });
        }
        Ok(sigs)
    }
}
