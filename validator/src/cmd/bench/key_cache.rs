//! `poolvc bench key-cache`: what a restart costs in key loading, with and
//! without the key cache, for N standard scrypt keystores (EIP-2335's
//! parameters, n = 2^18), through the client's own loader
//! ([`crate::datadir::keys::load`]).
//!
//! The fixture's keystores share one salt and password so that making
//! 10,000 of them costs one KDF; the loader cannot know that and runs the
//! KDF for each one it decrypts. The cold load is measured on a sample of
//! the keystores (a full one at 10,000 keys would take most of an hour on 2
//! cores) and scaled by the key count; the warm load is measured on all N,
//! with the cache filled as a cold start fills it.

use crate::cmd::bench::signing::BenchError;
use crate::datadir::definitions::{ValidatorDefinition, ValidatorDefinitions, VOTING_KEYSTORE_FILE};
use crate::datadir::keys::{load, Source};
use crate::policy::ProposalDefaults;
use poolvc_signer::keys::cache::{Fingerprint, KeyCache};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::{Kdf, Keystore};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

const PASSWORD: &str = "poolvc bench password";

/// The figures of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyCacheBenchResult {
    /// Keystores in the data dir.
    pub keys: usize,
    /// Keystores of the cold sample.
    pub cold_sample: usize,
    /// Seconds to load the sample with no cache (every KDF).
    pub cold_sample_s: f64,
    /// The cold load scaled to `keys`.
    pub cold_scaled_s: f64,
    /// Seconds to load all `keys` from the cache.
    pub warm_s: f64,
    /// `cold_scaled_s / warm_s`.
    pub speedup: f64,
}

fn err(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Args(format!("{what}: {e}"))
}

/// Writes `keystores` (with their passwords) into `dir` in Lighthouse's layout.
fn write_datadir(dir: &Path, keystores: &[Keystore]) -> Result<(), BenchError> {
    let validators = dir.join("validators");
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&validators).map_err(|e| err("validators dir", e))?;
    std::fs::create_dir_all(&secrets).map_err(|e| err("secrets dir", e))?;
    let defs: Vec<ValidatorDefinition> = keystores
        .par_iter()
        .map(|ks| {
            let name = format!("0x{}", ks.pubkey().map(hex::encode).unwrap_or_default());
            let key_dir = validators.join(&name);
            std::fs::create_dir_all(&key_dir).map_err(|e| err("key dir", e))?;
            let path = key_dir.join(VOTING_KEYSTORE_FILE);
            ks.write_new(&path).map_err(|e| err("keystore", e))?;
            let pw = secrets.join(&name);
            poolvc_signer::keys::keystore::write_secret_file(&pw, PASSWORD.as_bytes())
                .map_err(|e| err("password", e))?;
            Ok(ValidatorDefinition::new_local(name, String::new(), path, Some(pw), None))
        })
        .collect::<Result<_, BenchError>>()?;
    ValidatorDefinitions(defs).save(&validators).map_err(|e| err("definitions", e))
}

/// Runs the bench: `keys` keystores, the cold load measured on `cold_sample`
/// of them. With `keep`, the full data dir (keystores, passwords, filled key
/// cache) is left there, for a start-up measurement of `poolvc vc` on it.
pub fn run(keys: usize, cold_sample: usize, keep: Option<&Path>) -> Result<KeyCacheBenchResult, BenchError> {
    if keys == 0 || cold_sample == 0 || cold_sample > keys {
        return Err(BenchError::Args("--keys and --cold-sample must be positive, the sample at most --keys".into()));
    }
    let secrets: Vec<_> = (0..keys as u64).into_par_iter().map(interop_secret_key).collect();
    let keystores = Keystore::encrypt_sharing_one_kdf(&secrets, PASSWORD, Kdf::STANDARD_SCRYPT, |i| {
        format!("m/12381/3600/{i}/0/0")
    })
    .map_err(|e| err("keystores", e))?;
    let root = tempfile::tempdir().map_err(|e| err("temp dir", e))?;
    let full = match keep {
        Some(dir) => {
            if dir.exists() {
                return Err(BenchError::Args(format!("--out {}: already exists", dir.display())));
            }
            dir.to_path_buf()
        }
        None => root.path().join("full"),
    };
    let sample = root.path().join("sample");
    write_datadir(&full, &keystores)?;
    write_datadir(&sample, &keystores[..cold_sample])?;
    let defaults = ProposalDefaults::default();

    // Cold: every keystore's KDF (no cache).
    let t = Instant::now();
    let cold =
        load(&Source { key_cache: None, ..Source::under(&sample) }, &defaults).map_err(|e| err("cold load", e))?;
    let cold_sample_s = t.elapsed().as_secs_f64();
    if cold.keys.len() != cold_sample || cold.decrypted != cold_sample {
        return Err(err("cold load", format!("{} keys loaded, {} decrypted", cold.keys.len(), cold.decrypted)));
    }

    // The cache a cold start of the full dir leaves behind.
    let mut cache = KeyCache::open(&full).map_err(|e| err("key cache", e))?;
    let validators = full.join("validators");
    for (ks, sk) in keystores.iter().zip(&secrets) {
        let name = format!("0x{}", ks.pubkey().map(hex::encode).unwrap_or_default());
        let bytes = std::fs::read(validators.join(&name).join(VOTING_KEYSTORE_FILE)).map_err(|e| err("keystore", e))?;
        cache.put(&Fingerprint::of(&bytes, PASSWORD), sk);
    }
    cache.save().map_err(|e| err("key cache", e))?;
    drop(cache);

    // Warm: all keys from the cache.
    let t = Instant::now();
    let warm = load(&Source::under(&full), &defaults).map_err(|e| err("warm load", e))?;
    let warm_s = t.elapsed().as_secs_f64();
    if warm.keys.len() != keys || warm.from_cache != keys {
        return Err(err("warm load", format!("{} keys loaded, {} from the cache", warm.keys.len(), warm.from_cache)));
    }
    let cold_scaled_s = cold_sample_s * keys as f64 / cold_sample as f64;
    Ok(KeyCacheBenchResult {
        keys,
        cold_sample,
        cold_sample_s,
        cold_scaled_s,
        warm_s,
        speedup: cold_scaled_s / warm_s.max(1e-9),
    })
}
