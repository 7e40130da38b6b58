//! The store's keys: adding and removing them (registered with slashing
//! protection first), their settings, indices, doppelganger release and
//! the lookups the services make.

use super::*;

impl<P: Preset> ValidatorStore<P> {
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
            if reg.insert(KeyEntry {
                pubkey,
                index: None,
                method: SigningMethod::Remote(id),
                may_sign,
                config,
                registered: None,
            }) {
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
            if reg.insert(KeyEntry {
                pubkey,
                index: None,
                method: SigningMethod::Local(handle),
                may_sign,
                config,
                registered: None,
            }) && !may_sign
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
    /// released it and, with leased key shards, its shard's lease is held). Services ask before they build messages, so a key
    /// still watched costs no refusal.
    pub fn released(&self, index: u64) -> bool {
        match &self.leases {
            None => self.all_released() || self.read().by_index(index).is_some_and(|e| e.may_sign),
            Some(l) => self.read().by_index(index).is_some_and(|e| e.may_sign && l.may_sign(&e.pubkey)),
        }
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

    /// `items` less those of validators doppelganger protection still holds
    /// (and, with leased key shards, those whose shard's lease is not held).
    pub fn keep_released<T>(&self, items: Vec<T>, index: impl Fn(&T) -> u64) -> Vec<T> {
        if self.all_released() && self.leases.is_none() {
            return items;
        }
        let reg = self.read();
        let leased = |pk: &PublicKeyBytes| self.leases.as_ref().is_none_or(|l| l.may_sign(pk));
        items.into_iter().filter(|t| reg.by_index(index(t)).is_some_and(|e| e.may_sign && leased(&e.pubkey))).collect()
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

    /// Whether our validator `index`'s last builder registration signed by
    /// poolvc pays its fee recipient now ([`policy::registration_current`]);
    /// false for an unknown index.
    pub fn builder_registration_current(&self, index: u64) -> bool {
        self.read().by_index(index).is_some_and(|e| policy::registration_current(&e.config, e.registered))
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
    /// calls it after each read of the pool contracts. A change is told to
    /// the watchers ([`Self::watch_changes`]): the preparation service
    /// re-signs and re-sends registrations at the next slot.
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
        drop(reg);
        if !changed.is_empty() {
            self.changed();
        }
        changed
    }
}
