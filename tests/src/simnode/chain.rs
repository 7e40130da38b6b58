//! The simulated chain's deterministic assignments: committees, proposers,
//! sync committees and dependent roots, from a per-epoch seed that a
//! simulated reorg changes.
//!
//! This is not the consensus shuffle: it only has to be consistent between
//! the duties the node serves and the messages it checks.

use poolvc_signer::types::{ChainSpec, Checkpoint, Hash256, PresetName};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Assignments computed once per (epoch, seed version): at 100,000
/// validators a shuffle costs 100,000 hashes, and every message checked
/// looks its duty up.
#[derive(Debug, Default)]
pub struct ChainCache {
    shuffled: HashMap<(u64, u64), Arc<Vec<u64>>>,
    duties: HashMap<(u64, u64), Arc<HashMap<u64, Duty>>>,
    sync: HashMap<u64, Arc<Vec<u64>>>,
}

/// `TARGET_COMMITTEE_SIZE` of the preset.
fn target_committee_size(p: PresetName) -> u64 {
    match p {
        PresetName::Mainnet => 128,
        PresetName::Minimal => 4,
    }
}

/// A 32-byte tag hash of the parts.
pub fn tag(parts: &[&[u8]]) -> Hash256 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    Hash256::from_slice(&h.finalize())
}

/// One validator's attester duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duty {
    /// Slot.
    pub slot: u64,
    /// Committee index.
    pub committee_index: u64,
    /// Committee length.
    pub committee_length: u64,
    /// Committees in the slot.
    pub committees_at_slot: u64,
    /// Position in the committee.
    pub position: u64,
}

/// The assignments.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The spec served.
    pub spec: ChainSpec,
    /// Number of validators.
    pub n: u64,
    /// Seed version per epoch (absent = 0); a reorg bumps it.
    pub seeds: HashMap<u64, u64>,
    /// Shared by clones.
    pub cache: Arc<Mutex<ChainCache>>,
}

impl Chain {
    /// The current seed version of `epoch`.
    pub fn seed(&self, epoch: u64) -> u64 {
        self.seeds.get(&epoch).copied().unwrap_or(0)
    }

    /// The assignments as they were with seed version `seed` for `epoch`
    /// (before a reorg, for messages signed on the old branch).
    pub fn with_seed(&self, epoch: u64, seed: u64) -> Chain {
        let mut c = self.clone();
        c.seeds.insert(epoch, seed);
        c
    }

    /// Validators of `epoch` in shuffled order.
    pub fn shuffled(&self, epoch: u64) -> Arc<Vec<u64>> {
        let seed = self.seed(epoch);
        if let Some(v) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).shuffled.get(&(epoch, seed)) {
            return Arc::clone(v);
        }
        let mut v: Vec<(Hash256, u64)> = (0..self.n)
            .map(|i| (tag(&[b"shuffle", &epoch.to_le_bytes(), &seed.to_le_bytes(), &i.to_le_bytes()]), i))
            .collect();
        v.sort();
        let out: Arc<Vec<u64>> = Arc::new(v.into_iter().map(|(_, i)| i).collect());
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).shuffled.insert((epoch, seed), Arc::clone(&out));
        out
    }

    /// Committees per slot (`get_committee_count_per_slot`).
    pub fn committees_per_slot(&self) -> u64 {
        let spe = self.spec.slots_per_epoch;
        (self.n / spe / target_committee_size(self.spec.preset)).clamp(1, self.spec.max_committees_per_slot)
    }

    /// The members of committee `ci` at `slot`, in committee order.
    pub fn committee(&self, slot: u64, ci: u64) -> Vec<u64> {
        let spe = self.spec.slots_per_epoch;
        let cps = self.committees_per_slot();
        let shuffled = self.shuffled(slot / spe);
        let count = cps * spe;
        let index = (slot % spe) * cps + ci;
        let start = (self.n * index / count) as usize;
        let end = (self.n * (index + 1) / count) as usize;
        shuffled[start..end].to_vec()
    }

    /// Every attester duty of `epoch`, by validator.
    pub fn attester_duties(&self, epoch: u64) -> Arc<HashMap<u64, Duty>> {
        let key = (epoch, self.seed(epoch));
        if let Some(d) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).duties.get(&key) {
            return Arc::clone(d);
        }
        let cps = self.committees_per_slot();
        let mut out = HashMap::new();
        for slot in self.spec.start_slot(epoch)..self.spec.start_slot(epoch + 1) {
            for ci in 0..cps {
                let members = self.committee(slot, ci);
                for (pos, v) in members.iter().enumerate() {
                    out.insert(
                        *v,
                        Duty {
                            slot,
                            committee_index: ci,
                            committee_length: members.len() as u64,
                            committees_at_slot: cps,
                            position: pos as u64,
                        },
                    );
                }
            }
        }
        let out = Arc::new(out);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).duties.insert(key, Arc::clone(&out));
        out
    }

    /// The proposer of `slot`.
    pub fn proposer(&self, slot: u64) -> u64 {
        let epoch = slot / self.spec.slots_per_epoch;
        let h = tag(&[b"proposer", &slot.to_le_bytes(), &self.seed(epoch).to_le_bytes()]);
        u64::from_le_bytes(h.0[..8].try_into().unwrap_or_default()) % self.n
    }

    /// The sync committee (validator per position) of `epoch`'s period.
    pub fn sync_committee(&self, epoch: u64) -> Vec<u64> {
        let period = epoch / self.spec.epochs_per_sync_committee_period.max(1);
        if let Some(c) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).sync.get(&period) {
            return c.to_vec();
        }
        let mut v: Vec<(Hash256, u64)> =
            (0..self.n).map(|i| (tag(&[b"sync", &period.to_le_bytes(), &i.to_le_bytes()]), i)).collect();
        v.sort();
        let order: Vec<u64> = v.into_iter().map(|(_, i)| i).collect();
        let committee: Vec<u64> = (0..self.spec.sync_committee_size).map(|j| order[(j % self.n) as usize]).collect();
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).sync.insert(period, Arc::new(committee.clone()));
        committee
    }

    /// Dependent root of `epoch`'s attester duties.
    pub fn attester_dependent_root(&self, epoch: u64) -> Hash256 {
        tag(&[b"att-dep", &epoch.to_le_bytes(), &self.seed(epoch).to_le_bytes()])
    }

    /// Dependent root of `epoch`'s proposer duties.
    pub fn proposer_dependent_root(&self, epoch: u64) -> Hash256 {
        tag(&[b"prop-dep", &epoch.to_le_bytes(), &self.seed(epoch).to_le_bytes()])
    }

    /// The checkpoint of `epoch`.
    pub fn checkpoint(&self, epoch: u64) -> Checkpoint {
        Checkpoint { epoch, root: tag(&[b"checkpoint", &epoch.to_le_bytes()]) }
    }
}
