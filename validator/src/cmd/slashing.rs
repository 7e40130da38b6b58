//! `poolvc slashing-protection import|export`: EIP-3076 interchange files,
//! compatible with `lighthouse account validator slashing-protection`.
//! SQLite (`--datadir D`: the database the client uses, found by
//! [`crate::datadir::layout::Layout::slashing_sqlite`]) or PostgreSQL
//! (`--postgres URL`). Run them with the validator client stopped.

use poolvc_signer::slashing::interchange::{read_streaming, Accept};
use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::{SqliteSlashingDb, SQLITE_FILE};
use poolvc_signer::slashing::{check_entry, Feed, ImportSummary, InterchangeData, SlashingDatabase, SlashingError};
use poolvc_signer::types::{Hash256, PublicKeyBytes};
use std::path::{Path, PathBuf};

/// Where the database is.
#[derive(Debug, Clone)]
pub enum DbLocation {
    /// SQLite in a data dir.
    Datadir(PathBuf),
    /// PostgreSQL URL.
    Postgres(String),
}

/// Errors of these commands.
#[derive(Debug, thiserror::Error)]
pub enum SlashingCmdError {
    /// Database or interchange error.
    #[error(transparent)]
    Db(#[from] SlashingError),
    /// Bad argument.
    #[error("{0}")]
    Args(String),
    /// Where the database is.
    #[error(transparent)]
    Layout(#[from] crate::datadir::layout::LayoutError),
    /// Writing the export.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The SQLite database of data dir `d` (the client's rule) and whether it exists.
fn sqlite_path(d: &Path) -> Result<(PathBuf, bool), SlashingCmdError> {
    Ok(crate::datadir::layout::Layout::under(d).slashing_sqlite()?)
}

/// Parses `0x`-hex public keys separated by commas.
pub fn parse_pubkeys(s: &str) -> Result<Vec<PublicKeyBytes>, SlashingCmdError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let b = hex::decode(p.trim().trim_start_matches("0x"))
                .map_err(|_| SlashingCmdError::Args(format!("--pubkeys: {p:?} is not hex")))?;
            <[u8; 48]>::try_from(b.as_slice())
                .map(PublicKeyBytes::from)
                .map_err(|_| SlashingCmdError::Args(format!("--pubkeys: {p:?} is not 48 bytes")))
        })
        .collect()
}

/// Imports `file` atomically: the data dir (or PostgreSQL) is left exactly
/// as it was when anything is refused, also when no database existed. The
/// database's network must match the file's (`expected_gvr`, if given, must
/// too). The file is streamed twice, one validator entry in memory at a time:
/// first checked whole, before any database is opened (or created, pinned
/// to the file's network), then imported in one transaction.
pub fn import(
    loc: &DbLocation,
    file: &Path,
    expected_gvr: Option<Hash256>,
    accept: Accept,
) -> Result<Imported, SlashingCmdError> {
    let name = file.display().to_string();
    let streamed = read_streaming::<SlashingError>(file, accept, &mut |d| check_entry(d, &name))?;
    let gvr = streamed.metadata.genesis_validators_root;
    if let Some(want) = expected_gvr.filter(|w| *w != gvr) {
        return Err(SlashingError::GenesisMismatch { file: gvr, database: want }.into());
    }
    let mut feed = |sink: &mut dyn FnMut(&InterchangeData) -> Result<(), SlashingError>| {
        let again = read_streaming::<SlashingError>(file, accept, sink)?.metadata;
        if again.genesis_validators_root != gvr {
            return Err(SlashingError::GenesisMismatch { file: again.genesis_validators_root, database: gvr });
        }
        Ok(())
    };
    let done = match loc {
        DbLocation::Datadir(dir) => import_sqlite(dir, gvr, &mut feed),
        DbLocation::Postgres(url) => (|| Ok(PostgresSlashingDb::connect(url, gvr)?.import_entries(gvr, &mut feed)?))(),
    };
    // Opened for the file's network: a database of another one means the
    // file is the stranger here.
    let summary = done.map_err(|e| match e {
        SlashingCmdError::Db(SlashingError::OtherNetwork { stored, wanted, .. }) => {
            SlashingError::GenesisMismatch { file: wanted, database: stored }.into()
        }
        e => e,
    })?;
    Ok(Imported { summary, skipped: streamed.skipped })
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Counts.
    pub summary: ImportSummary,
    /// Entries of a draft v4 file skipped: not a public key, no history.
    pub skipped: Vec<String>,
}

/// Into an existing SQLite database: one transaction. With none yet: built
/// whole beside it, then renamed into place; on failure nothing is left
/// (not the directories either, if they were made here).
fn import_sqlite(datadir: &Path, gvr: Hash256, feed: Feed<'_>) -> Result<ImportSummary, SlashingCmdError> {
    let (path, exists) = sqlite_path(datadir)?;
    if exists {
        return Ok(SqliteSlashingDb::open(&path, gvr)?.import_entries(gvr, feed)?);
    }
    let dir = path.parent().unwrap_or(datadir);
    // The directories this import makes (the data dir and missing parents).
    let made: Vec<PathBuf> =
        dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).map(Path::to_path_buf).collect();
    let io = |source| SlashingCmdError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".{SQLITE_FILE}.import"));
    let leftovers = |p: &Path| {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut f = p.as_os_str().to_owned();
            f.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(f));
        }
    };
    leftovers(&tmp);
    let built = (|| -> Result<ImportSummary, SlashingCmdError> {
        let db = SqliteSlashingDb::open(&tmp, gvr)?;
        let summary = db.import_entries(gvr, feed)?;
        // Closing the only connection checkpoints the WAL into the file.
        drop(db);
        std::fs::rename(&tmp, &path).map_err(|source| SlashingCmdError::Io { path: path.clone(), source })?;
        Ok(summary)
    })();
    if built.is_err() {
        leftovers(&tmp);
        for d in &made {
            // Innermost first; only empty directories go.
            let _ = std::fs::remove_dir(d);
        }
    }
    built
}

/// Exports (all keys, or `pubkeys`) to `file`, written atomically.
pub fn export(loc: &DbLocation, file: &Path, pubkeys: Option<&[PublicKeyBytes]>) -> Result<usize, SlashingCmdError> {
    let interchange = match loc {
        DbLocation::Datadir(d) => {
            let (path, exists) = sqlite_path(d)?;
            if !exists {
                return Err(SlashingCmdError::Args(format!("{}: no slashing protection database", path.display())));
            }
            SqliteSlashingDb::open_existing_or_new(&path)?.export_interchange(pubkeys)?
        }
        DbLocation::Postgres(url) => PostgresSlashingDb::connect_existing(url)?.export_interchange(pubkeys)?,
    };
    let tmp = file.with_extension("tmp");
    let io = |source| SlashingCmdError::Io { path: file.to_path_buf(), source };
    std::fs::write(&tmp, interchange.to_json_string()).map_err(io)?;
    std::fs::rename(&tmp, file).map_err(io)?;
    Ok(interchange.data.len())
}
