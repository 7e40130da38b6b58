//! Rocket Pool's penalties per minipool (rocket-pool/rocketpool
//! `contracts/contract/network/RocketNetworkPenalties.sol` at 0207c527,
//! `getPenaltyCount`), applied by the oDAO for a block that paid the wrong
//! fee recipient. The first two are warnings; from the third,
//! `_incrementMinipoolPenaltyCount` sets a penalty rate of
//! `(count − 2) × getPerPenaltyRate()` on the minipool's rewards. And the
//! smoothing pool's rewards tree (smartnode `shared/services/rewards/
//! generator-impl-v11.go`) counts a node with any minipool at 3 or more a
//! cheater: the node earns nothing from the smoothing pool that interval.

use crate::el::abi::{IRocketMinipoolManager, IRocketNetworkPenalties};
use crate::el::proven::{ProvenError, Reads};
use alloy_primitives::{Address, U256};

/// Penalties on one minipool that make its node a cheater to the smoothing
/// pool (and start the penalty rate).
pub const CHEATER_PENALTIES: u64 = 3;

/// What a minipool's penalty count means for its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PenaltyRisk {
    /// Warnings only so far: `left` more make the node a cheater.
    Warned {
        /// Penalties left before [`CHEATER_PENALTIES`].
        left: u64,
    },
    /// At or past [`CHEATER_PENALTIES`]: a penalty rate on the minipool, and
    /// no smoothing-pool rewards for the node.
    Cheater,
}

/// The rule for a minipool with `count` penalties.
pub fn risk(count: u64) -> Option<PenaltyRisk> {
    match count {
        0 => None,
        c if c >= CHEATER_PENALTIES => Some(PenaltyRisk::Cheater),
        c => Some(PenaltyRisk::Warned { left: CHEATER_PENALTIES - c }),
    }
}

/// A node's minipools with a penalty: `(minipool, count)`.
pub async fn read(
    rpc: &Reads<'_>,
    penalties: Address,
    minipool_manager: Address,
    node: Address,
    block: u64,
) -> Result<Vec<(Address, u64)>, ProvenError> {
    let count = rpc
        .call(minipool_manager, IRocketMinipoolManager::getNodeMinipoolCountCall { _nodeAddress: node }, block)
        .await?;
    let count = u64::try_from(count).unwrap_or(u64::MAX).min(u64::from(u32::MAX));
    let minipools = rpc
        .call_many(
            (0..count)
                .map(|i| {
                    (
                        minipool_manager,
                        IRocketMinipoolManager::getNodeMinipoolAtCall { _nodeAddress: node, _index: U256::from(i) },
                    )
                })
                .collect(),
            block,
        )
        .await?;
    let counts = rpc
        .call_many(
            minipools
                .iter()
                .map(|m| (penalties, IRocketNetworkPenalties::getPenaltyCountCall { _minipool: *m }))
                .collect(),
            block,
        )
        .await?;
    Ok(minipools
        .into_iter()
        .zip(counts)
        .map(|(m, c)| (m, u64::try_from(c).unwrap_or(u64::MAX)))
        .filter(|(_, c)| *c > 0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RocketNetworkPenalties `_incrementMinipoolPenaltyCount` returns before
    /// setting a rate while the count is under 3; generator-impl-v11.go drops
    /// the node from the smoothing pool at `PenaltyCount >= 3`.
    #[test]
    fn two_penalties_warn_and_the_third_makes_a_cheater() {
        assert_eq!(risk(0), None);
        assert_eq!(risk(1), Some(PenaltyRisk::Warned { left: 2 }));
        assert_eq!(risk(2), Some(PenaltyRisk::Warned { left: 1 }));
        assert_eq!(risk(3), Some(PenaltyRisk::Cheater));
        assert_eq!(risk(40), Some(PenaltyRisk::Cheater));
    }
}
