//! The chain routes the client reads beside its duties: committees, the
//! sync committee, and the attestation rewards of an epoch (the ledger's
//! second view; doppelganger's chain watch). Each answer is checked for
//! shape here; what it means is judged by the caller.

use super::client::BeaconClient;
use super::error::BeaconError;
use super::routes::{Indices, BULK_CHUNK};
use super::types::Data;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// A beacon committee of `GET /eth/v1/beacon/states/{state}/committees`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Committee {
    /// Its index within the slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub index: u64,
    /// Its slot.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
    /// Member validator indices, in committee order.
    #[serde(with = "serde_utils::quoted_u64_vec")]
    pub validators: Vec<u64>,
}

/// Which committees of a state to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committees {
    /// Every committee of an epoch.
    OfEpoch(u64),
    /// The committees of one slot.
    AtSlot(u64),
}

#[derive(Deserialize)]
struct SyncCommitteeJson {
    #[serde(with = "serde_utils::quoted_u64_vec")]
    validators: Vec<u64>,
}

/// One validator's attestation reward of an epoch: what it earned and
/// what it would have with perfect votes (gwei; head + target + source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttestationReward {
    /// Earned (may be negative).
    pub actual: i64,
    /// The ideal for its effective balance.
    pub ideal: i64,
}

impl BeaconClient {
    /// `GET /eth/v1/beacon/states/{state}/committees` for `which`.
    pub async fn committees(&self, state: &str, which: Committees, t: Duration) -> Result<Vec<Committee>, BeaconError> {
        let path = match which {
            Committees::OfEpoch(e) => format!("/eth/v1/beacon/states/{state}/committees?epoch={e}"),
            Committees::AtSlot(s) => format!("/eth/v1/beacon/states/{state}/committees?slot={s}"),
        };
        Ok(self.get::<Data<Vec<Committee>>>(&path, t).await?.data)
    }

    /// `GET /eth/v1/beacon/states/{state}/sync_committees?epoch=`: the
    /// members, in committee order.
    pub async fn sync_committee(&self, state: &str, epoch: u64, t: Duration) -> Result<Vec<u64>, BeaconError> {
        let path = format!("/eth/v1/beacon/states/{state}/sync_committees?epoch={epoch}");
        Ok(self.get::<Data<SyncCommitteeJson>>(&path, t).await?.data.validators)
    }

    /// `POST /eth/v1/beacon/rewards/attestations/{epoch}` for `indices`, in
    /// chunks of [`BULK_CHUNK`].
    pub async fn attestation_rewards(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<HashMap<u64, AttestationReward>, BeaconError> {
        let path = format!("/eth/v1/beacon/rewards/attestations/{epoch}");
        let mut out = HashMap::new();
        for chunk in indices.chunks(BULK_CHUNK) {
            let v: Value = self.post_for_keys(&path, &Indices(chunk), chunk.len(), t).await?;
            parse_rewards(&v, &mut out)
                .map_err(|e| BeaconError::Invalid { url: path.clone(), reason: e.to_string() })?;
        }
        Ok(out)
    }
}

/// Why a rewards answer is not what the API specifies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewardsError {
    /// A field that is not an integer.
    #[error("{field} is not an integer: {value}")]
    NotAnInteger {
        /// The field.
        field: String,
        /// What it holds.
        value: String,
    },
    /// A part of the answer is missing.
    #[error("no {0}")]
    Missing(&'static str),
    /// A negative validator index.
    #[error("validator_index {0} is negative")]
    NegativeIndex(i64),
}

fn num(v: &Value, field: &str) -> Result<i64, RewardsError> {
    let bad = |value: String| RewardsError::NotAnInteger { field: field.to_string(), value };
    match v.get(field) {
        None => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| bad(format!("{s:?}"))),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad(n.to_string())),
        Some(other) => Err(bad(other.to_string())),
    }
}

/// Sums head + target + source of each validator's total and of the ideal
/// for its effective balance.
fn parse_rewards(v: &Value, out: &mut HashMap<u64, AttestationReward>) -> Result<(), RewardsError> {
    let data = v.get("data").ok_or(RewardsError::Missing("data"))?;
    let arr = |k: &'static str| data.get(k).and_then(Value::as_array).ok_or(RewardsError::Missing(k));
    let sum = |e: &Value| -> Result<i64, RewardsError> { Ok(num(e, "head")? + num(e, "target")? + num(e, "source")?) };
    let mut ideal_by_balance = HashMap::new();
    for e in arr("ideal_rewards")? {
        ideal_by_balance.insert(num(e, "effective_balance")?, sum(e)?);
    }
    for e in arr("total_rewards")? {
        let index = num(e, "validator_index")?;
        let index = u64::try_from(index).map_err(|_| RewardsError::NegativeIndex(index))?;
        out.insert(index, AttestationReward { actual: sum(e)?, ideal: 0 });
    }
    // The ideal needs each validator's effective balance, which the total
    // entries do not carry: with one balance class (the common case) it is
    // that class's; otherwise the largest ideal bounds it from above.
    let ideal = ideal_by_balance.values().copied().max().unwrap_or(0);
    for r in out.values_mut() {
        if r.ideal == 0 {
            r.ideal = ideal;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rewards_sum_head_target_and_source() {
        let v = serde_json::json!({"data": {
            "ideal_rewards": [{"effective_balance": "32000000000", "head": "10", "target": "20", "source": "11", "inclusion_delay": "0", "inactivity": "0"}],
            "total_rewards": [{"validator_index": "7", "head": "0", "target": "-20", "source": "11"},
                              {"validator_index": "8", "head": "10", "target": "20", "source": "11"}]}});
        let mut out = HashMap::new();
        parse_rewards(&v, &mut out).unwrap();
        assert_eq!(out[&7], AttestationReward { actual: -9, ideal: 41 });
        assert_eq!(out[&8], AttestationReward { actual: 41, ideal: 41 });
        assert!(parse_rewards(&serde_json::json!({"data": {}}), &mut out).is_err());
    }
}
