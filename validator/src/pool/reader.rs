//! Reading a pool operator's keys and the facts of its fee-recipient rule
//! from the pool contracts, all at one block.
//!
//! One `pools.yaml` entry is one operator in one pool; [`read_operator`]
//! turns it into an [`OperatorRead`]: the operator's keys (the ones the pool
//! holds now: Stader's pre-deposit and deposited, Lido's deposited, Rocket
//! Pool's minipools) and the [`Facts`] its rule needs. Calls of the same
//! function go in one JSON-RPC batch, so the number of round trips does not
//! grow with the keys beyond one per [`rpc::BATCH`] calls.

use super::config::{LidoModule, LidoPins, PoolSpec};
use crate::el::abi::*;
use crate::el::proven::{ProvenError, Reads};
use crate::el::rpc::RpcError;
use crate::ledger::config::{CurveParams, PerfConfig};
use crate::policy::pool_rules::{Facts, RocketKey};
use alloy_primitives::{Address, U256};
use poolvc_signer::types::PublicKeyBytes;

/// Stader validator pages asked at once.
const STADER_PAGE: u64 = 100;
/// Lido keys asked per `getSigningKeys` call.
const LIDO_KEYS_PER_CALL: u64 = 100;

/// Errors reading one operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The node or a contract failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A proven read failed: a proof, a revert over proven state, or state
    /// that could not be proven.
    #[error(transparent)]
    Proven(#[from] ProvenError),
    /// The contracts answered, but not as a pool that has this operator.
    #[error("{pool}: {what}")]
    Contract {
        /// The pool kind.
        pool: &'static str,
        /// What is wrong.
        what: String,
    },
    /// `pools.yaml` pins an address the chain contradicts.
    #[error(
        "{pool}: pools.yaml pins {field} {pinned}, but the chain names {chain} ({source_of}): \
         this entry's keys do not propose until the two agree"
    )]
    PinContradicted {
        /// The pool kind.
        pool: &'static str,
        /// The pinned field.
        field: &'static str,
        /// What `pools.yaml` says.
        pinned: Address,
        /// What the chain says.
        chain: Address,
        /// Where the chain says it (contract and function).
        source_of: String,
    },
}

/// Lido's addresses as the chain names them at one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LidoAddresses {
    /// `LidoLocator.elRewardsVault()`: every proposal pays it.
    pub el_rewards_vault: Address,
    /// `LidoLocator.validatorsExitBusOracle()`: exit requests are its logs.
    pub exit_bus: Address,
    /// `LidoLocator.stakingRouter()`.
    pub staking_router: Address,
    /// `StakingRouter.getStakingModule(module_id).stakingModuleAddress`.
    pub module: Address,
}

/// An oracle's frames as its `HashConsensus` has them: `(initial_epoch,
/// epochs_per_frame)` at `block`.
pub async fn read_frame_config(rpc: &Reads<'_>, consensus: Address, block: u64) -> Result<(u64, u64), ReadError> {
    let c = rpc.call(consensus, IHashConsensus::getFrameConfigCall {}, block).await?;
    let bad = |what: String| ReadError::Contract { pool: "lido", what: format!("HashConsensus {consensus}: {what}") };
    let first = u64::try_from(c.initialEpoch).map_err(|_| bad(format!("initial epoch {}", c.initialEpoch)))?;
    let len = u64::try_from(c.epochsPerFrame).map_err(|_| bad(format!("epochs per frame {}", c.epochsPerFrame)))?;
    if len == 0 {
        return Err(bad("0 epochs per frame".into()));
    }
    Ok((first, len))
}

/// The accounting of a CSM or curated module v2 `module`: CSM v2 names it
/// `accounting()`; the curated module v2 (and CSM from v3, both
/// `IBaseModule`) `ACCOUNTING()`.
pub async fn read_accounting(
    rpc: &Reads<'_>,
    module_kind: LidoModule,
    module: Address,
    block: u64,
) -> Result<Address, ReadError> {
    Ok(match module_kind {
        LidoModule::Cmv2 => rpc.call(module, ICuratedModule::ACCOUNTINGCall {}, block).await?,
        _ => match rpc.call(module, ICSModule::accountingCall {}, block).await {
            Ok(a) => a,
            Err(_) => rpc.call(module, ICuratedModule::ACCOUNTINGCall {}, block).await?,
        },
    })
}

/// The parameters of CSM (or curated module v2) operator `operator_id`'s
/// bond curve: the module's `accounting` names its curve (`getBondCurveId`),
/// the module's `PARAMETERS_REGISTRY()` its parameters. Returns them with
/// the two contracts to watch. Parameters out of shape are an error: the
/// file's then judge the operator, never half of a curve.
pub async fn read_curve(
    rpc: &Reads<'_>,
    kind: &'static str,
    module: Address,
    accounting: Address,
    operator_id: u64,
    block: u64,
) -> Result<(CurveParams, Vec<Address>), ReadError> {
    let bad = |what: String| ReadError::Contract { pool: kind, what };
    let registry = rpc.call(module, ICSModule::PARAMETERS_REGISTRYCall {}, block).await?;
    let id = rpc
        .call(accounting, ICSAccounting::getBondCurveIdCall { nodeOperatorId: U256::from(operator_id) }, block)
        .await?;
    let curve_id = u64::try_from(id).map_err(|_| bad(format!("CSAccounting {accounting}: curve id {id}")))?;
    let curve = U256::from(curve_id);
    let w = rpc.call(registry, ICSParametersRegistry::getPerformanceCoefficientsCall { curveId: curve }, block).await?;
    let leeway =
        rpc.call(registry, ICSParametersRegistry::getPerformanceLeewayDataCall { curveId: curve }, block).await?;
    let share = rpc.call(registry, ICSParametersRegistry::getRewardShareDataCall { curveId: curve }, block).await?;
    let strikes = rpc.call(registry, ICSParametersRegistry::getStrikesParamsCall { curveId: curve }, block).await?;
    let n = |v: U256, what: &str| {
        u64::try_from(v).map_err(|_| bad(format!("CSParametersRegistry {registry}: curve {curve_id}: {what} {v}")))
    };
    let intervals = |d: &[ICSParametersRegistry::KeyNumberValueInterval], what: &str| {
        d.iter().map(|i| Ok([n(i.minKeyNumber, what)?, n(i.value, what)?])).collect::<Result<Vec<_>, ReadError>>()
    };
    let params = CurveParams {
        curve_id,
        weights: [n(w.attestationsWeight, "weight")?, n(w.blocksWeight, "weight")?, n(w.syncWeight, "weight")?],
        leeway_bp: intervals(&leeway, "leeway")?,
        reward_share_bp: intervals(&share, "reward share")?,
        strike_threshold: n(strikes.threshold, "strikes threshold")?,
        strike_lifetime_frames: n(strikes.lifetime, "strikes lifetime")?,
    };
    let shape = PerfConfig {
        weights: params.weights,
        leeway_bp: params.leeway_bp.clone(),
        reward_share_bp: params.reward_share_bp.clone(),
        ..PerfConfig::default()
    };
    if let Err(e) = shape.check() {
        return Err(bad(format!("CSParametersRegistry {registry}: curve {curve_id}: {e}")));
    }
    if params.strike_threshold == 0 || params.strike_lifetime_frames == 0 {
        return Err(bad(format!("CSParametersRegistry {registry}: curve {curve_id}: strikes params of 0")));
    }
    Ok((params, vec![registry, accounting]))
}

/// A Lido module's `exitDeadlineThreshold(operator)`; `None` (with a
/// warning) where the module does not answer it: the exit alert then shows
/// the 4-day default and says so.
async fn read_exit_delay(rpc: &Reads<'_>, module: Address, operator_id: u64, block: u64) -> Option<u64> {
    let call = IStakingModule::exitDeadlineThresholdCall { nodeOperatorId: U256::from(operator_id) };
    match rpc.call(module, call, block).await {
        Ok(secs) => Some(u64::try_from(secs).unwrap_or(u64::MAX)),
        Err(e) => {
            tracing::warn!(%module, operator_id, "pools: exitDeadlineThreshold not read ({e}); exit deadlines shown with the 4-day default");
            None
        }
    }
}

/// Reads Lido's addresses from `locator` and its staking router at `block`,
/// each checked against its pin: a contradicted pin is an error naming both
/// addresses, never a silent choice of either.
pub async fn read_lido_addresses(
    rpc: &Reads<'_>,
    kind: &'static str,
    locator: Address,
    module_id: u64,
    pins: &LidoPins,
    block: u64,
) -> Result<LidoAddresses, ReadError> {
    let el_rewards_vault = rpc.call(locator, ILidoLocator::elRewardsVaultCall {}, block).await?;
    let exit_bus = rpc.call(locator, ILidoLocator::validatorsExitBusOracleCall {}, block).await?;
    let staking_router = rpc.call(locator, ILidoLocator::stakingRouterCall {}, block).await?;
    let m = rpc
        .call(staking_router, IStakingRouter::getStakingModuleCall { _stakingModuleId: U256::from(module_id) }, block)
        .await?;
    if u64::from(m.id.to::<u32>()) != module_id || m.stakingModuleAddress == Address::ZERO {
        return Err(ReadError::Contract {
            pool: kind,
            what: format!(
                "StakingRouter {staking_router}: getStakingModule({module_id}) answered module {} at {}",
                m.id, m.stakingModuleAddress
            ),
        });
    }
    let read = LidoAddresses { el_rewards_vault, exit_bus, staking_router, module: m.stakingModuleAddress };
    let checks = [
        (
            "el_rewards_vault",
            pins.el_rewards_vault,
            read.el_rewards_vault,
            format!("LidoLocator {locator}: elRewardsVault()"),
        ),
        ("exit_bus", pins.exit_bus, read.exit_bus, format!("LidoLocator {locator}: validatorsExitBusOracle()")),
        ("module", pins.module, read.module, format!("StakingRouter {staking_router}: getStakingModule({module_id})")),
    ];
    for (field, pinned, chain, source_of) in checks {
        if let Some(pinned) = pinned {
            if pinned != chain {
                return Err(ReadError::PinContradicted { pool: kind, field, pinned, chain, source_of });
            }
        }
    }
    Ok(read)
}

/// The chain's clock and finality, for rules that count in epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTime {
    /// Genesis time (unix seconds).
    pub genesis_time: u64,
    /// Seconds per slot.
    pub seconds_per_slot: u64,
    /// Slots per epoch.
    pub slots_per_epoch: u64,
    /// The finalized epoch the beacon node reports.
    pub finalized_epoch: u64,
}

impl ChainTime {
    /// The epoch a unix time falls in (0 before genesis).
    pub fn epoch_at(&self, unix: u64) -> u64 {
        unix.saturating_sub(self.genesis_time) / (self.seconds_per_slot * self.slots_per_epoch).max(1)
    }
}

/// One operator as its pool's contracts describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRead {
    /// The pool (a `pools.yaml` kind, or a custom pool's name).
    pub pool: String,
    /// The operator as the pool names it.
    pub operator: String,
    /// The keys the pool holds for it.
    pub keys: Vec<PublicKeyBytes>,
    /// What its rule needs.
    pub facts: Facts,
    /// Contracts whose logs mean this read may be out of date.
    pub watch: Vec<Address>,
    /// A Lido operator's relay allow-list (`get_relays()` URIs); `None` for
    /// pools without one.
    pub allowed_relays: Option<Vec<String>>,
    /// Whether the pool restricts relays (Lido): with no list read, builder
    /// blocks are off for its keys.
    pub restricts_relays: bool,
    /// Keys of the same operator under a second rule (a Rocket Pool node's
    /// megapool validators: `facts` with `RocketKey::Megapool`).
    pub second: Option<(Facts, Vec<PublicKeyBytes>)>,
    /// The contract whose logs are the operator's exit requests (Lido's
    /// exit bus, as the locator names it); `None` for other pools.
    pub exit_bus: Option<Address>,
    /// Lido: the seconds a key may take to exit once eligible, the module's
    /// `exitDeadlineThreshold(operator)` (4 days curated, 4 or 5 days in
    /// CSM by bond curve on mainnet); `None` where not read.
    pub exit_delay_secs: Option<u64>,
    /// Lido CSM: the parameters of the operator's bond curve, as the
    /// module's parameters registry has them; `None` where not read (the
    /// file's parameters judge it).
    pub curve: Option<CurveParams>,
    /// A CSM or curated module v2 operator's accounting (its bond).
    pub accounting: Option<Address>,
}

impl OperatorRead {
    /// Every key of the operator, under either rule.
    pub fn all_keys(&self) -> impl Iterator<Item = PublicKeyBytes> + '_ {
        self.keys.iter().chain(self.second.iter().flat_map(|(_, k)| k.iter())).copied()
    }
}

/// Reads the operator of `spec` at `block`.
pub async fn read_operator(
    rpc: &Reads<'_>,
    spec: &PoolSpec,
    block: u64,
    time: &ChainTime,
) -> Result<OperatorRead, ReadError> {
    match spec {
        PoolSpec::Stader { pool_id, pool_utils, operator, .. } => {
            read_stader(rpc, *pool_id, *pool_utils, *operator, block, spec.kind()).await
        }
        PoolSpec::Lido { module_kind, locator, module_id, operator_id, pins, relay_allow_list } => {
            let at = read_lido_addresses(rpc, spec.kind(), *locator, *module_id, pins, block).await?;
            let module = read_module_type(rpc, spec.kind(), *module_kind, at.module, *module_id, block).await?;
            let keys = if module.is_base_module() {
                read_base_module_keys(rpc, spec.kind(), at.module, *operator_id, block).await?
            } else {
                read_curated_keys(rpc, at.module, *operator_id, block).await?
            };
            let accounting = if module.is_base_module() {
                match read_accounting(rpc, module, at.module, block).await {
                    Ok(a) => Some(a),
                    Err(e) => {
                        tracing::warn!(module = %at.module, operator_id,
                            "pools: the module's accounting not read ({e}): no bond curve, no bond state");
                        None
                    }
                }
            } else {
                None
            };
            let (curve, curve_watch) = match accounting {
                Some(acc) => match read_curve(rpc, spec.kind(), at.module, acc, *operator_id, block).await {
                    Ok((c, w)) => (Some(c), w),
                    Err(e) => {
                        tracing::warn!(module = %at.module, operator_id,
                            "pools: the operator's bond-curve parameters not read ({e}); the file's performance parameters judge it");
                        (None, Vec::new())
                    }
                },
                None => (None, Vec::new()),
            };
            Ok(OperatorRead {
                pool: spec.kind().into(),
                operator: format!("{operator_id}"),
                keys,
                facts: Facts::Lido { el_rewards_vault: at.el_rewards_vault },
                exit_bus: Some(at.exit_bus),
                exit_delay_secs: read_exit_delay(rpc, at.module, *operator_id, block).await,
                // The locator is a proxy (an upgrade logs), the router logs
                // module changes, the registry and accounting curve changes.
                watch: [vec![at.module, *locator, at.staking_router], curve_watch].concat(),
                curve,
                accounting,
                allowed_relays: match relay_allow_list {
                    Some(list) => Some(
                        rpc.call(*list, IMEVBoostRelayAllowedList::get_relaysCall {}, block)
                            .await?
                            .into_iter()
                            .map(|r| r.uri)
                            .collect(),
                    ),
                    None => None,
                },
                restricts_relays: true,
                second: None,
            })
        }
        PoolSpec::RocketPool { node_manager, distributor_factory, smoothing_pool, minipool_manager, node, .. } => {
            let n = *node;
            let in_sp = rpc
                .call(
                    *node_manager,
                    IRocketNodeManager::getSmoothingPoolRegistrationStateCall { _nodeAddress: n },
                    block,
                )
                .await?;
            let changed = rpc
                .call(
                    *node_manager,
                    IRocketNodeManager::getSmoothingPoolRegistrationChangedCall { _nodeAddress: n },
                    block,
                )
                .await?;
            let megapool =
                rpc.call(*node_manager, IRocketNodeManager::getMegapoolAddressCall { _nodeAddress: n }, block).await?;
            let distributor = rpc
                .call(
                    *distributor_factory,
                    IRocketNodeDistributorFactory::getProxyAddressCall { _nodeAddress: n },
                    block,
                )
                .await?;
            let count = rpc
                .call(*minipool_manager, IRocketMinipoolManager::getNodeMinipoolCountCall { _nodeAddress: n }, block)
                .await?;
            let count = small(count, "rocket-pool", "getNodeMinipoolCount")?;
            let minipools = rpc
                .call_many(
                    (0..count)
                        .map(|i| {
                            (
                                *minipool_manager,
                                IRocketMinipoolManager::getNodeMinipoolAtCall {
                                    _nodeAddress: n,
                                    _index: U256::from(i),
                                },
                            )
                        })
                        .collect(),
                    block,
                )
                .await?;
            let pubkeys = rpc
                .call_many(
                    minipools
                        .iter()
                        .map(|m| {
                            (*minipool_manager, IRocketMinipoolManager::getMinipoolPubkeyCall { _minipoolAddress: *m })
                        })
                        .collect(),
                    block,
                )
                .await?;
            let keys =
                pubkeys.iter().map(|k| pubkey(k, "rocket-pool", "getMinipoolPubkey")).collect::<Result<Vec<_>, _>>()?;
            let changed_secs = small(changed, "rocket-pool", "getSmoothingPoolRegistrationChanged")?;
            let megapool_keys = if megapool == Address::ZERO {
                Vec::new()
            } else {
                let n = rpc.call(megapool, IRocketMegapool::getValidatorCountCall {}, block).await?;
                let got = rpc
                    .call_many(
                        (0..n)
                            .map(|i| (megapool, IRocketMegapool::getValidatorPubkeyCall { _validatorId: i }))
                            .collect(),
                        block,
                    )
                    .await?;
                got.iter().map(|k| pubkey(k, "rocket-pool", "getValidatorPubkey")).collect::<Result<Vec<_>, _>>()?
            };
            let facts = Facts::RocketPool {
                in_smoothing_pool: in_sp,
                changed_epoch: (changed_secs > 0).then(|| time.epoch_at(changed_secs)),
                finalized_epoch: time.finalized_epoch,
                smoothing_pool: *smoothing_pool,
                fee_distributor: distributor,
                megapool: (megapool != Address::ZERO).then_some(megapool),
                key: RocketKey::Minipool,
            };
            let second = (!megapool_keys.is_empty()).then(|| {
                let mut f = facts.clone();
                if let Facts::RocketPool { key, .. } = &mut f {
                    *key = RocketKey::Megapool;
                }
                (f, megapool_keys)
            });
            Ok(OperatorRead {
                pool: spec.kind().into(),
                operator: format!("{node}"),
                keys,
                facts,
                watch: if megapool == Address::ZERO {
                    vec![*node_manager, *minipool_manager]
                } else {
                    vec![*node_manager, *minipool_manager, megapool]
                },
                allowed_relays: None,
                restricts_relays: false,
                second,
                exit_bus: None,
                exit_delay_secs: None,
                curve: None,
                accounting: None,
            })
        }
        PoolSpec::Custom { name, fee_recipient, keys } => Ok(OperatorRead {
            pool: name.clone(),
            operator: "custom".into(),
            keys: keys.clone(),
            facts: Facts::Custom { recipient: *fee_recipient },
            watch: Vec::new(),
            allowed_relays: None,
            restricts_relays: false,
            second: None,
            exit_bus: None,
            exit_delay_secs: None,
            curve: None,
            accounting: None,
        }),
    }
}

async fn read_stader(
    rpc: &Reads<'_>,
    pool_id: u8,
    pool_utils: Address,
    operator: Address,
    block: u64,
    kind: &'static str,
) -> Result<OperatorRead, ReadError> {
    let registry = rpc.call(pool_utils, IPoolUtils::getNodeRegistryCall { _poolId: pool_id }, block).await?;
    let socializing =
        rpc.call(pool_utils, IPoolUtils::getSocializingPoolAddressCall { _poolId: pool_id }, block).await?;
    let id = rpc.call(registry, IStaderNodeRegistry::operatorIDByAddressCall(operator), block).await?;
    if id.is_zero() {
        return Err(ReadError::Contract {
            pool: kind,
            what: format!("operator {operator} is not in the pool's registry {registry}"),
        });
    }
    let op = rpc.call(registry, IStaderNodeRegistry::operatorStructByIdCall(id), block).await?;
    let total = rpc.call(registry, IStaderNodeRegistry::getOperatorTotalKeysCall { _operatorId: id }, block).await?;
    let total = small(total, kind, "getOperatorTotalKeys")?;
    let pages = total.div_ceil(STADER_PAGE);
    let got = rpc
        .call_many(
            (1..=pages)
                .map(|p| {
                    (
                        registry,
                        IStaderNodeRegistry::getValidatorsByOperatorCall {
                            _operator: operator,
                            _pageNumber: U256::from(p),
                            _pageSize: U256::from(STADER_PAGE),
                        },
                    )
                })
                .collect(),
            block,
        )
        .await?;
    let mut keys = Vec::with_capacity(total as usize);
    for v in got.into_iter().flatten() {
        // PRE_DEPOSIT (3) and DEPOSITED (4): the keys the pool still holds.
        if v.status == 3 || v.status == 4 {
            keys.push(pubkey(&v.pubkey, kind, "getValidatorsByOperator")?);
        }
    }
    let facts = if pool_id == 1 {
        let changed = rpc
            .call(registry, IStaderNodeRegistry::getSocializingPoolStateChangeBlockCall { _operatorId: id }, block)
            .await?;
        let vault =
            rpc.call(registry, IPermissionlessNodeRegistry::nodeELRewardVaultByOperatorIdCall(id), block).await?;
        Facts::StaderPermissionless {
            opted_in: op.optedForSocializingPool,
            changed_at_block: small(changed, kind, "getSocializingPoolStateChangeBlock")?,
            socializing_pool: socializing,
            el_reward_vault: vault,
            block,
        }
    } else {
        Facts::StaderPermissioned { socializing_pool: socializing }
    };
    Ok(OperatorRead {
        pool: kind.into(),
        operator: format!("{operator} (id {id})"),
        keys,
        facts,
        watch: vec![registry],
        allowed_relays: None,
        restricts_relays: false,
        second: None,
        exit_bus: None,
        exit_delay_secs: None,
        curve: None,
        accounting: None,
    })
}

async fn read_curated_keys(
    rpc: &Reads<'_>,
    module: Address,
    operator_id: u64,
    block: u64,
) -> Result<Vec<PublicKeyBytes>, ReadError> {
    let id = U256::from(operator_id);
    let op = rpc
        .call(module, ILidoNodeOperatorsRegistry::getNodeOperatorCall { _nodeOperatorId: id, _fullInfo: false }, block)
        .await?;
    let deposited = op.totalDepositedValidators;
    let calls = key_chunks(deposited)
        .map(|(offset, limit)| {
            (
                module,
                ILidoNodeOperatorsRegistry::getSigningKeysCall { _nodeOperatorId: id, _offset: offset, _limit: limit },
            )
        })
        .collect();
    let got = rpc.call_many(calls, block).await?;
    let mut keys = Vec::with_capacity(deposited as usize);
    for r in got {
        split_keys(&r.pubkeys, "lido-curated", &mut keys)?;
    }
    Ok(keys)
}

/// The module's `getType()`, checked against the kind the file names: a
/// `lido-curated` entry naming a curated module v2 (or any other mismatch)
/// is refused with both named, since its keys would be read in the wrong
/// shape; a type poolvc does not know is refused too (fail closed: its keys
/// get no recipient).
async fn read_module_type(
    rpc: &Reads<'_>,
    kind: &'static str,
    named: LidoModule,
    module: Address,
    module_id: u64,
    block: u64,
) -> Result<LidoModule, ReadError> {
    let raw = rpc.call(module, IStakingModule::getTypeCall {}, block).await?;
    let shown = String::from_utf8_lossy(raw.0.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
    let Some(found) = LidoModule::from_type(&raw.0) else {
        return Err(ReadError::Contract {
            pool: kind,
            what: format!(
                "module {module} (id {module_id}) is of type {shown:?}, which poolvc does not know \
                 (curated-onchain-v1, community-onchain-v1, curated-onchain-v2)"
            ),
        });
    };
    if named != LidoModule::Any && named != found {
        return Err(ReadError::Contract {
            pool: kind,
            what: format!(
                "pools.yaml says {}, but module {module} (id {module_id}) is of type {shown:?}: write kind {} (or lido)",
                named.kind(),
                found.kind()
            ),
        });
    }
    Ok(found)
}

/// An operator's deposited keys from a module with the `IBaseModule`
/// shape: CSM and the curated module v2 (`getNodeOperator` then
/// `getSigningKeys` as plain bytes).
async fn read_base_module_keys(
    rpc: &Reads<'_>,
    kind: &'static str,
    module: Address,
    operator_id: u64,
    block: u64,
) -> Result<Vec<PublicKeyBytes>, ReadError> {
    let id = U256::from(operator_id);
    let op = rpc.call(module, ICSModule::getNodeOperatorCall { nodeOperatorId: id }, block).await?;
    let deposited = u64::from(op.totalDepositedKeys);
    let calls = key_chunks(deposited)
        .map(|(start, count)| {
            (module, ICSModule::getSigningKeysCall { nodeOperatorId: id, startIndex: start, keysCount: count })
        })
        .collect();
    let got = rpc.call_many(calls, block).await?;
    let mut keys = Vec::with_capacity(deposited as usize);
    for r in got {
        split_keys(&r, kind, &mut keys)?;
    }
    Ok(keys)
}

/// `(offset, count)` of the `getSigningKeys` calls that cover keys `0..n`,
/// [`LIDO_KEYS_PER_CALL`] at a time.
fn key_chunks(n: u64) -> impl Iterator<Item = (U256, U256)> {
    (0..n.div_ceil(LIDO_KEYS_PER_CALL)).map(move |c| {
        let offset = c * LIDO_KEYS_PER_CALL;
        (U256::from(offset), U256::from(LIDO_KEYS_PER_CALL.min(n - offset)))
    })
}

/// Splits concatenated 48-byte keys.
fn split_keys(b: &[u8], pool: &'static str, into: &mut Vec<PublicKeyBytes>) -> Result<(), ReadError> {
    if b.len() % 48 != 0 {
        return Err(ReadError::Contract {
            pool,
            what: format!("getSigningKeys returned {} bytes of keys, not a multiple of 48", b.len()),
        });
    }
    into.extend(b.chunks_exact(48).map(PublicKeyBytes::from_slice));
    Ok(())
}

fn pubkey(b: &[u8], pool: &'static str, function: &str) -> Result<PublicKeyBytes, ReadError> {
    if b.len() != 48 {
        return Err(ReadError::Contract { pool, what: format!("{function} returned a {}-byte key", b.len()) });
    }
    Ok(PublicKeyBytes::from_slice(b))
}

/// A count or block number that must fit comfortably in a u64.
fn small(v: U256, pool: &'static str, function: &str) -> Result<u64, ReadError> {
    u64::try_from(v)
        .ok()
        .filter(|n| *n < 1 << 48)
        .ok_or_else(|| ReadError::Contract { pool, what: format!("{function} returned {v}, not a plausible number") })
}
