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
//!     5. signer: one batch (local engine; remote signers plug in here)
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
pub mod outcome;
pub mod registry;

use crate::events::{Event, EventBus, MessageKind};
use crate::policy::{self, ProposalConfig};
use local::LocalSigner;
use outcome::{Failure, Outcome, Refusal};
use poolvc_signer::keys::{PublicKey, SecretKey};
use poolvc_signer::slashing::{AttestationRecord, BlockRecord, SlashingDatabase, SlashingError};
use poolvc_signer::types::*;
use prometheus_client::metrics::histogram::Histogram;
use registry::{IndexConflict, KeyEntry, Registry, SigningMethod};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};

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

/// What slashing protection records for a message.
#[derive(Debug, Clone, Copy)]
enum Slashable {
    No,
    Attestation { source: Epoch, target: Epoch },
    Block { slot: Slot },
}

/// One message on its way through the gate.
#[derive(Debug, Clone, Copy)]
struct Item {
    key: KeyRef,
    root: Hash256,
    slashable: Slashable,
    /// The fee recipient the message pays, if it is a money path.
    pays: Option<Address>,
}

/// A message past step 1.
struct Resolved {
    pos: usize,
    pubkey: PublicKeyBytes,
    index: Option<u64>,
    method: SigningMethod,
    root: Hash256,
    slashable: Slashable,
}

/// The gate. Cheap to share behind an `Arc`.
pub struct ValidatorStore<P: Preset> {
    spec: ChainSpec,
    genesis_validators_root: Hash256,
    registry: RwLock<Registry>,
    local: LocalSigner,
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
            slashing,
            events,
            timings,
            unreleased: std::sync::atomic::AtomicUsize::new(0),
            in_flight: tokio::sync::RwLock::new(()),
            changes: tokio::sync::watch::channel(0).0,
            _p: std::marker::PhantomData,
        }
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
        let mut seen = HashSet::new();
        // Each public key derived once (in parallel), for the map and the engine.
        let derived: Vec<(SecretKey, PublicKey, ProposalConfig)> = keys
            .into_par_iter()
            .map(|(sk, c)| {
                let pk = sk.public_key();
                (sk, pk, c)
            })
            .collect();
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
            .map(|e| match e.method {
                SigningMethod::Local(h) => h,
            })
            .collect();
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

    /// Attestations: one slashing batch, one signing batch.
    pub async fn sign_attestations(&self, slot: Slot, batch: &[AttestationToSign]) -> Vec<Outcome> {
        let mut roots: Vec<(AttestationData, Hash256)> = Vec::new();
        let items = batch
            .iter()
            .map(|a| {
                // One root per distinct data (since Electra: one per slot).
                let root = match roots.iter().find(|(d, _)| *d == a.data) {
                    Some((_, r)) => *r,
                    None => {
                        let r = self.root(&SignableMessage::Attestation(&a.data));
                        roots.push((a.data, r));
                        r
                    }
                };
                Item {
                    key: KeyRef::Index { index: a.validator_index, claimed: Some(a.pubkey) },
                    root,
                    slashable: Slashable::Attestation { source: a.data.source.epoch, target: a.data.target.epoch },
                    pays: None,
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
            .map(|(index, pk, s)| Item {
                key: KeyRef::Index { index: *index, claimed: Some(*pk) },
                root: self.root(&SignableMessage::SelectionProof(*s)),
                slashable: Slashable::No,
                pays: None,
            })
            .collect();
        self.gate(MessageKind::SelectionProof, slot, items).await
    }

    /// Pre-Electra aggregate-and-proofs.
    pub async fn sign_aggregates_base(&self, slot: Slot, batch: &[AggregateAndProofBase<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| Item {
                key: KeyRef::Index { index: m.aggregator_index, claimed: None },
                root: self.root(&SignableMessage::AggregateAndProofBase(m)),
                slashable: Slashable::No,
                pays: None,
            })
            .collect();
        self.gate(MessageKind::Aggregate, slot, items).await
    }

    /// Electra aggregate-and-proofs.
    pub async fn sign_aggregates_electra(&self, slot: Slot, batch: &[AggregateAndProofElectra<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| Item {
                key: KeyRef::Index { index: m.aggregator_index, claimed: None },
                root: self.root(&SignableMessage::AggregateAndProofElectra(m)),
                slashable: Slashable::No,
                pays: None,
            })
            .collect();
        self.gate(MessageKind::Aggregate, slot, items).await
    }

    /// A RANDAO reveal.
    pub async fn sign_randao(&self, slot: Slot, index: u64, claimed: PublicKeyBytes) -> Outcome {
        let epoch = self.spec.epoch_of(slot);
        let item = Item {
            key: KeyRef::Index { index, claimed: Some(claimed) },
            root: self.root(&SignableMessage::RandaoReveal(epoch)),
            slashable: Slashable::No,
            pays: None,
        };
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
        let item = Item {
            key: KeyRef::Index { index, claimed: Some(claimed) },
            root: self.root(&SignableMessage::Block(block)),
            slashable: Slashable::Block { slot: h.slot },
            pays,
        };
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
        let item = Item {
            key: KeyRef::Index { index, claimed: Some(claimed) },
            root: self.root(&SignableMessage::BlindedBlock(block)),
            slashable: Slashable::Block { slot: h.slot },
            pays,
        };
        self.one(MessageKind::Block, h.slot, item).await
    }

    /// Sync-committee messages over `beacon_block_root` at `slot`.
    pub async fn sign_sync_messages(
        &self,
        slot: Slot,
        beacon_block_root: Hash256,
        batch: &[(u64, PublicKeyBytes)],
    ) -> Vec<Outcome> {
        let root = self.root(&SignableMessage::SyncCommitteeMessage { slot, beacon_block_root });
        let items = batch
            .iter()
            .map(|(index, pk)| Item {
                key: KeyRef::Index { index: *index, claimed: Some(*pk) },
                root,
                slashable: Slashable::No,
                pays: None,
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
            .map(|(index, pk, d)| Item {
                key: KeyRef::Index { index: *index, claimed: Some(*pk) },
                root: self.root(&SignableMessage::SyncSelectionProof(d)),
                slashable: Slashable::No,
                pays: None,
            })
            .collect();
        self.gate(MessageKind::SyncSelectionProof, slot, items).await
    }

    /// Sync contribution-and-proofs.
    pub async fn sign_contributions(&self, slot: Slot, batch: &[ContributionAndProof<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| Item {
                key: KeyRef::Index { index: m.aggregator_index, claimed: None },
                root: self.root(&SignableMessage::ContributionAndProof(m)),
                slashable: Slashable::No,
                pays: None,
            })
            .collect();
        self.gate(MessageKind::Contribution, slot, items).await
    }

    /// Voluntary exits.
    pub async fn sign_voluntary_exits(&self, batch: &[VoluntaryExit]) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |e| self.spec.start_slot(e.epoch));
        let items = batch
            .iter()
            .map(|e| Item {
                key: KeyRef::Index { index: e.validator_index, claimed: None },
                root: self.root(&SignableMessage::VoluntaryExit(e)),
                slashable: Slashable::No,
                pays: None,
            })
            .collect();
        self.gate(MessageKind::VoluntaryExit, slot, items).await
    }

    /// Builder registrations: each must name one of our keys and pay its
    /// configured fee recipient.
    pub async fn sign_registrations(&self, slot: Slot, batch: &[ValidatorRegistrationV1]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|r| Item {
                key: KeyRef::Pubkey(r.pubkey),
                root: self.root(&SignableMessage::ValidatorRegistration(r)),
                slashable: Slashable::No,
                pays: Some(r.fee_recipient),
            })
            .collect();
        self.gate(MessageKind::Registration, slot, items).await
    }

    async fn one(&self, kind: MessageKind, slot: Slot, item: Item) -> Outcome {
        self.gate(kind, slot, vec![item])
            .await
            .pop()
            .unwrap_or(Outcome::Failed(Failure::Signer { reason: "the gate returned no outcome".into() }))
    }

    /// Steps 1 to 3 for one message, under the registry's read lock.
    fn admit(&self, reg: &Registry, item: &Item) -> Result<(PublicKeyBytes, Option<u64>, SigningMethod), Refusal> {
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
    async fn gate(&self, kind: MessageKind, slot: Slot, items: Vec<Item>) -> Vec<Outcome> {
        let _in_flight = self.in_flight.read().await;
        let mut out: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut pending: Vec<Resolved> = Vec::with_capacity(items.len());
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
                        });
                    }
                    Err(reason) => out[pos] = Some(self.refuse(kind, slot, index, reason)),
                }
            }
        }
        let pending = self.check_slashing(kind, slot, pending, &mut out).await;
        if !pending.is_empty() {
            let work: Vec<_> = pending
                .iter()
                .map(|r| match r.method {
                    SigningMethod::Local(h) => (h, r.root),
                })
                .collect();
            let started = std::time::Instant::now();
            let signed = self.local.sign(&work).await;
            if let Some(h) = &self.timings.signing {
                h.observe(started.elapsed().as_secs_f64());
            }
            match signed {
                Ok(sigs) if sigs.len() == pending.len() => {
                    for (r, s) in pending.iter().zip(sigs) {
                        out[r.pos] = Some(Outcome::Signed(s));
                    }
                }
                Ok(sigs) => {
                    let reason = format!("{} signatures for {} requests", sigs.len(), pending.len());
                    self.fail(kind, slot, &pending, &mut out, Failure::Signer { reason });
                }
                Err(reason) => self.fail(kind, slot, &pending, &mut out, Failure::Signer { reason }),
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or(Outcome::Failed(Failure::Signer { reason: "not processed".into() })))
            .collect()
    }

    /// Step 4: one durable check-and-insert for the slashable messages;
    /// returns what may be signed.
    async fn check_slashing(
        &self,
        kind: MessageKind,
        slot: Slot,
        pending: Vec<Resolved>,
        out: &mut [Option<Outcome>],
    ) -> Vec<Resolved> {
        let (slashable, free): (Vec<Resolved>, Vec<Resolved>) =
            pending.into_iter().partition(|r| !matches!(r.slashable, Slashable::No));
        if slashable.is_empty() {
            return free;
        }
        let atts: Vec<AttestationRecord> = slashable
            .iter()
            .filter_map(|r| match r.slashable {
                Slashable::Attestation { source, target } => Some(AttestationRecord {
                    pubkey: r.pubkey,
                    source_epoch: source,
                    target_epoch: target,
                    signing_root: Some(r.root),
                }),
                _ => None,
            })
            .collect();
        let blocks: Vec<BlockRecord> = slashable
            .iter()
            .filter_map(|r| match r.slashable {
                Slashable::Block { slot } => Some(BlockRecord { pubkey: r.pubkey, slot, signing_root: Some(r.root) }),
                _ => None,
            })
            .collect();
        let db = Arc::clone(&self.slashing);
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || -> Result<_, SlashingError> {
            let a = if atts.is_empty() { Vec::new() } else { db.check_and_insert_attestations(&atts)? };
            let b = if blocks.is_empty() { Vec::new() } else { db.check_and_insert_blocks(&blocks)? };
            Ok((a, b))
        })
        .await;
        if let Some(h) = &self.timings.slashing {
            h.observe(started.elapsed().as_secs_f64());
        }
        let (att_verdicts, block_verdicts) = match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.fail(kind, slot, &slashable, out, Failure::SlashingDatabase { reason: e.to_string() });
                return free;
            }
            Err(e) => {
                self.fail(kind, slot, &slashable, out, Failure::SlashingDatabase { reason: e.to_string() });
                return free;
            }
        };
        let mut att_v = att_verdicts.into_iter();
        let mut block_v = block_verdicts.into_iter();
        let mut safe = free;
        for r in slashable {
            let verdict = match r.slashable {
                Slashable::Attestation { .. } => att_v.next(),
                Slashable::Block { .. } => block_v.next(),
                Slashable::No => None,
            };
            match verdict {
                Some(Ok(_)) => safe.push(r),
                Some(Err(reason)) => out[r.pos] = Some(self.refuse(kind, slot, r.index, Refusal::Slashable { reason })),
                None => {
                    let f = Failure::SlashingDatabase { reason: "no verdict for a message".into() };
                    self.fail(kind, slot, std::slice::from_ref(&r), out, f);
                }
            }
        }
        safe
    }

    fn refuse(&self, kind: MessageKind, slot: Slot, validator: Option<u64>, reason: Refusal) -> Outcome {
        self.events.emit(Event::Refused { kind, slot, validator, reason: reason.clone() });
        Outcome::Refused(reason)
    }

    fn fail(&self, kind: MessageKind, slot: Slot, which: &[Resolved], out: &mut [Option<Outcome>], reason: Failure) {
        for r in which {
            out[r.pos] = Some(Outcome::Failed(reason.clone()));
        }
        self.events.emit(Event::Failed { kind, slot, count: which.len(), reason });
    }
}
