//! The chain configuration a validator client needs: fork schedule, timing,
//! domain types, aggregation targets. Built from a beacon node's
//! `/eth/v1/config/spec` or from a consensus `config.yaml`.

use super::containers::Fork;
use super::fork::ForkName;
use super::preset::PresetName;
use super::primitives::*;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Errors building a [`ChainSpec`].
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The document does not parse at all.
    #[error("{source_name}: not a valid spec document: {reason}")]
    Malformed {
        /// Where the document came from (file path or URL).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A required key is missing.
    #[error("{source_name}: missing required key {key}")]
    Missing {
        /// Where the document came from.
        source_name: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key has a value of the wrong form.
    #[error("{source_name}: key {key} has invalid value {value:?}: {reason}")]
    Invalid {
        /// Where the document came from.
        source_name: String,
        /// The key.
        key: String,
        /// The value as found.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// One entry of the fork schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledFork {
    /// The fork.
    pub name: ForkName,
    /// Its version.
    pub version: Version,
    /// Its activation epoch (`FAR_FUTURE_EPOCH` if not scheduled).
    pub epoch: Epoch,
}

/// The domain types of the spec (overridable by the config, as the spec allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainTypes {
    /// `DOMAIN_BEACON_PROPOSER`.
    pub beacon_proposer: DomainType,
    /// `DOMAIN_BEACON_ATTESTER`.
    pub beacon_attester: DomainType,
    /// `DOMAIN_RANDAO`.
    pub randao: DomainType,
    /// `DOMAIN_DEPOSIT`.
    pub deposit: DomainType,
    /// `DOMAIN_VOLUNTARY_EXIT`.
    pub voluntary_exit: DomainType,
    /// `DOMAIN_SELECTION_PROOF`.
    pub selection_proof: DomainType,
    /// `DOMAIN_AGGREGATE_AND_PROOF`.
    pub aggregate_and_proof: DomainType,
    /// `DOMAIN_SYNC_COMMITTEE`.
    pub sync_committee: DomainType,
    /// `DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF`.
    pub sync_committee_selection_proof: DomainType,
    /// `DOMAIN_CONTRIBUTION_AND_PROOF`.
    pub contribution_and_proof: DomainType,
    /// `DOMAIN_BLS_TO_EXECUTION_CHANGE`.
    pub bls_to_execution_change: DomainType,
    /// `DOMAIN_APPLICATION_BUILDER` (builder-specs).
    pub application_builder: DomainType,
    /// `DOMAIN_BEACON_BUILDER` (Gloas): bids and envelopes.
    pub beacon_builder: DomainType,
    /// `DOMAIN_PTC_ATTESTER` (Gloas): payload attestations.
    pub ptc_attester: DomainType,
    /// `DOMAIN_PROPOSER_PREFERENCES` (Gloas).
    pub proposer_preferences: DomainType,
    /// `DOMAIN_REQUEST_AUTH` (builder-specs Gloas): a proposer's request to a builder.
    pub request_auth: DomainType,
}

impl Default for DomainTypes {
    fn default() -> Self {
        let d = |b: [u8; 4]| DomainType::from(b);
        Self {
            beacon_proposer: d([0, 0, 0, 0]),
            beacon_attester: d([1, 0, 0, 0]),
            randao: d([2, 0, 0, 0]),
            deposit: d([3, 0, 0, 0]),
            voluntary_exit: d([4, 0, 0, 0]),
            selection_proof: d([5, 0, 0, 0]),
            aggregate_and_proof: d([6, 0, 0, 0]),
            sync_committee: d([7, 0, 0, 0]),
            sync_committee_selection_proof: d([8, 0, 0, 0]),
            contribution_and_proof: d([9, 0, 0, 0]),
            bls_to_execution_change: d([0x0a, 0, 0, 0]),
            application_builder: d([0, 0, 0, 1]),
            beacon_builder: d([0x0b, 0, 0, 0]),
            ptc_attester: d([0x0c, 0, 0, 0]),
            proposer_preferences: d([0x0d, 0, 0, 0]),
            request_auth: d([0x0b, 0, 0, 1]),
        }
    }
}

/// When duties are due, in basis points of a slot (`*_DUE_BPS`; the spec's
/// defaults where a config predates them: a third and two thirds before
/// Gloas, a quarter and a half from Gloas on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimes {
    /// `ATTESTATION_DUE_BPS`.
    pub attestation: u64,
    /// `AGGREGATE_DUE_BPS`.
    pub aggregate: u64,
    /// `SYNC_MESSAGE_DUE_BPS`.
    pub sync_message: u64,
    /// `CONTRIBUTION_DUE_BPS`.
    pub contribution: u64,
    /// `ATTESTATION_DUE_BPS_GLOAS`.
    pub attestation_gloas: u64,
    /// `AGGREGATE_DUE_BPS_GLOAS`.
    pub aggregate_gloas: u64,
    /// `SYNC_MESSAGE_DUE_BPS_GLOAS`.
    pub sync_message_gloas: u64,
    /// `CONTRIBUTION_DUE_BPS_GLOAS`.
    pub contribution_gloas: u64,
    /// `PAYLOAD_ATTESTATION_DUE_BPS` (Gloas): PTC votes.
    pub payload_attestation: u64,
    /// `PAYLOAD_DUE_BPS` (Gloas): the envelope must be seen by then.
    pub payload: u64,
}

/// A duty with a deadline inside its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Attestations.
    Attestation,
    /// Aggregates.
    Aggregate,
    /// Sync-committee messages.
    SyncMessage,
    /// Sync contributions.
    Contribution,
    /// Payload attestations (Gloas).
    PayloadAttestation,
}

impl DueTimes {
    /// The fraction of the slot (0..1) at which `duty` is due in a slot of `fork`.
    pub fn fraction(&self, duty: Due, fork: ForkName) -> f64 {
        let gloas = fork.gloas_enabled();
        let bps = match duty {
            Due::Attestation if gloas => self.attestation_gloas,
            Due::Attestation => self.attestation,
            Due::Aggregate if gloas => self.aggregate_gloas,
            Due::Aggregate => self.aggregate,
            Due::SyncMessage if gloas => self.sync_message_gloas,
            Due::SyncMessage => self.sync_message,
            Due::Contribution if gloas => self.contribution_gloas,
            Due::Contribution => self.contribution,
            Due::PayloadAttestation => self.payload_attestation,
        };
        bps.min(10_000) as f64 / 10_000.0
    }
}

/// The chain configuration.
///
/// Invariant: `forks` holds every fork from phase0 to the newest this config
/// names, in [`ForkName`] order, with non-decreasing epochs; phase0 is at
/// epoch 0 with `GENESIS_FORK_VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// `CONFIG_NAME`, if given.
    pub config_name: Option<String>,
    /// `PRESET_BASE`.
    pub preset: PresetName,
    /// `SECONDS_PER_SLOT` (whole seconds; `slot_duration_ms / 1000` for configs
    /// that give only `SLOT_DURATION_MS`).
    pub seconds_per_slot: u64,
    /// Slot length in milliseconds (`SLOT_DURATION_MS`, or `SECONDS_PER_SLOT * 1000`).
    pub slot_duration_ms: u64,
    /// `SLOTS_PER_EPOCH` (from the document, or the preset's value).
    pub slots_per_epoch: u64,
    /// `GENESIS_FORK_VERSION`.
    pub genesis_fork_version: Version,
    /// Fork schedule (see the invariant above).
    pub forks: Vec<ScheduledFork>,
    /// Domain types.
    pub domains: DomainTypes,
    /// `TARGET_AGGREGATORS_PER_COMMITTEE`.
    pub target_aggregators_per_committee: u64,
    /// `TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE`.
    pub target_aggregators_per_sync_subcommittee: u64,
    /// `SYNC_COMMITTEE_SUBNET_COUNT`.
    pub sync_committee_subnet_count: u64,
    /// `SYNC_COMMITTEE_SIZE`.
    pub sync_committee_size: u64,
    /// `EPOCHS_PER_SYNC_COMMITTEE_PERIOD`.
    pub epochs_per_sync_committee_period: u64,
    /// `MAX_COMMITTEES_PER_SLOT`.
    pub max_committees_per_slot: u64,
    /// When each duty is due within its slot, in basis points of the slot.
    pub due: DueTimes,
    /// Every scalar key of the document, as text, for checks against a node.
    pub raw: BTreeMap<String, String>,
}

impl ChainSpec {
    /// Parses the body of `GET /eth/v1/config/spec` (with or without the
    /// `{"data": ...}` envelope). Non-scalar values (e.g. `BLOB_SCHEDULE`) are skipped.
    pub fn from_beacon_json(source_name: &str, text: &str) -> Result<Self, SpecError> {
        let malformed = |reason: String| SpecError::Malformed { source_name: source_name.to_string(), reason };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let obj = value.get("data").unwrap_or(&value);
        let obj = obj.as_object().ok_or_else(|| malformed("expected a JSON object of key/value pairs".into()))?;
        let mut raw = BTreeMap::new();
        for (k, v) in obj {
            match v {
                serde_json::Value::String(s) => {
                    raw.insert(k.clone(), s.clone());
                }
                serde_json::Value::Number(n) => {
                    raw.insert(k.clone(), n.to_string());
                }
                _ => {}
            }
        }
        Self::from_map(source_name, raw)
    }

    /// Parses a consensus-specs `config.yaml` (flat `KEY: value` lines; lists
    /// such as `BLOB_SCHEDULE` are skipped). The text is read line by line so
    /// that versions like `0x00000001` keep their width.
    pub fn from_config_yaml(source_name: &str, text: &str) -> Result<Self, SpecError> {
        let mut raw = BTreeMap::new();
        for (lineno, line) in text.lines().enumerate() {
            let line = strip_comment(line);
            if line.trim().is_empty() || line.starts_with([' ', '\t', '-']) || line.trim() == "---" {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                return Err(SpecError::Malformed {
                    source_name: source_name.to_string(),
                    reason: format!("line {}: expected `KEY: value`, found {:?}", lineno + 1, line.trim()),
                });
            };
            let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
            if v.is_empty() || v.starts_with('[') || v.starts_with('{') {
                continue;
            }
            raw.insert(k.trim().to_string(), v.to_string());
        }
        Self::from_map(source_name, raw)
    }

    /// Builds the spec from key/value text pairs.
    pub fn from_map(source_name: &str, raw: BTreeMap<String, String>) -> Result<Self, SpecError> {
        let src = source_name.to_string();
        let get = |key: &'static str| -> Result<&String, SpecError> {
            raw.get(key).ok_or(SpecError::Missing { source_name: src.clone(), key })
        };
        let invalid = |key: &str, value: &str, reason: &'static str| SpecError::Invalid {
            source_name: src.clone(),
            key: key.to_string(),
            value: value.to_string(),
            reason,
        };
        let parse_u64 = |key: &str, value: &str| -> Result<u64, SpecError> {
            value.parse::<u64>().map_err(|_| invalid(key, value, "expected an unsigned 64-bit integer"))
        };
        let parse_version = |key: &str, value: &str| -> Result<Version, SpecError> {
            let bytes = parse_hex(value).ok_or_else(|| invalid(key, value, "expected 0x-prefixed hex"))?;
            <[u8; 4]>::try_from(bytes.as_slice())
                .map(Version::from)
                .map_err(|_| invalid(key, value, "expected exactly 4 bytes"))
        };
        let opt_u64 = |key: &'static str, default: u64| -> Result<u64, SpecError> {
            raw.get(key).map_or(Ok(default), |v| parse_u64(key, v))
        };

        let preset_text = get("PRESET_BASE")?;
        let preset = PresetName::parse(preset_text)
            .ok_or_else(|| invalid("PRESET_BASE", preset_text, "expected mainnet or minimal"))?;
        let (default_slots, default_sync, default_period, default_committees) = match preset {
            PresetName::Mainnet => (32, 512, 256, 64),
            PresetName::Minimal => (8, 32, 8, 4),
        };

        // Newer configs give SLOT_DURATION_MS; older ones and beacon nodes SECONDS_PER_SLOT.
        let slot_duration_ms = match (raw.get("SLOT_DURATION_MS"), raw.get("SECONDS_PER_SLOT")) {
            (Some(ms), _) => parse_u64("SLOT_DURATION_MS", ms)?,
            (None, Some(s)) => parse_u64("SECONDS_PER_SLOT", s)?
                .checked_mul(1000)
                .ok_or_else(|| invalid("SECONDS_PER_SLOT", s, "too large"))?,
            (None, None) => return Err(SpecError::Missing { source_name: src.clone(), key: "SECONDS_PER_SLOT" }),
        };
        if slot_duration_ms == 0 {
            return Err(invalid("SECONDS_PER_SLOT", "0", "slot length must be positive"));
        }
        let seconds_per_slot = slot_duration_ms / 1000;
        let slots_per_epoch = opt_u64("SLOTS_PER_EPOCH", default_slots)?;
        if slots_per_epoch == 0 {
            return Err(invalid("SLOTS_PER_EPOCH", "0", "must be positive"));
        }
        let genesis_fork_version = parse_version("GENESIS_FORK_VERSION", get("GENESIS_FORK_VERSION")?)?;

        let mut forks = vec![ScheduledFork { name: ForkName::Phase0, version: genesis_fork_version, epoch: 0 }];
        for fork in ForkName::ALL.iter().skip(1) {
            let prefix = fork.config_prefix().unwrap_or_default();
            // Lodestar v1.5 and other pre-Deneb software name Deneb "EIP4844".
            let candidates: &[&str] = if *fork == ForkName::Deneb { &["DENEB", "EIP4844"] } else { &[prefix] };
            let found = candidates.iter().find_map(|p| {
                let vk = format!("{p}_FORK_VERSION");
                let ek = format!("{p}_FORK_EPOCH");
                match (raw.get(&vk), raw.get(&ek)) {
                    (Some(v), Some(e)) => Some((vk, v.clone(), ek, e.clone())),
                    _ => None,
                }
            });
            let Some((vk, v, ek, e)) = found else { break };
            let version = parse_version(&vk, &v)?;
            let epoch = parse_u64(&ek, &e)?;
            if let Some(prev) = forks.last() {
                if epoch < prev.epoch {
                    return Err(invalid(&ek, &e, "fork epochs must not decrease from one fork to the next"));
                }
            }
            forks.push(ScheduledFork { name: *fork, version, epoch });
        }

        let mut domains = DomainTypes::default();
        for (key, slot) in [
            ("DOMAIN_BEACON_PROPOSER", &mut domains.beacon_proposer),
            ("DOMAIN_BEACON_ATTESTER", &mut domains.beacon_attester),
            ("DOMAIN_RANDAO", &mut domains.randao),
            ("DOMAIN_DEPOSIT", &mut domains.deposit),
            ("DOMAIN_VOLUNTARY_EXIT", &mut domains.voluntary_exit),
            ("DOMAIN_SELECTION_PROOF", &mut domains.selection_proof),
            ("DOMAIN_AGGREGATE_AND_PROOF", &mut domains.aggregate_and_proof),
            ("DOMAIN_SYNC_COMMITTEE", &mut domains.sync_committee),
            ("DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF", &mut domains.sync_committee_selection_proof),
            ("DOMAIN_CONTRIBUTION_AND_PROOF", &mut domains.contribution_and_proof),
            ("DOMAIN_BLS_TO_EXECUTION_CHANGE", &mut domains.bls_to_execution_change),
            ("DOMAIN_APPLICATION_BUILDER", &mut domains.application_builder),
            ("DOMAIN_BEACON_BUILDER", &mut domains.beacon_builder),
            ("DOMAIN_PTC_ATTESTER", &mut domains.ptc_attester),
            ("DOMAIN_PROPOSER_PREFERENCES", &mut domains.proposer_preferences),
            ("DOMAIN_REQUEST_AUTH", &mut domains.request_auth),
        ] {
            if let Some(v) = raw.get(key) {
                *slot = parse_version(key, v)?;
            }
        }

        Ok(Self {
            config_name: raw.get("CONFIG_NAME").cloned(),
            preset,
            seconds_per_slot,
            slot_duration_ms,
            slots_per_epoch,
            genesis_fork_version,
            forks,
            domains,
            target_aggregators_per_committee: opt_u64("TARGET_AGGREGATORS_PER_COMMITTEE", 16)?,
            target_aggregators_per_sync_subcommittee: opt_u64("TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE", 16)?,
            sync_committee_subnet_count: opt_u64("SYNC_COMMITTEE_SUBNET_COUNT", 4)?,
            sync_committee_size: opt_u64("SYNC_COMMITTEE_SIZE", default_sync)?,
            epochs_per_sync_committee_period: opt_u64("EPOCHS_PER_SYNC_COMMITTEE_PERIOD", default_period)?,
            max_committees_per_slot: opt_u64("MAX_COMMITTEES_PER_SLOT", default_committees)?,
            due: DueTimes {
                attestation: opt_u64("ATTESTATION_DUE_BPS", 3333)?,
                aggregate: opt_u64("AGGREGATE_DUE_BPS", 6667)?,
                sync_message: opt_u64("SYNC_MESSAGE_DUE_BPS", 3333)?,
                contribution: opt_u64("CONTRIBUTION_DUE_BPS", 6667)?,
                attestation_gloas: opt_u64("ATTESTATION_DUE_BPS_GLOAS", 2500)?,
                aggregate_gloas: opt_u64("AGGREGATE_DUE_BPS_GLOAS", 5000)?,
                sync_message_gloas: opt_u64("SYNC_MESSAGE_DUE_BPS_GLOAS", 2500)?,
                contribution_gloas: opt_u64("CONTRIBUTION_DUE_BPS_GLOAS", 5000)?,
                payload_attestation: opt_u64("PAYLOAD_ATTESTATION_DUE_BPS", 7500)?,
                payload: opt_u64("PAYLOAD_DUE_BPS", 5000)?,
            },
            raw,
        })
    }

    /// The epoch of `slot`.
    pub fn epoch_of(&self, slot: Slot) -> Epoch {
        slot / self.slots_per_epoch
    }

    /// The first slot of `epoch` (saturating).
    pub fn start_slot(&self, epoch: Epoch) -> Slot {
        epoch.saturating_mul(self.slots_per_epoch)
    }

    /// The scheduled entry of `fork`, if this config knows it.
    pub fn scheduled(&self, fork: ForkName) -> Option<&ScheduledFork> {
        self.forks.iter().find(|f| f.name == fork)
    }

    /// Whether this chain schedules Gloas (at an epoch, not far in the future).
    pub fn gloas_scheduled(&self) -> bool {
        self.scheduled(ForkName::Gloas).is_some_and(|f| f.epoch != FAR_FUTURE_EPOCH)
    }

    /// The fork active at `epoch`: the last scheduled fork whose epoch is <= `epoch`.
    pub fn fork_name_at_epoch(&self, epoch: Epoch) -> ForkName {
        self.active_index(epoch).map_or(ForkName::Phase0, |i| self.forks[i].name)
    }

    /// The fork active at `slot`.
    pub fn fork_name_at_slot(&self, slot: Slot) -> ForkName {
        self.fork_name_at_epoch(self.epoch_of(slot))
    }

    /// The `Fork` object in force at `epoch` (as a state at that epoch holds it).
    pub fn fork_at_epoch(&self, epoch: Epoch) -> Fork {
        let i = self.active_index(epoch).unwrap_or(0);
        let current = self.forks[i];
        // A chain that starts at a later fork (e.g. Bellatrix at genesis) has
        // `previous_version == current_version` in its genesis state.
        let previous = if i == 0 || current.epoch == 0 { current } else { self.forks[i - 1] };
        Fork { previous_version: previous.version, current_version: current.version, epoch: current.epoch }
    }

    /// The fork version in force at `epoch`.
    pub fn fork_version_at_epoch(&self, epoch: Epoch) -> Version {
        self.fork_at_epoch(epoch).current_version
    }

    /// Index into `forks` of the active fork. `forks[0]` is phase0 at epoch 0,
    /// so this is always `Some` for a spec built by this module.
    fn active_index(&self, epoch: Epoch) -> Option<usize> {
        self.forks.iter().rposition(|f| f.epoch != FAR_FUTURE_EPOCH && f.epoch <= epoch)
    }

    /// Keys whose values must agree between this spec and a beacon node's for
    /// a validator client to sign on its chain.
    pub const CONSENSUS_CRITICAL_KEYS: &'static [&'static str] = &[
        "PRESET_BASE",
        "SECONDS_PER_SLOT",
        "SLOT_DURATION_MS",
        "SLOTS_PER_EPOCH",
        "GENESIS_FORK_VERSION",
        "ALTAIR_FORK_VERSION",
        "ALTAIR_FORK_EPOCH",
        "BELLATRIX_FORK_VERSION",
        "BELLATRIX_FORK_EPOCH",
        "CAPELLA_FORK_VERSION",
        "CAPELLA_FORK_EPOCH",
        "DENEB_FORK_VERSION",
        "DENEB_FORK_EPOCH",
        "ELECTRA_FORK_VERSION",
        "ELECTRA_FORK_EPOCH",
        "FULU_FORK_VERSION",
        "FULU_FORK_EPOCH",
        "GLOAS_FORK_VERSION",
        "GLOAS_FORK_EPOCH",
    ];

    /// Lists the consensus-critical keys present in both specs whose values differ
    /// (`(key, ours, theirs)`), comparing versions case-insensitively.
    pub fn mismatches(&self, other: &ChainSpec) -> Vec<(String, String, String)> {
        Self::CONSENSUS_CRITICAL_KEYS
            .iter()
            .filter_map(|k| match (self.raw.get(*k), other.raw.get(*k)) {
                (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => Some((k.to_string(), a.clone(), b.clone())),
                _ => None,
            })
            .collect()
    }
}

impl FromStr for ChainSpec {
    type Err = SpecError;
    /// Parses JSON (`{` first) or `config.yaml` text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim_start().starts_with('{') {
            Self::from_beacon_json("<string>", s)
        } else {
            Self::from_config_yaml("<string>", s)
        }
    }
}

fn strip_comment(line: &str) -> &str {
    line.find('#').map_or(line, |i| &line[..i]).trim_end()
}

/// Parses `0x`-prefixed (or bare) hex; `None` if not hex.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).ok()
}
