//! `/eth/v1/remotekeys`: keys that sign at a Web3Signer, listed, imported
//! (a `web3signer` entry in `validator_definitions.yml`, then the store)
//! and deleted (out of the file first, then out of the store, waiting for
//! every signature on its way), under the keymanager's one edit lock.

use super::keystores::{blocking, DeleteStatus, ImportStatus};
use super::manager::{Keymanager, KeymanagerError};
use crate::datadir::definitions::{SigningDefinition, ValidatorDefinition, ValidatorDefinitions, DEFINITIONS_FILE};
use crate::datadir::keys::DEFAULT_REMOTE_TIMEOUT_MS;
use crate::policy::{self, KeySettings};
use crate::store::web3signer::RemoteTarget;
use poolvc_signer::types::{Preset, PublicKeyBytes};
use std::collections::HashSet;
use std::sync::Arc;

/// One remote key as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedRemoteKey {
    /// The key.
    pub pubkey: PublicKeyBytes,
    /// Its signer.
    pub url: String,
    /// Not in `validator_definitions.yml`: not deletable here.
    pub readonly: bool,
}

/// The URL parser's error (the `url` crate's, through reqwest).
type UrlParseError = <reqwest::Url as std::str::FromStr>::Err;

/// Why a signer URL is refused.
#[derive(Debug, thiserror::Error)]
enum UrlError {
    /// Not a URL.
    #[error("url {url:?}: {source}")]
    Parse {
        /// The URL.
        url: String,
        /// Why.
        source: UrlParseError,
    },
    /// A URL, but not an absolute http(s) one with a host.
    #[error("url {url:?}: not an http(s) URL with a host")]
    NotHttp {
        /// The URL.
        url: String,
    },
}

/// Checks a signer URL: absolute `http` or `https` with a host.
fn check_url(url: &str) -> Result<(), UrlError> {
    let u = reqwest::Url::parse(url).map_err(|source| UrlError::Parse { url: url.to_string(), source })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(UrlError::NotHttp { url: url.to_string() });
    }
    Ok(())
}

impl<P: Preset> Keymanager<P> {
    /// The keys held that sign remotely, with their signer.
    pub async fn list_remote(self: &Arc<Self>) -> Result<Vec<ListedRemoteKey>, KeymanagerError> {
        let this = Arc::clone(self);
        blocking(move || {
            let defs = ValidatorDefinitions::open_or_empty(&this.validators_dir)
                .map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
            let listed: HashSet<String> = defs.0.iter().map(|d| d.voting_public_key.to_ascii_lowercase()).collect();
            let mut out: Vec<ListedRemoteKey> = this
                .store
                .pubkeys()
                .into_iter()
                .filter_map(|pk| {
                    let target = this.store.remote_target_of(&pk)?;
                    Some(ListedRemoteKey {
                        pubkey: pk,
                        url: target.urls.first().cloned().unwrap_or_default(),
                        readonly: !listed.contains(&pk.to_string()),
                    })
                })
                .collect();
            out.sort_by_key(|k| k.pubkey);
            Ok(out)
        })
        .await
    }

    /// Imports remote keys `(pubkey, url)`; one status per key, in order.
    /// A key without a URL is an error (this client has no default signer).
    pub async fn import_remote(
        self: &Arc<Self>,
        keys: Vec<(PublicKeyBytes, Option<String>)>,
    ) -> Result<Vec<ImportStatus>, KeymanagerError> {
        let _edit = self.edit.lock().await;
        let this = Arc::clone(self);
        let (statuses, add) = blocking(move || {
            let mut defs = ValidatorDefinitions::open_or_empty(&this.validators_dir)
                .map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
            let mut statuses = Vec::with_capacity(keys.len());
            let mut add = Vec::new();
            let mut seen = HashSet::new();
            let mut new_defs = Vec::new();
            for (pk, url) in keys {
                let name = pk.to_string();
                let Some(url) = url else {
                    statuses.push(ImportStatus::Error { message: format!("{pk}: no url (no default signer is set)") });
                    continue;
                };
                if poolvc_signer::keys::PublicKey::from_bytes(pk.as_slice()).is_err() {
                    statuses.push(ImportStatus::Error { message: format!("{pk} is not a valid BLS public key") });
                    continue;
                }
                if let Err(e) = check_url(&url) {
                    statuses.push(ImportStatus::Error { message: e.to_string() });
                    continue;
                }
                if this.store.holds(&pk) || defs.contains(&name) || !seen.insert(pk) {
                    statuses.push(ImportStatus::Duplicate);
                    continue;
                }
                let config = match policy::resolve(&name, &KeySettings::default(), &this.defaults) {
                    Ok(c) => c,
                    Err(e) => {
                        statuses.push(ImportStatus::Error { message: e.to_string() });
                        continue;
                    }
                };
                new_defs.push(ValidatorDefinition {
                    enabled: true,
                    voting_public_key: name,
                    graffiti: None,
                    suggested_fee_recipient: None,
                    gas_limit: None,
                    builder_proposals: None,
                    description: "imported through the keymanager API".into(),
                    signing_definition: SigningDefinition::Web3Signer {
                        url: url.clone(),
                        fallback_urls: Vec::new(),
                        root_certificate_path: None,
                        request_timeout_ms: None,
                        client_identity_path: None,
                        client_identity_password: None,
                    },
                });
                let target = RemoteTarget {
                    urls: vec![url],
                    root_certificate_path: None,
                    request_timeout: std::time::Duration::from_millis(DEFAULT_REMOTE_TIMEOUT_MS),
                    client_identity: None,
                };
                add.push((statuses.len(), (pk, config, target)));
                statuses.push(ImportStatus::Imported);
            }
            if !new_defs.is_empty() {
                defs.0.extend(new_defs);
                if let Err(e) = defs.save(&this.validators_dir) {
                    let message = format!("{DEFINITIONS_FILE} not written: {e}");
                    for (pos, _) in &add {
                        statuses[*pos] = ImportStatus::Error { message: message.clone() };
                    }
                    add.clear();
                }
            }
            Ok((statuses, add))
        })
        .await?;
        if !add.is_empty() {
            let this = Arc::clone(self);
            let keys: Vec<_> = add.into_iter().map(|(_, k)| k).collect();
            let count = keys.len();
            blocking(move || {
                this.store
                    .add_remote_keys(keys, this.may_sign_new)
                    .map_err(|e| KeymanagerError::internal("adding the remote keys", e))
            })
            .await?;
            tracing::info!(keys = count, "keymanager API: remote keys imported");
        }
        Ok(statuses)
    }

    /// Deletes remote keys; one status per key, in order. Their slashing
    /// data stays in the database (the remote keys API returns none).
    pub async fn delete_remote(
        self: &Arc<Self>,
        pubkeys: Vec<PublicKeyBytes>,
    ) -> Result<Vec<DeleteStatus>, KeymanagerError> {
        let _edit = self.edit.lock().await;
        let remote: Vec<PublicKeyBytes> =
            pubkeys.iter().filter(|pk| self.store.remote_target_of(pk).is_some()).copied().collect();
        let this = Arc::clone(self);
        let want = remote.clone();
        let removed: HashSet<PublicKeyBytes> = blocking(move || {
            let mut defs = ValidatorDefinitions::open_or_empty(&this.validators_dir)
                .map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
            let names: HashSet<String> = want.iter().map(|pk| pk.to_string()).collect();
            let before = defs.0.len();
            let mut removed = HashSet::new();
            defs.0.retain(|d| {
                let hit = matches!(d.signing_definition, SigningDefinition::Web3Signer { .. })
                    && names.contains(&d.voting_public_key.to_ascii_lowercase());
                if hit {
                    if let Some(pk) = want.iter().find(|pk| pk.to_string() == d.voting_public_key.to_ascii_lowercase())
                    {
                        removed.insert(*pk);
                    }
                }
                !hit
            });
            if defs.0.len() != before {
                defs.save(&this.validators_dir).map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
            }
            Ok(removed)
        })
        .await?;
        let deletable: Vec<PublicKeyBytes> = remote.iter().filter(|pk| removed.contains(*pk)).copied().collect();
        let stopped: HashSet<PublicKeyBytes> = self.store.remove_keys_and_wait(&deletable).await.into_iter().collect();
        Ok(pubkeys
            .iter()
            .map(|pk| {
                if stopped.contains(pk) {
                    DeleteStatus::Deleted
                } else if remote.contains(pk) {
                    DeleteStatus::Error {
                        message: format!("{pk} is not in {DEFINITIONS_FILE}: it cannot be deleted here"),
                    }
                } else {
                    DeleteStatus::NotFound
                }
            })
            .collect())
    }
}
