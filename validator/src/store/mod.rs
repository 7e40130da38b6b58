//! The validator store: the only path from a message to a signature.
//!
//! ```text
//!  duty services --messages--> ValidatorStore::sign_*(batch)
//!     1. resolve: the key from poolvc's own index <-> public key map; a duty
//!        whose public key disagrees with it is refused
//!     2. doppelganger: has protection released the key? With leased key
//!        shards: does this instance hold the lease of the key's shard?
//!     3. policy: the message is not dated past the wall clock
//!        (`poolvc_signer::clock`); a locally built block's payload, or a
//!        builder registration, must pay the key's fee recipient (none ->
//!        refused); a blinded block only when poolvc asked for builder
//!        blocks for that key and its last signed registration pays that
//!        recipient; from Gloas on, a block's bid, a self-built envelope and
//!        proposer preferences must pay it, and a builder's bid is taken
//!        only when asked for and allowed
//!     4. slashing: one batched check-and-insert, durable before step 5
//!     5. signer: one batch for the local engine, and one per remote signer
//!        (Web3Signer API: the message itself goes, with the root it must give)
//!  <-- one Outcome per message: Signed | Refused(why) | Failed(error)
//! ```
//!
//! Invariants kept here:
//! - a service hands the store messages, never roots or key handles: the
//!   store computes each signing root from the message and the fork, so
//!   nothing is signed that the checks did not see;
//! - the key that is checked, recorded in the slashing database and signs
//!   is one and the same entry of the registry, resolved once per message;
//! - a slashable message is signed only after its record is durable; a
//!   database error signs nothing;
//! - refusals and failures are told as events here, once.

mod gate;
mod keys;
pub mod local;
mod messages;
pub mod registry;
pub mod web3signer;

use crate::events::{Event, EventBus, MessageKind};
use crate::outcome::{DatabaseFault, Failure, Outcome, Refusal, SignerFault};
use crate::policy::{self, ProposalConfig};
use local::LocalSigner;
use poolvc_signer::clock::{AheadOfClock, WallClock};
use poolvc_signer::keys::{PublicKey, SecretKey};
use poolvc_signer::slashing::protect::{protect, Protection, ToProtect};
use poolvc_signer::slashing::{SlashingDatabase, SlashingError};
use poolvc_signer::types::*;
use prometheus_client::metrics::histogram::Histogram;
use registry::{IndexConflict, KeyEntry, Registry, SigningMethod};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use web3signer::{RemoteError, RemoteTarget, RemoteWork, Web3SignerClient, Web3SignerOptions};

/// Errors of the store's key management.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Registering keys with the slashing database failed.
    #[error("registering {count} keys with the slashing database: {source}")]
    Register {
        /// Keys in the call.
        count: usize,
        /// The database's error.
        source: SlashingError,
    },
    /// A remote signer's client could not be built.
    #[error("{source}")]
    Remote {
        /// The cause.
        source: RemoteError,
    },
    /// The blocking task running a database call died.
    #[error("slashing database task: {reason}")]
    Task {
        /// Why.
        reason: String,
    },
}

/// Latency histograms the store fills (shared with the metrics registry).
#[derive(Debug, Clone, Default)]
pub struct StoreTimings {
    /// Seconds per signer batch.
    pub signing: Option<Histogram>,
    /// Seconds per slashing check-and-insert batch.
    pub slashing: Option<Histogram>,
}

/// An attestation to sign: the duty's validator and key, and the data.
#[derive(Debug, Clone, Copy)]
pub struct AttestationToSign {
    /// The duty's validator index.
    pub validator_index: u64,
    /// The public key the duty names (checked against poolvc's own map).
    pub pubkey: PublicKeyBytes,
    /// The attestation data.
    pub data: AttestationData,
}

/// Which key a message is for.
#[derive(Debug, Clone, Copy)]
enum KeyRef {
    /// By index, with the public key the duty claims (if it names one).
    Index { index: u64, claimed: Option<PublicKeyBytes> },
    /// By public key (builder registrations).
    Pubkey(PublicKeyBytes),
}

/// The Web3Signer request of a message (only built while the store holds
/// remote keys), or why it cannot be sent remotely.
type RemoteRequest<P> =
    Option<Result<Arc<poolvc_signer::web3signer::SigningRequest<P>>, poolvc_signer::web3signer::RequestError>>;

/// What a message pays, for step 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pays {
    /// Not a money path.
    Nothing,
    /// A full block's payload or a builder registration: must be the key's
    /// fee recipient.
    To(Address),
    /// A blinded block (a builder's payload).
    Builder {
        /// Whether poolvc asked the node for builder blocks for this
        /// proposal (`builder_boost_factor` above 0).
        asked: bool,
    },
    /// A Gloas block: its bid's recipient and builder.
    Bid {
        /// The bid's `fee_recipient`.
        to: Address,
        /// The bid's builder (`BUILDER_INDEX_SELF_BUILD` for the proposer).
        builder_index: u64,
        /// Whether poolvc asked for builder bids for this proposal.
        asked: bool,
    },
    /// A Gloas envelope: its payload's recipient and builder.
    Envelope {
        /// The payload's `fee_recipient`.
        to: Address,
        /// The envelope's builder.
        builder_index: u64,
    },
}

/// One message on its way through the gate.
#[derive(Debug, Clone)]
struct Item<P: Preset> {
    key: KeyRef,
    root: Hash256,
    slashable: Slashable,
    /// What the message pays.
    pays: Pays,
    /// The wall-clock bound's verdict on the message's date.
    dated: Result<(), AheadOfClock>,
    /// For a remote key: the request (message, fork, root).
    remote: RemoteRequest<P>,
}

/// A message past step 1.
struct Resolved<P: Preset> {
    pos: usize,
    pubkey: PublicKeyBytes,
    index: Option<u64>,
    method: SigningMethod,
    root: Hash256,
    slashable: Slashable,
    remote: RemoteRequest<P>,
}

/// The gate. Cheap to share behind an `Arc`.
pub struct ValidatorStore<P: Preset> {
    spec: ChainSpec,
    genesis_validators_root: Hash256,
    /// The chain's clock: no message dated past it is signed.
    clock: WallClock,
    registry: RwLock<Registry>,
    local: LocalSigner,
    /// Remote signers' clients; `SigningMethod::Remote(n)` is the n-th.
    remote: RwLock<Vec<Arc<Web3SignerClient>>>,
    remote_options: Web3SignerOptions,
    /// Remote keys held (requests are built only while there are some).
    remote_keys: std::sync::atomic::AtomicUsize,
    slashing: Arc<dyn SlashingDatabase>,
    events: Arc<EventBus>,
    timings: StoreTimings,
    /// Keys doppelganger protection has not released yet.
    unreleased: std::sync::atomic::AtomicUsize,
    /// With leased key shards: the leases held (step 2 refuses a key whose
    /// shard's lease this instance does not hold).
    leases: Option<Arc<crate::leases::view::LeaseView>>,
    /// Held (shared) by every pass through the gate, from admission to the
    /// signature: [`ValidatorStore::remove_keys_and_wait`] takes it
    /// exclusively after removing keys, so once it returns no signature
    /// by a removed key can still be on its way.
    in_flight: tokio::sync::RwLock<()>,
    /// Bumped whenever the keys, their indices or their settings change
    /// (the duty and preparation services watch it).
    changes: tokio::sync::watch::Sender<u64>,
    _p: std::marker::PhantomData<P>,
}

impl<P: Preset> std::fmt::Debug for ValidatorStore<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorStore").field("keys", &self.len()).finish()
    }
}

impl<P: Preset> ValidatorStore<P> {
    /// A store with no keys, on the chain whose clock is `clock`.
    pub fn new(
        spec: ChainSpec,
        genesis_validators_root: Hash256,
        clock: WallClock,
        slashing: Arc<dyn SlashingDatabase>,
        events: Arc<EventBus>,
        timings: StoreTimings,
    ) -> Self {
        Self {
            spec,
            genesis_validators_root,
            clock,
            registry: RwLock::new(Registry::default()),
            local: LocalSigner::new(),
            remote: RwLock::new(Vec::new()),
            remote_options: Web3SignerOptions::default(),
            remote_keys: std::sync::atomic::AtomicUsize::new(0),
            slashing,
            events,
            timings,
            unreleased: std::sync::atomic::AtomicUsize::new(0),
            leases: None,
            in_flight: tokio::sync::RwLock::new(()),
            changes: tokio::sync::watch::channel(0).0,
            _p: std::marker::PhantomData,
        }
    }

    /// Sets how remote signers are reached (before any remote key is added).
    pub fn with_web3signer_options(mut self, options: Web3SignerOptions) -> Self {
        self.remote_options = options;
        self
    }

    /// Signs only for keys whose shard's lease `view` holds (leased key
    /// shards; set before the store is shared).
    pub fn with_leases(mut self, view: Arc<crate::leases::view::LeaseView>) -> Self {
        self.leases = Some(view);
        self
    }

    /// The leases held changed: the duty services fetch duties (and
    /// selection proofs) again for the keys that may sign now.
    pub fn leases_changed(&self) {
        self.changed();
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Signer threads.
    pub fn signer_threads(&self) -> usize {
        self.local.threads()
    }

    fn ctx(&self) -> SigningContext<'_> {
        SigningContext { spec: &self.spec, genesis_validators_root: self.genesis_validators_root }
    }

    fn root(&self, m: &SignableMessage<'_, P>) -> Hash256 {
        self.ctx().signing_root::<P>(m)
    }
}

#[cfg(test)]
mod tests;
