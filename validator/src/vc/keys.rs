//! Loads the validators of a data dir (Lighthouse's `validator_definitions.yml`):
//! keystores decrypted in parallel, each key checked against the entry's
//! `voting_public_key`, and its proposal settings resolved.
//!
//! One bad entry does not stop the others: each failure is returned with the
//! file or key it concerns, and the client starts with the keys that loaded
//! (nothing is ever signed for a key that did not).

use crate::policy::{self, KeySettings, ProposalConfig, ProposalDefaults};
use crate::validator_definitions::{SigningDefinition, ValidatorDefinitions};
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
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Keys that loaded, with their proposal configs.
    pub keys: Vec<(SecretKey, ProposalConfig)>,
    /// Entries that did not, each with its cause.
    pub failures: Vec<KeyLoadError>,
}

/// Decrypts every enabled local keystore in parallel. Only an unreadable
/// definitions file is an error as a whole.
pub fn load(datadir: &Path, defaults: &ProposalDefaults) -> Result<Loaded, KeyLoadError> {
    let defs = ValidatorDefinitions::open_or_empty(&datadir.join("validators"))?;
    let mut jobs = Vec::new();
    let mut meta = Vec::new();
    let mut out = Loaded::default();
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
        Err(e) => return Loaded { keys: Vec::new(), failures: vec![e.into()] },
    };
    let keys =
        range.into_par_iter().map(|i| (poolvc_signer::keys::interop::interop_secret_key(i), config.clone())).collect();
    Loaded { keys, failures: Vec::new() }
}
