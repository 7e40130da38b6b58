//! `poolvc signer`: a Web3Signer-compatible remote signer on the batch
//! engine, with its own slashing protection (SQLite in its data dir, or
//! PostgreSQL shared by several instances) and poolvc's batch route.
//!
//! Keys come from a directory in Lighthouse's layout (`validators/` with
//! keystores or `validator_definitions.yml`, `secrets/0x<pubkey>`), through
//! the same loader and key cache as `poolvc vc`.

pub mod gate;
pub mod routes;

use crate::beacon::BeaconClient;
use crate::datadir::keys::{self, Source};
use crate::policy::ProposalDefaults;
use gate::SignerGate;
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
    /// A consensus `config.yaml` and the network's genesis validators root.
    Config {
        /// The config file.
        path: PathBuf,
        /// The network's genesis validators root.
        genesis_validators_root: Hash256,
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
}

async fn chain(network: &NetworkSource) -> Result<(ChainSpec, Hash256), SignerError> {
    match network {
        NetworkSource::BeaconNode { url } => {
            let err = |reason: String| SignerError::Network { source_name: url.clone(), reason };
            let beacon = BeaconClient::new(vec![url.clone()]);
            let t = Duration::from_secs(10);
            let spec = beacon.spec(t).await.map_err(|e| err(e.to_string()))?;
            let genesis = beacon.genesis(t).await.map_err(|e| err(e.to_string()))?;
            Ok((spec, genesis.genesis_validators_root))
        }
        NetworkSource::Config { path, genesis_validators_root } => {
            let name = path.display().to_string();
            let err = |reason: String| SignerError::Network { source_name: name.clone(), reason };
            let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            let spec = ChainSpec::from_config_yaml(&name, &text).map_err(|e| err(e.to_string()))?;
            Ok((spec, *genesis_validators_root))
        }
    }
}

/// Runs the signer until SIGINT or SIGTERM. Prints `url=http://ADDR` on
/// stdout once it listens (the bound address when the port is 0).
pub async fn run(cfg: SignerConfig) -> Result<(), SignerError> {
    let (spec, gvr) = chain(&cfg.network).await?;
    info!(preset = spec.preset.as_str(), gvr = %gvr, "signer's network");
    match spec.preset {
        PresetName::Minimal => serve::<Minimal>(cfg, spec, gvr).await,
        PresetName::Mainnet => serve::<Mainnet>(cfg, spec, gvr).await,
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

async fn serve<P: Preset>(cfg: SignerConfig, spec: ChainSpec, gvr: Hash256) -> Result<(), SignerError> {
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
        let keys: Vec<_> = loaded.keys.into_iter().map(|(sk, _)| sk).zip(loaded.public_keys).collect();
        Ok(SignerGate::new(spec, gvr, keys, db, c.threads)?)
    })
    .await
    .map_err(|e| SignerError::Task { reason: e.to_string() })??;
    info!(keys = gate.len(), seconds = started.elapsed().as_secs_f64(), "signer ready");
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| SignerError::Serve { addr: cfg.listen, reason: e.to_string() })?;
    let addr = listener.local_addr().map_err(|e| SignerError::Serve { addr: cfg.listen, reason: e.to_string() })?;
    println!("url=http://{addr}");
    info!(%addr, "signer listening");
    let app = routes::router(Arc::new(gate));
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::signals::shutdown_signal())
        .await
        .map_err(|e| SignerError::Serve { addr, reason: e.to_string() })
}
