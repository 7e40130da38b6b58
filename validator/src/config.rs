//! The settings of `poolvc vc` ([`VcConfig`]), with Lighthouse's defaults.
//! A leaf of types: the command line ([`crate::lighthouse::config`]) fills
//! it, the runtime and the services read it.

use poolvc_signer::types::Address;
use std::path::PathBuf;
use std::sync::Arc;

/// Default number of epochs of slashing history kept (`--slashing-protection-history-epochs`).
pub const DEFAULT_HISTORY_EPOCHS: u64 = 512;

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
    /// Default fee recipient (`None`: keys without their own propose nothing).
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
    /// Epochs of slashing-protection history kept (0 = never prune).
    pub slashing_history_epochs: u64,
    /// Development only: interop keys instead of the data dir's keystores
    /// (refused on a known public network).
    pub interop_indexes: Option<std::ops::RangeInclusive<u64>>,
    /// Leased key shards (`--lease-holder`): sign only under the leases held.
    pub leases: Option<crate::leases::LeaseConfig>,
    /// Sign and submit the voluntary exits the pools ask for (otherwise
    /// they are alerted).
    pub pool_auto_exit: bool,
    /// Where pool exit requests are posted (webhook mode), if anywhere.
    pub pool_exit_webhook: Option<String>,
    /// Keystores and `validator_definitions.yml` (default `{datadir}/validators`).
    pub validators_dir: PathBuf,
    /// Password files (default `{datadir}/secrets`).
    pub secrets_dir: PathBuf,
    /// Add keystores found in the validators dir to the definitions.
    pub auto_discover: bool,
    /// Lighthouse's graffiti file, read again at each proposal.
    pub graffiti_file: Option<Arc<crate::datadir::graffiti_file::GraffitiFile>>,
    /// Nodes that produce and publish blocks (the beacon nodes are the fallback).
    pub proposer_nodes: Vec<String>,
    /// How the beacon nodes are asked (broadcast topics, timeouts, TLS roots).
    pub beacon_options: crate::beacon::options::BeaconOptions,
    /// `builder_boost_factor` of block requests (`None`: 100 with builder
    /// proposals, 0 without).
    pub builder_boost_factor: Option<u64>,
    /// Do not attest.
    pub disable_attesting: bool,
    /// The timestamp of every builder registration (`None`: the time of signing).
    pub registration_timestamp: Option<u64>,
    /// Builder registrations per request.
    pub registration_batch_size: usize,
    /// `Access-Control-Allow-Origin` of the metrics server.
    pub metrics_allow_origin: Option<String>,
    /// A distributed validator's share (`--distributed`): aggregation is
    /// decided by the combined selection proofs the middleware returns.
    pub distributed: bool,
    /// Push client stats (`--monitoring-endpoint`) to this URL.
    pub monitoring_endpoint: Option<String>,
    /// Time between client-stats pushes.
    pub monitoring_period: std::time::Duration,
    /// Per-validator metrics whatever the number of keys (else only up to
    /// [`crate::metrics::PER_VALIDATOR_MAX_KEYS`]).
    pub high_validator_count_metrics: bool,
    /// The keymanager API (`--http`), if served.
    pub keymanager: Option<crate::http::keymanager::KeymanagerConfig>,
    /// `--disable-key-cache`: decrypt every keystore at every start.
    pub disable_key_cache: bool,
    /// How remote signers (web3signer entries) are reached.
    pub web3signer: crate::store::web3signer::Web3SignerOptions,
}

impl VcConfig {
    /// Settings with Lighthouse's defaults for everything but the nodes and
    /// the data dir.
    pub fn new(beacon_nodes: Vec<String>, datadir: PathBuf) -> Self {
        Self {
            beacon_nodes,
            slashing_db_url: None,
            init_slashing_protection: false,
            fee_recipient: None,
            graffiti: None,
            testnet_config: None,
            max_slots: None,
            builder_proposals: false,
            gas_limit: crate::policy::DEFAULT_GAS_LIMIT,
            doppelganger_epochs: 0,
            metrics: None,
            network: None,
            slashing_history_epochs: DEFAULT_HISTORY_EPOCHS,
            interop_indexes: None,
            leases: None,
            pool_auto_exit: false,
            pool_exit_webhook: None,
            validators_dir: datadir.join("validators"),
            secrets_dir: datadir.join("secrets"),
            auto_discover: true,
            graffiti_file: None,
            proposer_nodes: Vec::new(),
            beacon_options: Default::default(),
            builder_boost_factor: None,
            disable_attesting: false,
            registration_timestamp: None,
            registration_batch_size: 500,
            metrics_allow_origin: None,
            distributed: false,
            monitoring_endpoint: None,
            monitoring_period: std::time::Duration::from_secs(60),
            high_validator_count_metrics: false,
            keymanager: None,
            disable_key_cache: false,
            web3signer: Default::default(),
            datadir,
        }
    }
}
