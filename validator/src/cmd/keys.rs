//! `poolvc keys ...`: create validator keystores (interop or from a mnemonic)
//! in Lighthouse's data-dir layout, inspect keystores without decrypting
//! them, and check that every configured keystore decrypts.
//!
//! Layout written under `--out DIR` (Lighthouse's `--datadir`):
//! ```text
//! DIR/validators/validator_definitions.yml
//! DIR/validators/0x<pubkey>/voting-keystore.json   (0600)
//! DIR/secrets/0x<pubkey>                            (0600, the keystore password)
//! ```
//! A run either registers all its new keys or none: files written by a failed
//! run are removed, and the definitions file is replaced atomically last.

use crate::datadir::definitions::{
    DefinitionsError, SigningDefinition, ValidatorDefinition, ValidatorDefinitions, VOTING_KEYSTORE_FILE,
};
use crate::progress;
use poolvc_signer::keys::derive::{self, DeriveError};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::keystore::{decrypt_many, write_secret_file, DecryptJob};
use poolvc_signer::keys::{Kdf, Keystore, KeystoreError, PublicKey, SecretKey};
use rayon::prelude::*;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Errors of the key commands.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A `--range` that does not parse.
    #[error("invalid range {0:?}: expected START..END (inclusive, as Lodestar's --interopIndexes), e.g. 32..63")]
    Range(String),
    /// File-system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A keystore error.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// A definitions-file error.
    #[error(transparent)]
    Definitions(#[from] DefinitionsError),
    /// Key derivation failed.
    #[error("{}: {source}", file.display())]
    Derive {
        /// The mnemonic file.
        file: PathBuf,
        /// The cause.
        source: DeriveError,
    },
    /// Nothing to inspect.
    #[error("{}: no keystore files found", .0.display())]
    NothingFound(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeysError + '_ {
    move |source| KeysError::Io { path: path.to_path_buf(), source }
}

/// Parses `A..B` or `A..=B` as the inclusive range `A..=B`.
pub fn parse_range(s: &str) -> Result<RangeInclusive<u64>, KeysError> {
    let bad = || KeysError::Range(s.to_string());
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let b = b.strip_prefix('=').unwrap_or(b);
    let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a > b {
        return Err(bad());
    }
    Ok(a..=b)
}

/// Options for writing keystores.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The data directory (`validators/` and `secrets/` go inside).
    pub out: PathBuf,
    /// The KDF for the new keystores.
    pub kdf: Kdf,
}

/// What a write run did.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Keys newly written and registered.
    pub written: Vec<PublicKey>,
    /// Keys already defined in the data dir, left untouched.
    pub already_present: Vec<PublicKey>,
}

/// A key to write, with its EIP-2334 path (may be empty) and a description.
struct NewKey {
    sk: SecretKey,
    path: String,
    description: String,
}

/// Writes interop keys `range` as keystores under `opts.out`.
pub fn write_interop(range: RangeInclusive<u64>, opts: &WriteOptions) -> Result<WriteReport, KeysError> {
    let keys = range
        .map(|i| NewKey { sk: interop_secret_key(i), path: String::new(), description: format!("interop key {i}") })
        .collect();
    write_keys(keys, opts)
}

/// Derives `count` signing keys (`m/12381/3600/i/0/0`, `i` from `first_index`)
/// from the mnemonic in `mnemonic_file` and writes them under `opts.out`.
pub fn write_derived(
    mnemonic_file: &Path,
    passphrase: &str,
    first_index: u32,
    count: u32,
    opts: &WriteOptions,
) -> Result<WriteReport, KeysError> {
    let mnemonic = Zeroizing::new(std::fs::read_to_string(mnemonic_file).map_err(io(mnemonic_file))?);
    let derr = |source| KeysError::Derive { file: mnemonic_file.to_path_buf(), source };
    let seed = derive::mnemonic_to_seed(&mnemonic, passphrase).map_err(derr)?;
    let last = first_index.checked_add(count).ok_or_else(|| KeysError::Range(format!("{first_index}+{count}")))?;
    let keys = (first_index..last)
        .into_par_iter()
        .map(|i| {
            let path = derive::signing_key_path(i);
            derive::derive_path(seed.as_ref(), &path).map(|sk| NewKey {
                sk,
                path,
                description: format!("derived key {i}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(derr)?;
    write_keys(keys, opts)
}

fn random_password() -> Zeroizing<String> {
    use rand::RngCore;
    let mut bytes = Zeroizing::new([0u8; 24]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(hex::encode(bytes.as_ref()))
}

#[cfg(unix)]
fn create_private_dir(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(p)
}

/// Creates one new directory with mode 0700; fails if it exists.
fn create_new_private_dir(p: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(p)
}

#[cfg(not(unix))]
fn create_private_dir(p: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(p)
}

/// Files made by one write run, removed again if the run fails.
#[derive(Default)]
struct Created(std::sync::Mutex<Vec<PathBuf>>);

impl Created {
    fn push(&self, p: PathBuf) {
        if let Ok(mut v) = self.0.lock() {
            v.push(p);
        }
    }
    fn undo(self) {
        let mut paths = self.0.into_inner().unwrap_or_default();
        paths.reverse();
        for p in paths {
            let _ = if p.is_dir() { std::fs::remove_dir(&p) } else { std::fs::remove_file(&p) };
        }
    }
}

fn write_keys(keys: Vec<NewKey>, opts: &WriteOptions) -> Result<WriteReport, KeysError> {
    create_private_dir(&opts.out).map_err(io(&opts.out))?;
    let out = opts.out.canonicalize().map_err(io(&opts.out))?;
    let validators_dir = out.join("validators");
    let secrets_dir = out.join("secrets");
    create_private_dir(&validators_dir).map_err(io(&validators_dir))?;
    create_private_dir(&secrets_dir).map_err(io(&secrets_dir))?;

    let mut defs = ValidatorDefinitions::open_or_empty(&validators_dir)?;
    let mut report = WriteReport::default();
    let mut todo = Vec::new();
    for k in keys {
        let pk = k.sk.public_key();
        if defs.contains(&pk.to_hex()) {
            report.already_present.push(pk);
        } else {
            todo.push((k, pk));
        }
    }

    let pb = progress::bar(todo.len() as u64, "encrypting keystores");
    let created = Created::default();
    let results: Vec<Result<ValidatorDefinition, KeysError>> = todo
        .par_iter()
        .map(|(k, pk)| {
            let name = pk.to_hex();
            let password = random_password();
            let ks = Keystore::encrypt(&k.sk, &password, opts.kdf, &k.path, Some(&k.description))?;
            let key_dir = validators_dir.join(&name);
            create_new_private_dir(&key_dir).map_err(io(&key_dir))?;
            created.push(key_dir.clone());
            let ks_path = key_dir.join(VOTING_KEYSTORE_FILE);
            ks.write_new(&ks_path)?;
            created.push(ks_path.clone());
            let pw_path = secrets_dir.join(&name);
            write_secret_file(&pw_path, password.as_bytes()).map_err(io(&pw_path))?;
            created.push(pw_path.clone());
            pb.inc(1);
            Ok(ValidatorDefinition::new_local(name, k.description.clone(), ks_path, Some(pw_path), None))
        })
        .collect();
    pb.finish_and_clear();

    let mut new_defs = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(d) => new_defs.push(d),
            Err(e) => {
                created.undo();
                return Err(e);
            }
        }
    }
    defs.0.extend(new_defs);
    if let Err(e) = defs.save(&validators_dir) {
        created.undo();
        return Err(e.into());
    }
    report.written = todo.into_iter().map(|(_, pk)| pk).collect();
    Ok(report)
}

/// What `keys inspect` shows of one keystore: public data only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InspectRow {
    /// The file.
    pub file: PathBuf,
    /// `pubkey` field (`0x`-hex), if present.
    pub pubkey: Option<String>,
    /// EIP-2334 path.
    pub path: String,
    /// KDF function.
    pub kdf: String,
    /// UUID.
    pub uuid: String,
}

/// Finds keystore files: each argument is a file, or a directory searched
/// recursively for `*.json` files (not following symlinks).
pub fn find_keystores(paths: &[PathBuf]) -> Result<Vec<PathBuf>, KeysError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(io(p))?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut out)?;
            if out.len() == before {
                return Err(KeysError::NothingFound(p.clone()));
            }
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), KeysError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io(dir))?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        let ft = e.file_type().map_err(io(&p))?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if ft.is_file() && p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads each keystore's public fields. Never runs a KDF.
pub fn inspect(files: &[PathBuf]) -> Vec<Result<InspectRow, KeystoreError>> {
    files
        .par_iter()
        .map(|f| {
            Keystore::from_file(f).map(|ks| InspectRow {
                file: f.clone(),
                pubkey: ks.pubkey().map(|p| format!("0x{}", hex::encode(p))),
                path: ks.path().to_string(),
                kdf: ks.kdf_name().to_string(),
                uuid: ks.uuid().to_string(),
            })
        })
        .collect()
}

/// Result of checking a data dir's keystores.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Keys that decrypted and matched their definitions.
    pub ok: Vec<PublicKey>,
    /// Failures, one line each (file and cause).
    pub failed: Vec<String>,
    /// Definitions skipped (disabled, or not local keystores).
    pub skipped: usize,
}

/// Decrypts every enabled local keystore of `datadir` in parallel (all cores),
/// with a progress bar on a terminal.
pub fn verify(datadir: &Path) -> Result<VerifyReport, KeysError> {
    let validators_dir = datadir.join("validators");
    let defs = ValidatorDefinitions::open_or_empty(&validators_dir)?;
    let mut report = VerifyReport::default();
    let mut jobs = Vec::new();
    let mut expected = Vec::new();
    for d in &defs.0 {
        match (&d.signing_definition, d.enabled) {
            (
                SigningDefinition::LocalKeystore {
                    voting_keystore_path,
                    voting_keystore_password_path,
                    voting_keystore_password,
                },
                true,
            ) => {
                let password = match (voting_keystore_password, voting_keystore_password_path) {
                    (Some(p), _) => Zeroizing::new(p.clone()),
                    (None, Some(pp)) => match std::fs::read_to_string(pp) {
                        Ok(p) => Zeroizing::new(p),
                        Err(e) => {
                            report.failed.push(format!("{}: password file: {e}", pp.display()));
                            continue;
                        }
                    },
                    (None, None) => {
                        report.failed.push(format!("{}: no password or password file given", d.voting_public_key));
                        continue;
                    }
                };
                jobs.push(DecryptJob { keystore: voting_keystore_path.clone(), password });
                expected.push(d.voting_public_key.clone());
            }
            _ => report.skipped += 1,
        }
    }
    let pb = progress::bar(jobs.len() as u64, "decrypting keystores");
    let results = decrypt_many(&jobs, || pb.inc(1));
    pb.finish_and_clear();
    for (r, want) in results.into_iter().zip(expected) {
        match r {
            Ok((ks, sk)) => {
                let pk = sk.public_key();
                if pk.to_hex().eq_ignore_ascii_case(&want) {
                    report.ok.push(pk);
                } else {
                    report.failed.push(format!(
                        "{}: decrypts to {pk}, but validator_definitions.yml says {want}",
                        ks.file().display()
                    ));
                }
            }
            Err(e) => report.failed.push(e.to_string()),
        }
    }
    Ok(report)
}
