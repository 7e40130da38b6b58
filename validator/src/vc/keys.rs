//! Loads the validators of a data dir (Lighthouse's `validator_definitions.yml`):
//! keystores decrypted in parallel, each key checked against the entry's
//! `voting_public_key`, and its proposal settings resolved.
//!
//! One bad entry does not stop the others: each failure is returned with the
//! file or key it concerns, and the client starts with the keys that loaded
//! (nothing is ever signed for a key that did not).

use crate::lighthouse::discover;
use crate::policy::{self, KeySettings, ProposalConfig, ProposalDefaults};
use crate::validator_definitions::{SigningDefinition, ValidatorDefinitions, DEFINITIONS_FILE};
use poolvc_signer::keys::keystore::{decrypt_many, DecryptJob};
use poolvc_signer::keys::SecretKey;
use poolvc_signer::types::PublicKeyBytes;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why one validator entry was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// The definitions file as a whole.
    #[error(transparent)]
    Definitions(#[from] crate::validator_definitions::DefinitionsError),
    /// A remote signer entry (not supported yet).
    #[error("validator {pubkey}: web3signer entries are not supported yet; remove or disable them")]
    Web3Signer {
        /// The entry's key.
        pubkey: String,
    },
    /// The password file could not be read.
    #[error("validator {pubkey}: password file {}: {source}", path.display())]
    Password {
        /// The entry's key.
        pubkey: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Neither a password nor a password file.
    #[error("validator {pubkey}: no voting_keystore_password or voting_keystore_password_path")]
    NoPassword {
        /// The entry's key.
        pubkey: String,
    },
    /// The keystore could not be read or decrypted (the error names the file).
    #[error("validator {pubkey}: {source}")]
    Keystore {
        /// The entry's key.
        pubkey: String,
        /// The cause.
        source: poolvc_signer::keys::keystore::KeystoreError,
    },
    /// The keystore holds another key than the entry says.
    #[error("{}: decrypts to {got}, but validator_definitions.yml names {expected}", path.display())]
    WrongKey {
        /// The keystore.
        path: PathBuf,
        /// `voting_public_key`.
        expected: String,
        /// The key it holds.
        got: PublicKeyBytes,
    },
    /// The same key under two entries.
    #[error("{}: key {pubkey} is already loaded from another entry", path.display())]
    Duplicate {
        /// The second keystore.
        path: PathBuf,
        /// The key.
        pubkey: PublicKeyBytes,
    },
    /// Bad proposal settings.
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    /// A keystore found in the validators dir but not added.
    #[error(transparent)]
    Discovery(#[from] discover::DiscoveryError),
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Keys that loaded, with their proposal configs.
    pub keys: Vec<(SecretKey, ProposalConfig)>,
    /// Entries that did not, each with its cause.
    pub failures: Vec<KeyLoadError>,
    /// What key discovery did, if it found anything.
    pub discovery_note: Option<String>,
}

/// Where the keys are.
#[derive(Debug, Clone)]
pub struct Source {
    /// Keystores and `validator_definitions.yml`.
    pub validators_dir: PathBuf,
    /// Password files named `0x<pubkey>`.
    pub secrets_dir: PathBuf,
    /// Add keystores the definitions lack (Lighthouse's discovery).
    pub auto_discover: bool,
}

impl Source {
    /// The layout under one data dir, with discovery.
    pub fn under(datadir: &Path) -> Self {
        Self { validators_dir: datadir.join("validators"), secrets_dir: datadir.join("secrets"), auto_discover: true }
    }
}

/// Decrypts every enabled local keystore in parallel, after discovering the
/// keystores the definitions lack. Only an unreadable definitions file is an
/// error as a whole.
pub fn load(source: &Source, defaults: &ProposalDefaults) -> Result<Loaded, KeyLoadError> {
    let mut defs = ValidatorDefinitions::open_or_empty(&source.validators_dir)?;
    let mut out = Loaded::default();
    if source.auto_discover {
        let writable = crate::lighthouse::layout::writable_dir(&source.validators_dir);
        let found = discover::discover(&source.validators_dir, &source.secrets_dir, &mut defs, writable);
        out.failures.extend(found.skipped.into_iter().map(KeyLoadError::from));
        if !found.added.is_empty() {
            let dir = source.validators_dir.display();
            out.discovery_note = Some(match (writable, found.not_saved) {
                (true, None) => {
                    format!("{dir}: {} keystores discovered and added to {DEFINITIONS_FILE}", found.added.len())
                }
                (true, Some(e)) => {
                    format!("{} keystores discovered; {DEFINITIONS_FILE} not written: {e}", found.added.len())
                }
                (false, _) => format!(
                    "{dir}: {} keystores discovered; the directory is read-only, so {DEFINITIONS_FILE} is not \
                     written (they are discovered again at each start)",
                    found.added.len()
                ),
            });
        }
    }
    let mut jobs = Vec::new();
    let mut meta = Vec::new();
    for d in defs.0.iter().filter(|d| d.enabled) {
        let pubkey = d.voting_public_key.clone();
        match &d.signing_definition {
            SigningDefinition::Web3Signer { .. } => out.failures.push(KeyLoadError::Web3Signer { pubkey }),
            SigningDefinition::LocalKeystore {
                voting_keystore_path,
                voting_keystore_password_path,
                voting_keystore_password,
            } => {
                let settings = KeySettings {
                    fee_recipient: d.suggested_fee_recipient.clone(),
                    gas_limit: d.gas_limit,
                    graffiti: d.graffiti.clone(),
                    builder_proposals: d.builder_proposals,
                };
                let config = match policy::resolve(&pubkey, &settings, defaults) {
                    Ok(c) => c,
                    Err(e) => {
                        out.failures.push(e.into());
                        continue;
                    }
                };
                let password = match (voting_keystore_password, voting_keystore_password_path) {
                    (Some(p), _) => Zeroizing::new(p.clone()),
                    (None, Some(pp)) => match std::fs::read_to_string(pp) {
                        Ok(p) => Zeroizing::new(p),
                        Err(source) => {
                            out.failures.push(KeyLoadError::Password { pubkey, path: pp.clone(), source });
                            continue;
                        }
                    },
                    (None, None) => {
                        out.failures.push(KeyLoadError::NoPassword { pubkey });
                        continue;
                    }
                };
                jobs.push(DecryptJob { keystore: voting_keystore_path.clone(), password });
                meta.push((pubkey, voting_keystore_path.clone(), config));
            }
        }
    }
    let pb = crate::progress::bar(jobs.len() as u64, "decrypting keystores");
    let results = decrypt_many(&jobs, || pb.inc(1));
    pb.finish_and_clear();
    let mut seen = std::collections::HashSet::new();
    for (r, (pubkey, path, config)) in results.into_iter().zip(meta) {
        match r {
            Ok((_, sk)) => {
                let got = sk.public_key().to_bytes();
                if !pubkey.eq_ignore_ascii_case(&got.to_string()) {
                    out.failures.push(KeyLoadError::WrongKey { path, expected: pubkey, got });
                } else if !seen.insert(got) {
                    out.failures.push(KeyLoadError::Duplicate { path, pubkey: got });
                } else {
                    out.keys.push((sk, config));
                }
            }
            Err(source) => out.failures.push(KeyLoadError::Keystore { pubkey, source }),
        }
    }
    Ok(out)
}

/// Development only: the interop keys of `range` (derived in parallel), each
/// with the default proposal settings.
pub fn interop(range: std::ops::RangeInclusive<u64>, defaults: &ProposalDefaults) -> Loaded {
    use rayon::prelude::*;
    let config = match policy::resolve("interop", &KeySettings::default(), defaults) {
        Ok(c) => c,
        Err(e) => return Loaded { keys: Vec::new(), failures: vec![e.into()], discovery_note: None },
    };
    let keys =
        range.into_par_iter().map(|i| (poolvc_signer::keys::interop::interop_secret_key(i), config.clone())).collect();
    Loaded { keys, failures: Vec::new(), discovery_note: None }
}
