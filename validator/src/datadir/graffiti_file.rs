//! Lighthouse's `--graffiti-file`: lines `default: <graffiti>` and
//! `0x<pubkey>: <graffiti>`, blank lines allowed. It is read again at each
//! proposal, so an operator may change it while the client runs; a file
//! that has become unreadable or bad is reported and the last good reading
//! is used. Its graffiti wins over `validator_definitions.yml`'s, which wins
//! over `--graffiti`.

use poolvc_signer::types::PublicKeyBytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Errors reading the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraffitiFileError {
    /// Not readable.
    #[error("--graffiti-file {}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A bad line.
    #[error("--graffiti-file {}:{line}: {reason}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },
}

/// One reading of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graffitis {
    /// `default:`.
    pub default: Option<String>,
    /// Per key.
    pub by_key: HashMap<PublicKeyBytes, String>,
}

impl Graffitis {
    /// The graffiti for `key`, if the file has one.
    pub fn for_key(&self, key: &PublicKeyBytes) -> Option<&str> {
        self.by_key.get(key).or(self.default.as_ref()).map(String::as_str)
    }
}

/// Parses the file's text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Graffitis, GraffitiFileError> {
    let mut out = Graffitis::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: String| GraffitiFileError::Line { path: path.to_path_buf(), line: i + 1, reason };
        let Some((key, graffiti)) = line.split_once(':') else {
            return Err(bad(format!("{line:?} is not `default: <graffiti>` or `0x<pubkey>: <graffiti>`")));
        };
        let graffiti = graffiti.trim().to_string();
        if graffiti.len() > 32 {
            return Err(bad(format!("graffiti {graffiti:?} is {} bytes, more than 32", graffiti.len())));
        }
        let key = key.trim();
        if key == "default" {
            out.default = Some(graffiti);
            continue;
        }
        let bytes = key
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 48]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| bad(format!("{key:?} is not `default` or a public key (0x and 96 hex digits)")))?;
        out.by_key.insert(PublicKeyBytes::from(bytes), graffiti);
    }
    Ok(out)
}

/// The file, with its last good reading.
#[derive(Debug)]
pub struct GraffitiFile {
    path: PathBuf,
    last_good: Mutex<Graffitis>,
}

impl GraffitiFile {
    /// Reads the file once: a bad file at start is an error.
    pub fn open(path: &Path) -> Result<Self, GraffitiFileError> {
        let g = read(path)?;
        Ok(Self { path: path.to_path_buf(), last_good: Mutex::new(g) })
    }

    /// Reads the file again: its graffiti for `key`, and the error if the
    /// file is now bad (the last good reading answers then).
    pub fn graffiti_for(&self, key: &PublicKeyBytes) -> (Option<String>, Option<GraffitiFileError>) {
        let fresh = read(&self.path);
        let mut last = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
        let err = match fresh {
            Ok(g) => {
                *last = g;
                None
            }
            Err(e) => Some(e),
        };
        (last.for_key(key).map(str::to_string), err)
    }
}

fn read(path: &Path) -> Result<Graffitis, GraffitiFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| GraffitiFileError::Io { path: path.to_path_buf(), reason: e.to_string() })?;
    parse(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";

    #[test]
    fn lighthouse_format() {
        let g = parse(Path::new("g"), &format!("default: pool default\n\n{KEY}: key one\n")).unwrap();
        let key = PublicKeyBytes::from(<[u8; 48]>::try_from(hex::decode(&KEY[2..]).unwrap().as_slice()).unwrap());
        assert_eq!(g.for_key(&key), Some("key one"));
        assert_eq!(g.for_key(&PublicKeyBytes::from([0u8; 48])), Some("pool default"));
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse(Path::new("/etc/g.txt"), "default: ok\nnonsense\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "--graffiti-file /etc/g.txt:2: \"nonsense\" is not `default: <graffiti>` or `0x<pubkey>: <graffiti>`"
        );
        let e = parse(Path::new("g"), "0x1234: x").unwrap_err().to_string();
        assert!(e.contains("g:1:") && e.contains("not `default` or a public key"), "{e}");
        let e = parse(Path::new("g"), &format!("default: {}", "x".repeat(33))).unwrap_err().to_string();
        assert!(e.contains("33 bytes"), "{e}");
    }

    #[test]
    fn a_file_gone_bad_keeps_the_last_good_reading() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("g.txt");
        std::fs::write(&p, "default: one\n").unwrap();
        let f = GraffitiFile::open(&p).unwrap();
        let k = PublicKeyBytes::from([1u8; 48]);
        assert_eq!(f.graffiti_for(&k), (Some("one".into()), None));
        std::fs::write(&p, "default: two\n").unwrap();
        assert_eq!(f.graffiti_for(&k).0.as_deref(), Some("two"));
        std::fs::write(&p, "garbage\n").unwrap();
        let (g, err) = f.graffiti_for(&k);
        assert_eq!(g.as_deref(), Some("two"));
        assert!(err.is_some());
    }
}
