//! How the client talks to its beacon nodes beyond the URLs: which
//! published messages go to every node at once (`--broadcast`), the
//! certificates trusted for https nodes (`--beacon-nodes-tls-certs`), the
//! sync distance under which a node counts as synced
//! (`--beacon-nodes-sync-tolerances`) and the long timeouts
//! (`--use-long-timeouts`, `--long-timeouts-multiplier`).

use std::path::PathBuf;

/// Groups of published messages (Lighthouse's `--broadcast` topics); each
/// publishing route names its own (`routes`, `produce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Attestations and aggregates.
    Attestations,
    /// Blocks (full and blinded).
    Blocks,
    /// Subnet subscriptions, proposer preparations, builder registrations.
    Subscriptions,
    /// Sync-committee messages and contributions.
    SyncCommittee,
}

/// Errors in the options.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// A certificate file.
    #[error("--beacon-nodes-tls-certs {}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No beacon node, or one that is not an http(s) URL.
    #[error("--beacon-nodes {given:?}: {reason}")]
    NodeUrl {
        /// The value.
        given: String,
        /// Why.
        reason: String,
    },
    /// The sync tolerances.
    #[error("--beacon-nodes-sync-tolerances {given:?}: {reason}")]
    Tolerances {
        /// The value.
        given: String,
        /// Why.
        reason: String,
    },
}

/// The options.
#[derive(Debug, Clone)]
pub struct BeaconOptions {
    /// Topics sent to every node at once.
    pub broadcast: Vec<Topic>,
    /// PEM certificates trusted besides the system's roots.
    pub tls_certs: Vec<PathBuf>,
    /// A node within this many slots of the head counts as synced.
    pub sync_tolerance: u64,
    /// `Some(m)`: requests time out after m slots instead of half a slot.
    pub long_timeouts: Option<u32>,
}

impl Default for BeaconOptions {
    /// Lighthouse's defaults: subscriptions to every node, 8 slots, short timeouts.
    fn default() -> Self {
        Self { broadcast: vec![Topic::Subscriptions], tls_certs: Vec::new(), sync_tolerance: 8, long_timeouts: None }
    }
}

/// Parses `SYNCED,SMALL,MEDIUM`; the first is the synced tolerance.
pub fn parse_tolerances(s: &str) -> Result<u64, OptionsError> {
    let bad = |reason: &str| OptionsError::Tolerances { given: s.to_string(), reason: reason.to_string() };
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        return Err(bad("three comma-separated numbers of slots are expected"));
    }
    let nums = parts.iter().map(|p| p.parse::<u64>()).collect::<Result<Vec<_>, _>>().map_err(|_| bad("not numbers"))?;
    Ok(nums[0])
}

/// Reads the certificates (PEM, one or more per file).
pub fn load_certificates(paths: &[PathBuf]) -> Result<Vec<reqwest::Certificate>, OptionsError> {
    let mut out = Vec::new();
    for path in paths {
        let err = |reason: String| OptionsError::Certificate { path: path.clone(), reason };
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(err("no certificate in the file".into()));
        }
        // The PEM parser takes any base64 as a certificate; the TLS library
        // parses it when a client is built.
        for c in &certs {
            reqwest::Client::builder()
                .add_root_certificate(c.clone())
                .build()
                .map_err(|e| err(format!("not a certificate: {e}")))?;
        }
        out.extend(certs);
    }
    Ok(out)
}

/// Checks the beacon node URLs: at least one, each an absolute `http` or
/// `https` URL with a host (an empty `--beacon-nodes` would otherwise be
/// asked forever as a relative URL).
pub fn check_node_urls(nodes: &[String]) -> Result<(), OptionsError> {
    let bad = |given: &str, reason: String| OptionsError::NodeUrl { given: given.to_string(), reason };
    if nodes.is_empty() {
        return Err(bad("", "no beacon node given".into()));
    }
    for n in nodes {
        if n.trim().is_empty() {
            return Err(bad(n, "an empty entry: no beacon node given".into()));
        }
        let url = reqwest::Url::parse(n.trim()).map_err(|e| bad(n, format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(n, format!("scheme {:?}: only http and https are spoken", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(n, "no host".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_and_certificates_are_checked() {
        assert_eq!(parse_tolerances("4,8,48").unwrap(), 4);
        assert!(parse_tolerances("4,8").unwrap_err().to_string().contains("three"));
        assert!(parse_tolerances("a,b,c").is_err());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bad.pem");
        std::fs::write(&p, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n").unwrap();
        let e = load_certificates(std::slice::from_ref(&p)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("--beacon-nodes-tls-certs {}:", p.display())), "{e}");
        std::fs::write(&p, "hello").unwrap();
        assert!(load_certificates(&[p]).is_err());
    }

    #[test]
    fn node_urls_are_checked_before_any_request() {
        let urls = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_node_urls(&urls(&["http://127.0.0.1:5052", "https://bn.example:443/"])).is_ok());
        for bad in [&[][..], &[""][..], &["localhost:5052"][..], &["ftp://a"][..], &["http://"][..], &["/eth/v1"][..]] {
            let e = check_node_urls(&urls(bad)).err();
            assert!(matches!(e, Some(OptionsError::NodeUrl { .. })), "{bad:?} was not refused: {e:?}");
        }
    }
}
