//! The pools' fee-recipient rules: from what a pool's contracts say about a
//! key's operator (the [`Facts`]), who the key's blocks must pay and why.
//!
//! Pure functions, one per pool, so that the rule lives in one place and the
//! contract reader only gathers facts. Sources (`../shared/design/pools.md`):
//! - Stader (`PermissionlessNodeRegistry.onboardNodeOperator` /
//!   `changeSocializingPoolState`, stader-node `manage-fee-recipient.go`):
//!   permissionless opted in -> the permissionless socializing pool; opted
//!   out -> the operator's `nodeELRewardVaultByOperatorId`; permissioned ->
//!   the permissioned socializing pool. After an opt-in change the previous
//!   recipient stays until the chain is past the change block + 96.
//! - Lido (curated and CSM): the network's execution-layer rewards vault.
//! - Rocket Pool (smartnode `fee-recipient.go`): in the smoothing pool, or
//!   opted out and the opt-out epoch + 1 not yet finalized -> the smoothing
//!   pool; else a minipool key -> the node's fee distributor; a megapool key
//!   -> the node's megapool.
//! - Custom pools: the recipient their configuration names.

use poolvc_signer::types::Address;

/// Blocks after a Stader socializing-pool opt-in change during which the
/// previous recipient still applies (stader-node: `blocksPerThreeEpoch`).
pub const STADER_CHANGE_DELAY_BLOCKS: u64 = 96;

/// A Rocket Pool key's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RocketKey {
    /// A minipool validator.
    Minipool,
    /// A megapool validator (Saturn).
    Megapool,
}

/// What the pool's contracts say about a key's operator, as of the
/// execution block `block` and the finalized epoch `finalized_epoch` the
/// reader saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    /// Stader permissionless pool (pool id 1).
    StaderPermissionless {
        /// `operatorStructById(id).optedForSocializingPool`.
        opted_in: bool,
        /// `getSocializingPoolStateChangeBlock(id)` (0: never changed).
        changed_at_block: u64,
        /// `staderConfig.getPermissionlessSocializingPool()`.
        socializing_pool: Address,
        /// `nodeELRewardVaultByOperatorId(id)`.
        el_reward_vault: Address,
        /// The execution block number the facts were read at.
        block: u64,
    },
    /// Stader permissioned pool (pool id 2): always socialized.
    StaderPermissioned {
        /// `staderConfig.getPermissionedSocializingPool()`.
        socializing_pool: Address,
    },
    /// Lido, curated module or CSM.
    Lido {
        /// The network's execution-layer rewards vault.
        el_rewards_vault: Address,
    },
    /// Rocket Pool.
    RocketPool {
        /// `getSmoothingPoolRegistrationState(node)`.
        in_smoothing_pool: bool,
        /// The epoch of `getSmoothingPoolRegistrationChanged(node)` (a time,
        /// turned into an epoch by the reader); `None` if never changed.
        changed_epoch: Option<u64>,
        /// The chain's finalized epoch.
        finalized_epoch: u64,
        /// `rocketSmoothingPool`.
        smoothing_pool: Address,
        /// `RocketNodeDistributorFactory.getProxyAddress(node)`.
        fee_distributor: Address,
        /// `RocketNodeManager.getMegapoolAddress(node)`, if it has one.
        megapool: Option<Address>,
        /// This key's kind.
        key: RocketKey,
    },
    /// A custom pool with a static recipient.
    Custom {
        /// The configured recipient.
        recipient: Address,
    },
}

/// Why a key pays whom it pays (what `poolvc pool show` prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Stader permissionless, opted in to the socializing pool.
    StaderOptedIn,
    /// Stader permissionless, opted out: the operator's own vault.
    StaderOptedOut,
    /// Stader permissioned: always the socializing pool.
    StaderPermissioned,
    /// A Stader opt-in change not yet applied: the previous recipient until
    /// the chain is past `applies_after_block`.
    StaderChangePending {
        /// The state the operator changed to.
        opted_in: bool,
        /// The last block of the delay.
        applies_after_block: u64,
    },
    /// Lido: the execution-layer rewards vault.
    LidoVault,
    /// Rocket Pool: in the smoothing pool.
    RocketSmoothingPool,
    /// Rocket Pool: opted out, the cooldown not over until `until_finalized`
    /// is finalized.
    RocketOptOutCooldown {
        /// The epoch whose finality ends the cooldown.
        until_finalized: u64,
    },
    /// Rocket Pool: a minipool key outside the smoothing pool.
    RocketDistributor,
    /// Rocket Pool: a megapool key outside the smoothing pool.
    RocketMegapool,
    /// A custom pool's configured recipient.
    Custom,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::StaderOptedIn => write!(f, "Stader permissionless, opted in: the permissionless socializing pool"),
            Why::StaderOptedOut => write!(f, "Stader permissionless, opted out: the operator's EL reward vault"),
            Why::StaderPermissioned => write!(f, "Stader permissioned: the permissioned socializing pool"),
            Why::StaderChangePending { opted_in, applies_after_block } => write!(
                f,
                "Stader permissionless, opted {} but the change applies after block {applies_after_block}: \
                 the previous recipient until then",
                if *opted_in { "in" } else { "out" }
            ),
            Why::LidoVault => write!(f, "Lido: the execution-layer rewards vault"),
            Why::RocketSmoothingPool => write!(f, "Rocket Pool, in the smoothing pool"),
            Why::RocketOptOutCooldown { until_finalized } => {
                write!(f, "Rocket Pool, opted out: the smoothing pool until epoch {until_finalized} is finalized")
            }
            Why::RocketDistributor => write!(f, "Rocket Pool minipool: the node's fee distributor"),
            Why::RocketMegapool => write!(f, "Rocket Pool megapool: the node's megapool"),
            Why::Custom => write!(f, "custom pool: the configured recipient"),
        }
    }
}

/// A key's recipient and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Who the key's blocks and registrations must pay.
    pub recipient: Address,
    /// Why.
    pub why: Why,
}

/// Why no recipient can be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A Rocket Pool megapool key whose node has no megapool.
    #[error("a Rocket Pool megapool key, but the node has no megapool address")]
    NoMegapool,
    /// The contracts gave the zero address where the rule needs a real one.
    #[error("the rule's recipient ({which}) is the zero address: the contract is not set up")]
    ZeroAddress {
        /// Which address.
        which: &'static str,
    },
}

/// The recipient the pool's rule gives, from its facts.
pub fn decide(facts: &Facts) -> Result<Decision, RuleError> {
    let d = match facts {
        Facts::StaderPermissionless { opted_in, changed_at_block, socializing_pool, el_reward_vault, block } => {
            let pending = *changed_at_block > 0 && *block <= changed_at_block + STADER_CHANGE_DELAY_BLOCKS;
            // Pending: the state before the change, i.e. the other one.
            let pays_pool = if pending { !opted_in } else { *opted_in };
            let recipient = if pays_pool { *socializing_pool } else { *el_reward_vault };
            let why = match (pending, opted_in) {
                (true, _) => Why::StaderChangePending {
                    opted_in: *opted_in,
                    applies_after_block: changed_at_block + STADER_CHANGE_DELAY_BLOCKS,
                },
                (false, true) => Why::StaderOptedIn,
                (false, false) => Why::StaderOptedOut,
            };
            let which = if pays_pool { "Stader permissionless socializing pool" } else { "Stader operator EL vault" };
            nonzero(recipient, which)?;
            Decision { recipient, why }
        }
        Facts::StaderPermissioned { socializing_pool } => {
            nonzero(*socializing_pool, "Stader permissioned socializing pool")?;
            Decision { recipient: *socializing_pool, why: Why::StaderPermissioned }
        }
        Facts::Lido { el_rewards_vault } => {
            nonzero(*el_rewards_vault, "Lido EL rewards vault")?;
            Decision { recipient: *el_rewards_vault, why: Why::LidoVault }
        }
        Facts::RocketPool {
            in_smoothing_pool,
            changed_epoch,
            finalized_epoch,
            smoothing_pool,
            fee_distributor,
            megapool,
            key,
        } => {
            let cooldown_until = changed_epoch.map(|e| e + 1).filter(|u| !in_smoothing_pool && *finalized_epoch < *u);
            if *in_smoothing_pool || cooldown_until.is_some() {
                nonzero(*smoothing_pool, "Rocket Pool smoothing pool")?;
                let why = match cooldown_until {
                    Some(until_finalized) => Why::RocketOptOutCooldown { until_finalized },
                    None => Why::RocketSmoothingPool,
                };
                Decision { recipient: *smoothing_pool, why }
            } else {
                match key {
                    RocketKey::Minipool => {
                        nonzero(*fee_distributor, "Rocket Pool fee distributor")?;
                        Decision { recipient: *fee_distributor, why: Why::RocketDistributor }
                    }
                    RocketKey::Megapool => {
                        let m = megapool.ok_or(RuleError::NoMegapool)?;
                        nonzero(m, "Rocket Pool megapool")?;
                        Decision { recipient: m, why: Why::RocketMegapool }
                    }
                }
            }
        }
        Facts::Custom { recipient } => Decision { recipient: *recipient, why: Why::Custom },
    };
    Ok(d)
}

fn nonzero(a: Address, which: &'static str) -> Result<(), RuleError> {
    if a == Address::ZERO {
        Err(RuleError::ZeroAddress { which })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: Address = Address::repeat_byte(0x11);
    const VAULT: Address = Address::repeat_byte(0x22);

    fn stader(opted_in: bool, changed_at_block: u64, block: u64) -> Facts {
        Facts::StaderPermissionless {
            opted_in,
            changed_at_block,
            socializing_pool: POOL,
            el_reward_vault: VAULT,
            block,
        }
    }

    #[test]
    fn stader_permissionless_follows_the_opt_in_and_waits_96_blocks_after_a_change() {
        assert_eq!(decide(&stader(true, 0, 10)).unwrap(), Decision { recipient: POOL, why: Why::StaderOptedIn });
        assert_eq!(decide(&stader(false, 0, 10)).unwrap(), Decision { recipient: VAULT, why: Why::StaderOptedOut });
        // Opted in at block 1,000: the vault still pays through block 1,096.
        for block in [1_000, 1_050, 1_096] {
            let d = decide(&stader(true, 1_000, block)).unwrap();
            assert_eq!(d.recipient, VAULT, "block {block}");
            assert_eq!(d.why, Why::StaderChangePending { opted_in: true, applies_after_block: 1_096 });
        }
        assert_eq!(decide(&stader(true, 1_000, 1_097)).unwrap().recipient, POOL);
        // And the other way.
        assert_eq!(decide(&stader(false, 1_000, 1_096)).unwrap().recipient, POOL);
        assert_eq!(decide(&stader(false, 1_000, 1_097)).unwrap().recipient, VAULT);
    }

    #[test]
    fn a_zero_address_from_the_contracts_is_no_recipient() {
        let f = Facts::StaderPermissionless {
            opted_in: false,
            changed_at_block: 0,
            socializing_pool: POOL,
            el_reward_vault: Address::ZERO,
            block: 5,
        };
        assert!(matches!(decide(&f), Err(RuleError::ZeroAddress { .. })));
        assert!(decide(&Facts::Lido { el_rewards_vault: Address::ZERO }).is_err());
        assert_eq!(decide(&Facts::StaderPermissioned { socializing_pool: POOL }).unwrap().why, Why::StaderPermissioned);
    }

    fn rocket(in_sp: bool, changed_epoch: Option<u64>, finalized_epoch: u64, key: RocketKey) -> Facts {
        Facts::RocketPool {
            in_smoothing_pool: in_sp,
            changed_epoch,
            finalized_epoch,
            smoothing_pool: POOL,
            fee_distributor: VAULT,
            megapool: Some(Address::repeat_byte(0x33)),
            key,
        }
    }

    #[test]
    fn rocket_pool_smoothing_pool_cooldown_distributor_and_megapool() {
        assert_eq!(decide(&rocket(true, Some(3), 0, RocketKey::Minipool)).unwrap().why, Why::RocketSmoothingPool);
        // Opted out at epoch 10: the smoothing pool until epoch 11 is finalized.
        let d = decide(&rocket(false, Some(10), 10, RocketKey::Minipool)).unwrap();
        assert_eq!(d, Decision { recipient: POOL, why: Why::RocketOptOutCooldown { until_finalized: 11 } });
        assert_eq!(decide(&rocket(false, Some(10), 11, RocketKey::Minipool)).unwrap().recipient, VAULT);
        assert_eq!(decide(&rocket(false, None, 0, RocketKey::Minipool)).unwrap().why, Why::RocketDistributor);
        let m = decide(&rocket(false, None, 0, RocketKey::Megapool)).unwrap();
        assert_eq!(m, Decision { recipient: Address::repeat_byte(0x33), why: Why::RocketMegapool });
        let mut no_megapool = rocket(false, None, 0, RocketKey::Megapool);
        if let Facts::RocketPool { megapool, .. } = &mut no_megapool {
            *megapool = None;
        }
        assert_eq!(decide(&no_megapool), Err(RuleError::NoMegapool));
    }

    #[test]
    fn lido_and_custom() {
        assert_eq!(decide(&Facts::Lido { el_rewards_vault: VAULT }).unwrap().why, Why::LidoVault);
        assert_eq!(decide(&Facts::Custom { recipient: POOL }).unwrap().recipient, POOL);
        assert!(Why::StaderChangePending { opted_in: true, applies_after_block: 9 }
            .to_string()
            .contains("after block 9"));
    }
}
