//! EIP-2333 key derivation and EIP-2334 paths from a BIP-39 mnemonic.
//!
//! The tree KDF itself is blst's (`derive_master_eip2333`,
//! `derive_child_eip2333`), checked against the EIP-2333 vectors in the
//! test suite. Seeds and intermediate keys live in zeroizing buffers.

use super::bls::SecretKey;
use zeroize::Zeroizing;

/// Errors deriving keys.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// The mnemonic is not a valid BIP-39 mnemonic (word list or checksum).
    #[error("invalid BIP-39 mnemonic: {0}")]
    Mnemonic(String),
    /// The seed is shorter than the 32 bytes EIP-2333 requires.
    #[error("seed is {0} bytes; EIP-2333 needs at least 32")]
    SeedTooShort(usize),
    /// A path is not of the form `m/12381/3600/i/0/0`.
    #[error("invalid derivation path {path:?}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// EIP-2334 purpose.
pub const PURPOSE: u32 = 12381;
/// EIP-2334 coin type for Ethereum.
pub const COIN_TYPE: u32 = 3600;

/// The EIP-2334 signing-key path of validator `i`: `m/12381/3600/i/0/0`.
pub fn signing_key_path(i: u32) -> String {
    format!("m/{PURPOSE}/{COIN_TYPE}/{i}/0/0")
}

/// The EIP-2334 withdrawal-key path of validator `i`: `m/12381/3600/i/0`.
pub fn withdrawal_key_path(i: u32) -> String {
    format!("m/{PURPOSE}/{COIN_TYPE}/{i}/0")
}

/// Parses `m/a/b/c/...` into its indices.
pub fn parse_path(path: &str) -> Result<Vec<u32>, DeriveError> {
    let err = |reason| DeriveError::Path { path: path.to_string(), reason };
    let mut parts = path.trim().split('/');
    if parts.next() != Some("m") {
        return Err(err("must start with \"m\""));
    }
    let indices = parts
        .map(|p| p.parse::<u32>().map_err(|_| err("each component must be a decimal integer < 2^32")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(indices)
}

/// The 64-byte BIP-39 seed of `mnemonic` with `passphrase` (NFKD-normalised;
/// English and the other BIP-39 word lists are accepted).
pub fn mnemonic_to_seed(mnemonic: &str, passphrase: &str) -> Result<Zeroizing<[u8; 64]>, DeriveError> {
    use unicode_normalization::UnicodeNormalization;
    let normalized: Zeroizing<String> = Zeroizing::new(mnemonic.trim().nfkd().collect());
    // Some word lists share words (simplified and traditional Chinese): the
    // seed does not depend on the list, so the first list that validates the
    // mnemonic (words and checksum) is as good as any.
    let m = match bip39::Mnemonic::parse_normalized(normalized.as_str()) {
        Ok(m) => m,
        Err(bip39::Error::AmbiguousLanguages(_)) => bip39::Language::ALL
            .iter()
            .find_map(|l| bip39::Mnemonic::parse_in_normalized(*l, normalized.as_str()).ok())
            .ok_or_else(|| DeriveError::Mnemonic("no word list validates this mnemonic".into()))?,
        Err(e) => return Err(DeriveError::Mnemonic(e.to_string())),
    };
    Ok(Zeroizing::new(m.to_seed_normalized(passphrase.nfkd().collect::<String>().as_str())))
}

/// EIP-2333 master key from a seed (at least 32 bytes).
pub fn derive_master(seed: &[u8]) -> Result<SecretKey, DeriveError> {
    blst::min_pk::SecretKey::derive_master_eip2333(seed)
        .map(SecretKey::from_blst)
        .map_err(|_| DeriveError::SeedTooShort(seed.len()))
}

/// EIP-2333 child of `parent` at `index`.
pub fn derive_child(parent: &SecretKey, index: u32) -> SecretKey {
    SecretKey::from_blst(parent.as_blst().derive_child_eip2333(index))
}

/// Derives the key at `path` (e.g. `m/12381/3600/0/0/0`) from `seed`.
pub fn derive_path(seed: &[u8], path: &str) -> Result<SecretKey, DeriveError> {
    let indices = parse_path(path)?;
    let mut sk = derive_master(seed)?;
    for i in indices {
        sk = derive_child(&sk, i);
    }
    Ok(sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("m/12381/3600/7/0/0").unwrap(), vec![12381, 3600, 7, 0, 0]);
        assert!(parse_path("12381/3600").is_err());
        assert!(parse_path("m/12381/x").is_err());
        assert_eq!(signing_key_path(3), "m/12381/3600/3/0/0");
        assert_eq!(withdrawal_key_path(3), "m/12381/3600/3/0");
    }

    #[test]
    fn short_seed_is_an_error() {
        assert!(matches!(derive_master(&[1u8; 16]), Err(DeriveError::SeedTooShort(16))));
    }
}
