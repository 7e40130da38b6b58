//! The lease table's operations, each one PostgreSQL transaction. Times
//! are the database's (`now()`): instances' clocks never decide who holds a
//! lease.
//!
//! Invariants kept here:
//! - a lease changes holder only when it is free (never held, released, or
//!   expired by the database's clock), and every change of holder raises its
//!   lease epoch (the fencing token the slashing transaction checks);
//! - a key is in at most one shard (`poolvc_shard_keys.pubkey` is the key);
//! - a move locks the shard rows it touches, so it waits for every slashing
//!   transaction signing under them, and those after it see the new shard.

use poolvc_signer::slashing::fence::{HeldLease, LEASE_SCHEMA};
use poolvc_signer::types::PublicKeyBytes;
use postgres::{Client, NoTls};
use std::time::Duration;

/// Errors of the lease table.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// PostgreSQL failed or refused.
    #[error("lease table: {source}")]
    Postgres {
        /// The database's error.
        #[from]
        source: postgres::Error,
    },
    /// A key to add is already in another shard.
    #[error("key {pubkey} is already in shard {shard:?} (move it with `poolvc keys move`)")]
    InOtherShard {
        /// The key.
        pubkey: PublicKeyBytes,
        /// Its shard.
        shard: String,
    },
    /// Keys to move are in no shard.
    #[error("{count} of the keys to move are in no shard (the first: {first}); add them with `poolvc keys assign`")]
    NotInAnyShard {
        /// How many.
        count: usize,
        /// The first of them.
        first: PublicKeyBytes,
    },
    /// No such shard.
    #[error("no shard named {shard:?} (shards: {known})")]
    UnknownShard {
        /// The name asked for.
        shard: String,
        /// The shards there are.
        known: String,
    },
    /// The blocking task running a lease call died.
    #[error("lease task: {reason}")]
    Task {
        /// Why.
        reason: String,
    },
    /// A shard name that is empty or too long.
    #[error("shard name {name:?}: 1 to 64 characters of letters, digits, '-', '_' or '.'")]
    BadName {
        /// The name.
        name: String,
    },
}

/// A shard as `poolvc keys shards` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShardRow {
    /// Its name.
    pub shard: String,
    /// Who holds its lease (`None`: nobody, or released).
    pub holder: Option<String>,
    /// Its lease epoch (raised by every change of holder).
    pub lease_epoch: i64,
    /// Milliseconds until the lease expires (negative: expired).
    pub expires_in_ms: i64,
    /// Keys in it.
    pub keys: i64,
    /// Membership version (raised by every change of its keys).
    pub members: i64,
}

/// A lease taken or renewed: the lease and its membership version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The lease.
    pub lease: HeldLease,
    /// The shard's membership version.
    pub members: i64,
    /// Who held it before (on a takeover), if anyone.
    pub previous: Option<String>,
}

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    /// Keys moved.
    pub moved: usize,
    /// Keys already in the destination.
    pub already: usize,
    /// Keys moved out of each shard.
    pub from: Vec<(String, usize)>,
}

/// The channel instances listen on for membership changes.
pub const CHANNEL: &str = "poolvc_shards";

/// A connection to the lease table.
pub struct LeaseTable {
    /// `None` only while it is dropped.
    client: Option<Client>,
}

impl Drop for LeaseTable {
    /// Closing the connection blocks: on an async thread, it closes on a
    /// thread of its own.
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(c));
            }
        }
    }
}

impl std::fmt::Debug for LeaseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeaseTable")
    }
}

fn check_name(name: &str) -> Result<(), LeaseError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LeaseError::BadName { name: name.to_string() })
    }
}

fn pubkey_of(v: &[u8]) -> Option<PublicKeyBytes> {
    <[u8; 48]>::try_from(v).ok().map(PublicKeyBytes::from)
}

/// A row of `shard, lease_epoch, members, previous holder`.
fn granted(r: &postgres::Row) -> Granted {
    Granted { lease: HeldLease { shard: r.get(0), epoch: r.get(1) }, members: r.get(2), previous: r.get(3) }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl LeaseTable {
    /// Connects and creates the lease tables if needed.
    pub fn connect(url: &str) -> Result<Self, LeaseError> {
        let mut client = Client::connect(url, NoTls)?;
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock(7044307600)", &[])?;
        tx.batch_execute(LEASE_SCHEMA)?;
        tx.commit()?;
        Ok(Self { client: Some(client) })
    }

    fn client(&mut self) -> Result<&mut Client, LeaseError> {
        self.client.as_mut().ok_or(LeaseError::Task { reason: "the connection is closed".into() })
    }

    /// Adds `pubkeys` to `shard` (created if new). A key already there is
    /// kept; a key in another shard refuses the whole call.
    pub fn assign(&mut self, shard: &str, pubkeys: &[PublicKeyBytes]) -> Result<usize, LeaseError> {
        check_name(shard)?;
        let keys: Vec<Vec<u8>> = pubkeys.iter().map(|p| p.to_vec()).collect();
        let mut tx = self.client()?.transaction()?;
        tx.execute("INSERT INTO poolvc_shards (shard) VALUES ($1) ON CONFLICT (shard) DO NOTHING", &[&shard])?;
        tx.query("SELECT 1 FROM poolvc_shards WHERE shard = $1 FOR UPDATE", &[&shard])?;
        if let Some(r) = tx.query_opt(
            "SELECT pubkey, shard FROM poolvc_shard_keys WHERE pubkey = ANY($1) AND shard <> $2 LIMIT 1",
            &[&keys, &shard],
        )? {
            let pubkey = pubkey_of(r.get(0)).unwrap_or(PublicKeyBytes::from([0u8; 48]));
            return Err(LeaseError::InOtherShard { pubkey, shard: r.get(1) });
        }
        let added = tx.execute(
            "INSERT INTO poolvc_shard_keys (pubkey, shard) SELECT k, $2 FROM UNNEST($1::bytea[]) AS k
             ON CONFLICT (pubkey) DO NOTHING",
            &[&keys, &shard],
        )?;
        tx.execute("UPDATE poolvc_shards SET members = members + 1 WHERE shard = $1", &[&shard])?;
        tx.execute(&format!("NOTIFY {CHANNEL}"), &[])?;
        tx.commit()?;
        Ok(added as usize)
    }

    /// Renews the leases `holder` holds of `held`; those it no longer
    /// holds (expired, taken) are left out of the answer.
    pub fn renew(&mut self, holder: &str, held: &[HeldLease], ttl: Duration) -> Result<Vec<Granted>, LeaseError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let shards: Vec<&str> = held.iter().map(|h| h.shard.as_str()).collect();
        let epochs: Vec<i64> = held.iter().map(|h| h.epoch).collect();
        let rows = self.client()?.query(
            "UPDATE poolvc_shards SET expires_at = now() + make_interval(secs => $4)
             WHERE holder = $1 AND expires_at > now()
               AND (shard, lease_epoch) IN (SELECT * FROM UNNEST($2::text[], $3::bigint[]))
             RETURNING shard, lease_epoch, members, NULL::text",
            &[&holder, &shards, &epochs, &(ms(ttl) / 1000.0)],
        )?;
        Ok(rows.iter().map(granted).collect())
    }

    /// Takes free leases for `holder`, each under a raised lease epoch:
    /// those of `preferred`, and with `standby` any other that was held
    /// before (a shard nobody has held yet waits for its own instance).
    /// Free: never held, released, or expired by the database's clock.
    pub fn acquire(
        &mut self,
        holder: &str,
        preferred: &[String],
        standby: bool,
        ttl: Duration,
    ) -> Result<Vec<Granted>, LeaseError> {
        let rows = self.client()?.query(
            "WITH free AS (
                 SELECT shard, holder AS previous FROM poolvc_shards
                 WHERE (holder IS NULL OR expires_at <= now())
                   AND (shard = ANY($2) OR ($4 AND lease_epoch > 0))
                 ORDER BY shard FOR UPDATE)
             UPDATE poolvc_shards s
             SET holder = $1, lease_epoch = s.lease_epoch + 1, expires_at = now() + make_interval(secs => $3)
             FROM free WHERE s.shard = free.shard
             RETURNING s.shard, s.lease_epoch, s.members, free.previous",
            &[&holder, &preferred, &(ms(ttl) / 1000.0), &standby],
        )?;
        Ok(rows.iter().map(granted).collect())
    }

    /// Gives up `held` (a clean stop): free at once for a standby.
    pub fn release(&mut self, holder: &str, held: &[HeldLease]) -> Result<usize, LeaseError> {
        let shards: Vec<&str> = held.iter().map(|h| h.shard.as_str()).collect();
        let epochs: Vec<i64> = held.iter().map(|h| h.epoch).collect();
        let n = self.client()?.execute(
            "UPDATE poolvc_shards SET holder = NULL, expires_at = now()
             WHERE holder = $1 AND (shard, lease_epoch) IN (SELECT * FROM UNNEST($2::text[], $3::bigint[]))",
            &[&holder, &shards, &epochs],
        )?;
        Ok(n as usize)
    }

    /// The keys of `shard`.
    pub fn members(&mut self, shard: &str) -> Result<Vec<PublicKeyBytes>, LeaseError> {
        let rows = self.client()?.query("SELECT pubkey FROM poolvc_shard_keys WHERE shard = $1", &[&shard])?;
        Ok(rows.iter().filter_map(|r| pubkey_of(r.get(0))).collect())
    }

    /// Moves `pubkeys` into shard `to`, in one transaction that locks every
    /// shard row involved (in name order): signing under the old shard's
    /// lease ends, and under the new one begins, at its commit.
    pub fn move_keys(&mut self, pubkeys: &[PublicKeyBytes], to: &str) -> Result<Moved, LeaseError> {
        let keys: Vec<Vec<u8>> = pubkeys.iter().map(|p| p.to_vec()).collect();
        let mut tx = self.client()?.transaction()?;
        let known: Vec<String> =
            tx.query("SELECT shard FROM poolvc_shards ORDER BY shard", &[])?.iter().map(|r| r.get(0)).collect();
        if !known.iter().any(|s| s == to) {
            return Err(LeaseError::UnknownShard { shard: to.to_string(), known: known.join(", ") });
        }
        // Every shard row locked, in name order (a move never deadlocks
        // with another move; slashing transactions only share-lock them).
        tx.query("SELECT 1 FROM poolvc_shards ORDER BY shard FOR UPDATE", &[])?;
        let found = tx.query("SELECT pubkey, shard FROM poolvc_shard_keys WHERE pubkey = ANY($1)", &[&keys])?;
        if found.len() < {
            let mut k = keys.clone();
            k.sort();
            k.dedup();
            k.len()
        } {
            let have: std::collections::HashSet<Vec<u8>> = found.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect();
            let missing: Vec<&PublicKeyBytes> = pubkeys.iter().filter(|p| !have.contains(&p.to_vec())).collect();
            return Err(LeaseError::NotInAnyShard {
                count: missing.len(),
                first: missing.first().map(|p| **p).unwrap_or(PublicKeyBytes::from([0u8; 48])),
            });
        }
        let mut from: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        let mut already = 0;
        for r in &found {
            let s: String = r.get(1);
            if s == to {
                already += 1;
            } else {
                *from.entry(s).or_default() += 1;
            }
        }
        let moved = tx
            .execute("UPDATE poolvc_shard_keys SET shard = $2 WHERE pubkey = ANY($1) AND shard <> $2", &[&keys, &to])?
            as usize;
        let touched: Vec<&str> = from.keys().map(String::as_str).chain(std::iter::once(to)).collect();
        tx.execute("UPDATE poolvc_shards SET members = members + 1 WHERE shard = ANY($1)", &[&touched])?;
        tx.execute(&format!("NOTIFY {CHANNEL}"), &[])?;
        tx.commit()?;
        Ok(Moved { moved, already, from: from.into_iter().collect() })
    }

    /// Every shard, by name.
    pub fn list(&mut self) -> Result<Vec<ShardRow>, LeaseError> {
        let rows = self.client()?.query(
            "SELECT s.shard, s.holder, s.lease_epoch,
                    (EXTRACT(EPOCH FROM (s.expires_at - now())) * 1000)::bigint,
                    (SELECT COUNT(*) FROM poolvc_shard_keys k WHERE k.shard = s.shard), s.members
             FROM poolvc_shards s ORDER BY s.shard",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| ShardRow {
                shard: r.get(0),
                holder: r.get(1),
                lease_epoch: r.get(2),
                expires_in_ms: r.get(3),
                keys: r.get(4),
                members: r.get(5),
            })
            .collect())
    }

    /// Starts listening for membership changes on this connection.
    pub fn listen(&mut self) -> Result<(), LeaseError> {
        self.client()?.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(())
    }

    /// Waits up to `timeout` for a membership change; whether one came
    /// (every pending one is taken).
    pub fn wait_for_change(&mut self, timeout: Duration) -> Result<bool, LeaseError> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut n = self.client()?.notifications();
        let mut seen = n.timeout_iter(timeout).next()?.is_some();
        while n.iter().next()?.is_some() {
            seen = true;
        }
        Ok(seen)
    }
}
