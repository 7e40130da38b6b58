//! Interop ("mocked start") keys: `sk_i = int.from_bytes(sha256(i.to_bytes(32, 'little')), 'little') mod r`.
//! Insecure by design: for devnets and tests only.

use super::bls::SecretKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The interop secret key of validator `index`.
pub fn interop_secret_key(index: u64) -> SecretKey {
    let mut preimage = [0u8; 32];
    preimage[..8].copy_from_slice(&index.to_le_bytes());
    let digest = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(preimage)));
    let mut scalar = blst::blst_scalar::default();
    let mut be = Zeroizing::new([0u8; 32]);
    // SAFETY: blst reads 32 bytes from `digest` and writes 32 bytes into `be`;
    // both are live 32-byte buffers. `blst_scalar_from_le_bytes` reduces mod r.
    unsafe {
        blst::blst_scalar_from_le_bytes(&mut scalar, digest.as_ptr(), 32);
        blst::blst_bendian_from_scalar(be.as_mut_ptr(), &scalar);
    }
    // Wipe the intermediate scalar as well.
    // SAFETY: `blst_scalar` is plain bytes; overwriting it with zeros is sound.
    unsafe { std::ptr::write_volatile(&mut scalar, blst::blst_scalar::default()) };
    // A SHA-256 output reduced mod r is zero with negligible probability; the
    // 10,000-key vectors show none of the interop range is.
    SecretKey::from_bytes(be.as_ref()).unwrap_or_else(|_| SecretKey::random())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_zero_matches_lodestar_sample() {
        let sk = interop_secret_key(0);
        assert_eq!(
            hex::encode(sk.to_bytes().as_ref()),
            "25295f0d1d592a90b333e26e85149708208e9f8e8bc18f6c77bd62f8ad7a6866"
        );
    }
}
