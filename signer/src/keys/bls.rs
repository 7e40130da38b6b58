//! BLS12-381 keys and signatures (`BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`).
//!
//! Invariant: a [`SecretKey`] holds a scalar in `[1, r)`; it is zeroized on
//! drop (blst's `SecretKey` derives `Zeroize` with `zeroize(drop)`) and its
//! `Debug` prints nothing of the scalar. There is no `Display`.

use crate::types::{PublicKeyBytes, SignatureBytes};
use blst::min_pk;
use blst::BLST_ERROR;
use std::fmt;
use zeroize::Zeroizing;

/// The Ethereum proof-of-possession ciphersuite's domain separation tag.
pub const ETH_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Errors from parsing keys and signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    /// The secret key is not 32 bytes, is zero, or is not below the group order.
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(&'static str),
    /// The public key does not decode, is infinity, or is not in G1.
    #[error("invalid public key: {0:?}")]
    InvalidPublicKey(BLST_ERROR),
    /// The signature does not decode or is not in G2.
    #[error("invalid signature: {0:?}")]
    InvalidSignature(BLST_ERROR),
}

/// A BLS secret key.
#[derive(Clone)]
pub struct SecretKey(min_pk::SecretKey);

impl SecretKey {
    /// Parses a 32-byte big-endian scalar; rejects zero and values `>= r`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        if bytes.len() != 32 {
            return Err(BlsError::InvalidSecretKey("expected 32 bytes"));
        }
        min_pk::SecretKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| BlsError::InvalidSecretKey("zero or not below the curve order"))
    }

    /// The 32-byte big-endian scalar, in a buffer zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// A fresh random key from the OS RNG.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut ikm = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(ikm.as_mut());
        // key_gen only fails for IKM shorter than 32 bytes.
        Self(min_pk::SecretKey::key_gen(ikm.as_ref(), &[]).unwrap_or_default())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.sk_to_pk())
    }

    /// Signs `msg` (usually a 32-byte signing root) with the Ethereum DST.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg, ETH_DST, &[]))
    }

    /// The blst key, for the signing engine.
    pub fn as_blst(&self) -> &min_pk::SecretKey {
        &self.0
    }

    /// Wraps a blst key (from EIP-2333 derivation).
    pub(crate) fn from_blst(sk: min_pk::SecretKey) -> Self {
        Self(sk)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A BLS public key (validated: on the curve, in G1, not infinity).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(min_pk::PublicKey);

impl PublicKey {
    /// Parses and validates (KeyValidate) a 48-byte compressed public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        if bytes.len() != 48 {
            return Err(BlsError::InvalidPublicKey(BLST_ERROR::BLST_BAD_ENCODING));
        }
        min_pk::PublicKey::key_validate(bytes).map(Self).map_err(BlsError::InvalidPublicKey)
    }

    /// The 48-byte compressed form.
    pub fn compress(&self) -> [u8; 48] {
        self.0.compress()
    }

    /// The compressed form as a consensus type.
    pub fn to_bytes(&self) -> PublicKeyBytes {
        PublicKeyBytes::from(self.compress())
    }

    /// `0x`-prefixed hex of the compressed form.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.compress()))
    }

    /// The blst key.
    pub fn as_blst(&self) -> &min_pk::PublicKey {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A BLS signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(min_pk::Signature);

impl Signature {
    /// Parses a 96-byte compressed signature and checks it is in G2
    /// (infinity is accepted, as the spec's deserialization does).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        if bytes.len() != 96 {
            return Err(BlsError::InvalidSignature(BLST_ERROR::BLST_BAD_ENCODING));
        }
        min_pk::Signature::sig_validate(bytes, false).map(Self).map_err(BlsError::InvalidSignature)
    }

    /// The 96-byte compressed form.
    pub fn compress(&self) -> [u8; 96] {
        self.0.compress()
    }

    /// The compressed form as a consensus type.
    pub fn to_bytes(&self) -> SignatureBytes {
        SignatureBytes::from(self.compress())
    }

    /// Verifies this signature over `msg` by `pk` (CoreVerify with the Ethereum DST).
    pub fn verify(&self, pk: &PublicKey, msg: &[u8]) -> bool {
        self.0.verify(true, msg, ETH_DST, &[], &pk.0, true) == BLST_ERROR::BLST_SUCCESS
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.compress()))
    }
}

/// Checks that `bytes` is a valid compressed G1 point in the subgroup
/// (infinity allowed): the spec's G1 deserialization.
pub fn g1_deserializes(bytes: &[u8]) -> bool {
    if bytes.len() != 48 {
        return false;
    }
    let mut p = blst::blst_p1_affine::default();
    // SAFETY: `bytes` is exactly 48 bytes, the compressed size blst reads.
    unsafe {
        blst::blst_p1_uncompress(&mut p, bytes.as_ptr()) == BLST_ERROR::BLST_SUCCESS && blst::blst_p1_affine_in_g1(&p)
    }
}

/// Checks that `bytes` is a valid compressed G2 point in the subgroup
/// (infinity allowed): the spec's G2 deserialization.
pub fn g2_deserializes(bytes: &[u8]) -> bool {
    bytes.len() == 96 && min_pk::Signature::sig_validate(bytes, false).is_ok()
}

/// Hashes `msg` to G2 with `dst` and returns the affine point uncompressed
/// (`x.c1 || x.c0 || y.c1 || y.c0`, big-endian, 192 bytes).
pub fn hash_to_g2_uncompressed(msg: &[u8], dst: &[u8]) -> [u8; 192] {
    let mut p = blst::blst_p2::default();
    let mut a = blst::blst_p2_affine::default();
    let mut out = [0u8; 192];
    // SAFETY: pointers and lengths come from live slices; outputs are owned locals.
    unsafe {
        blst::blst_hash_to_g2(&mut p, msg.as_ptr(), msg.len(), dst.as_ptr(), dst.len(), std::ptr::null(), 0);
        blst::blst_p2_to_affine(&mut a, &p);
        blst::blst_p2_affine_serialize(out.as_mut_ptr(), &a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let sk = SecretKey::from_bytes(&[7u8; 32]).unwrap();
        let shown = format!("{sk:?}");
        assert_eq!(shown, "SecretKey(<redacted>)");
        assert!(!shown.contains("0707"));
    }

    #[test]
    fn rejects_bad_secret_keys() {
        assert!(SecretKey::from_bytes(&[0u8; 32]).is_err());
        assert!(SecretKey::from_bytes(&[0xffu8; 32]).is_err());
        assert!(SecretKey::from_bytes(&[1u8; 31]).is_err());
    }

    #[test]
    fn sign_verify_round_trip() {
        let sk = SecretKey::random();
        let sig = sk.sign(b"hello");
        assert!(sig.verify(&sk.public_key(), b"hello"));
        assert!(!sig.verify(&sk.public_key(), b"hellO"));
    }
}
