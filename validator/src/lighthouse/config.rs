//! From `poolvc vc` / `lighthouse vc` flags to the client's settings: every
//! value is checked here, and a bad one is an error naming its flag.

use super::args::{BroadcastTopic, VcArgs};
use crate::beacon::options::{self, BeaconOptions, OptionsError, Topic};
use crate::config::VcConfig;
use crate::datadir::graffiti_file::{GraffitiFile, GraffitiFileError};
use crate::datadir::layout::{default_network_dir_name, Layout, LayoutError};
use std::path::Path;
use std::sync::Arc;

/// A flag's value is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not an IP address.
    #[error("--metrics-address {given:?} is not an IP address")]
    MetricsAddress {
        /// The value.
        given: String,
    },
    /// Not an address.
    #[error("--suggested-fee-recipient {given:?} is not an address (0x and 40 hex digits)")]
    FeeRecipient {
        /// The value.
        given: String,
    },
    /// An unknown network.
    #[error("--network {given:?} is not known; known: {known} (or give --testnet-dir)")]
    Network {
        /// The value.
        given: String,
        /// The known names.
        known: String,
    },
    /// Not an http(s) URL (the query, which may hold an API key, left out).
    #[error("--monitoring-endpoint {given:?} is not an http(s) URL: {reason}")]
    MonitoringEndpoint {
        /// The value without its query.
        given: String,
        /// Why.
        reason: String,
    },
    /// `--pool-exit-webhook` that is not an http(s) URL.
    #[error("--pool-exit-webhook {given:?} is not an http(s) URL: {reason}")]
    ExitWebhook {
        /// The value without its query.
        given: String,
        /// Why.
        reason: String,
    },
    /// Lease flags that cannot work together.
    #[error("--lease-holder {holder:?}: {reason}")]
    Leases {
        /// The holder's name.
        holder: String,
        /// What is wrong.
        reason: String,
    },
    /// `--http-address` that is not an IP address.
    #[error("--http-address {given:?} is not an IP address")]
    HttpAddress {
        /// The value.
        given: String,
    },
    /// Plain HTTP on an address others can reach, not asked for.
    #[error(
        "--http-address {addr}: the keymanager API would be served over plain HTTP on an address other hosts can \
         reach; add --unencrypted-http-transport if the network between is trusted (or put TLS in front)"
    )]
    UnencryptedHttp {
        /// The address.
        addr: std::net::IpAddr,
    },
    /// `--broadcast none` with other topics.
    #[error("--broadcast: `none` cannot be given with other topics")]
    BroadcastNone,
    /// `--interop-indexes`.
    #[error("--interop-indexes: {0}")]
    Interop(#[from] crate::cmd::keys::KeysError),
    /// The directories.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The graffiti file.
    #[error(transparent)]
    Graffiti(#[from] GraffitiFileError),
    /// Beacon options.
    #[error(transparent)]
    Beacon(#[from] OptionsError),
}

/// `--http` and its flags: loopback by default; another address only with
/// `--unencrypted-http-transport`, as Lighthouse asks.
fn keymanager(a: &VcArgs) -> Result<Option<crate::http::keymanager::KeymanagerConfig>, ConfigError> {
    if !a.http {
        return Ok(None);
    }
    let ip: std::net::IpAddr = match &a.http_address {
        Some(s) => s.parse().map_err(|_| ConfigError::HttpAddress { given: s.clone() })?,
        None => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    };
    if !ip.is_loopback() && !a.unencrypted_http_transport {
        return Err(ConfigError::UnencryptedHttp { addr: ip });
    }
    Ok(Some(crate::http::keymanager::KeymanagerConfig {
        addr: std::net::SocketAddr::new(ip, a.http_port),
        allow_origin: a.http_allow_origin.clone(),
        token_path: a.http_token_path.clone(),
        passwords_in_secrets_dir: a.http_store_passwords_in_secrets_dir,
    }))
}

/// `--monitoring-endpoint`, checked now rather than at the first push.
fn exit_webhook(given: &Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = given else { return Ok(None) };
    let bad =
        |reason: String| ConfigError::ExitWebhook { given: url.split('?').next().unwrap_or(url).to_string(), reason };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("scheme {:?}", parsed.scheme())));
    }
    Ok(Some(url.clone()))
}

fn monitoring_endpoint(given: &Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = given else { return Ok(None) };
    let bad = |reason: String| ConfigError::MonitoringEndpoint {
        given: url.split('?').next().unwrap_or(url).to_string(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("scheme {:?}", parsed.scheme())));
    }
    Ok(Some(url.clone()))
}

fn topics(given: &[BroadcastTopic]) -> Result<Vec<Topic>, ConfigError> {
    if given.contains(&BroadcastTopic::None) {
        return if given.len() == 1 { Ok(Vec::new()) } else { Err(ConfigError::BroadcastNone) };
    }
    Ok(given
        .iter()
        .filter_map(|t| match t {
            BroadcastTopic::None => None,
            BroadcastTopic::Attestations => Some(Topic::Attestations),
            BroadcastTopic::Blocks => Some(Topic::Blocks),
            BroadcastTopic::Subscriptions => Some(Topic::Subscriptions),
            BroadcastTopic::SyncCommittee => Some(Topic::SyncCommittee),
        })
        .collect())
}

/// The lease settings of `--lease-holder` and its flags.
fn leases(a: &VcArgs) -> Result<Option<crate::leases::LeaseConfig>, ConfigError> {
    let Some(holder) = a.lease_holder.clone() else { return Ok(None) };
    let bad = |reason: &str| ConfigError::Leases { holder: holder.clone(), reason: reason.to_string() };
    if holder.is_empty() || holder.len() > 64 {
        return Err(bad("a name of 1 to 64 characters"));
    }
    if a.lease_shards.is_empty() && !a.lease_standby {
        return Err(bad("give --lease-shards, --lease-standby or both: otherwise this instance never signs"));
    }
    if a.lease_missed_renewals == 0 {
        return Err(bad("--lease-missed-renewals must be at least 1"));
    }
    Ok(Some(crate::leases::LeaseConfig {
        holder,
        shards: a.lease_shards.clone(),
        standby: a.lease_standby,
        missed_renewals: a.lease_missed_renewals,
    }))
}

/// The client's settings from the flags; `home` is `$HOME` (Lighthouse's
/// default data dir is under it).
pub fn vc_config(a: &VcArgs, home: Option<&Path>) -> Result<VcConfig, ConfigError> {
    let metrics = if a.metrics {
        let ip: std::net::IpAddr =
            a.metrics_address.parse().map_err(|_| ConfigError::MetricsAddress { given: a.metrics_address.clone() })?;
        Some(std::net::SocketAddr::new(ip, a.metrics_port))
    } else {
        None
    };
    let fee_recipient = match &a.suggested_fee_recipient {
        Some(s) => Some(crate::policy::parse_address(s).ok_or_else(|| ConfigError::FeeRecipient { given: s.clone() })?),
        None => None,
    };
    let network = match &a.network {
        Some(n) => Some(crate::networks::by_name(n).ok_or_else(|| ConfigError::Network {
            given: n.clone(),
            known: crate::networks::NETWORKS.iter().map(|n| n.name).collect::<Vec<_>>().join(", "),
        })?),
        None => None,
    };
    let layout = Layout::resolve(
        a.datadir.as_deref(),
        a.validators_dir.as_deref(),
        a.secrets_dir.as_deref(),
        &default_network_dir_name(a.network.as_deref(), a.testnet_dir.is_some()),
        home,
    )?;
    let graffiti_file = match &a.graffiti_file {
        Some(p) => Some(Arc::new(GraffitiFile::open(p)?)),
        None => None,
    };
    let beacon_options = BeaconOptions {
        broadcast: topics(&a.broadcast)?,
        tls_certs: a.beacon_nodes_tls_certs.clone(),
        sync_tolerance: options::parse_tolerances(&a.beacon_nodes_sync_tolerances)?,
        long_timeouts: a.use_long_timeouts.then_some(a.long_timeouts_multiplier),
    };
    // Certificates that do not parse are refused now, before anything starts.
    options::load_certificates(&beacon_options.tls_certs)?;
    let base = VcConfig::new(a.beacon_nodes.clone(), layout.datadir.clone());
    Ok(VcConfig {
        network,
        slashing_db_url: a.slashing_protection_db.clone(),
        init_slashing_protection: a.init_slashing_protection,
        fee_recipient,
        graffiti: a.graffiti.clone(),
        testnet_config: a.testnet_dir.as_ref().map(|d| d.join("config.yaml")),
        max_slots: a.max_slots,
        builder_proposals: a.builder_proposals || a.prefer_builder_proposals,
        gas_limit: a.gas_limit,
        metrics,
        doppelganger_epochs: if a.enable_doppelganger_protection { a.doppelganger_epochs.max(1) } else { 0 },
        slashing_history_epochs: a.slashing_protection_history_epochs,
        interop_indexes: match &a.interop_indexes {
            Some(r) => Some(crate::cmd::keys::parse_range(r)?),
            None => None,
        },
        leases: leases(a)?,
        pool_auto_exit: a.pool_auto_exit,
        pool_exit_webhook: exit_webhook(&a.pool_exit_webhook)?,
        validators_dir: layout.validators_dir,
        secrets_dir: layout.secrets_dir,
        auto_discover: !a.disable_auto_discover,
        graffiti_file,
        proposer_nodes: a.proposer_nodes.clone(),
        beacon_options,
        builder_boost_factor: if a.prefer_builder_proposals { Some(u64::MAX) } else { a.builder_boost_factor },
        disable_attesting: a.disable_attesting,
        registration_timestamp: a.builder_registration_timestamp_override,
        registration_batch_size: a.validator_registration_batch_size.max(1),
        metrics_allow_origin: a.metrics_allow_origin.clone(),
        distributed: a.distributed,
        monitoring_endpoint: monitoring_endpoint(&a.monitoring_endpoint)?,
        monitoring_period: std::time::Duration::from_secs(a.monitoring_endpoint_period.max(1)),
        high_validator_count_metrics: a.enable_high_validator_count_metrics,
        keymanager: keymanager(a)?,
        disable_key_cache: a.disable_key_cache,
        web3signer: crate::store::web3signer::Web3SignerOptions {
            keep_alive: std::time::Duration::from_millis(a.web3_signer_keep_alive_timeout),
            max_idle_connections: a.web3_signer_max_idle_connections.unwrap_or(usize::MAX),
            disable_local_slashing: a.disable_slashing_protection_web3signer,
            ..Default::default()
        },
        ..base
    })
}
