//! Slashing protection (EIP-3076): one trait with batch operations as the
//! primary API, an embedded SQLite backend (default) and a PostgreSQL backend
//! for several client instances sharing keys, and interchange import/export.
//!
//! Safety rules (the same code, [`rules`], decides for both backends):
//! - attestations: source > target is refused; same target with the same
//!   signing root is a harmless re-sign (`SameData`), otherwise a double vote;
//!   surrounding or surrounded votes are refused; so is a vote not newer
//!   than the newest signed or imported one (source below the highest
//!   source, or target at or below the highest target): EIP-3076's minimal
//!   strategy, kept on top of the complete history, which is stored for
//!   export and audit;
//! - blocks: same slot with the same root is `SameData`, otherwise a double
//!   proposal; a slot at or below the newest signed or imported is refused;
//! - keys that are not registered, or are disabled, are refused.
//!
//! Each validator's row holds a summary: the highest slot, source and target
//! signed or imported (imports merge their maxima, as EIP-3076 recommends),
//! and the newest messages. The summary decides a batch without reading the
//! history; the history (append-only, indexed by time) is read only to name
//! the reason of a refusal, and for export. Pruning deletes history but never
//! touches the summaries: protection is never weakened.
//!
//! Invariant kept by both backends: a batch is checked and recorded in one
//! transaction, taking the write lock (SQLite `BEGIN IMMEDIATE`; PostgreSQL
//! row locks on the batch's validators in ascending id order) before reading
//! the summaries, so no other writer can interleave between check and
//! record, and the caller gets verdicts only after the commit is durable.

pub(crate) mod batch;
pub mod fence;
pub mod interchange;
pub mod postgres;
pub mod protect;
pub mod rules;
pub mod sqlite;

use crate::types::{Epoch, Hash256, PublicKeyBytes, Slot};
pub use interchange::{Interchange, InterchangeData, InterchangeError};

/// An attestation to check and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttestationRecord {
    /// The signer.
    pub pubkey: PublicKeyBytes,
    /// Source epoch.
    pub source_epoch: Epoch,
    /// Target epoch.
    pub target_epoch: Epoch,
    /// Signing root (absent for imported records without one).
    pub signing_root: Option<Hash256>,
}

/// A block proposal to check and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRecord {
    /// The proposer.
    pub pubkey: PublicKeyBytes,
    /// Slot.
    pub slot: Slot,
    /// Signing root (absent for imported records without one).
    pub signing_root: Option<Hash256>,
}

/// A message a key signs at most once per slot (a Gloas payload
/// attestation), to check and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OncePerSlotRecord {
    /// The signer.
    pub pubkey: PublicKeyBytes,
    /// Slot.
    pub slot: Slot,
    /// Signing root.
    pub signing_root: Hash256,
}

/// Why a message may be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// New, and now recorded.
    Valid,
    /// Exactly what was signed before (same signing root): re-signing is harmless.
    SameData,
}

/// Why a message must not be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotSafe {
    /// Source epoch after target epoch.
    #[error("source epoch {source_epoch} is after target epoch {target_epoch}")]
    SourceGreaterThanTarget {
        /// Source.
        source_epoch: Epoch,
        /// Target.
        target_epoch: Epoch,
    },
    /// Another attestation with the same target was signed.
    #[error(
        "double vote: already signed a different attestation for target epoch {target} (source {existing_source})"
    )]
    DoubleVote {
        /// Target epoch.
        target: Epoch,
        /// Source of the existing vote.
        existing_source: Epoch,
    },
    /// The new attestation surrounds an existing one.
    #[error("surrounds existing attestation {existing_source}->{existing_target}")]
    SurroundsExisting {
        /// Existing source.
        existing_source: Epoch,
        /// Existing target.
        existing_target: Epoch,
    },
    /// The new attestation is surrounded by an existing one.
    #[error("surrounded by existing attestation {existing_source}->{existing_target}")]
    SurroundedByExisting {
        /// Existing source.
        existing_source: Epoch,
        /// Existing target.
        existing_target: Epoch,
    },
    /// Another payload attestation (Gloas PTC vote) at the same slot was
    /// signed. Not slashable, but a PTC member votes once per slot.
    #[error("already signed a different payload attestation at slot {slot}")]
    DoublePayloadAttestation {
        /// The slot.
        slot: Slot,
    },
    /// An envelope for a block the key did not sign at that slot.
    #[error("envelope for block {block_root} at slot {slot}, but this key signed no such block there")]
    EnvelopeOfUnsignedBlock {
        /// The envelope's slot.
        slot: Slot,
        /// The block it names.
        block_root: Hash256,
    },
    /// Another block at the same slot was signed.
    #[error("double proposal: already signed a different block at slot {slot}")]
    DoubleBlockProposal {
        /// The slot.
        slot: Slot,
    },
    /// Below the low watermark set by an import or pruning.
    #[error("not newer than the latest signed or imported message ({what} {value}, latest {watermark})")]
    BelowLowWatermark {
        /// `slot`, `source epoch` or `target epoch`.
        what: &'static str,
        /// The message's value.
        value: u64,
        /// The watermark.
        watermark: u64,
    },
    /// The key is not registered in this database.
    #[error("validator is not registered in the slashing protection database")]
    UnregisteredValidator,
    /// The key is registered but disabled.
    #[error("validator is disabled in the slashing protection database")]
    DisabledValidator,
    /// With leased key shards: this instance holds no live lease on the
    /// key's shard in the database (taken over, moved, expired, or the key
    /// is in no shard).
    #[error("this instance holds no live lease on the key's shard (fenced in the slashing transaction)")]
    NotLeased,
}

/// The verdict on one message.
pub type Verdict = Result<Safe, NotSafe>;

/// What kind of database failure an error is, for counting and alerting
/// (the error's message says the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseFault {
    /// Busy, locked, or a serialization conflict past the timeout: worth
    /// retrying.
    Busy,
    /// The disk: full, read-only, unopenable, or an I/O error.
    Storage,
    /// The connection to the database server is lost or refused.
    Connection,
    /// Another error of a query.
    Query,
    /// The content is not what this version expects (or a lock poisoned).
    Corrupt,
    /// A value or file given to the database does not fit it.
    Input,
    /// The database task ended without an answer.
    Task,
}

impl DatabaseFault {
    /// A short stable name (metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Storage => "storage",
            Self::Connection => "connection",
            Self::Query => "query",
            Self::Corrupt => "corrupt",
            Self::Input => "input",
            Self::Task => "task",
        }
    }
}

impl std::fmt::Display for DatabaseFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Database errors (I/O, SQL, bad input); never a verdict.
#[derive(Debug, thiserror::Error)]
pub enum SlashingError {
    /// SQLite failure.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failure.
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// Interchange file problem.
    #[error(transparent)]
    Interchange(#[from] InterchangeError),
    /// The interchange is for another network.
    #[error("interchange genesis_validators_root {file} does not match this database's {database}")]
    GenesisMismatch {
        /// In the file.
        file: Hash256,
        /// In the database.
        database: Hash256,
    },
    /// The database was made for another network than the one asked for
    /// (the beacon node's, or an interchange file's).
    #[error(
        "the slashing protection database {database} is for the network with genesis_validators_root {stored}, \
         not {wanted}; use the data dir (or PostgreSQL database) of this network"
    )]
    OtherNetwork {
        /// Which database (its file, or "in PostgreSQL").
        database: String,
        /// The root it records.
        stored: Hash256,
        /// The root asked for.
        wanted: Hash256,
    },
    /// A value does not fit the database (above 2^63 - 1).
    #[error("{what} {value} is too large to store (max 2^63 - 1)")]
    TooLarge {
        /// What it is.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A value in an interchange file does not fit the database.
    #[error("{file}: validator {pubkey}: {what} {value} is too large to store (max 2^63 - 1)")]
    TooLargeInFile {
        /// The file.
        file: String,
        /// The validator.
        pubkey: PublicKeyBytes,
        /// What it is.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// The database content is not what this version expects.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// A lock was poisoned by a panic in another thread.
    #[error("database lock poisoned")]
    Poisoned,
    /// File-system error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl SlashingError {
    /// What kind of failure this is.
    pub fn fault(&self) -> DatabaseFault {
        use rusqlite::ErrorCode as C;
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => match e.code {
                C::DatabaseBusy | C::DatabaseLocked => DatabaseFault::Busy,
                C::DiskFull | C::ReadOnly | C::CannotOpen | C::SystemIoFailure | C::PermissionDenied => {
                    DatabaseFault::Storage
                }
                C::DatabaseCorrupt | C::NotADatabase => DatabaseFault::Corrupt,
                _ => DatabaseFault::Query,
            },
            Self::Sqlite(_) => DatabaseFault::Query,
            Self::Postgres(e) if e.is_closed() => DatabaseFault::Connection,
            Self::Postgres(e) => match e.code() {
                Some(c)
                    if *c == ::postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                        || *c == ::postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                        || *c == ::postgres::error::SqlState::LOCK_NOT_AVAILABLE =>
                {
                    DatabaseFault::Busy
                }
                Some(c) if *c == ::postgres::error::SqlState::DISK_FULL => DatabaseFault::Storage,
                Some(_) => DatabaseFault::Query,
                // No SQL state: the connection itself failed.
                None => DatabaseFault::Connection,
            },
            Self::Interchange(_)
            | Self::GenesisMismatch { .. }
            | Self::OtherNetwork { .. }
            | Self::TooLarge { .. }
            | Self::TooLargeInFile { .. } => DatabaseFault::Input,
            Self::Corrupt(_) | Self::Poisoned => DatabaseFault::Corrupt,
            Self::Io(_) => DatabaseFault::Storage,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Validators in the file.
    pub validators: usize,
    /// Blocks recorded (new rows).
    pub blocks_imported: usize,
    /// Attestations recorded (new rows).
    pub attestations_imported: usize,
    /// Records skipped because an equal or conflicting one was already there.
    pub skipped: usize,
}

/// A slashing-protection database.
///
/// All methods are synchronous: call them from a blocking context
/// (`spawn_blocking`, a worker thread), not from an async task.
pub trait SlashingDatabase: Send + Sync {
    /// The genesis validators root this database protects.
    fn genesis_validators_root(&self) -> Result<Hash256, SlashingError>;

    /// Registers keys (idempotent); registered keys start enabled.
    fn register_validators(&self, pubkeys: &[PublicKeyBytes]) -> Result<(), SlashingError>;

    /// Enables or disables a key (a disabled key is refused everything).
    fn set_enabled(&self, pubkey: &PublicKeyBytes, enabled: bool) -> Result<(), SlashingError>;

    /// Checks every attestation, in order, against the history and against
    /// the batch's earlier entries, records the safe ones, all in one durable
    /// transaction. One verdict per input, in input order.
    fn check_and_insert_attestations(&self, batch: &[AttestationRecord]) -> Result<Vec<Verdict>, SlashingError>;

    /// The same for block proposals.
    fn check_and_insert_blocks(&self, batch: &[BlockRecord]) -> Result<Vec<Verdict>, SlashingError>;

    /// Checks and records payload attestations (Gloas PTC votes), which a
    /// key signs at most once per slot ([`rules::check_once_per_slot`]),
    /// in one transaction; one verdict per input, in order. Not part of
    /// EIP-3076 (not slashable): neither imported nor exported.
    fn check_and_insert_payload_attestations(&self, batch: &[OncePerSlotRecord])
        -> Result<Vec<Verdict>, SlashingError>;

    /// The signing root of the block `pubkey` signed at `slot`, if one is
    /// recorded with its root (an envelope is signed only for that block).
    fn signed_block_root(&self, pubkey: &PublicKeyBytes, slot: Slot) -> Result<Option<Hash256>, SlashingError>;

    /// Imports an EIP-3076 interchange atomically: wholly or not at all.
    fn import_interchange(&self, interchange: &Interchange) -> Result<ImportSummary, SlashingError> {
        check_network(interchange.metadata.genesis_validators_root, self.genesis_validators_root()?)?;
        self.import_entries(interchange.metadata.genesis_validators_root, &mut |sink| {
            interchange.data.iter().try_for_each(&mut *sink)
        })
    }

    /// Imports the entries `feed` hands over one at a time (a file streamed
    /// from disk need not be in memory), in one transaction: wholly or not at
    /// all. Each entry is checked as it comes ([`check_entry`]); the first
    /// error ends the import with nothing written.
    fn import_entries(&self, genesis_validators_root: Hash256, feed: Feed<'_>) -> Result<ImportSummary, SlashingError>;

    /// Exports the history (of `pubkeys`, or of every key) as an interchange.
    fn export_interchange(&self, pubkeys: Option<&[PublicKeyBytes]>) -> Result<Interchange, SlashingError>;

    /// Deletes records older than `epoch` (attestations with target below it,
    /// blocks below its first slot), raising the watermarks to cover them.
    fn prune(&self, before_epoch: Epoch, slots_per_epoch: u64) -> Result<(), SlashingError>;
}

/// Checks an interchange before any write: the network, source <= target,
/// and that every number fits the database.
/// An interchange of network `file` may go into a database of `ours`.
pub(crate) fn check_network(file: Hash256, ours: Hash256) -> Result<(), SlashingError> {
    if file != ours {
        return Err(SlashingError::GenesisMismatch { file, database: ours });
    }
    Ok(())
}

/// Hands each validator entry of an interchange to the sink, in order; the
/// sink's first error ends it.
pub type Feed<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut(&InterchangeData) -> Result<(), SlashingError>) -> Result<(), SlashingError>;

/// Everything an interchange can be refused for on its own (before any
/// database is opened): an attestation with source after target, a slot or
/// epoch past what the databases store. `file` names it in errors.
pub fn check_importable(interchange: &Interchange, file: &str) -> Result<(), SlashingError> {
    interchange.data.iter().try_for_each(|d| check_entry(d, file))
}

/// One validator's entry may be imported: no attestation with source after
/// target, no slot or epoch past what the databases store.
pub fn check_entry(d: &InterchangeData, file: &str) -> Result<(), SlashingError> {
    d.check_source_not_after_target(file)?;
    for b in &d.signed_blocks {
        fits(file, &d.pubkey, "slot", b.slot)?;
    }
    for a in &d.signed_attestations {
        fits(file, &d.pubkey, "source epoch", a.source_epoch)?;
        fits(file, &d.pubkey, "target epoch", a.target_epoch)?;
    }
    Ok(())
}

/// A stored signing root (32 bytes, or absent).
pub(crate) fn blob_root(b: Option<Vec<u8>>) -> Result<Option<Hash256>, SlashingError> {
    match b {
        None => Ok(None),
        Some(v) if v.len() == 32 => Ok(Some(Hash256::from_slice(&v))),
        Some(v) => Err(SlashingError::Corrupt(format!("signing root of {} bytes", v.len()))),
    }
}

/// A stored public key (48 bytes).
pub(crate) fn pubkey_of(v: Vec<u8>) -> Result<PublicKeyBytes, SlashingError> {
    <[u8; 48]>::try_from(v.as_slice())
        .map(PublicKeyBytes::from)
        .map_err(|_| SlashingError::Corrupt("public key of wrong length".into()))
}

fn fits(file: &str, pubkey: &PublicKeyBytes, what: &'static str, value: u64) -> Result<(), SlashingError> {
    match to_i64(what, value) {
        Ok(_) => Ok(()),
        Err(_) => Err(SlashingError::TooLargeInFile { file: file.to_string(), pubkey: *pubkey, what, value }),
    }
}

/// Checks `v` fits in an `i64` column.
pub(crate) fn to_i64(what: &'static str, v: u64) -> Result<i64, SlashingError> {
    i64::try_from(v).map_err(|_| SlashingError::TooLarge { what, value: v })
}

#[cfg(test)]
mod fault_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sqlite_codes_map_to_their_faults_and_an_unopenable_file_is_storage() {
        let sqlite =
            |code| SlashingError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None));
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_BUSY).fault(), DatabaseFault::Busy);
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_LOCKED).fault(), DatabaseFault::Busy);
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_FULL).fault(), DatabaseFault::Storage);
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_CORRUPT).fault(), DatabaseFault::Corrupt);
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).fault(), DatabaseFault::Query);
        let dir = tempfile::tempdir().unwrap();
        let gvr = Hash256::repeat_byte(1);
        // A plain file where the database's directory should be.
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let e = sqlite::SqliteSlashingDb::open(&dir.path().join("file/s.sqlite"), gvr).unwrap_err();
        assert_eq!(e.fault(), DatabaseFault::Storage, "{e}");
        assert_eq!(SlashingError::Poisoned.fault(), DatabaseFault::Corrupt);
        assert_eq!(SlashingError::TooLarge { what: "slot", value: u64::MAX }.fault(), DatabaseFault::Input);
    }
}
