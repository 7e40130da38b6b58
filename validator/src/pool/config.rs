//! `pools.yaml` in the data dir: which pools the operator's keys belong to,
//! where their contracts are, and who the operator is in each.
//!
//! ```yaml
//! rpc: http://127.0.0.1:8545      # execution JSON-RPC the contracts are read from
//! chain_id: 31337                 # must be what the RPC answers to eth_chainId
//! relays: [https://relay.example]  # the relays the operator's mev-boost uses (Lido allow-list check)
//! pools:
//!   - kind: stader-permissionless # or stader-permissioned
//!     pool_utils: 0x…             # PoolUtils: registries and socializing pools by pool id
//!     operator: 0x…               # the operator's address in the registry
//!     penalty: 0x…                # Penalty (ForceExitValidator), optional
//!     presign:                    # optional: register presigned exits with Stader
//!       endpoint: https://ethx-offchain.staderlabs.com
//!       public_key: stader-presign.pem  # Stader's RSA key (PEM; relative to the data dir)
//!   - kind: lido                  # the module's type read from it (getType());
//!                                 #   or lido-curated, lido-csm, lido-cmv2: checked against it
//!     locator: 0x…                # LidoLocator: the vault, the exit bus and the StakingRouter
//!     module_id: 1                # staking module id (the module's address from the router)
//!     operator_id: 7
//!     el_rewards_vault: 0x…       # optional pins: refused if the chain names another
//!     module: 0x…                 #   (NodeOperatorsRegistry, CSModule or CuratedModule)
//!     exit_bus: 0x…               #   (ValidatorsExitBusOracle)
//!     relay_allow_list: 0x…       # MEVBoostRelayAllowedList (optional)
//!   - kind: rocket-pool
//!     node_manager: 0x…
//!     distributor_factory: 0x…
//!     smoothing_pool: 0x…
//!     minipool_manager: 0x…       # RocketMinipoolManager: the node's keys
//!     node: 0x…                   # the operator's node address
//!     network_penalties: 0x…      # RocketNetworkPenalties, optional: each minipool's penalty count
//!   - kind: custom
//!     name: my-pool
//!     fee_recipient: 0x…
//!     keys: [0x…, 0x…]            # 48-byte public keys
//! exit_lookback_blocks: 100800     # optional: blocks searched for exit requests at start (14 days)
//! performance:                    # optional; mainnet defaults (crate::ledger::config::PerfConfig)
//!   frame_epochs: 6300
//!   hash_consensus: 0x…           # optional: frame_epochs and first_epoch from its getFrameConfig()
//!   leeway_bp: [[1, 300]]         # a CSM operator's own curve (parameters registry) wins
//!   strikes:                      # optional: CSM's published strikes
//!     contract: 0x…               # CSStrikes (treeRoot(), treeCid())
//!     tree_source: https://gateway.example/ipfs/   # or a directory of files named by CID
//! ```
//!
//! Invariants once loaded: every address is 20 bytes; the pools are ones
//! poolvc knows; a custom pool's keys are public keys, each named once across
//! all custom pools. Any breach is an error naming the file, the entry and the
//! field, never a default.

use poolvc_signer::types::{Address, PublicKeyBytes};
use std::path::{Path, PathBuf};

/// The file's name in the data dir.
pub const POOLS_FILE: &str = "pools.yaml";

/// Blocks looked back for exit requests at start, unless `pools.yaml` says
/// otherwise (`exit_lookback_blocks`): Lido's oracle looks back 14 days for
/// exit events (`EXIT_EVENTS_LOOKBACK_WINDOW_IN_SLOTS = 14 * 7200` in its
/// daemon config on mainnet), so a request older than a long outage is
/// still seen and acted on.
pub const DEFAULT_EXIT_LOOKBACK_BLOCKS: u64 = 14 * 7_200;

/// Errors reading `pools.yaml`.
#[derive(Debug, thiserror::Error)]
pub enum PoolConfigError {
    /// Pools whose contracts are read, without the endpoint to read them.
    #[error("{}: rpc and chain_id are needed to read the pool contracts", path.display())]
    NeedsRpc {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not YAML of the expected shape (unknown field, wrong type).
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// serde_yaml's account, with its line and column.
        reason: String,
    },
    /// A pool kind poolvc does not know.
    #[error("{path}: pools[{index}]: unknown pool kind {kind:?} (known: {known})")]
    UnknownPool {
        /// The file.
        path: PathBuf,
        /// The entry.
        index: usize,
        /// What was written.
        kind: String,
        /// The kinds poolvc knows.
        known: &'static str,
    },
    /// A field that is not a 20-byte 0x-prefixed address.
    #[error("{path}: pools[{index}] ({kind}): {field}: {value:?} is not an address (0x and 40 hex digits)")]
    BadAddress {
        /// The file.
        path: PathBuf,
        /// The entry.
        index: usize,
        /// The pool kind.
        kind: &'static str,
        /// The field.
        field: &'static str,
        /// What was written.
        value: String,
    },
    /// A field a pool kind needs and the entry lacks.
    #[error("{path}: pools[{index}] ({kind}): {field} is missing")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The entry.
        index: usize,
        /// The pool kind.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A custom pool key that is not a public key.
    #[error("{path}: pools[{index}] ({kind}): keys[{key}]: {value:?} is not a public key (0x and 96 hex digits)")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The entry.
        index: usize,
        /// The pool kind.
        kind: &'static str,
        /// The key's position.
        key: usize,
        /// What was written.
        value: String,
    },
    /// A key named twice.
    #[error("{path}: key {pubkey} is named twice (pools[{first}] and pools[{second}])")]
    DuplicateKey {
        /// The file.
        path: PathBuf,
        /// The key.
        pubkey: String,
        /// Its first entry.
        first: usize,
        /// Its second entry.
        second: usize,
    },
}

/// One pool the operator's keys may belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolSpec {
    /// Stader ETHx, permissionless (pool id 1) or permissioned (pool id 2).
    Stader {
        /// Pool id: 1 permissionless, 2 permissioned.
        pool_id: u8,
        /// `PoolUtils`.
        pool_utils: Address,
        /// The operator's address in the pool's registry.
        operator: Address,
        /// `Penalty`, whose `ForceExitValidator` events are exit requests.
        penalty: Option<Address>,
        /// Where the operator's presigned exits are registered, if anywhere.
        presign: Option<PresignTarget>,
    },
    /// Lido: the curated module, CSM (0x01 or 0x02 keys) or the curated
    /// module v2. Its addresses are read from the chain (`LidoLocator`,
    /// `StakingRouter`); `pins` only check them, and the module's own
    /// `getType()` says how its keys are read.
    Lido {
        /// The module the file names (or [`LidoModule::Any`]: whichever the
        /// chain says).
        module_kind: LidoModule,
        /// LidoLocator.
        locator: Address,
        /// The staking module id.
        module_id: u64,
        /// The operator's id in the module.
        operator_id: u64,
        /// Addresses the operator expects the chain to name.
        pins: LidoPins,
        /// MEVBoostRelayAllowedList.
        relay_allow_list: Option<Address>,
    },
    /// Rocket Pool.
    RocketPool {
        /// RocketNodeManager.
        node_manager: Address,
        /// RocketNodeDistributorFactory.
        distributor_factory: Address,
        /// rocketSmoothingPool.
        smoothing_pool: Address,
        /// RocketMinipoolManager (the node's minipool keys).
        minipool_manager: Address,
        /// The operator's node address.
        node: Address,
        /// RocketNetworkPenalties: each minipool's fee-recipient penalties,
        /// read to warn (optional).
        network_penalties: Option<Address>,
    },
    /// A custom pool: a static recipient for listed keys.
    Custom {
        /// Its name.
        name: String,
        /// Who its keys pay.
        fee_recipient: Address,
        /// Its keys.
        keys: Vec<PublicKeyBytes>,
    },
}

/// Stader's presigned-exit backend and the RSA key its messages are
/// encrypted to ([`crate::pool::stader_presign`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignTarget {
    /// The backend's base URL (`/presigns`, `/presignsSubmitted` under it).
    pub endpoint: String,
    /// Stader's public key, a PEM file (relative paths from the data dir).
    pub public_key: PathBuf,
}

/// Addresses a Lido entry of `pools.yaml` expects the chain to name. A pin
/// the chain contradicts makes the entry unreadable (its keys do not
/// propose), with both addresses named: a vault typed wrong or left from
/// another network pays no block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LidoPins {
    /// The EL rewards vault (`LidoLocator.elRewardsVault()`).
    pub el_rewards_vault: Option<Address>,
    /// The module (`StakingRouter.getStakingModule(module_id)`).
    pub module: Option<Address>,
    /// The exit bus (`LidoLocator.validatorsExitBusOracle()`).
    pub exit_bus: Option<Address>,
}

impl PoolSpec {
    /// The pool's kind as written in `pools.yaml`.
    pub fn kind(&self) -> &'static str {
        match self {
            PoolSpec::Stader { pool_id: 1, .. } => "stader-permissionless",
            PoolSpec::Stader { .. } => "stader-permissioned",
            PoolSpec::Lido { module_kind, .. } => module_kind.kind(),
            PoolSpec::RocketPool { .. } => "rocket-pool",
            PoolSpec::Custom { .. } => "custom",
        }
    }
}

/// Which Lido staking module an entry names. The module's `getType()`
/// (`IStakingModule`) must agree, or the entry's keys get no recipient: the
/// curated module v1 returns its keys in a tuple, CSM and the curated module
/// v2 (`IBaseModule`) as plain bytes, so reading one as the other would fail
/// or, worse, mislabel the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LidoModule {
    /// `lido-curated`: the `NodeOperatorsRegistry` (`curated-onchain-v1`).
    Curated,
    /// `lido-csm`: the Community Staking Module (`community-onchain-v1`),
    /// 0x01 or 0x02 (CSM-0x02) keys alike.
    Csm,
    /// `lido-cmv2`: the curated module v2, `CuratedModule`
    /// (`curated-onchain-v2`).
    Cmv2,
    /// `lido`: whichever of the three the module's `getType()` names.
    Any,
}

impl LidoModule {
    /// The kind as `pools.yaml` writes it.
    pub fn kind(self) -> &'static str {
        match self {
            LidoModule::Curated => "lido-curated",
            LidoModule::Csm => "lido-csm",
            LidoModule::Cmv2 => "lido-cmv2",
            LidoModule::Any => "lido",
        }
    }

    /// The module a `getType()` answer names (the bytes32 holds the type's
    /// name, zero-padded); `None` for a type poolvc does not know.
    pub fn from_type(module_type: &[u8; 32]) -> Option<LidoModule> {
        let end = module_type.iter().position(|b| *b == 0).unwrap_or(32);
        match &module_type[..end] {
            b"curated-onchain-v1" => Some(LidoModule::Curated),
            b"community-onchain-v1" => Some(LidoModule::Csm),
            b"curated-onchain-v2" => Some(LidoModule::Cmv2),
            _ => None,
        }
    }

    /// Whether the module's keys are read through `IBaseModule` (plain
    /// bytes, an operator bond curve): CSM and the curated module v2.
    pub fn is_base_module(self) -> bool {
        matches!(self, LidoModule::Csm | LidoModule::Cmv2)
    }
}

/// `pools.yaml`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolsConfig {
    /// Execution JSON-RPC URL.
    pub rpc: Option<String>,
    /// The chain id the RPC must answer.
    pub chain_id: Option<u64>,
    /// The builder relays the operator's mev-boost uses; Lido keys ask for
    /// builder blocks only if every one is on Lido's allow-list.
    pub relays: Vec<String>,
    /// The pools, in file order.
    pub pools: Vec<PoolSpec>,
    /// How performance is measured and framed (`performance:`; mainnet
    /// defaults when absent).
    pub performance: crate::ledger::config::PerfConfig,
    /// Blocks looked back for exit requests at start
    /// ([`DEFAULT_EXIT_LOOKBACK_BLOCKS`] when absent).
    pub exit_lookback_blocks: u64,
}

const KNOWN: &str =
    "stader-permissionless, stader-permissioned, lido, lido-curated, lido-csm, lido-cmv2, rocket-pool, custom";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rpc: Option<String>,
    chain_id: Option<u64>,
    #[serde(default)]
    relays: Vec<String>,
    #[serde(default)]
    pools: Vec<RawPool>,
    #[serde(default)]
    performance: crate::ledger::config::PerfConfig,
    exit_lookback_blocks: Option<u64>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPool {
    kind: String,
    pool_utils: Option<String>,
    operator: Option<String>,
    penalty: Option<String>,
    module: Option<String>,
    module_id: Option<u64>,
    operator_id: Option<u64>,
    locator: Option<String>,
    el_rewards_vault: Option<String>,
    exit_bus: Option<String>,
    relay_allow_list: Option<String>,
    node_manager: Option<String>,
    distributor_factory: Option<String>,
    smoothing_pool: Option<String>,
    minipool_manager: Option<String>,
    node: Option<String>,
    network_penalties: Option<String>,
    name: Option<String>,
    fee_recipient: Option<String>,
    keys: Option<Vec<String>>,
    presign: Option<RawPresign>,
}

#[derive(serde::Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawPresign {
    endpoint: String,
    public_key: PathBuf,
}

/// `performance:` and `rpc:` of `dir/pools.yaml`: the mainnet defaults and
/// no endpoint when there is no such file.
pub fn performance_in(dir: &Path) -> Result<(crate::ledger::config::PerfConfig, Option<String>), PoolConfigError> {
    Ok(PoolsConfig::load_from_dir(dir)?.map(|c| (c.performance, c.rpc)).unwrap_or_default())
}

impl PoolsConfig {
    /// Reads `dir/pools.yaml`; `Ok(None)` if there is none (no pool rules).
    pub fn load_from_dir(dir: &Path) -> Result<Option<Self>, PoolConfigError> {
        let path = dir.join(POOLS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PoolConfigError::Read { path, source }),
        }
    }

    /// Parses and checks the text of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, PoolConfigError> {
        let raw: RawFile = serde_yaml::from_str(text)
            .map_err(|e| PoolConfigError::Malformed { path: path.to_path_buf(), reason: e.to_string() })?;
        let mut pools = Vec::with_capacity(raw.pools.len());
        let mut seen: std::collections::HashMap<PublicKeyBytes, usize> = std::collections::HashMap::new();
        for (index, p) in raw.pools.into_iter().enumerate() {
            let spec = Entry { path, index, raw: &p }.spec()?;
            if let PoolSpec::Custom { keys, .. } = &spec {
                for k in keys {
                    if let Some(first) = seen.insert(*k, index) {
                        return Err(PoolConfigError::DuplicateKey {
                            path: path.to_path_buf(),
                            pubkey: format!("{k}"),
                            first,
                            second: index,
                        });
                    }
                }
            }
            pools.push(spec);
        }
        raw.performance
            .check()
            .map_err(|e| PoolConfigError::Malformed { path: path.to_path_buf(), reason: e.to_string() })?;
        let exit_lookback_blocks = raw.exit_lookback_blocks.unwrap_or(DEFAULT_EXIT_LOOKBACK_BLOCKS);
        if exit_lookback_blocks == 0 {
            return Err(PoolConfigError::Malformed {
                path: path.to_path_buf(),
                reason: "exit_lookback_blocks: 0 would miss every exit request logged before the start".into(),
            });
        }
        Ok(Self {
            rpc: raw.rpc,
            chain_id: raw.chain_id,
            relays: raw.relays,
            pools,
            performance: raw.performance,
            exit_lookback_blocks,
        })
    }
}

/// One raw entry, with where it came from for errors.
struct Entry<'a> {
    path: &'a Path,
    index: usize,
    raw: &'a RawPool,
}

impl Entry<'_> {
    fn spec(&self) -> Result<PoolSpec, PoolConfigError> {
        let r = self.raw;
        Ok(match r.kind.as_str() {
            "stader-permissionless" | "stader-permissioned" => {
                let kind =
                    if r.kind == "stader-permissionless" { "stader-permissionless" } else { "stader-permissioned" };
                PoolSpec::Stader {
                    pool_id: if kind == "stader-permissionless" { 1 } else { 2 },
                    pool_utils: self.address(kind, "pool_utils", &r.pool_utils)?,
                    operator: self.address(kind, "operator", &r.operator)?,
                    penalty: self.optional_address(kind, "penalty", &r.penalty)?,
                    presign: match &r.presign {
                        None => None,
                        Some(p) => {
                            if !(p.endpoint.starts_with("http://") || p.endpoint.starts_with("https://")) {
                                return Err(PoolConfigError::Malformed {
                                    path: self.path.to_path_buf(),
                                    reason: format!(
                                        "pools[{}] ({kind}): presign.endpoint: {:?} is not an http(s) URL",
                                        self.index, p.endpoint
                                    ),
                                });
                            }
                            let public_key = match self.path.parent() {
                                Some(dir) if p.public_key.is_relative() => dir.join(&p.public_key),
                                _ => p.public_key.clone(),
                            };
                            Some(PresignTarget { endpoint: p.endpoint.clone(), public_key })
                        }
                    },
                }
            }
            "lido" | "lido-curated" | "lido-csm" | "lido-cmv2" => {
                let module_kind = match r.kind.as_str() {
                    "lido-curated" => LidoModule::Curated,
                    "lido-csm" => LidoModule::Csm,
                    "lido-cmv2" => LidoModule::Cmv2,
                    _ => LidoModule::Any,
                };
                let kind = module_kind.kind();
                PoolSpec::Lido {
                    module_kind,
                    locator: self.address(kind, "locator", &r.locator)?,
                    module_id: r.module_id.ok_or_else(|| self.missing(kind, "module_id"))?,
                    operator_id: r.operator_id.ok_or_else(|| self.missing(kind, "operator_id"))?,
                    pins: LidoPins {
                        el_rewards_vault: self.optional_address(kind, "el_rewards_vault", &r.el_rewards_vault)?,
                        module: self.optional_address(kind, "module", &r.module)?,
                        exit_bus: self.optional_address(kind, "exit_bus", &r.exit_bus)?,
                    },
                    relay_allow_list: self.optional_address(kind, "relay_allow_list", &r.relay_allow_list)?,
                }
            }
            "rocket-pool" => {
                let kind = "rocket-pool";
                PoolSpec::RocketPool {
                    node_manager: self.address(kind, "node_manager", &r.node_manager)?,
                    distributor_factory: self.address(kind, "distributor_factory", &r.distributor_factory)?,
                    smoothing_pool: self.address(kind, "smoothing_pool", &r.smoothing_pool)?,
                    minipool_manager: self.address(kind, "minipool_manager", &r.minipool_manager)?,
                    node: self.address(kind, "node", &r.node)?,
                    network_penalties: self.optional_address(kind, "network_penalties", &r.network_penalties)?,
                }
            }
            "custom" => {
                let kind = "custom";
                let name = r.name.clone().ok_or_else(|| self.missing(kind, "name"))?;
                let fee_recipient = self.address(kind, "fee_recipient", &r.fee_recipient)?;
                let raw_keys = r.keys.as_ref().ok_or_else(|| self.missing(kind, "keys"))?;
                let mut keys = Vec::with_capacity(raw_keys.len());
                for (key, value) in raw_keys.iter().enumerate() {
                    let parsed = parse_pubkey(value).ok_or_else(|| PoolConfigError::BadKey {
                        path: self.path.to_path_buf(),
                        index: self.index,
                        kind,
                        key,
                        value: value.clone(),
                    })?;
                    keys.push(parsed);
                }
                PoolSpec::Custom { name, fee_recipient, keys }
            }
            other => {
                return Err(PoolConfigError::UnknownPool {
                    path: self.path.to_path_buf(),
                    index: self.index,
                    kind: other.to_string(),
                    known: KNOWN,
                })
            }
        })
    }

    fn missing(&self, kind: &'static str, field: &'static str) -> PoolConfigError {
        PoolConfigError::Missing { path: self.path.to_path_buf(), index: self.index, kind, field }
    }

    fn address(&self, kind: &'static str, field: &'static str, v: &Option<String>) -> Result<Address, PoolConfigError> {
        let v = v.as_ref().ok_or_else(|| self.missing(kind, field))?;
        crate::policy::parse_address(v.trim()).ok_or_else(|| PoolConfigError::BadAddress {
            path: self.path.to_path_buf(),
            index: self.index,
            kind,
            field,
            value: v.clone(),
        })
    }

    fn optional_address(
        &self,
        kind: &'static str,
        field: &'static str,
        v: &Option<String>,
    ) -> Result<Option<Address>, PoolConfigError> {
        match v {
            None => Ok(None),
            Some(_) => self.address(kind, field, v).map(Some),
        }
    }
}

/// A `0x`-prefixed 48-byte public key, strictly.
fn parse_pubkey(s: &str) -> Option<PublicKeyBytes> {
    let h = s.trim().strip_prefix("0x")?;
    if h.len() != 96 {
        return None;
    }
    let bytes = hex::decode(h).ok()?;
    Some(PublicKeyBytes::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PoolsConfig, PoolConfigError> {
        PoolsConfig::parse(Path::new("/dd/pools.yaml"), text)
    }

    const A: &str = "0x1111111111111111111111111111111111111111";
    const B: &str = "0x2222222222222222222222222222222222222222";

    fn key(n: u8) -> String {
        format!("0x{}", format!("{n:02x}").repeat(48))
    }

    #[test]
    fn every_kind_parses() {
        let text = format!(
            "rpc: http://127.0.0.1:8545\nchain_id: 31337\npools:\n\
             - {{kind: stader-permissionless, pool_utils: {A}, operator: {B}}}\n\
             - {{kind: stader-permissioned, pool_utils: {A}, operator: {B}}}\n\
             - {{kind: lido-curated, locator: {A}, module_id: 1, operator_id: 7, el_rewards_vault: {B}, exit_bus: {A}}}\n\
             - {{kind: lido-csm, locator: {A}, module_id: 3, operator_id: 2}}\n\
             - {{kind: lido-cmv2, locator: {A}, module_id: 5, operator_id: 0}}\n\
             - {{kind: lido, locator: {A}, module_id: 5, operator_id: 1}}\n\
             - {{kind: rocket-pool, node_manager: {A}, distributor_factory: {A}, smoothing_pool: {B}, minipool_manager: {A}, node: {B}}}\n\
             - {{kind: custom, name: mine, fee_recipient: {B}, keys: [{}, {}]}}\n",
            key(1),
            key(2)
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.chain_id, Some(31337));
        let kinds: Vec<&str> = c.pools.iter().map(PoolSpec::kind).collect();
        assert_eq!(
            kinds,
            [
                "stader-permissionless",
                "stader-permissioned",
                "lido-curated",
                "lido-csm",
                "lido-cmv2",
                "lido",
                "rocket-pool",
                "custom"
            ]
        );
        assert!(matches!(
            &c.pools[5],
            PoolSpec::Lido { module_kind: LidoModule::Any, module_id: 5, operator_id: 1, .. }
        ));
        assert!(matches!(&c.pools[0], PoolSpec::Stader { pool_id: 1, .. }));
        let PoolSpec::Lido { pins, relay_allow_list: None, .. } = &c.pools[2] else { panic!("{:?}", c.pools[2]) };
        let b = crate::policy::parse_address(B).unwrap();
        assert_eq!(
            pins,
            &LidoPins { el_rewards_vault: Some(b), module: None, exit_bus: crate::policy::parse_address(A) }
        );
        assert!(matches!(&c.pools[3], PoolSpec::Lido { pins, .. } if *pins == LidoPins::default()));
    }

    /// The types as the real modules are deployed (lidofinance/staking-modules
    /// `script/DeployMainnet*.s.sol` `config.moduleType`; the curated
    /// registry's in lidofinance/core): a name padded with zeros.
    #[test]
    fn module_types_are_read_as_the_modules_are_deployed() {
        let t = |name: &str| {
            let mut b = [0u8; 32];
            b[..name.len()].copy_from_slice(name.as_bytes());
            LidoModule::from_type(&b)
        };
        assert_eq!(t("curated-onchain-v1"), Some(LidoModule::Curated));
        assert_eq!(t("community-onchain-v1"), Some(LidoModule::Csm));
        assert_eq!(t("curated-onchain-v2"), Some(LidoModule::Cmv2));
        assert_eq!(t("curated-onchain-v3"), None);
        assert_eq!(t("curated-onchain-v2x"), None);
        assert_eq!(t(""), None);
        assert!(LidoModule::Cmv2.is_base_module() && LidoModule::Csm.is_base_module());
        assert!(!LidoModule::Curated.is_base_module());
    }

    #[test]
    fn bad_files_name_the_entry_and_the_field() {
        let e = parse("pools:\n - {kind: stader-ethx-v9}\n").unwrap_err().to_string();
        assert!(
            e.contains("pools[0]") && e.contains("unknown pool kind \"stader-ethx-v9\"") && e.contains("lido-csm"),
            "{e}"
        );
        let e = parse(&format!("pools:\n - {{kind: stader-permissionless, pool_utils: 0x1234, operator: {B}}}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pools[0] (stader-permissionless): pool_utils: \"0x1234\" is not an address"), "{e}");
        let e = parse(&format!("pools:\n - {{kind: lido-csm, locator: {A}, operator_id: 2, el_rewards_vault: {B}}}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pools[0] (lido-csm): module_id is missing"), "{e}");
        // The vault alone is no longer enough: it is read from the locator.
        let e = parse(&format!("pools:\n - {{kind: lido-csm, module_id: 3, operator_id: 2, el_rewards_vault: {B}}}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pools[0] (lido-csm): locator is missing"), "{e}");
        let e = parse("pools:\n - {kind: custom, name: x, fee_recipient: 0x11, keys: []}\n").unwrap_err().to_string();
        assert!(e.contains("fee_recipient"), "{e}");
        let e = parse(&format!("pools:\n - {{kind: custom, name: x, fee_recipient: {A}, keys: [0x12]}}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("keys[0]") && e.contains("not a public key"), "{e}");
        let e = parse("pools:\n - {kind: custom, surprise: 1}\n").unwrap_err().to_string();
        assert!(e.starts_with("/dd/pools.yaml:") && e.contains("surprise"), "{e}");
    }

    #[test]
    fn a_key_named_twice_is_an_error() {
        let text = format!(
            "pools:\n - {{kind: custom, name: a, fee_recipient: {A}, keys: [{k}]}}\n - {{kind: custom, name: b, fee_recipient: {B}, keys: [{k}]}}\n",
            k = key(5)
        );
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("named twice") && e.contains("pools[0] and pools[1]"), "{e}");
    }

    #[test]
    fn no_file_is_no_pools() {
        let dir = tempfile::tempdir().unwrap();
        assert!(PoolsConfig::load_from_dir(dir.path()).unwrap().is_none());
    }
}
