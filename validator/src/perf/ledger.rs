//! The performance ledger: `performance.sqlite` in the data dir.
//!
//! Tables:
//! - `perf_epoch`: one row per judged epoch: the digest of the canonical
//!   headers it was judged from (the reorg check), whether it is final (its
//!   next epoch finalized: never judged again), whether the node served
//!   rewards, and the network's counts;
//! - `perf_validator`: one row per (epoch, tracked validator): the chain's
//!   counts, the attestation reward (actual, ideal) where served, and
//!   poolvc's own outcome for its duties (`own`, local keys only);
//! - `perf_member`: which pool and operator each tracked validator belongs
//!   to, as the pool map last read it;
//! - `perf_warning`: the first early warning per (frame, validator).
//!
//! Invariant: an epoch is written in one transaction that first deletes
//! what the epoch had, so a re-judged epoch (a reorg) replaces its rows and a
//! crash leaves either the old epoch or the new one; nothing is counted
//! twice, and nothing half-written is ever read.

use super::chain::Reward;
use super::verdict::{Counts, EpochVerdict};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The ledger's file name in the data dir.
pub const LEDGER_FILE: &str = "performance.sqlite";

/// Ledger errors.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

/// One tracked validator: its index, key and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Validator index.
    pub index: u64,
    /// Public key, hex.
    pub pubkey: String,
    /// Pool (`pools.yaml` kind or custom name).
    pub pool: String,
    /// Operator as the pool names it.
    pub operator: String,
}

/// A judged epoch's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochRow {
    /// Epoch.
    pub epoch: u64,
    /// Digest of its window's headers.
    pub digest: [u8; 32],
    /// Whether it will not be judged again.
    pub final_: bool,
    /// Whether rewards were served.
    pub rewards: bool,
    /// The network's counts.
    pub network: Counts,
}

/// One validator's row of one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorRow {
    /// Epoch.
    pub epoch: u64,
    /// Validator index.
    pub index: u64,
    /// The chain's counts.
    pub counts: Counts,
    /// The attestation reward, where served.
    pub reward: Option<Reward>,
    /// poolvc's own outcome for its duties, where it holds the key.
    pub own: Option<String>,
}

/// A report's submission to a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The frame (or Stader window).
    pub frame: u64,
    /// `report:0x…` or `stader:0x…`: what was submitted where.
    pub target: String,
    /// `sent` (signed, recorded, maybe broadcast), `mined`, `reverted`.
    pub state: String,
    /// The transaction's hash.
    pub tx_hash: Option<String>,
    /// The signed transaction (re-broadcast after a restart or an RPC failure).
    pub raw: Option<String>,
    /// Its nonce.
    pub nonce: Option<u64>,
    /// Unix time of the last change.
    pub at: u64,
    /// What happened, for people.
    pub detail: String,
}

/// The open ledger.
pub struct Ledger {
    /// Behind a mutex so that the ledger can be shared across awaits; one
    /// task uses it at a time in practice.
    conn: std::sync::Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS perf_epoch (
  epoch INTEGER PRIMARY KEY,
  digest BLOB NOT NULL,
  final INTEGER NOT NULL,
  rewards INTEGER NOT NULL,
  n_att_assigned INTEGER NOT NULL, n_att_included INTEGER NOT NULL, n_att_delay_sum INTEGER NOT NULL,
  n_att_source INTEGER NOT NULL, n_att_target INTEGER NOT NULL, n_att_head INTEGER NOT NULL,
  n_prop_assigned INTEGER NOT NULL, n_prop_made INTEGER NOT NULL,
  n_sync_assigned INTEGER NOT NULL, n_sync_included INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS perf_validator (
  epoch INTEGER NOT NULL,
  validator INTEGER NOT NULL,
  att_assigned INTEGER NOT NULL, att_included INTEGER NOT NULL, att_delay_sum INTEGER NOT NULL,
  att_source INTEGER NOT NULL, att_target INTEGER NOT NULL, att_head INTEGER NOT NULL,
  prop_assigned INTEGER NOT NULL, prop_made INTEGER NOT NULL,
  sync_assigned INTEGER NOT NULL, sync_included INTEGER NOT NULL,
  reward_actual INTEGER, reward_ideal INTEGER,
  own TEXT,
  PRIMARY KEY (epoch, validator)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS perf_member (
  validator INTEGER PRIMARY KEY,
  pubkey TEXT NOT NULL,
  pool TEXT NOT NULL,
  operator TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS perf_submission (
  frame INTEGER NOT NULL,
  target TEXT NOT NULL,
  state TEXT NOT NULL,
  tx_hash TEXT,
  raw TEXT,
  nonce INTEGER,
  at INTEGER NOT NULL,
  detail TEXT NOT NULL,
  PRIMARY KEY (frame, target)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS perf_warning (
  frame INTEGER NOT NULL,
  validator INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  at INTEGER NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (frame, validator)
) WITHOUT ROWID;
";

fn counts_of(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Counts> {
    let g = |k: usize| -> rusqlite::Result<u64> { row.get::<_, i64>(first + k).map(|v| v.max(0) as u64) };
    Ok(Counts {
        att_assigned: g(0)?,
        att_included: g(1)?,
        att_delay_sum: g(2)?,
        att_source: g(3)?,
        att_target: g(4)?,
        att_head: g(5)?,
        prop_assigned: g(6)?,
        prop_made: g(7)?,
        sync_assigned: g(8)?,
        sync_included: g(9)?,
    })
}

fn counts_params(c: &Counts) -> [i64; 10] {
    [
        c.att_assigned,
        c.att_included,
        c.att_delay_sum,
        c.att_source,
        c.att_target,
        c.att_head,
        c.prop_assigned,
        c.prop_made,
        c.sync_assigned,
        c.sync_included,
    ]
    .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl Ledger {
    /// Opens (creating) the ledger in `datadir`.
    pub fn open(datadir: &Path) -> Result<Self, LedgerError> {
        Self::open_file(&datadir.join(LEDGER_FILE))
    }

    /// Opens (creating) the ledger at `path`.
    pub fn open_file(path: &Path) -> Result<Self, LedgerError> {
        let err = |source| LedgerError::Sqlite { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self { conn: std::sync::Mutex::new(conn), path: path.to_path_buf() })
    }

    /// Opens an existing ledger read-only (the report commands).
    pub fn open_read_only(datadir: &Path) -> Result<Self, LedgerError> {
        let path = datadir.join(LEDGER_FILE);
        let err = |source| LedgerError::Sqlite { path: path.clone(), source };
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        conn.execute_batch("PRAGMA busy_timeout=5000;").map_err(err)?;
        Ok(Self { conn: std::sync::Mutex::new(conn), path })
    }

    fn c(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> LedgerError + '_ {
        move |source| LedgerError::Sqlite { path: self.path.clone(), source }
    }

    /// Replaces the membership.
    pub fn set_members(&mut self, members: &[Member]) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let err = |source| LedgerError::Sqlite { path: path.clone(), source };
        let mut c = self.c();
        let tx = c.transaction().map_err(err)?;
        tx.execute("DELETE FROM perf_member", []).map_err(err)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT OR REPLACE INTO perf_member (validator, pubkey, pool, operator) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for m in members {
                ins.execute(params![m.index as i64, m.pubkey, m.pool, m.operator]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// The membership.
    pub fn members(&self) -> Result<Vec<Member>, LedgerError> {
        let c = self.c();
        let mut st = c
            .prepare("SELECT validator, pubkey, pool, operator FROM perf_member ORDER BY validator")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok(Member {
                    index: r.get::<_, i64>(0)? as u64,
                    pubkey: r.get(1)?,
                    pool: r.get(2)?,
                    operator: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Writes epoch `v.epoch` for the tracked validators `tracked`, replacing
    /// what the epoch had (one transaction).
    pub fn record_epoch(
        &mut self,
        v: &EpochVerdict,
        digest: [u8; 32],
        final_: bool,
        tracked: &[u64],
        rewards: Option<&HashMap<u64, Reward>>,
        own: &HashMap<u64, String>,
    ) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let err = |source| LedgerError::Sqlite { path: path.clone(), source };
        let e = v.epoch as i64;
        let mut c = self.c();
        let tx = c.transaction().map_err(err)?;
        tx.execute("DELETE FROM perf_validator WHERE epoch = ?1", [e]).map_err(err)?;
        let n = counts_params(&v.network);
        tx.execute(
            "INSERT OR REPLACE INTO perf_epoch VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                e,
                digest.to_vec(),
                final_,
                rewards.is_some(),
                n[0],
                n[1],
                n[2],
                n[3],
                n[4],
                n[5],
                n[6],
                n[7],
                n[8],
                n[9]
            ],
        )
        .map_err(err)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO perf_validator VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .map_err(err)?;
            for &i in tracked {
                let c = v.by_validator.get(&i).copied().unwrap_or_default();
                let p = counts_params(&c);
                let r = rewards.and_then(|r| r.get(&i));
                ins.execute(params![
                    e,
                    i as i64,
                    p[0],
                    p[1],
                    p[2],
                    p[3],
                    p[4],
                    p[5],
                    p[6],
                    p[7],
                    p[8],
                    p[9],
                    r.map(|r| r.actual),
                    r.map(|r| r.ideal),
                    own.get(&i)
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Marks epochs up to `epoch` final (never judged again).
    pub fn finalize_through(&self, epoch: u64) -> Result<(), LedgerError> {
        self.c()
            .execute("UPDATE perf_epoch SET final = 1 WHERE epoch <= ?1 AND final = 0", [epoch as i64])
            .map(|_| ())
            .map_err(self.err())
    }

    /// The newest judged epoch.
    pub fn last_epoch(&self) -> Result<Option<u64>, LedgerError> {
        self.c()
            .query_row("SELECT MAX(epoch) FROM perf_epoch", [], |r| r.get::<_, Option<i64>>(0))
            .map(|e| e.map(|e| e as u64))
            .map_err(self.err())
    }

    /// Judged epochs not yet final, with their digests.
    pub fn open_epochs(&self) -> Result<Vec<(u64, [u8; 32])>, LedgerError> {
        let c = self.c();
        let mut st = c
            .prepare("SELECT epoch, digest FROM perf_epoch WHERE final = 0 ORDER BY epoch")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                let d: Vec<u8> = r.get(1)?;
                let mut digest = [0u8; 32];
                if d.len() == 32 {
                    digest.copy_from_slice(&d);
                }
                Ok((r.get::<_, i64>(0)? as u64, digest))
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The epoch rows in `[from, to)`.
    pub fn epochs(&self, from: u64, to: u64) -> Result<Vec<EpochRow>, LedgerError> {
        let c = self.c();
        let mut st = c
            .prepare("SELECT * FROM perf_epoch WHERE epoch >= ?1 AND epoch < ?2 ORDER BY epoch")
            .map_err(self.err())?;
        let rows = st
            .query_map([from as i64, to.min(i64::MAX as u64) as i64], |r| {
                let d: Vec<u8> = r.get(1)?;
                let mut digest = [0u8; 32];
                if d.len() == 32 {
                    digest.copy_from_slice(&d);
                }
                Ok(EpochRow {
                    epoch: r.get::<_, i64>(0)? as u64,
                    digest,
                    final_: r.get(2)?,
                    rewards: r.get(3)?,
                    network: counts_of(r, 4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The validator rows of epochs `[from, to)`.
    pub fn validator_rows(&self, from: u64, to: u64) -> Result<Vec<ValidatorRow>, LedgerError> {
        let c = self.c();
        let mut st = c
            .prepare("SELECT * FROM perf_validator WHERE epoch >= ?1 AND epoch < ?2 ORDER BY epoch, validator")
            .map_err(self.err())?;
        let rows = st
            .query_map([from as i64, to.min(i64::MAX as u64) as i64], |r| {
                let actual: Option<i64> = r.get(12)?;
                let ideal: Option<i64> = r.get(13)?;
                Ok(ValidatorRow {
                    epoch: r.get::<_, i64>(0)? as u64,
                    index: r.get::<_, i64>(1)? as u64,
                    counts: counts_of(r, 2)?,
                    reward: actual.zip(ideal).map(|(actual, ideal)| Reward { actual, ideal }),
                    own: r.get(14)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Records the first warning of `frame` for `validator`; `false` if one
    /// was recorded already (a restart does not warn twice).
    pub fn warn_once(&self, frame: u64, validator: u64, epoch: u64, at: u64, text: &str) -> Result<bool, LedgerError> {
        self.c()
            .execute(
                "INSERT OR IGNORE INTO perf_warning VALUES (?1, ?2, ?3, ?4, ?5)",
                params![frame as i64, validator as i64, epoch as i64, at as i64, text],
            )
            .map(|n| n == 1)
            .map_err(self.err())
    }

    /// The warnings of `frame`: (validator, epoch, unix time, text).
    pub fn warnings(&self, frame: u64) -> Result<Vec<(u64, u64, u64, String)>, LedgerError> {
        let c = self.c();
        let mut st = c
            .prepare("SELECT validator, epoch, at, text FROM perf_warning WHERE frame = ?1 ORDER BY validator")
            .map_err(self.err())?;
        let rows = st
            .query_map([frame as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64, r.get(3)?))
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The submission of `frame` to `target`, if one was made.
    pub fn submission(&self, frame: u64, target: &str) -> Result<Option<Submission>, LedgerError> {
        self.c()
            .query_row(
                "SELECT state, tx_hash, raw, nonce, at, detail FROM perf_submission WHERE frame = ?1 AND target = ?2",
                params![frame as i64, target],
                |r| {
                    Ok(Submission {
                        frame,
                        target: target.to_string(),
                        state: r.get(0)?,
                        tx_hash: r.get(1)?,
                        raw: r.get(2)?,
                        nonce: r.get::<_, Option<i64>>(3)?.map(|n| n as u64),
                        at: r.get::<_, i64>(4)? as u64,
                        detail: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// Records a submission's state (replacing the previous one). Written
    /// before a transaction is sent, so that a restart finds it.
    pub fn set_submission(&self, s: &Submission) -> Result<(), LedgerError> {
        self.c()
            .execute(
                "INSERT OR REPLACE INTO perf_submission VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    s.frame as i64,
                    s.target,
                    s.state,
                    s.tx_hash,
                    s.raw,
                    s.nonce.map(|n| n as i64),
                    s.at as i64,
                    s.detail
                ],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Every submission, oldest frame first.
    pub fn submissions(&self) -> Result<Vec<Submission>, LedgerError> {
        let c = self.c();
        let mut st = c
            .prepare("SELECT frame, target, state, tx_hash, raw, nonce, at, detail FROM perf_submission ORDER BY frame")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok(Submission {
                    frame: r.get::<_, i64>(0)? as u64,
                    target: r.get(1)?,
                    state: r.get(2)?,
                    tx_hash: r.get(3)?,
                    raw: r.get(4)?,
                    nonce: r.get::<_, Option<i64>>(5)?.map(|n| n as u64),
                    at: r.get::<_, i64>(6)? as u64,
                    detail: r.get(7)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Whether `epoch` was judged.
    pub fn has_epoch(&self, epoch: u64) -> Result<bool, LedgerError> {
        self.c()
            .query_row("SELECT 1 FROM perf_epoch WHERE epoch = ?1", [epoch as i64], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn verdict(epoch: u64, included: bool) -> EpochVerdict {
        let mut v = EpochVerdict { epoch, ..Default::default() };
        let c = Counts { att_assigned: 1, att_included: u64::from(included), ..Default::default() };
        v.by_validator.insert(5, c);
        v.by_validator.insert(6, Counts { att_assigned: 1, att_included: 1, ..Default::default() });
        for c in v.by_validator.values() {
            v.network.add(c);
        }
        v
    }

    #[test]
    fn a_rejudged_epoch_replaces_its_rows_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        let own = HashMap::from([(5u64, "attestation:published".to_string())]);
        l.record_epoch(&verdict(3, false), [1; 32], false, &[5], None, &own).unwrap();
        // A reorg: epoch 3 judged again from other blocks.
        l.record_epoch(&verdict(3, true), [2; 32], false, &[5], None, &own).unwrap();
        drop(l);
        let l = Ledger::open(dir.path()).unwrap();
        let rows = l.validator_rows(0, 10).unwrap();
        assert_eq!(rows.len(), 1, "one row per (epoch, validator), never two");
        assert_eq!(rows[0].counts.att_included, 1);
        assert_eq!(rows[0].own.as_deref(), Some("attestation:published"));
        assert_eq!(l.open_epochs().unwrap(), vec![(3, [2; 32])]);
        l.finalize_through(3).unwrap();
        assert!(l.open_epochs().unwrap().is_empty());
        assert_eq!(l.epochs(0, 10).unwrap()[0].network.att_assigned, 2);
        assert_eq!(l.last_epoch().unwrap(), Some(3));
        assert!(l.warn_once(0, 5, 3, 100, "x").unwrap());
        assert!(!l.warn_once(0, 5, 4, 200, "y").unwrap());
        assert_eq!(l.warnings(0).unwrap(), vec![(5, 3, 100, "x".to_string())]);
    }
}
