//! The client and its node table: which nodes, how healthy each is, and
//! their ranking (see the module's docs).

use super::options;
use super::types::Data;
use serde::Deserialize;
use std::time::Duration;

/// What the client knows of one node's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeHealth {
    /// Reachable and not syncing at the last check (assumed until checked).
    pub synced: bool,
    /// `sync_distance` at the last check.
    pub head_distance: u64,
    /// Failed requests since the last success.
    pub consecutive_failures: u32,
}

impl Default for NodeHealth {
    fn default() -> Self {
        Self { synced: true, head_distance: 0, consecutive_failures: 0 }
    }
}

/// `GET /eth/v1/node/syncing`.
#[derive(Debug, Deserialize)]
struct SyncingStatus {
    #[serde(with = "serde_utils::quoted_u64")]
    sync_distance: u64,
    is_syncing: bool,
    #[serde(default)]
    el_offline: bool,
}

/// The client. Clones share the health table.
#[derive(Debug, Clone)]
pub struct BeaconClient {
    pub(super) nodes: Vec<String>,
    pub(super) http: reqwest::Client,
    /// Published messages of these topics go to every node at once.
    pub(super) broadcast: Vec<options::Topic>,
    /// A node within this many slots of the head counts as synced.
    pub(super) sync_tolerance: u64,
    /// Invariant: one entry per node, same order as `nodes`.
    pub(super) health: std::sync::Arc<std::sync::Mutex<Vec<NodeHealth>>>,
}

impl BeaconClient {
    /// A client over `nodes` (base URLs), first preferred.
    pub fn new(nodes: Vec<String>) -> Self {
        let defaults = options::BeaconOptions::default();
        Self::build(nodes, &defaults, Vec::new())
    }

    /// A client over `nodes` with `--broadcast`, the trusted certificates
    /// and the sync tolerance of `opts`.
    /// Refuses an empty list and a node that is not an absolute http(s) URL
    /// with a host, before any request is made.
    pub fn with_options(nodes: Vec<String>, opts: &options::BeaconOptions) -> Result<Self, options::OptionsError> {
        options::check_node_urls(&nodes)?;
        let certs = options::load_certificates(&opts.tls_certs)?;
        Ok(Self::build(nodes, opts, certs))
    }

    fn build(nodes: Vec<String>, opts: &options::BeaconOptions, certs: Vec<reqwest::Certificate>) -> Self {
        // Idle connections are dropped before common servers' keep-alive
        // timeouts (Node.js: 5 s), so a request never lands on a connection
        // the node is closing.
        let mut builder =
            reqwest::Client::builder().pool_max_idle_per_host(4).pool_idle_timeout(Duration::from_secs(4));
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
        let http = builder.build().unwrap_or_default();
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.trim_end_matches('/').to_string()).collect();
        let health = std::sync::Arc::new(std::sync::Mutex::new(vec![NodeHealth::default(); nodes.len()]));
        Self { nodes, http, broadcast: opts.broadcast.clone(), sync_tolerance: opts.sync_tolerance, health }
    }

    /// The configured nodes.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    fn health_table(&self) -> std::sync::MutexGuard<'_, Vec<NodeHealth>> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Each node's health, in configured order.
    pub fn health(&self) -> Vec<NodeHealth> {
        self.health_table().clone()
    }

    /// Node indices, best first.
    pub fn ranked(&self) -> Vec<usize> {
        let h = self.health_table();
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by_key(|i| {
            let n = h[*i];
            (!n.synced, n.consecutive_failures.min(3), n.head_distance, *i)
        });
        order
    }

    pub(super) fn record(&self, node: usize, ok: bool) {
        if let Some(n) = self.health_table().get_mut(node) {
            if ok {
                n.consecutive_failures = 0;
            } else {
                n.consecutive_failures = n.consecutive_failures.saturating_add(1);
            }
        }
    }

    /// Polls every node's `/eth/v1/node/syncing` at once and updates the
    /// ranking. A node that does not answer counts as not synced.
    pub async fn check_health(&self, timeout: Duration) {
        let polls = self.nodes.iter().map(|node| {
            let url = format!("{node}/eth/v1/node/syncing");
            let http = self.http.clone();
            async move {
                let resp = http.get(&url).timeout(timeout).send().await.ok()?;
                if !resp.status().is_success() {
                    return None;
                }
                resp.json::<Data<SyncingStatus>>().await.ok().map(|d| d.data)
            }
        });
        let results = futures_util::future::join_all(polls).await;
        let tolerance = self.sync_tolerance;
        let mut h = self.health_table();
        for (n, r) in h.iter_mut().zip(results) {
            match r {
                Some(s) => {
                    // Syncing within the tolerance counts as synced (Lighthouse's tiers).
                    n.synced = (!s.is_syncing || s.sync_distance <= tolerance) && !s.el_offline;
                    n.head_distance = s.sync_distance;
                    n.consecutive_failures = 0;
                }
                None => {
                    n.synced = false;
                    n.consecutive_failures = n.consecutive_failures.saturating_add(1);
                }
            }
        }
    }
}
