//! A CSM (or curated module v2) operator's bond, read from its module's
//! accounting (lidofinance/community-staking-module `src/CSAccounting.sol`
//! at 00ffca4f): `getBondSummary` (the bond held and the bond required,
//! stETH wei), `getUnbondedKeysCount` (keys the bond does not cover, the
//! locked bond counted as spent) and `getUnbondedKeysCountToEject` (the
//! same with the locked bond not counted, so that the operator may first
//! compensate a lock).
//!
//! What each costs the operator: an unbonded key stops the operator's
//! deposits; a key to eject puts the operator under the module's forced
//! target limit (`targetLimitMode` 2), and Lido's exit bus then requests
//! the exit of that many of its keys. The operator is warned while a top-up
//! can still prevent it.

use crate::el::abi::ICSAccounting;
use crate::el::proven::{ProvenError, Reads};
use alloy_primitives::{Address, U256};

/// Why a bond is not read.
#[derive(Debug, thiserror::Error)]
pub enum BondError {
    /// A call failed or was not proven.
    #[error("CSAccounting {accounting}: {source}")]
    Read {
        /// The accounting contract.
        accounting: Address,
        /// What went wrong.
        #[source]
        source: Box<ProvenError>,
    },
    /// A key count too large to be one.
    #[error("CSAccounting {accounting}: {what} of operator {operator_id} is {value}, not a key count")]
    Count {
        /// The accounting contract.
        accounting: Address,
        /// The getter.
        what: &'static str,
        /// The operator.
        operator_id: u64,
        /// What it answered.
        value: U256,
    },
}

/// An operator's bond at one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BondState {
    /// The bond held, stETH wei.
    pub current: U256,
    /// The bond its keys (and any lock) require, stETH wei.
    pub required: U256,
    /// Keys not covered, the locked bond counted as spent.
    pub unbonded: u64,
    /// Keys not covered by the bond without the lock: the module's forced
    /// target limit asks for their exit.
    pub to_eject: u64,
}

/// What an operator's bond state means for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondRisk {
    /// Keys the module will have ejected (forced target limit).
    Eject {
        /// How many.
        keys: u64,
    },
    /// Keys unbonded only by a locked bond: no deposits; compensating the
    /// lock (or a top-up) clears it before the lock is settled.
    Unbonded {
        /// How many.
        keys: u64,
    },
}

impl BondState {
    /// The rule: keys to eject first, then keys unbonded by a lock, else
    /// nothing.
    pub fn risk(&self) -> Option<BondRisk> {
        if self.to_eject > 0 {
            Some(BondRisk::Eject { keys: self.to_eject })
        } else if self.unbonded > 0 {
            Some(BondRisk::Unbonded { keys: self.unbonded })
        } else {
            None
        }
    }

    /// The top-up that covers every key: required less held, or zero.
    pub fn shortfall(&self) -> U256 {
        self.required.saturating_sub(self.current)
    }
}

/// Reads operator `operator_id`'s bond at `accounting` at `block`.
pub async fn read(rpc: &Reads<'_>, accounting: Address, operator_id: u64, block: u64) -> Result<BondState, BondError> {
    let id = U256::from(operator_id);
    let read = |source| BondError::Read { accounting, source: Box::new(source) };
    let summary =
        rpc.call(accounting, ICSAccounting::getBondSummaryCall { nodeOperatorId: id }, block).await.map_err(read)?;
    let unbonded = rpc
        .call(accounting, ICSAccounting::getUnbondedKeysCountCall { nodeOperatorId: id }, block)
        .await
        .map_err(read)?;
    let to_eject = rpc
        .call(accounting, ICSAccounting::getUnbondedKeysCountToEjectCall { nodeOperatorId: id }, block)
        .await
        .map_err(read)?;
    let count =
        |what, value: U256| u64::try_from(value).map_err(|_| BondError::Count { accounting, what, operator_id, value });
    Ok(BondState {
        current: summary.current,
        required: summary.required,
        unbonded: count("getUnbondedKeysCount", unbonded)?,
        to_eject: count("getUnbondedKeysCountToEject", to_eject)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CSAccounting `_getUnbondedKeysCount`: with a lock, the count with the
    /// lock (`getUnbondedKeysCount`) is at least the count without it
    /// (`getUnbondedKeysCountToEject`); keys to eject win the warning, a
    /// lock alone is the milder one, a covered bond none.
    #[test]
    fn keys_to_eject_come_before_keys_unbonded_by_a_lock() {
        let eth = |milli: u64| U256::from(milli) * U256::from(1_000_000_000_000_000u64);
        // CSM's default curve of the example: 2.4 ETH for the first key,
        // 1.3 ETH for each next; 4 keys need 6.3 ETH.
        let covered = BondState { current: eth(6_300), required: eth(6_300), unbonded: 0, to_eject: 0 };
        assert_eq!(covered.risk(), None);
        assert_eq!(covered.shortfall(), U256::ZERO);
        // 5.0 ETH held covers 3 keys (2.4 + 1.3 + 1.3): one to eject.
        let short = BondState { current: eth(5_000), required: eth(6_300), unbonded: 1, to_eject: 1 };
        assert_eq!(short.risk(), Some(BondRisk::Eject { keys: 1 }));
        assert_eq!(short.shortfall(), eth(1_300));
        // 6.3 ETH held but 1.5 ETH of it locked: 2 keys unbonded, none to
        // eject until the lock is settled.
        let locked = BondState { current: eth(6_300), required: eth(7_800), unbonded: 2, to_eject: 0 };
        assert_eq!(locked.risk(), Some(BondRisk::Unbonded { keys: 2 }));
    }
}
