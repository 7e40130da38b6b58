//! EIP-2335 keystores (version 4): scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR,
//! SHA-256 checksum, NFKD password normalisation with control codes removed.
//!
//! Reading a keystore ([`Keystore::from_file`]) never runs the KDF: that
//! happens only in [`Keystore::decrypt`], which counts each run (see
//! [`decryptions_performed`]). Every error names the file it concerns.
//! Many keystores decrypt in parallel on a rayon pool with
//! [`decrypt_many`].

use super::bls::SecretKey;
use crate::types::PublicKeyBytes;
use aes::cipher::{KeyIvInit, StreamCipher};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Upper bound on scrypt memory (`128 * r * n` bytes) we agree to use: 2 GiB.
const MAX_SCRYPT_MEMORY: u128 = 2 << 30;
/// Upper bound on PBKDF2 iterations.
const MAX_PBKDF2_ROUNDS: u64 = 1 << 26;

static DECRYPTIONS: AtomicU64 = AtomicU64::new(0);

/// How many keystore KDF runs this process has performed (for tests and metrics).
pub fn decryptions_performed() -> u64 {
    DECRYPTIONS.load(Ordering::Relaxed)
}

/// What went wrong with a keystore.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreErrorKind {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not valid keystore JSON.
    #[error("malformed keystore JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not version 4.
    #[error("unsupported keystore version {0} (only EIP-2335 version 4 is supported)")]
    Version(u64),
    /// The KDF is neither scrypt nor pbkdf2.
    #[error("unknown KDF function {0:?} (expected \"scrypt\" or \"pbkdf2\")")]
    UnknownKdf(String),
    /// The cipher is not aes-128-ctr.
    #[error("unknown cipher function {0:?} (expected \"aes-128-ctr\")")]
    UnknownCipher(String),
    /// The checksum is not sha256.
    #[error("unknown checksum function {0:?} (expected \"sha256\")")]
    UnknownChecksum(String),
    /// A parameter is missing or out of range.
    #[error("invalid {module} parameter: {reason}")]
    Param {
        /// `kdf`, `cipher` or `checksum`.
        module: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A hex field does not decode.
    #[error("field {0} is not valid hex")]
    Hex(&'static str),
    /// The cipher message is not 32 bytes.
    #[error("cipher message is {0} bytes, expected 32 (truncated or corrupted keystore)")]
    CipherLength(usize),
    /// Checksum mismatch.
    #[error("checksum mismatch: wrong password, or the keystore's checksum or cipher message was altered")]
    Checksum,
    /// The decrypted bytes are not a valid secret key.
    #[error("decrypted secret is not a valid BLS secret key")]
    InvalidSecret,
    /// The decrypted key's public key is not the keystore's `pubkey`.
    #[error("decrypted key has public key {actual}, but the keystore says {expected}")]
    PubkeyMismatch {
        /// `pubkey` in the file.
        expected: String,
        /// Public key of the decrypted secret.
        actual: String,
    },
    /// The `pubkey` field is not a valid public key.
    #[error("pubkey field is not a 48-byte hex public key")]
    BadPubkey,
}

/// A keystore error, with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("keystore {}: {kind}", file.display())]
pub struct KeystoreError {
    /// The keystore file (or `<memory>`).
    pub file: PathBuf,
    /// The cause.
    pub kind: KeystoreErrorKind,
}

impl KeystoreError {
    fn new(file: &Path, kind: impl Into<KeystoreErrorKind>) -> Self {
        Self { file: file.to_path_buf(), kind: kind.into() }
    }
}

/// The KDF used when encrypting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt with `n = 2^log_n`, `r = 8`, `p = 1`.
    Scrypt {
        /// log2 of the cost parameter (EIP-2335's example: 18).
        log_n: u8,
    },
    /// PBKDF2-HMAC-SHA256 with `c` rounds (EIP-2335's example: 262144).
    Pbkdf2 {
        /// Iteration count.
        c: u32,
    },
}

/// EIP-2335's PBKDF2 rounds (its example's, and `@chainsafe/bls-keystore`'s default).
pub const STANDARD_PBKDF2_ROUNDS: u32 = 262_144;

impl Kdf {
    /// EIP-2335's scrypt parameters (n = 262144).
    pub const STANDARD_SCRYPT: Kdf = Kdf::Scrypt { log_n: 18 };
    /// EIP-2335's PBKDF2 parameters (c = 262144).
    pub const STANDARD_PBKDF2: Kdf = Kdf::Pbkdf2 { c: STANDARD_PBKDF2_ROUNDS };
}

/// A JSON module (`kdf`, `checksum`, `cipher`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Module {
    function: String,
    params: serde_json::Value,
    message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Crypto {
    kdf: Module,
    checksum: Module,
    cipher: Module,
}

impl Crypto {
    /// The modules before sealing: the KDF given, SHA-256 checksum and
    /// AES-128-CTR with `iv`, their messages empty ([`seal_into`] fills them).
    fn unsealed(kdf: &str, kdf_params: serde_json::Value, iv: &[u8; 16]) -> Self {
        Crypto {
            kdf: Module { function: kdf.into(), params: kdf_params, message: String::new() },
            checksum: Module { function: "sha256".into(), params: serde_json::json!({}), message: String::new() },
            cipher: Module {
                function: "aes-128-ctr".into(),
                params: serde_json::json!({"iv": hex::encode(iv)}),
                message: String::new(),
            },
        }
    }
}

/// The on-disk form of an EIP-2335 keystore.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeystoreJson {
    crypto: Crypto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default)]
    pubkey: String,
    #[serde(default)]
    path: String,
    uuid: String,
    version: u64,
}

/// An EIP-2335 keystore, parsed but not decrypted.
#[derive(Clone)]
pub struct Keystore {
    json: KeystoreJson,
    file: PathBuf,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore")
            .field("file", &self.file)
            .field("pubkey", &self.json.pubkey)
            .field("path", &self.json.path)
            .field("kdf", &self.json.crypto.kdf.function)
            .finish()
    }
}

/// Encrypts `plain` into `json` (AES-128-CTR under the first half of the
/// derived key `dk`, IV `iv`) with EIP-2335's checksum over the second half
/// and the cipher text.
fn seal_into(json: &mut KeystoreJson, dk: &[u8], iv: &[u8; 16], plain: &[u8]) -> Result<(), KeystoreError> {
    let mut ct = Zeroizing::new(plain.to_vec());
    let mut cipher = Aes128Ctr::new_from_slices(&dk[..16], iv).map_err(|_| {
        KeystoreError::new(
            Path::new("<memory>"),
            KeystoreErrorKind::Param { module: "cipher", reason: "bad key or iv length".into() },
        )
    })?;
    cipher.apply_keystream(ct.as_mut());
    let mut h = Sha256::new();
    h.update(&dk[16..32]);
    h.update(ct.as_slice());
    json.crypto.checksum.message = hex::encode(h.finalize());
    json.crypto.cipher.message = hex::encode(ct.as_slice());
    Ok(())
}

/// Normalises a password as EIP-2335 requires: NFKD, then C0 (0x00-0x1F),
/// DEL (0x7F) and C1 (0x80-0x9F) control codes removed; returns UTF-8 bytes.
pub fn normalize_password(password: &str) -> Zeroizing<Vec<u8>> {
    let s: Zeroizing<String> =
        Zeroizing::new(password.nfkd().filter(|c| !matches!(*c as u32, 0x00..=0x1f | 0x7f | 0x80..=0x9f)).collect());
    Zeroizing::new(s.as_bytes().to_vec())
}

impl Keystore {
    /// Parses keystore JSON; `file` names it in errors. Checks the structure
    /// and the function names, not the password.
    pub fn from_json_str(file: impl AsRef<Path>, text: &str) -> Result<Self, KeystoreError> {
        let file = file.as_ref();
        let json: KeystoreJson = serde_json::from_str(text).map_err(|e| KeystoreError::new(file, e))?;
        let ks = Self { json, file: file.to_path_buf() };
        ks.validate_structure()?;
        Ok(ks)
    }

    /// Reads and parses a keystore file (no decryption).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeystoreError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| KeystoreError::new(path, e))?;
        Self::from_json_str(path, &text)
    }

    fn err(&self, kind: impl Into<KeystoreErrorKind>) -> KeystoreError {
        KeystoreError::new(&self.file, kind)
    }

    fn validate_structure(&self) -> Result<(), KeystoreError> {
        if self.json.version != 4 {
            return Err(self.err(KeystoreErrorKind::Version(self.json.version)));
        }
        let c = &self.json.crypto;
        match c.kdf.function.as_str() {
            "scrypt" | "pbkdf2" => {}
            other => return Err(self.err(KeystoreErrorKind::UnknownKdf(other.to_string()))),
        }
        if c.cipher.function != "aes-128-ctr" {
            return Err(self.err(KeystoreErrorKind::UnknownCipher(c.cipher.function.clone())));
        }
        if c.checksum.function != "sha256" {
            return Err(self.err(KeystoreErrorKind::UnknownChecksum(c.checksum.function.clone())));
        }
        if !self.json.pubkey.is_empty() && self.pubkey().is_none() {
            return Err(self.err(KeystoreErrorKind::BadPubkey));
        }
        Ok(())
    }

    /// The file this keystore was read from (or `<memory>`).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The `pubkey` field, if present and well-formed (not checked against the secret).
    pub fn pubkey(&self) -> Option<PublicKeyBytes> {
        let s = self.json.pubkey.trim_start_matches("0x");
        let bytes = hex::decode(s).ok()?;
        <[u8; 48]>::try_from(bytes.as_slice()).ok().map(PublicKeyBytes::from)
    }

    /// The EIP-2334 `path` field (may be empty).
    pub fn path(&self) -> &str {
        &self.json.path
    }

    /// The `uuid` field.
    pub fn uuid(&self) -> &str {
        &self.json.uuid
    }

    /// The `description` field.
    pub fn description(&self) -> Option<&str> {
        self.json.description.as_deref()
    }

    /// The KDF function name (`scrypt` or `pbkdf2`).
    pub fn kdf_name(&self) -> &str {
        &self.json.crypto.kdf.function
    }

    fn hex_field(&self, value: &str, name: &'static str) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        hex::decode(value.trim_start_matches("0x"))
            .map(Zeroizing::new)
            .map_err(|_| self.err(KeystoreErrorKind::Hex(name)))
    }

    fn param_u64(&self, module: &'static str, params: &serde_json::Value, name: &str) -> Result<u64, KeystoreError> {
        params.get(name).and_then(|v| v.as_u64()).ok_or_else(|| {
            self.err(KeystoreErrorKind::Param { module, reason: format!("{name} missing or not an unsigned integer") })
        })
    }

    fn param_str<'a>(
        &self,
        module: &'static str,
        params: &'a serde_json::Value,
        name: &str,
    ) -> Result<&'a str, KeystoreError> {
        params.get(name).and_then(|v| v.as_str()).ok_or_else(|| {
            self.err(KeystoreErrorKind::Param { module, reason: format!("{name} missing or not a string") })
        })
    }

    /// Runs the KDF on the normalised password.
    fn derive_key(&self, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let kdf = &self.json.crypto.kdf;
        let p = &kdf.params;
        let dklen = self.param_u64("kdf", p, "dklen")?;
        if !(32..=64).contains(&dklen) {
            return Err(
                self.err(KeystoreErrorKind::Param { module: "kdf", reason: format!("dklen {dklen} not in 32..=64") })
            );
        }
        let salt = self.hex_field(self.param_str("kdf", p, "salt")?, "crypto.kdf.params.salt")?;
        let mut dk = Zeroizing::new(vec![0u8; dklen as usize]);
        match kdf.function.as_str() {
            "scrypt" => {
                let n = self.param_u64("kdf", p, "n")?;
                let r = self.param_u64("kdf", p, "r")?;
                let pp = self.param_u64("kdf", p, "p")?;
                let bad = |reason: String| self.err(KeystoreErrorKind::Param { module: "kdf", reason });
                if n < 2 || !n.is_power_of_two() {
                    return Err(bad(format!("scrypt n = {n} is not a power of two > 1")));
                }
                if r == 0 || pp == 0 || r > u32::MAX as u64 || pp > u32::MAX as u64 {
                    return Err(bad(format!("scrypt r = {r}, p = {pp} out of range")));
                }
                let memory = 128u128 * r as u128 * n as u128;
                if memory > MAX_SCRYPT_MEMORY {
                    return Err(bad(format!("scrypt n = {n}, r = {r} needs {memory} bytes, above the 2 GiB limit")));
                }
                let params = scrypt::Params::new(n.trailing_zeros() as u8, r as u32, pp as u32, dklen as usize)
                    .map_err(|e| bad(format!("scrypt parameters rejected: {e}")))?;
                DECRYPTIONS.fetch_add(1, Ordering::Relaxed);
                scrypt::scrypt(password, &salt, &params, &mut dk).map_err(|e| bad(format!("scrypt failed: {e}")))?;
            }
            "pbkdf2" => {
                let c = self.param_u64("kdf", p, "c")?;
                let prf = self.param_str("kdf", p, "prf")?;
                let bad = |reason: String| self.err(KeystoreErrorKind::Param { module: "kdf", reason });
                if prf != "hmac-sha256" {
                    return Err(bad(format!("pbkdf2 prf {prf:?} is not hmac-sha256")));
                }
                if c == 0 || c > MAX_PBKDF2_ROUNDS {
                    return Err(bad(format!("pbkdf2 c = {c} not in 1..={MAX_PBKDF2_ROUNDS}")));
                }
                DECRYPTIONS.fetch_add(1, Ordering::Relaxed);
                pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, c as u32, &mut dk);
            }
            other => return Err(self.err(KeystoreErrorKind::UnknownKdf(other.to_string()))),
        }
        Ok(dk)
    }

    /// Decrypts with `password` (normalised here), checks the checksum and
    /// that the secret matches the `pubkey` field.
    pub fn decrypt(&self, password: &str) -> Result<SecretKey, KeystoreError> {
        let cipher_len = self.hex_field(&self.json.crypto.cipher.message, "crypto.cipher.message")?.len();
        if cipher_len != 32 {
            return Err(self.err(KeystoreErrorKind::CipherLength(cipher_len)));
        }
        let secret = self.decrypt_bytes(password)?;
        let sk = SecretKey::from_bytes(secret.as_ref()).map_err(|_| self.err(KeystoreErrorKind::InvalidSecret))?;
        if let Some(expected) = self.pubkey() {
            let actual = sk.public_key().to_bytes();
            if actual != expected {
                return Err(self.err(KeystoreErrorKind::PubkeyMismatch {
                    expected: format!("0x{}", hex::encode(expected)),
                    actual: format!("0x{}", hex::encode(actual)),
                }));
            }
        }
        Ok(sk)
    }

    /// The container's secret, of any length, after the checksum is checked:
    /// for a BLS key use [`Keystore::decrypt`], which also checks the key.
    pub fn decrypt_bytes(&self, password: &str) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let crypto = &self.json.crypto;
        let cipher_message = self.hex_field(&crypto.cipher.message, "crypto.cipher.message")?;
        if cipher_message.is_empty() {
            return Err(self.err(KeystoreErrorKind::CipherLength(0)));
        }
        let iv = self.hex_field(self.param_str("cipher", &crypto.cipher.params, "iv")?, "crypto.cipher.params.iv")?;
        if iv.len() != 16 {
            return Err(self.err(KeystoreErrorKind::Param {
                module: "cipher",
                reason: format!("iv is {} bytes, expected 16", iv.len()),
            }));
        }
        let checksum = self.hex_field(&crypto.checksum.message, "crypto.checksum.message")?;
        if checksum.len() != 32 {
            return Err(self.err(KeystoreErrorKind::Param {
                module: "checksum",
                reason: format!("message is {} bytes, expected 32", checksum.len()),
            }));
        }

        let password = normalize_password(password);
        let dk = self.derive_key(&password)?;

        let mut h = Sha256::new();
        h.update(&dk[16..32]);
        h.update(&cipher_message[..]);
        let expected: [u8; 32] = h.finalize().into();
        if !bool::from(expected.ct_eq(checksum.as_slice())) {
            return Err(self.err(KeystoreErrorKind::Checksum));
        }

        let mut secret = Zeroizing::new(cipher_message.to_vec());
        let mut cipher = Aes128Ctr::new_from_slices(&dk[..16], &iv).map_err(|_| {
            self.err(KeystoreErrorKind::Param { module: "cipher", reason: "bad key or iv length".into() })
        })?;
        cipher.apply_keystream(secret.as_mut());
        Ok(secret)
    }

    /// Seals `secret`, of any length, in an EIP-2335 container under
    /// `password` with PBKDF2-HMAC-SHA256 (`c` rounds), fresh salt, IV and
    /// UUID, no public key and an empty path: the form Lido's
    /// validator-ejector reads encrypted exit messages in (its
    /// `encryptor/encrypt.ts`: `@chainsafe/bls-keystore` `create(password,
    /// message, new Uint8Array(), "")`, and only `pbkdf2` in its
    /// `services/crypto/dto.ts`).
    pub fn seal_bytes(secret: &[u8], password: &str, c: u32) -> Result<Self, KeystoreError> {
        use rand::RngCore;
        let mem = Path::new("<memory>");
        let mut rng = rand::rngs::OsRng;
        let (mut salt, mut iv) = ([0u8; 32], [0u8; 16]);
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        let mut json = KeystoreJson {
            crypto: Crypto::unsealed(
                "pbkdf2",
                serde_json::json!({"dklen": 32, "c": c, "prf": "hmac-sha256", "salt": hex::encode(salt)}),
                &iv,
            ),
            description: None,
            pubkey: String::new(),
            path: String::new(),
            uuid: uuid::Uuid::new_v4().to_string(),
            version: 4,
        };
        let tmp = Self { json: json.clone(), file: mem.to_path_buf() };
        let dk = tmp.derive_key(&normalize_password(password))?;
        seal_into(&mut json, &dk, &iv, secret)?;
        Ok(Self { json, file: mem.to_path_buf() })
    }

    /// Encrypts `sk` under `password` with `kdf`, fresh random salt, IV and UUID.
    pub fn encrypt(
        sk: &SecretKey,
        password: &str,
        kdf: Kdf,
        path: &str,
        description: Option<&str>,
    ) -> Result<Self, KeystoreError> {
        let mut v = Self::encrypt_sharing_one_kdf(std::slice::from_ref(sk), password, kdf, |_| path.to_string())?;
        let mut ks = v.pop().ok_or_else(|| {
            KeystoreError::new(
                Path::new("<memory>"),
                KeystoreErrorKind::Param { module: "kdf", reason: "no keystore made".into() },
            )
        })?;
        ks.json.description = description.map(str::to_string);
        Ok(ks)
    }

    /// Test fixtures and benchmarks only: keystores of `keys` that share one
    /// salt and password, so the KDF runs once for all of them (each still
    /// has its own IV and UUID, and a reader must run the KDF for each: it
    /// cannot know they share it). A real keystore gets its own salt
    /// ([`Keystore::encrypt`]).
    pub fn encrypt_sharing_one_kdf(
        keys: &[SecretKey],
        password: &str,
        kdf: Kdf,
        path_of: impl Fn(usize) -> String,
    ) -> Result<Vec<Self>, KeystoreError> {
        use rand::RngCore;
        let mem = Path::new("<memory>");
        let mut rng = rand::rngs::OsRng;
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        let (function, params) = match kdf {
            Kdf::Scrypt { log_n } => (
                "scrypt",
                serde_json::json!({"dklen": 32, "n": 1u64 << log_n, "r": 8, "p": 1, "salt": hex::encode(salt)}),
            ),
            Kdf::Pbkdf2 { c } => {
                ("pbkdf2", serde_json::json!({"dklen": 32, "c": c, "prf": "hmac-sha256", "salt": hex::encode(salt)}))
            }
        };
        let template = |sk: &SecretKey, iv: &[u8; 16], path: String| KeystoreJson {
            crypto: Crypto::unsealed(function, params.clone(), iv),
            description: None,
            pubkey: hex::encode(sk.public_key().compress()),
            path,
            uuid: uuid::Uuid::new_v4().to_string(),
            version: 4,
        };
        let Some(first) = keys.first() else { return Ok(Vec::new()) };
        let tmp = Self { json: template(first, &[0u8; 16], String::new()), file: mem.to_path_buf() };
        let dk = tmp.derive_key(&normalize_password(password))?;
        let mut out = Vec::with_capacity(keys.len());
        for (i, sk) in keys.iter().enumerate() {
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            let mut json = template(sk, &iv, path_of(i));
            seal_into(&mut json, &dk, &iv, sk.to_bytes().as_ref())?;
            out.push(Self { json, file: mem.to_path_buf() });
        }
        Ok(out)
    }

    /// The keystore as pretty JSON.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(&self.json).unwrap_or_default()
    }

    /// Writes the keystore to `path` with mode 0600, atomically (temp file,
    /// fsync, rename). Never overwrites an existing file.
    pub fn write_new(&self, path: impl AsRef<Path>) -> Result<(), KeystoreError> {
        let path = path.as_ref();
        write_secret_file(path, self.to_json_string().as_bytes()).map_err(|e| KeystoreError::new(path, e))
    }
}

/// Makes a secret file 0600 if group or others may read or write it;
/// returns the mode it had (for a warning), `None` if it was private.
#[cfg(unix)]
pub fn make_private(path: &Path) -> std::io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(Some(mode))
}

/// Makes a secret file private (no modes to fix off Unix).
#[cfg(not(unix))]
pub fn make_private(_: &Path) -> std::io::Result<Option<u32>> {
    Ok(None)
}

/// Writes `contents` to a new file at `path` with mode 0600: written to a
/// temporary file in the same directory, fsynced, then hard-linked into place
/// so an existing file is never replaced and a crash leaves no partial file.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(contents)?;
    tmp.1.sync_all()?;
    let res = std::fs::hard_link(&tmp.0, path);
    let _ = std::fs::remove_file(&tmp.0);
    res?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use rand::Rng;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    for _ in 0..16 {
        let name = format!(".tmp-{:016x}", rand::thread_rng().gen::<u64>());
        let p = dir.join(name);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        match opts.open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

/// One keystore to decrypt, with its password.
pub struct DecryptJob {
    /// The keystore file.
    pub keystore: PathBuf,
    /// Its password (zeroized on drop).
    pub password: Zeroizing<String>,
}

/// Decrypts every job in parallel on rayon's global pool (all cores),
/// calling `progress` once per finished keystore. Results are in job order;
/// one bad keystore does not stop the others.
pub fn decrypt_many<F>(jobs: &[DecryptJob], progress: F) -> Vec<Result<(Keystore, SecretKey), KeystoreError>>
where
    F: Fn() + Sync,
{
    jobs.par_iter()
        .map(|job| {
            let r = Keystore::from_file(&job.keystore).and_then(|ks| {
                let sk = ks.decrypt(&job.password)?;
                Ok((ks, sk))
            });
            progress();
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {

    /// A message sealed by `@chainsafe/bls-keystore` 3.1.0 as Lido's
    /// validator-ejector encryptor seals it (tests/vectors/ejector) opens
    /// here; one sealed here opens the same way and refuses a wrong password.
    #[test]
    fn messages_seal_and_open_as_the_lido_ejector_s_library_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/ejector");
        let file = dir.join("encrypted_exit_message.json");
        let ks = Keystore::from_file(&file).unwrap();
        let plain = ks.decrypt_bytes("ejector-test-password").unwrap();
        let want =
            format!(r#"{{"message":{{"epoch":"7","validator_index":"42"}},"signature":"0x{}"}}"#, "ab".repeat(96));
        assert_eq!(String::from_utf8(plain.to_vec()).unwrap(), want);
        assert!(matches!(ks.decrypt_bytes("wrong").unwrap_err().kind, KeystoreErrorKind::Checksum));

        let sealed = Keystore::seal_bytes(want.as_bytes(), "ejector-test-password", 1_024).unwrap();
        let text = sealed.to_json_string();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!((v["pubkey"].as_str(), v["path"].as_str(), v["version"].as_u64()), (Some(""), Some(""), Some(4)));
        assert_eq!(v["crypto"]["kdf"]["function"], "pbkdf2");
        let back = Keystore::from_json_str("sealed.json", &text).unwrap();
        assert_eq!(back.decrypt_bytes("ejector-test-password").unwrap().as_slice(), want.as_bytes());
        assert!(back.decrypt_bytes("ejector-test-passwore").is_err());
        // A BLS keystore's decrypt refuses a message-sized secret.
        assert!(matches!(back.decrypt("ejector-test-password").unwrap_err().kind, KeystoreErrorKind::CipherLength(_)));
    }
    use super::*;

    #[test]
    fn password_normalisation_strips_controls() {
        assert_eq!(normalize_password("a\u{7f}b\nc\u{85}").as_slice(), b"abc");
        // NFKD: U+FB01 (fi ligature) becomes "fi".
        assert_eq!(normalize_password("\u{fb01}").as_slice(), b"fi");
    }

    #[test]
    fn round_trip_pbkdf2_light() {
        let sk = SecretKey::from_bytes(&[9u8; 32]).unwrap();
        let ks = Keystore::encrypt(&sk, "pw", Kdf::Pbkdf2 { c: 2 }, "m/12381/3600/0/0/0", None).unwrap();
        let back = Keystore::from_json_str("x.json", &ks.to_json_string()).unwrap();
        assert_eq!(back.decrypt("pw").unwrap().to_bytes().as_ref(), sk.to_bytes().as_ref());
        assert!(matches!(back.decrypt("px").unwrap_err().kind, KeystoreErrorKind::Checksum));
    }
}
