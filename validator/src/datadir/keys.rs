//! Loads the validators of a data dir (Lighthouse's `validator_definitions.yml`):
//! keystores decrypted in parallel, each key checked against the entry's
//! `voting_public_key`, and its proposal settings resolved.
//!
//! One bad entry does not stop the others: each failure is returned with the
//! file or key it concerns, and the client starts with the keys that loaded
//! (nothing is ever signed for a key that did not).

use crate::datadir::definitions::{SigningDefinition, ValidatorDefinitions, DEFINITIONS_FILE};
use crate::datadir::discover;
use crate::policy::{self, KeySettings, ProposalConfig, ProposalDefaults};
use crate::store::web3signer::{ClientIdentity, RemoteTarget};
use poolvc_signer::keys::cache::{Fingerprint, KeyCache};
use poolvc_signer::keys::keystore::{decrypt_many, DecryptJob};
use poolvc_signer::keys::{PublicKey, SecretKey};
use poolvc_signer::types::PublicKeyBytes;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why one validator entry was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// The definitions file as a whole.
    #[error(transparent)]
    Definitions(#[from] crate::datadir::definitions::DefinitionsError),
    /// A remote signer entry that cannot be used.
    #[error("validator {pubkey}: web3signer entry: {reason}")]
    Web3Signer {
        /// The entry's key.
        pubkey: String,
        /// Why.
        reason: String,
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
    /// Keys that sign at a remote signer: key, settings, where.
    pub remote: Vec<(PublicKeyBytes, ProposalConfig, RemoteTarget)>,
    /// Keys that loaded, with their proposal configs.
    pub keys: Vec<(SecretKey, ProposalConfig)>,
    /// The public key of each of `keys`, in the same order, when the
    /// loader derived them (empty otherwise): the store takes them rather
    /// than deriving each again.
    pub public_keys: Vec<PublicKey>,
    /// Entries that did not, each with its cause.
    pub failures: Vec<KeyLoadError>,
    /// What key discovery did, if it found anything.
    pub discovery_note: Option<String>,
    /// Keys that came from the key cache (no KDF run for them).
    pub from_cache: usize,
    /// Keys decrypted from their keystores.
    pub decrypted: usize,
    /// Why the key cache was not used as it was (warnings).
    pub cache_notes: Vec<String>,
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
    /// Where the key cache lives (the data dir); `None`: no cache
    /// (`--disable-key-cache`).
    pub key_cache: Option<PathBuf>,
}

impl Source {
    /// The layout under one data dir, with discovery.
    pub fn under(datadir: &Path) -> Self {
        Self {
            validators_dir: datadir.join("validators"),
            secrets_dir: datadir.join("secrets"),
            auto_discover: true,
            key_cache: Some(datadir.to_path_buf()),
        }
    }
}

/// Decrypts every enabled local keystore in parallel, after discovering the
/// keystores the definitions lack. Only an unreadable definitions file is an
/// error as a whole.
pub fn load(source: &Source, defaults: &ProposalDefaults) -> Result<Loaded, KeyLoadError> {
    let mut defs = ValidatorDefinitions::open_or_empty(&source.validators_dir)?;
    let mut out = Loaded::default();
    if source.auto_discover {
        discover_into(source, &mut defs, &mut out);
    }
    let (jobs, meta) = plan(&defs, defaults, &mut out);
    let mut cache = open_cache(source, &mut out);
    let results = open_keystores(jobs, &meta, cache.as_mut(), &mut out);
    let seen = accept(results, meta, &mut out);
    if let Some(c) = cache.as_mut() {
        // Only the keys that load stay cached (deleted or disabled ones go).
        c.retain(&seen);
        out.cache_notes.append(&mut c.notes);
        if let Err(e) = c.save() {
            out.cache_notes.push(format!("key cache not written: {e}"));
        }
    }
    Ok(out)
}

/// What a local key's loading needs after its keystore is opened: its
/// claimed public key, its keystore's path, its proposal settings.
type KeyMeta = (String, PathBuf, ProposalConfig);

/// A keystore's secret key (and public key), or why it did not open (every
/// job gets an answer; `None` only while the cache is being consulted).
type Opened = Option<Result<(SecretKey, PublicKey), poolvc_signer::keys::keystore::KeystoreError>>;

/// Auto-discovery (Lighthouse's default): keystores in the validators dir
/// not yet in the definitions file are added (and the file written when the
/// directory is writable); what happened is noted.
fn discover_into(source: &Source, defs: &mut ValidatorDefinitions, out: &mut Loaded) {
    let writable = crate::datadir::layout::writable_dir(&source.validators_dir);
    let found = discover::discover(&source.validators_dir, &source.secrets_dir, defs, writable);
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

/// The enabled definitions: remote keys straight into `out.remote`, local
/// ones as decryption jobs with their settings; each fault into
/// `out.failures`.
fn plan(defs: &ValidatorDefinitions, defaults: &ProposalDefaults, out: &mut Loaded) -> (Vec<DecryptJob>, Vec<KeyMeta>) {
    let mut jobs = Vec::new();
    let mut meta = Vec::new();
    for d in defs.0.iter().filter(|d| d.enabled) {
        let pubkey = d.voting_public_key.clone();
        match &d.signing_definition {
            SigningDefinition::Web3Signer {
                url,
                fallback_urls,
                root_certificate_path,
                request_timeout_ms,
                client_identity_path,
                client_identity_password,
            } => {
                let fail = |reason: String| KeyLoadError::Web3Signer { pubkey: pubkey.clone(), reason };
                let Some(pk) = parse_pubkey(&pubkey) else {
                    out.failures.push(fail("voting_public_key is not a 0x-hex BLS public key".into()));
                    continue;
                };
                let settings = KeySettings {
                    fee_recipient: d.suggested_fee_recipient.clone(),
                    gas_limit: d.gas_limit,
                    graffiti: d.graffiti.clone(),
                    builder_proposals: d.builder_proposals,
                };
                match policy::resolve(&pubkey, &settings, defaults) {
                    Ok(config) => {
                        let target = RemoteTarget {
                            urls: std::iter::once(url.clone()).chain(fallback_urls.iter().cloned()).collect(),
                            root_certificate_path: root_certificate_path.clone(),
                            request_timeout: std::time::Duration::from_millis(
                                request_timeout_ms.unwrap_or(DEFAULT_REMOTE_TIMEOUT_MS),
                            ),
                            client_identity: client_identity_path.as_ref().map(|path| ClientIdentity {
                                path: path.clone(),
                                password: Zeroizing::new(client_identity_password.clone().unwrap_or_default()),
                            }),
                        };
                        out.remote.push((pk, config, target));
                    }
                    Err(e) => out.failures.push(e.into()),
                }
            }
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
    (jobs, meta)
}

/// The key cache, if configured and readable (why not, noted).
fn open_cache(source: &Source, out: &mut Loaded) -> Option<KeyCache> {
    match &source.key_cache {
        Some(dir) => match KeyCache::open(dir) {
            Ok(c) => Some(c),
            Err(e) => {
                out.cache_notes.push(format!("key cache not used: {e}"));
                None
            }
        },
        None => None,
    }
}

/// Every job's key: from the cache when its keystore and password are what
/// they were when it was cached (no KDF), decrypted otherwise (and cached);
/// each public key derived once, in parallel.
fn open_keystores(
    jobs: Vec<DecryptJob>,
    meta: &[KeyMeta],
    mut cache: Option<&mut KeyCache>,
    out: &mut Loaded,
) -> Vec<Opened> {
    let looked_up: Vec<Lookup> = match cache.as_deref() {
        Some(c) => {
            use rayon::prelude::*;
            jobs.par_iter()
                .zip(meta.par_iter())
                .map(|(job, (pubkey, _, _))| {
                    let Ok(bytes) = std::fs::read(&job.keystore) else { return (None, None) };
                    let fp = Fingerprint::of(&bytes, &job.password);
                    // A hit derives its public key (checked in `get`).
                    let hit = parse_pubkey(pubkey).and_then(|pk| c.get_with_public(&pk, &fp));
                    (Some(fp), hit)
                })
                .collect()
        }
        None => jobs.iter().map(|_| (None, None)).collect(),
    };
    let mut results: Vec<Option<Result<SecretKey, poolvc_signer::keys::keystore::KeystoreError>>> =
        Vec::with_capacity(jobs.len());
    let mut known: Vec<Option<PublicKey>> = Vec::with_capacity(jobs.len());
    let mut misses = Vec::new();
    let mut miss_at = Vec::new();
    let mut fingerprints = Vec::with_capacity(jobs.len());
    for (i, ((fp, hit), job)) in looked_up.into_iter().zip(jobs).enumerate() {
        fingerprints.push(fp);
        match hit {
            Some((sk, pk)) => {
                results.push(Some(Ok(sk)));
                known.push(Some(pk));
            }
            None => {
                results.push(None);
                known.push(None);
                misses.push(job);
                miss_at.push(i);
            }
        }
    }
    out.from_cache = results.iter().filter(|r| r.is_some()).count();
    out.decrypted = misses.len();
    let pb = crate::progress::bar(misses.len() as u64, "decrypting keystores");
    let decrypted = decrypt_many(&misses, || pb.inc(1));
    pb.finish_and_clear();
    for (i, r) in miss_at.into_iter().zip(decrypted) {
        let r = r.map(|(_, sk)| sk);
        if let (Some(c), Some(Some(fp)), Ok(sk)) = (cache.as_deref_mut(), fingerprints.get(i), &r) {
            c.put(fp, sk);
        }
        results[i] = Some(r);
    }
    // Each key's public key, derived once and in parallel (a scalar
    // multiplication each: most of a warm start's CPU at 10,000 keys).
    let opened: Vec<Opened> = {
        use rayon::prelude::*;
        results
            .into_par_iter()
            .zip(known)
            .map(|(r, known)| {
                r.map(|r| {
                    r.map(|sk| {
                        let pk = known.unwrap_or_else(|| sk.public_key());
                        (sk, pk)
                    })
                })
            })
            .collect()
    };
    opened
}

/// The opened keys that are what their definitions claim, once each, into
/// `out.keys`; the others into `out.failures`. Returns the keys accepted.
fn accept(results: Vec<Opened>, meta: Vec<KeyMeta>, out: &mut Loaded) -> std::collections::HashSet<PublicKeyBytes> {
    let mut seen = std::collections::HashSet::new();
    for (r, (pubkey, path, config)) in results.into_iter().zip(meta) {
        let Some(r) = r else { continue };
        match r {
            Ok((sk, public)) => {
                let got = public.to_bytes();
                if !pubkey.eq_ignore_ascii_case(&got.to_string()) {
                    out.failures.push(KeyLoadError::WrongKey { path, expected: pubkey, got });
                } else if !seen.insert(got) {
                    out.failures.push(KeyLoadError::Duplicate { path, pubkey: got });
                } else {
                    out.keys.push((sk, config));
                    out.public_keys.push(public);
                }
            }
            Err(source) => out.failures.push(KeyLoadError::Keystore { pubkey, source }),
        }
    }
    seen
}

/// Lighthouse's default Web3Signer request timeout.
pub const DEFAULT_REMOTE_TIMEOUT_MS: u64 = 12_000;

/// One keystore's lookup in the key cache: its fingerprint (if its file
/// could be read) and, on a hit, its key and public key.
type Lookup = (Option<Fingerprint>, Option<(SecretKey, PublicKey)>);

/// A `0x`-hex public key of the definitions file.
fn parse_pubkey(s: &str) -> Option<PublicKeyBytes> {
    let mut b = [0u8; 48];
    hex::decode_to_slice(s.strip_prefix("0x")?, &mut b).ok()?;
    Some(PublicKeyBytes::from(b))
}

/// Development only: the interop keys of `range` (derived in parallel), each
/// with the default proposal settings.
pub fn interop(range: std::ops::RangeInclusive<u64>, defaults: &ProposalDefaults) -> Loaded {
    use rayon::prelude::*;
    let config = match policy::resolve("interop", &KeySettings::default(), defaults) {
        Ok(c) => c,
        Err(e) => return Loaded { failures: vec![e.into()], ..Default::default() },
    };
    let keys =
        range.into_par_iter().map(|i| (poolvc_signer::keys::interop::interop_secret_key(i), config.clone())).collect();
    Loaded { keys, ..Default::default() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use poolvc_signer::keys::cache::CACHE_FILE;
    use poolvc_signer::keys::interop::interop_secret_key;
    use poolvc_signer::keys::{Kdf, Keystore};

    fn pubkeys(l: &Loaded) -> Vec<PublicKeyBytes> {
        let mut v: Vec<_> = l.keys.iter().map(|(sk, _)| sk.public_key().to_bytes()).collect();
        v.sort();
        v
    }

    #[test]
    fn the_key_cache_spares_the_kdf_and_is_invalidated_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::cmd::keys::WriteOptions { out: dir.path().to_path_buf(), kdf: Kdf::Pbkdf2 { c: 16 } };
        crate::cmd::keys::write_interop(0..=5, &opts).unwrap();
        let source = Source::under(dir.path());
        let defaults = ProposalDefaults::default();

        let cold = load(&source, &defaults).unwrap();
        assert_eq!((cold.from_cache, cold.decrypted, cold.keys.len()), (0, 6, 6), "{:?}", cold.failures);
        let warm = load(&source, &defaults).unwrap();
        assert_eq!((warm.from_cache, warm.decrypted), (6, 0));
        assert_eq!(pubkeys(&warm), pubkeys(&cold), "the same keys");
        assert!(warm.cache_notes.is_empty(), "{:?}", warm.cache_notes);

        // Key 2 gets a new keystore and password: it alone is decrypted.
        let pk2 = interop_secret_key(2).public_key().to_bytes().to_string();
        let ks = Keystore::encrypt(&interop_secret_key(2), "new", Kdf::Pbkdf2 { c: 16 }, "m/12381/3600/2/0/0", None)
            .unwrap();
        let ks_path = dir.path().join("validators").join(&pk2).join(crate::datadir::definitions::VOTING_KEYSTORE_FILE);
        std::fs::remove_file(&ks_path).unwrap();
        ks.write_new(&ks_path).unwrap();
        std::fs::write(dir.path().join("secrets").join(&pk2), "new").unwrap();
        let changed = load(&source, &defaults).unwrap();
        assert_eq!((changed.from_cache, changed.decrypted, changed.keys.len()), (5, 1, 6));

        // A truncated cache: a warning, every key decrypted, the same keys.
        let cache = dir.path().join(CACHE_FILE);
        let bytes = std::fs::read(&cache).unwrap();
        std::fs::write(&cache, &bytes[..bytes.len() - 10]).unwrap();
        let rebuilt = load(&source, &defaults).unwrap();
        assert_eq!((rebuilt.from_cache, rebuilt.decrypted), (0, 6));
        assert!(rebuilt.cache_notes.iter().any(|n| n.contains("rebuilt")), "{:?}", rebuilt.cache_notes);
        assert_eq!(pubkeys(&rebuilt), pubkeys(&cold));

        // An entry moved under another key's name opens nothing: never a wrong key.
        let mut f: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        let entries = f["entries"].as_array_mut().unwrap();
        let first = entries[0]["pubkey"].clone();
        entries[0]["pubkey"] = entries[1]["pubkey"].clone();
        entries[1]["pubkey"] = first;
        std::fs::write(&cache, serde_json::to_vec(&f).unwrap()).unwrap();
        let swapped = load(&source, &defaults).unwrap();
        assert_eq!((swapped.from_cache, swapped.decrypted), (4, 2));
        assert_eq!(pubkeys(&swapped), pubkeys(&cold));

        // --disable-key-cache: no cache read.
        let off = Source { key_cache: None, ..Source::under(dir.path()) };
        let l = load(&off, &defaults).unwrap();
        assert_eq!((l.from_cache, l.decrypted), (0, 6));
    }
}
