//! `poolvc keys shards | assign | move`: the lease table of leased key
//! shards ([`crate::leases`]) from the command line. Each change is one
//! transaction; the running instances follow it at once (`NOTIFY`).

use crate::leases::table::{LeaseError, LeaseTable, Moved, ShardRow};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::types::{parse_hex, PublicKeyBytes};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Errors of the shard commands.
#[derive(Debug, thiserror::Error)]
pub enum ShardsError {
    /// The lease table.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// A key list that cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of a key list that is not a public key.
    #[error("{}:{line}: {text:?} is not a public key (0x and 96 hex digits)", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// What it holds.
        text: String,
    },
    /// An interop range that does not parse.
    #[error(transparent)]
    Range(#[from] super::keys::KeysError),
    /// Neither or both key sources given.
    #[error("give the keys with exactly one of --pubkeys-file and --interop-range")]
    KeySource,
}

/// Reads a key list: one `0x` public key a line; blank lines and lines
/// starting with `#` are skipped.
pub fn read_pubkeys(path: &Path) -> Result<Vec<PublicKeyBytes>, ShardsError> {
    let text = std::fs::read_to_string(path).map_err(|source| ShardsError::Io { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let bytes = parse_hex(t).filter(|b| b.len() == 48).ok_or_else(|| ShardsError::BadKey {
            path: path.to_path_buf(),
            line: i + 1,
            text: t.chars().take(120).collect(),
        })?;
        let mut a = [0u8; 48];
        a.copy_from_slice(&bytes);
        out.push(PublicKeyBytes::from(a));
    }
    Ok(out)
}

/// The keys a command names: a key list, or interop keys (devnets).
pub fn keys_of(pubkeys_file: Option<&Path>, interop_range: Option<&str>) -> Result<Vec<PublicKeyBytes>, ShardsError> {
    match (pubkeys_file, interop_range) {
        (Some(p), None) => read_pubkeys(p),
        (None, Some(r)) => {
            let range = super::keys::parse_range(r)?;
            Ok(range.collect::<Vec<u64>>().par_iter().map(|i| interop_secret_key(*i).public_key().to_bytes()).collect())
        }
        _ => Err(ShardsError::KeySource),
    }
}

/// `poolvc keys shards`: every shard, its holder and keys.
pub fn list(url: &str) -> Result<Vec<ShardRow>, ShardsError> {
    Ok(LeaseTable::connect(url)?.list()?)
}

/// `poolvc keys assign`: adds keys to a shard (created if new).
pub fn assign(url: &str, shard: &str, keys: &[PublicKeyBytes]) -> Result<usize, ShardsError> {
    Ok(LeaseTable::connect(url)?.assign(shard, keys)?)
}

/// `poolvc keys move`: moves keys to a shard in one transaction.
pub fn move_keys(url: &str, to: &str, keys: &[PublicKeyBytes]) -> Result<Moved, ShardsError> {
    Ok(LeaseTable::connect(url)?.move_keys(keys, to)?)
}

/// The table `poolvc keys shards` prints.
pub fn render(rows: &[ShardRow]) -> String {
    let mut s = String::from("shard\tholder\tlease_epoch\texpires_in_ms\tkeys\n");
    for r in rows {
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            r.shard,
            r.holder.as_deref().unwrap_or("-"),
            r.lease_epoch,
            r.expires_in_ms,
            r.keys
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_list_names_the_line_that_is_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.txt");
        let k = interop_secret_key(1).public_key().to_bytes();
        std::fs::write(&p, format!("# shard a\n\n{k}\n0x1234\n")).unwrap();
        let e = read_pubkeys(&p).unwrap_err();
        assert!(e.to_string().contains("keys.txt:4: \"0x1234\""), "{e}");
        std::fs::write(&p, format!("{k}\n")).unwrap();
        assert_eq!(read_pubkeys(&p).unwrap(), vec![k]);
        assert_eq!(keys_of(None, Some("1..2")).unwrap()[0], k);
        assert!(matches!(keys_of(Some(&p), Some("1..2")), Err(ShardsError::KeySource)));
    }
}
