//! `poolvc signer`: a Web3Signer-compatible remote signer on the batch
//! engine, with its own slashing protection (SQLite in its data dir, or
//! PostgreSQL shared by several instances) and poolvc's batch route.
//!
//! Keys come from a directory in Lighthouse's layout (`validators/` with
//! keystores or `validator_definitions.yml`, `secrets/0x<pubkey>`), through
//! the same loader and key cache as `poolvc vc`.
//!
//! Secure by default (`exposure`): loopback only unless TLS with client
//! authentication (`tls`) is set up, `Host` names checked, bodies capped
//! per route, no message dated past the wall clock, optional per-key kinds.

pub mod exposure;
pub mod gate;
pub mod routes;
pub mod tls;

use crate::beacon::BeaconClient;
use crate::datadir::keys::{self, Source};
use crate::policy::ProposalDefaults;
use gate::SignerGate;
use poolvc_signer::clock::WallClock;
use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Where the signer learns its chain config and network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkSource {
    /// A beacon node's `/eth/v1/config/spec` and genesis.
    BeaconNode {
        /// The node's URL.
        url: String,
    },
    /// A consensus `config.yaml`, the network's genesis validators root and
    /// its genesis time.
    Config {
        /// The config file.
        path: PathBuf,
        /// The network's genesis validators root.
        genesis_validators_root: Hash256,
        /// The network's genesis time (Unix seconds): the clock that bounds
        /// every message's slot and epoch.
        genesis_time: u64,
    },
}

/// Settings of `poolvc signer`.
#[derive(Debug, Clone)]
pub struct SignerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Data dir (the SQLite database, the key cache).
    pub datadir: PathBuf,
    /// Keystores and `validator_definitions.yml`.
    pub validators_dir: PathBuf,
    /// Password files named `0x<pubkey>`.
    pub secrets_dir: PathBuf,
    /// Use the key cache in the data dir.
    pub key_cache: bool,
    /// PostgreSQL slashing database (shared by instances) instead of SQLite.
    pub slashing_db_url: Option<String>,
    /// The chain config and network.
    pub network: NetworkSource,
    /// Signing threads (0: all cores).
    pub threads: usize,
    /// TLS (and client authentication), if set up.
    pub tls: Option<tls::TlsOptions>,
    /// `--unencrypted-http-transport`: listen on a non-loopback address
    /// without TLS or client authentication.
    pub unencrypted_http_transport: bool,
    /// The `Host` names answered.
    pub hosts: exposure::HostAllowlist,
    /// Which kinds each key signs.
    pub kinds: exposure::KindsPolicy,
    /// `--enforce-fee-recipients`: what names a fee recipient is signed
    /// only when it pays the key's recipient from the definitions.
    pub enforce_fee_recipients: bool,
}

/// Errors of `poolvc signer`.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The chain config could not be had.
    #[error("chain config from {source_name}: {reason}")]
    Network {
        /// Where it was read.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The keys could not be loaded.
    #[error("loading keys from {}: {reason}", dir.display())]
    Keys {
        /// The validators dir.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The slashing database could not be opened.
    #[error("slashing protection database: {source}")]
    Slashing {
        /// The cause.
        #[from]
        source: poolvc_signer::slashing::SlashingError,
    },
    /// The listener or server failed.
    #[error("serving on {addr}: {reason}")]
    Serve {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A blocking task died.
    #[error("start-up task: {reason}")]
    Task {
        /// Why.
        reason: String,
    },
    /// The flags do not go together.
    #[error("{reason}")]
    Flags {
        /// What is wrong.
        reason: String,
    },
    /// The listen address or the kinds file is refused.
    #[error(transparent)]
    Exposure(#[from] exposure::ExposureError),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// The chain's config, genesis validators root and genesis time.
async fn chain(network: &NetworkSource) -> Result<(ChainSpec, Hash256, u64), SignerError> {
    match network {
        NetworkSource::BeaconNode { url } => {
            let err = |reason: String| SignerError::Network { source_name: url.clone(), reason };
            let beacon = BeaconClient::new(vec![url.clone()]);
            let t = Duration::from_secs(10);
            let spec = beacon.spec(t).await.map_err(|e| err(e.to_string()))?;
            let genesis = beacon.genesis(t).await.map_err(|e| err(e.to_string()))?;
            Ok((spec, genesis.genesis_validators_root, genesis.genesis_time))
        }
        NetworkSource::Config { path, genesis_validators_root, genesis_time } => {
            let name = path.display().to_string();
            let err = |reason: String| SignerError::Network { source_name: name.clone(), reason };
            let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            let spec = ChainSpec::from_config_yaml(&name, &text).map_err(|e| err(e.to_string()))?;
            Ok((spec, *genesis_validators_root, *genesis_time))
        }
    }
}

/// Runs the signer until SIGINT or SIGTERM. Prints `url=http://ADDR` on
/// stdout once it listens (the bound address when the port is 0).
pub async fn run(cfg: SignerConfig) -> Result<(), SignerError> {
    // Refused before anything is loaded: an exposed signer never starts.
    exposure::check_listen(cfg.listen, cfg.tls.as_ref(), cfg.unencrypted_http_transport)?;
    if !cfg.listen.ip().is_loopback() && cfg.tls.is_none() {
        warn!(
            addr = %cfg.listen,
            "--unencrypted-http-transport: anyone who can reach this address can sign with every key, in clear text"
        );
    }
    let tls_config = cfg.tls.as_ref().map(tls::server_config).transpose()?;
    let (spec, gvr, genesis_time) = chain(&cfg.network).await?;
    info!(preset = spec.preset.as_str(), gvr = %gvr, genesis_time, "signer's network");
    let clock = WallClock::new(genesis_time, &spec);
    match spec.preset {
        PresetName::Minimal => serve::<Minimal>(cfg, spec, gvr, clock, tls_config).await,
        PresetName::Mainnet => serve::<Mainnet>(cfg, spec, gvr, clock, tls_config).await,
    }
}

fn open_db(cfg: &SignerConfig, gvr: Hash256) -> Result<Arc<dyn SlashingDatabase>, SignerError> {
    Ok(match &cfg.slashing_db_url {
        Some(url) => Arc::new(PostgresSlashingDb::connect(url, gvr)?),
        None => {
            let path = cfg.datadir.join(poolvc_signer::slashing::sqlite::SQLITE_FILE);
            info!(path = %path.display(), "slashing protection database");
            Arc::new(SqliteSlashingDb::open(&path, gvr)?)
        }
    })
}

async fn serve<P: Preset>(
    cfg: SignerConfig,
    spec: ChainSpec,
    gvr: Hash256,
    clock: WallClock,
    tls_config: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), SignerError> {
    let started = std::time::Instant::now();
    let c = cfg.clone();
    let gate = tokio::task::spawn_blocking(move || -> Result<SignerGate<P>, SignerError> {
        std::fs::create_dir_all(&c.datadir)
            .map_err(|e| SignerError::Keys { dir: c.datadir.clone(), reason: e.to_string() })?;
        let source = Source {
            validators_dir: c.validators_dir.clone(),
            secrets_dir: c.secrets_dir.clone(),
            auto_discover: true,
            key_cache: c.key_cache.then(|| c.datadir.clone()),
        };
        let loaded = keys::load(&source, &ProposalDefaults::default())
            .map_err(|e| SignerError::Keys { dir: c.validators_dir.clone(), reason: e.to_string() })?;
        for f in &loaded.failures {
            warn!("{f}");
        }
        for n in &loaded.cache_notes {
            warn!("{n}");
        }
        if !loaded.remote.is_empty() {
            warn!(
                entries = loaded.remote.len(),
                "web3signer entries in validator_definitions.yml are ignored: a signer signs with its own keystores only"
            );
        }
        info!("keys: {} from the key cache, {} decrypted from their keystores", loaded.from_cache, loaded.decrypted);
        let db = open_db(&c, gvr)?;
        // The loader derived every public key (and checked it).
        let payees: std::collections::HashMap<PublicKeyBytes, Option<Address>> = loaded
            .keys
            .iter()
            .zip(&loaded.public_keys)
            .map(|((_, config), pk)| (pk.to_bytes(), config.fee_recipient))
            .collect();
        let keys: Vec<_> = loaded.keys.into_iter().map(|(sk, _)| sk).zip(loaded.public_keys).collect();
        let gate = SignerGate::new(spec, gvr, clock, keys, db, c.threads)?.with_kinds(c.kinds.clone());
        if !c.enforce_fee_recipients {
            return Ok(gate);
        }
        let unknown = payees.values().filter(|a| a.is_none()).count();
        if unknown > 0 {
            warn!(keys = unknown, "--enforce-fee-recipients: keys with no suggested_fee_recipient sign nothing that pays");
        }
        Ok(gate.with_payees(payees))
    })
    .await
    .map_err(|e| SignerError::Task { reason: e.to_string() })??;
    info!(keys = gate.len(), seconds = started.elapsed().as_secs_f64(), "signer ready");
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| SignerError::Serve { addr: cfg.listen, reason: e.to_string() })?;
    let addr = listener.local_addr().map_err(|e| SignerError::Serve { addr: cfg.listen, reason: e.to_string() })?;
    let app = routes::router(Arc::new(gate), Arc::new(cfg.hosts.clone()));
    let served = match tls_config {
        Some(config) => {
            let tls = tls::TlsListener::new(listener, config)
                .map_err(|e| SignerError::Serve { addr, reason: e.to_string() })?;
            println!("url=https://{addr}");
            info!(%addr, client_auth = cfg.tls.as_ref().is_some_and(|t| t.authenticates_clients()), "signer listening (TLS)");
            axum::serve(tls, app).with_graceful_shutdown(crate::signals::shutdown_signal()).await
        }
        None => {
            println!("url=http://{addr}");
            info!(%addr, "signer listening");
            axum::serve(listener, app).with_graceful_shutdown(crate::signals::shutdown_signal()).await
        }
    };
    served.map_err(|e| SignerError::Serve { addr, reason: e.to_string() })
}
