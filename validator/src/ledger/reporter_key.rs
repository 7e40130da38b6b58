//! The reporter's execution-layer key: an Ethereum V3 ("Web3 Secret
//! Storage") keystore, as geth, Foundry (`cast wallet`) and the pools'
//! oracle software write it: scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR, and
//! a keccak-256 MAC over the key's second half and the ciphertext.
//!
//! The secret key lives in a [`ReporterKey`], zeroized on drop and never
//! printed; signing is k256's RFC 6979 ECDSA (constant-time scalar
//! arithmetic).

use alloy_primitives::{keccak256, Address, B256};
use k256::ecdsa::SigningKey;
use serde::Deserialize;
use sha2::Sha256;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Why a keystore could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReporterKeyError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a V3 keystore of a kind poolvc reads.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The MAC does not match: a wrong password (or a damaged file).
    #[error("{path}: wrong password (the keystore's MAC does not match)")]
    WrongPassword {
        /// The file.
        path: PathBuf,
    },
}

/// Why a key operation (making, encrypting, signing) failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyOpError {
    /// 32 bytes that are not a secp256k1 secret key (zero, or past the order).
    #[error("not a secp256k1 secret key")]
    NotASecret,
    /// Scrypt refused its parameters.
    #[error("scrypt: invalid parameters (log n {log_n})")]
    ScryptParams {
        /// log2 of the cost.
        log_n: u8,
    },
    /// Scrypt refused its output length.
    #[error("scrypt: invalid output length")]
    ScryptOutput,
    /// The cipher refused its key or IV length.
    #[error("aes-128-ctr: {0}")]
    Cipher(#[from] aes::cipher::InvalidLength),
    /// The keystore JSON could not be written.
    #[error("keystore json: {0}")]
    Json(#[from] serde_json::Error),
    /// ECDSA signing failed.
    #[error("signing: {0}")]
    Sign(#[from] k256::ecdsa::Error),
}

#[derive(Deserialize)]
struct V3 {
    #[serde(alias = "Crypto")]
    crypto: Crypto,
    version: u32,
}

#[derive(Deserialize)]
struct Crypto {
    cipher: String,
    cipherparams: CipherParams,
    ciphertext: String,
    kdf: String,
    kdfparams: serde_json::Value,
    mac: String,
}

#[derive(Deserialize)]
struct CipherParams {
    iv: String,
}

/// A decrypted reporter key.
pub struct ReporterKey {
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for ReporterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReporterKey").field("address", &self.address).finish_non_exhaustive()
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, hex::FromHexError> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
}

impl ReporterKey {
    /// From a 32-byte secret.
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyOpError> {
        let key = SigningKey::from_slice(secret).map_err(|_| KeyOpError::NotASecret)?;
        let point = key.verifying_key().to_encoded_point(false);
        let address = Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..]);
        Ok(Self { key, address })
    }

    /// Decrypts the keystore at `path` with `password`.
    pub fn load(path: &Path, password: &[u8]) -> Result<Self, ReporterKeyError> {
        let text = std::fs::read(path).map_err(|source| ReporterKeyError::Read { path: path.into(), source })?;
        Self::decrypt(path, &text, password)
    }

    /// Decrypts keystore `text` (`path` names it in errors).
    pub fn decrypt(path: &Path, text: &[u8], password: &[u8]) -> Result<Self, ReporterKeyError> {
        let bad = |reason: String| ReporterKeyError::Malformed { path: path.into(), reason };
        let v: V3 = serde_json::from_slice(text).map_err(|e| bad(format!("not a V3 keystore: {e}")))?;
        if v.version != 3 {
            return Err(bad(format!("version {} (only 3 is read)", v.version)));
        }
        let c = v.crypto;
        if c.cipher != "aes-128-ctr" {
            return Err(bad(format!("cipher {:?} (only aes-128-ctr is read)", c.cipher)));
        }
        let p = &c.kdfparams;
        let num =
            |k: &str| p.get(k).and_then(serde_json::Value::as_u64).ok_or_else(|| bad(format!("kdfparams.{k} missing")));
        let salt = unhex(p.get("salt").and_then(serde_json::Value::as_str).unwrap_or(""))
            .map_err(|e| bad(format!("salt: {e}")))?;
        let dklen = num("dklen")? as usize;
        if dklen != 32 {
            return Err(bad(format!("dklen {dklen} (32 expected)")));
        }
        let mut dk = Zeroizing::new(vec![0u8; 32]);
        match c.kdf.as_str() {
            "scrypt" => {
                let (n, r, pp) = (num("n")?, num("r")?, num("p")?);
                if !n.is_power_of_two()
                    || !(2..=1 << 22).contains(&n)
                    || !(1..=64).contains(&r)
                    || !(1..=64).contains(&pp)
                {
                    return Err(bad(format!("scrypt n={n} r={r} p={pp} out of range")));
                }
                let params = scrypt::Params::new(n.trailing_zeros() as u8, r as u32, pp as u32, 32)
                    .map_err(|e| bad(format!("scrypt parameters: {e}")))?;
                scrypt::scrypt(password, &salt, &params, &mut dk).map_err(|e| bad(format!("scrypt: {e}")))?;
            }
            "pbkdf2" => {
                let prf = p.get("prf").and_then(serde_json::Value::as_str).unwrap_or("");
                if prf != "hmac-sha256" {
                    return Err(bad(format!("pbkdf2 prf {prf:?} (only hmac-sha256 is read)")));
                }
                let iterations = num("c")?;
                if iterations == 0 || iterations > 1 << 24 {
                    return Err(bad(format!("pbkdf2 c={iterations} out of range")));
                }
                pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, iterations as u32, &mut dk);
            }
            other => return Err(bad(format!("kdf {other:?} (scrypt or pbkdf2)"))),
        }
        let ciphertext = unhex(&c.ciphertext).map_err(|e| bad(format!("ciphertext: {e}")))?;
        let mac = unhex(&c.mac).map_err(|e| bad(format!("mac: {e}")))?;
        let mut preimage = Vec::with_capacity(16 + ciphertext.len());
        preimage.extend_from_slice(&dk[16..32]);
        preimage.extend_from_slice(&ciphertext);
        let want = keccak256(&preimage);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(want.as_slice(), mac.as_slice())) {
            return Err(ReporterKeyError::WrongPassword { path: path.into() });
        }
        let iv = unhex(&c.cipherparams.iv).map_err(|e| bad(format!("iv: {e}")))?;
        let mut secret = Zeroizing::new(ciphertext);
        use aes::cipher::{KeyIvInit, StreamCipher};
        let mut cipher = Aes128Ctr::new_from_slices(&dk[..16], &iv).map_err(|_| bad("iv is not 16 bytes".into()))?;
        cipher.apply_keystream(&mut secret);
        Self::from_secret(&secret).map_err(|e| bad(e.to_string()))
    }

    /// A new random key, encrypted with `password` (scrypt n = 2^18, r = 8,
    /// p = 1, as geth's standard): the keystore JSON.
    pub fn generate(password: &[u8], log_n: u8) -> Result<(Self, String), KeyOpError> {
        use rand::RngCore;
        let mut secret = Zeroizing::new([0u8; 32]);
        let key = loop {
            rand::rngs::OsRng.fill_bytes(&mut *secret);
            if let Ok(k) = Self::from_secret(&*secret) {
                break k;
            }
        };
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let params = scrypt::Params::new(log_n, 8, 1, 32).map_err(|_| KeyOpError::ScryptParams { log_n })?;
        let mut dk = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(password, &salt, &params, &mut *dk).map_err(|_| KeyOpError::ScryptOutput)?;
        let mut ciphertext = secret.to_vec();
        use aes::cipher::{KeyIvInit, StreamCipher};
        let mut cipher = Aes128Ctr::new_from_slices(&dk[..16], &iv)?;
        cipher.apply_keystream(&mut ciphertext);
        let mut preimage = dk[16..32].to_vec();
        preimage.extend_from_slice(&ciphertext);
        let json = serde_json::json!({
            "address": hex::encode(key.address),
            "crypto": {
                "cipher": "aes-128-ctr",
                "cipherparams": {"iv": hex::encode(iv)},
                "ciphertext": hex::encode(&ciphertext),
                "kdf": "scrypt",
                "kdfparams": {"dklen": 32, "n": 1u64 << log_n, "r": 8, "p": 1, "salt": hex::encode(salt)},
                "mac": hex::encode(keccak256(&preimage)),
            },
            "id": uuid_v4(),
            "version": 3,
        });
        Ok((key, serde_json::to_string_pretty(&json)?))
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte hash: `(y_parity, r, s)`.
    pub fn sign_hash(&self, hash: &B256) -> Result<(bool, B256, B256), KeyOpError> {
        let (sig, recid) = self.key.sign_prehash_recoverable(hash.as_slice())?;
        let bytes = sig.to_bytes();
        Ok((recid.is_y_odd(), B256::from_slice(&bytes[..32]), B256::from_slice(&bytes[32..])))
    }
}

fn uuid_v4() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The Web3 Secret Storage definition's test vectors (password
    /// "testpassword").
    const PBKDF2: &str = r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},"ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2","kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#;

    #[test]
    fn the_web3_secret_storage_vector_decrypts_and_a_wrong_password_is_named() {
        let p = Path::new("vector.json");
        let k = ReporterKey::decrypt(p, PBKDF2.as_bytes(), b"testpassword").unwrap();
        // The vector's secret 7a28b5ba…fe9d has address 0x008aeeda4d805471df9b2a5b0f38a0c3bcba786b.
        assert_eq!(format!("{:x}", k.address()), "008aeeda4d805471df9b2a5b0f38a0c3bcba786b");
        assert!(matches!(
            ReporterKey::decrypt(p, PBKDF2.as_bytes(), b"nope"),
            Err(ReporterKeyError::WrongPassword { .. })
        ));
        assert!(matches!(ReporterKey::decrypt(p, b"{}", b"x"), Err(ReporterKeyError::Malformed { .. })));
        assert!(!format!("{k:?}").contains("7a28"), "the secret is never printed");
    }

    #[test]
    fn a_generated_keystore_decrypts_to_the_same_address() {
        let (k, json) = ReporterKey::generate(b"pw", 4).unwrap();
        let back = ReporterKey::decrypt(Path::new("new.json"), json.as_bytes(), b"pw").unwrap();
        assert_eq!(k.address(), back.address());
    }
}
