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
#[derive(Debug, Default)]
pub struct KeySet {
    scalars: Vec<SecretScalar>,
    pubkeys: Vec<PublicKey>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key and returns its handle.
    pub fn insert(&mut self, sk: &SecretKey) -> KeyHandle {
        self.scalars.push(SecretScalar::from_secret_key(sk));
        self.pubkeys.push(sk.public_key());
        KeyHandle((self.scalars.len() - 1) as u32)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.scalars.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.scalars.is_empty()
    }

    /// The scalar of `h`, if it exists.
    pub fn scalar(&self, h: KeyHandle) -> Option<&SecretScalar> {
        self.scalars.get(h.0 as usize)
    }

    /// The public key of `h`, if it exists.
    pub fn public_key(&self, h: KeyHandle) -> Option<&PublicKey> {
        self.pubkeys.get(h.0 as usize)
    }
}
