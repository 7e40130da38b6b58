//! Stader's penalty state for the operator's keys, read from its `Penalty`
//! contract (stader-labs/ethx `contracts/Penalty.sol`): each key's
//! `totalPenaltyAmount(pubkey)` (missed-attestation strikes at
//! `missedAttestationPenaltyPerStrike`, MEV theft, additional penalties),
//! against `validatorExitPenaltyThreshold()`, the total at which Stader
//! forces the key out (`ForceExitValidator`). An operator is warned while a
//! key can still be saved: one more strike from the threshold.

use crate::el::abi::IStaderPenalty;
use crate::el::proven::{ProvenError, Reads};
use alloy_primitives::{Address, Bytes, U256};
use poolvc_signer::types::PublicKeyBytes;

/// Keys per batch of `totalPenaltyAmount` calls.
const KEYS_PER_BATCH: usize = 500;

/// Why a key is warned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PenaltyRisk {
    /// At or over the threshold: Stader forces the exit.
    ForcedExit,
    /// One more missed-attestation strike reaches the threshold.
    OneStrikeAway,
}

/// The penalty state of an operator's keys at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PenaltyState {
    /// `validatorExitPenaltyThreshold()`, wei.
    pub threshold: U256,
    /// `missedAttestationPenaltyPerStrike()`, wei.
    pub per_strike: U256,
    /// Each key's `totalPenaltyAmount`, wei (keys with none left out).
    pub penalised: Vec<(PublicKeyBytes, U256)>,
}

/// The rule: at or over the threshold, a forced exit; within one strike of
/// it, one strike away; otherwise nothing.
pub fn risk(total: U256, threshold: U256, per_strike: U256) -> Option<PenaltyRisk> {
    if total >= threshold {
        Some(PenaltyRisk::ForcedExit)
    } else if total.saturating_add(per_strike) >= threshold && total > U256::ZERO {
        Some(PenaltyRisk::OneStrikeAway)
    } else {
        None
    }
}

/// Reads the penalty state of `keys` at `penalty` at `block`.
pub async fn read(
    rpc: &Reads<'_>,
    penalty: Address,
    keys: &[PublicKeyBytes],
    block: u64,
) -> Result<PenaltyState, ProvenError> {
    let threshold = rpc.call(penalty, IStaderPenalty::validatorExitPenaltyThresholdCall {}, block).await?;
    let per_strike = rpc.call(penalty, IStaderPenalty::missedAttestationPenaltyPerStrikeCall {}, block).await?;
    let mut penalised = Vec::new();
    for chunk in keys.chunks(KEYS_PER_BATCH) {
        let calls = chunk
            .iter()
            .map(|k| (penalty, IStaderPenalty::totalPenaltyAmountCall { pubkey: Bytes::copy_from_slice(k.as_slice()) }))
            .collect();
        for (k, total) in chunk.iter().zip(rpc.call_many(calls, block).await?) {
            if total > U256::ZERO {
                penalised.push((*k, total));
            }
        }
    }
    Ok(PenaltyState { threshold, per_strike, penalised })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::eth;

    /// ethx `Penalty.updateTotalPenaltyAmount`: the total is stored and a
    /// forced exit emitted once it reaches `validatorExitPenaltyThreshold`
    /// (2 ETH at initialize), each missed-attestation strike adding
    /// `missedAttestationPenaltyPerStrike` (0.2 ETH).
    #[test]
    fn a_key_is_warned_one_strike_before_the_forced_exit() {
        let e = |milli: u64| U256::from(milli) * U256::from(1_000_000_000_000_000u64);
        let (thr, strike) = (e(2_000), e(200));
        assert_eq!(risk(e(0), thr, strike), None);
        assert_eq!(risk(e(1_600), thr, strike), None, "two strikes away");
        assert_eq!(risk(e(1_800), thr, strike), Some(PenaltyRisk::OneStrikeAway));
        assert_eq!(risk(e(2_000), thr, strike), Some(PenaltyRisk::ForcedExit));
        // A penalty per strike as large as the threshold: any penalty warns.
        assert_eq!(risk(e(1), thr, thr), Some(PenaltyRisk::OneStrikeAway));
        assert_eq!(eth(e(1_800)), "1.800 ETH");
    }
}
