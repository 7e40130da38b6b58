//! The remote signing method: a Web3Signer (or `poolvc signer`) over HTTP.
//!
//! Private to the store like the engine: only the gate sends requests, and
//! only for messages that passed its checks.
//!
//! - One [`Web3SignerClient`] per signer target (URL, TLS root, timeout),
//!   shared by every key that names it, with one pooled HTTP client
//!   (`--web3-signer-keep-alive-timeout`, `--web3-signer-max-idle-connections`).
//! - Requests in flight to one signer are bounded ([`Web3SignerOptions::max_in_flight`]):
//!   a slot's 10,000 attestations go as a few batch requests when the signer
//!   offers poolvc's batch route, or as single requests at most that many at
//!   a time otherwise, never as one unbounded burst.
//! - Whether the batch route exists is learnt once: a 404 or 405 there
//!   switches the client to the single route for good.
//! - Fallback URLs (`url` then poolvc's `fallback_urls`): a request that
//!   cannot reach one signer goes to the next, which is then preferred.
//!   Signers that share one PostgreSQL slashing database refuse anything
//!   slashable across all of them.

use crate::outcome::SignerFault;
use futures_util::future::join_all;
use poolvc_signer::types::{Preset, PublicKeyBytes, SignatureBytes};
use poolvc_signer::web3signer::{BatchAnswer, SigningRequest, SigningResponse, BATCH_PATH, SIGN_PATH};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Entries per batch request.
pub const BATCH_CHUNK: usize = 1024;

/// Client-wide settings (the `lighthouse vc` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Web3SignerOptions {
    /// `--web3-signer-keep-alive-timeout`: idle pooled connections close after it.
    pub keep_alive: Duration,
    /// `--web3-signer-max-idle-connections` (per signer host).
    pub max_idle_connections: usize,
    /// Requests in flight to one signer at a time.
    pub max_in_flight: usize,
    /// `--disable-slashing-protection-web3signer`: remote keys are checked by the signer only.
    pub disable_local_slashing: bool,
}

impl Default for Web3SignerOptions {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_millis(20_000),
            max_idle_connections: 8,
            max_in_flight: 32,
            disable_local_slashing: false,
        }
    }
}

/// Where a remote key signs: a `web3signer` entry of `validator_definitions.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTarget {
    /// The signer, then the ones to try when it cannot be reached.
    pub urls: Vec<String>,
    /// A PEM root certificate for the signer's TLS.
    pub root_certificate_path: Option<PathBuf>,
    /// Request timeout.
    pub request_timeout: Duration,
    /// A client certificate for mutual TLS (Lighthouse's `client_identity_path`).
    pub client_identity: Option<ClientIdentity>,
}

/// A PKCS#12 client certificate and its password. The password is never
/// printed and is wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The PKCS#12 file.
    pub path: PathBuf,
    /// Its password (empty when none).
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Why a client identity (PKCS#12) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file could not be read.
    #[error("client identity {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a PKCS#12 file the password opens.
    #[error("client identity {path}: not a PKCS#12 file this password opens ({reason})")]
    Open {
        /// The file.
        path: PathBuf,
        /// The PKCS#12 reader's reason.
        reason: String,
    },
    /// No private key with a certificate in it.
    #[error("client identity {path}: no private key with a certificate in it")]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// A key or certificate could not be written as PEM.
    #[error("client identity {path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: pem_rfc7468::Error,
    },
}

impl ClientIdentity {
    /// The file's first key and its certificate chain, as the PEM rustls
    /// takes. The PEM (which holds the private key) is wiped when dropped.
    fn to_pem(&self) -> Result<zeroize::Zeroizing<String>, IdentityError> {
        use pem_rfc7468::LineEnding;
        let path = || self.path.clone();
        let pem_err = |source| IdentityError::Pem { path: path(), source };
        let der = zeroize::Zeroizing::new(
            std::fs::read(&self.path).map_err(|source| IdentityError::Read { path: path(), source })?,
        );
        let (key, certs) = pkcs12_key_chain(&der, &self.password).map_err(|e| match e {
            Pkcs12Error::Open { reason } => IdentityError::Open { path: path(), reason },
            Pkcs12Error::NoKey => IdentityError::NoKey { path: path() },
        })?;
        let mut pem =
            zeroize::Zeroizing::new(pem_rfc7468::encode_string("PRIVATE KEY", LineEnding::LF, &key).map_err(pem_err)?);
        for c in &certs {
            pem.push_str(&pem_rfc7468::encode_string("CERTIFICATE", LineEnding::LF, c).map_err(pem_err)?);
        }
        Ok(pem)
    }
}

/// Why a PKCS#12 file gave no key.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs12Error {
    /// Not a PKCS#12 file the password opens.
    #[error("not a PKCS#12 file this password opens ({reason})")]
    Open {
        /// The reader's reason.
        reason: String,
    },
    /// No private key with a certificate in it.
    #[error("no private key with a certificate in it")]
    NoKey,
}

/// A private key (DER, wiped when dropped) and its certificate chain (DER).
pub type KeyChain = (zeroize::Zeroizing<Vec<u8>>, Vec<Vec<u8>>);

/// The first private key of a PKCS#12 file (`der`) and its certificate
/// chain, both DER; the key is wiped when dropped. Read with `p12-keystore`
/// (OpenSSL 3's PBES2/AES files included). The one reader of PKCS#12 for
/// the remote-signing client's identity and `poolvc signer`'s TLS keystore.
pub fn pkcs12_key_chain(der: &[u8], password: &str) -> Result<KeyChain, Pkcs12Error> {
    let store = p12_keystore::KeyStore::from_pkcs12(der, password, Default::default())
        .map_err(|e| Pkcs12Error::Open { reason: e.to_string() })?;
    let chain = store
        .entries()
        .find_map(|(_, e)| match e {
            p12_keystore::KeyStoreEntry::PrivateKeyChain(c) => Some(c),
            _ => None,
        })
        .ok_or(Pkcs12Error::NoKey)?;
    let certs: Vec<Vec<u8>> = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    if certs.is_empty() {
        return Err(Pkcs12Error::NoKey);
    }
    Ok((zeroize::Zeroizing::new(chain.key().as_der().to_vec()), certs))
}

/// Errors of remote signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The signer answered and refused.
    #[error("remote signer {url} answered {status}: {message}")]
    Refused {
        /// The signer.
        url: String,
        /// HTTP status (412: slashable).
        status: u16,
        /// Its reason.
        message: String,
    },
    /// No signer could be reached.
    #[error("remote signer unreachable: {reason}")]
    Transport {
        /// Why, per URL tried.
        reason: String,
    },
    /// The answer is not a signature.
    #[error("remote signer {url}: unreadable answer: {reason}")]
    BadAnswer {
        /// The signer.
        url: String,
        /// Why.
        reason: String,
    },
    /// The client could not be built.
    #[error("web3signer client for {url}: {reason}")]
    Setup {
        /// The signer.
        url: String,
        /// Why.
        reason: String,
    },
}

impl RemoteError {
    /// What kind of signer failure this is (a refusal is a server error
    /// here only when the status is 5xx; 4xx are refusals to the store).
    pub fn fault(&self) -> SignerFault {
        match self {
            Self::Refused { status, .. } => SignerFault::Status(*status),
            Self::Transport { .. } => SignerFault::Unreachable,
            Self::BadAnswer { .. } => SignerFault::BadAnswer,
            Self::Setup { .. } => SignerFault::Setup,
        }
    }
}

const BATCH_UNKNOWN: u8 = 0;
const BATCH_YES: u8 = 1;
const BATCH_NO: u8 = 2;

/// A signer target's pooled client.
#[derive(Debug)]
pub struct Web3SignerClient {
    target: RemoteTarget,
    http: reqwest::Client,
    preferred: AtomicUsize,
    batch: AtomicU8,
    permits: tokio::sync::Semaphore,
}

#[derive(Serialize)]
#[serde(bound = "P: Preset")]
struct BatchItemRef<'a, P: Preset> {
    identifier: &'a PublicKeyBytes,
    request: &'a SigningRequest<P>,
}

/// A signing request for one key, shared by the keys of a batch that sign
/// the same message.
pub type RemoteWork<P> = (PublicKeyBytes, Arc<SigningRequest<P>>);

impl Web3SignerClient {
    /// A client for `target`.
    pub fn new(target: RemoteTarget, opts: &Web3SignerOptions) -> Result<Self, RemoteError> {
        let first = target.urls.first().cloned().unwrap_or_default();
        let setup = |reason: String| RemoteError::Setup { url: first.clone(), reason };
        if target.urls.is_empty() {
            return Err(setup("no URL".into()));
        }
        let mut b = reqwest::Client::builder()
            .pool_idle_timeout(opts.keep_alive)
            .pool_max_idle_per_host(opts.max_idle_connections)
            .timeout(target.request_timeout)
            .connect_timeout(target.request_timeout.min(Duration::from_secs(5)));
        if let Some(p) = &target.root_certificate_path {
            let pem = std::fs::read(p).map_err(|e| setup(format!("{}: {e}", p.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| setup(format!("{}: {e}", p.display())))?;
            b = b.add_root_certificate(cert);
        }
        if let Some(id) = &target.client_identity {
            let pem = id.to_pem().map_err(|e| setup(e.to_string()))?;
            let identity = reqwest::Identity::from_pem(pem.as_bytes())
                .map_err(|e| setup(format!("client identity {}: {e}", id.path.display())))?;
            b = b.identity(identity);
        }
        let http = b.build().map_err(|e| setup(e.to_string()))?;
        Ok(Self {
            target,
            http,
            preferred: AtomicUsize::new(0),
            batch: AtomicU8::new(BATCH_UNKNOWN),
            permits: tokio::sync::Semaphore::new(opts.max_in_flight.max(1)),
        })
    }

    /// The same client that never tries the batch route (as against a
    /// Web3Signer, which has none): what `poolvc bench remote-signing`
    /// compares the batch route with.
    pub fn single_route_only(self) -> Self {
        self.batch.store(BATCH_NO, Ordering::Relaxed);
        self
    }

    /// The target it signs at.
    pub fn target(&self) -> &RemoteTarget {
        &self.target
    }

    /// Whether the signer is known to offer the batch route (`None`: not asked yet).
    pub fn offers_batch(&self) -> Option<bool> {
        match self.batch.load(Ordering::Relaxed) {
            BATCH_YES => Some(true),
            BATCH_NO => Some(false),
            _ => None,
        }
    }

    /// Sends `body` to `path` at the preferred URL, then the others in turn
    /// while none can be reached. Returns the URL that answered and its answer.
    async fn post(&self, path: &str, body: Vec<u8>, json: bool) -> Result<(String, u16, Vec<u8>), RemoteError> {
        let n = self.target.urls.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut tried = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let base = self.target.urls[i].trim_end_matches('/');
            let url = format!("{base}{path}");
            let mut req = self.http.post(&url).header("content-type", "application/json").body(body.clone());
            if json {
                req = req.header("accept", "application/json");
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Ok(b) => {
                            if k > 0 {
                                self.preferred.store(i, Ordering::Relaxed);
                            }
                            return Ok((base.to_string(), status, b.to_vec()));
                        }
                        Err(e) => tried.push(format!("{base}: {e}")),
                    }
                }
                Err(e) => tried.push(format!("{base}: {e}")),
            }
        }
        Err(RemoteError::Transport { reason: tried.join("; ") })
    }

    async fn sign_single<P: Preset>(
        &self,
        pubkey: &PublicKeyBytes,
        req: &SigningRequest<P>,
    ) -> Result<SignatureBytes, RemoteError> {
        let body =
            serde_json::to_vec(req).map_err(|e| RemoteError::Setup { url: String::new(), reason: e.to_string() })?;
        let _permit = self.permits.acquire().await.map_err(|e| RemoteError::Transport { reason: e.to_string() })?;
        let (url, status, bytes) = self.post(&format!("{SIGN_PATH}/{pubkey}"), body, true).await?;
        if status != 200 {
            let message = String::from_utf8_lossy(&bytes).chars().take(500).collect();
            return Err(RemoteError::Refused { url, status, message });
        }
        // JSON was asked for; a signer that answers text is accepted too.
        if let Ok(r) = serde_json::from_slice::<SigningResponse>(&bytes) {
            return Ok(r.signature);
        }
        let text = String::from_utf8_lossy(&bytes);
        text.trim().trim_matches('"').parse::<SignatureBytes>().map_err(|e| RemoteError::BadAnswer {
            url,
            reason: format!("{e}: {}", text.chars().take(200).collect::<String>()),
        })
    }

    /// One batch request; `Ok(None)`: the signer has no batch route.
    async fn sign_chunk<P: Preset>(
        &self,
        chunk: &[RemoteWork<P>],
    ) -> Result<Option<Vec<Result<SignatureBytes, RemoteError>>>, RemoteError> {
        let items: Vec<BatchItemRef<'_, P>> =
            chunk.iter().map(|(pk, r)| BatchItemRef { identifier: pk, request: r.as_ref() }).collect();
        let body =
            serde_json::to_vec(&items).map_err(|e| RemoteError::Setup { url: String::new(), reason: e.to_string() })?;
        let _permit = self.permits.acquire().await.map_err(|e| RemoteError::Transport { reason: e.to_string() })?;
        let (url, status, bytes) = self.post(BATCH_PATH, body, true).await?;
        if status == 404 || status == 405 {
            return Ok(None);
        }
        if status != 200 {
            let message: String = String::from_utf8_lossy(&bytes).chars().take(500).collect();
            return Err(RemoteError::Refused { url, status, message });
        }
        let answers: Vec<BatchAnswer> = serde_json::from_slice(&bytes)
            .map_err(|e| RemoteError::BadAnswer { url: url.clone(), reason: e.to_string() })?;
        if answers.len() != chunk.len() {
            return Err(RemoteError::BadAnswer {
                url,
                reason: format!("{} answers for {} requests", answers.len(), chunk.len()),
            });
        }
        Ok(Some(
            answers
                .into_iter()
                .map(|a| match a {
                    BatchAnswer::Signed { signature } => Ok(signature),
                    BatchAnswer::Refused { status, message } => {
                        Err(RemoteError::Refused { url: url.clone(), status, message })
                    }
                })
                .collect(),
        ))
    }

    /// Signs every `(key, request)`: one result per entry, in order.
    pub async fn sign<P: Preset>(&self, work: &[RemoteWork<P>]) -> Vec<Result<SignatureBytes, RemoteError>> {
        if work.len() > 1 && self.batch.load(Ordering::Relaxed) != BATCH_NO {
            let chunks: Vec<&[RemoteWork<P>]> = work.chunks(BATCH_CHUNK).collect();
            let answers = join_all(chunks.iter().map(|c| self.sign_chunk(c))).await;
            let mut out = Vec::with_capacity(work.len());
            for (chunk, a) in chunks.into_iter().zip(answers) {
                match a {
                    Ok(Some(v)) => {
                        self.batch.store(BATCH_YES, Ordering::Relaxed);
                        out.extend(v);
                    }
                    Ok(None) => {
                        self.batch.store(BATCH_NO, Ordering::Relaxed);
                        out.extend(join_all(chunk.iter().map(|(pk, r)| self.sign_single(pk, r))).await);
                    }
                    Err(e) => out.extend(chunk.iter().map(|_| Err(e.clone()))),
                }
            }
            return out;
        }
        join_all(work.iter().map(|(pk, r)| self.sign_single(pk, r))).await
    }
}
