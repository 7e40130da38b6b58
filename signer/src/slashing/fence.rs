//! Leased key shards, as the slashing transaction sees them (PostgreSQL).
//!
//! Keys are grouped in shards (`poolvc_shard_keys`); an instance signs for a
//! shard's keys only while it holds the shard's lease (`poolvc_shards`:
//! holder, lease epoch, expiry in the database's own clock). The lease epoch
//! is a fencing token: every takeover raises it.
//!
//! Invariant kept here: a slashable message of a sharded key is recorded (and
//! so signed) only in a transaction that finds, in the database, this
//! instance holding the key's shard under the lease epoch it believes it
//! holds, unexpired by the database's clock, and that keeps the shard row
//! share-locked until it commits. A takeover or a move updates that row, so
//! it waits for such a transaction, and every transaction after it finds the
//! new holder: a stale holder's insert is refused, never interleaved.

use crate::types::PublicKeyBytes;
use postgres::Transaction;
use std::collections::HashSet;
use std::sync::RwLock;

/// The lease tables (created with the slashing schema when leases are on).
pub const LEASE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS poolvc_shards (
    shard TEXT PRIMARY KEY,
    holder TEXT,
    lease_epoch BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    members BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS poolvc_shard_keys (
    pubkey BYTEA PRIMARY KEY,
    shard TEXT NOT NULL REFERENCES poolvc_shards(shard)
);
CREATE INDEX IF NOT EXISTS poolvc_shard_keys_by_shard ON poolvc_shard_keys (shard);
";

/// A lease held: the shard and its lease epoch (the fencing token).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeldLease {
    /// The shard's name.
    pub shard: String,
    /// The lease epoch this instance took it under.
    pub epoch: i64,
}

/// What this instance believes it holds; the lease service writes it, the
/// slashing transaction checks it against the database.
#[derive(Debug)]
pub struct Fence {
    holder: String,
    held: RwLock<Vec<HeldLease>>,
}

impl Fence {
    /// A fence for the instance named `holder`, holding nothing yet.
    pub fn new(holder: impl Into<String>) -> Self {
        Self { holder: holder.into(), held: RwLock::new(Vec::new()) }
    }

    /// The instance's name in the lease table.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Replaces the leases held.
    pub fn set(&self, held: Vec<HeldLease>) {
        match self.held.write() {
            Ok(mut h) => *h = held,
            Err(p) => *p.into_inner() = held,
        }
    }

    /// The leases held.
    pub fn held(&self) -> Vec<HeldLease> {
        match self.held.read() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Inside a slashing transaction: which of `pubkeys` this instance may
    /// sign for now (see the module's invariant). Their shard rows stay
    /// share-locked until the transaction ends. A key in no shard is not
    /// admitted: with leases on, every key signs under one.
    pub(crate) fn admitted(
        &self,
        tx: &mut Transaction<'_>,
        pubkeys: &[PublicKeyBytes],
    ) -> Result<HashSet<PublicKeyBytes>, postgres::Error> {
        let held = self.held();
        if held.is_empty() {
            return Ok(HashSet::new());
        }
        let mut keys: Vec<Vec<u8>> = pubkeys.iter().map(|p| p.to_vec()).collect();
        keys.sort();
        keys.dedup();
        let shards: Vec<&str> = held.iter().map(|h| h.shard.as_str()).collect();
        let epochs: Vec<i64> = held.iter().map(|h| h.epoch).collect();
        let rows = tx.query(
            "SELECT k.pubkey FROM poolvc_shard_keys k JOIN poolvc_shards s ON s.shard = k.shard
             WHERE k.pubkey = ANY($1) AND s.holder = $2 AND s.expires_at > now()
               AND (s.shard, s.lease_epoch) IN (SELECT * FROM UNNEST($3::text[], $4::bigint[]))
             ORDER BY s.shard
             FOR SHARE OF s",
            &[&keys, &self.holder, &shards, &epochs],
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| <[u8; 48]>::try_from(r.get::<_, &[u8]>(0)).ok().map(PublicKeyBytes::from))
            .collect())
    }
}
