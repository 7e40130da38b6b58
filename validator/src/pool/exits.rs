//! Exit requests the pools make of the operator's keys: Lido's
//! `ValidatorExitRequest` (filtered to the operator's module and id by its
//! indexed topics) and Stader's `ForceExitValidator` (filtered to the
//! operator's keys), decoded from `eth_getLogs` entries.

use super::config::PoolSpec;
use super::reader::OperatorRead;
use crate::el::abi::{IStaderPenalty, IValidatorsExitBus};
use crate::el::rpc::{EthRpc, Log, RpcError};
use alloy_primitives::Address;
use alloy_primitives::{B256, U256};
use alloy_sol_types::SolEvent;
use poolvc_signer::types::PublicKeyBytes;
use std::collections::HashMap;
use std::collections::HashSet;

/// The allowed exit delay where the module's `exitDeadlineThreshold` was
/// not read: 4 days, the mainnet curated module's and CSM's default curve's
/// (`../shared/design/pool-fidelity.md`, the exit-deadline row).
pub const LIDO_EXIT_DEADLINE_SECS: u64 = 4 * 24 * 3600;

/// The earliest unix time a key activated at `activation_epoch` may exit
/// voluntarily: `SHARD_COMMITTEE_PERIOD` epochs after its activation.
pub fn earliest_voluntary_exit(
    genesis_time: u64,
    activation_epoch: u64,
    shard_committee_period: u64,
    seconds_per_epoch: u64,
) -> u64 {
    genesis_time
        .saturating_add(activation_epoch.saturating_add(shard_committee_period).saturating_mul(seconds_per_epoch))
}

/// One exit request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExitRequest {
    /// The key to exit.
    pub pubkey: PublicKeyBytes,
    /// The pool asking.
    pub pool: String,
    /// The execution block of the event.
    pub block: u64,
    /// The validator index the pool names, if it names one.
    pub validator_index: Option<u64>,
    /// Unix time the request was delivered (Lido: the event's timestamp);
    /// `None` where the pool sets no deadline.
    pub delivered: Option<u64>,
    /// The seconds the operator may take once the key is eligible (Lido:
    /// the module's `exitDeadlineThreshold`); `None` where not read.
    pub allowed_delay_secs: Option<u64>,
    /// The log that asked, as the endpoint gave it: proven against the
    /// block's receipts root before anything is done.
    #[serde(skip)]
    pub log: Option<Log>,
}

/// Errors decoding a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExitLogError {
    /// The log does not decode as the event.
    #[error("{event} log in block {block}: {reason}")]
    Malformed {
        /// The event.
        event: &'static str,
        /// Its block.
        block: u64,
        /// The decoder's account.
        reason: String,
    },
}

/// Errors fetching exit requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExitFetchError {
    /// The node failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A log did not decode.
    #[error(transparent)]
    Log(#[from] ExitLogError),
}

/// Whether `spec` has exit requests to follow (Lido, Stader with a
/// `Penalty`): those need the entry's read to be matched.
pub fn follows_requests(spec: &PoolSpec) -> bool {
    matches!(spec, PoolSpec::Lido { .. } | PoolSpec::Stader { penalty: Some(_), .. })
}

/// The exit requests `spec`'s pool logged in blocks `from..=to` for the
/// operator as last `read` (its module and id at the exit bus the read
/// found for Lido, its keys for Stader; nothing before a first read, which
/// is why a caller searches a window again once the entry has been read:
/// [`follows_requests`]). Logs of a Stader `Penalty` several entries share
/// are asked once through `penalty_logs`.
pub async fn fetch(
    rpc: &EthRpc,
    spec: &PoolSpec,
    read: Option<&OperatorRead>,
    from: u64,
    to: u64,
    penalty_logs: &mut HashMap<Address, Vec<Log>>,
) -> Result<Vec<ExitRequest>, ExitFetchError> {
    let keys: HashSet<PublicKeyBytes> = read.map(|r| r.keys.iter().copied().collect()).unwrap_or_default();
    let keys = &keys;
    match spec {
        PoolSpec::Lido { module_id, operator_id, .. } => {
            let Some(bus) = read.and_then(|r| r.exit_bus) else { return Ok(Vec::new()) };
            let logs = rpc.logs(&[bus], &lido_topics(*module_id, *operator_id), from, to).await?;
            let operator = LidoOperator {
                exit_bus: bus,
                module_id: *module_id,
                operator_id: *operator_id,
                allowed_delay_secs: read.and_then(|r| r.exit_delay_secs),
            };
            Ok(decode_lido(spec.kind(), &logs, &operator, keys)?)
        }
        PoolSpec::Stader { penalty: Some(p), .. } => {
            if !penalty_logs.contains_key(p) {
                let logs = rpc.logs(&[*p], &stader_topics(), from, to).await?;
                penalty_logs.insert(*p, logs);
            }
            // Only the Penalty contract's own logs, whatever the endpoint sent.
            let logs: Vec<Log> = penalty_logs
                .get(p)
                .map_or(&[][..], |l| l.as_slice())
                .iter()
                .filter(|l| l.address == *p)
                .cloned()
                .collect();
            Ok(decode_stader(spec.kind(), &logs, keys)?)
        }
        _ => Ok(Vec::new()),
    }
}

/// The topics that select Lido's exit requests for one operator.
pub fn lido_topics(module_id: u64, operator_id: u64) -> [Option<B256>; 3] {
    [
        Some(IValidatorsExitBus::ValidatorExitRequest::SIGNATURE_HASH),
        Some(B256::from(U256::from(module_id))),
        Some(B256::from(U256::from(operator_id))),
    ]
}

/// The topic of Stader's forced exits.
pub fn stader_topics() -> [Option<B256>; 1] {
    [Some(IStaderPenalty::ForceExitValidator::SIGNATURE_HASH)]
}

/// The Lido operator whose exit requests are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LidoOperator {
    /// The `ValidatorsExitBusOracle` that emits them.
    pub exit_bus: Address,
    /// The staking module's id.
    pub module_id: u64,
    /// The operator's id in the module.
    pub operator_id: u64,
    /// Its allowed exit delay as read (`exitDeadlineThreshold`).
    pub allowed_delay_secs: Option<u64>,
}

/// Decodes Lido exit-request logs, keeping only those the endpoint cannot
/// have passed off: emitted by the operator's exit bus, for its module and
/// operator id (the decoded topics, not the endpoint's filter), and for one
/// of the operator's `keys` (by public key).
pub fn decode_lido(
    pool: &str,
    logs: &[Log],
    operator: &LidoOperator,
    keys: &HashSet<PublicKeyBytes>,
) -> Result<Vec<ExitRequest>, ExitLogError> {
    let mut out = Vec::new();
    for l in logs {
        let e = IValidatorsExitBus::ValidatorExitRequest::decode_raw_log(l.topics.iter().copied(), &l.data).map_err(
            |e| ExitLogError::Malformed { event: "ValidatorExitRequest", block: l.block, reason: e.to_string() },
        )?;
        let pubkey = key48(&e.validatorPubkey, "ValidatorExitRequest", l.block)?;
        let for_operator = l.address == operator.exit_bus
            && e.stakingModuleId == U256::from(operator.module_id)
            && e.nodeOperatorId == U256::from(operator.operator_id);
        if !for_operator || !keys.contains(&pubkey) {
            continue;
        }
        let ts = u64::try_from(e.timestamp).unwrap_or(u64::MAX);
        out.push(ExitRequest {
            pubkey,
            pool: pool.to_string(),
            block: l.block,
            validator_index: u64::try_from(e.validatorIndex).ok(),
            delivered: Some(ts),
            allowed_delay_secs: operator.allowed_delay_secs,
            log: Some(l.clone()),
        });
    }
    Ok(out)
}

/// Decodes Stader forced-exit logs, keeping the operator's `keys`.
pub fn decode_stader(
    pool: &str,
    logs: &[Log],
    keys: &HashSet<PublicKeyBytes>,
) -> Result<Vec<ExitRequest>, ExitLogError> {
    let mut out = Vec::new();
    for l in logs {
        let e = IStaderPenalty::ForceExitValidator::decode_raw_log(l.topics.iter().copied(), &l.data).map_err(|e| {
            ExitLogError::Malformed { event: "ForceExitValidator", block: l.block, reason: e.to_string() }
        })?;
        let pubkey = key48(&e.pubkey, "ForceExitValidator", l.block)?;
        if keys.contains(&pubkey) {
            out.push(ExitRequest {
                pubkey,
                pool: pool.to_string(),
                block: l.block,
                validator_index: None,
                delivered: None,
                allowed_delay_secs: None,
                log: Some(l.clone()),
            });
        }
    }
    Ok(out)
}

impl ExitRequest {
    /// Unix time the exit is due by, as Lido's `ValidatorExitDelayVerifier`
    /// counts it (`_getSecondsSinceExitIsEligible`): from the later of the
    /// delivery and the key's earliest voluntary exit (`eligible_from`, where
    /// known), plus the allowed delay (the 4-day default where not read).
    /// `None` where the pool sets no deadline.
    pub fn deadline(&self, eligible_from: Option<u64>) -> Option<u64> {
        let delivered = self.delivered?;
        let eligible = delivered.max(eligible_from.unwrap_or(0));
        Some(eligible.saturating_add(self.allowed_delay_secs.unwrap_or(LIDO_EXIT_DEADLINE_SECS)))
    }
}

fn key48(b: &[u8], event: &'static str, block: u64) -> Result<PublicKeyBytes, ExitLogError> {
    if b.len() != 48 {
        return Err(ExitLogError::Malformed { event, block, reason: format!("a {}-byte public key", b.len()) });
    }
    Ok(PublicKeyBytes::from_slice(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, Bytes};
    use alloy_sol_types::SolValue;

    #[test]
    fn lido_and_stader_logs_decode_and_filter() {
        let pk = PublicKeyBytes::repeat_byte(5);
        let data = (Bytes::copy_from_slice(pk.as_slice()), U256::from(1_000u64)).abi_encode_params();
        let [t0, t1, t2] = lido_topics(1, 7);
        let bus = Address::repeat_byte(0xb0);
        let operator = LidoOperator { exit_bus: bus, module_id: 1, operator_id: 7, allowed_delay_secs: None };
        let ours: HashSet<_> = [pk].into();
        let log = Log {
            address: bus,
            topics: vec![t0.unwrap(), t1.unwrap(), t2.unwrap(), B256::from(U256::from(42u64))],
            data: data.into(),
            block: 9,
            block_hash: B256::repeat_byte(9),
        };
        let got = decode_lido("lido-curated", std::slice::from_ref(&log), &operator, &ours).unwrap();
        assert_eq!(got[0].pubkey, pk);
        assert_eq!(got[0].validator_index, Some(42));
        assert_eq!(got[0].deadline(None), Some(1_000 + LIDO_EXIT_DEADLINE_SECS));
        // An endpoint that passes off another operator's request, another
        // contract's log, or a key that is not the operator's: nothing.
        let other_operator = Log {
            topics: vec![t0.unwrap(), t1.unwrap(), B256::from(U256::from(8u64)), B256::from(U256::from(42u64))],
            ..log.clone()
        };
        let other_contract = Log { address: Address::repeat_byte(0xee), ..log.clone() };
        for forged in [other_operator, other_contract] {
            assert!(decode_lido("lido-curated", &[forged], &operator, &ours).unwrap().is_empty());
        }
        assert!(decode_lido("lido-curated", std::slice::from_ref(&log), &operator, &HashSet::new())
            .unwrap()
            .is_empty());
        // A cut log is an error naming the event and block.
        let bad = Log { data: Bytes::from_static(&[1, 2, 3]), ..log };
        let e = decode_lido("lido-curated", &[bad], &operator, &ours).unwrap_err().to_string();
        assert!(e.contains("ValidatorExitRequest log in block 9"), "{e}");

        let data = (Bytes::copy_from_slice(pk.as_slice()),).abi_encode_params();
        let log = Log {
            address: Address::ZERO,
            topics: vec![stader_topics()[0].unwrap()],
            data: data.into(),
            block: 3,
            block_hash: B256::repeat_byte(3),
        };
        let ours: HashSet<_> = [pk].into();
        assert_eq!(decode_stader("stader-permissioned", std::slice::from_ref(&log), &ours).unwrap().len(), 1);
        assert!(decode_stader("stader-permissioned", &[log], &HashSet::new()).unwrap().is_empty());
    }

    /// A worked example of Lido's deadline, as lidofinance/core's
    /// `contracts/0.8.25/ValidatorExitDelayVerifier.sol`,
    /// `_getSecondsSinceExitIsEligible`, counts the delay: eligibility is the
    /// later of the delivery and `GENESIS_TIME + activationEpoch · SLOTS_PER_
    /// EPOCH · SECONDS_PER_SLOT + SHARD_COMMITTEE_PERIOD_IN_SECONDS`; the key
    /// is late once `exitDeadlineThreshold(operator)` more seconds pass.
    #[test]
    fn a_lido_deadline_counts_from_eligibility_with_the_operators_delay() {
        // Mainnet: genesis 1606824023, 384 s epochs, 256-epoch period.
        let (genesis, spe) = (1_606_824_023u64, 384u64);
        let ics = 5 * 24 * 3600;
        let r = |delivered, delay| ExitRequest {
            pubkey: PublicKeyBytes::ZERO,
            pool: "lido-csm".into(),
            block: 1,
            validator_index: Some(1),
            delivered: Some(delivered),
            allowed_delay_secs: delay,
            log: None,
        };
        // An old key (activated at epoch 1,000): eligible long before the
        // request, due 5 days after delivery on the ICS curve.
        let old = earliest_voluntary_exit(genesis, 1_000, 256, spe);
        assert_eq!(old, genesis + 1_256 * spe);
        let delivered = 1_750_000_000;
        assert_eq!(r(delivered, Some(ics)).deadline(Some(old)), Some(delivered + ics));
        // A key activated 100 epochs before delivery: eligible 156 epochs
        // after it; the delay counts from there.
        let act = (delivered - genesis) / spe - 100;
        let young = earliest_voluntary_exit(genesis, act, 256, spe);
        assert!(young > delivered);
        assert_eq!(r(delivered, Some(ics)).deadline(Some(young)), Some(young + ics));
        // The threshold not read: the 4-day default; the activation not
        // known: from the delivery.
        assert_eq!(r(delivered, None).deadline(None), Some(delivered + LIDO_EXIT_DEADLINE_SECS));
        // Stader sets no deadline.
        assert_eq!(ExitRequest { delivered: None, ..r(delivered, Some(ics)) }.deadline(Some(young)), None);
    }
}
