//! The keymanager's state and errors: what the API changes (the store,
//! the slashing database, the files) and how a change can fail.

use super::token;
use crate::policy::ProposalDefaults;
use crate::store::ValidatorStore;
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::{ChainSpec, Hash256, Preset, PublicKeyBytes};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `--http` and its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeymanagerConfig {
    /// `--http-address` and `--http-port`.
    pub addr: SocketAddr,
    /// `--http-allow-origin`.
    pub allow_origin: Option<String>,
    /// `--http-token-path` (default: `api-token.txt` in the validators dir).
    pub token_path: Option<PathBuf>,
    /// `--http-store-passwords-in-secrets-dir`: an imported keystore's
    /// password goes to the secrets dir, not into `validator_definitions.yml`.
    pub passwords_in_secrets_dir: bool,
}

/// Errors of the keymanager's operations; [`routes`] maps each to its
/// HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum KeymanagerError {
    /// The request is malformed.
    #[error("{reason}")]
    BadRequest {
        /// What is wrong, and where.
        reason: String,
    },
    /// The key is not one this client holds.
    #[error("validator {pubkey} is not managed by this client")]
    UnknownKey {
        /// The key.
        pubkey: PublicKeyBytes,
    },
    /// The key's settings cannot be changed here.
    #[error("{reason}")]
    Forbidden {
        /// Why.
        reason: String,
    },
    /// The key exists but what was asked for is not known yet.
    #[error("{reason}")]
    NotFound {
        /// What is missing.
        reason: String,
    },
    /// Something local failed (disk, database, a task).
    #[error("{reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
    /// Opening or serving the API.
    #[error("keymanager API on {addr}: {source}")]
    Serve {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The token file.
    #[error(transparent)]
    Token(#[from] token::TokenError),
}

impl KeymanagerError {
    pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Internal { reason: format!("{what}: {e}") }
    }
}

/// What the API changes: the store, the slashing database and the files.
pub struct Keymanager<P: Preset> {
    pub(super) store: Arc<ValidatorStore<P>>,
    pub(super) slashing: Arc<dyn SlashingDatabase>,
    pub(super) spec: ChainSpec,
    pub(super) genesis_time: u64,
    pub(super) genesis_validators_root: Hash256,
    pub(super) validators_dir: PathBuf,
    pub(super) secrets_dir: PathBuf,
    pub(super) defaults: ProposalDefaults,
    pub(super) passwords_in_secrets_dir: bool,
    /// Whether imported keys may sign at once (no doppelganger protection;
    /// with it, they are held and watched first).
    pub(super) may_sign_new: bool,
    pub(super) key_cache: Option<PathBuf>,
    /// One change at a time (see the module's invariants).
    pub(super) edit: tokio::sync::Mutex<()>,
}

impl<P: Preset> std::fmt::Debug for Keymanager<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keymanager").field("validators_dir", &self.validators_dir).finish_non_exhaustive()
    }
}

/// Where the keymanager finds what it changes.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The chain's spec (the current epoch of a voluntary exit).
    pub spec: ChainSpec,
    /// Genesis time.
    pub genesis_time: u64,
    /// The network (imported interchanges must be for it).
    pub genesis_validators_root: Hash256,
    /// Keystores and `validator_definitions.yml`.
    pub validators_dir: PathBuf,
    /// Password files.
    pub secrets_dir: PathBuf,
    /// The flags' proposal defaults.
    pub defaults: ProposalDefaults,
    /// `--http-store-passwords-in-secrets-dir`.
    pub passwords_in_secrets_dir: bool,
    /// Imported keys may sign at once.
    pub may_sign_new: bool,
    /// The key cache's dir (deleted keys are dropped from it), if used.
    pub key_cache: Option<PathBuf>,
}

impl<P: Preset> Keymanager<P> {
    /// A keymanager over `store` and `slashing`.
    pub fn new(store: Arc<ValidatorStore<P>>, slashing: Arc<dyn SlashingDatabase>, parts: Parts) -> Self {
        Self {
            store,
            slashing,
            spec: parts.spec,
            genesis_time: parts.genesis_time,
            genesis_validators_root: parts.genesis_validators_root,
            validators_dir: parts.validators_dir,
            secrets_dir: parts.secrets_dir,
            defaults: parts.defaults,
            passwords_in_secrets_dir: parts.passwords_in_secrets_dir,
            may_sign_new: parts.may_sign_new,
            key_cache: parts.key_cache,
            edit: tokio::sync::Mutex::new(()),
        }
    }

    /// The epoch the clock is in.
    pub(super) fn current_epoch(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let since = now.saturating_sub(self.genesis_time.saturating_mul(1000));
        self.spec.epoch_of(since / self.spec.slot_duration_ms.max(1))
    }
}

impl<P: Preset> Keymanager<P> {
    /// A voluntary exit of our key `pubkey` at `epoch` (default: the
    /// current one), signed through the store.
    pub async fn sign_exit(
        &self,
        pubkey: PublicKeyBytes,
        epoch: Option<u64>,
    ) -> Result<poolvc_signer::types::SignedVoluntaryExit, KeymanagerError> {
        use crate::outcome::Outcome;
        if !self.store.holds(&pubkey) {
            return Err(KeymanagerError::UnknownKey { pubkey });
        }
        let validator_index = self.store.index_of(&pubkey).ok_or_else(|| KeymanagerError::NotFound {
            reason: format!("validator {pubkey} has no index yet (not deposited, or not yet seen by the beacon node)"),
        })?;
        let message = poolvc_signer::types::VoluntaryExit {
            epoch: epoch.unwrap_or_else(|| self.current_epoch()),
            validator_index,
        };
        match self.store.sign_voluntary_exits(&[message]).await.pop() {
            Some(Outcome::Signed(signature)) => Ok(poolvc_signer::types::SignedVoluntaryExit { message, signature }),
            Some(Outcome::Refused(why)) => Err(KeymanagerError::Forbidden { reason: why.to_string() }),
            Some(Outcome::Failed(why)) => Err(KeymanagerError::internal("signing the exit", why)),
            None => Err(KeymanagerError::Internal { reason: "the store returned no outcome".into() }),
        }
    }
}
