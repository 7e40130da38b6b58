//! `poolvc vc` / `lighthouse vc` flags: every flag of `lighthouse vc`
//! (Lighthouse's book, `help_vc.md`, and the newer releases' additions),
//! with Lighthouse's names, value types and defaults, plus poolvc's own.
//!
//! Which of Lighthouse's flags poolvc implements, and which it accepts and
//! names in one warning at start, is kept in [`super::flags`].

use std::path::PathBuf;

/// `--debug-level` / `--logfile-debug-level` values (Lighthouse's names;
/// `crit` logs errors only, as tracing has no level above error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Debug and above.
    Debug,
    /// Info and above.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors.
    Error,
    /// Critical (errors).
    Crit,
}

/// `--log-format` / `--logfile-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    #[value(name = "JSON", alias = "json")]
    Json,
    /// Plain text (the default; Lighthouse has no name for it).
    #[value(name = "default", alias = "text")]
    Default,
}

/// `--broadcast` topics (Lighthouse's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum BroadcastTopic {
    /// Send nothing to every node (only with no other topic).
    None,
    /// Attestations and aggregates.
    Attestations,
    /// Blocks.
    Blocks,
    /// Subnet subscriptions and proposer preparations (Lighthouse's default).
    Subscriptions,
    /// Sync-committee messages and contributions.
    SyncCommittee,
}

/// `poolvc vc` flags; names follow `lighthouse vc`.
#[derive(Debug, Clone, clap::Args)]
pub struct VcArgs {
    // ---- beacon nodes ----
    /// Beacon node URLs, comma-separated, first preferred.
    #[arg(long, value_delimiter = ',', default_value = "http://localhost:5052", value_name = "NETWORK_ADDRESSES")]
    pub beacon_nodes: Vec<String>,
    /// PEM files of certificates (comma-separated) trusted for https:// beacon
    /// and proposer nodes, besides the system's roots.
    #[arg(long, value_delimiter = ',', value_name = "CERTIFICATE-FILES")]
    pub beacon_nodes_tls_certs: Vec<PathBuf>,
    /// Sync tolerances `SYNCED,SMALL,MEDIUM` in slots: a node whose sync
    /// distance is within SYNCED counts as synced; nodes are ranked by tier.
    #[arg(long, default_value = "8,8,48", value_name = "TOLERANCES")]
    pub beacon_nodes_sync_tolerances: String,
    /// Nodes that produce and publish blocks (the beacon nodes are the fallback).
    #[arg(long, value_delimiter = ',', value_name = "NETWORK_ADDRESSES")]
    pub proposer_nodes: Vec<String>,
    /// Topics sent to every beacon node at once, comma-separated:
    /// none, attestations, blocks, subscriptions, sync-committee.
    #[arg(long, value_delimiter = ',', value_enum, default_value = "subscriptions", value_name = "API_TOPICS")]
    pub broadcast: Vec<BroadcastTopic>,
    /// Ignored (Lighthouse's --disable-run-on-all, replaced by --broadcast none).
    #[arg(long)]
    pub disable_run_on_all: bool,
    /// Time out beacon requests after a whole slot (times the multiplier) instead of half a slot.
    #[arg(long)]
    pub use_long_timeouts: bool,
    /// Multiplier of the long timeouts.
    #[arg(long, default_value_t = 1, value_name = "MULTIPLIER")]
    pub long_timeouts_multiplier: u32,
    /// Do not attest (blocks, aggregates of nothing, sync duties go on).
    #[arg(long)]
    pub disable_attesting: bool,
    /// Distributed validator middleware: aggregation selection proofs are
    /// combined through the node's selections routes.
    #[arg(long)]
    pub distributed: bool,
    /// Always produce blocks through /eth/v3 (poolvc always does).
    #[arg(long)]
    pub produce_block_v3: bool,
    /// Lighthouse's latency probe (poolvc has none; accepted).
    #[arg(long)]
    pub disable_latency_measurement_service: bool,

    // ---- files and directories ----
    /// Data directory (default: ~/.lighthouse/{network}, `custom` with --testnet-dir).
    #[arg(short = 'd', long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Validators directory (default: {datadir}/validators).
    #[arg(long, value_name = "VALIDATORS_DIR")]
    pub validators_dir: Option<PathBuf>,
    /// Secrets directory (default: {datadir}/secrets).
    #[arg(long, value_name = "SECRETS_DIRECTORY")]
    pub secrets_dir: Option<PathBuf>,
    /// Directory with the network's config.yaml; the beacon node must match it.
    #[arg(short = 't', long, conflicts_with = "network", value_name = "DIR")]
    pub testnet_dir: Option<PathBuf>,
    /// A public network (mainnet, sepolia, holesky, hoodi) the beacon node must
    /// be on: its genesis validators root and fork version are checked at start.
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// Create the slashing protection database if it does not exist.
    #[arg(long)]
    pub init_slashing_protection: bool,
    /// Do not add keystores found in the validators dir to validator_definitions.yml.
    #[arg(long)]
    pub disable_auto_discover: bool,

    // ---- proposals ----
    /// Default fee recipient (0x address).
    #[arg(long, value_name = "FEE-RECIPIENT")]
    pub suggested_fee_recipient: Option<String>,
    /// Default graffiti.
    #[arg(long, value_name = "GRAFFITI")]
    pub graffiti: Option<String>,
    /// Lighthouse's graffiti file (`default: ...` and `0x<pubkey>: ...`
    /// lines), read again at each proposal.
    #[arg(long, value_name = "GRAFFITI-FILE")]
    pub graffiti_file: Option<PathBuf>,
    /// Gas limit of builder registrations (per-validator `gas_limit` in the definitions wins).
    #[arg(long, default_value_t = 36_000_000, value_name = "INTEGER")]
    pub gas_limit: u64,
    /// Ask the node for builder (blinded) blocks and register validators with builders.
    #[arg(long)]
    pub builder_proposals: bool,
    /// Prefer the builder's block whatever its value (builder boost factor 2^64-1).
    #[arg(long)]
    pub prefer_builder_proposals: bool,
    /// The `builder_boost_factor` of block requests (percent; 0 = local blocks only).
    #[arg(long, value_name = "UINT64")]
    pub builder_boost_factor: Option<u64>,
    /// The timestamp of every builder registration (instead of the time of signing).
    #[arg(long, value_name = "TIMESTAMP")]
    pub builder_registration_timestamp_override: Option<u64>,
    /// Builder registrations per request.
    #[arg(long, default_value_t = 500, value_name = "INTEGER")]
    pub validator_registration_batch_size: usize,

    // ---- metrics and monitoring ----
    /// Serve Prometheus metrics at http://ADDRESS:PORT/metrics.
    #[arg(long)]
    pub metrics: bool,
    /// Metrics address.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub metrics_address: String,
    /// Metrics port.
    #[arg(long, default_value_t = 5064, value_name = "PORT")]
    pub metrics_port: u16,
    /// `Access-Control-Allow-Origin` of the metrics server.
    #[arg(long, value_name = "ORIGIN")]
    pub metrics_allow_origin: Option<String>,
    /// Per-validator metrics even with more than 64 keys.
    #[arg(long)]
    pub enable_high_validator_count_metrics: bool,
    /// Push Lighthouse's client-stats JSON (validator and system) to this URL.
    #[arg(long, value_name = "ADDRESS")]
    pub monitoring_endpoint: Option<String>,
    /// Seconds between client-stats pushes.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub monitoring_endpoint_period: u64,

    // ---- logs ----
    /// Log level: trace, debug, info, warn, error, crit.
    #[arg(long, value_enum, default_value = "info", value_name = "LEVEL", ignore_case = true)]
    pub debug_level: LogLevel,
    /// Log format of the terminal (standard error): JSON for one object per line.
    #[arg(long, value_enum, value_name = "FORMAT", ignore_case = true)]
    pub log_format: Option<LogFormat>,
    /// Colours in the terminal log even when it is not a terminal (`--log-color false` turns them off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub log_color: Option<bool>,
    /// No timestamps in the log lines.
    #[arg(long)]
    pub disable_log_timestamp: bool,
    /// Also log to this file (rotated by size).
    #[arg(long, value_name = "FILE")]
    pub logfile: Option<PathBuf>,
    /// Level of the log file.
    #[arg(long, value_enum, default_value = "debug", value_name = "LEVEL", ignore_case = true)]
    pub logfile_debug_level: LogLevel,
    /// Format of the log file.
    #[arg(long, value_enum, value_name = "FORMAT", ignore_case = true)]
    pub logfile_format: Option<LogFormat>,
    /// Rotated log files kept (0: no file is written).
    #[arg(long, default_value_t = 10, value_name = "COUNT")]
    pub logfile_max_number: usize,
    /// Size in MB at which the log file is rotated.
    #[arg(long, default_value_t = 200, value_name = "SIZE")]
    pub logfile_max_size: u64,
    /// Compress rotated log files (gzip).
    #[arg(long)]
    pub logfile_compress: bool,
    /// Log files readable by others (default: 0600).
    #[arg(long)]
    pub logfile_no_restricted_perms: bool,
    /// Leave the allocator as glibc sets it (poolvc otherwise limits malloc arenas).
    #[arg(long)]
    pub disable_malloc_tuning: bool,
    /// Decrypt every keystore at every start instead of using the key cache
    /// (`key-cache.json` in the data dir: one start costs one KDF per
    /// changed keystore, not one per keystore).
    #[arg(long)]
    pub disable_key_cache: bool,

    // ---- the keymanager API (accepted; served by the keymanager API) ----
    /// Serve the keymanager API.
    #[arg(long)]
    pub http: bool,
    /// Keymanager API address.
    #[arg(long, value_name = "ADDRESS")]
    pub http_address: Option<String>,
    /// Keymanager API port.
    #[arg(long, default_value_t = 5062, value_name = "PORT")]
    pub http_port: u16,
    /// Keymanager API `Access-Control-Allow-Origin`.
    #[arg(long, value_name = "ORIGIN")]
    pub http_allow_origin: Option<String>,
    /// Let the keymanager API export keystores.
    #[arg(long)]
    pub http_allow_keystore_export: bool,
    /// Keymanager imports keep passwords in the secrets dir.
    #[arg(long)]
    pub http_store_passwords_in_secrets_dir: bool,
    /// The keymanager API's token file.
    #[arg(long, value_name = "PATH")]
    pub http_token_path: Option<PathBuf>,
    /// Serve the keymanager API on a non-local address without TLS.
    #[arg(long)]
    pub unencrypted_http_transport: bool,

    // ---- remote signers (accepted; served by remote signing) ----
    /// Web3Signer keep-alive timeout.
    #[arg(long, default_value_t = 20_000, value_name = "MILLIS")]
    pub web3_signer_keep_alive_timeout: u64,
    /// Web3Signer idle connections.
    #[arg(long, value_name = "COUNT")]
    pub web3_signer_max_idle_connections: Option<usize>,
    /// Leave slashing protection of Web3Signer keys to the signer.
    #[arg(long)]
    pub disable_slashing_protection_web3signer: bool,

    // ---- doppelganger protection ----
    /// Before signing, watch for the keys active elsewhere (liveness route,
    /// or the chain if the node lacks it); stop if seen.
    #[arg(long)]
    pub enable_doppelganger_protection: bool,
    /// Epochs watched by doppelganger protection (poolvc's own).
    #[arg(long, default_value_t = 2)]
    pub doppelganger_epochs: u64,

    // ---- Lighthouse's global flags with no meaning for a validator client ----
    /// Genesis state source (poolvc reads genesis from the beacon node).
    #[arg(long, value_name = "URL")]
    pub genesis_state_url: Option<String>,
    /// Timeout of --genesis-state-url.
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub genesis_state_url_timeout: u64,
    /// Deprecated (the merge is past).
    #[arg(long, value_name = "INTEGER")]
    pub safe_slots_to_import_optimistically: Option<u64>,
    /// Deprecated (the merge is past).
    #[arg(long, value_name = "EPOCH")]
    pub terminal_block_hash_epoch_override: Option<u64>,
    /// Deprecated (the merge is past).
    #[arg(long, value_name = "HASH")]
    pub terminal_block_hash_override: Option<String>,
    /// Deprecated (the merge is past).
    #[arg(long, value_name = "INTEGER")]
    pub terminal_total_difficulty_override: Option<String>,
    /// OpenTelemetry collector (poolvc exports no traces).
    #[arg(long, value_name = "URL")]
    pub telemetry_collector_url: Option<String>,
    /// OpenTelemetry service name.
    #[arg(long, value_name = "NAME")]
    pub telemetry_service_name: Option<String>,

    // ---- poolvc's own ----
    /// Slashing protection in PostgreSQL (postgres://...) instead of SQLite.
    #[arg(long)]
    pub slashing_protection_db: Option<String>,
    /// Epochs of slashing-protection history kept while running (older
    /// records are pruned once per epoch; the watermarks that protect are
    /// kept). 0 keeps everything.
    #[arg(long, default_value_t = crate::config::DEFAULT_HISTORY_EPOCHS)]
    pub slashing_protection_history_epochs: u64,
    /// Development only: sign with interop keys START..END (inclusive, as
    /// Lodestar's --interopIndexes) instead of the data dir's keystores.
    /// Refused with --network and on any known public network.
    #[arg(long, conflicts_with = "network")]
    pub interop_indexes: Option<String>,
    /// Sign and submit the voluntary exit of a key its pool asks to exit
    /// (Lido `ValidatorExitRequest`, Stader `ForceExitValidator`; pools.yaml
    /// in the data dir). Without it, such requests are alerted with their deadline.
    #[arg(long)]
    pub pool_auto_exit: bool,
    /// POST each pool exit request for a local key (not yet exiting) to this
    /// URL as Lido's validator-ejector does in webhook mode
    /// (`{"validatorIndex", "validatorPubkey"}`), until it answers 2xx.
    #[arg(long, value_name = "URL")]
    pub pool_exit_webhook: Option<String>,
    /// Leased key shards (with --slashing-protection-db): this instance's
    /// name in the lease table, unique per instance. It signs only for the
    /// keys of shards whose lease it holds (`poolvc keys shards`).
    #[arg(long, value_name = "NAME", requires = "slashing_protection_db")]
    pub lease_holder: Option<String>,
    /// Shards this instance takes whenever they are free (comma-separated).
    #[arg(long, value_name = "SHARDS", value_delimiter = ',', requires = "lease_holder")]
    pub lease_shards: Vec<String>,
    /// Take over any shard whose lease expired or was released (a standby).
    /// A shard nobody has held yet is left to the instance that names it in
    /// --lease-shards.
    #[arg(long, requires = "lease_holder")]
    pub lease_standby: bool,
    /// Renewals (one a slot) a holder may miss before its lease expires.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub lease_missed_renewals: u32,
    /// Stop after this many slots (for tests).
    #[arg(long, hide = true)]
    pub max_slots: Option<u64>,
}
