//! Where the client's files are, as Lighthouse lays them out: the data dir
//! (`~/.lighthouse/{network}` unless given; `custom` for a `--testnet-dir`),
//! the validators dir (`{datadir}/validators`) and the secrets dir
//! (`{datadir}/secrets`), each of which may be given on its own.
//!
//! The slashing-protection database is the one file whose place must never
//! change under a running validator: a client that looked in a new place and
//! found nothing could sign again what it signed before. The rule, kept in
//! [`Layout::slashing_sqlite`]: Lighthouse keeps it in the validators dir,
//! earlier poolvc releases in the data dir; an existing database is used
//! where it is, two existing databases are refused, and a new one is created
//! in the validators dir, or in the data dir when the validators dir cannot
//! be written (a read-only key mount).

use poolvc_signer::slashing::sqlite::SQLITE_FILE;
use std::path::{Path, PathBuf};

/// Errors finding the client's files.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// No `--datadir` and no home directory to default to.
    #[error("no --datadir given and $HOME is not set (Lighthouse's default is ~/.lighthouse/{network})")]
    NoHome {
        /// The network the default would be for.
        network: String,
    },
    /// A slashing database in both places.
    #[error(
        "two slashing protection databases: {} and {}; keep the one this client used (the other is from another \
         setup) and move the other away",
        first.display(),
        second.display()
    )]
    TwoSlashingDatabases {
        /// Lighthouse's place.
        first: PathBuf,
        /// The data dir's.
        second: PathBuf,
    },
}

/// The client's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The data dir (pools.yaml, performance.sqlite).
    pub datadir: PathBuf,
    /// Keystores and `validator_definitions.yml`.
    pub validators_dir: PathBuf,
    /// Password files named by public key.
    pub secrets_dir: PathBuf,
}

/// The network name Lighthouse's default data dir is named after.
pub fn default_network_dir_name(network: Option<&str>, testnet_dir: bool) -> String {
    if testnet_dir {
        "custom".into()
    } else {
        network.unwrap_or("mainnet").to_string()
    }
}

impl Layout {
    /// A layout where everything is under `datadir`, as poolvc's other
    /// commands expect.
    pub fn under(datadir: &Path) -> Self {
        Self {
            datadir: datadir.to_path_buf(),
            validators_dir: datadir.join("validators"),
            secrets_dir: datadir.join("secrets"),
        }
    }

    /// The layout the flags give, with Lighthouse's defaults; `home` is the
    /// home directory (`$HOME`).
    pub fn resolve(
        datadir: Option<&Path>,
        validators_dir: Option<&Path>,
        secrets_dir: Option<&Path>,
        network_dir_name: &str,
        home: Option<&Path>,
    ) -> Result<Self, LayoutError> {
        let datadir = match (datadir, home) {
            (Some(d), _) => d.to_path_buf(),
            (None, Some(h)) => h.join(".lighthouse").join(network_dir_name),
            (None, None) => return Err(LayoutError::NoHome { network: network_dir_name.to_string() }),
        };
        let base = Self::under(&datadir);
        Ok(Self {
            validators_dir: validators_dir.map_or(base.validators_dir, Path::to_path_buf),
            secrets_dir: secrets_dir.map_or(base.secrets_dir, Path::to_path_buf),
            datadir,
        })
    }

    /// The SQLite slashing database: see the module's rule. `Ok((path, exists))`.
    pub fn slashing_sqlite(&self) -> Result<(PathBuf, bool), LayoutError> {
        let lighthouse = self.validators_dir.join(SQLITE_FILE);
        let legacy = self.datadir.join(SQLITE_FILE);
        if lighthouse == legacy {
            let exists = lighthouse.exists();
            return Ok((lighthouse, exists));
        }
        match (lighthouse.exists(), legacy.exists()) {
            (true, true) => Err(LayoutError::TwoSlashingDatabases { first: lighthouse, second: legacy }),
            (true, false) => Ok((lighthouse, true)),
            (false, true) => Ok((legacy, true)),
            (false, false) if writable_dir(&self.validators_dir) => Ok((lighthouse, false)),
            (false, false) => Ok((legacy, false)),
        }
    }
}

/// Whether files can be created in `dir` (it exists and a probe file can be
/// made there; the probe is removed).
pub fn writable_dir(dir: &Path) -> bool {
    if !dir.is_dir() {
        return false;
    }
    tempfile::Builder::new().prefix(".poolvc-probe").tempfile_in(dir).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lighthouse_defaults() {
        let home = Path::new("/home/op");
        let l = Layout::resolve(None, None, None, &default_network_dir_name(None, true), Some(home)).unwrap();
        assert_eq!(l.datadir, Path::new("/home/op/.lighthouse/custom"));
        assert_eq!(l.validators_dir, Path::new("/home/op/.lighthouse/custom/validators"));
        let l = Layout::resolve(
            None,
            Some(Path::new("/keys")),
            Some(Path::new("/secrets")),
            &default_network_dir_name(Some("hoodi"), false),
            Some(home),
        )
        .unwrap();
        assert_eq!(l.datadir, Path::new("/home/op/.lighthouse/hoodi"));
        assert_eq!((l.validators_dir.as_path(), l.secrets_dir.as_path()), (Path::new("/keys"), Path::new("/secrets")));
        assert!(matches!(Layout::resolve(None, None, None, "mainnet", None), Err(LayoutError::NoHome { .. })));
    }

    #[test]
    fn slashing_database_stays_where_it_is() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::under(d.path());
        std::fs::create_dir_all(&l.validators_dir).unwrap();
        // New: Lighthouse's place.
        assert_eq!(l.slashing_sqlite().unwrap(), (l.validators_dir.join(SQLITE_FILE), false));
        // An earlier poolvc's database in the data dir is used where it is.
        std::fs::write(d.path().join(SQLITE_FILE), b"").unwrap();
        assert_eq!(l.slashing_sqlite().unwrap(), (d.path().join(SQLITE_FILE), true));
        // Both: refused.
        std::fs::write(l.validators_dir.join(SQLITE_FILE), b"").unwrap();
        assert!(matches!(l.slashing_sqlite(), Err(LayoutError::TwoSlashingDatabases { .. })));
    }
}
