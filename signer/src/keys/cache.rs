//! The key cache: decrypted keys kept encrypted in the data dir so that a
//! restart costs no scrypt per keystore (about 0.56 s of CPU each: 47
//! minutes for 10,000 keys on 2 cores).
//!
//! Two files, both 0600:
//! - `key-cache.secret`: 256 random bits, made once;
//! - `key-cache.json`: per key, its public key and its secret key under
//!   AES-256-CTR with an HMAC-SHA256 tag (encrypt-then-MAC).
//!
//! Each entry's key is derived (HMAC-SHA256) from the secret, the data dir
//! the cache belongs to, the public key, and a fingerprint of the keystore
//! file's bytes and its password. So:
//! - a keystore or a password that changed no longer opens its entry: that
//!   key alone is decrypted from its keystore again (invalidated key by key);
//! - a cache copied from another data dir opens nothing (and says so);
//! - a truncated or edited file is ignored and rebuilt, with a warning;
//! - an entry is used only if its tag verifies (compared in constant time)
//!   and the key it holds derives the public key it is filed under: never a
//!   wrong key.
//!
//! The cache is as strong as the secret file's mode together with the
//! passwords: someone who can read both the secret and the passwords gets
//! the keys, as they would from the keystores and the passwords.

use crate::keys::keystore::make_private;
use crate::keys::{PublicKey, SecretKey};
use crate::types::PublicKeyBytes;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The cache file, in the data dir.
pub const CACHE_FILE: &str = "key-cache.json";
/// The cache's secret, in the data dir.
pub const SECRET_FILE: &str = "key-cache.secret";
const VERSION: u32 = 1;

type HmacSha256 = Hmac<Sha256>;
type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Errors of the cache's files (a cache that cannot be used is not an
/// error: it is ignored with a note, and the keystores are decrypted).
#[derive(Debug, thiserror::Error)]
pub enum KeyCacheError {
    /// I/O on a cache file.
    #[error("key cache {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What identifies one keystore as it is now: its bytes and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

impl Fingerprint {
    /// Of a keystore file's bytes and the password it is opened with.
    pub fn of(keystore: &[u8], password: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"poolvc key cache fingerprint\0");
        h.update((keystore.len() as u64).to_le_bytes());
        h.update(keystore);
        h.update(password.as_bytes());
        Self(h.finalize().into())
    }
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    pubkey: String,
    iv: String,
    ciphertext: String,
    tag: String,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    data_dir: String,
    entries: Vec<FileEntry>,
}

/// One sealed key.
#[derive(Clone)]
struct Sealed {
    iv: [u8; 16],
    ciphertext: [u8; 32],
    tag: [u8; 32],
}

/// The cache of one data dir, in memory.
pub struct KeyCache {
    dir: PathBuf,
    binding: String,
    secret: Zeroizing<[u8; 32]>,
    entries: HashMap<PublicKeyBytes, Sealed>,
    dirty: bool,
    /// Why the cache file was not used as it was, if it was not (for a
    /// warning).
    pub notes: Vec<String>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").field("dir", &self.dir).field("entries", &self.entries.len()).finish()
    }
}

impl KeyCache {
    /// Opens the cache in `dir` (the data dir), making its secret at first
    /// use. A cache file that is unreadable, malformed, or from another data
    /// dir is set aside (a note says why) and the cache starts empty.
    pub fn open(dir: &Path) -> Result<Self, KeyCacheError> {
        let binding = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).display().to_string();
        let mut notes = Vec::new();
        let secret_path = dir.join(SECRET_FILE);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyCacheError::Io { path, source }
        };
        let secret = match std::fs::read_to_string(&secret_path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let mut s = Zeroizing::new([0u8; 32]);
                match hex::decode_to_slice(text.trim(), s.as_mut()) {
                    Ok(()) => {
                        if let Some(mode) = make_private(&secret_path).map_err(io(&secret_path))? {
                            notes.push(format!("{} was mode {mode:o}; made 0600", secret_path.display()));
                        }
                        Some(s)
                    }
                    Err(_) => {
                        notes.push(format!("{} is not 64 hex digits; a new secret is made", secret_path.display()));
                        None
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(KeyCacheError::Io { path: secret_path, source }),
        };
        let (secret, fresh_secret) = match secret {
            Some(s) => (s, false),
            None => {
                use rand::RngCore;
                let mut s = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(s.as_mut());
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                let hexed = Zeroizing::new(hex::encode(s.as_ref()));
                replace_private(&secret_path, hexed.as_bytes()).map_err(io(&secret_path))?;
                (s, true)
            }
        };
        let mut cache = Self { dir: dir.to_path_buf(), binding, secret, entries: HashMap::new(), dirty: false, notes };
        let cache_path = dir.join(CACHE_FILE);
        match std::fs::read(&cache_path) {
            Ok(bytes) if fresh_secret => {
                drop(bytes);
                cache.set_aside(&cache_path, "its secret file was missing or unreadable");
            }
            Ok(bytes) => match serde_json::from_slice::<CacheFile>(&bytes) {
                Ok(f) if f.version != VERSION => {
                    cache.set_aside(&cache_path, &format!("version {} (this poolvc writes {VERSION})", f.version))
                }
                Ok(f) if f.data_dir != cache.binding => cache.set_aside(
                    &cache_path,
                    &format!("it belongs to data dir {} (this is {})", f.data_dir, cache.binding),
                ),
                Ok(f) => {
                    if let Some(mode) = make_private(&cache_path).map_err(io(&cache_path))? {
                        cache.notes.push(format!("{} was mode {mode:o}; made 0600", cache_path.display()));
                    }
                    let mut bad = 0usize;
                    for e in f.entries {
                        match parse_entry(&e) {
                            Some((pk, s)) => {
                                cache.entries.insert(pk, s);
                            }
                            None => bad += 1,
                        }
                    }
                    if bad > 0 {
                        cache.notes.push(format!("{}: {bad} malformed entries ignored", cache_path.display()));
                        cache.dirty = true;
                    }
                }
                Err(e) => cache.set_aside(&cache_path, &format!("it does not parse ({e})")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => cache.set_aside(&cache_path, &e.to_string()),
        }
        Ok(cache)
    }

    fn set_aside(&mut self, path: &Path, why: &str) {
        self.notes.push(format!("{} not used: {why}; it is rebuilt from the keystores", path.display()));
        self.entries.clear();
        self.dirty = true;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The (encryption, MAC) keys of `pubkey`'s entry for keystore `fp`.
    #[allow(clippy::type_complexity)]
    fn keys(&self, pubkey: &PublicKeyBytes, fp: &Fingerprint) -> Option<(Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>)> {
        let mut m = <HmacSha256 as Mac>::new_from_slice(self.secret.as_ref()).ok()?;
        m.update(b"poolvc key cache v1\0");
        m.update(&(self.binding.len() as u64).to_le_bytes());
        m.update(self.binding.as_bytes());
        m.update(pubkey.as_slice());
        m.update(&fp.0);
        let entry = Zeroizing::new(<[u8; 32]>::from(m.finalize().into_bytes()));
        let derive = |label: &[u8]| -> Option<Zeroizing<[u8; 32]>> {
            let mut m = <HmacSha256 as Mac>::new_from_slice(entry.as_ref()).ok()?;
            m.update(label);
            Some(Zeroizing::new(<[u8; 32]>::from(m.finalize().into_bytes())))
        };
        Some((derive(b"enc")?, derive(b"mac")?))
    }

    /// The key filed under `pubkey` for keystore `fp`, if the entry is
    /// there, its tag verifies, and it derives `pubkey`.
    pub fn get(&self, pubkey: &PublicKeyBytes, fp: &Fingerprint) -> Option<SecretKey> {
        self.get_with_public(pubkey, fp).map(|(sk, _)| sk)
    }

    /// [`KeyCache::get`], with the public key derived for the check.
    pub fn get_with_public(&self, pubkey: &PublicKeyBytes, fp: &Fingerprint) -> Option<(SecretKey, PublicKey)> {
        use ctr::cipher::{KeyIvInit, StreamCipher};
        let s = self.entries.get(pubkey)?;
        let (enc, mac) = self.keys(pubkey, fp)?;
        let mut m = <HmacSha256 as Mac>::new_from_slice(mac.as_ref()).ok()?;
        m.update(&s.iv);
        m.update(&s.ciphertext);
        m.update(pubkey.as_slice());
        m.verify_slice(&s.tag).ok()?;
        let mut plain = Zeroizing::new(s.ciphertext);
        let mut cipher = Aes256Ctr::new_from_slices(enc.as_ref(), &s.iv).ok()?;
        cipher.apply_keystream(plain.as_mut());
        let sk = SecretKey::from_bytes(plain.as_ref()).ok()?;
        let pk = sk.public_key();
        (pk.to_bytes() == *pubkey).then_some((sk, pk))
    }

    /// Files `sk` under its public key for keystore `fp`.
    pub fn put(&mut self, fp: &Fingerprint, sk: &SecretKey) {
        use ctr::cipher::{KeyIvInit, StreamCipher};
        use rand::RngCore;
        let pubkey = sk.public_key().to_bytes();
        let Some((enc, mac)) = self.keys(&pubkey, fp) else { return };
        let mut iv = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let mut plain = sk.to_bytes();
        let Ok(mut cipher) = Aes256Ctr::new_from_slices(enc.as_ref(), &iv) else { return };
        cipher.apply_keystream(plain.as_mut());
        let ciphertext: [u8; 32] = *plain;
        let Ok(mut m) = <HmacSha256 as Mac>::new_from_slice(mac.as_ref()) else { return };
        m.update(&iv);
        m.update(&ciphertext);
        m.update(pubkey.as_slice());
        let tag: [u8; 32] = m.finalize().into_bytes().into();
        self.entries.insert(pubkey, Sealed { iv, ciphertext, tag });
        self.dirty = true;
    }

    /// The keys the cache holds an entry for.
    pub fn pubkeys(&self) -> Vec<PublicKeyBytes> {
        self.entries.keys().copied().collect()
    }

    /// Drops the entries of keys not in `keep` (deleted or disabled).
    pub fn retain(&mut self, keep: &HashSet<PublicKeyBytes>) {
        let before = self.entries.len();
        self.entries.retain(|pk, _| keep.contains(pk));
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the cache (atomically, 0600) if it changed since it was read.
    pub fn save(&mut self) -> Result<bool, KeyCacheError> {
        if !self.dirty {
            return Ok(false);
        }
        let mut entries: Vec<FileEntry> = self
            .entries
            .iter()
            .map(|(pk, s)| FileEntry {
                pubkey: pk.to_string(),
                iv: hex::encode(s.iv),
                ciphertext: hex::encode(s.ciphertext),
                tag: hex::encode(s.tag),
            })
            .collect();
        entries.sort_by(|a, b| a.pubkey.cmp(&b.pubkey));
        let file = CacheFile { version: VERSION, data_dir: self.binding.clone(), entries };
        let path = self.dir.join(CACHE_FILE);
        let json = serde_json::to_vec(&file).map_err(|e| KeyCacheError::Io { path: path.clone(), source: e.into() })?;
        replace_private(&path, &json).map_err(|source| KeyCacheError::Io { path: path.clone(), source })?;
        self.dirty = false;
        Ok(true)
    }
}

fn parse_entry(e: &FileEntry) -> Option<(PublicKeyBytes, Sealed)> {
    let pk = e.pubkey.strip_prefix("0x")?;
    let mut pubkey = [0u8; 48];
    hex::decode_to_slice(pk, &mut pubkey).ok()?;
    let mut s = Sealed { iv: [0; 16], ciphertext: [0; 32], tag: [0; 32] };
    hex::decode_to_slice(&e.iv, &mut s.iv).ok()?;
    hex::decode_to_slice(&e.ciphertext, &mut s.ciphertext).ok()?;
    hex::decode_to_slice(&e.tag, &mut s.tag).ok()?;
    Some((PublicKeyBytes::from(pubkey), s))
}

/// Replaces `path` with `bytes` atomically (a 0600 temporary file, synced,
/// renamed over it).
fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::keys::interop::interop_secret_key;

    fn filed(dir: &Path, n: u64) -> Vec<(SecretKey, Fingerprint)> {
        let mut c = KeyCache::open(dir).unwrap();
        let keys: Vec<_> = (0..n).map(|i| (interop_secret_key(i), Fingerprint::of(&[i as u8; 64], "pw"))).collect();
        for (sk, fp) in &keys {
            c.put(fp, sk);
        }
        assert!(c.save().unwrap());
        keys
    }

    #[test]
    fn round_trip_and_invalidation_key_by_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = filed(dir.path(), 3);
        for f in [CACHE_FILE, SECRET_FILE] {
            let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let c = KeyCache::open(dir.path()).unwrap();
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        for (sk, fp) in &keys {
            let pk = sk.public_key().to_bytes();
            assert_eq!(c.get(&pk, fp).unwrap().public_key().to_bytes(), pk);
        }
        // Key 1's keystore changed, key 2's password: those two miss, key 0 hits.
        let pk = |i: u64| interop_secret_key(i).public_key().to_bytes();
        assert!(c.get(&pk(1), &Fingerprint::of(&[9u8; 64], "pw")).is_none());
        assert!(c.get(&pk(2), &Fingerprint::of(&[2u8; 64], "other")).is_none());
        assert!(c.get(&pk(0), &keys[0].1).is_some());
        // An entry filed under another key's public key never opens.
        assert!(c.get(&pk(1), &keys[0].1).is_none());
    }

    #[test]
    fn a_bad_or_foreign_cache_is_set_aside_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let keys = filed(dir.path(), 2);
        let path = dir.path().join(CACHE_FILE);
        // Truncated.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let c = KeyCache::open(dir.path()).unwrap();
        assert!(c.is_empty() && c.notes.iter().any(|n| n.contains("does not parse")), "{:?}", c.notes);
        // From another data dir (copied with its secret).
        let other = tempfile::tempdir().unwrap();
        filed(other.path(), 2);
        for f in [CACHE_FILE, SECRET_FILE] {
            std::fs::copy(other.path().join(f), dir.path().join(f)).unwrap();
        }
        let c = KeyCache::open(dir.path()).unwrap();
        assert!(c.is_empty() && c.notes.iter().any(|n| n.contains("belongs to data dir")), "{:?}", c.notes);
        // A tampered ciphertext fails its tag.
        filed(dir.path(), 2);
        let mut f: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let ct = f["entries"][0]["ciphertext"].as_str().unwrap().to_string();
        let flipped = format!("{}{}", if &ct[..1] == "0" { "1" } else { "0" }, &ct[1..]);
        f["entries"][0]["ciphertext"] = serde_json::Value::String(flipped);
        std::fs::write(&path, serde_json::to_vec(&f).unwrap()).unwrap();
        let c = KeyCache::open(dir.path()).unwrap();
        let hits = keys.iter().filter(|(sk, fp)| c.get(&sk.public_key().to_bytes(), fp).is_some()).count();
        assert_eq!(hits, 1, "the tampered entry does not open, the other does");
        // The secret file gone: the cache is not used.
        std::fs::remove_file(dir.path().join(SECRET_FILE)).unwrap();
        let c = KeyCache::open(dir.path()).unwrap();
        assert!(c.is_empty() && c.notes.iter().any(|n| n.contains("secret file")), "{:?}", c.notes);
    }
}
