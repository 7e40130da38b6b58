//! The client's counters and Prometheus metrics (`--metrics`): what was
//! published, refused and failed (counted from the outcome events, as a
//! subscriber; no service counts by hand), how long signing and slashing
//! batches take, each beacon node's health, and whether doppelganger
//! protection is still watching. Served as the Prometheus text format at
//! `/metrics`.

use crate::events::{Event, MessageKind, Subscriber};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A gauge of a fraction.
pub(crate) type FGauge = Gauge<f64, AtomicU64>;
use std::sync::Arc;

/// Labels of the per-kind message counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindOutcome {
    /// Message kind.
    pub kind: String,
    /// `published`, `refused` or `failed`.
    pub outcome: String,
}

/// Labels of the per-validator message counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ValidatorKindOutcome {
    /// The validator's index.
    pub validator: String,
    /// Message kind.
    pub kind: String,
    /// `published` or `refused`.
    pub outcome: String,
}

/// Up to this many keys, per-validator series are exported without
/// Labels of `poolvc_failures`: the message kind and the failure's cause.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindCause {
    /// Message kind.
    pub kind: String,
    /// [`crate::outcome::Failure::cause`]: `database_busy`, `node_timeout`, ...
    pub cause: String,
}

/// `--enable-high-validator-count-metrics` (Lighthouse's threshold).
pub const PER_VALIDATOR_MAX_KEYS: usize = 64;

/// Whether per-validator series are exported for `keys` keys.
pub fn per_validator(keys: usize, high_validator_count_metrics: bool) -> bool {
    high_validator_count_metrics || keys <= PER_VALIDATOR_MAX_KEYS
}

/// A beacon node label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NodeLabel {
    /// The node's URL.
    pub node: String,
}

/// A pool and operator label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PoolLabel {
    /// The pool.
    pub pool: String,
    /// The operator.
    pub operator: String,
}

/// Counters (shown per slot, returned at exit, exported) and the other
/// metrics. Counters are shared with the registry (clones of one atomic).
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) attestations: Counter,
    pub(crate) aggregates: Counter,
    pub(crate) blocks: Counter,
    pub(crate) sync_messages: Counter,
    pub(crate) contributions: Counter,
    pub(crate) registrations: Counter,
    pub(crate) refusals: Counter,
    pub(crate) errors: Counter,
    pub(crate) duty_refreshes: Counter,
    /// Slots services skipped to catch up with the clock.
    pub(crate) slots_skipped: Counter,
    /// Messages by kind and outcome.
    pub(crate) messages: Family<KindOutcome, Counter>,
    /// Messages not signed or published for an outage, by kind and cause.
    pub(crate) failures: Family<KindCause, Counter>,
    /// Messages refused, by kind and the rule that refused them.
    pub(crate) refused: Family<KindCause, Counter>,
    /// Messages by validator, kind and outcome (only while `per_validator`).
    pub(crate) validator_messages: Family<ValidatorKindOutcome, Counter>,
    /// Whether the per-validator series are kept ([`per_validator`]).
    per_validator: std::sync::atomic::AtomicBool,
    /// Seconds per signing-engine batch.
    pub(crate) signing_seconds: Histogram,
    /// Seconds per slashing-protection check-and-insert batch.
    pub(crate) slashing_seconds: Histogram,
    /// 1 if the node was synced at the last health check.
    pub(crate) node_synced: Family<NodeLabel, Gauge>,
    /// Failed requests since the node's last success.
    pub(crate) node_failures: Family<NodeLabel, Gauge>,
    /// Validators loaded.
    pub(crate) validators: Gauge,
    /// 1 while doppelganger protection holds signing back.
    pub(crate) doppelganger_watching: Gauge,
    /// Local keys per pool and operator, as the pool contracts say.
    pub(crate) pool_keys: Family<PoolLabel, Gauge>,
    /// Local keys a pool holds whose recipient is not known (they do not propose).
    pub(crate) pool_keys_without_recipient: Gauge,
    /// Local keys no pool holds.
    pub(crate) pool_local_keys_in_no_pool: Gauge,
    /// Keys the pools give the operator that poolvc has no keystore for.
    pub(crate) pool_keys_without_keystore: Gauge,
    /// Failed reads of a pool's contracts.
    pub(crate) pool_read_errors: Counter,
    /// Exit requests for local keys not yet exited.
    pub(crate) pool_exit_requests: Gauge,
    /// Lido performance of each operator's keys over the current frame so far.
    pub(crate) perf_operator_performance: Family<PoolLabel, FGauge>,
    /// The lowest key threshold of each operator in the current frame.
    pub(crate) perf_operator_threshold: Family<PoolLabel, FGauge>,
    /// Keys below their threshold in the current frame so far.
    pub(crate) perf_operator_keys_below: Family<PoolLabel, Gauge>,
    /// Keys projected below their threshold at the end of the current frame.
    pub(crate) perf_operator_keys_at_risk: Family<PoolLabel, Gauge>,
    /// Keys whose strikes reach the pool's ejection threshold.
    pub(crate) perf_operator_keys_ejectable: Family<PoolLabel, Gauge>,
    /// Attestation duties missed in the current frame so far.
    pub(crate) perf_operator_attestations_missed: Family<PoolLabel, Gauge>,
    /// Attestation rewards earned over ideal in the current frame so far.
    pub(crate) perf_operator_rewards_ratio: Family<PoolLabel, FGauge>,
    /// The network's performance in the current frame so far.
    pub(crate) perf_network_performance: FGauge,
    /// The newest judged epoch.
    pub(crate) perf_last_epoch: Gauge,
    /// The current frame.
    pub(crate) perf_frame: Gauge,
    /// Epochs judged again after a reorg.
    pub(crate) perf_epochs_rejudged: Counter,
    /// Failed passes of the performance service.
    pub(crate) perf_errors: Counter,
    registry: Arc<Registry>,
}

impl Stats {
    /// Counters at zero, registered under `poolvc_`.
    pub(crate) fn new() -> Self {
        let mut r = Registry::with_prefix("poolvc");
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let attestations = counter(&mut r, "attestations_published", "Attestations published");
        let aggregates = counter(&mut r, "aggregates_published", "Aggregate-and-proofs published");
        let blocks = counter(&mut r, "blocks_published", "Blocks published");
        let sync_messages = counter(&mut r, "sync_messages_published", "Sync-committee messages published");
        let contributions = counter(&mut r, "contributions_published", "Sync contribution-and-proofs published");
        let registrations = counter(&mut r, "builder_registrations_sent", "Builder registrations sent");
        let refusals = counter(&mut r, "refusals", "Messages refused (slashing protection, inconsistent node data)");
        let errors = counter(&mut r, "duty_errors", "Duty steps that failed");
        let duty_refreshes = counter(&mut r, "duty_refreshes", "Epoch duties refetched after a dependent-root change");
        let slots_skipped =
            counter(&mut r, "slots_skipped", "Slots a duty service skipped to act for the current slot");
        let failures = Family::<KindCause, Counter>::default();
        r.register(
            "failures",
            "Messages not signed or published for an outage, by kind and cause (database_busy, node_timeout, ...)",
            failures.clone(),
        );
        let refused = Family::<KindCause, Counter>::default();
        r.register(
            "refused",
            "Messages refused, by kind and rule (slashable, ahead_of_clock, blinded_block_not_allowed, ...)",
            refused.clone(),
        );
        let messages = Family::<KindOutcome, Counter>::default();
        r.register("messages", "Messages by kind and outcome (published, refused, failed)", messages.clone());
        let validator_messages = Family::<ValidatorKindOutcome, Counter>::default();
        r.register(
            "validator_messages",
            "Messages by validator, kind and outcome (up to 64 keys, or with --enable-high-validator-count-metrics)",
            validator_messages.clone(),
        );
        let signing_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        r.register("signing_batch_seconds", "Seconds per signing-engine batch", signing_seconds.clone());
        let slashing_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        r.register("slashing_batch_seconds", "Seconds per slashing check-and-insert batch", slashing_seconds.clone());
        let node_synced = Family::<NodeLabel, Gauge>::default();
        r.register("beacon_node_synced", "1 if the node was synced at the last check", node_synced.clone());
        let node_failures = Family::<NodeLabel, Gauge>::default();
        r.register("beacon_node_consecutive_failures", "Failed requests since the last success", node_failures.clone());
        let validators = Gauge::default();
        r.register("validators", "Validators loaded", validators.clone());
        let doppelganger_watching = Gauge::default();
        r.register(
            "doppelganger_watching",
            "1 while doppelganger protection holds signing back",
            doppelganger_watching.clone(),
        );
        let pool_keys = Family::<PoolLabel, Gauge>::default();
        r.register("pool_keys", "Local keys per pool and operator", pool_keys.clone());
        let pool_keys_without_recipient = Gauge::default();
        r.register(
            "pool_keys_without_recipient",
            "Local pool keys whose fee recipient is not known (they do not propose)",
            pool_keys_without_recipient.clone(),
        );
        let pool_local_keys_in_no_pool = Gauge::default();
        r.register("pool_local_keys_in_no_pool", "Local keys no pool holds", pool_local_keys_in_no_pool.clone());
        let pool_keys_without_keystore = Gauge::default();
        r.register(
            "pool_keys_without_keystore",
            "Keys the pools give the operator that have no local keystore",
            pool_keys_without_keystore.clone(),
        );
        let pool_read_errors = counter(&mut r, "pool_read_errors", "Failed reads of a pool's contracts");
        let pool_exit_requests = Gauge::default();
        r.register(
            "pool_exit_requests",
            "Pool exit requests for local keys not yet exited",
            pool_exit_requests.clone(),
        );
        let fam = |r: &mut Registry, name: &str, help: &str| {
            let f = Family::<PoolLabel, FGauge>::default();
            r.register(name, help, f.clone());
            f
        };
        let ifam = |r: &mut Registry, name: &str, help: &str| {
            let f = Family::<PoolLabel, Gauge>::default();
            r.register(name, help, f.clone());
            f
        };
        let perf_operator_performance = fam(
            &mut r,
            "perf_operator_performance",
            "Lido CSM performance of the operator's keys in the current frame so far",
        );
        let perf_operator_threshold =
            fam(&mut r, "perf_operator_threshold", "Lowest threshold of the operator's keys in the current frame");
        let perf_operator_keys_below =
            ifam(&mut r, "perf_operator_keys_below", "Keys below their threshold in the current frame so far");
        let perf_operator_keys_at_risk = ifam(
            &mut r,
            "perf_operator_keys_at_risk",
            "Keys projected below their threshold at the end of the current frame",
        );
        let perf_operator_keys_ejectable =
            ifam(&mut r, "perf_operator_keys_ejectable", "Keys whose strikes reach the pool's ejection threshold");
        let perf_operator_attestations_missed = ifam(
            &mut r,
            "perf_operator_attestations_missed",
            "Attestation duties not included in the current frame so far",
        );
        let perf_operator_rewards_ratio =
            fam(&mut r, "perf_operator_rewards_ratio", "Attestation rewards earned over ideal, current frame so far");
        let perf_network_performance = FGauge::default();
        r.register(
            "perf_network_performance",
            "The network's performance in the current frame so far",
            perf_network_performance.clone(),
        );
        let perf_last_epoch = Gauge::default();
        r.register("perf_last_epoch", "The newest epoch the performance ledger judged", perf_last_epoch.clone());
        let perf_frame = Gauge::default();
        r.register("perf_frame", "The current performance frame", perf_frame.clone());
        let perf_epochs_rejudged = counter(&mut r, "perf_epochs_rejudged", "Epochs judged again after a reorg");
        let perf_errors = counter(&mut r, "perf_errors", "Failed passes of the performance service");
        Self {
            perf_operator_performance,
            perf_operator_threshold,
            perf_operator_keys_below,
            perf_operator_keys_at_risk,
            perf_operator_keys_ejectable,
            perf_operator_attestations_missed,
            perf_operator_rewards_ratio,
            perf_network_performance,
            perf_last_epoch,
            perf_frame,
            perf_epochs_rejudged,
            perf_errors,
            pool_keys,
            pool_keys_without_recipient,
            pool_local_keys_in_no_pool,
            pool_keys_without_keystore,
            pool_read_errors,
            pool_exit_requests,
            attestations,
            aggregates,
            blocks,
            sync_messages,
            contributions,
            registrations,
            refusals,
            refused,
            errors,
            duty_refreshes,
            slots_skipped,
            messages,
            failures,
            validator_messages,
            per_validator: std::sync::atomic::AtomicBool::new(false),
            signing_seconds,
            slashing_seconds,
            node_synced,
            node_failures,
            validators,
            doppelganger_watching,
            registry: Arc::new(r),
        }
    }

    /// Turns the per-validator series on or off ([`per_validator`]).
    pub(crate) fn set_per_validator(&self, on: bool) {
        self.per_validator.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn count_validator(&self, validator: u64, kind: MessageKind, outcome: &str) {
        if !self.per_validator.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let label = ValidatorKindOutcome {
            validator: validator.to_string(),
            kind: kind.as_str().to_string(),
            outcome: outcome.to_string(),
        };
        self.validator_messages.get_or_create(&label).inc();
    }

    fn count(&self, kind: MessageKind, outcome: &str, n: u64) {
        let label = KindOutcome { kind: kind.as_str().to_string(), outcome: outcome.to_string() };
        self.messages.get_or_create(&label).inc_by(n);
    }

    /// Every series name the registry exports.
    pub(crate) fn series_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for line in self.encode().lines() {
            let mut parts = line.split_whitespace();
            if (parts.next(), parts.next()) != (Some("#"), Some("TYPE")) {
                continue;
            }
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
            match kind {
                "counter" => out.push(format!("{name}_total")),
                "histogram" => out.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}"))),
                _ => out.push(name.to_string()),
            }
        }
        out
    }

    /// The metrics in the Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Subscriber for Stats {
    fn on_event(&self, event: &Event) {
        match event {
            Event::Published { kind, validators, .. } => {
                let n = validators.len() as u64;
                self.count(*kind, "published", n);
                for v in validators {
                    self.count_validator(*v, *kind, "published");
                }
                let c = match kind {
                    MessageKind::Attestation => &self.attestations,
                    MessageKind::Aggregate => &self.aggregates,
                    MessageKind::Block => &self.blocks,
                    MessageKind::SyncMessage => &self.sync_messages,
                    MessageKind::Contribution => &self.contributions,
                    MessageKind::Registration => &self.registrations,
                    _ => return,
                };
                c.inc_by(n);
            }
            Event::Refused { kind, validator, reason, .. } => {
                self.count(*kind, "refused", 1);
                let label = KindCause { kind: kind.as_str().to_string(), cause: reason.cause().to_string() };
                self.refused.get_or_create(&label).inc();
                if let Some(v) = validator {
                    self.count_validator(*v, *kind, "refused");
                }
                self.refusals.inc();
            }
            Event::Failed { kind, count, reason, .. } => {
                self.count(*kind, "failed", *count as u64);
                let label = KindCause { kind: kind.as_str().to_string(), cause: reason.cause() };
                self.failures.get_or_create(&label).inc_by(*count as u64);
                self.errors.inc();
            }
            Event::DutyFailed { .. } => {
                self.errors.inc();
            }
            Event::Skipped { slots, .. } => {
                self.slots_skipped.inc_by(*slots);
            }
            Event::DutiesRefreshed { .. } => {
                self.duty_refreshes.inc();
            }
        }
    }
}

/// The name of every series poolvc exports at `/metrics` (counters with
/// their `_total`, histograms with `_bucket`, `_sum` and `_count`): what a
/// dashboard's queries may name.
pub fn exported_metric_names() -> Vec<String> {
    Stats::new().series_names()
}

#[cfg(test)]
mod per_validator_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn published(stats: &Stats) {
        stats.on_event(&Event::Published { kind: MessageKind::Attestation, slot: 1, validators: vec![7, 9] });
    }

    #[test]
    fn per_validator_series_follow_the_key_count_and_the_flag() {
        assert!(per_validator(64, false) && !per_validator(65, false) && per_validator(100_000, true));
        let off = Stats::new();
        published(&off);
        assert!(!off.encode().contains("validator=\"7\""), "no per-validator series when off");
        assert!(off.encode().contains("poolvc_messages_total{kind=\"attestation\",outcome=\"published\"} 2"));
        let on = Stats::new();
        on.set_per_validator(true);
        published(&on);
        let text = on.encode();
        assert!(
            text.contains(
                "poolvc_validator_messages_total{validator=\"7\",kind=\"attestation\",outcome=\"published\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("validator=\"9\""), "{text}");
    }
}
