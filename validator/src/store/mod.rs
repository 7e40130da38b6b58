//! The validator store: the only path from a message to a signature.
//!
//! ```text
//!  duty services --messages--> ValidatorStore::sign_*(batch)
//!     1. resolve: the key from poolvc's own index <-> public key map; a duty
//!        whose public key disagrees with it is refused
//!     2. doppelganger: has protection released the key?
//!     3. policy: a locally built block's payload, or a builder registration,
//!        must pay the key's configured fee recipient (none -> refused)
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

pub mod local;
pub mod registry;
pub mod web3signer;

use crate::events::{Event, EventBus, MessageKind};
use crate::outcome::{DatabaseFault, Failure, Outcome, Refusal, SignerFault};
use crate::policy::{self, ProposalConfig};
use local::LocalSigner;
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

/// One message on its way through the gate.
#[derive(Debug, Clone)]
struct Item<P: Preset> {
    key: KeyRef,
    root: Hash256,
    slashable: Slashable,
    /// The fee recipient the message pays, if it is a money path.
    pays: Option<Address>,
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
    /// A store with no keys.
    pub fn new(
        spec: ChainSpec,
        genesis_validators_root: Hash256,
        slashing: Arc<dyn SlashingDatabase>,
        events: Arc<EventBus>,
        timings: StoreTimings,
    ) -> Self {
        Self {
            spec,
            genesis_validators_root,
            registry: RwLock::new(Registry::default()),
            local: LocalSigner::new(),
            remote: RwLock::new(Vec::new()),
            remote_options: Web3SignerOptions::default(),
            remote_keys: std::sync::atomic::AtomicUsize::new(0),
            slashing,
            events,
            timings,
            unreleased: std::sync::atomic::AtomicUsize::new(0),
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

    /// Adds keys that sign at remote signers (Web3Signer API), registered
    /// with slashing protection first like local keys. One pooled client
    /// per target. Blocking (a database call). Returns the keys added.
    pub fn add_remote_keys(
        &self,
        keys: Vec<(PublicKeyBytes, ProposalConfig, RemoteTarget)>,
        may_sign: bool,
    ) -> Result<Vec<PublicKeyBytes>, StoreError> {
        let fresh: Vec<_> = {
            let reg = self.read();
            let mut seen = HashSet::new();
            keys.into_iter().filter(|(pk, _, _)| reg.get(pk).is_none() && seen.insert(*pk)).collect()
        };
        let pubkeys: Vec<PublicKeyBytes> = fresh.iter().map(|(pk, _, _)| *pk).collect();
        self.slashing
            .register_validators(&pubkeys)
            .map_err(|source| StoreError::Register { count: pubkeys.len(), source })?;
        let mut ids = Vec::with_capacity(fresh.len());
        {
            let mut clients = self.remote.write().unwrap_or_else(|p| p.into_inner());
            for (_, _, target) in &fresh {
                let id = match clients.iter().position(|c| c.target() == target) {
                    Some(i) => i,
                    None => {
                        let c = Web3SignerClient::new(target.clone(), &self.remote_options)
                            .map_err(|source| StoreError::Remote { source })?;
                        clients.push(Arc::new(c));
                        clients.len() - 1
                    }
                };
                ids.push(u32::try_from(id).unwrap_or(u32::MAX));
            }
        }
        let mut reg = self.write();
        for ((pubkey, config, _), id) in fresh.into_iter().zip(ids) {
            if reg.insert(KeyEntry { pubkey, index: None, method: SigningMethod::Remote(id), may_sign, config }) {
                self.remote_keys.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if !may_sign {
                    self.unreleased.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
        drop(reg);
        if !pubkeys.is_empty() {
            self.changed();
        }
        Ok(pubkeys)
    }

    /// How key `pubkey` signs: `Some(target)` for a remote key, `None`
    /// for a local one or a key not held.
    pub fn remote_target_of(&self, pubkey: &PublicKeyBytes) -> Option<RemoteTarget> {
        let id = match self.read().get(pubkey)?.method {
            SigningMethod::Remote(id) => id,
            SigningMethod::Local(_) => return None,
        };
        let clients = self.remote.read().unwrap_or_else(|p| p.into_inner());
        clients.get(id as usize).map(|c| c.target().clone())
    }

    /// A receiver that sees each change of the keys, their indices or
    /// their settings (keymanager imports and deletions, new indices).
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
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

    /// Adds local keys (registered with slashing protection first, in one
    /// step, so a key can never sign unprotected). `may_sign` is false when
    /// doppelganger protection must release them first. Keys already held
    /// are skipped. Blocking (a database call): run it off the async
    /// threads. Returns the keys added.
    pub fn add_local_keys(
        &self,
        keys: Vec<(SecretKey, ProposalConfig)>,
        may_sign: bool,
    ) -> Result<Vec<PublicKeyBytes>, StoreError> {
        use rayon::prelude::*;
        // Each public key derived once (in parallel), for the map and the engine.
        let derived: Vec<(SecretKey, PublicKey, ProposalConfig)> = keys
            .into_par_iter()
            .map(|(sk, c)| {
                let pk = sk.public_key();
                (sk, pk, c)
            })
            .collect();
        self.add_local_keys_derived(derived, may_sign)
    }

    /// [`ValidatorStore::add_local_keys`] for keys whose public keys the
    /// caller derived already (the key loader does): each `PublicKey` must
    /// be its `SecretKey`'s, which the loader checked against the keystore.
    pub fn add_local_keys_derived(
        &self,
        derived: Vec<(SecretKey, PublicKey, ProposalConfig)>,
        may_sign: bool,
    ) -> Result<Vec<PublicKeyBytes>, StoreError> {
        let mut seen = HashSet::new();
        let mut fresh: Vec<(PublicKeyBytes, ProposalConfig)> = Vec::with_capacity(derived.len());
        let mut signing: Vec<(SecretKey, PublicKey)> = Vec::with_capacity(derived.len());
        {
            let reg = self.read();
            for (sk, pk, c) in derived {
                let bytes = pk.to_bytes();
                if reg.get(&bytes).is_none() && seen.insert(bytes) {
                    fresh.push((bytes, c));
                    signing.push((sk, pk));
                }
            }
        }
        let pubkeys: Vec<PublicKeyBytes> = fresh.iter().map(|(pk, _)| *pk).collect();
        self.slashing
            .register_validators(&pubkeys)
            .map_err(|source| StoreError::Register { count: pubkeys.len(), source })?;
        let handles = self.local.add(&signing);
        let mut reg = self.write();
        for ((pubkey, config), handle) in fresh.into_iter().zip(handles) {
            if reg.insert(KeyEntry { pubkey, index: None, method: SigningMethod::Local(handle), may_sign, config })
                && !may_sign
            {
                self.unreleased.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        drop(reg);
        if !pubkeys.is_empty() {
            self.changed();
        }
        Ok(pubkeys)
    }

    /// Removes keys; they sign nothing from now on. Returns how many were held.
    pub fn remove_keys(&self, pubkeys: &[PublicKeyBytes]) -> usize {
        let removed: Vec<KeyEntry> = {
            let mut reg = self.write();
            pubkeys.iter().filter_map(|pk| reg.remove(pk)).collect()
        };
        let held_back = removed.iter().filter(|e| !e.may_sign).count();
        self.unreleased.fetch_sub(held_back, std::sync::atomic::Ordering::SeqCst);
        let handles: Vec<_> = removed
            .iter()
            .filter_map(|e| match e.method {
                SigningMethod::Local(h) => Some(h),
                SigningMethod::Remote(_) => None,
            })
            .collect();
        let remote = removed.len() - handles.len();
        self.remote_keys.fetch_sub(remote, std::sync::atomic::Ordering::SeqCst);
        self.local.remove(&handles);
        if !removed.is_empty() {
            self.changed();
        }
        removed.len()
    }

    /// Removes keys, then waits until every signing that began before is
    /// over: when it returns, no removed key signs anything again, and the
    /// slashing database holds every message it signed. Returns the keys
    /// that were held.
    pub async fn remove_keys_and_wait(&self, pubkeys: &[PublicKeyBytes]) -> Vec<PublicKeyBytes> {
        let held: Vec<PublicKeyBytes> = pubkeys.iter().filter(|pk| self.holds(pk)).copied().collect();
        self.remove_keys(&held);
        drop(self.in_flight.write().await);
        held
    }

    /// Replaces our key `pubkey`'s proposal config with what `update`
    /// makes of it (the pool rule is kept). `false`: not our key.
    pub fn update_config(
        &self,
        pubkey: &PublicKeyBytes,
        update: impl FnOnce(&ProposalConfig) -> ProposalConfig,
    ) -> bool {
        let mut reg = self.write();
        let Some(e) = reg.entries_mut().find(|e| e.pubkey == *pubkey) else { return false };
        let pool = e.config.pool.clone();
        e.config = ProposalConfig { pool, ..update(&e.config) };
        drop(reg);
        self.changed();
        true
    }

    /// Lets keys sign (doppelganger protection released them).
    pub fn enable_signing(&self, pubkeys: &[PublicKeyBytes]) {
        let mut reg = self.write();
        let want: HashSet<&PublicKeyBytes> = pubkeys.iter().collect();
        for e in reg.entries_mut().filter(|e| want.contains(&e.pubkey) && !e.may_sign) {
            e.may_sign = true;
            self.unreleased.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Whether doppelganger protection has released every key.
    pub fn all_released(&self) -> bool {
        self.unreleased.load(std::sync::atomic::Ordering::SeqCst) == 0
    }

    /// Whether our validator `index` may sign (doppelganger protection
    /// released it). Services ask before they build messages, so a key
    /// still watched costs no refusal.
    pub fn released(&self, index: u64) -> bool {
        self.all_released() || self.read().by_index(index).is_some_and(|e| e.may_sign)
    }

    /// Keys doppelganger protection still holds.
    pub fn held_pubkeys(&self) -> Vec<PublicKeyBytes> {
        self.read().entries().filter(|e| !e.may_sign).map(|e| e.pubkey).collect()
    }

    /// Indices of the keys doppelganger protection still holds, ascending.
    pub fn held_indices(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.read().entries().filter(|e| !e.may_sign).filter_map(|e| e.index).collect();
        v.sort_unstable();
        v
    }

    /// Whether `index` is one of our keys that doppelganger protection
    /// still holds (what its watch looks for on the chain).
    pub fn is_held(&self, index: u64) -> bool {
        self.read().by_index(index).is_some_and(|e| !e.may_sign)
    }

    /// `items` less those of validators doppelganger protection still holds.
    pub fn keep_released<T>(&self, items: Vec<T>, index: impl Fn(&T) -> u64) -> Vec<T> {
        if self.all_released() {
            return items;
        }
        let reg = self.read();
        items.into_iter().filter(|t| reg.by_index(index(t)).is_some_and(|e| e.may_sign)).collect()
    }

    /// Records indices the beacon node reported for our keys; conflicting
    /// reports are returned (and not applied).
    pub fn set_indices(&self, found: impl IntoIterator<Item = (PublicKeyBytes, u64)>) -> Vec<IndexConflict> {
        let mut reg = self.write();
        let mut fresh = false;
        let mut conflicts = Vec::new();
        for (pk, i) in found {
            match reg.set_index(&pk, i) {
                Ok(new) => fresh |= new,
                Err(c) => conflicts.push(c),
            }
        }
        drop(reg);
        if fresh {
            self.changed();
        }
        conflicts
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Every key.
    pub fn pubkeys(&self) -> Vec<PublicKeyBytes> {
        self.read().entries().map(|e| e.pubkey).collect()
    }

    /// Keys whose index is not known yet.
    pub fn pubkeys_without_index(&self) -> Vec<PublicKeyBytes> {
        self.read().entries().filter(|e| e.index.is_none()).map(|e| e.pubkey).collect()
    }

    /// Indices of our keys, ascending.
    pub fn indices(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.read().entries().filter_map(|e| e.index).collect();
        v.sort_unstable();
        v
    }

    /// Whether `index` is one of our keys.
    pub fn is_ours(&self, index: u64) -> bool {
        self.read().by_index(index).is_some()
    }

    /// The public key of our validator `index`.
    pub fn pubkey_of(&self, index: u64) -> Option<PublicKeyBytes> {
        self.read().by_index(index).map(|e| e.pubkey)
    }

    /// Whether `pubkey` is one of our keys.
    pub fn holds(&self, pubkey: &PublicKeyBytes) -> bool {
        self.read().get(pubkey).is_some()
    }

    /// Who our key `pubkey` pays now (`None`: it does not propose).
    pub fn recipient_of(&self, pubkey: &PublicKeyBytes) -> Option<Address> {
        self.read().get(pubkey).and_then(|e| e.config.recipient())
    }

    /// `(key, config)` of every key.
    pub fn configs(&self) -> Vec<(PublicKeyBytes, ProposalConfig)> {
        self.read().entries().map(|e| (e.pubkey, e.config.clone())).collect()
    }

    /// The index of our key `pubkey`, once known.
    pub fn index_of(&self, pubkey: &PublicKeyBytes) -> Option<u64> {
        self.read().get(pubkey).and_then(|e| e.index)
    }

    /// Our validator `index`'s key and proposal config.
    pub fn proposal_config(&self, index: u64) -> Option<(PublicKeyBytes, ProposalConfig)> {
        self.read().by_index(index).map(|e| (e.pubkey, e.config.clone()))
    }

    /// `(index, key, config)` of every indexed key.
    pub fn indexed_configs(&self) -> Vec<(u64, PublicKeyBytes, ProposalConfig)> {
        let mut v: Vec<_> =
            self.read().entries().filter_map(|e| e.index.map(|i| (i, e.pubkey, e.config.clone()))).collect();
        v.sort_unstable_by_key(|(i, _, _)| *i);
        v
    }

    /// Keys with no fee recipient (they must not propose).
    pub fn keys_without_fee_recipient(&self) -> Vec<PublicKeyBytes> {
        self.read().entries().filter(|e| e.config.recipient().is_none()).map(|e| e.pubkey).collect()
    }

    /// Sets (or clears) each key's pool rule from `rule_of`; returns each
    /// key whose rule changed, with its config as it was. The pool service
    /// calls it after each read of the pool contracts.
    pub fn set_pool_recipients(
        &self,
        rule_of: impl Fn(&PublicKeyBytes) -> Option<policy::PoolRecipient>,
    ) -> Vec<(PublicKeyBytes, ProposalConfig)> {
        let mut reg = self.write();
        let mut changed = Vec::new();
        for e in reg.entries_mut() {
            let new = rule_of(&e.pubkey);
            if new != e.config.pool {
                changed.push((e.pubkey, e.config.clone()));
                e.config.pool = new;
            }
        }
        changed
    }

    fn ctx(&self) -> SigningContext<'_> {
        SigningContext { spec: &self.spec, genesis_validators_root: self.genesis_validators_root }
    }

    fn root(&self, m: &SignableMessage<'_, P>) -> Hash256 {
        self.ctx().signing_root::<P>(m)
    }

    /// The Web3Signer request of `m`, while any key signs remotely.
    fn remote_request(&self, m: &SignableMessage<'_, P>, root: Hash256) -> RemoteRequest<P> {
        if self.remote_keys.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            return None;
        }
        Some(poolvc_signer::web3signer::request_for(&self.spec, self.genesis_validators_root, m, root).map(Arc::new))
    }

    /// One message for `key`: its root, and its remote request if needed.
    fn item(&self, key: KeyRef, m: SignableMessage<'_, P>, pays: Option<Address>) -> Item<P> {
        let root = self.root(&m);
        Item { key, root, slashable: m.slashable(), pays, remote: self.remote_request(&m, root) }
    }

    /// Attestations: one slashing batch, one signing batch.
    pub async fn sign_attestations(&self, slot: Slot, batch: &[AttestationToSign]) -> Vec<Outcome> {
        let mut roots: Vec<(AttestationData, Hash256, RemoteRequest<P>)> = Vec::new();
        let items = batch
            .iter()
            .map(|a| {
                // One root (and one remote request) per distinct data (since
                // Electra: one per slot).
                let (root, remote) = match roots.iter().find(|(d, _, _)| *d == a.data) {
                    Some((_, r, q)) => (*r, q.clone()),
                    None => {
                        let m = SignableMessage::Attestation(&a.data);
                        let r = self.root(&m);
                        let q = self.remote_request(&m, r);
                        roots.push((a.data, r, q.clone()));
                        (r, q)
                    }
                };
                Item {
                    key: KeyRef::Index { index: a.validator_index, claimed: Some(a.pubkey) },
                    root,
                    slashable: SignableMessage::<P>::Attestation(&a.data).slashable(),
                    pays: None,
                    remote,
                }
            })
            .collect();
        self.gate(MessageKind::Attestation, slot, items).await
    }

    /// Attestation-aggregator selection proofs `(validator, claimed key, slot)`.
    pub async fn sign_selection_proofs(&self, batch: &[(u64, PublicKeyBytes, Slot)]) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |b| b.2);
        let items = batch
            .iter()
            .map(|(index, pk, s)| {
                let key = KeyRef::Index { index: *index, claimed: Some(*pk) };
                self.item(key, SignableMessage::SelectionProof(*s), None)
            })
            .collect();
        self.gate(MessageKind::SelectionProof, slot, items).await
    }

    /// Pre-Electra aggregate-and-proofs.
    pub async fn sign_aggregates_base(&self, slot: Slot, batch: &[AggregateAndProofBase<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| {
                self.item(
                    KeyRef::Index { index: m.aggregator_index, claimed: None },
                    SignableMessage::AggregateAndProofBase(m),
                    None,
                )
            })
            .collect();
        self.gate(MessageKind::Aggregate, slot, items).await
    }

    /// Electra aggregate-and-proofs.
    pub async fn sign_aggregates_electra(&self, slot: Slot, batch: &[AggregateAndProofElectra<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| {
                self.item(
                    KeyRef::Index { index: m.aggregator_index, claimed: None },
                    SignableMessage::AggregateAndProofElectra(m),
                    None,
                )
            })
            .collect();
        self.gate(MessageKind::Aggregate, slot, items).await
    }

    /// A RANDAO reveal.
    pub async fn sign_randao(&self, slot: Slot, index: u64, claimed: PublicKeyBytes) -> Outcome {
        let epoch = self.spec.epoch_of(slot);
        let item =
            self.item(KeyRef::Index { index, claimed: Some(claimed) }, SignableMessage::RandaoReveal(epoch), None);
        self.one(MessageKind::Randao, slot, item).await
    }

    /// A full block: its payload must pay the proposer's fee recipient
    /// (Bellatrix on), and its slot must be new for the key.
    pub async fn sign_block(&self, index: u64, claimed: PublicKeyBytes, block: &BeaconBlock<P>) -> Outcome {
        let h = block.header();
        let pays = match block.execution_fee_recipient() {
            Some(a) => Some(a),
            // Before Bellatrix a block pays no one; a key still needs a
            // fee recipient to propose, so the rule does not depend on the fork.
            None => self.proposal_config(index).and_then(|(_, c)| c.recipient()).or(Some(Address::ZERO)),
        };
        let item = self.item(KeyRef::Index { index, claimed: Some(claimed) }, SignableMessage::Block(block), pays);
        self.one(MessageKind::Block, h.slot, item).await
    }

    /// A blinded block (the builder's payload: who it pays is the builder's
    /// bid, not checked here). The key still needs a fee recipient.
    pub async fn sign_blinded_block(
        &self,
        index: u64,
        claimed: PublicKeyBytes,
        block: &BlindedBeaconBlock<P>,
    ) -> Outcome {
        let h = block.header();
        let pays = self.proposal_config(index).and_then(|(_, c)| c.recipient()).or(Some(Address::ZERO));
        let item =
            self.item(KeyRef::Index { index, claimed: Some(claimed) }, SignableMessage::BlindedBlock(block), pays);
        self.one(MessageKind::Block, h.slot, item).await
    }

    /// Sync-committee messages over `beacon_block_root` at `slot`.
    pub async fn sign_sync_messages(
        &self,
        slot: Slot,
        beacon_block_root: Hash256,
        batch: &[(u64, PublicKeyBytes)],
    ) -> Vec<Outcome> {
        let m = SignableMessage::SyncCommitteeMessage { slot, beacon_block_root };
        let root = self.root(&m);
        let remote = self.remote_request(&m, root);
        let items = batch
            .iter()
            .map(|(index, pk)| Item {
                key: KeyRef::Index { index: *index, claimed: Some(*pk) },
                root,
                slashable: m.slashable(),
                pays: None,
                remote: remote.clone(),
            })
            .collect();
        self.gate(MessageKind::SyncMessage, slot, items).await
    }

    /// Sync-aggregator selection proofs `(validator, claimed key, data)`.
    pub async fn sign_sync_selection_proofs(
        &self,
        batch: &[(u64, PublicKeyBytes, SyncAggregatorSelectionData)],
    ) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |b| b.2.slot);
        let items = batch
            .iter()
            .map(|(index, pk, d)| {
                let key = KeyRef::Index { index: *index, claimed: Some(*pk) };
                self.item(key, SignableMessage::SyncSelectionProof(d), None)
            })
            .collect();
        self.gate(MessageKind::SyncSelectionProof, slot, items).await
    }

    /// Sync contribution-and-proofs.
    pub async fn sign_contributions(&self, slot: Slot, batch: &[ContributionAndProof<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| {
                self.item(
                    KeyRef::Index { index: m.aggregator_index, claimed: None },
                    SignableMessage::ContributionAndProof(m),
                    None,
                )
            })
            .collect();
        self.gate(MessageKind::Contribution, slot, items).await
    }

    /// Voluntary exits.
    pub async fn sign_voluntary_exits(&self, batch: &[VoluntaryExit]) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |e| self.spec.start_slot(e.epoch));
        let items = batch
            .iter()
            .map(|e| {
                self.item(
                    KeyRef::Index { index: e.validator_index, claimed: None },
                    SignableMessage::VoluntaryExit(e),
                    None,
                )
            })
            .collect();
        self.gate(MessageKind::VoluntaryExit, slot, items).await
    }

    /// Builder registrations: each must name one of our keys and pay its
    /// configured fee recipient.
    pub async fn sign_registrations(&self, slot: Slot, batch: &[ValidatorRegistrationV1]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|r| {
                self.item(KeyRef::Pubkey(r.pubkey), SignableMessage::ValidatorRegistration(r), Some(r.fee_recipient))
            })
            .collect();
        self.gate(MessageKind::Registration, slot, items).await
    }

    async fn one(&self, kind: MessageKind, slot: Slot, item: Item<P>) -> Outcome {
        self.gate(kind, slot, vec![item]).await.pop().unwrap_or(Outcome::Failed(Failure::Signer {
            fault: SignerFault::Engine,
            reason: "the gate returned no outcome".into(),
        }))
    }

    /// Steps 1 to 3 for one message, under the registry's read lock.
    fn admit(&self, reg: &Registry, item: &Item<P>) -> Result<(PublicKeyBytes, Option<u64>, SigningMethod), Refusal> {
        let entry = match item.key {
            KeyRef::Index { index, claimed } => {
                let e = reg.by_index(index).ok_or(Refusal::UnknownValidator { index })?;
                if let Some(claimed) = claimed {
                    if claimed != e.pubkey {
                        return Err(Refusal::KeyMismatch { index, claimed, ours: e.pubkey });
                    }
                }
                e
            }
            KeyRef::Pubkey(pk) => reg.get(&pk).ok_or(Refusal::UnknownKey { pubkey: pk })?,
        };
        if !entry.may_sign {
            return Err(Refusal::Doppelganger { pubkey: entry.pubkey });
        }
        if let Some(pays) = item.pays {
            policy::check_payment(&entry.pubkey, &entry.config, pays)?;
        }
        Ok((entry.pubkey, entry.index, entry.method))
    }

    /// The gate: resolve, doppelganger, policy, slashing, sign.
    async fn gate(&self, kind: MessageKind, slot: Slot, items: Vec<Item<P>>) -> Vec<Outcome> {
        let _in_flight = self.in_flight.read().await;
        let mut out: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut pending: Vec<Resolved<P>> = Vec::with_capacity(items.len());
        {
            let reg = self.read();
            let mut slashable_keys: HashSet<PublicKeyBytes> = HashSet::with_capacity(items.len());
            for (pos, item) in items.iter().enumerate() {
                let index = match item.key {
                    KeyRef::Index { index, .. } => Some(index),
                    KeyRef::Pubkey(_) => None,
                };
                match self.admit(&reg, item) {
                    Ok((pubkey, idx, method)) => {
                        if !matches!(item.slashable, Slashable::No) && !slashable_keys.insert(pubkey) {
                            out[pos] = Some(self.refuse(kind, slot, index, Refusal::DuplicateInBatch { pubkey }));
                            continue;
                        }
                        pending.push(Resolved {
                            pos,
                            pubkey,
                            index: idx,
                            method,
                            root: item.root,
                            slashable: item.slashable,
                            remote: item.remote.clone(),
                        });
                    }
                    Err(reason) => out[pos] = Some(self.refuse(kind, slot, index, reason)),
                }
            }
        }
        let pending = self.check_slashing(kind, slot, pending, &mut out).await;
        let (local, remote): (Vec<Resolved<P>>, Vec<Resolved<P>>) =
            pending.into_iter().partition(|r| matches!(r.method, SigningMethod::Local(_)));
        let started = std::time::Instant::now();
        let (local_signed, remote_signed) = tokio::join!(self.sign_local(&local), self.sign_remote(&remote));
        if let Some(h) = &self.timings.signing {
            if !local.is_empty() || !remote.is_empty() {
                h.observe(started.elapsed().as_secs_f64());
            }
        }
        match local_signed {
            Ok(sigs) => {
                for (r, s) in local.iter().zip(sigs) {
                    out[r.pos] = Some(Outcome::Signed(s));
                }
            }
            Err(e) => {
                let f = Failure::Signer { fault: SignerFault::Engine, reason: e.to_string() };
                self.fail(kind, slot, &local, &mut out, f)
            }
        }
        let mut failed: Vec<(Failure, Vec<&Resolved<P>>)> = Vec::new();
        for (r, result) in remote.iter().zip(remote_signed) {
            match result {
                Ok(s) => out[r.pos] = Some(Outcome::Signed(s)),
                Err(RemoteError::Refused { status, message, .. }) if (400..500).contains(&status) => {
                    out[r.pos] =
                        Some(self.refuse(kind, slot, r.index, Refusal::RemoteSigner { status, reason: message }));
                }
                Err(e) => {
                    let f = Failure::Signer { fault: e.fault(), reason: e.to_string() };
                    match failed.iter_mut().find(|(g, _)| *g == f) {
                        Some((_, v)) => v.push(r),
                        None => failed.push((f, vec![r])),
                    }
                }
            }
        }
        for (f, which) in failed {
            for r in &which {
                out[r.pos] = Some(Outcome::Failed(f.clone()));
            }
            self.events.emit(Event::Failed { kind, slot, count: which.len(), reason: f });
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Failed(Failure::Signer {
                    fault: SignerFault::Engine,
                    reason: "not processed".into(),
                }))
            })
            .collect()
    }

    /// Step 5, local keys: one engine batch; one signature per entry, in order.
    async fn sign_local(&self, local: &[Resolved<P>]) -> Result<Vec<SignatureBytes>, local::LocalError> {
        if local.is_empty() {
            return Ok(Vec::new());
        }
        let work: Vec<_> = local
            .iter()
            .filter_map(|r| match r.method {
                SigningMethod::Local(h) => Some((h, r.root)),
                SigningMethod::Remote(_) => None,
            })
            .collect();
        let sigs = self.local.sign(&work).await?;
        if sigs.len() != local.len() {
            return Err(local::LocalError::Count { got: sigs.len(), asked: local.len() });
        }
        Ok(sigs)
    }

    /// Step 5, remote keys: one call per signer, all at once; one result
    /// per entry, in order.
    async fn sign_remote(&self, remote: &[Resolved<P>]) -> Vec<Result<SignatureBytes, RemoteError>> {
        let mut out: Vec<Option<Result<SignatureBytes, RemoteError>>> = vec![None; remote.len()];
        let mut per_signer: Vec<(u32, Vec<usize>, Vec<RemoteWork<P>>)> = Vec::new();
        for (i, r) in remote.iter().enumerate() {
            let SigningMethod::Remote(id) = r.method else { continue };
            let req = match &r.remote {
                Some(Ok(q)) => Arc::clone(q),
                Some(Err(why)) => {
                    out[i] = Some(Err(RemoteError::Setup { url: String::new(), reason: why.to_string() }));
                    continue;
                }
                None => {
                    let reason = "no remote request was built for a remote key".to_string();
                    out[i] = Some(Err(RemoteError::Setup { url: String::new(), reason }));
                    continue;
                }
            };
            match per_signer.iter_mut().find(|(s, _, _)| *s == id) {
                Some((_, at, work)) => {
                    at.push(i);
                    work.push((r.pubkey, req));
                }
                None => per_signer.push((id, vec![i], vec![(r.pubkey, req)])),
            }
        }
        let clients: Vec<Option<Arc<Web3SignerClient>>> = {
            let all = self.remote.read().unwrap_or_else(|p| p.into_inner());
            per_signer.iter().map(|(id, _, _)| all.get(*id as usize).cloned()).collect()
        };
        let calls = per_signer.iter().zip(&clients).map(|((_, _, work), client)| async move {
            match client {
                Some(c) => c.sign(work).await,
                None => work
                    .iter()
                    .map(|_| Err(RemoteError::Setup { url: String::new(), reason: "unknown remote signer".into() }))
                    .collect(),
            }
        });
        let answers = futures_util::future::join_all(calls).await;
        for ((_, at, _), results) in per_signer.iter().zip(answers) {
            for (i, r) in at.iter().zip(results) {
                out[*i] = Some(r);
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(RemoteError::Transport { reason: "not processed".into() })))
            .collect()
    }

    /// Step 4: one durable check-and-insert for the slashable messages;
    /// returns what may be signed.
    async fn check_slashing(
        &self,
        kind: MessageKind,
        slot: Slot,
        pending: Vec<Resolved<P>>,
        out: &mut [Option<Outcome>],
    ) -> Vec<Resolved<P>> {
        // Remote keys are left to their signer's own protection only when
        // the operator says so (--disable-slashing-protection-web3signer).
        let skip_remote = self.remote_options.disable_local_slashing;
        let checked_here = |r: &Resolved<P>| !(skip_remote && matches!(r.method, SigningMethod::Remote(_)));
        let (slashable, free): (Vec<Resolved<P>>, Vec<Resolved<P>>) =
            pending.into_iter().partition(|r| !matches!(r.slashable, Slashable::No) && checked_here(r));
        if slashable.is_empty() {
            return free;
        }
        // The one protected batch (records built from the messages).
        let batch: Vec<ToProtect> = slashable
            .iter()
            .map(|r| ToProtect { pubkey: r.pubkey, slashable: r.slashable, signing_root: r.root })
            .collect();
        let db = Arc::clone(&self.slashing);
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || protect(db.as_ref(), &batch)).await;
        if let Some(h) = &self.timings.slashing {
            h.observe(started.elapsed().as_secs_f64());
        }
        // A database error or a dead task: nothing slashable is signed.
        let verdicts = match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let f = Failure::SlashingDatabase { fault: e.fault(), reason: e.to_string() };
                self.fail(kind, slot, &slashable, out, f);
                return free;
            }
            Err(e) => {
                let f = Failure::SlashingDatabase { fault: DatabaseFault::Task, reason: e.to_string() };
                self.fail(kind, slot, &slashable, out, f);
                return free;
            }
        };
        let mut safe = free;
        for (r, protection) in slashable.into_iter().zip(verdicts) {
            match protection {
                Protection::NotSlashable | Protection::Safe(_) => safe.push(r),
                Protection::Refused(reason) => {
                    out[r.pos] = Some(self.refuse(kind, slot, r.index, Refusal::Slashable { reason }))
                }
            }
        }
        safe
    }

    fn refuse(&self, kind: MessageKind, slot: Slot, validator: Option<u64>, reason: Refusal) -> Outcome {
        self.events.emit(Event::Refused { kind, slot, validator, reason: reason.clone() });
        Outcome::Refused(reason)
    }

    fn fail(&self, kind: MessageKind, slot: Slot, which: &[Resolved<P>], out: &mut [Option<Outcome>], reason: Failure) {
        for r in which {
            out[r.pos] = Some(Outcome::Failed(reason.clone()));
        }
        self.events.emit(Event::Failed { kind, slot, count: which.len(), reason });
    }
}
