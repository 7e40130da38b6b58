//! Local keystores through the API: list, import (with the keys'
//! slashing-protection history), delete (returning it).

use super::manager::{Keymanager, KeymanagerError};
use crate::datadir::definitions::{
    SigningDefinition, ValidatorDefinition, ValidatorDefinitions, DEFINITIONS_FILE, VOTING_KEYSTORE_FILE,
};
use crate::policy::{self, KeySettings};
use poolvc_signer::keys::keystore::{write_secret_file, Keystore};
use poolvc_signer::keys::SecretKey;
use poolvc_signer::slashing::interchange::Interchange;
use poolvc_signer::types::{Preset, PublicKeyBytes};
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A key the client holds, as `GET /eth/v1/keystores` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedKey {
    /// The key.
    pub validating_pubkey: PublicKeyBytes,
    /// Its EIP-2334 path, when its keystore names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derivation_path: Option<String>,
    /// Not in `validator_definitions.yml` (interop keys): not deletable.
    pub readonly: bool,
}

/// One keystore's result of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ImportStatus {
    /// Decrypted, written, and signing (or watched by doppelganger protection).
    Imported,
    /// The client holds this key already.
    Duplicate,
    /// Not imported.
    Error {
        /// Why.
        message: String,
    },
}

/// One key's result of a deletion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeleteStatus {
    /// It was signing; it no longer is, and its files are gone.
    Deleted,
    /// Not signing here, but the slashing database knows it: its data is returned.
    NotActive,
    /// Neither held nor known to the slashing database.
    NotFound,
    /// Not deleted.
    Error {
        /// Why.
        message: String,
    },
}

/// What an import request carries (strings as the API sends them).
#[derive(Debug)]
pub struct ImportRequest {
    /// Keystore JSON texts.
    pub keystores: Vec<String>,
    /// `passwords[i]` opens `keystores[i]`.
    pub passwords: Vec<Zeroizing<String>>,
    /// An EIP-3076 interchange (JSON text), if sent.
    pub slashing_protection: Option<String>,
}

/// A keystore of the request, decrypted.
struct Opened {
    pos: usize,
    keystore: Keystore,
    secret: SecretKey,
    pubkey: PublicKeyBytes,
    password: Zeroizing<String>,
}

/// Files an import wrote, removed again if it cannot finish.
#[derive(Default)]
struct Written(Vec<PathBuf>);

impl Written {
    fn undo(&mut self) {
        for p in self.0.drain(..).rev() {
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
    }
}

impl<P: Preset> Keymanager<P> {
    /// Every key the client holds.
    pub async fn list(self: &Arc<Self>) -> Result<Vec<ListedKey>, KeymanagerError> {
        let this = Arc::clone(self);
        blocking(move || {
            let defs = ValidatorDefinitions::open_or_empty(&this.validators_dir)
                .map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
            let listed: HashSet<String> = defs.0.iter().map(|d| d.voting_public_key.to_ascii_lowercase()).collect();
            let mut out: Vec<ListedKey> = this
                .store
                .pubkeys()
                .into_iter()
                .filter(|pk| this.store.remote_target_of(pk).is_none())
                .map(|pk| ListedKey {
                    validating_pubkey: pk,
                    derivation_path: None,
                    readonly: !listed.contains(&pk.to_string()),
                })
                .collect();
            out.sort_by_key(|k| k.validating_pubkey);
            Ok(out)
        })
        .await
    }

    /// Imports keystores; one status per keystore, in order. A malformed
    /// request, or an interchange that is not for this network, imports
    /// nothing and is an error as a whole.
    pub async fn import(self: &Arc<Self>, req: ImportRequest) -> Result<Vec<ImportStatus>, KeymanagerError> {
        if req.keystores.len() != req.passwords.len() {
            return Err(KeymanagerError::BadRequest {
                reason: format!("{} keystores but {} passwords", req.keystores.len(), req.passwords.len()),
            });
        }
        let interchange = match &req.slashing_protection {
            Some(text) => Some(self.check_interchange(text)?),
            None => None,
        };
        let _edit = self.edit.lock().await;
        let this = Arc::clone(self);
        let (statuses, keys) = blocking(move || this.import_blocking(req, interchange)).await?;
        if !keys.is_empty() {
            let (this, count) = (Arc::clone(self), keys.len());
            let added = blocking(move || {
                this.store
                    .add_local_keys(keys, this.may_sign_new)
                    .map_err(|e| KeymanagerError::internal("adding the keys", e))
            })
            .await?;
            tracing::info!(
                keys = count,
                signing = self.may_sign_new,
                "keymanager API: keys imported{}",
                if self.may_sign_new { "" } else { "; doppelganger protection watches them before they sign" }
            );
            if added.len() != count {
                tracing::warn!(
                    imported = count,
                    added = added.len(),
                    "keymanager API: some imported keys were held already"
                );
            }
        }
        Ok(statuses)
    }

    /// The interchange of an import: well formed, for this network, and
    /// importable; else the whole request is refused.
    fn check_interchange(&self, text: &str) -> Result<Interchange, KeymanagerError> {
        let bad = |e: &dyn std::fmt::Display| KeymanagerError::BadRequest {
            reason: format!("slashing_protection: {e}; nothing imported"),
        };
        let i = Interchange::from_json_str("slashing_protection", text).map_err(|e| bad(&e))?;
        if i.metadata.genesis_validators_root != self.genesis_validators_root {
            return Err(KeymanagerError::BadRequest {
                reason: format!(
                    "slashing_protection is for another network (genesis_validators_root {}, this client's is {}); \
                     nothing imported",
                    i.metadata.genesis_validators_root, self.genesis_validators_root
                ),
            });
        }
        poolvc_signer::slashing::check_importable(&i, "slashing_protection").map_err(|e| bad(&e))?;
        Ok(i)
    }

    /// Decrypts, records the history, writes the files and the definitions;
    /// returns the statuses and the keys to add to the store.
    #[allow(clippy::type_complexity)]
    fn import_blocking(
        &self,
        req: ImportRequest,
        interchange: Option<Interchange>,
    ) -> Result<(Vec<ImportStatus>, Vec<(SecretKey, policy::ProposalConfig)>), KeymanagerError> {
        let mut statuses = vec![ImportStatus::Imported; req.keystores.len()];
        let mut defs = ValidatorDefinitions::open_or_empty(&self.validators_dir)
            .map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
        // Decrypted in parallel (each KDF is the cost).
        let opened: Vec<(usize, Result<Opened, OpenError>)> = req
            .keystores
            .par_iter()
            .zip(req.passwords.par_iter())
            .enumerate()
            .map(|(pos, (text, password))| (pos, open(pos, text, password)))
            .collect();
        let mut fresh: Vec<Opened> = Vec::new();
        let mut seen = HashSet::new();
        for (pos, o) in opened {
            match o {
                Err(e) => statuses[pos] = ImportStatus::Error { message: e.to_string() },
                Ok(o) if self.store.holds(&o.pubkey) || defs.contains(&o.pubkey.to_string()) => {
                    statuses[pos] = ImportStatus::Duplicate
                }
                Ok(o) if !seen.insert(o.pubkey) => statuses[pos] = ImportStatus::Duplicate,
                Ok(o) => fresh.push(o),
            }
        }
        if fresh.is_empty() {
            return Ok((statuses, Vec::new()));
        }
        let fail_all = |statuses: &mut Vec<ImportStatus>, fresh: &[Opened], message: String| {
            for o in fresh {
                statuses[o.pos] = ImportStatus::Error { message: message.clone() };
            }
        };
        // The history first: a key never signs before what it signed
        // elsewhere is in the database. Only the request's keys are taken.
        if let Some(mut i) = interchange {
            let ours: HashSet<PublicKeyBytes> = fresh.iter().map(|o| o.pubkey).collect();
            i.data.retain(|d| ours.contains(&d.pubkey));
            if !i.data.is_empty() {
                if let Err(e) = self.slashing.import_interchange(&i) {
                    fail_all(&mut statuses, &fresh, format!("slashing_protection not imported: {e}"));
                    return Ok((statuses, Vec::new()));
                }
            }
        }
        let mut written = Written::default();
        let mut new_defs = Vec::with_capacity(fresh.len());
        for o in &fresh {
            match self.write_key(o, &mut written) {
                Ok(d) => new_defs.push(d),
                Err(e) => {
                    written.undo();
                    fail_all(&mut statuses, &fresh, e.to_string());
                    return Ok((statuses, Vec::new()));
                }
            }
        }
        defs.0.extend(new_defs);
        if let Err(e) = defs.save(&self.validators_dir) {
            written.undo();
            fail_all(&mut statuses, &fresh, format!("{DEFINITIONS_FILE} not written: {e}"));
            return Ok((statuses, Vec::new()));
        }
        let mut keys = Vec::with_capacity(fresh.len());
        for o in fresh {
            let name = o.pubkey.to_string();
            match policy::resolve(&name, &KeySettings::default(), &self.defaults) {
                Ok(config) => keys.push((o.secret, config)),
                Err(e) => statuses[o.pos] = ImportStatus::Error { message: e.to_string() },
            }
        }
        Ok((statuses, keys))
    }

    /// Writes one key's keystore (and password file) in Lighthouse's layout;
    /// returns its definition.
    fn write_key(&self, o: &Opened, written: &mut Written) -> Result<ValidatorDefinition, WriteError> {
        let name = o.pubkey.to_string();
        let key_dir = self.validators_dir.join(&name);
        let io = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| WriteError::Io { path, source }
        };
        std::fs::create_dir_all(&self.validators_dir).map_err(io(&self.validators_dir))?;
        std::fs::create_dir(&key_dir).map_err(io(&key_dir))?;
        written.0.push(key_dir.clone());
        let ks_path = key_dir.join(VOTING_KEYSTORE_FILE);
        o.keystore.write_new(&ks_path)?;
        let (password_path, password) = if self.passwords_in_secrets_dir {
            std::fs::create_dir_all(&self.secrets_dir).map_err(io(&self.secrets_dir))?;
            let pw = self.secrets_dir.join(&name);
            write_secret_file(&pw, o.password.as_bytes()).map_err(io(&pw))?;
            written.0.push(pw.clone());
            (Some(pw), None)
        } else {
            (None, Some(o.password.to_string()))
        };
        Ok(ValidatorDefinition::new_local(
            name,
            o.keystore.description().unwrap_or_default().to_string(),
            ks_path,
            password_path,
            password,
        ))
    }

    /// Deletes keys; one status per key, in order, and the slashing data of
    /// the keys deleted or known to the database (an interchange, JSON).
    pub async fn delete(
        self: &Arc<Self>,
        pubkeys: Vec<PublicKeyBytes>,
    ) -> Result<(Vec<DeleteStatus>, String), KeymanagerError> {
        let _edit = self.edit.lock().await;
        // Remote keys are not keystores: `/eth/v1/remotekeys` deletes them.
        let remote: HashSet<PublicKeyBytes> =
            pubkeys.iter().filter(|pk| self.store.remote_target_of(pk).is_some()).copied().collect();
        // 1. Out of the definitions file, so no restart brings them back.
        let this = Arc::clone(self);
        let want: Vec<PublicKeyBytes> = pubkeys.iter().filter(|pk| !remote.contains(*pk)).copied().collect();
        let (removed_defs, readonly, in_use) = blocking(move || this.drop_definitions(&want)).await?;
        // 2. Out of the store, and every signature by them finished.
        let deletable: Vec<PublicKeyBytes> =
            pubkeys.iter().filter(|pk| !readonly.contains(*pk) && !remote.contains(*pk)).copied().collect();
        let stopped: HashSet<PublicKeyBytes> = self.store.remove_keys_and_wait(&deletable).await.into_iter().collect();
        // 3. Their history, then their files.
        let this = Arc::clone(self);
        blocking(move || {
            let exported = this
                .slashing
                .export_interchange(Some(&pubkeys))
                .map_err(|e| KeymanagerError::internal("exporting slashing protection data", e))?;
            let known: HashSet<PublicKeyBytes> = exported.data.iter().map(|d| d.pubkey).collect();
            let mut statuses = Vec::with_capacity(pubkeys.len());
            let mut returned = HashSet::new();
            for pk in &pubkeys {
                let status = if remote.contains(pk) {
                    DeleteStatus::NotFound
                } else if readonly.contains(pk) {
                    DeleteStatus::Error {
                        message: format!("{pk} is not in {DEFINITIONS_FILE} (an interop key): it cannot be deleted"),
                    }
                } else if stopped.contains(pk) {
                    DeleteStatus::Deleted
                } else if known.contains(pk) {
                    DeleteStatus::NotActive
                } else {
                    DeleteStatus::NotFound
                };
                if matches!(status, DeleteStatus::Deleted | DeleteStatus::NotActive) {
                    returned.insert(*pk);
                }
                statuses.push(status);
            }
            let mut exported = exported;
            exported.data.retain(|d| returned.contains(&d.pubkey));
            for d in &removed_defs {
                remove_files(d, &in_use);
            }
            // No copy of a deleted key stays in the key cache either.
            if let (Some(dir), false) = (&this.key_cache, stopped.is_empty()) {
                match poolvc_signer::keys::cache::KeyCache::open(dir) {
                    Ok(mut c) => {
                        let keep: HashSet<PublicKeyBytes> =
                            c.pubkeys().into_iter().filter(|pk| !stopped.contains(pk)).collect();
                        c.retain(&keep);
                        if let Err(e) = c.save() {
                            tracing::warn!("keymanager API: deleted keys not dropped from the key cache: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("keymanager API: deleted keys not dropped from the key cache: {e}"),
                }
            }
            Ok((statuses, exported.to_json_string()))
        })
        .await
    }

    /// Removes `pubkeys`' entries from the definitions file (saved whole);
    /// returns the removed entries, the keys held that have no entry, and
    /// the files the entries kept still name (never removed).
    fn drop_definitions(
        &self,
        pubkeys: &[PublicKeyBytes],
    ) -> Result<(Vec<ValidatorDefinition>, HashSet<PublicKeyBytes>, InUse), KeymanagerError> {
        let mut defs = ValidatorDefinitions::open_or_empty(&self.validators_dir)
            .map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
        let names: HashSet<String> = pubkeys.iter().map(|pk| pk.to_string()).collect();
        let (removed, kept): (Vec<_>, Vec<_>) =
            defs.0.drain(..).partition(|d| names.contains(&d.voting_public_key.to_ascii_lowercase()));
        let in_use = InUse::of(&kept);
        defs.0 = kept;
        let listed: HashSet<String> = removed.iter().map(|d| d.voting_public_key.to_ascii_lowercase()).collect();
        let readonly =
            pubkeys.iter().filter(|pk| self.store.holds(pk) && !listed.contains(&pk.to_string())).copied().collect();
        if !removed.is_empty() {
            defs.save(&self.validators_dir).map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
        }
        Ok((removed, readonly, in_use))
    }
}

/// Why a keystore of a request could not be opened.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    /// Not a keystore, or not one this password opens.
    #[error(transparent)]
    Keystore(#[from] poolvc_signer::keys::KeystoreError),
    /// Its `pubkey` field names another key than the one it holds.
    #[error("{label}: its pubkey field is not the key it holds ({pubkey})")]
    PubkeyMismatch {
        /// `keystores[i]`.
        label: String,
        /// The key it holds.
        pubkey: PublicKeyBytes,
    },
}

/// Why a key's files could not be written.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// A directory or file could not be made.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The keystore could not be written.
    #[error(transparent)]
    Keystore(#[from] poolvc_signer::keys::KeystoreError),
}

/// Opens keystore `pos` of a request.
fn open(pos: usize, text: &str, password: &Zeroizing<String>) -> Result<Opened, OpenError> {
    let label = format!("keystores[{pos}]");
    let keystore = Keystore::from_json_str(&label, text)?;
    let secret = keystore.decrypt(password)?;
    let pubkey = secret.public_key().to_bytes();
    if keystore.pubkey().is_some_and(|claimed| claimed != pubkey) {
        return Err(OpenError::PubkeyMismatch { label, pubkey });
    }
    Ok(Opened { pos, keystore, secret, pubkey, password: password.clone() })
}

/// The files the definitions that stay name (keystores and password
/// files), as written and as resolved: a deletion never removes one of
/// them (several keys may share one password file).
pub(super) struct InUse(HashSet<std::path::PathBuf>);

impl InUse {
    /// The files `kept` names.
    pub(super) fn of(kept: &[ValidatorDefinition]) -> Self {
        let mut files = HashSet::new();
        for d in kept {
            if let SigningDefinition::LocalKeystore { voting_keystore_path, voting_keystore_password_path, .. } =
                &d.signing_definition
            {
                for p in std::iter::once(voting_keystore_path).chain(voting_keystore_password_path) {
                    files.insert(p.clone());
                    if let Ok(c) = std::fs::canonicalize(p) {
                        files.insert(c);
                    }
                }
            }
        }
        Self(files)
    }

    /// Whether `path` is one of them.
    fn holds(&self, path: &std::path::Path) -> bool {
        self.0.contains(path) || std::fs::canonicalize(path).is_ok_and(|c| self.0.contains(&c))
    }
}

/// Removes a deleted key's keystore directory (when it is the standard
/// `validators/0x<key>/` one) and its password file, unless a key that
/// stays uses the file.
fn remove_files(d: &ValidatorDefinition, in_use: &InUse) {
    if let SigningDefinition::LocalKeystore { voting_keystore_path, voting_keystore_password_path, .. } =
        &d.signing_definition
    {
        if !in_use.holds(voting_keystore_path) {
            let _ = std::fs::remove_file(voting_keystore_path);
            if let Some(dir) = voting_keystore_path.parent() {
                if dir.file_name().is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(&d.voting_public_key)) {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
        if let Some(p) = voting_keystore_password_path.as_ref().filter(|p| !in_use.holds(p)) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs `f` on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeymanagerError> + Send + 'static,
) -> Result<T, KeymanagerError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| KeymanagerError::internal("keymanager task", e))?
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_keeps_the_files_the_remaining_keys_use() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("password.txt");
        std::fs::write(&shared, "secret").unwrap();
        let entry = |n: u8| {
            let pk = format!("0x{}", format!("{n:02x}").repeat(48));
            let kdir = dir.path().join(&pk);
            std::fs::create_dir_all(&kdir).unwrap();
            let ks = kdir.join("voting-keystore.json");
            std::fs::write(&ks, "{}").unwrap();
            (ValidatorDefinition::new_local(pk, String::new(), ks.clone(), Some(shared.clone()), None), ks)
        };
        let ((gone, gone_ks), (kept, kept_ks)) = (entry(1), entry(2));
        // The kept entry names the shared password file by another spelling.
        let mut kept = kept;
        if let SigningDefinition::LocalKeystore { voting_keystore_password_path, .. } = &mut kept.signing_definition {
            *voting_keystore_password_path = Some(dir.path().join(".").join("password.txt"));
        }
        remove_files(&gone, &InUse::of(std::slice::from_ref(&kept)));
        assert!(!gone_ks.exists(), "the deleted key's keystore is removed");
        assert!(!gone_ks.parent().unwrap().exists(), "and its own directory");
        assert!(shared.exists(), "the password file another key uses stays");
        assert!(kept_ks.exists());
        // The last key using it: removed with it.
        remove_files(&kept, &InUse::of(&[]));
        assert!(!shared.exists() && !kept_ks.exists());
    }
}
