//! The engine's keys: secret scalars in zeroizing storage, addressed by handle.

use crate::keys::{PublicKey, SecretKey};
use std::fmt;

/// Index of a key in a [`KeySet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHandle(pub u32);

/// A secret scalar as 32 little-endian bytes (blst's `blst_scalar` layout).
/// Zeroized on drop; prints nothing.
pub struct SecretScalar(pub(crate) [u8; 32]);

impl Drop for SecretScalar {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretScalar(<redacted>)")
    }
}

impl SecretScalar {
    /// The scalar of `sk`, little-endian.
    pub fn from_secret_key(sk: &SecretKey) -> Self {
        let be = sk.to_bytes();
        let mut le = [0u8; 32];
        for (d, s) in le.iter_mut().zip(be.iter().rev()) {
            *d = *s;
        }
        Self(le)
    }

    /// The little-endian bytes (for the comb and for blst).
    pub fn le_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The keys an engine signs with.
///
/// Invariant: a handle is a position in an append-only list. Removing a key
/// leaves an empty slot behind, so a handle never names another key later,
/// whatever is added or removed at runtime. Clones share the (zeroizing)
/// scalars; a scalar is wiped when its last holder drops it.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    scalars: Vec<Option<std::sync::Arc<SecretScalar>>>,
    pubkeys: Vec<Option<PublicKey>>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key and returns its handle (never one used before).
    pub fn insert(&mut self, sk: &SecretKey) -> KeyHandle {
        self.scalars.push(Some(std::sync::Arc::new(SecretScalar::from_secret_key(sk))));
        self.pubkeys.push(Some(sk.public_key()));
        KeyHandle((self.scalars.len() - 1) as u32)
    }

    /// Adds many keys whose public keys the caller already derived; their
    /// handles, in order.
    pub fn insert_many(&mut self, keys: &[(SecretKey, PublicKey)]) -> Vec<KeyHandle> {
        keys.iter()
            .map(|(sk, pk)| {
                self.scalars.push(Some(std::sync::Arc::new(SecretScalar::from_secret_key(sk))));
                self.pubkeys.push(Some(*pk));
                KeyHandle((self.scalars.len() - 1) as u32)
            })
            .collect()
    }

    /// Removes the key of `h`; its handle stays unused. Returns whether a
    /// key was there.
    pub fn remove(&mut self, h: KeyHandle) -> bool {
        let i = h.0 as usize;
        let had = self.scalars.get(i).is_some_and(Option::is_some);
        if let Some(s) = self.scalars.get_mut(i) {
            *s = None;
        }
        if let Some(p) = self.pubkeys.get_mut(i) {
            *p = None;
        }
        had
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.scalars.iter().filter(|s| s.is_some()).count()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The scalar of `h`, if it exists.
    pub fn scalar(&self, h: KeyHandle) -> Option<&SecretScalar> {
        self.scalars.get(h.0 as usize).and_then(|s| s.as_deref())
    }

    /// The public key of `h`, if it exists.
    pub fn public_key(&self, h: KeyHandle) -> Option<&PublicKey> {
        self.pubkeys.get(h.0 as usize).and_then(Option::as_ref)
    }
}
