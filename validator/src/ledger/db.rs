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
//! In PostgreSQL instead (the same tables) when the slashing database is
//! there (`--slashing-db-url`): hosts that share a slashing database share
//! the ledger, and their submissions see each other's.
//!
//! Invariant: an epoch is written in one transaction that first deletes
//! what the epoch had, so a re-judged epoch (a reorg) replaces its rows and a
//! crash leaves either the old epoch or the new one; nothing is counted
//! twice, and nothing half-written is ever read.

use super::chain::Reward;
use super::config::CurveParams;
use super::frames::{FrameData, FrameSource};
use super::rows::{EpochRow, KeyState, KeySum, Member, ValidatorRow, MISSES_KEPT};
use super::verdict::{Counts, EpochVerdict};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The ledger's file name in the data dir.
pub const LEDGER_FILE: &str = "performance.sqlite";

pub use super::error::{DbFault, LedgerError};

/// Where the ledger is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `performance.sqlite` in this data dir.
    Dir(std::path::PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Location {
    /// For messages (a URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Location::Dir(d) => d.join(LEDGER_FILE).display().to_string(),
            Location::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(a), Some(b)) if b > a => format!("{}://…{}", &url[..a], &url[b..]),
                _ => "postgres".into(),
            },
        }
    }
}

/// A report's submission to a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The frame (or Stader window).
    pub frame: u64,
    /// `report:<contract>:<reporter>` or `stader:<contract>:<reporter>`.
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

/// A value going to or coming from either database.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    I(i64),
    T(String),
    B(Vec<u8>),
    NullI,
    NullT,
}

impl Val {
    fn i(&self) -> Option<i64> {
        match self {
            Val::I(v) => Some(*v),
            _ => None,
        }
    }
    fn u(&self) -> u64 {
        self.i().unwrap_or(0).max(0) as u64
    }
    fn t(&self) -> Option<String> {
        match self {
            Val::T(v) => Some(v.clone()),
            _ => None,
        }
    }
    fn b32(&self) -> [u8; 32] {
        let mut d = [0u8; 32];
        if let Val::B(b) = self {
            if b.len() == 32 {
                d.copy_from_slice(b);
            }
        }
        d
    }
}

fn int(v: u64) -> Val {
    Val::I(i64::try_from(v).unwrap_or(i64::MAX))
}

fn opt_text(v: Option<&String>) -> Val {
    v.map_or(Val::NullT, |s| Val::T(s.clone()))
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Val::I(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Val::T(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Val::B(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Val::NullI | Val::NullT => ToSqlOutput::Owned(Value::Null),
        })
    }
}

impl Val {
    fn pg(&self) -> Box<dyn postgres::types::ToSql + Sync + '_> {
        match self {
            Val::I(v) => Box::new(*v),
            Val::T(v) => Box::new(v.as_str()),
            Val::B(v) => Box::new(v.as_slice()),
            Val::NullI => Box::new(None::<i64>),
            Val::NullT => Box::new(None::<String>),
        }
    }
}

/// Runs blocking database work: off the async worker when called on one
/// (the PostgreSQL client blocks on its own runtime).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `$1`, `$2` … as SQLite's `?1`, `?2` ….
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

enum Conn {
    Sqlite(Connection),
    Pg(Box<postgres::Client>),
}

impl Conn {
    fn exec(&mut self, sql: &str, p: &[Val]) -> Result<u64, DbFault> {
        match self {
            Conn::Sqlite(c) => c
                .prepare_cached(&sqlite_sql(sql))
                .and_then(|mut st| st.execute(rusqlite::params_from_iter(p.iter())))
                .map(|n| n as u64)
                .map_err(DbFault::from),
            Conn::Pg(c) => {
                let params: Vec<Box<dyn postgres::types::ToSql + Sync + '_>> = p.iter().map(Val::pg).collect();
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|b| b.as_ref()).collect();
                blocking(|| c.execute(sql, &refs)).map_err(DbFault::from)
            }
        }
    }

    fn query(&mut self, sql: &str, p: &[Val]) -> Result<Vec<Vec<Val>>, DbFault> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql)).map_err(DbFault::from)?;
                let n = st.column_count();
                let rows = st
                    .query_map(rusqlite::params_from_iter(p.iter()), |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Integer(v) => Val::I(v),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        Val::T(String::from_utf8_lossy(t).into_owned())
                                    }
                                    rusqlite::types::ValueRef::Blob(b) => Val::B(b.to_vec()),
                                    rusqlite::types::ValueRef::Real(f) => Val::I(f as i64),
                                    rusqlite::types::ValueRef::Null => Val::NullI,
                                })
                            })
                            .collect::<rusqlite::Result<Vec<Val>>>()
                    })
                    .map_err(DbFault::from)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(DbFault::from)
            }
            Conn::Pg(c) => {
                let params: Vec<Box<dyn postgres::types::ToSql + Sync + '_>> = p.iter().map(Val::pg).collect();
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|b| b.as_ref()).collect();
                let rows = blocking(|| c.query(sql, &refs)).map_err(DbFault::from)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut vals = Vec::with_capacity(r.len());
                    for (i, col) in r.columns().iter().enumerate() {
                        use postgres::types::Type;
                        let t = col.type_();
                        let v = if *t == Type::INT8 {
                            r.try_get::<_, Option<i64>>(i).map(|v| v.map_or(Val::NullI, Val::I))
                        } else if *t == Type::INT4 {
                            r.try_get::<_, Option<i32>>(i).map(|v| v.map_or(Val::NullI, |v| Val::I(v.into())))
                        } else if *t == Type::BYTEA {
                            r.try_get::<_, Option<Vec<u8>>>(i).map(|v| v.map_or(Val::NullT, Val::B))
                        } else {
                            r.try_get::<_, Option<String>>(i).map(|v| v.map_or(Val::NullT, Val::T))
                        };
                        vals.push(v.map_err(DbFault::from)?);
                    }
                    out.push(vals);
                }
                Ok(out)
            }
        }
    }

    /// Runs `f` in one transaction: all of it or none.
    fn in_tx(&mut self, f: impl FnOnce(&mut Conn) -> Result<(), DbFault>) -> Result<(), DbFault> {
        match self {
            Conn::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE").map_err(DbFault::from)?,
            Conn::Pg(c) => blocking(|| c.batch_execute("BEGIN")).map_err(DbFault::from)?,
        }
        let r = f(self);
        let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let e2 = match self {
            Conn::Sqlite(c) => c.execute_batch(end).map_err(DbFault::from),
            Conn::Pg(c) => blocking(|| c.batch_execute(end)).map_err(DbFault::from),
        };
        r.and(e2)
    }

    /// Inserts `rows` with `insert` (`INSERT INTO t (cols) VALUES`): one
    /// prepared statement per row in SQLite, multi-row statements of up
    /// to 500 rows in PostgreSQL.
    fn insert_many(&mut self, insert: &str, ncols: usize, rows: Vec<Vec<Val>>) -> Result<(), DbFault> {
        match self {
            Conn::Sqlite(_) => {
                let one = format!("{insert} ({})", (1..=ncols).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "));
                for r in rows {
                    self.exec(&one, &r)?;
                }
                Ok(())
            }
            Conn::Pg(_) => {
                for chunk in rows.chunks(500) {
                    let mut sql = String::from(insert);
                    let mut params = Vec::with_capacity(chunk.len() * ncols);
                    for (k, r) in chunk.iter().enumerate() {
                        sql.push_str(if k == 0 { " (" } else { ", (" });
                        let ph: Vec<String> = (0..ncols).map(|i| format!("${}", k * ncols + i + 1)).collect();
                        sql.push_str(&ph.join(", "));
                        sql.push(')');
                        params.extend(r.iter().cloned());
                    }
                    self.exec(&sql, &params)?;
                }
                Ok(())
            }
        }
    }
}

/// The open ledger.
pub struct Ledger {
    /// Behind a mutex so that the ledger can be shared across awaits; one
    /// task uses it at a time in practice.
    conn: std::sync::Mutex<Conn>,
    location: String,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("location", &self.location).finish()
    }
}

const TABLES: [&str; 8] = [
    "CREATE TABLE IF NOT EXISTS perf_epoch (
  epoch BIGINT PRIMARY KEY,
  digest BLOB NOT NULL,
  final BIGINT NOT NULL,
  rewards BIGINT NOT NULL,
  n_att_assigned BIGINT NOT NULL, n_att_included BIGINT NOT NULL, n_att_delay_sum BIGINT NOT NULL,
  n_att_source BIGINT NOT NULL, n_att_target BIGINT NOT NULL, n_att_head BIGINT NOT NULL,
  n_prop_assigned BIGINT NOT NULL, n_prop_made BIGINT NOT NULL,
  n_sync_assigned BIGINT NOT NULL, n_sync_included BIGINT NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS perf_validator (
  epoch BIGINT NOT NULL,
  validator BIGINT NOT NULL,
  att_assigned BIGINT NOT NULL, att_included BIGINT NOT NULL, att_delay_sum BIGINT NOT NULL,
  att_source BIGINT NOT NULL, att_target BIGINT NOT NULL, att_head BIGINT NOT NULL,
  prop_assigned BIGINT NOT NULL, prop_made BIGINT NOT NULL,
  sync_assigned BIGINT NOT NULL, sync_included BIGINT NOT NULL,
  reward_actual BIGINT, reward_ideal BIGINT,
  own TEXT,
  PRIMARY KEY (epoch, validator)
) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS perf_member (
  validator BIGINT PRIMARY KEY,
  pubkey TEXT NOT NULL,
  pool TEXT NOT NULL,
  operator TEXT NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS perf_submission (
  frame BIGINT NOT NULL,
  target TEXT NOT NULL,
  state TEXT NOT NULL,
  tx_hash TEXT,
  raw TEXT,
  nonce BIGINT,
  at BIGINT NOT NULL,
  detail TEXT NOT NULL,
  PRIMARY KEY (frame, target)
) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS perf_frames (
  id BIGINT PRIMARY KEY,
  first_epoch BIGINT NOT NULL,
  frame_epochs BIGINT NOT NULL,
  source TEXT NOT NULL
)",
    // A change log: a key's row is written when its state differs from its
    // latest row; its state at epoch E is its latest row at or before E.
    "CREATE TABLE IF NOT EXISTS perf_key_state (
  validator BIGINT NOT NULL,
  epoch BIGINT NOT NULL,
  effective_balance BIGINT NOT NULL,
  slashed BIGINT NOT NULL,
  PRIMARY KEY (validator, epoch)
) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS perf_curves (
  pool TEXT NOT NULL,
  operator TEXT NOT NULL,
  params TEXT NOT NULL,
  PRIMARY KEY (pool, operator)
)",
    "CREATE TABLE IF NOT EXISTS perf_warning (
  frame BIGINT NOT NULL,
  validator BIGINT NOT NULL,
  epoch BIGINT NOT NULL,
  at BIGINT NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (frame, validator)
) WITHOUT ROWID",
];

fn counts_of(r: &[Val], first: usize) -> Counts {
    let g = |k: usize| r.get(first + k).map_or(0, Val::u);
    Counts {
        att_assigned: g(0),
        att_included: g(1),
        att_delay_sum: g(2),
        att_source: g(3),
        att_target: g(4),
        att_head: g(5),
        prop_assigned: g(6),
        prop_made: g(7),
        sync_assigned: g(8),
        sync_included: g(9),
    }
}

fn counts_vals(c: &Counts) -> [Val; 10] {
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
    .map(int)
}

const COUNT_COLS: &str = "att_assigned, att_included, att_delay_sum, att_source, att_target, att_head, \
                          prop_assigned, prop_made, sync_assigned, sync_included";

impl Ledger {
    /// Opens (creating) the SQLite ledger in `datadir`.
    pub fn open(datadir: &Path) -> Result<Self, LedgerError> {
        Self::open_file(&datadir.join(LEDGER_FILE))
    }

    /// Opens (creating) the SQLite ledger at `path`.
    pub fn open_file(path: &Path) -> Result<Self, LedgerError> {
        let location = path.display().to_string();
        let err = |e: rusqlite::Error| LedgerError::Db { location: location.clone(), source: e.into() };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")
            .map_err(err)?;
        for t in TABLES {
            conn.execute_batch(t).map_err(err)?;
        }
        Ok(Self { conn: std::sync::Mutex::new(Conn::Sqlite(conn)), location })
    }

    /// Opens (creating its tables in) the PostgreSQL ledger at `url`.
    pub fn open_postgres(url: &str) -> Result<Self, LedgerError> {
        let location = Location::Postgres(url.to_string()).describe();
        let err = |e: postgres::Error| LedgerError::Db { location: location.clone(), source: e.into() };
        let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(err)?;
        for t in TABLES {
            let t = t.replace("BLOB", "BYTEA").replace(") WITHOUT ROWID", ")");
            client.batch_execute(&t).map_err(err)?;
        }
        Ok(Self { conn: std::sync::Mutex::new(Conn::Pg(Box::new(client))), location })
    }

    /// Opens the ledger at `loc`.
    pub fn open_at(loc: &Location) -> Result<Self, LedgerError> {
        match loc {
            Location::Dir(d) => Self::open(d),
            Location::Postgres(url) => Self::open_postgres(url),
        }
    }

    /// Opens an existing ledger read-only (the report commands).
    pub fn open_read_only(datadir: &Path) -> Result<Self, LedgerError> {
        let path = datadir.join(LEDGER_FILE);
        let location = path.display().to_string();
        let err = |e: rusqlite::Error| LedgerError::Db { location: location.clone(), source: e.into() };
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        conn.execute_batch("PRAGMA busy_timeout=5000;").map_err(err)?;
        Ok(Self { conn: std::sync::Mutex::new(Conn::Sqlite(conn)), location })
    }

    fn c(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: DbFault) -> LedgerError {
        LedgerError::Db { location: self.location.clone(), source }
    }

    fn exec(&self, sql: &str, p: &[Val]) -> Result<u64, LedgerError> {
        self.c().exec(sql, p).map_err(|e| self.err(e))
    }

    fn query(&self, sql: &str, p: &[Val]) -> Result<Vec<Vec<Val>>, LedgerError> {
        self.c().query(sql, p).map_err(|e| self.err(e))
    }

    /// Replaces the membership (one transaction).
    pub fn set_members(&mut self, members: &[Member]) -> Result<(), LedgerError> {
        let rows: Vec<Vec<Val>> = members
            .iter()
            .map(|m| vec![int(m.index), Val::T(m.pubkey.clone()), Val::T(m.pool.clone()), Val::T(m.operator.clone())])
            .collect();
        let mut c = self.c();
        c.in_tx(|c| {
            c.exec("DELETE FROM perf_member", &[])?;
            c.insert_many("INSERT INTO perf_member (validator, pubkey, pool, operator) VALUES", 4, rows)
        })
        .map_err(|e| self.err(e))
    }

    /// The membership.
    pub fn members(&self) -> Result<Vec<Member>, LedgerError> {
        Ok(self
            .query("SELECT validator, pubkey, pool, operator FROM perf_member ORDER BY validator", &[])?
            .into_iter()
            .map(|r| Member {
                index: r[0].u(),
                pubkey: r[1].t().unwrap_or_default(),
                pool: r[2].t().unwrap_or_default(),
                operator: r[3].t().unwrap_or_default(),
            })
            .collect())
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
        let e = int(v.epoch);
        let mut epoch_row =
            vec![e.clone(), Val::B(digest.to_vec()), Val::I(final_.into()), Val::I(rewards.is_some().into())];
        epoch_row.extend(counts_vals(&v.network));
        let rows: Vec<Vec<Val>> = tracked
            .iter()
            .map(|&i| {
                let c = v.by_validator.get(&i).copied().unwrap_or_default();
                let r = rewards.and_then(|r| r.get(&i));
                let mut row = vec![e.clone(), int(i)];
                row.extend(counts_vals(&c));
                row.push(r.map_or(Val::NullI, |r| Val::I(r.actual)));
                row.push(r.map_or(Val::NullI, |r| Val::I(r.ideal)));
                row.push(opt_text(own.get(&i)));
                row
            })
            .collect();
        let mut c = self.c();
        c.in_tx(|c| {
            c.exec("DELETE FROM perf_validator WHERE epoch = $1", std::slice::from_ref(&e))?;
            c.exec("DELETE FROM perf_epoch WHERE epoch = $1", std::slice::from_ref(&e))?;
            c.exec(
                "INSERT INTO perf_epoch VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &epoch_row,
            )?;
            c.insert_many(
                &format!("INSERT INTO perf_validator (epoch, validator, {COUNT_COLS}, reward_actual, reward_ideal, own) VALUES"),
                15,
                rows,
            )
        })
        .map_err(|e| self.err(e))
    }

    /// Marks epochs up to `epoch` final (never judged again).
    pub fn finalize_through(&self, epoch: u64) -> Result<(), LedgerError> {
        self.exec("UPDATE perf_epoch SET final = 1 WHERE epoch <= $1 AND final = 0", &[int(epoch)]).map(|_| ())
    }

    /// The newest judged epoch.
    pub fn last_epoch(&self) -> Result<Option<u64>, LedgerError> {
        let r = self.query("SELECT MAX(epoch) FROM perf_epoch", &[])?;
        Ok(r.first().and_then(|r| r.first()).and_then(Val::i).map(|e| e.max(0) as u64))
    }

    /// Drops every epoch before `epoch` (one transaction); the number of
    /// validator rows dropped.
    pub fn prune_before(&self, epoch: u64) -> Result<u64, LedgerError> {
        let e = int(epoch);
        let mut n = 0;
        self.c()
            .in_tx(|c| {
                n = c.exec("DELETE FROM perf_validator WHERE epoch < $1", std::slice::from_ref(&e))?;
                c.exec("DELETE FROM perf_epoch WHERE epoch < $1", std::slice::from_ref(&e)).map(|_| ())
            })
            .map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// Records the keys' states as read at epoch `epoch`: a row for each
    /// key whose state differs from its latest before `epoch`; what was
    /// read at `epoch` or later before is replaced (one transaction).
    /// Returns the rows written.
    pub fn record_key_states(&self, epoch: u64, states: &[(u64, KeyState)]) -> Result<usize, LedgerError> {
        let before = self.key_states(epoch, false)?;
        let changed: Vec<Vec<Val>> = states
            .iter()
            .filter(|(i, st)| before.get(i) != Some(st))
            .map(|(i, st)| vec![int(*i), int(epoch), int(st.effective_balance_gwei), int(u64::from(st.slashed))])
            .collect();
        let n = changed.len();
        self.c()
            .in_tx(|c| {
                c.exec("DELETE FROM perf_key_state WHERE epoch >= $1", &[int(epoch)])?;
                c.insert_many(
                    "INSERT INTO perf_key_state (validator, epoch, effective_balance, slashed) VALUES",
                    4,
                    changed,
                )
            })
            .map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// Each key's state at epoch `epoch`: its latest row at or before it,
    /// or, for a key first read later, its first row.
    pub fn key_states_at(&self, epoch: u64) -> Result<HashMap<u64, KeyState>, LedgerError> {
        self.key_states(epoch.saturating_add(1), true)
    }

    /// Each key's latest state read before `end`; with `first_after`, a key
    /// first read at `end` or later has its first state.
    fn key_states(&self, end: u64, first_after: bool) -> Result<HashMap<u64, KeyState>, LedgerError> {
        if !self.has_table("perf_key_state")? {
            return Ok(HashMap::new());
        }
        let rows = self.query(
            "SELECT validator, epoch, effective_balance, slashed FROM perf_key_state ORDER BY validator, epoch",
            &[],
        )?;
        let mut out: HashMap<u64, KeyState> = HashMap::new();
        for r in rows {
            let (index, at) = (r[0].u(), r[1].u());
            let st = KeyState { effective_balance_gwei: r[2].u(), slashed: r[3].u() != 0 };
            if at < end || (first_after && !out.contains_key(&index)) {
                out.insert(index, st);
            }
        }
        Ok(out)
    }

    /// The oldest judged epoch.
    pub fn first_epoch(&self) -> Result<Option<u64>, LedgerError> {
        let r = self.query("SELECT MIN(epoch) FROM perf_epoch", &[])?;
        Ok(r.first().and_then(|r| r.first()).and_then(Val::i).map(|e| e.max(0) as u64))
    }

    /// Judged epochs not yet final, with their digests.
    pub fn open_epochs(&self) -> Result<Vec<(u64, [u8; 32])>, LedgerError> {
        Ok(self
            .query("SELECT epoch, digest FROM perf_epoch WHERE final = 0 ORDER BY epoch", &[])?
            .into_iter()
            .map(|r| (r[0].u(), r[1].b32()))
            .collect())
    }

    /// The epoch rows in `[from, to)`.
    pub fn epochs(&self, from: u64, to: u64) -> Result<Vec<EpochRow>, LedgerError> {
        Ok(self
            .query(
                "SELECT epoch, digest, final, rewards, n_att_assigned, n_att_included, n_att_delay_sum, n_att_source, \
                 n_att_target, n_att_head, n_prop_assigned, n_prop_made, n_sync_assigned, n_sync_included \
                 FROM perf_epoch WHERE epoch >= $1 AND epoch < $2 ORDER BY epoch",
                &[int(from), int(to)],
            )?
            .into_iter()
            .map(|r| EpochRow {
                epoch: r[0].u(),
                digest: r[1].b32(),
                final_: r[2].u() != 0,
                rewards: r[3].u() != 0,
                network: counts_of(&r, 4),
            })
            .collect())
    }

    /// The validator rows of epochs `[from, to)`.
    pub fn validator_rows(&self, from: u64, to: u64) -> Result<Vec<ValidatorRow>, LedgerError> {
        Ok(self
            .query(
                &format!(
                    "SELECT epoch, validator, {COUNT_COLS}, reward_actual, reward_ideal, own FROM perf_validator \
                     WHERE epoch >= $1 AND epoch < $2 ORDER BY epoch, validator"
                ),
                &[int(from), int(to)],
            )?
            .into_iter()
            .map(|r| ValidatorRow {
                epoch: r[0].u(),
                index: r[1].u(),
                counts: counts_of(&r, 2),
                reward: r[12].i().zip(r[13].i()).map(|(actual, ideal)| Reward { actual, ideal }),
                own: r[14].t(),
            })
            .collect())
    }

    /// Per-key sums over epochs `[from, to)`, summed by the database (a
    /// frame's rows are never all loaded), with the own outcomes of the
    /// missed duties of the range's last 64 epochs.
    pub fn validator_sums(&self, from: u64, to: u64) -> Result<HashMap<u64, KeySum>, LedgerError> {
        let sums = COUNT_COLS.split(", ").map(|c| format!("CAST(SUM({c}) AS BIGINT)")).collect::<Vec<_>>().join(", ");
        let rows = self.query(
            &format!(
                "SELECT validator, {sums}, CAST(SUM(reward_actual) AS BIGINT), CAST(SUM(reward_ideal) AS BIGINT),                  COUNT(reward_actual) FROM perf_validator WHERE epoch >= $1 AND epoch < $2 GROUP BY validator"
            ),
            &[int(from), int(to)],
        )?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let rewards = (r[13].u() > 0).then(|| (r[11].i().unwrap_or(0), r[12].i().unwrap_or(0)));
            out.insert(r[0].u(), KeySum { counts: counts_of(&r, 1), rewards, misses: Vec::new() });
        }
        let recent = from.max(to.saturating_sub(64));
        let missed = self.query(
            "SELECT epoch, validator, own FROM perf_validator WHERE epoch >= $1 AND epoch < $2 AND              (att_assigned > att_included OR prop_assigned > prop_made) ORDER BY epoch, validator",
            &[int(recent), int(to)],
        )?;
        for r in missed {
            if let Some(k) = out.get_mut(&r[1].u()) {
                k.misses.push(format!(
                    "epoch {}: {}",
                    r[0].u(),
                    r[2].t().as_deref().unwrap_or("no duty outcome recorded by this poolvc")
                ));
                if k.misses.len() > MISSES_KEPT {
                    k.misses.remove(0);
                }
            }
        }
        Ok(out)
    }

    /// Records the first warning of `frame` for `validator`; `false` if one
    /// was recorded already (a restart does not warn twice).
    pub fn warn_once(&self, frame: u64, validator: u64, epoch: u64, at: u64, text: &str) -> Result<bool, LedgerError> {
        self.exec(
            "INSERT INTO perf_warning VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[int(frame), int(validator), int(epoch), int(at), Val::T(text.to_string())],
        )
        .map(|n| n == 1)
    }

    /// The warnings of `frame`: (validator, epoch, unix time, text).
    pub fn warnings(&self, frame: u64) -> Result<Vec<(u64, u64, u64, String)>, LedgerError> {
        Ok(self
            .query(
                "SELECT validator, epoch, at, text FROM perf_warning WHERE frame = $1 ORDER BY validator",
                &[int(frame)],
            )?
            .into_iter()
            .map(|r| (r[0].u(), r[1].u(), r[2].u(), r[3].t().unwrap_or_default()))
            .collect())
    }

    fn submission_of(r: &[Val]) -> Submission {
        Submission {
            frame: r[0].u(),
            target: r[1].t().unwrap_or_default(),
            state: r[2].t().unwrap_or_default(),
            tx_hash: r[3].t(),
            raw: r[4].t(),
            nonce: r[5].i().map(|n| n.max(0) as u64),
            at: r[6].u(),
            detail: r[7].t().unwrap_or_default(),
        }
    }

    /// The submission of `frame` to `target`, if one was made.
    pub fn submission(&self, frame: u64, target: &str) -> Result<Option<Submission>, LedgerError> {
        Ok(self
            .query(
                "SELECT frame, target, state, tx_hash, raw, nonce, at, detail FROM perf_submission \
                 WHERE frame = $1 AND target = $2",
                &[int(frame), Val::T(target.to_string())],
            )?
            .first()
            .map(|r| Self::submission_of(r)))
    }

    /// Records a submission's state (replacing the previous one). Written
    /// before a transaction is sent, so that a restart finds it.
    pub fn set_submission(&self, s: &Submission) -> Result<(), LedgerError> {
        self.exec(
            "INSERT INTO perf_submission VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (frame, target) DO UPDATE SET \
             state = excluded.state, tx_hash = excluded.tx_hash, raw = excluded.raw, nonce = excluded.nonce, \
             at = excluded.at, detail = excluded.detail",
            &[
                int(s.frame),
                Val::T(s.target.clone()),
                Val::T(s.state.clone()),
                opt_text(s.tx_hash.as_ref()),
                opt_text(s.raw.as_ref()),
                s.nonce.map_or(Val::NullI, int),
                int(s.at),
                Val::T(s.detail.clone()),
            ],
        )
        .map(|_| ())
    }

    /// Records the frames the client cuts by (`first_epoch`, `frame_epochs`)
    /// and where they came from, for the readers of the ledger (`poolvc
    /// pool report`, the pool API) to cut the same.
    pub fn set_frames(&self, first_epoch: u64, frame_epochs: u64, source: &str) -> Result<(), LedgerError> {
        self.exec(
            "INSERT INTO perf_frames VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
             first_epoch = excluded.first_epoch, frame_epochs = excluded.frame_epochs, source = excluded.source",
            &[int(first_epoch), int(frame_epochs), Val::T(source.to_string())],
        )
        .map(|_| ())
    }

    /// Whether table `name` exists: a ledger from an older poolvc opened
    /// read-only has not had its newer tables made (PostgreSQL ledgers are
    /// always opened writable, their tables made).
    fn has_table(&self, name: &str) -> Result<bool, LedgerError> {
        if let Conn::Sqlite(c) = &*self.c() {
            let n = c
                .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| self.err(e.into()))?;
            return Ok(n > 0);
        }
        Ok(true)
    }

    /// Records the operators' bond-curve parameters the client judges by
    /// (replacing the last record, one transaction), for the readers of the
    /// ledger to judge the same.
    pub fn set_curves(&self, curves: &BTreeMap<String, BTreeMap<String, CurveParams>>) -> Result<(), LedgerError> {
        let mut rows = Vec::new();
        for (pool, ops) in curves {
            for (op, c) in ops {
                let json =
                    serde_json::to_string(c).map_err(|e| LedgerError::Corrupt { what: format!("curve: {e}") })?;
                rows.push(vec![Val::T(pool.clone()), Val::T(op.clone()), Val::T(json)]);
            }
        }
        self.c()
            .in_tx(|c| {
                c.exec("DELETE FROM perf_curves", &[])?;
                c.insert_many("INSERT INTO perf_curves (pool, operator, params) VALUES", 3, rows)
            })
            .map_err(|e| self.err(e))
    }

    /// The curves last recorded by [`Ledger::set_curves`] (none in a ledger
    /// that predates the record).
    pub fn curves(&self) -> Result<BTreeMap<String, BTreeMap<String, CurveParams>>, LedgerError> {
        let mut out: BTreeMap<String, BTreeMap<String, CurveParams>> = BTreeMap::new();
        if !self.has_table("perf_curves")? {
            return Ok(out);
        }
        for r in self.query("SELECT pool, operator, params FROM perf_curves", &[])? {
            let (pool, op, json) =
                (r[0].t().unwrap_or_default(), r[1].t().unwrap_or_default(), r[2].t().unwrap_or_default());
            let c: CurveParams = serde_json::from_str(&json)
                .map_err(|e| LedgerError::Corrupt { what: format!("perf_curves {pool}/{op}: {e}") })?;
            out.entry(pool).or_default().insert(op, c);
        }
        Ok(out)
    }

    /// The frames last recorded by [`Ledger::set_frames`]; `None` when none
    /// were (or the ledger predates the record: opened read-only, it has no
    /// such table).
    pub fn frames(&self) -> Result<Option<(u64, u64)>, LedgerError> {
        if !self.has_table("perf_frames")? {
            return Ok(None);
        }
        let r = self.query("SELECT first_epoch, frame_epochs FROM perf_frames WHERE id = 1", &[])?;
        Ok(r.first().and_then(|row| {
            let first = row.first().and_then(Val::i)?;
            let len = row.get(1).and_then(Val::i)?;
            (first >= 0 && len > 0).then_some((first as u64, len as u64))
        }))
    }

    /// Every submission, oldest frame first.
    pub fn submissions(&self) -> Result<Vec<Submission>, LedgerError> {
        Ok(self
            .query(
                "SELECT frame, target, state, tx_hash, raw, nonce, at, detail FROM perf_submission ORDER BY frame",
                &[],
            )?
            .iter()
            .map(|r| Self::submission_of(r))
            .collect())
    }

    /// Whether `epoch` was judged.
    pub fn has_epoch(&self, epoch: u64) -> Result<bool, LedgerError> {
        Ok(!self.query("SELECT 1 FROM perf_epoch WHERE epoch = $1", &[int(epoch)])?.is_empty())
    }
}

impl FrameSource for Ledger {
    fn frame_data(&self, from: u64, to: u64) -> Result<FrameData, LedgerError> {
        Ok(FrameData {
            epochs: self.epochs(from, to)?,
            keys: self.validator_sums(from, to)?,
            states: self.key_states_at(to.saturating_sub(1))?,
        })
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
        let loc = Location::Dir(dir.path().to_path_buf());
        same_rules(&loc);
    }

    /// The same in PostgreSQL (`POOLVC_TEST_POSTGRES_URL`; required in CI).
    #[test]
    fn the_postgres_ledger_keeps_the_same_rules() {
        let Ok(url) = std::env::var("POOLVC_TEST_POSTGRES_URL") else {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI runs the PostgreSQL ledger test");
            return;
        };
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(
            "DROP TABLE IF EXISTS perf_epoch, perf_validator, perf_member, perf_submission, perf_warning, perf_frames, \
             perf_key_state, perf_curves",
        )
        .unwrap();
        same_rules(&Location::Postgres(url));
    }

    fn same_rules(loc: &Location) {
        let mut l = Ledger::open_at(loc).unwrap();
        let members = vec![Member { index: 5, pubkey: "0x05".into(), pool: "lido-csm".into(), operator: "7".into() }];
        l.set_members(&members).unwrap();
        l.set_members(&members).unwrap();
        assert_eq!(l.members().unwrap(), members);
        let own = HashMap::from([(5u64, "attestation:published".to_string())]);
        l.record_epoch(&verdict(3, false), [1; 32], false, &[5], None, &own).unwrap();
        // A reorg: epoch 3 judged again from other blocks.
        let rewards = HashMap::from([(5u64, Reward { actual: -3, ideal: 10 })]);
        l.record_epoch(&verdict(3, true), [2; 32], false, &[5], Some(&rewards), &own).unwrap();
        drop(l);
        let mut l = Ledger::open_at(loc).unwrap();
        let rows = l.validator_rows(0, 10).unwrap();
        assert_eq!(rows.len(), 1, "one row per (epoch, validator), never two");
        assert_eq!(rows[0].counts.att_included, 1);
        assert_eq!(rows[0].own.as_deref(), Some("attestation:published"));
        assert_eq!(l.open_epochs().unwrap(), vec![(3, [2; 32])]);
        l.finalize_through(3).unwrap();
        assert!(l.open_epochs().unwrap().is_empty());
        assert_eq!(l.epochs(0, 10).unwrap()[0].network.att_assigned, 2);
        assert_eq!(l.last_epoch().unwrap(), Some(3));
        // The frames the client cut by: none recorded, then the last one.
        assert_eq!(l.frames().unwrap(), None);
        l.set_frames(0, 6300, "pools.yaml").unwrap();
        l.set_frames(2, 4, "HashConsensus 0x01").unwrap();
        assert_eq!(l.frames().unwrap(), Some((2, 4)));
        assert!(l.warn_once(0, 5, 3, 100, "x").unwrap());
        assert!(!l.warn_once(0, 5, 4, 200, "y").unwrap());
        assert_eq!(l.warnings(0).unwrap(), vec![(5, 3, 100, "x".to_string())]);
        assert_eq!(rows[0].reward, Some(Reward { actual: -3, ideal: 10 }));
        assert!(l.epochs(0, 10).unwrap()[0].rewards);
        let mut sub = Submission {
            frame: 2,
            target: "report:0xabc:0xdef".into(),
            state: "sent".into(),
            tx_hash: Some("0x11".into()),
            raw: Some("0x02aa".into()),
            nonce: Some(4),
            at: 9,
            detail: "d".into(),
        };
        l.set_submission(&sub).unwrap();
        sub.state = "mined".into();
        l.set_submission(&sub).unwrap();
        assert_eq!(l.submission(2, "report:0xabc:0xdef").unwrap(), Some(sub.clone()));
        assert_eq!(l.submissions().unwrap(), vec![sub]);
        assert!(l.submission(3, "report:0xabc:0xdef").unwrap().is_none());
        assert!(l.has_epoch(3).unwrap() && !l.has_epoch(4).unwrap());
        running_sums_equal_the_database_s(&mut l);
        assert_eq!(l.prune_before(11).unwrap(), 3, "epochs 3 and 10 go");
        assert_eq!(l.first_epoch().unwrap(), Some(11));
        key_states_are_a_change_log(&l);
        // The curves the client judged by, for the ledger's readers.
        assert!(l.curves().unwrap().is_empty());
        let ics = CurveParams {
            curve_id: 2,
            weights: [54, 4, 2],
            leeway_bp: vec![[1, 500], [151, 300]],
            reward_share_bp: vec![[1, 10_000], [17, 5_834]],
            strike_threshold: 4,
            strike_lifetime_frames: 6,
        };
        let curves = BTreeMap::from([("lido-csm".to_string(), BTreeMap::from([("0".to_string(), ics)]))]);
        l.set_curves(&curves).unwrap();
        l.set_curves(&curves).unwrap();
        assert_eq!(l.curves().unwrap(), curves);
    }

    /// Key states: only changes are written, a state is read as of an
    /// epoch, and a re-read of an epoch replaces it.
    fn key_states_are_a_change_log(l: &Ledger) {
        let st = |eth: u64, slashed| KeyState { effective_balance_gwei: eth * 1_000_000_000, slashed };
        assert_eq!(l.record_key_states(10, &[(5, st(32, false)), (6, st(32, false))]).unwrap(), 2);
        assert_eq!(l.record_key_states(20, &[(5, st(32, false)), (6, st(64, false))]).unwrap(), 1, "6 grew");
        assert_eq!(l.record_key_states(30, &[(5, st(32, true)), (6, st(64, false))]).unwrap(), 1, "5 slashed");
        assert_eq!(l.key_states_at(25).unwrap(), HashMap::from([(5, st(32, false)), (6, st(64, false))]));
        assert_eq!(l.key_states_at(30).unwrap()[&5], st(32, true));
        // Before its first read, a key's first state stands.
        assert_eq!(l.key_states_at(3).unwrap()[&6], st(32, false));
        // Epoch 30 read again: the slashing was a misread; a key first read
        // at 30 keeps its row.
        assert_eq!(l.record_key_states(30, &[(7, st(32, false))]).unwrap(), 1);
        assert_eq!(l.record_key_states(30, &[(5, st(32, false)), (7, st(32, false))]).unwrap(), 1);
        assert_eq!(l.key_states_at(30).unwrap()[&7], st(32, false));
        assert_eq!(l.key_states_at(99).unwrap()[&5], st(32, false));
        assert_eq!(l.frame_data(20, 31).unwrap().states[&6], st(64, false));
    }

    /// The service's running sums (epochs added, one judged again) equal
    /// what the database sums.
    fn running_sums_equal_the_database_s(l: &mut Ledger) {
        use super::super::frames::{FrameData, FrameSource};
        let mut acc = FrameData::default();
        let own = HashMap::from([(6u64, "attestation refused (slot 81): x".to_string())]);
        for (e, inc) in [(10u64, true), (11, false)] {
            let v = verdict(e, inc);
            l.record_epoch(&v, [e as u8; 32], false, &[5, 6], None, &own).unwrap();
            acc.add_epoch(l.epochs(e, e + 1).unwrap().remove(0), &l.validator_rows(e, e + 1).unwrap());
        }
        // Epoch 11 judged again: validator 5 included after all; 6 missed.
        let old = l.validator_rows(11, 12).unwrap();
        let mut v = verdict(11, true);
        v.by_validator.insert(6, Counts { att_assigned: 1, ..Default::default() });
        l.record_epoch(&v, [9; 32], false, &[5, 6], None, &own).unwrap();
        acc.remove_epoch(11, &old);
        acc.add_epoch(l.epochs(11, 12).unwrap().remove(0), &l.validator_rows(11, 12).unwrap());
        let db = l.frame_data(10, 12).unwrap();
        assert_eq!(acc, db);
        assert_eq!(db.keys[&5].counts.att_included, 2);
        assert_eq!(db.keys[&6].misses, vec!["epoch 11: attestation refused (slot 81): x".to_string()]);
    }
}
