//! TLS for `poolvc signer`: the server's identity (a PEM certificate and
//! key, or a PKCS#12 keystore as Web3Signer takes), client authentication
//! (known clients by the SHA-256 fingerprint of their certificate, as
//! Web3Signer's `--tls-known-clients-file`, and/or certificates a CA
//! issued), and a listener for axum that completes each handshake on a task
//! of its own, so a client that stalls its handshake stalls no one else.
//!
//! Invariant: with client authentication configured, no request reaches
//! the routes over a connection whose client did not present an allowed
//! certificate (the handshake fails first).

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes waiting for the server to take them.
const ACCEPT_QUEUE: usize = 64;

/// The server's certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerIdentity {
    /// A PEM certificate chain and a PEM private key.
    Pem {
        /// `--tls-cert-file`.
        cert: PathBuf,
        /// `--tls-key-file`.
        key: PathBuf,
    },
    /// A PKCS#12 keystore and the file holding its password.
    Pkcs12 {
        /// `--tls-keystore-file`.
        file: PathBuf,
        /// `--tls-keystore-password-file`.
        password_file: PathBuf,
    },
}

/// TLS settings of `poolvc signer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// The server's identity.
    pub identity: ServerIdentity,
    /// `--tls-known-clients-file`: clients allowed by certificate
    /// fingerprint.
    pub known_clients: Option<PathBuf>,
    /// `--tls-ca-file`: clients allowed when a CA in this PEM file issued
    /// their certificate (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl TlsOptions {
    /// Whether clients must present an allowed certificate.
    pub fn authenticates_clients(&self) -> bool {
        self.known_clients.is_some() || self.client_ca.is_some()
    }
}

/// Errors setting TLS up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file holds nothing usable.
    #[error("{}: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The PKCS#12 keystore could not be opened.
    #[error("{}: {reason}", path.display())]
    Keystore {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A known-clients line is not `<name> <sha256 fingerprint>`.
    #[error("{}, line {line}: {reason}", path.display())]
    KnownClients {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {reason}")]
    Config {
        /// Why.
        reason: String,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

/// The certificate chain and key of `identity`.
fn load_identity(
    identity: &ServerIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    match identity {
        ServerIdentity::Pem { cert, key } => {
            let pem_err = |path: &Path, reason: String| TlsError::Pem { path: path.to_path_buf(), reason };
            let cert_bytes = read(cert)?;
            let certs = CertificateDer::pem_slice_iter(&cert_bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_err(cert, e.to_string()))?;
            if certs.is_empty() {
                return Err(pem_err(cert, "no CERTIFICATE in it".into()));
            }
            let key_bytes = zeroize::Zeroizing::new(read(key)?);
            let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| pem_err(key, e.to_string()))?;
            Ok((certs, key_der))
        }
        ServerIdentity::Pkcs12 { file, password_file } => {
            let err = |reason: String| TlsError::Keystore { path: file.clone(), reason };
            let password = zeroize::Zeroizing::new(String::from_utf8(read(password_file)?).map_err(|_| {
                TlsError::Pem { path: password_file.clone(), reason: "the password file is not UTF-8".into() }
            })?);
            let password = password.trim_end_matches(['\n', '\r']);
            let der = zeroize::Zeroizing::new(read(file)?);
            let (key, chain) =
                crate::store::web3signer::pkcs12_key_chain(&der, password).map_err(|e| err(e.to_string()))?;
            let certs: Vec<CertificateDer<'static>> = chain.into_iter().map(CertificateDer::from).collect();
            let key = PrivateKeyDer::try_from(key.to_vec()).map_err(|e| err(e.to_string()))?;
            Ok((certs, key))
        }
    }
}

/// A certificate's SHA-256 fingerprint.
pub fn fingerprint(cert: &[u8]) -> [u8; 32] {
    Sha256::digest(cert).into()
}

/// Reads a known-clients file: one client per line, `<name> <fingerprint>`
/// (the fingerprint as 64 hex digits, colons allowed: `DF:65:...`); blank
/// lines and `#` comments skipped.
pub fn read_known_clients(path: &Path) -> Result<HashSet<[u8; 32]>, TlsError> {
    let text = String::from_utf8(read(path)?).map_err(|_| TlsError::KnownClients {
        path: path.to_path_buf(),
        line: 0,
        reason: "not UTF-8".into(),
    })?;
    let mut out = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| TlsError::KnownClients { path: path.to_path_buf(), line: n + 1, reason };
        let mut words = line.split_whitespace();
        let (Some(_name), Some(fp), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad(format!("{line:?} is not `<name> <sha256 fingerprint>`")));
        };
        let digits: String = fp.chars().filter(|c| *c != ':').collect();
        let mut f = [0u8; 32];
        hex::decode_to_slice(&digits, &mut f)
            .map_err(|_| bad(format!("{fp:?} is not a SHA-256 fingerprint (32 bytes of hex)")))?;
        out.insert(f);
    }
    if out.is_empty() {
        return Err(TlsError::KnownClients { path: path.to_path_buf(), line: 0, reason: "no client in it".into() });
    }
    Ok(out)
}

/// Allows a client whose certificate's fingerprint is known, or (if set)
/// one a trusted CA issued; refuses every other.
#[derive(Debug)]
struct AllowedClients {
    fingerprints: HashSet<[u8; 32]>,
    ca: Option<Arc<dyn ClientCertVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AllowedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.as_ref().map_or(&[], |c| c.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.fingerprints.contains(&fingerprint(end_entity)) {
            return Ok(ClientCertVerified::assertion());
        }
        match &self.ca {
            Some(ca) => ca.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls server configuration of `opts`.
pub fn server_config(opts: &TlsOptions) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config_err = |e: rustls::Error| TlsError::Config { reason: e.to_string() };
    let (certs, key) = load_identity(&opts.identity)?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(config_err)?;
    let builder = if opts.authenticates_clients() {
        let fingerprints = match &opts.known_clients {
            Some(p) => read_known_clients(p)?,
            None => HashSet::new(),
        };
        let ca = match &opts.client_ca {
            Some(path) => {
                let bytes = read(path)?;
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(&bytes) {
                    let c = c.map_err(|e| TlsError::Pem { path: path.clone(), reason: e.to_string() })?;
                    roots.add(c).map_err(config_err)?;
                }
                if roots.is_empty() {
                    return Err(TlsError::Pem { path: path.clone(), reason: "no CERTIFICATE in it".into() });
                }
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| TlsError::Config { reason: e.to_string() })?;
                Some(v)
            }
            None => None,
        };
        builder.with_client_cert_verifier(Arc::new(AllowedClients { fingerprints, ca, provider }))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).map_err(config_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS listener for `axum::serve`: accepts TCP connections and completes
/// each handshake on its own task (within [`HANDSHAKE_TIMEOUT`]); only
/// finished handshakes reach the server.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS on `tcp` with `config`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, rx) = tokio::sync::mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("signer: accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::warn!(%peer, "signer: TLS handshake refused: {e}"),
                        Err(_) => tracing::warn!(%peer, "signer: TLS handshake not finished in time"),
                    }
                });
            }
        });
        Ok(Self { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task ended (it never does while the listener
            // lives): wait for the shutdown signal.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn known_clients_are_read_with_or_without_colons_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("known");
        let colons: Vec<String> = (0..32).map(|i| format!("{:02X}", i)).collect();
        std::fs::write(&p, format!("# clients\nlighthouse {}\n\nlodestar {}\n", colons.join(":"), "ab".repeat(32)))
            .unwrap();
        let got = read_known_clients(&p).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.contains(&core::array::from_fn(|i| i as u8)));
        std::fs::write(&p, "lighthouse\n").unwrap();
        let e = read_known_clients(&p).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        std::fs::write(&p, "x zz\n").unwrap();
        assert!(read_known_clients(&p).unwrap_err().to_string().contains("fingerprint"));
    }
}
