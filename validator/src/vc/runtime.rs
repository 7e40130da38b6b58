//! The slot loop.

use super::duties::EpochDuties;
use super::keys::{self, LocalValidator};
pub(super) use super::metrics::Stats;
use crate::beacon::*;
use poolvc_signer::batch::{SignRequest, SigningEngine};
use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::{SqliteSlashingDb, SQLITE_FILE};
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

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
    /// Ask for builder (blinded) blocks and register validators with builders.
    pub builder_proposals: bool,
    /// Default gas limit of builder registrations.
    pub gas_limit: u64,
    /// Doppelganger protection: epochs to watch before signing (0 = off).
    pub doppelganger_epochs: u64,
    /// Serve Prometheus metrics at `http://ADDR/metrics`.
    pub metrics: Option<std::net::SocketAddr>,
    /// A public network the node must be on (genesis root and fork version).
    pub network: Option<crate::networks::KnownNetwork>,
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
    /// Doppelganger protection saw the keys active elsewhere.
    #[error(
        "doppelganger protection: validators {0} are active elsewhere; nothing was signed. \
         Stop the other client before starting this one"
    )]
    Doppelganger(String),
}

/// The running client. Fields are shared by the duty modules (`attest`,
/// `propose`, `sync_committee`, `builder`), each adding methods.
pub(super) struct Vc<P: Preset> {
    pub(super) cfg: VcConfig,
    pub(super) beacon: BeaconClient,
    pub(super) spec: ChainSpec,
    pub(super) genesis: Genesis,
    pub(super) engine: Arc<SigningEngine>,
    pub(super) slashing: Arc<dyn SlashingDatabase>,
    pub(super) validators: Vec<LocalValidator>,
    pub(super) index_of: HashMap<PublicKeyBytes, u64>,
    /// Invariant: every value indexes `validators`, and `index_of` maps that
    /// validator's key to the map's key.
    pub(super) by_index: HashMap<u64, usize>,
    pub(super) stats: Arc<Stats>,
    /// Signed builder registrations, signed once per (fee recipient, gas limit).
    pub(super) registrations: std::sync::Mutex<HashMap<PublicKeyBytes, SignedValidatorRegistrationV1>>,
    pub(super) _p: std::marker::PhantomData<P>,
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Totals of a run, returned when the client stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcSummary {
    /// Attestations published.
    pub attestations: u64,
    /// Aggregates published.
    pub aggregates: u64,
    /// Blocks published.
    pub blocks: u64,
    /// Sync-committee messages published.
    pub sync_messages: u64,
    /// Contribution-and-proofs published.
    pub contributions: u64,
    /// Builder registrations sent (counted per send).
    pub registrations: u64,
    /// Messages refused (slashing protection, inconsistent node data).
    pub refusals: u64,
    /// Duty steps that failed.
    pub errors: u64,
    /// Epoch duties refetched after a dependent-root change.
    pub duty_refreshes: u64,
}

/// Runs the client until SIGINT/SIGTERM (or `max_slots`).
pub async fn run(cfg: VcConfig) -> Result<VcSummary, VcError> {
    let beacon = BeaconClient::new(cfg.beacon_nodes.clone());
    let t = Duration::from_secs(10);
    beacon.check_health(Duration::from_secs(2)).await;
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
    let found = crate::networks::by_genesis_root(&genesis.genesis_validators_root);
    if let Some(want) = cfg.network {
        if genesis.genesis_validators_root != want.genesis_validators_root
            || spec.genesis_fork_version != want.genesis_fork_version
        {
            return Err(VcError::Config(format!(
                "beacon node is on another network: --network {} has genesis validators root {} and genesis fork \
                 version {}, the node reports {} and {} ({})",
                want.name,
                want.genesis_validators_root,
                want.genesis_fork_version,
                genesis.genesis_validators_root,
                spec.genesis_fork_version,
                found.map_or("not a known network", |n| n.name)
            )));
        }
    }
    info!(network = found.map_or("not a known public network", |n| n.name), "beacon node's network");
    info!(preset = spec.preset.as_str(), gvr = %genesis.genesis_validators_root, "connected to beacon node");
    match spec.preset {
        PresetName::Minimal => Vc::<Minimal>::start(cfg, beacon, spec, genesis).await,
        PresetName::Mainnet => Vc::<Mainnet>::start(cfg, beacon, spec, genesis).await,
    }
}

impl<P: Preset> Vc<P> {
    async fn start(
        cfg: VcConfig,
        beacon: BeaconClient,
        spec: ChainSpec,
        genesis: Genesis,
    ) -> Result<VcSummary, VcError> {
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
            stats: Arc::new(Stats::new()),
            registrations: std::sync::Mutex::new(HashMap::new()),
            _p: std::marker::PhantomData,
        };
        vc.stats.validators.set(vc.validators.len() as i64);
        if let Some(addr) = vc.cfg.metrics {
            let bound = vc.stats.serve(addr).await.map_err(|e| VcError::Config(format!("--metrics on {addr}: {e}")))?;
            info!(%bound, "metrics at http://{bound}/metrics");
        }
        vc.main_loop().await?;
        let s = &vc.stats;
        let ld = |c: &prometheus_client::metrics::counter::Counter| c.get();
        Ok(VcSummary {
            attestations: ld(&s.attestations),
            aggregates: ld(&s.aggregates),
            blocks: ld(&s.blocks),
            sync_messages: ld(&s.sync_messages),
            contributions: ld(&s.contributions),
            registrations: ld(&s.registrations),
            refusals: ld(&s.refusals),
            errors: ld(&s.errors),
            duty_refreshes: ld(&s.duty_refreshes),
        })
    }

    pub(super) fn slot_start(&self, slot: u64) -> f64 {
        self.genesis.genesis_time as f64 + slot as f64 * self.spec.slot_duration_ms as f64 / 1000.0
    }

    pub(super) fn current_slot(&self) -> u64 {
        let dt = now_secs() - self.genesis.genesis_time as f64;
        if dt < 0.0 {
            0
        } else {
            (dt * 1000.0 / self.spec.slot_duration_ms as f64) as u64
        }
    }

    pub(super) fn slot_timeout(&self) -> Duration {
        Duration::from_millis(self.spec.slot_duration_ms.max(1000) / 2)
    }

    pub(super) async fn sleep_until(&self, t: f64) {
        let d = t - now_secs();
        if d > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(d)).await;
        }
    }

    pub(super) fn ctx(&self) -> SigningContext<'_> {
        SigningContext { spec: &self.spec, genesis_validators_root: self.genesis.genesis_validators_root }
    }

    pub(super) async fn sign(&self, reqs: Vec<SignRequest>) -> Result<Vec<SignatureBytes>, VcError> {
        let t = std::time::Instant::now();
        let r = self.engine.sign_async(reqs).await.map_err(|e| VcError::Config(format!("signing engine: {e}")));
        self.stats.signing_seconds.observe(t.elapsed().as_secs_f64());
        r
    }

    pub(super) async fn resolve_indices(&mut self) -> Result<(), VcError> {
        let missing: Vec<String> = self
            .validators
            .iter()
            .filter(|v| !self.index_of.contains_key(&v.pubkey))
            .map(|v| format!("0x{}", hex::encode(v.pubkey)))
            .collect();
        // POST with the ids in the body (1,000 per request; the Beacon API's
        // route for many ids), or, on nodes without it, GET with repeated
        // `id=` parameters (old Lodestar does not split comma-separated lists).
        let t = Duration::from_secs(10);
        let mut post_served = true;
        for chunk in missing.chunks(1000) {
            let entries: Data<Vec<ValidatorEntry>> = if post_served {
                let body = serde_json::json!({ "ids": chunk });
                match self.beacon.post("/eth/v1/beacon/states/head/validators", &body, t).await {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::debug!("validators by POST: {e}; asking by GET");
                        post_served = false;
                        self.lookup_by_get(chunk, t).await?
                    }
                }
            } else {
                self.lookup_by_get(chunk, t).await?
            };
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

    async fn lookup_by_get(&self, ids: &[String], t: Duration) -> Result<Data<Vec<ValidatorEntry>>, VcError> {
        let mut all = Vec::new();
        for chunk in ids.chunks(64) {
            let query: Vec<String> = chunk.iter().map(|id| format!("id={id}")).collect();
            let path = format!("/eth/v1/beacon/states/head/validators?{}", query.join("&"));
            let entries: Data<Vec<ValidatorEntry>> = self.beacon.get(&path, t).await?;
            all.extend(entries.data);
        }
        Ok(Data { data: all })
    }

    /// The main loop: one iteration per slot.
    ///
    /// Invariant: `duties` holds the current and the next epoch once fetched;
    /// an entry is replaced as a whole when its dependent root changes.
    async fn main_loop(&mut self) -> Result<(), VcError> {
        let mut duties: HashMap<u64, EpochDuties> = HashMap::new();
        let mut slot = self.current_slot() + 1;
        let first = slot;
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        let mut heads = self.beacon.head_events();
        if let Err(e) = self.resolve_indices().await {
            warn!("validator indices: {e}");
        }
        self.stats.doppelganger_watching.set((self.cfg.doppelganger_epochs > 0) as i64);
        let watched = self.doppelganger_watch(slot, &mut shutdown).await;
        self.stats.doppelganger_watching.set(0);
        if !watched? {
            info!("shutdown requested during doppelganger protection");
            return Ok(());
        }
        // After the watch (which ends late in a slot), start at the next slot.
        slot = slot.max(self.current_slot() + 1);
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
                            Stats::add(&self.stats.errors, 1);
                            warn!(epoch = e, "duties: {err}");
                        }
                    }
                }
                duties.retain(|e, _| *e + 1 >= epoch);
                self.prepare_proposers().await;
                self.register_validators().await;
            }
            let Some(d) = duties.get(&epoch).cloned() else {
                slot += 1;
                continue;
            };
            if let Some(p) = d.proposers.get(&slot) {
                if let Err(e) = self.propose(slot, p.validator_index).await {
                    Stats::add(&self.stats.errors, 1);
                    warn!(slot, "proposal failed: {e}");
                }
            }
            // Attest when the slot's block arrives (head event), at 1/3 slot at the latest.
            let third = self.spec.slot_duration_ms as f64 / 3000.0;
            let head_of_slot = async {
                while heads.borrow_and_update().0 < slot {
                    if heads.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                _ = self.sleep_until(self.slot_start(slot) + third) => {}
                _ = head_of_slot => {}
            }
            let attesters = d.attesters.get(&slot).cloned().unwrap_or_default();
            // Sync messages at `slot` are for the committee of `slot + 1`'s epoch.
            let sync_members =
                duties.get(&self.spec.epoch_of(slot + 1)).map(|d| d.sync.clone()).unwrap_or_else(|| d.sync.clone());
            let (att, sync) = tokio::join!(self.attest(slot, &attesters), self.sync_messages(slot, &sync_members));
            let data_of = att.unwrap_or_else(|e| {
                Stats::add(&self.stats.errors, 1);
                warn!(slot, "attestations failed: {e}");
                HashMap::new()
            });
            let sync_root = sync.unwrap_or_else(|e| {
                Stats::add(&self.stats.errors, 1);
                warn!(slot, "sync messages failed: {e}");
                None
            });
            self.sleep_until(self.slot_start(slot) + 2.0 * third).await;
            let sync_aggs = d.sync_aggregators.get(&slot).cloned().unwrap_or_default();
            let (agg, contrib) =
                tokio::join!(self.aggregate(slot, &attesters, &data_of), self.contribute(slot, sync_root, &sync_aggs));
            if let Err(e) = agg {
                Stats::add(&self.stats.errors, 1);
                warn!(slot, "aggregation failed: {e}");
            }
            if let Err(e) = contrib {
                Stats::add(&self.stats.errors, 1);
                warn!(slot, "sync contributions failed: {e}");
            }
            // Node health for the next slot's ranking.
            let best_before = self.beacon.ranked().first().copied();
            self.beacon.check_health(self.slot_timeout() / 2).await;
            let ranked = self.beacon.ranked();
            for (node, h) in self.beacon.nodes().iter().zip(self.beacon.health()) {
                let label = super::metrics::NodeLabel { node: node.clone() };
                self.stats.node_synced.get_or_create(&label).set(h.synced as i64);
                self.stats.node_failures.get_or_create(&label).set(h.consecutive_failures as i64);
            }
            if ranked.first().copied() != best_before {
                if let Some(best) = ranked.first() {
                    info!(slot, node = %self.beacon.nodes()[*best], health = ?self.beacon.health()[*best], "preferred beacon node changed");
                }
            }
            // Reorg watch: refetch an epoch's duties whose dependent root moved.
            if (slot + 1) % self.spec.slots_per_epoch != 0 {
                self.refresh_changed_duties(epoch, &mut duties).await;
            }
            let s = &self.stats;
            let ld = |c: &prometheus_client::metrics::counter::Counter| c.get();
            info!(
                slot,
                attestations = ld(&s.attestations),
                aggregates = ld(&s.aggregates),
                blocks = ld(&s.blocks),
                sync = ld(&s.sync_messages),
                contributions = ld(&s.contributions),
                refusals = ld(&s.refusals),
                errors = ld(&s.errors),
                "slot done (totals)"
            );
            slot += 1;
        }
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
