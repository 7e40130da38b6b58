//! The ledger's errors (a leaf: the ledger's readers and its database
//! both name them).

/// What the ledger's database said.
#[derive(Debug, thiserror::Error)]
pub enum DbFault {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
}

/// Ledger errors.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database failed.
    #[error("performance ledger {location}: {source}")]
    Db {
        /// The file or the PostgreSQL database.
        location: String,
        /// The database's error.
        source: DbFault,
    },
    /// A row the ledger wrote does not read back.
    #[error("performance ledger: {what}")]
    Corrupt {
        /// Which row, and why.
        what: String,
    },
}
