//! What the store's gate knows of the leases: which shard each key of a
//! held shard is in, and until when (this instance's monotonic clock) each
//! held lease may be signed under.
//!
//! Invariant kept here: a key may sign only while its shard's lease is held
//! and `Instant::now()` is before the deadline the lease service set from
//! the moment it *sent* the renewal that the database accepted. The view is
//! replaced whole ([`LeaseView::set`]), never edited key by key, so a check
//! never sees one shard's keys with another shard's deadline.

use crate::outcome::Refusal;
use poolvc_signer::types::PublicKeyBytes;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

/// A held lease, as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldShard {
    /// The shard's name.
    pub shard: String,
    /// Until when this instance signs under it.
    pub until: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// Key -> index into `held`.
    shard_of: HashMap<PublicKeyBytes, usize>,
    held: Vec<HeldShard>,
}

/// The leases this instance holds and their keys.
#[derive(Debug, Default)]
pub struct LeaseView {
    state: RwLock<State>,
}

impl LeaseView {
    /// A view holding nothing (every key refused until the first lease).
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the view: the leases held, and the keys of each
    /// (`members[i]` are the keys of `held[i]`).
    pub fn set(&self, held: Vec<HeldShard>, members: Vec<Vec<PublicKeyBytes>>) {
        let mut shard_of = HashMap::with_capacity(members.iter().map(Vec::len).sum());
        for (i, keys) in members.into_iter().enumerate().take(held.len()) {
            shard_of.extend(keys.into_iter().map(|k| (k, i)));
        }
        let next = State { shard_of, held };
        match self.state.write() {
            Ok(mut s) => *s = next,
            Err(p) => *p.into_inner() = next,
        }
    }

    /// Whether `pubkey` may sign now; else the typed refusal.
    pub fn check(&self, pubkey: &PublicKeyBytes) -> Result<(), Refusal> {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        let Some(&i) = s.shard_of.get(pubkey) else {
            return Err(Refusal::NotLeased { pubkey: *pubkey, shard: "in no shard this instance holds".into() });
        };
        match s.held.get(i) {
            Some(h) if Instant::now() < h.until => Ok(()),
            Some(h) => {
                Err(Refusal::NotLeased { pubkey: *pubkey, shard: format!("{} (lease not renewed in time)", h.shard) })
            }
            None => Err(Refusal::NotLeased { pubkey: *pubkey, shard: "?".into() }),
        }
    }

    /// Whether `pubkey` may sign now.
    pub fn may_sign(&self, pubkey: &PublicKeyBytes) -> bool {
        self.check(pubkey).is_ok()
    }

    /// The shards held now (deadline not passed), by name.
    pub fn held(&self) -> Vec<String> {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.held.iter().filter(|h| now < h.until).map(|h| h.shard.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_key_signs_only_in_a_held_shard_before_its_deadline() {
        let (a, b, c) =
            (PublicKeyBytes::from([1u8; 48]), PublicKeyBytes::from([2u8; 48]), PublicKeyBytes::from([3u8; 48]));
        let v = LeaseView::new();
        assert!(!v.may_sign(&a), "nothing held yet");
        let now = Instant::now();
        v.set(
            vec![
                HeldShard { shard: "s1".into(), until: now + Duration::from_secs(60) },
                HeldShard { shard: "s2".into(), until: now },
            ],
            vec![vec![a], vec![b]],
        );
        assert!(v.may_sign(&a));
        let e = v.check(&b).unwrap_err();
        assert!(e.to_string().contains("s2 (lease not renewed in time)"), "{e}");
        assert!(matches!(v.check(&c), Err(Refusal::NotLeased { .. })));
        assert_eq!(v.held(), vec!["s1".to_string()]);
    }
}
