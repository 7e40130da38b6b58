//! Key discovery as Lighthouse does it: keystores in the validators dir that
//! `validator_definitions.yml` does not list are added to it, each with its
//! password file `{secrets_dir}/0x<pubkey>`. Both Lighthouse's layout
//! (`validators/0x<pubkey>/voting-keystore.json`) and `eth2-val-tools`'
//! (`keys/0x<pubkey>/voting-keystore.json` beside `secrets/0x<pubkey>`) are
//! this shape; `keystore-m_12381_3600_*.json` files (the deposit CLI's
//! names) are found too.
//!
//! A keystore whose password file is missing is not added: it is reported
//! with both paths, and the other keys go on. The file is written atomically
//! unless the validators dir cannot be written, which is said once, and the
//! found keys are used for this run all the same.

use crate::datadir::definitions::{
    DefinitionsError, SigningDefinition, ValidatorDefinition, ValidatorDefinitions, VOTING_KEYSTORE_FILE,
};
use poolvc_signer::keys::keystore::Keystore;
use std::path::{Path, PathBuf};

/// A keystore found but not added.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// No password file for it.
    #[error("{}: no password file {} (the key is not loaded)", keystore.display(), password.display())]
    NoPassword {
        /// The keystore.
        keystore: PathBuf,
        /// Where its password was looked for.
        password: PathBuf,
    },
    /// The keystore could not be read.
    #[error("{}: {reason} (the key is not loaded)", keystore.display())]
    Unreadable {
        /// The keystore.
        keystore: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What discovery did.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Public keys added to the definitions.
    pub added: Vec<String>,
    /// Keystores not added, each with why.
    pub skipped: Vec<DiscoveryError>,
    /// Why the definitions file was not written (read-only validators dir).
    pub not_saved: Option<DefinitionsError>,
}

fn is_keystore_name(name: &str) -> bool {
    name == VOTING_KEYSTORE_FILE || (name.starts_with("keystore-m_12381_3600_") && name.ends_with(".json"))
}

/// Keystore files directly in `dir` or one directory down (sorted).
fn keystore_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if let Ok(inner) = std::fs::read_dir(&path) {
                for f in inner.flatten() {
                    if is_keystore_name(&f.file_name().to_string_lossy()) && f.path().is_file() {
                        out.push(f.path());
                    }
                }
            }
        } else if is_keystore_name(&name) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Adds the keystores of `validators_dir` that `defs` lacks, and writes the
/// file unless `save` is false or the directory cannot be written.
pub fn discover(validators_dir: &Path, secrets_dir: &Path, defs: &mut ValidatorDefinitions, save: bool) -> Discovered {
    let mut out = Discovered::default();
    // A keystore an entry already names is never added again, even if the
    // entry names another key (as Lighthouse: the entry's error stands).
    let referenced: std::collections::HashSet<PathBuf> = defs
        .0
        .iter()
        .filter_map(|d| match &d.signing_definition {
            SigningDefinition::LocalKeystore { voting_keystore_path, .. } => {
                Some(std::fs::canonicalize(voting_keystore_path).unwrap_or_else(|_| voting_keystore_path.clone()))
            }
            SigningDefinition::Web3Signer { .. } => None,
        })
        .collect();
    for keystore in keystore_files(validators_dir) {
        if referenced.contains(&std::fs::canonicalize(&keystore).unwrap_or_else(|_| keystore.clone())) {
            continue;
        }
        let ks = match Keystore::from_file(&keystore) {
            Ok(k) => k,
            Err(e) => {
                out.skipped.push(DiscoveryError::Unreadable { keystore, reason: e.to_string() });
                continue;
            }
        };
        let Some(pubkey) = ks.pubkey() else {
            out.skipped.push(DiscoveryError::Unreadable { keystore, reason: "the keystore has no pubkey".into() });
            continue;
        };
        let pubkey = format!("0x{}", hex::encode(pubkey));
        if defs.contains(&pubkey) {
            continue;
        }
        let password = secrets_dir.join(&pubkey);
        if !password.is_file() {
            out.skipped.push(DiscoveryError::NoPassword { keystore, password });
            continue;
        }
        defs.0.push(ValidatorDefinition {
            enabled: true,
            voting_public_key: pubkey.clone(),
            graffiti: None,
            suggested_fee_recipient: None,
            gas_limit: None,
            builder_proposals: None,
            description: String::new(),
            signing_definition: SigningDefinition::LocalKeystore {
                voting_keystore_path: keystore,
                voting_keystore_password_path: Some(password),
                voting_keystore_password: None,
            },
        });
        out.added.push(pubkey);
    }
    if save && !out.added.is_empty() {
        if let Err(e) = defs.save(validators_dir) {
            out.not_saved = Some(e);
        }
    }
    out
}
