//! Stader's presigned exits: each of the operator's keys has a signed
//! voluntary exit registered with Stader's backend, encrypted to Stader's
//! RSA key, so that Stader can exit the key itself (a forced exit at the
//! penalty threshold, or one it initiates). This is what stader-node's
//! presign loop does (stader-labs/stader-node `stader/node/node.go`,
//! `shared/utils/stader/pre-signed-flows.go`, `shared/utils/crypto/rsa.go`,
//! `shared/types/stader-backend/pre-sign.go`):
//!
//! - `POST {endpoint}/presignsSubmitted` `{"pubKeys": [...]}` answers
//!   `{pubkey: bool}`: which keys already have a message;
//! - `POST {endpoint}/presigns` with a list of
//!   `{"message": {"epoch", "validator_index"}, "signature", "validatorPublicKey"}`
//!   answers `{pubkey: {"success", "message"|"error"}}`; `signature` is the
//!   BLS signature's hex (no 0x), encrypted with RSA-OAEP (SHA-256, no
//!   label) to Stader's key and base64-encoded; keys are hex without 0x, as
//!   stader-node's types print them.
//!
//! Stader's key is the operator's to configure (a PEM file: stader-node
//! ships it as `prod-presign-public-key.txt`); it is never fetched from the
//! endpoint, whose answers only say what was received.
//!
//! Invariants: a signature leaves poolvc only encrypted; a key counts as
//! registered only when the backend says so (its check, or its answer to
//! the upload); everything else is tried again.

use poolvc_signer::types::{PublicKeyBytes, SignatureBytes};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Keys per upload request (stader-node sends ten at a time).
pub const KEYS_PER_UPLOAD: usize = 10;
/// Keys per check request.
pub const KEYS_PER_CHECK: usize = 100;
/// A signature's hex length, the plaintext encrypted.
const SIGNATURE_HEX_LEN: usize = 192;
/// The smallest RSA modulus (bytes) whose OAEP-SHA-256 block holds it:
/// the plaintext plus twice the hash plus two.
const MIN_KEY_BYTES: usize = SIGNATURE_HEX_LEN + 2 * 32 + 2;
/// The largest answer read from the backend.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Errors of the presign flow.
#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    /// The public key file could not be read.
    #[error("Stader presign public key {path}: {source}")]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no RSA public key poolvc can use.
    #[error(
        "Stader presign public key {path}: not an RSA public key in PEM (SubjectPublicKeyInfo or PKCS#1): {reason}"
    )]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Encryption failed (a key too small for the message).
    #[error("RSA-OAEP encryption to Stader's key: {reason}")]
    Encrypt {
        /// Why.
        reason: String,
    },
    /// The backend could not be reached, or answered with an error status.
    #[error("Stader presign backend {url}: {reason}")]
    Http {
        /// The URL asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The backend answered something else than the API's shape.
    #[error("Stader presign backend {url}: unexpected answer: {reason}")]
    Answer {
        /// The URL asked.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Stader's RSA public key, as configured.
#[derive(Debug, Clone)]
pub struct StaderRsaKey {
    key: RsaPublicKey,
}

impl StaderRsaKey {
    /// Reads a PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo), or
    /// `RSA PUBLIC KEY` holding either PKCS#1 or, as stader-node's own test
    /// backend writes it, SubjectPublicKeyInfo.
    pub fn from_file(path: &Path) -> Result<Self, PresignError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PresignError::ReadKey { path: path.to_path_buf(), source })?;
        Self::from_pem(&text).map_err(|reason| PresignError::BadKey { path: path.to_path_buf(), reason })
    }

    /// As [`StaderRsaKey::from_file`], from the PEM text.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let spki = RsaPublicKey::from_public_key_pem(text);
        let key = match spki {
            Ok(k) => k,
            Err(e) => match RsaPublicKey::from_pkcs1_pem(text) {
                Ok(k) => k,
                // "RSA PUBLIC KEY" around a SubjectPublicKeyInfo body.
                Err(_) => {
                    let relabelled = text.replace("RSA PUBLIC KEY", "PUBLIC KEY");
                    RsaPublicKey::from_public_key_pem(&relabelled).map_err(|_| e.to_string())?
                }
            },
        };
        use rsa::traits::PublicKeyParts;
        if key.size() < MIN_KEY_BYTES {
            return Err(format!(
                "{} bits cannot hold a signature's {SIGNATURE_HEX_LEN} hex characters under RSA-OAEP (SHA-256): \
                 at least {} bits are needed (Stader's key is 4096)",
                key.size() * 8,
                MIN_KEY_BYTES * 8
            ));
        }
        Ok(StaderRsaKey { key })
    }

    /// The `signature` field of an upload: the signature's hex (no 0x),
    /// RSA-OAEP (SHA-256) encrypted to this key, base64-encoded.
    pub fn encrypt_signature(&self, signature: &SignatureBytes) -> Result<String, PresignError> {
        use base64::Engine;
        let plain = hex::encode(signature.as_slice());
        let mut rng = rand::rngs::OsRng;
        let cipher = self
            .key
            .encrypt(&mut rng, Oaep::new::<sha2::Sha256>(), plain.as_bytes())
            .map_err(|e| PresignError::Encrypt { reason: e.to_string() })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(cipher))
    }
}

/// The exit message of an upload, with its numbers as strings, as
/// stader-node sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignMessage {
    /// The exit's epoch.
    pub epoch: String,
    /// The validator's index.
    pub validator_index: String,
}

/// One key's upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignUpload {
    /// The voluntary exit.
    pub message: PresignMessage,
    /// The encrypted signature ([`StaderRsaKey::encrypt_signature`]).
    pub signature: String,
    /// The key, hex without 0x.
    #[serde(rename = "validatorPublicKey")]
    pub validator_public_key: String,
}

/// The backend's answer for one key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadAnswer {
    /// Whether the message was taken.
    pub success: bool,
    /// Why not (stader-node's types name it `message`; its test backend
    /// `error`).
    #[serde(default, alias = "error")]
    pub message: String,
}

/// A key as stader-node writes it: hex, no 0x.
pub fn key_hex(k: &PublicKeyBytes) -> String {
    hex::encode(k.as_slice())
}

/// Reads a key the backend names (with or without 0x, any case).
fn parse_key(s: &str) -> Option<PublicKeyBytes> {
    let b = hex::decode(s.trim_start_matches("0x").trim_start_matches("0X")).ok()?;
    PublicKeyBytes::try_from(b.as_slice()).ok()
}

/// The backend's endpoints.
#[derive(Debug, Clone)]
pub struct PresignBackend {
    base: String,
    http: reqwest::Client,
}

impl PresignBackend {
    /// A client for the backend at `endpoint` (no trailing path).
    pub fn new(endpoint: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        PresignBackend { base: endpoint.trim_end_matches('/').to_string(), http }
    }

    async fn post<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Result<serde_json::Value, PresignError> {
        let url = format!("{}{path}", self.base);
        let http = |reason: String| PresignError::Http { url: url.clone(), reason };
        let resp = self.http.post(&url).json(body).send().await.map_err(|e| http(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| http(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(http(format!("HTTP {status}: {text}")));
        }
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(PresignError::Answer { url, reason: format!("{} bytes", bytes.len()) });
        }
        serde_json::from_slice(&bytes).map_err(|e| PresignError::Answer { url, reason: e.to_string() })
    }

    /// Which of `keys` the backend already holds a message for
    /// (`/presignsSubmitted`); keys it does not name are taken as not held.
    pub async fn submitted(&self, keys: &[PublicKeyBytes]) -> Result<HashMap<PublicKeyBytes, bool>, PresignError> {
        let body = serde_json::json!({ "pubKeys": keys.iter().map(key_hex).collect::<Vec<_>>() });
        let v = self.post("/presignsSubmitted", &body).await?;
        by_key(format!("{}/presignsSubmitted", self.base), v)
    }

    /// Uploads `batch` (`/presigns`); the backend's answer by key.
    pub async fn upload(&self, batch: &[PresignUpload]) -> Result<HashMap<PublicKeyBytes, UploadAnswer>, PresignError> {
        let v = self.post("/presigns", batch).await?;
        by_key(format!("{}/presigns", self.base), v)
    }
}

/// An answer keyed by public key (`{pubkey: T}`), read from `url`'s JSON.
fn by_key<T: serde::de::DeserializeOwned>(
    url: String,
    v: serde_json::Value,
) -> Result<HashMap<PublicKeyBytes, T>, PresignError> {
    let map: HashMap<String, T> =
        serde_json::from_value(v).map_err(|e| PresignError::Answer { url: url.clone(), reason: e.to_string() })?;
    let mut out = HashMap::with_capacity(map.len());
    for (k, t) in map {
        let key = parse_key(&k)
            .ok_or_else(|| PresignError::Answer { url: url.clone(), reason: format!("{k:?} is not a key") })?;
        out.insert(key, t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::RsaPrivateKey;

    fn keypair() -> (RsaPrivateKey, String) {
        let mut rng = rand::rngs::OsRng;
        let private = RsaPrivateKey::new(&mut rng, 3072).unwrap();
        let pem = private.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        (private, pem)
    }

    /// What Stader's backend does with the field (stader-node's own test
    /// backend, `stader/node/node_test.go` `presigns`): base64-decode,
    /// RSA-OAEP-SHA256 decrypt, read the hex as the signature.
    #[test]
    fn the_signature_decrypts_as_stader_s_backend_reads_it() {
        use base64::Engine;
        let (private, pem) = keypair();
        let key = StaderRsaKey::from_pem(&pem).unwrap();
        let sig = SignatureBytes::try_from([0xab; 96].as_slice()).unwrap();
        let field = key.encrypt_signature(&sig).unwrap();
        let cipher = base64::engine::general_purpose::STANDARD.decode(&field).unwrap();
        assert_eq!(cipher.len(), 384);
        let plain = private.decrypt(Oaep::new::<sha2::Sha256>(), &cipher).unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), "ab".repeat(96));
        // Encryption is randomised: the same signature twice differs.
        assert_ne!(field, key.encrypt_signature(&sig).unwrap());
    }

    #[test]
    fn public_keys_are_read_in_each_pem_form_and_bad_ones_named() {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let (private, spki) = keypair();
        let public = private.to_public_key();
        let pkcs1 = public.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        // stader-node's test backend: SubjectPublicKeyInfo labelled "RSA PUBLIC KEY".
        let relabelled = spki.replace("PUBLIC KEY", "RSA PUBLIC KEY");
        for pem in [&spki, &pkcs1, &relabelled] {
            StaderRsaKey::from_pem(pem).unwrap();
        }
        assert!(StaderRsaKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stader.pem");
        std::fs::write(&path, "not a key").unwrap();
        let e = StaderRsaKey::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("stader.pem") && e.contains("not an RSA public key"), "{e}");
        let small = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let pem = small.to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        assert!(StaderRsaKey::from_pem(&pem).unwrap_err().contains("2048 bits cannot hold"));
    }

    #[test]
    fn uploads_serialise_as_stader_node_s_request_type() {
        let u = PresignUpload {
            message: PresignMessage { epoch: "7".into(), validator_index: "42".into() },
            signature: "c2ln".into(),
            validator_public_key: "aa".repeat(48),
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"message": {"epoch": "7", "validator_index": "42"}, "signature": "c2ln",
                               "validatorPublicKey": "aa".repeat(48)})
        );
        let a: UploadAnswer = serde_json::from_value(serde_json::json!({"success": false, "error": "bad"})).unwrap();
        assert_eq!(a, UploadAnswer { success: false, message: "bad".into() });
        assert_eq!(
            parse_key(&format!("0x{}", "AB".repeat(48))),
            Some(PublicKeyBytes::try_from([0xab; 48].as_slice()).unwrap())
        );
        assert_eq!(parse_key("abcd"), None);
    }
}
