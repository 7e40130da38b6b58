//! The slot loop.

use super::duties::{is_aggregator, Attester, EpochDuties};
use super::keys::{self, LocalValidator};
use crate::beacon::*;
use poolvc_signer::batch::{SignRequest, SigningEngine};
use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::{SqliteSlashingDb, SQLITE_FILE};
use poolvc_signer::slashing::{AttestationRecord, BlockRecord, SlashingDatabase};
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};
use tree_hash::TreeHash;

/// Settings of `poolvc vc`.
#[derive(Debug, Clone)]
pub struct VcConfig {
    /// Beacon node URLs, first preferred.
    pub beacon_nodes: Vec<String>,
    /// Data dir (validators/, secrets/, slashing_protection.sqlite).
    pub datadir: PathBuf,
    /// PostgreSQL slashing database instead of SQLite.
    pub slashing_db_url: Option<String>,
    /// Allow creating a new slashing database.
    pub init_slashing_protection: bool,
    /// Default fee recipient.
    pub fee_recipient: Option<Address>,
    /// Default graffiti.
    pub graffiti: Option<String>,
    /// A consensus `config.yaml` the node must match.
    pub testnet_config: Option<PathBuf>,
    /// Stop after this many slots (tests); `None` runs until SIGINT/SIGTERM.
    pub max_slots: Option<u64>,
}

/// Errors that stop the client.
#[derive(Debug, thiserror::Error)]
pub enum VcError {
    /// Keys.
    #[error(transparent)]
    Keys(#[from] keys::KeyLoadError),
    /// Beacon node.
    #[error(transparent)]
    Beacon(#[from] BeaconError),
    /// Slashing DB.
    #[error(transparent)]
    Slashing(#[from] poolvc_signer::slashing::SlashingError),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
}

/// Counters, shown per slot and at exit.
#[derive(Debug, Default)]
struct Stats {
    attestations: AtomicU64,
    aggregates: AtomicU64,
    blocks: AtomicU64,
    sync_messages: AtomicU64,
    refusals: AtomicU64,
    errors: AtomicU64,
}

struct Vc<P: Preset> {
    cfg: VcConfig,
    beacon: BeaconClient,
    spec: ChainSpec,
    genesis: Genesis,
    engine: Arc<SigningEngine>,
    slashing: Arc<dyn SlashingDatabase>,
    validators: Vec<LocalValidator>,
    index_of: HashMap<PublicKeyBytes, u64>,
    by_index: HashMap<u64, usize>,
    stats: Stats,
    _p: std::marker::PhantomData<P>,
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Runs the client until SIGINT/SIGTERM (or `max_slots`).
pub async fn run(cfg: VcConfig) -> Result<(), VcError> {
    let beacon = BeaconClient::new(cfg.beacon_nodes.clone());
    let t = Duration::from_secs(10);
    let spec = beacon.spec(t).await?;
    if let Some(path) = &cfg.testnet_config {
        let text = std::fs::read_to_string(path).map_err(|e| VcError::Config(format!("{}: {e}", path.display())))?;
        let ours = ChainSpec::from_config_yaml(&path.display().to_string(), &text)
            .map_err(|e| VcError::Config(e.to_string()))?;
        let diff = ours.mismatches(&spec);
        if !diff.is_empty() {
            return Err(VcError::Config(format!(
                "beacon node is on another network: {}",
                diff.iter().map(|(k, a, b)| format!("{k} ours {a} node {b}")).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let genesis = beacon.genesis(t).await?;
    info!(preset = spec.preset.as_str(), gvr = %genesis.genesis_validators_root, "connected to beacon node");
    match spec.preset {
        PresetName::Minimal => Vc::<Minimal>::start(cfg, beacon, spec, genesis).await,
        PresetName::Mainnet => Vc::<Mainnet>::start(cfg, beacon, spec, genesis).await,
    }
}

impl<P: Preset> Vc<P> {
    async fn start(cfg: VcConfig, beacon: BeaconClient, spec: ChainSpec, genesis: Genesis) -> Result<(), VcError> {
        let datadir = cfg.datadir.clone();
        let (keyset, validators) = tokio::task::spawn_blocking(move || keys::load(&datadir))
            .await
            .map_err(|e| VcError::Config(e.to_string()))??;
        if validators.is_empty() {
            return Err(VcError::Config(format!("{}: no enabled validators", cfg.datadir.display())));
        }
        let gvr = genesis.genesis_validators_root;
        let slashing: Arc<dyn SlashingDatabase> = match &cfg.slashing_db_url {
            Some(url) => Arc::new(PostgresSlashingDb::connect(url, gvr)?),
            None => {
                let path = cfg.datadir.join(SQLITE_FILE);
                if !path.exists() && !cfg.init_slashing_protection {
                    return Err(VcError::Config(format!(
                        "{}: no slashing protection database; start once with --init-slashing-protection",
                        path.display()
                    )));
                }
                Arc::new(SqliteSlashingDb::open(&path, gvr)?)
            }
        };
        slashing.register_validators(&validators.iter().map(|v| v.pubkey).collect::<Vec<_>>())?;
        let engine = Arc::new(SigningEngine::new(keyset, 0));
        info!(validators = validators.len(), threads = engine.threads(), "keys loaded");
        let mut vc = Vc::<P> {
            cfg,
            beacon,
            spec,
            genesis,
            engine,
            slashing,
            validators,
            index_of: HashMap::new(),
            by_index: HashMap::new(),
            stats: Stats::default(),
            _p: std::marker::PhantomData,
        };
        vc.main_loop().await
    }

    fn slot_start(&self, slot: u64) -> f64 {
        self.genesis.genesis_time as f64 + slot as f64 * self.spec.slot_duration_ms as f64 / 1000.0
    }

    fn current_slot(&self) -> u64 {
        let dt = now_secs() - self.genesis.genesis_time as f64;
        if dt < 0.0 {
            0
        } else {
            (dt * 1000.0 / self.spec.slot_duration_ms as f64) as u64
        }
    }

    fn slot_timeout(&self) -> Duration {
        Duration::from_millis(self.spec.slot_duration_ms.max(1000) / 2)
    }

    async fn sleep_until(&self, t: f64) {
        let d = t - now_secs();
        if d > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(d)).await;
        }
    }

    fn ctx(&self) -> SigningContext<'_> {
        SigningContext { spec: &self.spec, genesis_validators_root: self.genesis.genesis_validators_root }
    }

    async fn sign(&self, reqs: Vec<SignRequest>) -> Result<Vec<SignatureBytes>, VcError> {
        self.engine.sign_async(reqs).await.map_err(|e| VcError::Config(format!("signing engine: {e}")))
    }

    async fn resolve_indices(&mut self) -> Result<(), VcError> {
        let missing: Vec<String> = self
            .validators
            .iter()
            .filter(|v| !self.index_of.contains_key(&v.pubkey))
            .map(|v| format!("0x{}", hex::encode(v.pubkey)))
            .collect();
        for chunk in missing.chunks(64) {
            // Repeated `id=` parameters: accepted by every node (old Lodestar
            // does not split comma-separated lists).
            let query: Vec<String> = chunk.iter().map(|id| format!("id={id}")).collect();
            let path = format!("/eth/v1/beacon/states/head/validators?{}", query.join("&"));
            let entries: Data<Vec<ValidatorEntry>> = self.beacon.get(&path, Duration::from_secs(10)).await?;
            for e in entries.data {
                self.index_of.insert(e.validator.pubkey, e.index);
            }
        }
        self.by_index = self
            .validators
            .iter()
            .enumerate()
            .filter_map(|(i, v)| self.index_of.get(&v.pubkey).map(|idx| (*idx, i)))
            .collect();
        Ok(())
    }

    async fn fetch_duties(&self, epoch: u64) -> Result<EpochDuties, VcError> {
        let t = self.slot_timeout() * 4;
        let indices: Vec<String> = self.by_index.keys().map(|i| i.to_string()).collect();
        let body = serde_json::json!(indices);
        let att: DutiesResponse<AttesterDuty> =
            self.beacon.post(&format!("/eth/v1/validator/duties/attester/{epoch}"), &body, t).await?;
        let prop: DutiesResponse<ProposerDuty> =
            self.beacon.get(&format!("/eth/v1/validator/duties/proposer/{epoch}"), t).await?;
        let sync: Vec<SyncDuty> = if self.spec.fork_name_at_epoch(epoch).altair_enabled() {
            self.beacon
                .post::<Data<Vec<SyncDuty>>>(&format!("/eth/v1/validator/duties/sync/{epoch}"), &body, t)
                .await?
                .data
        } else {
            Vec::new()
        };
        // Selection proofs for every attester duty, signed in one batch.
        let mine: Vec<AttesterDuty> =
            att.data.into_iter().filter(|d| self.by_index.contains_key(&d.validator_index)).collect();
        let ctx = self.ctx();
        let reqs: Vec<SignRequest> = mine
            .iter()
            .map(|d| SignRequest {
                key: self.validators[self.by_index[&d.validator_index]].handle,
                signing_root: ctx.signing_root::<P>(&SignableMessage::SelectionProof(d.slot)),
            })
            .collect();
        let proofs = self.sign(reqs).await?;
        let mut duties = EpochDuties { dependent_root: att.dependent_root, ..Default::default() };
        let mut subs = Vec::new();
        for (d, proof) in mine.into_iter().zip(proofs) {
            let agg = is_aggregator(d.committee_length, self.spec.target_aggregators_per_committee, &proof);
            subs.push(CommitteeSubscription {
                validator_index: d.validator_index,
                committee_index: d.committee_index,
                committees_at_slot: d.committees_at_slot,
                slot: d.slot,
                is_aggregator: agg,
            });
            duties
                .attesters
                .entry(d.slot)
                .or_default()
                .push(Attester { duty: d, selection_proof: agg.then_some(proof) });
        }
        if !subs.is_empty() {
            if let Err(e) = self
                .beacon
                .post_ignore(
                    "/eth/v1/validator/beacon_committee_subscriptions",
                    &serde_json::to_value(&subs).unwrap_or_default(),
                    t,
                )
                .await
            {
                warn!("committee subscriptions: {e}");
            }
        }
        for p in prop.data.into_iter().filter(|p| self.by_index.contains_key(&p.validator_index)) {
            duties.proposers.insert(p.slot, p);
        }
        duties.sync = sync.into_iter().filter(|s| self.by_index.contains_key(&s.validator_index)).collect();
        Ok(duties)
    }

    async fn prepare_proposers(&self) {
        let default = self.cfg.fee_recipient.unwrap_or_default();
        let preps: Vec<ProposerPreparation> = self
            .by_index
            .iter()
            .map(|(idx, i)| ProposerPreparation {
                validator_index: *idx,
                fee_recipient: self.validators[*i]
                    .fee_recipient
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(default),
            })
            .collect();
        let body = serde_json::to_value(&preps).unwrap_or_default();
        if let Err(e) =
            self.beacon.post_ignore("/eth/v1/validator/prepare_beacon_proposer", &body, self.slot_timeout()).await
        {
            warn!("prepare_beacon_proposer: {e}");
        }
    }

    async fn main_loop(&mut self) -> Result<(), VcError> {
        let mut duties: HashMap<u64, EpochDuties> = HashMap::new();
        let mut slot = self.current_slot() + 1;
        let first = slot;
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            if self.cfg.max_slots.is_some_and(|m| slot >= first + m) {
                break;
            }
            tokio::select! {
                _ = &mut shutdown => { info!("shutdown requested; in-flight work finished"); break; }
                _ = self.sleep_until(self.slot_start(slot)) => {}
            }
            let epoch = self.spec.epoch_of(slot);
            if !duties.contains_key(&epoch) || slot % self.spec.slots_per_epoch == 0 {
                if let Err(e) = self.resolve_indices().await {
                    warn!("validator indices: {e}");
                }
                for e in [epoch, epoch + 1] {
                    match self.fetch_duties(e).await {
                        Ok(d) => {
                            duties.insert(e, d);
                        }
                        Err(err) => {
                            self.stats.errors.fetch_add(1, Ordering::Relaxed);
                            warn!(epoch = e, "duties: {err}");
                        }
                    }
                }
                duties.retain(|e, _| *e + 1 >= epoch);
                self.prepare_proposers().await;
            }
            let Some(d) = duties.get(&epoch).cloned() else {
                slot += 1;
                continue;
            };
            if let Some(p) = d.proposers.get(&slot) {
                if let Err(e) = self.propose(slot, p.validator_index).await {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    warn!(slot, "proposal failed: {e}");
                }
            }
            let third = self.spec.slot_duration_ms as f64 / 3000.0;
            self.sleep_until(self.slot_start(slot) + third).await;
            let attesters = d.attesters.get(&slot).cloned().unwrap_or_default();
            let (att, sync) = tokio::join!(self.attest(slot, &attesters), self.sync_messages(slot, &d.sync));
            let data_of = att.unwrap_or_else(|e| {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                warn!(slot, "attestations failed: {e}");
                HashMap::new()
            });
            if let Err(e) = sync {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                warn!(slot, "sync messages failed: {e}");
            }
            self.sleep_until(self.slot_start(slot) + 2.0 * third).await;
            if let Err(e) = self.aggregate(slot, &attesters, &data_of).await {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                warn!(slot, "aggregation failed: {e}");
            }
            let s = &self.stats;
            info!(
                slot,
                attestations = s.attestations.load(Ordering::Relaxed),
                aggregates = s.aggregates.load(Ordering::Relaxed),
                blocks = s.blocks.load(Ordering::Relaxed),
                sync = s.sync_messages.load(Ordering::Relaxed),
                refusals = s.refusals.load(Ordering::Relaxed),
                errors = s.errors.load(Ordering::Relaxed),
                "slot done (totals)"
            );
            slot += 1;
        }
        Ok(())
    }

    /// Attests for the slot's duties; returns the attestation data used, by
    /// committee, for the aggregation step.
    async fn attest(&self, slot: u64, attesters: &[Attester]) -> Result<HashMap<u64, AttestationData>, VcError> {
        if attesters.is_empty() {
            return Ok(HashMap::new());
        }
        let t = self.slot_timeout();
        // One attestation_data per committee (pre-Electra).
        let mut committees: Vec<u64> = attesters.iter().map(|a| a.duty.committee_index).collect();
        committees.sort_unstable();
        committees.dedup();
        let mut data_of = HashMap::new();
        for ci in committees {
            let d: Data<AttestationData> = self
                .beacon
                .get(&format!("/eth/v1/validator/attestation_data?slot={slot}&committee_index={ci}"), t)
                .await?;
            if d.data.slot != slot || d.data.index != ci || d.data.source.epoch > d.data.target.epoch {
                self.stats.refusals.fetch_add(1, Ordering::Relaxed);
                warn!(slot, committee = ci, "beacon node served inconsistent attestation data; refused");
                continue;
            }
            data_of.insert(ci, d.data);
        }
        let ctx = self.ctx();
        let work: Vec<(&Attester, AttestationData, Hash256)> = attesters
            .iter()
            .filter_map(|a| {
                data_of
                    .get(&a.duty.committee_index)
                    .map(|d| (a, *d, ctx.signing_root::<P>(&SignableMessage::Attestation(d))))
            })
            .collect();
        let records: Vec<AttestationRecord> = work
            .iter()
            .map(|(a, d, root)| AttestationRecord {
                pubkey: a.duty.pubkey,
                source_epoch: d.source.epoch,
                target_epoch: d.target.epoch,
                signing_root: Some(*root),
            })
            .collect();
        let db = Arc::clone(&self.slashing);
        let verdicts = tokio::task::spawn_blocking(move || db.check_and_insert_attestations(&records))
            .await
            .map_err(|e| VcError::Config(e.to_string()))??;
        let mut safe = Vec::new();
        for (w, v) in work.into_iter().zip(verdicts) {
            match v {
                Ok(_) => safe.push(w),
                Err(reason) => {
                    self.stats.refusals.fetch_add(1, Ordering::Relaxed);
                    warn!(
                        slot,
                        validator = w.0.duty.validator_index,
                        "slashing protection refused attestation: {reason}"
                    );
                }
            }
        }
        let reqs = safe
            .iter()
            .map(|(a, _, root)| SignRequest {
                key: self.validators[self.by_index[&a.duty.validator_index]].handle,
                signing_root: *root,
            })
            .collect();
        let sigs = self.sign(reqs).await?;
        let mut out = Vec::with_capacity(sigs.len());
        for ((a, d, _), sig) in safe.iter().zip(sigs) {
            let mut bits =
                ssz_types::BitList::<P::MaxValidatorsPerCommittee>::with_capacity(a.duty.committee_length as usize)
                    .map_err(|e| VcError::Config(format!("committee length {}: {e:?}", a.duty.committee_length)))?;
            bits.set(a.duty.validator_committee_index as usize, true)
                .map_err(|e| VcError::Config(format!("committee position: {e:?}")))?;
            out.push(AttestationBase::<P> { aggregation_bits: bits, data: *d, signature: sig });
        }
        let n = out.len() as u64;
        self.beacon
            .post_ignore("/eth/v1/beacon/pool/attestations", &serde_json::to_value(&out).unwrap_or_default(), t)
            .await?;
        self.stats.attestations.fetch_add(n, Ordering::Relaxed);
        Ok(data_of)
    }

    /// One aggregate per committee with an aggregator among ours (never one
    /// request per key), then one signing batch and one POST.
    async fn aggregate(
        &self,
        slot: u64,
        attesters: &[Attester],
        data_of: &HashMap<u64, AttestationData>,
    ) -> Result<(), VcError> {
        let t = self.slot_timeout();
        let mut by_committee: HashMap<u64, Vec<&Attester>> = HashMap::new();
        for a in attesters.iter().filter(|a| a.selection_proof.is_some()) {
            by_committee.entry(a.duty.committee_index).or_default().push(a);
        }
        let mut messages = Vec::new();
        for (ci, aggregators) in by_committee {
            // Only committees we attested for: their data passed the checks.
            let Some(data) = data_of.get(&ci) else { continue };
            let root = data.tree_hash_root();
            let agg: Result<Data<AttestationBase<P>>, _> = self
                .beacon
                .get(&format!("/eth/v1/validator/aggregate_attestation?slot={slot}&attestation_data_root={root}"), t)
                .await;
            let Ok(agg) = agg else { continue };
            if agg.data.data != *data {
                self.stats.refusals.fetch_add(1, Ordering::Relaxed);
                warn!(slot, committee = ci, "aggregate for other attestation data; refused");
                continue;
            }
            for a in aggregators {
                messages.push(AggregateAndProofBase::<P> {
                    aggregator_index: a.duty.validator_index,
                    aggregate: agg.data.clone(),
                    selection_proof: a.selection_proof.unwrap_or_default(),
                });
            }
        }
        if messages.is_empty() {
            return Ok(());
        }
        let ctx = self.ctx();
        let reqs = messages
            .iter()
            .map(|m| SignRequest {
                key: self.validators[self.by_index[&m.aggregator_index]].handle,
                signing_root: ctx.signing_root::<P>(&SignableMessage::AggregateAndProofBase(m)),
            })
            .collect();
        let sigs = self.sign(reqs).await?;
        let signed: Vec<SignedAggregateAndProofBase<P>> = messages
            .into_iter()
            .zip(sigs)
            .map(|(message, signature)| SignedAggregateAndProofBase { message, signature })
            .collect();
        let n = signed.len() as u64;
        self.beacon
            .post_ignore(
                "/eth/v1/validator/aggregate_and_proofs",
                &serde_json::to_value(&signed).unwrap_or_default(),
                t,
            )
            .await?;
        self.stats.aggregates.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    async fn sync_messages(&self, slot: u64, members: &[SyncDuty]) -> Result<(), VcError> {
        if members.is_empty() {
            return Ok(());
        }
        let t = self.slot_timeout();
        #[derive(serde::Deserialize)]
        struct Root {
            root: Hash256,
        }
        let head: Data<Root> = self.beacon.get("/eth/v1/beacon/blocks/head/root", t).await?;
        let ctx = self.ctx();
        let root =
            ctx.signing_root::<P>(&SignableMessage::SyncCommitteeMessage { slot, beacon_block_root: head.data.root });
        let reqs = members
            .iter()
            .map(|m| SignRequest { key: self.validators[self.by_index[&m.validator_index]].handle, signing_root: root })
            .collect();
        let sigs = self.sign(reqs).await?;
        let msgs: Vec<SyncCommitteeMessage> = members
            .iter()
            .zip(sigs)
            .map(|(m, signature)| SyncCommitteeMessage {
                slot,
                beacon_block_root: head.data.root,
                validator_index: m.validator_index,
                signature,
            })
            .collect();
        let n = msgs.len() as u64;
        self.beacon
            .post_ignore("/eth/v1/beacon/pool/sync_committees", &serde_json::to_value(&msgs).unwrap_or_default(), t)
            .await?;
        self.stats.sync_messages.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    async fn propose(&self, slot: u64, proposer: u64) -> Result<(), VcError> {
        let t = self.slot_timeout();
        let v = &self.validators[self.by_index[&proposer]];
        let ctx = self.ctx();
        let epoch = self.spec.epoch_of(slot);
        let randao = self
            .sign(vec![SignRequest {
                key: v.handle,
                signing_root: ctx.signing_root::<P>(&SignableMessage::RandaoReveal(epoch)),
            }])
            .await?
            .pop()
            .unwrap_or_default();
        let graffiti = v.graffiti.clone().or_else(|| self.cfg.graffiti.clone()).unwrap_or_else(|| "poolvc".into());
        let mut g = [0u8; 32];
        let gb = graffiti.as_bytes();
        g[..gb.len().min(32)].copy_from_slice(&gb[..gb.len().min(32)]);
        let path = format!("/eth/v2/validator/blocks/{slot}?randao_reveal={randao}&graffiti=0x{}", hex::encode(g));
        let produced: ProducedBlock = self.beacon.get(&path, t * 2).await?;
        let fork: ForkName = produced.version.parse().map_err(|e: UnknownForkName| VcError::Config(e.to_string()))?;
        if fork != self.spec.fork_name_at_slot(slot) {
            return Err(VcError::Config(format!("node produced a {fork} block for slot {slot}")));
        }
        let block = BeaconBlock::<P>::from_json(fork, produced.data)
            .map_err(|e| VcError::Config(format!("produced block: {e}")))?;
        let header = block.header();
        if header.slot != slot || header.proposer_index != proposer {
            self.stats.refusals.fetch_add(1, Ordering::Relaxed);
            return Err(VcError::Config(format!(
                "node produced a block for slot {} proposer {}, expected {slot} {proposer}; refused",
                header.slot, header.proposer_index
            )));
        }
        let root = ctx.signing_root::<P>(&SignableMessage::Block(&block));
        let db = Arc::clone(&self.slashing);
        let rec = BlockRecord { pubkey: v.pubkey, slot, signing_root: Some(root) };
        let verdict = tokio::task::spawn_blocking(move || db.check_and_insert_blocks(&[rec]))
            .await
            .map_err(|e| VcError::Config(e.to_string()))??;
        if let Some(Err(reason)) = verdict.first() {
            self.stats.refusals.fetch_add(1, Ordering::Relaxed);
            return Err(VcError::Config(format!("slashing protection refused block: {reason}")));
        }
        let sig = self.sign(vec![SignRequest { key: v.handle, signing_root: root }]).await?.pop().unwrap_or_default();
        let body = serde_json::json!({"message": block.to_json(), "signature": sig});
        self.beacon.post_ignore("/eth/v1/beacon/blocks", &body, t * 2).await?;
        self.stats.blocks.fetch_add(1, Ordering::Relaxed);
        info!(slot, proposer, "block proposed");
        Ok(())
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
