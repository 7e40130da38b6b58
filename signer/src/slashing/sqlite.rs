//! The embedded SQLite backend: one file in the data dir, WAL journal,
//! `synchronous=FULL` (a commit is on disk when it returns), one
//! `BEGIN IMMEDIATE` transaction per batch.
//!
//! A batch of N attestations costs three statements, whatever N: one read of
//! the relevant history of all the batch's validators (`rarray` of ids;
//! only rows with `target >= min source` or `source > min source` can
//! conflict), one read of their watermarks, and the inserts (one prepared
//! statement). The checks run in memory with [`super::rules`].

use super::interchange::{Interchange, InterchangeAttestation, InterchangeBlock, InterchangeData, InterchangeMetadata};
use super::rules::{check_attestation, check_block, AttRow, BlockRow, Watermarks};
use super::NotSafe;
use super::{to_i64, AttestationRecord, BlockRecord, ImportSummary, Safe, SlashingDatabase, SlashingError, Verdict};
use crate::types::{Hash256, PublicKeyBytes};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Mutex;

/// The file name Lighthouse uses, kept for familiarity.
pub const SQLITE_FILE: &str = "slashing_protection.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metadata (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS validators (
    id INTEGER PRIMARY KEY,
    pubkey BLOB NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS signed_blocks (
    validator_id INTEGER NOT NULL REFERENCES validators(id),
    slot INTEGER NOT NULL,
    signing_root BLOB,
    imported INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (validator_id, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signed_attestations (
    validator_id INTEGER NOT NULL REFERENCES validators(id),
    source_epoch INTEGER NOT NULL,
    target_epoch INTEGER NOT NULL,
    signing_root BLOB,
    imported INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (validator_id, target_epoch)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS signed_attestations_source ON signed_attestations (validator_id, source_epoch);
CREATE TABLE IF NOT EXISTS watermarks (
    validator_id INTEGER PRIMARY KEY REFERENCES validators(id),
    block_slot INTEGER,
    att_source INTEGER,
    att_target INTEGER
);
";

/// The SQLite slashing-protection database.
pub struct SqliteSlashingDb {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteSlashingDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteSlashingDb")
    }
}

fn root_blob(r: &Option<Hash256>) -> Option<Vec<u8>> {
    r.map(|h| h.to_vec())
}

fn blob_root(b: Option<Vec<u8>>) -> Result<Option<Hash256>, SlashingError> {
    match b {
        None => Ok(None),
        Some(v) if v.len() == 32 => Ok(Some(Hash256::from_slice(&v))),
        Some(v) => Err(SlashingError::Corrupt(format!("signing root of {} bytes", v.len()))),
    }
}

fn ids_array(ids: &[i64]) -> Rc<Vec<rusqlite::types::Value>> {
    Rc::new(ids.iter().map(|i| rusqlite::types::Value::Integer(*i)).collect())
}

impl SqliteSlashingDb {
    /// Opens (creating if needed) the database at `path` for the network with
    /// `genesis_validators_root`; refuses a database made for another network.
    pub fn open(path: &Path, genesis_validators_root: Hash256) -> Result<Self, SlashingError> {
        let db = Self::open_existing_or_new(path)?;
        {
            let conn = db.conn.lock().map_err(|_| SlashingError::Poisoned)?;
            let stored: Option<Vec<u8>> = conn
                .query_row("SELECT value FROM metadata WHERE key = 'genesis_validators_root'", [], |r| r.get(0))
                .optional()?;
            match stored {
                Some(v) if v.as_slice() != genesis_validators_root.as_slice() => {
                    return Err(SlashingError::GenesisMismatch {
                        file: genesis_validators_root,
                        database: blob_root(Some(v))?.unwrap_or_default(),
                    });
                }
                Some(_) => {}
                None => {
                    conn.execute(
                        "INSERT INTO metadata (key, value) VALUES ('genesis_validators_root', ?1)",
                        params![genesis_validators_root.to_vec()],
                    )?;
                }
            }
        }
        Ok(db)
    }

    /// Opens a database without fixing its network (for export of an existing file).
    pub fn open_existing_or_new(path: &Path) -> Result<Self, SlashingError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // 64 MiB of page cache: a slot's batch touches one index page per validator.
        conn.pragma_update(None, "cache_size", -65_536)?;
        rusqlite::vtab::array::load_module(&conn)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, SlashingError> {
        self.conn.lock().map_err(|_| SlashingError::Poisoned)
    }
}

/// Looks up `(id, enabled)` of each key inside a transaction.
fn lookup_ids(
    tx: &rusqlite::Transaction<'_>,
    pubkeys: impl Iterator<Item = PublicKeyBytes>,
) -> Result<HashMap<PublicKeyBytes, (i64, bool)>, SlashingError> {
    let mut stmt = tx.prepare_cached("SELECT id, enabled FROM validators WHERE pubkey = ?1")?;
    let mut out = HashMap::new();
    for pk in pubkeys {
        if out.contains_key(&pk) {
            continue;
        }
        if let Some((id, en)) =
            stmt.query_row(params![pk.as_slice()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?))).optional()?
        {
            out.insert(pk, (id, en));
        }
    }
    Ok(out)
}

fn load_watermarks(tx: &rusqlite::Transaction<'_>, ids: &[i64]) -> Result<HashMap<i64, Watermarks>, SlashingError> {
    let mut stmt = tx.prepare_cached(
        "SELECT validator_id, block_slot, att_source, att_target FROM watermarks WHERE validator_id IN rarray(?1)",
    )?;
    let rows = stmt.query_map(params![ids_array(ids)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Watermarks {
                block_slot: r.get::<_, Option<i64>>(1)?.map(|v| v as u64),
                att_source: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                att_target: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
            },
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, wm) = row?;
        out.insert(id, wm);
    }
    Ok(out)
}

fn store_watermarks(tx: &rusqlite::Transaction<'_>, id: i64, wm: &Watermarks) -> Result<(), SlashingError> {
    let o = |v: Option<u64>| v.map(|x| x as i64);
    tx.prepare_cached(
        "INSERT INTO watermarks (validator_id, block_slot, att_source, att_target) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (validator_id) DO UPDATE SET block_slot = ?2, att_source = ?3, att_target = ?4",
    )?
    .execute(params![id, o(wm.block_slot), o(wm.att_source), o(wm.att_target)])?;
    Ok(())
}

/// Resolves the batch's keys; unknown or disabled keys get their verdict now.
fn resolve<'a>(
    ids: &HashMap<PublicKeyBytes, (i64, bool)>,
    keys: impl Iterator<Item = &'a PublicKeyBytes>,
) -> Vec<Result<i64, NotSafe>> {
    keys.map(|pk| match ids.get(pk) {
        None => Err(NotSafe::UnregisteredValidator),
        Some((_, false)) => Err(NotSafe::DisabledValidator),
        Some((id, true)) => Ok(*id),
    })
    .collect()
}

impl SlashingDatabase for SqliteSlashingDb {
    fn genesis_validators_root(&self) -> Result<Hash256, SlashingError> {
        let conn = self.lock()?;
        let v: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM metadata WHERE key = 'genesis_validators_root'", [], |r| r.get(0))
            .optional()?;
        blob_root(v)?.ok_or_else(|| SlashingError::Corrupt("no genesis_validators_root recorded".into()))
    }

    fn register_validators(&self, pubkeys: &[PublicKeyBytes]) -> Result<(), SlashingError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached("INSERT OR IGNORE INTO validators (pubkey, enabled) VALUES (?1, 1)")?;
            for pk in pubkeys {
                stmt.execute(params![pk.as_slice()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn set_enabled(&self, pubkey: &PublicKeyBytes, enabled: bool) -> Result<(), SlashingError> {
        let conn = self.lock()?;
        conn.execute("UPDATE validators SET enabled = ?2 WHERE pubkey = ?1", params![pubkey.as_slice(), enabled])?;
        Ok(())
    }

    fn check_and_insert_attestations(&self, batch: &[AttestationRecord]) -> Result<Vec<Verdict>, SlashingError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        for a in batch {
            to_i64("source epoch", a.source_epoch)?;
            to_i64("target epoch", a.target_epoch)?;
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = lookup_ids(&tx, batch.iter().map(|a| a.pubkey))?;
        let resolved = resolve(&ids, batch.iter().map(|a| &a.pubkey));
        let mut active: Vec<i64> = resolved.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        active.sort_unstable();
        active.dedup();
        let min_source = batch.iter().map(|a| a.source_epoch).min().unwrap_or(0) as i64;

        let mut history: HashMap<i64, Vec<AttRow>> = HashMap::new();
        for sql in [
            "SELECT validator_id, source_epoch, target_epoch, signing_root, imported FROM signed_attestations
             WHERE validator_id IN rarray(?1) AND target_epoch >= ?2",
            "SELECT validator_id, source_epoch, target_epoch, signing_root, imported
             FROM signed_attestations INDEXED BY signed_attestations_source
             WHERE validator_id IN rarray(?1) AND source_epoch > ?2 AND target_epoch < ?2",
        ] {
            let mut stmt = tx.prepare_cached(sql)?;
            let mut rows = stmt.query(params![ids_array(&active), min_source])?;
            while let Some(r) = rows.next()? {
                let row = AttRow {
                    source: r.get::<_, i64>(1)? as u64,
                    target: r.get::<_, i64>(2)? as u64,
                    root: blob_root(r.get(3)?)?,
                    imported: r.get(4)?,
                };
                history.entry(r.get(0)?).or_default().push(row);
            }
        }
        let wms = load_watermarks(&tx, &active)?;

        let mut verdicts = Vec::with_capacity(batch.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (a, id) in batch.iter().zip(resolved) {
                let id = match id {
                    Ok(id) => id,
                    Err(e) => {
                        verdicts.push(Err(e));
                        continue;
                    }
                };
                let new =
                    AttRow { source: a.source_epoch, target: a.target_epoch, root: a.signing_root, imported: false };
                let h = history.entry(id).or_default();
                let v = check_attestation(h, &wms.get(&id).copied().unwrap_or_default(), &new);
                if v == Ok(Safe::Valid) {
                    insert.execute(params![id, new.source as i64, new.target as i64, root_blob(&new.root)])?;
                    h.push(new);
                }
                verdicts.push(v);
            }
        }
        tx.commit()?;
        Ok(verdicts)
    }

    fn check_and_insert_blocks(&self, batch: &[BlockRecord]) -> Result<Vec<Verdict>, SlashingError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        for b in batch {
            to_i64("slot", b.slot)?;
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = lookup_ids(&tx, batch.iter().map(|b| b.pubkey))?;
        let resolved = resolve(&ids, batch.iter().map(|b| &b.pubkey));
        let mut active: Vec<i64> = resolved.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        active.sort_unstable();
        active.dedup();
        let min_slot = batch.iter().map(|b| b.slot).min().unwrap_or(0) as i64;
        let mut history: HashMap<i64, Vec<BlockRow>> = HashMap::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT validator_id, slot, signing_root, imported FROM signed_blocks WHERE validator_id IN rarray(?1) AND slot >= ?2",
            )?;
            let mut rows = stmt.query(params![ids_array(&active), min_slot])?;
            while let Some(r) = rows.next()? {
                let row =
                    BlockRow { slot: r.get::<_, i64>(1)? as u64, root: blob_root(r.get(2)?)?, imported: r.get(3)? };
                history.entry(r.get(0)?).or_default().push(row);
            }
        }
        let wms = load_watermarks(&tx, &active)?;
        let mut verdicts = Vec::with_capacity(batch.len());
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO signed_blocks (validator_id, slot, signing_root) VALUES (?1, ?2, ?3)")?;
            for (b, id) in batch.iter().zip(resolved) {
                let id = match id {
                    Ok(id) => id,
                    Err(e) => {
                        verdicts.push(Err(e));
                        continue;
                    }
                };
                let new = BlockRow { slot: b.slot, root: b.signing_root, imported: false };
                let h = history.entry(id).or_default();
                let v = check_block(h, &wms.get(&id).copied().unwrap_or_default(), &new);
                if v == Ok(Safe::Valid) {
                    insert.execute(params![id, new.slot as i64, root_blob(&new.root)])?;
                    h.push(new);
                }
                verdicts.push(v);
            }
        }
        tx.commit()?;
        Ok(verdicts)
    }

    fn import_interchange(&self, interchange: &Interchange) -> Result<ImportSummary, SlashingError> {
        let ours = self.genesis_validators_root()?;
        if interchange.metadata.genesis_validators_root != ours {
            return Err(SlashingError::GenesisMismatch {
                file: interchange.metadata.genesis_validators_root,
                database: ours,
            });
        }
        interchange.check_source_not_after_target("interchange")?;
        for d in &interchange.data {
            for b in &d.signed_blocks {
                to_i64("slot", b.slot)?;
            }
            for a in &d.signed_attestations {
                to_i64("source epoch", a.source_epoch)?;
                to_i64("target epoch", a.target_epoch)?;
            }
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut summary = ImportSummary::default();
        let mut seen = std::collections::HashSet::new();
        for d in &interchange.data {
            if seen.insert(d.pubkey) {
                summary.validators += 1;
            }
            tx.prepare_cached("INSERT OR IGNORE INTO validators (pubkey, enabled) VALUES (?1, 1)")?
                .execute(params![d.pubkey.as_slice()])?;
            let id: i64 = tx
                .prepare_cached("SELECT id FROM validators WHERE pubkey = ?1")?
                .query_row(params![d.pubkey.as_slice()], |r| r.get(0))?;
            for b in &d.signed_blocks {
                let n = tx
                    .prepare_cached("INSERT OR IGNORE INTO signed_blocks (validator_id, slot, signing_root, imported) VALUES (?1, ?2, ?3, 1)")?
                    .execute(params![id, b.slot as i64, root_blob(&b.signing_root)])?;
                summary.blocks_imported += n;
                summary.skipped += 1 - n;
            }
            for a in &d.signed_attestations {
                let n = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root, imported)
                         VALUES (?1, ?2, ?3, ?4, 1)",
                    )?
                    .execute(params![id, a.source_epoch as i64, a.target_epoch as i64, root_blob(&a.signing_root)])?;
                summary.attestations_imported += n;
                summary.skipped += 1 - n;
            }
            let imported = Watermarks {
                block_slot: d.signed_blocks.iter().map(|b| b.slot).max(),
                att_source: d.signed_attestations.iter().map(|a| a.source_epoch).max(),
                att_target: d.signed_attestations.iter().map(|a| a.target_epoch).max(),
            };
            let existing = load_watermarks(&tx, &[id])?.get(&id).copied().unwrap_or_default();
            store_watermarks(&tx, id, &existing.max(imported))?;
        }
        tx.commit()?;
        Ok(summary)
    }

    fn export_interchange(&self, pubkeys: Option<&[PublicKeyBytes]>) -> Result<Interchange, SlashingError> {
        let gvr = self.genesis_validators_root()?;
        let conn = self.lock()?;
        let mut validators: Vec<(i64, PublicKeyBytes)> = Vec::new();
        {
            let mut stmt = conn.prepare("SELECT id, pubkey FROM validators ORDER BY id")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let pk: Vec<u8> = r.get(1)?;
                let pk = <[u8; 48]>::try_from(pk.as_slice())
                    .map(PublicKeyBytes::from)
                    .map_err(|_| SlashingError::Corrupt("public key of wrong length".into()))?;
                if pubkeys.is_none_or(|want| want.contains(&pk)) {
                    validators.push((r.get(0)?, pk));
                }
            }
        }
        let mut data = Vec::with_capacity(validators.len());
        let mut blocks =
            conn.prepare("SELECT slot, signing_root FROM signed_blocks WHERE validator_id = ?1 ORDER BY slot")?;
        let mut atts = conn.prepare(
            "SELECT source_epoch, target_epoch, signing_root FROM signed_attestations WHERE validator_id = ?1 ORDER BY target_epoch",
        )?;
        for (id, pubkey) in validators {
            let mut signed_blocks = Vec::new();
            let mut rows = blocks.query(params![id])?;
            while let Some(r) = rows.next()? {
                signed_blocks
                    .push(InterchangeBlock { slot: r.get::<_, i64>(0)? as u64, signing_root: blob_root(r.get(1)?)? });
            }
            let mut signed_attestations = Vec::new();
            let mut rows = atts.query(params![id])?;
            while let Some(r) = rows.next()? {
                signed_attestations.push(InterchangeAttestation {
                    source_epoch: r.get::<_, i64>(0)? as u64,
                    target_epoch: r.get::<_, i64>(1)? as u64,
                    signing_root: blob_root(r.get(2)?)?,
                });
            }
            data.push(InterchangeData { pubkey, signed_blocks, signed_attestations });
        }
        Ok(Interchange {
            metadata: InterchangeMetadata { interchange_format_version: "5".into(), genesis_validators_root: gvr },
            data,
        })
    }

    fn prune(&self, before_epoch: u64, slots_per_epoch: u64) -> Result<(), SlashingError> {
        let before_epoch_i = to_i64("epoch", before_epoch)?;
        let before_slot = to_i64("slot", before_epoch.saturating_mul(slots_per_epoch))?;
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Raise each validator's watermarks to the newest record being deleted.
        let mut pruned: HashMap<i64, Watermarks> = HashMap::new();
        {
            let mut s = tx.prepare(
                "SELECT validator_id, MAX(source_epoch), MAX(target_epoch) FROM signed_attestations
                 WHERE target_epoch < ?1 GROUP BY validator_id",
            )?;
            let mut rows = s.query(params![before_epoch_i])?;
            while let Some(r) = rows.next()? {
                let e = pruned.entry(r.get(0)?).or_default();
                e.att_source = Some(r.get::<_, i64>(1)? as u64);
                e.att_target = Some(r.get::<_, i64>(2)? as u64);
            }
            let mut s =
                tx.prepare("SELECT validator_id, MAX(slot) FROM signed_blocks WHERE slot < ?1 GROUP BY validator_id")?;
            let mut rows = s.query(params![before_slot])?;
            while let Some(r) = rows.next()? {
                pruned.entry(r.get(0)?).or_default().block_slot = Some(r.get::<_, i64>(1)? as u64);
            }
        }
        for (id, wm) in &pruned {
            let existing = load_watermarks(&tx, &[*id])?.get(id).copied().unwrap_or_default();
            store_watermarks(&tx, *id, &existing.max(*wm))?;
        }
        tx.execute("DELETE FROM signed_attestations WHERE target_epoch < ?1", params![before_epoch_i])?;
        tx.execute("DELETE FROM signed_blocks WHERE slot < ?1", params![before_slot])?;
        tx.commit()?;
        Ok(())
    }
}
