//! Loads the validators of a data dir (Lighthouse's `validator_definitions.yml`)
//! into the signing engine's key set.

use crate::validator_definitions::{SigningDefinition, ValidatorDefinitions};
use poolvc_signer::batch::{KeyHandle, KeySet};
use poolvc_signer::keys::keystore::{decrypt_many, DecryptJob};
use poolvc_signer::types::PublicKeyBytes;
use std::path::Path;
use zeroize::Zeroizing;

/// One validator the client signs for.
#[derive(Debug, Clone)]
pub struct LocalValidator {
    /// Public key.
    pub pubkey: PublicKeyBytes,
    /// Handle in the engine.
    pub handle: KeyHandle,
    /// Per-validator graffiti from the definitions file.
    pub graffiti: Option<String>,
    /// Per-validator fee recipient from the definitions file.
    pub fee_recipient: Option<String>,
    /// Per-validator gas limit for builder registrations.
    pub gas_limit: Option<u64>,
    /// Per-validator builder-proposals switch.
    pub builder_proposals: Option<bool>,
}

/// Errors loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// The definitions file.
    #[error(transparent)]
    Definitions(#[from] crate::validator_definitions::DefinitionsError),
    /// A remote signer entry (not supported yet).
    #[error("validator {0}: web3signer entries are not supported yet; remove or disable them")]
    Web3Signer(String),
    /// Keystores that failed.
    #[error("{0}")]
    Keystores(String),
}

/// Decrypts every enabled local keystore in parallel.
pub fn load(datadir: &Path) -> Result<(KeySet, Vec<LocalValidator>), KeyLoadError> {
    let defs = ValidatorDefinitions::open_or_empty(&datadir.join("validators"))?;
    let mut jobs = Vec::new();
    let mut meta = Vec::new();
    let mut failures = Vec::new();
    for d in defs.0.iter().filter(|d| d.enabled) {
        match &d.signing_definition {
            SigningDefinition::Web3Signer { .. } => return Err(KeyLoadError::Web3Signer(d.voting_public_key.clone())),
            SigningDefinition::LocalKeystore {
                voting_keystore_path,
                voting_keystore_password_path,
                voting_keystore_password,
            } => {
                let password = match (voting_keystore_password, voting_keystore_password_path) {
                    (Some(p), _) => Zeroizing::new(p.clone()),
                    (None, Some(pp)) => match std::fs::read_to_string(pp) {
                        Ok(p) => Zeroizing::new(p),
                        Err(e) => {
                            failures.push(format!("{}: {e}", pp.display()));
                            continue;
                        }
                    },
                    (None, None) => {
                        failures.push(format!("{}: no password", d.voting_public_key));
                        continue;
                    }
                };
                jobs.push(DecryptJob { keystore: voting_keystore_path.clone(), password });
                meta.push((d.graffiti.clone(), d.suggested_fee_recipient.clone(), d.gas_limit, d.builder_proposals));
            }
        }
    }
    let pb = crate::progress::bar(jobs.len() as u64, "decrypting keystores");
    let results = decrypt_many(&jobs, || pb.inc(1));
    pb.finish_and_clear();
    let mut set = KeySet::new();
    let mut out = Vec::new();
    for (r, (graffiti, fee_recipient, gas_limit, builder_proposals)) in results.into_iter().zip(meta) {
        match r {
            Ok((_, sk)) => {
                let pubkey = sk.public_key().to_bytes();
                let handle = set.insert(&sk);
                out.push(LocalValidator { pubkey, handle, graffiti, fee_recipient, gas_limit, builder_proposals });
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    if !failures.is_empty() {
        return Err(KeyLoadError::Keystores(failures.join("; ")));
    }
    Ok((set, out))
}
