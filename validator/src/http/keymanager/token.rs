//! The keymanager API's bearer token: Lighthouse's `api-token.txt` in the
//! validators dir (or `--http-token-path`), created at first start with 256
//! random bits, mode 0600. A token file others can read is made 0600 again,
//! and the log says so. Any token already in the file (Lighthouse's own
//! included) is used as it is.

use poolvc_signer::keys::keystore::make_private;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Lighthouse's token file name, in the validators dir.
pub const TOKEN_FILE: &str = "api-token.txt";

/// Errors reading or creating the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// I/O on the file.
    #[error("keymanager API token {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds no token.
    #[error("keymanager API token {}: the file is empty; delete it and a new token is made at start", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The token, and what opening it did.
pub struct Token {
    secret: Zeroizing<String>,
    /// Where it is.
    pub path: PathBuf,
    /// Whether this start created it.
    pub created: bool,
    /// The loose mode it had (now 0600), if it had one.
    pub fixed_mode: Option<u32>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Token {
    /// Reads the token at `path`, or creates it.
    pub fn open_or_create(path: &Path) -> Result<Self, TokenError> {
        let io = |source| TokenError::Io { path: path.to_path_buf(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let secret = Zeroizing::new(text.trim().to_string());
                drop(Zeroizing::new(text));
                if secret.is_empty() {
                    return Err(TokenError::Empty { path: path.to_path_buf() });
                }
                let fixed_mode = make_private(path).map_err(io)?;
                Ok(Self { secret, path: path.to_path_buf(), created: false, fixed_mode })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use rand::RngCore;
                let mut bytes = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(bytes.as_mut());
                let secret = Zeroizing::new(format!("api-token-0x{}", hex::encode(bytes.as_ref())));
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                poolvc_signer::keys::keystore::write_secret_file(path, secret.as_bytes()).map_err(io)?;
                Ok(Self { secret, path: path.to_path_buf(), created: true, fixed_mode: None })
            }
            Err(source) => Err(TokenError::Io { path: path.to_path_buf(), source }),
        }
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`
    /// (compared in constant time).
    pub fn admits(&self, header: &str) -> bool {
        use subtle::ConstantTimeEq;
        let Some(given) = header.strip_prefix("Bearer ") else { return false };
        let given = given.trim().as_bytes();
        let ours = self.secret.as_bytes();
        given.len() == ours.len() && bool::from(given.ct_eq(ours))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_once_then_reused_and_loose_modes_fixed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validators").join(TOKEN_FILE);
        let t = Token::open_or_create(&path).unwrap();
        assert!(t.created);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("api-token-0x") && text.len() == 12 + 64, "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(t.admits(&format!("Bearer {text}")));
        assert!(!t.admits(&format!("Bearer {text}0")));
        assert!(!t.admits(&format!("Basic {text}")));
        assert!(!t.admits("Bearer "));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = Token::open_or_create(&path).unwrap();
        assert!(!again.created);
        assert_eq!(again.fixed_mode, Some(0o644));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(again.admits(&format!("Bearer {text}")));

        std::fs::write(&path, "  \n").unwrap();
        let err = Token::open_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
