//! The keys the store signs for, at runtime: by public key (the identity)
//! and by validator index (what duties name).
//!
//! Invariants kept here:
//! - every key is addressed by its public key; its signing method (an
//!   engine handle) is fixed when it is added and never given to another key;
//! - `by_index` is one-to-one with the indexed entries of `keys`: an index
//!   names at most one key and a key has at most one index, and once set an
//!   index never moves (indices never change on chain; a node that says
//!   otherwise is refused and logged).

use super::local::KeyHandle;
use crate::policy::ProposalConfig;
use poolvc_signer::types::{Address, PublicKeyBytes};
use std::collections::HashMap;

/// How a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningMethod {
    /// The local batch engine.
    Local(KeyHandle),
    /// A remote signer: the store's client number.
    Remote(u32),
}

/// One key the store signs for.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The public key.
    pub pubkey: PublicKeyBytes,
    /// Its index on chain, once known.
    pub index: Option<u64>,
    /// How it signs.
    pub method: SigningMethod,
    /// Whether doppelganger protection has released it.
    pub may_sign: bool,
    /// What it proposes with.
    pub config: ProposalConfig,
    /// The fee recipient of the last builder registration the store signed
    /// for it (what a relay pays for its blinded blocks); `None` before the
    /// first.
    pub registered: Option<Address>,
}

/// An index the node reported that contradicts what is already known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("beacon node reports index {index} for {pubkey}, but {known}")]
pub struct IndexConflict {
    /// The index reported.
    pub index: u64,
    /// The key reported.
    pub pubkey: PublicKeyBytes,
    /// What poolvc already knows.
    pub known: String,
}

/// Keys by public key and by index.
#[derive(Debug, Default)]
pub struct Registry {
    keys: HashMap<PublicKeyBytes, KeyEntry>,
    by_index: HashMap<u64, PublicKeyBytes>,
}

impl Registry {
    /// Adds a key; `false` if it is already there (nothing changes).
    pub fn insert(&mut self, entry: KeyEntry) -> bool {
        if self.keys.contains_key(&entry.pubkey) {
            return false;
        }
        if let Some(i) = entry.index {
            self.by_index.insert(i, entry.pubkey);
        }
        self.keys.insert(entry.pubkey, entry);
        true
    }

    /// Removes a key and its index.
    pub fn remove(&mut self, pubkey: &PublicKeyBytes) -> Option<KeyEntry> {
        let e = self.keys.remove(pubkey)?;
        if let Some(i) = e.index {
            self.by_index.remove(&i);
        }
        Some(e)
    }

    /// Records `index` for `pubkey` (a key of ours). A report that moves a
    /// known index or gives a taken index to another key is refused.
    pub fn set_index(&mut self, pubkey: &PublicKeyBytes, index: u64) -> Result<bool, IndexConflict> {
        let Some(entry) = self.keys.get(pubkey) else { return Ok(false) };
        if let Some(known) = entry.index {
            if known == index {
                return Ok(false);
            }
            return Err(IndexConflict { index, pubkey: *pubkey, known: format!("its index is {known}") });
        }
        if let Some(other) = self.by_index.get(&index) {
            return Err(IndexConflict { index, pubkey: *pubkey, known: format!("index {index} is {other}") });
        }
        self.by_index.insert(index, *pubkey);
        if let Some(e) = self.keys.get_mut(pubkey) {
            e.index = Some(index);
        }
        Ok(true)
    }

    /// The key of `pubkey`.
    pub fn get(&self, pubkey: &PublicKeyBytes) -> Option<&KeyEntry> {
        self.keys.get(pubkey)
    }

    /// The key of `pubkey`, to change.
    pub fn get_mut(&mut self, pubkey: &PublicKeyBytes) -> Option<&mut KeyEntry> {
        self.keys.get_mut(pubkey)
    }

    /// The key whose index is `index`.
    pub fn by_index(&self, index: u64) -> Option<&KeyEntry> {
        self.by_index.get(&index).and_then(|pk| self.keys.get(pk))
    }

    /// Every key.
    pub fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        self.keys.values()
    }

    /// Every key, mutable.
    pub fn entries_mut(&mut self) -> impl Iterator<Item = &mut KeyEntry> {
        self.keys.values_mut()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
