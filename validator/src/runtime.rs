//! Start-up and wiring: checks the node's network, loads the keys into the
//! validator store, opens the slashing database, resolves indices, fetches
//! the first duties, runs doppelganger protection, then starts every duty
//! service on its own task and waits for them (or for SIGINT/SIGTERM).

use crate::beacon::*;
use crate::config::VcConfig;
use crate::datadir::keys;
use crate::error::VcError;
use crate::events::{EventBus, LogSubscriber};
use crate::leases::view::LeaseView;
use crate::metrics::{self, Stats};
use crate::policy::ProposalDefaults;
use crate::services::context::Ctx;
use crate::services::duty_book::DutyBook;
use crate::services::leases::Leases;
use crate::services::{
    attestation, block, client_stats, doppelganger, duties, duty_fetch, health, performance, pool, preferences,
    preparation, proposer_preparation, pruning, ptc, selection, sync_committee,
};
use crate::signals::shutdown_signal;
use crate::store::{StoreTimings, ValidatorStore};
use poolvc_signer::clock::WallClock;
use poolvc_signer::slashing::fence::Fence;
use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::*;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

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
    /// Messages refused (slashing protection, policy, inconsistent node data).
    pub refusals: u64,
    /// Duty steps and messages that failed.
    pub errors: u64,
    /// Epoch duties refetched after a dependent-root change.
    pub duty_refreshes: u64,
    /// Slots services skipped to act for the current slot.
    pub slots_skipped: u64,
}

/// How long in-flight duties may run on after a shutdown request before
/// they are abandoned. Nothing is half-written when they are: each slashing
/// record is one transaction, which commits whole or not at all.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);

/// Runs the client until SIGINT/SIGTERM (or `max_slots`). Waits for a beacon
/// node that is not up yet. Ends within [`SHUTDOWN_GRACE`] of a shutdown
/// request whatever the nodes do.
pub async fn run(cfg: VcConfig) -> Result<VcSummary, VcError> {
    let started = std::time::Instant::now();
    let (stop_tx, _stop) = tokio::sync::watch::channel(false);
    // Only an operator's signal starts the grace clock: a stop the client
    // decides itself (a doppelganger seen) ends with the client's own answer.
    let (signalled_tx, mut signalled) = tokio::sync::watch::channel(false);
    let signal = {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            info!(grace_ms = SHUTDOWN_GRACE.as_millis() as u64, "shutdown requested; finishing in-flight duties");
            let _ = stop_tx.send(true);
            let _ = signalled_tx.send(true);
        })
    };
    let stats = Arc::new(Stats::new());
    // The last holder of the slashing database lets go of it here, on a
    // blocking thread (the PostgreSQL client blocks when it closes).
    let keeper: Arc<std::sync::Mutex<Option<Arc<dyn SlashingDatabase>>>> = Arc::default();
    let mut client = Box::pin(connect_and_start(cfg, Arc::clone(&stats), Arc::clone(&keeper), stop_tx, started));
    let result = tokio::select! {
        r = &mut client => r,
        _ = async {
            if signalled.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            warn!(
                grace_ms = SHUTDOWN_GRACE.as_millis() as u64,
                "duties still in flight after the shutdown grace were abandoned (each slashing record is one \
                 transaction: nothing is half-written)"
            );
            Ok(())
        }
    };
    signal.abort();
    // Whatever the client still held (an abandoned duty's store handle) goes
    // before the database's last holder below.
    drop(client);
    let db = keeper.lock().ok().and_then(|mut k| k.take());
    let _ = tokio::task::spawn_blocking(move || drop(db)).await;
    result?;
    let s = &stats;
    Ok(VcSummary {
        attestations: s.attestations.get(),
        aggregates: s.aggregates.get(),
        blocks: s.blocks.get(),
        sync_messages: s.sync_messages.get(),
        contributions: s.contributions.get(),
        registrations: s.registrations.get(),
        refusals: s.refusals.get(),
        errors: s.errors.get(),
        duty_refreshes: s.duty_refreshes.get(),
        slots_skipped: s.slots_skipped.get(),
    })
}

/// The node's spec and genesis, asked until a node answers (as Lighthouse
/// waits for its beacon node); `None` if shutdown is requested first.
async fn wait_for_node(
    beacon: &BeaconClient,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<(ChainSpec, Genesis)> {
    let mut delay = Duration::from_secs(1);
    loop {
        let attempt = async {
            beacon.check_health(Duration::from_secs(2)).await;
            let t = Duration::from_secs(10);
            let spec = beacon.spec(t).await?;
            let genesis = beacon.genesis(t).await?;
            Ok::<_, BeaconError>((spec, genesis))
        };
        let err = tokio::select! {
            r = attempt => match r {
                Ok(found) => return Some(found),
                Err(e) => e,
            },
            _ = stop.wait_for(|s| *s) => return None,
        };
        warn!("waiting for a beacon node: {err}; trying again in {} s", delay.as_secs());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
        delay = (delay * 2).min(Duration::from_secs(12));
    }
}

/// Connects (waiting for a node), checks the network, then starts.
async fn connect_and_start(
    cfg: VcConfig,
    stats: Arc<Stats>,
    keeper: Arc<std::sync::Mutex<Option<Arc<dyn SlashingDatabase>>>>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    started: std::time::Instant,
) -> Result<(), VcError> {
    // The data dir (Lighthouse's default one may not exist yet).
    std::fs::create_dir_all(&cfg.datadir).map_err(|e| VcError::Task {
        what: "creating the data dir",
        reason: format!("{}: {e}", cfg.datadir.display()),
    })?;
    // Local things first: the flags, the definitions file and the keys are
    // checked (and their faults reported) before any beacon node is asked,
    // so a bad file is told at once even with every node down.
    let beacon = BeaconClient::with_options(cfg.beacon_nodes.clone(), &cfg.beacon_options)?;
    let loaded = load_keys(&cfg).await?;
    let Some((spec, genesis)) = wait_for_node(&beacon, &mut stop_tx.subscribe()).await else { return Ok(()) };
    if let Some(path) = &cfg.testnet_config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VcError::TestnetConfig { path: path.clone(), reason: e.to_string() })?;
        let ours = ChainSpec::from_config_yaml(&path.display().to_string(), &text)
            .map_err(|e| VcError::TestnetConfig { path: path.clone(), reason: e.to_string() })?;
        let diff = ours.mismatches(&spec);
        if !diff.is_empty() {
            let reason = diff.iter().map(|(k, a, b)| format!("{k} ours {a} node {b}")).collect::<Vec<_>>().join(", ");
            return Err(VcError::WrongNetwork { reason });
        }
    }
    let found = crate::networks::by_genesis_root(&genesis.genesis_validators_root);
    if let Some(want) = cfg.network {
        if genesis.genesis_validators_root != want.genesis_validators_root
            || spec.genesis_fork_version != want.genesis_fork_version
        {
            return Err(VcError::WrongNetwork {
                reason: format!(
                    "--network {} has genesis validators root {} and genesis fork version {}, the node reports {} \
                     and {} ({})",
                    want.name,
                    want.genesis_validators_root,
                    want.genesis_fork_version,
                    genesis.genesis_validators_root,
                    spec.genesis_fork_version,
                    found.map_or("not a known network", |n| n.name)
                ),
            });
        }
    }
    if let (Some(n), Some(_)) = (found, &cfg.interop_indexes) {
        return Err(VcError::InteropOnPublicNetwork { network: n.name });
    }
    info!(network = found.map_or("not a known public network", |n| n.name), "beacon node's network");
    info!(preset = spec.preset.as_str(), gvr = %genesis.genesis_validators_root, "connected to beacon node");
    let parts = Parts { beacon, spec, genesis, stats, keeper, stop_tx, started, loaded };
    match parts.spec.preset {
        PresetName::Minimal => start::<Minimal>(cfg, parts).await,
        PresetName::Mainnet => start::<Mainnet>(cfg, parts).await,
    }
}

/// What `start` is handed.
struct Parts {
    beacon: BeaconClient,
    spec: ChainSpec,
    genesis: Genesis,
    stats: Arc<Stats>,
    keeper: Arc<std::sync::Mutex<Option<Arc<dyn SlashingDatabase>>>>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    started: std::time::Instant,
    /// The keys, loaded before any node was asked.
    loaded: keys::Loaded,
}

fn open_slashing_db(
    cfg: &VcConfig,
    gvr: Hash256,
    fence: Option<Arc<poolvc_signer::slashing::fence::Fence>>,
) -> Result<Arc<dyn SlashingDatabase>, VcError> {
    Ok(match &cfg.slashing_db_url {
        Some(url) => match fence {
            Some(f) => Arc::new(PostgresSlashingDb::connect(url, gvr)?.with_fence(f)?),
            None => Arc::new(PostgresSlashingDb::connect(url, gvr)?),
        },
        None => {
            let layout = crate::datadir::layout::Layout {
                datadir: cfg.datadir.clone(),
                validators_dir: cfg.validators_dir.clone(),
                secrets_dir: cfg.secrets_dir.clone(),
            };
            let (path, exists) = layout.slashing_sqlite()?;
            if !exists && !cfg.init_slashing_protection {
                return Err(VcError::NoSlashingDatabase { path });
            }
            info!(path = %path.display(), new = !exists, "slashing protection database");
            Arc::new(SqliteSlashingDb::open(&path, gvr)?)
        }
    })
}

/// Loads the keys of the data dir (or the interop keys) and reports what did
/// not load; an error when there is nothing to sign with and no keymanager
/// API to import keys through.
async fn load_keys(cfg: &VcConfig) -> Result<keys::Loaded, VcError> {
    let defaults = ProposalDefaults {
        fee_recipient: cfg.fee_recipient,
        gas_limit: Some(cfg.gas_limit),
        graffiti: cfg.graffiti.clone(),
        builder_proposals: cfg.builder_proposals,
    };
    let source = keys::Source {
        validators_dir: cfg.validators_dir.clone(),
        secrets_dir: cfg.secrets_dir.clone(),
        auto_discover: cfg.auto_discover,
        key_cache: (!cfg.disable_key_cache).then(|| cfg.datadir.clone()),
    };
    let interop = cfg.interop_indexes.clone();
    let loaded = tokio::task::spawn_blocking(move || match interop {
        Some(range) => Ok(keys::interop(range, &defaults)),
        None => keys::load(&source, &defaults),
    })
    .await
    .map_err(|e| VcError::Task { what: "loading keys", reason: e.to_string() })??;
    for f in &loaded.failures {
        error!("not loaded (nothing will be signed for it): {f}");
    }
    if let Some(note) = &loaded.discovery_note {
        info!("{note}");
    }
    for note in &loaded.cache_notes {
        warn!("{note}");
    }
    if cfg.interop_indexes.is_none() {
        info!(
            from_cache = loaded.from_cache,
            decrypted = loaded.decrypted,
            "keys: {} from the key cache, {} decrypted from their keystores{}",
            loaded.from_cache,
            loaded.decrypted,
            if cfg.disable_key_cache { " (--disable-key-cache)" } else { "" }
        );
    }
    if !loaded.remote.is_empty() {
        info!(
            keys = loaded.remote.len(),
            local_slashing_protection = !cfg.web3signer.disable_local_slashing,
            "keys signing at remote signers"
        );
    }
    if loaded.keys.is_empty() && loaded.remote.is_empty() {
        if cfg.keymanager.is_none() {
            return Err(VcError::NoValidators { datadir: cfg.validators_dir.clone() });
        }
        warn!("no validator loaded: the client waits for keys imported through the keymanager API");
    }
    Ok(loaded)
}

async fn start<P: Preset>(cfg: VcConfig, parts: Parts) -> Result<(), VcError> {
    let Parts { beacon, spec, genesis, stats, keeper, stop_tx, started, loaded } = parts;
    let gvr = genesis.genesis_validators_root;
    let events = Arc::new(EventBus::new());
    events.subscribe(Arc::new(LogSubscriber));
    let slot_log = Arc::new(crate::services::slot_log::SlotLog::default());
    events.subscribe(Arc::clone(&slot_log) as Arc<dyn crate::events::Subscriber>);
    events.subscribe(Arc::clone(&stats) as Arc<dyn crate::events::Subscriber>);
    let timings =
        StoreTimings { signing: Some(stats.signing_seconds.clone()), slashing: Some(stats.slashing_seconds.clone()) };
    let clock = WallClock::new(genesis.genesis_time, &spec);
    let (store, slashing, leases) = open_store::<P>(&cfg, &spec, gvr, clock, &events, timings, loaded).await?;
    // Leases are taken before the first duties are fetched (selection
    // proofs are signed only for keys that may sign).
    if let Some(l) = &leases {
        crate::services::leases::start(l).await;
    }
    if let Ok(mut k) = keeper.lock() {
        *k = Some(Arc::clone(&slashing));
    }
    hold_proposals(&cfg, &store);
    info!(validators = store.len(), threads = store.signer_threads(), "keys loaded");
    stats.validators.set(store.len() as i64);
    stats.set_per_validator(metrics::per_validator(store.len(), cfg.high_validator_count_metrics));
    if let Some(addr) = cfg.metrics {
        let bound = crate::http::metrics::serve(
            &stats,
            addr,
            cfg.datadir.clone(),
            cfg.slashing_db_url.clone(),
            cfg.metrics_allow_origin.as_deref(),
        )
        .await
        .map_err(|source| VcError::Metrics { addr, source })?;
        info!(%bound, "metrics at http://{bound}/metrics");
    }

    if let Some(km) = &cfg.keymanager {
        serve_keymanager(&cfg, km, &spec, &genesis, &store, &slashing).await?;
    }

    let stop = stop_tx.subscribe();
    // `head_v2` is asked for only of a chain that schedules Gloas (older
    // nodes refuse the topic, and with it the whole subscription).
    let heads = beacon.head_events(spec.gloas_scheduled());
    let proposer_nodes = if cfg.proposer_nodes.is_empty() {
        None
    } else {
        let nodes = BeaconClient::with_options(cfg.proposer_nodes.clone(), &cfg.beacon_options)?;
        Some(Arc::new(nodes) as Arc<dyn BeaconApi<P>>)
    };
    let mut ctx = Ctx {
        cfg,
        beacon: Arc::new(beacon),
        proposer_nodes,
        spec,
        genesis,
        store: Arc::clone(&store),
        duties: DutyBook::default(),
        events,
        stats: Arc::clone(&stats),
        heads,
        first_slot: 0,
        end_slot: None,
        stop,
        slot_log,
        roster: Default::default(),
        recipients_moved: Default::default(),
    };
    // Before genesis the first duty is slot 0's (its attestations vote for
    // the genesis block); once the chain runs, the next slot's.
    ctx.first_slot = if ctx.slot_start(0) > crate::services::context::now_secs() { 0 } else { ctx.current_slot() + 1 };
    // `--max-slots N` ends N slots after the next one (slot 0's duties
    // before genesis come on top).
    ctx.end_slot = ctx.cfg.max_slots.map(|m| ctx.current_slot() + 1 + m);
    let ctx = Arc::new(ctx);
    // Renewed from now on, also while the first duties are fetched: a
    // lease lasts little more than a slot.
    let leases = leases.map(|l| tokio::spawn(crate::services::leases::run(Arc::clone(&ctx), l)));
    run_services(ctx, slashing, leases, started, stop_tx).await
}

/// Opens the slashing database and makes the store with the loaded keys
/// (registered with slashing protection first), off the async threads.
async fn open_store<P: Preset>(
    cfg: &VcConfig,
    spec: &ChainSpec,
    gvr: Hash256,
    clock: WallClock,
    events: &Arc<EventBus>,
    timings: StoreTimings,
    loaded: keys::Loaded,
) -> Result<(Arc<ValidatorStore<P>>, Arc<dyn SlashingDatabase>, Option<Arc<Leases>>), VcError> {
    let (cfg, spec, events) = (cfg.clone(), spec.clone(), Arc::clone(events));
    tokio::task::spawn_blocking(move || -> Result<_, VcError> {
        // Leased key shards: the fence goes into every slashing
        // transaction, the view into the gate (the flags require PostgreSQL).
        let leases = match (&cfg.leases, &cfg.slashing_db_url) {
            (Some(lc), Some(url)) => {
                let fence = Arc::new(Fence::new(lc.holder.clone()));
                let view = Arc::new(LeaseView::new());
                let slot = std::time::Duration::from_millis(spec.slot_duration_ms);
                let l = Leases::connect(url, lc.clone(), slot, Arc::clone(&fence), Arc::clone(&view))?;
                Some((fence, view, Arc::new(l)))
            }
            _ => None,
        };
        let slashing = open_slashing_db(&cfg, gvr, leases.as_ref().map(|l| Arc::clone(&l.0)))?;
        let mut store = ValidatorStore::<P>::new(spec, gvr, clock, Arc::clone(&slashing), events, timings)
            .with_web3signer_options(cfg.web3signer.clone());
        if let Some((_, view, _)) = &leases {
            store = store.with_leases(Arc::clone(view));
        }
        let may_sign = cfg.doppelganger_epochs == 0;
        if loaded.public_keys.len() == loaded.keys.len() {
            let derived = loaded.keys.into_iter().zip(loaded.public_keys).map(|((sk, c), pk)| (sk, pk, c)).collect();
            store.add_local_keys_derived(derived, may_sign)?;
        } else {
            store.add_local_keys(loaded.keys, may_sign)?;
        }
        store.add_remote_keys(loaded.remote, cfg.doppelganger_epochs == 0)?;
        Ok((Arc::new(store), slashing, leases.map(|l| l.2)))
    })
    .await
    .map_err(|e| VcError::Task { what: "opening the slashing database", reason: e.to_string() })?
}

/// Says which keys have no fee recipient (they will not propose), and
/// holds every key's proposals when `pools.yaml` exists until the pool
/// service has read the contracts (fail closed).
fn hold_proposals<P: Preset>(cfg: &VcConfig, store: &ValidatorStore<P>) {
    let no_fee = store.keys_without_fee_recipient();
    if !no_fee.is_empty() {
        let list = no_fee.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ");
        warn!(
            keys = no_fee.len(),
            "no fee recipient for {list}: these keys will not propose or register with builders. Set \
             `suggested_fee_recipient` for them in validator_definitions.yml, or --suggested-fee-recipient"
        );
    }
    if cfg.datadir.join(crate::pool::config::POOLS_FILE).exists() {
        // Fail closed until the pool service has read the contracts: no key
        // proposes with a recipient its pool may contradict.
        store.set_pool_recipients(|_| {
            Some(crate::policy::PoolRecipient::Unknown {
                pool: "pools.yaml".into(),
                operator: "?".into(),
                reason: "the pool contracts are not read yet".into(),
            })
        });
        info!("pools.yaml found: keys propose once their pool's contracts are read");
    }
}

/// Serves the keymanager API (`--http`) over the store and the database.
async fn serve_keymanager<P: Preset>(
    cfg: &VcConfig,
    km: &crate::http::keymanager::KeymanagerConfig,
    spec: &ChainSpec,
    genesis: &Genesis,
    store: &Arc<ValidatorStore<P>>,
    slashing: &Arc<dyn SlashingDatabase>,
) -> Result<(), VcError> {
    let gvr = genesis.genesis_validators_root;
    let parts = crate::http::keymanager::Parts {
        spec: spec.clone(),
        genesis_time: genesis.genesis_time,
        genesis_validators_root: gvr,
        validators_dir: cfg.validators_dir.clone(),
        secrets_dir: cfg.secrets_dir.clone(),
        defaults: ProposalDefaults {
            fee_recipient: cfg.fee_recipient,
            gas_limit: Some(cfg.gas_limit),
            graffiti: cfg.graffiti.clone(),
            builder_proposals: cfg.builder_proposals,
        },
        passwords_in_secrets_dir: km.passwords_in_secrets_dir,
        may_sign_new: cfg.doppelganger_epochs == 0,
        key_cache: (!cfg.disable_key_cache).then(|| cfg.datadir.clone()),
    };
    let manager = Arc::new(crate::http::keymanager::Keymanager::new(Arc::clone(store), Arc::clone(slashing), parts));
    let (bound, token) = manager.serve(km).await?;
    if token.created {
        info!(path = %token.path.display(), "keymanager API token created (mode 0600)");
    }
    if let Some(mode) = token.fixed_mode {
        warn!(
            path = %token.path.display(),
            "keymanager API token was readable by others (mode {mode:o}); made 0600"
        );
    }
    info!(%bound, token = %token.path.display(), "keymanager API at http://{bound}");
    Ok(())
}

/// Indices, the first duties and proposer preparation, then the services
/// (doppelganger protection among them).
async fn run_services<P: Preset>(
    ctx: Arc<Ctx<P>>,
    slashing: Arc<dyn SlashingDatabase>,
    leases: Option<tokio::task::JoinHandle<()>>,
    started: std::time::Instant,
    stop: tokio::sync::watch::Sender<bool>,
) -> Result<(), VcError> {
    if let Err(e) = duty_fetch::resolve_indices(&ctx).await {
        warn!("validator indices: {e}");
    }
    // The first slot's epoch; the next one too only in the epoch's last
    // quarter (else the duties service fetches it at the first slot, off
    // the start-up: at 1,000,000 keys each is a 250 MB answer).
    let epoch = ctx.spec.epoch_of(ctx.first_slot);
    let spe = ctx.spec.slots_per_epoch;
    let late = ctx.first_slot % spe >= spe - spe / 4;
    let epochs = if late { epoch..=epoch + 1 } else { epoch..=epoch };
    for e in epochs {
        match duty_fetch::fetch_duties(&ctx, e).await {
            Ok(d) => ctx.duties.insert(e, d),
            Err(err) => ctx.duty_failed(crate::events::Service::Duties, ctx.spec.start_slot(e), err),
        }
    }
    // poolvc's own duty outcomes, kept beside the chain's verdict.
    let own = Arc::new(performance::OwnOutcomes::new(ctx.spec.slots_per_epoch));
    ctx.events.subscribe(Arc::clone(&own) as Arc<dyn crate::events::Subscriber>);
    // The pool rules are read before anything proposes (bounded by a slot).
    let pool_state = pool::start(&ctx).await;
    // The node learns the fee recipients before the first proposal can ask
    // for a block (else the first slot's block would pay someone else and be
    // refused); the preparation service repeats it every epoch.
    proposer_preparation::prepare_proposers(&ctx).await;
    // Start-up's transient buffers (keys, indices, the first duties) are freed.
    tokio::task::spawn_blocking(crate::heap::release_free_pages).await.ok();
    info!(
        startup_ms = started.elapsed().as_millis() as u64,
        first_slot = ctx.first_slot,
        "services started: ready for the first duty"
    );
    let doppelganger = tokio::spawn(doppelganger::run(Arc::clone(&ctx), stop));
    let mut services = tokio::task::JoinSet::new();
    services.spawn(duties::run(Arc::clone(&ctx)));
    services.spawn(selection::run(Arc::clone(&ctx)));
    if ctx.cfg.disable_attesting {
        warn!("--disable-attesting: no attestation or aggregate will be signed; blocks and sync duties go on");
    } else {
        services.spawn(attestation::run(Arc::clone(&ctx)));
    }
    services.spawn(block::run(Arc::clone(&ctx)));
    services.spawn(sync_committee::run(Arc::clone(&ctx)));
    if ctx.spec.scheduled(ForkName::Gloas).is_some_and(|f| f.epoch != FAR_FUTURE_EPOCH) {
        services.spawn(ptc::run(Arc::clone(&ctx)));
        services.spawn(preferences::run(Arc::clone(&ctx)));
    }
    services.spawn(preparation::run(Arc::clone(&ctx)));
    services.spawn(health::run(Arc::clone(&ctx)));
    services.spawn(pruning::run(Arc::clone(&ctx), slashing));
    services.spawn(pool::run(Arc::clone(&ctx), pool_state));
    services.spawn(performance::run(Arc::clone(&ctx), own));
    // Not a duty: it runs until the duties end.
    let client_stats = ctx
        .cfg
        .monitoring_endpoint
        .clone()
        .map(|url| tokio::spawn(client_stats::run(Arc::clone(&ctx), url, ctx.cfg.monitoring_period)));
    while let Some(r) = services.join_next().await {
        if let Err(e) = r {
            error!("a duty service stopped: {e}");
        }
    }
    if let Some(h) = client_stats {
        h.abort();
    }
    // The lease service ends with the slots (and releases its leases).
    if let Some(h) = leases {
        let slot = Duration::from_millis(ctx.spec.slot_duration_ms);
        if tokio::time::timeout(2 * slot, h).await.is_err() {
            warn!("the lease service did not end with the others; its leases expire on their own");
        }
    }
    if !doppelganger.is_finished() {
        doppelganger.abort();
    }
    match doppelganger.await {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => Ok(()),
        Err(e) => Err(VcError::Task { what: "doppelganger protection", reason: e.to_string() }),
    }
}
