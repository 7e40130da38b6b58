//! The PostgreSQL backend, for operators who run several poolvc instances
//! against one database. Same layout as SQLite (per-validator summary rows
//! that decide; append-only history indexed by time that names refusals).
//! A batch is one transaction that first locks its validators' rows
//! (`SELECT ... FOR UPDATE`, ascending id order, so two batches can never
//! deadlock), decides from their summaries, appends the allowed messages with
//! one `UNNEST` insert and writes the summaries back with one `UPDATE ...
//! FROM UNNEST`. Two instances with overlapping keys serialise on the row
//! locks, so they can never both sign conflicting messages. With leased
//! key shards ([`super::fence`]) each transaction also checks, first, that
//! this instance holds the lease of every key it records for.

use super::batch::{self, KeyState, SummaryColumns, SUMMARY_COLUMNS};
use super::fence::{Fence, LEASE_SCHEMA};
use super::interchange::{Interchange, InterchangeAttestation, InterchangeBlock, InterchangeData, InterchangeMetadata};
use super::rules::{AttRow, BlockRow};
use super::{
    blob_root, pubkey_of, to_i64, AttestationRecord, BlockRecord, Feed, ImportSummary, NotSafe, OncePerSlotRecord,
    SlashingDatabase, SlashingError, Verdict,
};
use crate::types::{Hash256, PublicKeyBytes};
use postgres::{Client, NoTls, Row, Transaction};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS poolvc_metadata (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS validators (
    id BIGSERIAL PRIMARY KEY,
    pubkey BYTEA NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    block_slot BIGINT,
    block_root BYTEA,
    block_known BOOLEAN NOT NULL DEFAULT FALSE,
    block_imported BOOLEAN NOT NULL DEFAULT FALSE,
    att_source BIGINT,
    att_target BIGINT,
    att_target_source BIGINT,
    att_target_root BYTEA,
    att_known BOOLEAN NOT NULL DEFAULT FALSE,
    att_imported BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS signed_blocks (
    validator_id BIGINT NOT NULL REFERENCES validators(id),
    slot BIGINT NOT NULL,
    signing_root BYTEA,
    imported BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS signed_blocks_by_slot ON signed_blocks (slot, validator_id);
CREATE TABLE IF NOT EXISTS signed_attestations (
    validator_id BIGINT NOT NULL REFERENCES validators(id),
    source_epoch BIGINT NOT NULL,
    target_epoch BIGINT NOT NULL,
    signing_root BYTEA,
    imported BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS signed_attestations_by_target ON signed_attestations (target_epoch, validator_id);
CREATE TABLE IF NOT EXISTS signed_payload_attestations (
    validator_id BIGINT NOT NULL REFERENCES validators(id),
    slot BIGINT NOT NULL,
    signing_root BYTEA NOT NULL,
    PRIMARY KEY (validator_id, slot)
);
";

/// The PostgreSQL slashing-protection database.
pub struct PostgresSlashingDb {
    client: Mutex<Client>,
    /// With leased key shards: the leases this instance holds, checked in
    /// every slashing transaction ([`super::fence`]).
    fence: Option<Arc<Fence>>,
}

/// A batch split by the fence: the entries admitted (all of them without
/// a fence), and for each input its place among them (`None`: refused).
struct Fenced<'a, T: Clone> {
    admitted: Cow<'a, [T]>,
    places: Option<Vec<Option<usize>>>,
}

impl<T: Clone> Fenced<'_, T> {
    /// One verdict per input, in order: the inner verdicts where admitted,
    /// [`NotSafe::NotLeased`] elsewhere.
    fn verdicts(self, inner: Vec<Verdict>) -> Vec<Verdict> {
        match self.places {
            None => inner,
            Some(places) => places.iter().map(|p| p.map_or(Err(NotSafe::NotLeased), |i| inner[i])).collect(),
        }
    }
}

impl std::fmt::Debug for PostgresSlashingDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresSlashingDb")
    }
}

fn read_state(r: &Row) -> Result<(PublicKeyBytes, KeyState), SlashingError> {
    SummaryColumns {
        id: r.get(0),
        enabled: r.get(1),
        block_slot: r.get(2),
        block_root: r.get(3),
        block_known: r.get(4),
        block_imported: r.get(5),
        att_source: r.get(6),
        att_target: r.get(7),
        att_target_source: r.get(8),
        att_target_root: r.get(9),
        att_known: r.get(10),
        att_imported: r.get(11),
        pubkey: r.get(12),
    }
    .into_state()
}

/// Locks and loads the summaries of `pubkeys`, in ascending id order.
fn lock_states(
    tx: &mut Transaction<'_>,
    pubkeys: &[PublicKeyBytes],
) -> Result<HashMap<PublicKeyBytes, KeyState>, SlashingError> {
    let mut keys: Vec<Vec<u8>> = pubkeys.iter().map(|p| p.to_vec()).collect();
    keys.sort();
    keys.dedup();
    let rows = tx.query(
        &format!("SELECT {SUMMARY_COLUMNS} FROM validators WHERE pubkey = ANY($1) ORDER BY id FOR UPDATE"),
        &[&keys],
    )?;
    rows.iter().map(read_state).collect()
}

/// Writes back the changed summaries with one statement.
fn write_summaries<'a>(
    tx: &mut Transaction<'_>,
    states: impl Iterator<Item = &'a KeyState>,
) -> Result<(), SlashingError> {
    let (mut id, mut bs, mut br, mut bk, mut bi) = (
        Vec::<i64>::new(),
        Vec::<Option<i64>>::new(),
        Vec::<Option<Vec<u8>>>::new(),
        Vec::<bool>::new(),
        Vec::<bool>::new(),
    );
    let (mut asrc, mut atgt, mut ats, mut atr) = (
        Vec::<Option<i64>>::new(),
        Vec::<Option<i64>>::new(),
        Vec::<Option<i64>>::new(),
        Vec::<Option<Vec<u8>>>::new(),
    );
    let (mut ak, mut ai) = (Vec::<bool>::new(), Vec::<bool>::new());
    for k in states {
        let s = &k.summary;
        id.push(k.id);
        bs.push(s.wm.block_slot.map(|v| v as i64));
        br.push(s.latest_block.and_then(|b| b.root.map(|r| r.to_vec())));
        bk.push(s.latest_block.is_some());
        bi.push(s.latest_block.is_some_and(|b| b.imported));
        asrc.push(s.wm.att_source.map(|v| v as i64));
        atgt.push(s.wm.att_target.map(|v| v as i64));
        ats.push(s.latest_att.map(|a| a.source as i64));
        atr.push(s.latest_att.and_then(|a| a.root.map(|r| r.to_vec())));
        ak.push(s.latest_att.is_some());
        ai.push(s.latest_att.is_some_and(|a| a.imported));
    }
    if id.is_empty() {
        return Ok(());
    }
    tx.execute(
        "UPDATE validators v SET block_slot = u.bs, block_root = u.br, block_known = u.bk, block_imported = u.bi,
             att_source = u.asrc, att_target = u.atgt, att_target_source = u.ats, att_target_root = u.atr,
             att_known = u.ak, att_imported = u.ai
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[], $4::bool[], $5::bool[], $6::bigint[], $7::bigint[],
                     $8::bigint[], $9::bytea[], $10::bool[], $11::bool[])
              AS u(id, bs, br, bk, bi, asrc, atgt, ats, atr, ak, ai)
         WHERE v.id = u.id",
        &[&id, &bs, &br, &bk, &bi, &asrc, &atgt, &ats, &atr, &ak, &ai],
    )?;
    Ok(())
}

impl PostgresSlashingDb {
    /// Connects to `url` (e.g. `postgres://user:pw@127.0.0.1/db`), creates the
    /// schema if needed, and records or checks the genesis validators root.
    pub fn connect(url: &str, genesis_validators_root: Hash256) -> Result<Self, SlashingError> {
        let db = Self::connect_existing(url)?;
        {
            let mut c = db.lock()?;
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock(7044307600)", &[])?;
            let stored: Option<Vec<u8>> = tx
                .query_opt("SELECT value FROM poolvc_metadata WHERE key = 'genesis_validators_root'", &[])?
                .map(|r| r.get(0));
            match stored {
                Some(v) if v.as_slice() != genesis_validators_root.as_slice() => {
                    return Err(SlashingError::OtherNetwork {
                        database: "in PostgreSQL".to_string(),
                        stored: blob_root(Some(v))?.unwrap_or_default(),
                        wanted: genesis_validators_root,
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
        }
        Ok(db)
    }

    /// Connects without fixing the network (for export of an existing database).
    pub fn connect_existing(url: &str) -> Result<Self, SlashingError> {
        let mut client = Client::connect(url, NoTls)?;
        // Several instances creating the schema at once serialise on this lock.
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock(7044307600)", &[])?;
        tx.batch_execute(SCHEMA)?;
        tx.commit()?;
        Ok(Self { client: Mutex::new(client), fence: None })
    }

    /// Turns leased key shards on: every slashable message of this
    /// instance is recorded only under a lease `fence` holds (checked in the
    /// same transaction). Creates the lease tables if needed.
    pub fn with_fence(self, fence: Arc<Fence>) -> Result<Self, SlashingError> {
        {
            let mut c = self.lock()?;
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock(7044307600)", &[])?;
            tx.batch_execute(LEASE_SCHEMA)?;
            tx.commit()?;
        }
        Ok(Self { fence: Some(fence), ..self })
    }

    /// Splits `batch` by the fence inside `tx` (everything admitted without one).
    fn fence_batch<'a, T: Clone>(
        &self,
        tx: &mut Transaction<'_>,
        batch: &'a [T],
        pubkey: impl Fn(&T) -> PublicKeyBytes,
    ) -> Result<Fenced<'a, T>, SlashingError> {
        let Some(fence) = &self.fence else { return Ok(Fenced { admitted: Cow::Borrowed(batch), places: None }) };
        let pubkeys: Vec<PublicKeyBytes> = batch.iter().map(&pubkey).collect();
        let ok = fence.admitted(tx, &pubkeys)?;
        let mut admitted = Vec::with_capacity(batch.len());
        let places = batch
            .iter()
            .map(|t| {
                ok.contains(&pubkey(t)).then(|| {
                    admitted.push(t.clone());
                    admitted.len() - 1
                })
            })
            .collect();
        Ok(Fenced { admitted: Cow::Owned(admitted), places: Some(places) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Client>, SlashingError> {
        self.client.lock().map_err(|_| SlashingError::Poisoned)
    }

    /// Drops every poolvc table (tests only: gives each test a clean database).
    pub fn reset_for_tests(url: &str) -> Result<(), SlashingError> {
        let mut c = Client::connect(url, NoTls)?;
        c.batch_execute(
            "DROP TABLE IF EXISTS signed_attestations, signed_blocks, validators, poolvc_metadata, \
             poolvc_shard_keys, poolvc_shards CASCADE",
        )?;
        Ok(())
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
        let mut keys: Vec<Vec<u8>> = pubkeys.iter().map(|p| p.to_vec()).collect();
        keys.sort();
        keys.dedup();
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
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let fenced = self.fence_batch(&mut tx, batch, |a| a.pubkey)?;
        let batch: &[AttestationRecord] = &fenced.admitted;
        let pubkeys: Vec<PublicKeyBytes> = batch.iter().map(|a| a.pubkey).collect();
        let mut keys = lock_states(&mut tx, &pubkeys)?;
        let decision = batch::decide_attestations(batch, &mut keys);
        let mut history: HashMap<i64, Vec<AttRow>> = HashMap::new();
        if let Some(min_source) = decision.pending.iter().map(|(i, _, _)| batch[*i].source_epoch).min() {
            let ids: Vec<i64> = decision.pending.iter().map(|(_, id, _)| *id).collect();
            for r in tx.query(
                "SELECT validator_id, source_epoch, target_epoch, signing_root, imported FROM signed_attestations
                 WHERE target_epoch >= $1 AND validator_id = ANY($2)",
                &[&(min_source as i64), &ids],
            )? {
                let row = AttRow {
                    source: r.get::<_, i64>(1) as u64,
                    target: r.get::<_, i64>(2) as u64,
                    root: blob_root(r.get(3))?,
                    imported: r.get(4),
                };
                history.entry(r.get(0)).or_default().push(row);
            }
        }
        if !decision.accepted.is_empty() {
            let vid: Vec<i64> = decision.accepted.iter().map(|(_, id, _)| *id).collect();
            let src: Vec<i64> = decision.accepted.iter().map(|(_, _, r)| r.source as i64).collect();
            let tgt: Vec<i64> = decision.accepted.iter().map(|(_, _, r)| r.target as i64).collect();
            let roots: Vec<Option<Vec<u8>>> =
                decision.accepted.iter().map(|(_, _, r)| r.root.map(|h| h.to_vec())).collect();
            tx.execute(
                "INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[])",
                &[&vid, &src, &tgt, &roots],
            )?;
        }
        write_summaries(&mut tx, keys.values().filter(|k| k.dirty))?;
        let verdicts = batch::name_attestation_refusals(batch, decision, &history);
        tx.commit()?;
        Ok(fenced.verdicts(verdicts))
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
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let fenced = self.fence_batch(&mut tx, batch, |b| b.pubkey)?;
        let batch: &[OncePerSlotRecord] = &fenced.admitted;
        let pubkeys: Vec<PublicKeyBytes> = batch.iter().map(|b| b.pubkey).collect();
        // The validators' rows locked in id order, as every batch does: two
        // instances voting for the same key serialise here.
        let keys = lock_states(&mut tx, &pubkeys)?;
        let mut out = Vec::with_capacity(batch.len());
        for r in batch {
            let Some(k) = keys.get(&r.pubkey) else {
                out.push(Err(NotSafe::UnregisteredValidator));
                continue;
            };
            if !k.enabled {
                out.push(Err(NotSafe::DisabledValidator));
                continue;
            }
            let prev = tx
                .query_opt(
                    "SELECT signing_root FROM signed_payload_attestations WHERE validator_id = $1 AND slot = $2",
                    &[&k.id, &(r.slot as i64)],
                )?
                .map(|row| row.get::<_, Vec<u8>>(0));
            let top: Option<i64> = tx
                .query_one("SELECT MAX(slot) FROM signed_payload_attestations WHERE validator_id = $1", &[&k.id])?
                .get(0);
            let verdict =
                super::rules::check_once_per_slot(r.slot, r.signing_root, blob_root(prev)?, top.map(|t| t as u64));
            if verdict == Ok(super::Safe::Valid) {
                tx.execute(
                    "INSERT INTO signed_payload_attestations (validator_id, slot, signing_root) VALUES ($1, $2, $3)",
                    &[&k.id, &(r.slot as i64), &r.signing_root.to_vec()],
                )?;
            }
            out.push(verdict);
        }
        tx.commit()?;
        Ok(fenced.verdicts(out))
    }

    fn signed_block_root(&self, pubkey: &PublicKeyBytes, slot: u64) -> Result<Option<Hash256>, SlashingError> {
        let slot = to_i64("slot", slot)?;
        let mut c = self.lock()?;
        let row = c.query_opt(
            "SELECT b.signing_root FROM signed_blocks b JOIN validators v ON v.id = b.validator_id
             WHERE v.pubkey = $1 AND b.slot = $2 AND b.signing_root IS NOT NULL LIMIT 1",
            &[&pubkey.to_vec(), &slot],
        )?;
        blob_root(row.map(|r| r.get::<_, Vec<u8>>(0)))
    }

    fn check_and_insert_blocks(&self, batch: &[BlockRecord]) -> Result<Vec<Verdict>, SlashingError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        for b in batch {
            to_i64("slot", b.slot)?;
        }
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let fenced = self.fence_batch(&mut tx, batch, |b| b.pubkey)?;
        let batch: &[BlockRecord] = &fenced.admitted;
        let pubkeys: Vec<PublicKeyBytes> = batch.iter().map(|b| b.pubkey).collect();
        let mut keys = lock_states(&mut tx, &pubkeys)?;
        let decision = batch::decide_blocks(batch, &mut keys);
        let mut history: HashMap<i64, Vec<BlockRow>> = HashMap::new();
        if let Some(min_slot) = decision.pending.iter().map(|(i, _, _)| batch[*i].slot).min() {
            let ids: Vec<i64> = decision.pending.iter().map(|(_, id, _)| *id).collect();
            for r in tx.query(
                "SELECT validator_id, slot, signing_root, imported FROM signed_blocks WHERE slot >= $1 AND validator_id = ANY($2)",
                &[&(min_slot as i64), &ids],
            )? {
                let row = BlockRow { slot: r.get::<_, i64>(1) as u64, root: blob_root(r.get(2))?, imported: r.get(3) };
                history.entry(r.get(0)).or_default().push(row);
            }
        }
        if !decision.accepted.is_empty() {
            let vid: Vec<i64> = decision.accepted.iter().map(|(_, id, _)| *id).collect();
            let slots: Vec<i64> = decision.accepted.iter().map(|(_, _, r)| r.slot as i64).collect();
            let roots: Vec<Option<Vec<u8>>> =
                decision.accepted.iter().map(|(_, _, r)| r.root.map(|h| h.to_vec())).collect();
            tx.execute(
                "INSERT INTO signed_blocks (validator_id, slot, signing_root) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[])",
                &[&vid, &slots, &roots],
            )?;
        }
        write_summaries(&mut tx, keys.values().filter(|k| k.dirty))?;
        let verdicts = batch::name_block_refusals(batch, decision, &history);
        tx.commit()?;
        Ok(fenced.verdicts(verdicts))
    }

    fn import_entries(&self, genesis_validators_root: Hash256, feed: Feed<'_>) -> Result<ImportSummary, SlashingError> {
        super::check_network(genesis_validators_root, self.genesis_validators_root()?)?;
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        let mut summary = ImportSummary::default();
        let mut seen = std::collections::HashSet::new();
        feed(&mut |d: &InterchangeData| {
            super::check_entry(d, "interchange")?;
            if seen.insert(d.pubkey) {
                summary.validators += 1;
            }
            tx.execute(
                "INSERT INTO validators (pubkey) VALUES ($1) ON CONFLICT (pubkey) DO NOTHING",
                &[&d.pubkey.to_vec()],
            )?;
            let mut states = lock_states(&mut tx, std::slice::from_ref(&d.pubkey))?;
            let Some(mut k) = states.remove(&d.pubkey) else {
                return Err(SlashingError::Corrupt("validator vanished during import".into()));
            };
            let mut blocks = Vec::new();
            for b in &d.signed_blocks {
                let exists = tx
                    .query_opt(
                        "SELECT 1 FROM signed_blocks WHERE slot = $1 AND validator_id = $2",
                        &[&(b.slot as i64), &k.id],
                    )?
                    .is_some();
                if exists {
                    summary.skipped += 1;
                } else {
                    tx.execute(
                        "INSERT INTO signed_blocks (validator_id, slot, signing_root, imported) VALUES ($1, $2, $3, TRUE)",
                        &[&k.id, &(b.slot as i64), &b.signing_root.map(|r| r.to_vec())],
                    )?;
                    summary.blocks_imported += 1;
                }
                blocks.push(BlockRow { slot: b.slot, root: b.signing_root, imported: true });
            }
            let mut atts = Vec::new();
            for a in &d.signed_attestations {
                let exists = tx
                    .query_opt(
                        "SELECT 1 FROM signed_attestations WHERE target_epoch = $1 AND validator_id = $2",
                        &[&(a.target_epoch as i64), &k.id],
                    )?
                    .is_some();
                if exists {
                    summary.skipped += 1;
                } else {
                    tx.execute(
                        "INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root, imported)
                         VALUES ($1, $2, $3, $4, TRUE)",
                        &[&k.id, &(a.source_epoch as i64), &(a.target_epoch as i64), &a.signing_root.map(|r| r.to_vec())],
                    )?;
                    summary.attestations_imported += 1;
                }
                atts.push(AttRow {
                    source: a.source_epoch,
                    target: a.target_epoch,
                    root: a.signing_root,
                    imported: true,
                });
            }
            k.summary.merge_import(&atts, &blocks);
            write_summaries(&mut tx, std::iter::once(&k))?;
            Ok(())
        })?;
        tx.commit()?;
        Ok(summary)
    }

    fn export_interchange(&self, pubkeys: Option<&[PublicKeyBytes]>) -> Result<Interchange, SlashingError> {
        let gvr = self.genesis_validators_root()?;
        let mut c = self.lock()?;
        let mut tx =
            c.build_transaction().read_only(true).isolation_level(postgres::IsolationLevel::RepeatableRead).start()?;
        let mut by_id: std::collections::BTreeMap<i64, InterchangeData> = std::collections::BTreeMap::new();
        for r in tx.query("SELECT id, pubkey FROM validators", &[])? {
            let pk = pubkey_of(r.get(1))?;
            if pubkeys.is_none_or(|want| want.contains(&pk)) {
                by_id.insert(
                    r.get(0),
                    InterchangeData { pubkey: pk, signed_blocks: vec![], signed_attestations: vec![] },
                );
            }
        }
        for r in
            tx.query("SELECT validator_id, slot, signing_root FROM signed_blocks ORDER BY validator_id, slot", &[])?
        {
            if let Some(d) = by_id.get_mut(&r.get::<_, i64>(0)) {
                d.signed_blocks
                    .push(InterchangeBlock { slot: r.get::<_, i64>(1) as u64, signing_root: blob_root(r.get(2))? });
            }
        }
        for r in tx.query(
            "SELECT validator_id, source_epoch, target_epoch, signing_root FROM signed_attestations ORDER BY validator_id, target_epoch",
            &[],
        )? {
            if let Some(d) = by_id.get_mut(&r.get::<_, i64>(0)) {
                d.signed_attestations.push(InterchangeAttestation {
                    source_epoch: r.get::<_, i64>(1) as u64,
                    target_epoch: r.get::<_, i64>(2) as u64,
                    signing_root: blob_root(r.get(3))?,
                });
            }
        }
        tx.commit()?;
        Ok(Interchange { metadata: InterchangeMetadata::v5(gvr), data: by_id.into_values().collect() })
    }

    fn prune(&self, before_epoch: u64, slots_per_epoch: u64) -> Result<(), SlashingError> {
        // Summaries keep the maxima: an old message stays refused after its row is gone.
        let e = to_i64("epoch", before_epoch)?;
        let s = to_i64("slot", before_epoch.saturating_mul(slots_per_epoch))?;
        let mut c = self.lock()?;
        let mut tx = c.transaction()?;
        tx.execute("DELETE FROM signed_attestations WHERE target_epoch < $1", &[&e])?;
        tx.execute("DELETE FROM signed_blocks WHERE slot < $1", &[&s])?;
        // Each key's newest payload attestation stays: it is the watermark.
        tx.execute(
            "DELETE FROM signed_payload_attestations p WHERE p.slot < $1 AND p.slot < (SELECT MAX(q.slot)
             FROM signed_payload_attestations q WHERE q.validator_id = p.validator_id)",
            &[&s],
        )?;
        tx.commit()?;
        Ok(())
    }
}
