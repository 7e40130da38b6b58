//! What `poolvc signer` lets through before the gate: who may connect
//! (TLS with client authentication, or loopback), which `Host` names it
//! answers (DNS rebinding), and which message kinds each key signs over the
//! network.
//!
//! The rules, kept here:
//! - a non-loopback listen address needs TLS and client authentication;
//!   without them the signer does not start, unless
//!   `--unencrypted-http-transport` says the operator accepts that anyone
//!   who can reach the address signs with every key;
//! - a request whose `Host` is not on `--http-host-allowlist` gets 403
//!   (default: the loopback names; `*` allows any);
//! - with `--allowed-kinds-file`, a key signs only the kinds listed for it
//!   (or under `default`); an exit or a registration can be kept off the
//!   network that way.

use super::tls::TlsOptions;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use poolvc_signer::types::PublicKeyBytes;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The Web3Signer message types a kinds list may name.
pub const KINDS: [&str; 11] = [
    "AGGREGATION_SLOT",
    "AGGREGATE_AND_PROOF",
    "AGGREGATE_AND_PROOF_V2",
    "ATTESTATION",
    "BLOCK_V2",
    "RANDAO_REVEAL",
    "VOLUNTARY_EXIT",
    "SYNC_COMMITTEE_MESSAGE",
    "SYNC_COMMITTEE_SELECTION_PROOF",
    "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF",
    "VALIDATOR_REGISTRATION",
];

/// Errors of the exposure settings.
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    /// A non-loopback address without TLS and client authentication.
    #[error(
        "refusing to listen on {addr} {missing}: anyone who can reach it could sign exits and registrations with \
         every key. Give --tls-cert-file/--tls-key-file (or --tls-keystore-file) with --tls-known-clients-file or \
         --tls-ca-file; or listen on 127.0.0.1; or pass --unencrypted-http-transport to accept the risk"
    )]
    Exposed {
        /// The address.
        addr: SocketAddr,
        /// What is missing.
        missing: &'static str,
    },
    /// The kinds file could not be read.
    #[error("{}: {reason}", path.display())]
    KindsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Refuses a listen address that exposes the keys (see the module's rules).
pub fn check_listen(
    addr: SocketAddr,
    tls: Option<&TlsOptions>,
    unencrypted_http_transport: bool,
) -> Result<(), ExposureError> {
    if addr.ip().is_loopback() || unencrypted_http_transport {
        return Ok(());
    }
    match tls {
        None => Err(ExposureError::Exposed { addr, missing: "without TLS and client authentication" }),
        Some(t) if !t.authenticates_clients() => {
            Err(ExposureError::Exposed { addr, missing: "with TLS but without client authentication" })
        }
        Some(_) => Ok(()),
    }
}

/// The `Host` names the signer answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAllowlist {
    any: bool,
    names: HashSet<String>,
}

impl HostAllowlist {
    /// From `--http-host-allowlist` entries (`*`: any host).
    pub fn new(entries: &[String]) -> Self {
        let names: HashSet<String> = entries.iter().map(|e| e.trim().to_ascii_lowercase()).collect();
        Self { any: names.contains("*"), names }
    }

    /// The default: the loopback names.
    pub fn loopback() -> Self {
        Self::new(&["localhost".into(), "127.0.0.1".into(), "::1".into()])
    }

    /// Whether a request with `Host: host` is answered.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        // `name:port`, `[v6]:port`, `name`, `[v6]`.
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host.as_str(), |(n, _)| n),
        };
        self.names.contains(name)
    }
}

/// Middleware: 403 for a `Host` not on the allow-list.
pub async fn check_host(State(allow): State<Arc<HostAllowlist>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string);
    let host = host.or_else(|| req.uri().authority().map(|a| a.to_string()));
    match host {
        Some(h) if allow.allows(&h) => next.run(req).await,
        other => (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("host {:?} is not on this signer's --http-host-allowlist", other.unwrap_or_default()),
        )
            .into_response(),
    }
}

/// Which message kinds each key signs (`--allowed-kinds-file`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindsPolicy {
    /// Per key.
    per_key: HashMap<PublicKeyBytes, HashSet<String>>,
    /// For keys not listed; `None`: every kind.
    default: Option<HashSet<String>>,
}

impl KindsPolicy {
    /// Every kind for every key.
    pub fn any() -> Self {
        Self::default()
    }

    /// Reads a YAML map from `default` or a key (`0x...`) to a list of
    /// Web3Signer types (`ATTESTATION`, `BLOCK_V2`, ...).
    pub fn read(path: &Path) -> Result<Self, ExposureError> {
        let err = |reason: String| ExposureError::KindsFile { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let raw: HashMap<String, Vec<String>> =
            serde_yaml::from_str(text).map_err(|e| format!("not a map of key -> list of kinds: {e}"))?;
        let mut policy = Self::default();
        for (who, kinds) in raw {
            let mut set = HashSet::new();
            for k in kinds {
                let k = k.trim().to_ascii_uppercase();
                if !KINDS.contains(&k.as_str()) {
                    return Err(format!("{who}: {k:?} is not a message type (one of {})", KINDS.join(", ")));
                }
                set.insert(k);
            }
            if who == "default" {
                policy.default = Some(set);
            } else {
                let mut b = [0u8; 48];
                hex::decode_to_slice(who.strip_prefix("0x").unwrap_or(&who), &mut b)
                    .map_err(|_| format!("{who:?} is neither `default` nor a 0x-hex public key"))?;
                policy.per_key.insert(PublicKeyBytes::from(b), set);
            }
        }
        Ok(policy)
    }

    /// Whether `pubkey` may sign a message of type `kind`.
    pub fn allows(&self, pubkey: &PublicKeyBytes, kind: &str) -> bool {
        match self.per_key.get(pubkey).or(self.default.as_ref()) {
            Some(set) => set.contains(kind),
            None => true,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::remote_signer::tls::ServerIdentity;

    #[test]
    fn a_public_address_needs_tls_and_client_authentication() {
        let public: SocketAddr = "0.0.0.0:9500".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9500".parse().unwrap();
        let mut tls = TlsOptions {
            identity: ServerIdentity::Pem { cert: "c".into(), key: "k".into() },
            known_clients: None,
            client_ca: None,
        };
        assert!(check_listen(local, None, false).is_ok());
        let e = check_listen(public, None, false).unwrap_err().to_string();
        assert!(e.contains("--unencrypted-http-transport") && e.contains("0.0.0.0:9500"), "{e}");
        assert!(check_listen(public, Some(&tls), false).unwrap_err().to_string().contains("client authentication"));
        tls.known_clients = Some("known".into());
        assert!(check_listen(public, Some(&tls), false).is_ok());
        assert!(check_listen(public, None, true).is_ok());
    }

    #[test]
    fn hosts_are_matched_without_their_port() {
        let a = HostAllowlist::loopback();
        for ok in ["localhost", "127.0.0.1:9500", "[::1]:9500", "LOCALHOST:1"] {
            assert!(a.allows(ok), "{ok}");
        }
        for no in ["evil.example", "evil.example:9500", "10.0.0.1"] {
            assert!(!a.allows(no), "{no}");
        }
        assert!(HostAllowlist::new(&["*".into()]).allows("anything:1"));
    }

    #[test]
    fn kinds_per_key_then_default_then_all() {
        let pk = format!("0x{}", "aa".repeat(48));
        let p =
            KindsPolicy::parse(&format!("default: [ATTESTATION, BLOCK_V2]\n\"{pk}\": [ATTESTATION, VOLUNTARY_EXIT]\n"))
                .unwrap();
        let key = PublicKeyBytes::from([0xaa; 48]);
        let other = PublicKeyBytes::from([0xbb; 48]);
        assert!(p.allows(&key, "VOLUNTARY_EXIT") && !p.allows(&key, "BLOCK_V2"));
        assert!(p.allows(&other, "BLOCK_V2") && !p.allows(&other, "VOLUNTARY_EXIT"));
        assert!(KindsPolicy::any().allows(&other, "VALIDATOR_REGISTRATION"));
        let e = KindsPolicy::parse("default: [EXIT]\n").unwrap_err();
        assert!(e.contains("EXIT"), "{e}");
    }
}
