//! The embedded SQLite backend: one file in the data dir, WAL journal,
//! `synchronous=FULL` (a commit is on disk when it returns), one
//! `BEGIN IMMEDIATE` transaction per batch.
//!
//! Layout, chosen so a batch touches few pages however long the history:
//! - `validators`: one row per key with its [`Summary`] (maxima and newest
//!   messages). A batch reads these rows with one statement and decides;
//! - `signed_attestations` / `signed_blocks`: the complete history, appended
//!   in time order, indexed by `(target_epoch, validator_id)` /
//!   `(slot, validator_id)` so that new rows land at the end of the index.
//!   The history is read only to name the reason of a refusal, and for
//!   export.
//!
//! A batch of N messages costs: one read of N summary rows, the appends, one
//! summary update per validator, and a durable commit.

use super::batch::{self, KeyState, SummaryColumns, SUMMARY_COLUMNS};
use super::interchange::{Interchange, InterchangeAttestation, InterchangeBlock, InterchangeData, InterchangeMetadata};
use super::rules::{AttRow, BlockRow};
use super::{
    blob_root, pubkey_of, to_i64, AttestationRecord, BlockRecord, Feed, ImportSummary, NotSafe, OncePerSlotRecord,
    SlashingDatabase, SlashingError, Verdict,
};
use crate::types::{Hash256, PublicKeyBytes};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
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
    enabled INTEGER NOT NULL DEFAULT 1,
    block_slot INTEGER,
    block_root BLOB,
    block_known INTEGER NOT NULL DEFAULT 0,
    block_imported INTEGER NOT NULL DEFAULT 0,
    att_source INTEGER,
    att_target INTEGER,
    att_target_source INTEGER,
    att_target_root BLOB,
    att_known INTEGER NOT NULL DEFAULT 0,
    att_imported INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS signed_blocks (
    validator_id INTEGER NOT NULL REFERENCES validators(id),
    slot INTEGER NOT NULL,
    signing_root BLOB,
    imported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS signed_blocks_by_slot ON signed_blocks (slot, validator_id);
CREATE TABLE IF NOT EXISTS signed_attestations (
    validator_id INTEGER NOT NULL REFERENCES validators(id),
    source_epoch INTEGER NOT NULL,
    target_epoch INTEGER NOT NULL,
    signing_root BLOB,
    imported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS signed_attestations_by_target ON signed_attestations (target_epoch, validator_id);
CREATE TABLE IF NOT EXISTS signed_payload_attestations (
    validator_id INTEGER NOT NULL REFERENCES validators(id),
    slot INTEGER NOT NULL,
    signing_root BLOB NOT NULL,
    PRIMARY KEY (validator_id, slot)
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

fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

/// Reads a summary row (columns as in [`SUMMARY_COLUMNS`]).
fn read_state(r: &Row<'_>) -> Result<(PublicKeyBytes, KeyState), SlashingError> {
    SummaryColumns {
        id: r.get(0)?,
        enabled: r.get(1)?,
        block_slot: r.get(2)?,
        block_root: r.get(3)?,
        block_known: r.get(4)?,
        block_imported: r.get(5)?,
        att_source: r.get(6)?,
        att_target: r.get(7)?,
        att_target_source: r.get(8)?,
        att_target_root: r.get(9)?,
        att_known: r.get(10)?,
        att_imported: r.get(11)?,
        pubkey: r.get(12)?,
    }
    .into_state()
}

fn write_summary(tx: &rusqlite::Transaction<'_>, k: &KeyState) -> Result<(), SlashingError> {
    let s = &k.summary;
    tx.prepare_cached(
        "UPDATE validators SET block_slot = ?2, block_root = ?3, block_known = ?4, block_imported = ?5,
         att_source = ?6, att_target = ?7, att_target_source = ?8, att_target_root = ?9, att_known = ?10,
         att_imported = ?11 WHERE id = ?1",
    )?
    .execute(params![
        k.id,
        opt_i64(s.wm.block_slot),
        s.latest_block.and_then(|b| root_blob(&b.root)),
        s.latest_block.is_some(),
        s.latest_block.is_some_and(|b| b.imported),
        opt_i64(s.wm.att_source),
        opt_i64(s.wm.att_target),
        s.latest_att.map(|a| a.source as i64),
        s.latest_att.and_then(|a| root_blob(&a.root)),
        s.latest_att.is_some(),
        s.latest_att.is_some_and(|a| a.imported),
    ])?;
    Ok(())
}

/// Loads the summary rows of `pubkeys` (one statement).
fn load_states(
    tx: &rusqlite::Transaction<'_>,
    pubkeys: impl Iterator<Item = PublicKeyBytes>,
) -> Result<HashMap<PublicKeyBytes, KeyState>, SlashingError> {
    let keys: Rc<Vec<rusqlite::types::Value>> =
        Rc::new(pubkeys.map(|p| rusqlite::types::Value::Blob(p.to_vec())).collect());
    let mut stmt =
        tx.prepare_cached(&format!("SELECT {SUMMARY_COLUMNS} FROM validators WHERE pubkey IN rarray(?1)"))?;
    let mut rows = stmt.query(params![keys])?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        let (pk, st) = read_state(r)?;
        out.insert(pk, st);
    }
    Ok(out)
}

fn ids_array(ids: impl Iterator<Item = i64>) -> Rc<Vec<rusqlite::types::Value>> {
    Rc::new(ids.map(rusqlite::types::Value::Integer).collect())
}

impl SqliteSlashingDb {
    /// Opens (creating if needed) the database at `path` for the network with
    /// `genesis_validators_root`; refuses a database made for another network.
    pub fn open(path: &Path, genesis_validators_root: Hash256) -> Result<Self, SlashingError> {
        let db = Self::open_existing_or_new(path)?;
        {
            let conn = db.lock()?;
            // Two processes opening a new file at once both find no root:
            // the first insert wins, the other is ignored, and both then
            // compare with what is stored (one statement each, so no
            // read-then-write race).
            conn.execute(
                "INSERT OR IGNORE INTO metadata (key, value) VALUES ('genesis_validators_root', ?1)",
                params![genesis_validators_root.to_vec()],
            )?;
            let stored: Vec<u8> =
                conn.query_row("SELECT value FROM metadata WHERE key = 'genesis_validators_root'", [], |r| r.get(0))?;
            if stored.as_slice() != genesis_validators_root.as_slice() {
                return Err(SlashingError::OtherNetwork {
                    database: path.display().to_string(),
                    stored: blob_root(Some(stored))?.unwrap_or_default(),
                    wanted: genesis_validators_root,
                });
            }
        }
        Ok(db)
    }

    /// A database in memory for the network with `genesis_validators_root`:
    /// the same schema and rules, gone when dropped. For a one-shot signer
    /// (`poolvc pool presign-exits`, whose exits are never slashable) and for
    /// unit tests of the client; never for a running client's history.
    pub fn in_memory(genesis_validators_root: Hash256) -> Result<Self, SlashingError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        rusqlite::vtab::array::load_module(&conn)?;
        conn.execute(
            "INSERT INTO metadata (key, value) VALUES ('genesis_validators_root', ?1)",
            params![genesis_validators_root.to_vec()],
        )?;
        Ok(Self { conn: Mutex::new(conn) })
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
        // Switching to WAL takes an exclusive lock without consulting the busy
        // handler: when several processes open a new file at once, retry.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL").and_then(|_| conn.execute_batch(SCHEMA)) {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        rusqlite::vtab::array::load_module(&conn)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, SlashingError> {
        self.conn.lock().map_err(|_| SlashingError::Poisoned)
    }
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
            let mut stmt = tx.prepare_cached("INSERT OR IGNORE INTO validators (pubkey) VALUES (?1)")?;
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
        let mut keys = load_states(&tx, batch.iter().map(|a| a.pubkey))?;
        let decision = batch::decide_attestations(batch, &mut keys);

        let mut history: HashMap<i64, Vec<AttRow>> = HashMap::new();
        if let Some(min_source) = decision.pending.iter().map(|(i, _, _)| batch[*i].source_epoch).min() {
            let mut stmt = tx.prepare_cached(
                "SELECT validator_id, source_epoch, target_epoch, signing_root, imported FROM signed_attestations
                 WHERE target_epoch >= ?1 AND validator_id IN rarray(?2)",
            )?;
            let mut rows =
                stmt.query(params![min_source as i64, ids_array(decision.pending.iter().map(|(_, id, _)| *id))])?;
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
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (_, id, row) in &decision.accepted {
                insert.execute(params![id, row.source as i64, row.target as i64, root_blob(&row.root)])?;
            }
        }
        for k in keys.values().filter(|k| k.dirty) {
            write_summary(&tx, k)?;
        }
        let verdicts = batch::name_attestation_refusals(batch, decision, &history);
        tx.commit()?;
        Ok(verdicts)
    }

    fn check_and_insert_payload_attestations(
        &self,
        batch: &[OncePerSlotRecord],
    ) -> Result<Vec<Verdict>, SlashingError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        for b in batch {
            to_i64("slot", b.slot)?;
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut key = tx.prepare_cached("SELECT id, enabled FROM validators WHERE pubkey = ?1")?;
            let mut at = tx.prepare_cached(
                "SELECT signing_root FROM signed_payload_attestations WHERE validator_id = ?1 AND slot = ?2",
            )?;
            let mut newest =
                tx.prepare_cached("SELECT MAX(slot) FROM signed_payload_attestations WHERE validator_id = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO signed_payload_attestations (validator_id, slot, signing_root) VALUES (?1, ?2, ?3)",
            )?;
            for r in batch {
                let row: Option<(i64, bool)> =
                    key.query_row(params![r.pubkey.as_slice()], |x| Ok((x.get(0)?, x.get(1)?))).optional()?;
                let Some((id, enabled)) = row else {
                    out.push(Err(NotSafe::UnregisteredValidator));
                    continue;
                };
                if !enabled {
                    out.push(Err(NotSafe::DisabledValidator));
                    continue;
                }
                let prev: Option<Vec<u8>> = at.query_row(params![id, r.slot as i64], |x| x.get(0)).optional()?;
                let top: Option<i64> = newest.query_row(params![id], |x| x.get(0))?;
                let verdict =
                    super::rules::check_once_per_slot(r.slot, r.signing_root, blob_root(prev)?, top.map(|t| t as u64));
                if verdict == Ok(super::Safe::Valid) {
                    insert.execute(params![id, r.slot as i64, r.signing_root.as_slice()])?;
                }
                out.push(verdict);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn signed_block_root(&self, pubkey: &PublicKeyBytes, slot: u64) -> Result<Option<Hash256>, SlashingError> {
        let slot = to_i64("slot", slot)?;
        let conn = self.lock()?;
        let root: Option<Option<Vec<u8>>> = conn
            .query_row(
                "SELECT b.signing_root FROM signed_blocks b JOIN validators v ON v.id = b.validator_id
                 WHERE v.pubkey = ?1 AND b.slot = ?2 AND b.signing_root IS NOT NULL LIMIT 1",
                params![pubkey.as_slice(), slot],
                |r| r.get(0),
            )
            .optional()?;
        blob_root(root.flatten())
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
        let mut keys = load_states(&tx, batch.iter().map(|b| b.pubkey))?;
        let decision = batch::decide_blocks(batch, &mut keys);
        let mut history: HashMap<i64, Vec<BlockRow>> = HashMap::new();
        if let Some(min_slot) = decision.pending.iter().map(|(i, _, _)| batch[*i].slot).min() {
            let mut stmt = tx.prepare_cached(
                "SELECT validator_id, slot, signing_root, imported FROM signed_blocks
                 WHERE slot >= ?1 AND validator_id IN rarray(?2)",
            )?;
            let mut rows =
                stmt.query(params![min_slot as i64, ids_array(decision.pending.iter().map(|(_, id, _)| *id))])?;
            while let Some(r) = rows.next()? {
                let row =
                    BlockRow { slot: r.get::<_, i64>(1)? as u64, root: blob_root(r.get(2)?)?, imported: r.get(3)? };
                history.entry(r.get(0)?).or_default().push(row);
            }
        }
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO signed_blocks (validator_id, slot, signing_root) VALUES (?1, ?2, ?3)")?;
            for (_, id, row) in &decision.accepted {
                insert.execute(params![id, row.slot as i64, root_blob(&row.root)])?;
            }
        }
        for k in keys.values().filter(|k| k.dirty) {
            write_summary(&tx, k)?;
        }
        let verdicts = batch::name_block_refusals(batch, decision, &history);
        tx.commit()?;
        Ok(verdicts)
    }

    fn import_entries(&self, genesis_validators_root: Hash256, feed: Feed<'_>) -> Result<ImportSummary, SlashingError> {
        super::check_network(genesis_validators_root, self.genesis_validators_root()?)?;
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut summary = ImportSummary::default();
        let mut seen = std::collections::HashSet::new();
        feed(&mut |d: &InterchangeData| {
            super::check_entry(d, "interchange")?;
            if seen.insert(d.pubkey) {
                summary.validators += 1;
            }
            tx.prepare_cached("INSERT OR IGNORE INTO validators (pubkey) VALUES (?1)")?
                .execute(params![d.pubkey.as_slice()])?;
            let mut states = load_states(&tx, std::iter::once(d.pubkey))?;
            let Some(mut k) = states.remove(&d.pubkey) else {
                return Err(SlashingError::Corrupt("validator vanished during import".into()));
            };
            let mut blocks = Vec::new();
            for b in &d.signed_blocks {
                let exists = tx
                    .prepare_cached("SELECT 1 FROM signed_blocks WHERE slot = ?1 AND validator_id = ?2")?
                    .exists(params![b.slot as i64, k.id])?;
                let row = BlockRow { slot: b.slot, root: b.signing_root, imported: true };
                if exists {
                    summary.skipped += 1;
                } else {
                    tx.prepare_cached(
                        "INSERT INTO signed_blocks (validator_id, slot, signing_root, imported) VALUES (?1, ?2, ?3, 1)",
                    )?
                    .execute(params![k.id, b.slot as i64, root_blob(&b.signing_root)])?;
                    summary.blocks_imported += 1;
                }
                blocks.push(row);
            }
            let mut atts = Vec::new();
            for a in &d.signed_attestations {
                let exists = tx
                    .prepare_cached("SELECT 1 FROM signed_attestations WHERE target_epoch = ?1 AND validator_id = ?2")?
                    .exists(params![a.target_epoch as i64, k.id])?;
                let row =
                    AttRow { source: a.source_epoch, target: a.target_epoch, root: a.signing_root, imported: true };
                if exists {
                    summary.skipped += 1;
                } else {
                    tx.prepare_cached(
                        "INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root, imported)
                         VALUES (?1, ?2, ?3, ?4, 1)",
                    )?
                    .execute(params![k.id, a.source_epoch as i64, a.target_epoch as i64, root_blob(&a.signing_root)])?;
                    summary.attestations_imported += 1;
                }
                atts.push(row);
            }
            k.summary.merge_import(&atts, &blocks);
            write_summary(&tx, &k)?;
            Ok(())
        })?;
        tx.commit()?;
        Ok(summary)
    }

    fn export_interchange(&self, pubkeys: Option<&[PublicKeyBytes]>) -> Result<Interchange, SlashingError> {
        let gvr = self.genesis_validators_root()?;
        let mut conn = self.lock()?;
        // One read transaction: a consistent snapshot.
        let tx = conn.transaction()?;
        let mut by_id: std::collections::BTreeMap<i64, InterchangeData> = std::collections::BTreeMap::new();
        {
            let mut stmt = tx.prepare("SELECT id, pubkey FROM validators")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let pk = pubkey_of(r.get(1)?)?;
                if pubkeys.is_none_or(|want| want.contains(&pk)) {
                    by_id.insert(
                        r.get(0)?,
                        InterchangeData { pubkey: pk, signed_blocks: vec![], signed_attestations: vec![] },
                    );
                }
            }
            let mut stmt =
                tx.prepare("SELECT validator_id, slot, signing_root FROM signed_blocks ORDER BY validator_id, slot")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                if let Some(d) = by_id.get_mut(&r.get::<_, i64>(0)?) {
                    d.signed_blocks.push(InterchangeBlock {
                        slot: r.get::<_, i64>(1)? as u64,
                        signing_root: blob_root(r.get(2)?)?,
                    });
                }
            }
            let mut stmt = tx.prepare(
                "SELECT validator_id, source_epoch, target_epoch, signing_root FROM signed_attestations ORDER BY validator_id, target_epoch",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                if let Some(d) = by_id.get_mut(&r.get::<_, i64>(0)?) {
                    d.signed_attestations.push(InterchangeAttestation {
                        source_epoch: r.get::<_, i64>(1)? as u64,
                        target_epoch: r.get::<_, i64>(2)? as u64,
                        signing_root: blob_root(r.get(3)?)?,
                    });
                }
            }
        }
        tx.commit()?;
        Ok(Interchange { metadata: InterchangeMetadata::v5(gvr), data: by_id.into_values().collect() })
    }

    fn prune(&self, before_epoch: u64, slots_per_epoch: u64) -> Result<(), SlashingError> {
        // The summaries hold the maxima, which deletion does not touch: an old
        // message stays refused after its row is gone.
        let e = to_i64("epoch", before_epoch)?;
        let s = to_i64("slot", before_epoch.saturating_mul(slots_per_epoch))?;
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM signed_attestations WHERE target_epoch < ?1", params![e])?;
        tx.execute("DELETE FROM signed_blocks WHERE slot < ?1", params![s])?;
        // Each key's newest payload attestation stays: it is the watermark.
        tx.execute(
            "DELETE FROM signed_payload_attestations WHERE slot < ?1 AND slot < (SELECT MAX(p.slot)
             FROM signed_payload_attestations p WHERE p.validator_id = signed_payload_attestations.validator_id)",
            params![s],
        )?;
        tx.commit()?;
        Ok(())
    }
}
