//! The PostgreSQL backend, for operators who run several poolvc instances
//! against one database. A batch is one transaction that first locks the
//! rows of all its validators (`SELECT ... FOR UPDATE`, ascending id order,
//! so two batches can never deadlock), then reads their history, decides with
//! [`super::rules`], and inserts the safe messages with one `UNNEST` insert.
//! Two instances with overlapping keys serialise on those row locks; the
//! unique keys `(validator_id, target_epoch)` and `(validator_id, slot)` are a
//! second line of defence.

use super::interchange::{Interchange, InterchangeAttestation, InterchangeBlock, InterchangeData, InterchangeMetadata};
use super::rules::{check_attestation, check_block, AttRow, BlockRow, Watermarks};
use super::{
    to_i64, AttestationRecord, BlockRecord, ImportSummary, NotSafe, Safe, SlashingDatabase, SlashingError, Verdict,
};
use crate::types::{Hash256, PublicKeyBytes};
use postgres::{Client, NoTls, Transaction};
use std::collections::HashMap;
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS poolvc_metadata (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS validators (
    id BIGSERIAL PRIMARY KEY,
    pubkey BYTEA NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE IF NOT EXISTS signed_blocks (
    validator_id BIGINT NOT NULL REFERENCES validators(id),
    slot BIGINT NOT NULL,
    signing_root BYTEA,
    imported BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (validator_id, slot)
);
CREATE TABLE IF NOT EXISTS signed_attestations (
    validator_id BIGINT NOT NULL REFERENCES validators(id),
    source_epoch BIGINT NOT NULL,
    target_epoch BIGINT NOT NULL,
    signing_root BYTEA,
    imported BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (validator_id, target_epoch)
);
CREATE INDEX IF NOT EXISTS signed_attestations_source ON signed_attestations (validator_id, source_epoch);
CREATE TABLE IF NOT EXISTS watermarks (
    validator_id BIGINT PRIMARY KEY REFERENCES validators(id),
    block_slot BIGINT,
    att_source BIGINT,
    att_target BIGINT
);
";

/// The PostgreSQL slashing-protection database.
pub struct PostgresSlashingDb {
    client: Mutex<Client>,
}

impl std::fmt::Debug for PostgresSlashingDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresSlashingDb")
    }
}

fn blob_root(b: Option<Vec<u8>>) -> Result<Option<Hash256>, SlashingError> {
    match b {
        None => Ok(None),
        Some(v) if v.len() == 32 => Ok(Some(Hash256::from_slice(&v))),
        Some(v) => Err(SlashingError::Corrupt(format!("signing root of {} bytes", v.len()))),
    }
}

impl PostgresSlashingDb {
    /// Connects to `url` (e.g. `postgres://user:pw@127.0.0.1/db`), creates the
    /// schema if needed, and records or checks the genesis validators root.
    pub fn connect(url: &str, genesis_validators_root: Hash256) -> Result<Self, SlashingError> {
        let mut client = Client::connect(url, NoTls)?;
        // Two instances creating the schema at once serialise on this lock.
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock(7044307600)", &[])?;
        tx.batch_execute(SCHEMA)?;
        let stored: Option<Vec<u8>> = tx
            .query_opt("SELECT value FROM poolvc_metadata WHERE key = 'genesis_validators_root'", &[])?
            .map(|r| r.get(0));
        match stored {
            Some(v) if v.as_slice() != genesis_validators_root.as_slice() => {
                return Err(SlashingError::GenesisMismatch {
                    file: genesis_validators_root,
                    database: blob_root(Some(v))?.unwrap_or_default(),
                });
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO poolvc_metadata (key, value) VALUES ('genesis_validators_root', $1)",
                    &[&genesis_validators_root.to_vec()],
                )?;
            }
        }
        tx.commit()?;
        Ok(Self { client: Mutex::new(client) })
    }

    /// Connects to an existing database without fixing its network (for export).
    pub fn connect_existing(url: &str) -> Result<Self, SlashingError> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute(SCHEMA)?;
        Ok(Self { client: Mutex::new(client) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Client>, SlashingError> {
        self.client.lock().map_err(|_| SlashingError::Poisoned)
    }

    /// Drops every poolvc table (tests only: gives each test a clean database).
    pub fn reset_for_tests(url: &str) -> Result<(), SlashingError> {
        let mut c = Client::connect(url, NoTls)?;
        c.batch_execute(
            "DROP TABLE IF EXISTS signed_attestations, signed_blocks, watermarks, validators, poolvc_metadata CASCADE",
        )?;
        Ok(())
    }
}

/// Locks the batch's validators in ascending id order; returns `(id, enabled)` per key.
fn lock_validators(
    tx: &mut Transaction<'_>,
    pubkeys: &[PublicKeyBytes],
) -> Result<HashMap<PublicKeyBytes, (i64, bool)>, SlashingError> {
    let mut keys: Vec<Vec<u8>> = pubkeys.iter().map(|p| p.to_vec()).collect();
    keys.sort();
    keys.dedup();
    let rows =
        tx.query("SELECT id, pubkey, enabled FROM validators WHERE pubkey = ANY($1) ORDER BY id FOR UPDATE", &[&keys])?;
    let mut out = HashMap::new();
    for r in rows {
        let pk: Vec<u8> = r.get(1);
        if let Ok(pk) = <[u8; 48]>::try_from(pk.as_slice()) {
            out.insert(PublicKeyBytes::from(pk), (r.get::<_, i64>(0), r.get::<_, bool>(2)));
        }
    }
    Ok(out)
}

fn load_watermarks(tx: &mut Transaction<'_>, ids: &[i64]) -> Result<HashMap<i64, Watermarks>, SlashingError> {
    let rows = tx.query(
        "SELECT validator_id, block_slot, att_source, att_target FROM watermarks WHERE validator_id = ANY($1)",
        &[&ids],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.get::<_, i64>(0),
                Watermarks {
                    block_slot: r.get::<_, Option<i64>>(1).map(|v| v as u64),
                    att_source: r.get::<_, Option<i64>>(2).map(|v| v as u64),
                    att_target: r.get::<_, Option<i64>>(3).map(|v| v as u64),
                },
            )
        })
        .collect())
}

fn store_watermarks(tx: &mut Transaction<'_>, id: i64, wm: &Watermarks) -> Result<(), SlashingError> {
    let o = |v: Option<u64>| v.map(|x| x as i64);
    tx.execute(
        "INSERT INTO watermarks (validator_id, block_slot, att_source, att_target) VALUES ($1, $2, $3, $4)
         ON CONFLICT (validator_id) DO UPDATE SET block_slot = $2, att_source = $3, att_target = $4",
        &[&id, &o(wm.block_slot), &o(wm.att_source), &o(wm.att_target)],
    )?;
    Ok(())
}

fn resolve(ids: &HashMap<PublicKeyBytes, (i64, bool)>, pk: &PublicKeyBytes) -> Result<i64, NotSafe> {
    match ids.get(pk) {
        None => Err(NotSafe::UnregisteredValidator),
        Some((_, false)) => Err(NotSafe::DisabledValidator),
        Some((id, true)) => Ok(*id),
    }
}

impl SlashingDatabase for PostgresSlashingDb {
    fn genesis_validators_root(&self) -> Result<Hash256, SlashingError> {
        let mut c = self.lock()?;
        let v: Option<Vec<u8>> = c
            .query_opt("SELECT value FROM poolvc_metadata WHERE key = 'genesis_validators_root'", &[])?
            .map(|r| r.get(0));
        blob_root(v)?.ok_or_else(|| SlashingError::Corrupt("no genesis_validators_root recorded".into()))
    }

    fn register_validators(&self, pubkeys: &[PublicKeyBytes]) -> Result<(), SlashingError> {
        let keys: Vec<Vec<u8>> = pubkeys.iter().map(|p| p.to_vec()).collect();
        let mut c = self.lock()?;
        c.execute(
            "INSERT INTO validators (pubkey) SELECT * FROM UNNEST($1::bytea[]) ON CONFLICT (pubkey) DO NOTHING",
            &[&keys],
        )?;
        Ok(())
    }

    fn set_enabled(&self, pubkey: &PublicKeyBytes, enabled: bool) -> Result<(), SlashingError> {
        let mut c = self.lock()?;
        c.execute("UPDATE validators SET enabled = $2 WHERE pubkey = $1", &[&pubkey.to_vec(), &enabled])?;
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
        let pubkeys: Vec<PublicKeyBytes> = batch.iter().map(|a| a.pubkey).collect();
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let ids = lock_validators(&mut tx, &pubkeys)?;
        let active: Vec<i64> = ids.values().filter(|(_, en)| *en).map(|(id, _)| *id).collect();
        let min_source = batch.iter().map(|a| a.source_epoch).min().unwrap_or(0) as i64;
        let rows = tx.query(
            "SELECT validator_id, source_epoch, target_epoch, signing_root, imported FROM signed_attestations
             WHERE validator_id = ANY($1) AND (target_epoch >= $2 OR source_epoch > $2)",
            &[&active, &min_source],
        )?;
        let mut history: HashMap<i64, Vec<AttRow>> = HashMap::new();
        for r in rows {
            let row = AttRow {
                source: r.get::<_, i64>(1) as u64,
                target: r.get::<_, i64>(2) as u64,
                root: blob_root(r.get(3))?,
                imported: r.get(4),
            };
            history.entry(r.get(0)).or_default().push(row);
        }
        let wms = load_watermarks(&mut tx, &active)?;
        let mut verdicts = Vec::with_capacity(batch.len());
        let (mut vid, mut src, mut tgt) = (Vec::<i64>::new(), Vec::<i64>::new(), Vec::<i64>::new());
        let mut roots: Vec<Option<Vec<u8>>> = Vec::new();
        for a in batch {
            let id = match resolve(&ids, &a.pubkey) {
                Ok(id) => id,
                Err(e) => {
                    verdicts.push(Err(e));
                    continue;
                }
            };
            let new = AttRow { source: a.source_epoch, target: a.target_epoch, root: a.signing_root, imported: false };
            let h = history.entry(id).or_default();
            let v = check_attestation(h, &wms.get(&id).copied().unwrap_or_default(), &new);
            if v == Ok(Safe::Valid) {
                vid.push(id);
                src.push(new.source as i64);
                tgt.push(new.target as i64);
                roots.push(new.root.map(|r| r.to_vec()));
                h.push(new);
            }
            verdicts.push(v);
        }
        if !vid.is_empty() {
            tx.execute(
                "INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[])",
                &[&vid, &src, &tgt, &roots],
            )?;
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
        let pubkeys: Vec<PublicKeyBytes> = batch.iter().map(|b| b.pubkey).collect();
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let ids = lock_validators(&mut tx, &pubkeys)?;
        let active: Vec<i64> = ids.values().filter(|(_, en)| *en).map(|(id, _)| *id).collect();
        let min_slot = batch.iter().map(|b| b.slot).min().unwrap_or(0) as i64;
        let rows = tx.query(
            "SELECT validator_id, slot, signing_root, imported FROM signed_blocks WHERE validator_id = ANY($1) AND slot >= $2",
            &[&active, &min_slot],
        )?;
        let mut history: HashMap<i64, Vec<BlockRow>> = HashMap::new();
        for r in rows {
            let row = BlockRow { slot: r.get::<_, i64>(1) as u64, root: blob_root(r.get(2))?, imported: r.get(3) };
            history.entry(r.get(0)).or_default().push(row);
        }
        let wms = load_watermarks(&mut tx, &active)?;
        let mut verdicts = Vec::with_capacity(batch.len());
        let (mut vid, mut slots, mut roots): (Vec<i64>, Vec<i64>, Vec<Option<Vec<u8>>>) = Default::default();
        for b in batch {
            let id = match resolve(&ids, &b.pubkey) {
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
                vid.push(id);
                slots.push(new.slot as i64);
                roots.push(new.root.map(|r| r.to_vec()));
                h.push(new);
            }
            verdicts.push(v);
        }
        if !vid.is_empty() {
            tx.execute(
                "INSERT INTO signed_blocks (validator_id, slot, signing_root)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[])",
                &[&vid, &slots, &roots],
            )?;
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
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let mut summary = ImportSummary::default();
        let mut seen = std::collections::HashSet::new();
        for d in &interchange.data {
            if seen.insert(d.pubkey) {
                summary.validators += 1;
            }
            tx.execute(
                "INSERT INTO validators (pubkey) VALUES ($1) ON CONFLICT (pubkey) DO NOTHING",
                &[&d.pubkey.to_vec()],
            )?;
            let id: i64 =
                tx.query_one("SELECT id FROM validators WHERE pubkey = $1 FOR UPDATE", &[&d.pubkey.to_vec()])?.get(0);
            for b in &d.signed_blocks {
                let n = tx.execute(
                    "INSERT INTO signed_blocks (validator_id, slot, signing_root, imported) VALUES ($1, $2, $3, TRUE) ON CONFLICT DO NOTHING",
                    &[&id, &(b.slot as i64), &b.signing_root.map(|r| r.to_vec())],
                )? as usize;
                summary.blocks_imported += n;
                summary.skipped += 1 - n;
            }
            for a in &d.signed_attestations {
                let n = tx.execute(
                    "INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root, imported)
                     VALUES ($1, $2, $3, $4, TRUE) ON CONFLICT DO NOTHING",
                    &[&id, &(a.source_epoch as i64), &(a.target_epoch as i64), &a.signing_root.map(|r| r.to_vec())],
                )? as usize;
                summary.attestations_imported += n;
                summary.skipped += 1 - n;
            }
            let imported = Watermarks {
                block_slot: d.signed_blocks.iter().map(|b| b.slot).max(),
                att_source: d.signed_attestations.iter().map(|a| a.source_epoch).max(),
                att_target: d.signed_attestations.iter().map(|a| a.target_epoch).max(),
            };
            let existing = load_watermarks(&mut tx, &[id])?.get(&id).copied().unwrap_or_default();
            store_watermarks(&mut tx, id, &existing.max(imported))?;
        }
        tx.commit()?;
        Ok(summary)
    }

    fn export_interchange(&self, pubkeys: Option<&[PublicKeyBytes]>) -> Result<Interchange, SlashingError> {
        let gvr = self.genesis_validators_root()?;
        let mut c = self.lock()?;
        let mut tx =
            c.build_transaction().read_only(true).isolation_level(postgres::IsolationLevel::RepeatableRead).start()?;
        let mut data = Vec::new();
        for v in tx.query("SELECT id, pubkey FROM validators ORDER BY id", &[])? {
            let pk: Vec<u8> = v.get(1);
            let pk = <[u8; 48]>::try_from(pk.as_slice())
                .map(PublicKeyBytes::from)
                .map_err(|_| SlashingError::Corrupt("public key of wrong length".into()))?;
            if !pubkeys.is_none_or(|want| want.contains(&pk)) {
                continue;
            }
            let id: i64 = v.get(0);
            let mut signed_blocks = Vec::new();
            for r in
                tx.query("SELECT slot, signing_root FROM signed_blocks WHERE validator_id = $1 ORDER BY slot", &[&id])?
            {
                signed_blocks
                    .push(InterchangeBlock { slot: r.get::<_, i64>(0) as u64, signing_root: blob_root(r.get(1))? });
            }
            let mut signed_attestations = Vec::new();
            for r in tx.query(
                "SELECT source_epoch, target_epoch, signing_root FROM signed_attestations WHERE validator_id = $1 ORDER BY target_epoch",
                &[&id],
            )? {
                signed_attestations.push(InterchangeAttestation {
                    source_epoch: r.get::<_, i64>(0) as u64,
                    target_epoch: r.get::<_, i64>(1) as u64,
                    signing_root: blob_root(r.get(2))?,
                });
            }
            data.push(InterchangeData { pubkey: pk, signed_blocks, signed_attestations });
        }
        tx.commit()?;
        Ok(Interchange {
            metadata: InterchangeMetadata { interchange_format_version: "5".into(), genesis_validators_root: gvr },
            data,
        })
    }

    fn prune(&self, before_epoch: u64, slots_per_epoch: u64) -> Result<(), SlashingError> {
        let e = to_i64("epoch", before_epoch)?;
        let s = to_i64("slot", before_epoch.saturating_mul(slots_per_epoch))?;
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let mut pruned: HashMap<i64, Watermarks> = HashMap::new();
        for r in tx.query(
            "SELECT validator_id, MAX(source_epoch), MAX(target_epoch) FROM signed_attestations WHERE target_epoch < $1 GROUP BY validator_id",
            &[&e],
        )? {
            let w = pruned.entry(r.get(0)).or_default();
            w.att_source = Some(r.get::<_, i64>(1) as u64);
            w.att_target = Some(r.get::<_, i64>(2) as u64);
        }
        for r in
            tx.query("SELECT validator_id, MAX(slot) FROM signed_blocks WHERE slot < $1 GROUP BY validator_id", &[&s])?
        {
            pruned.entry(r.get(0)).or_default().block_slot = Some(r.get::<_, i64>(1) as u64);
        }
        let mut ids: Vec<i64> = pruned.keys().copied().collect();
        ids.sort_unstable();
        tx.query("SELECT id FROM validators WHERE id = ANY($1) ORDER BY id FOR UPDATE", &[&ids])?;
        for id in ids {
            let existing = load_watermarks(&mut tx, &[id])?.get(&id).copied().unwrap_or_default();
            store_watermarks(&mut tx, id, &existing.max(pruned[&id]))?;
        }
        tx.execute("DELETE FROM signed_attestations WHERE target_epoch < $1", &[&e])?;
        tx.execute("DELETE FROM signed_blocks WHERE slot < $1", &[&s])?;
        tx.commit()?;
        Ok(())
    }
}
