//! Leased key shards: several poolvc instances over one PostgreSQL, each
//! signing only for the shards whose lease it holds, a standby taking over
//! a lease its holder stopped renewing.
//!
//! ```text
//!  poolvc_shards      shard | holder | lease_epoch | expires_at (database clock) | members
//!  poolvc_shard_keys  pubkey -> shard
//! ```
//!
//! - [`table`]: the lease table's operations (define, acquire, renew,
//!   release, move, list), each one transaction.
//! - [`view`]: what the store's gate checks before anything is signed.
//! - `services::leases` (a task the runtime starts): renews at each slot's
//!   start and takes over expired leases a quarter into the slot.
//! - The slashing transaction checks the lease again, in the database
//!   (`poolvc_signer::slashing::fence`): the fencing that stops a stale
//!   holder, whatever its clock says.
//!
//! Timing, with `m` = `--lease-missed-renewals` and `S` the slot's length:
//! a lease renewed at time `t` (the database's clock) expires at
//! `t + m*S + S/6`; its holder stops signing under it at `t' + m*S + S/12`
//! where `t'` is when it *sent* the renewal by its own monotonic clock
//! (`t' <= t`), so a holder always stops before its lease can be taken.
//! A standby tries at `S/4` into each slot (its own clock). A holder killed
//! in slot `k` after renewing there is taken over at `S/4` into slot
//! `k + m`, so with `m = 1` the standby signs from slot `k + 1`'s
//! attestations (at `S/3`). Clock skew moves when an instance tries, never
//! what the database lets it do.

pub mod table;
pub mod view;

use std::time::Duration;

/// Lease settings of `poolvc vc` (`--lease-holder` and the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// This instance's name in the lease table (unique per instance).
    pub holder: String,
    /// Shards this instance takes when free (at start and whenever free).
    pub shards: Vec<String>,
    /// Take over any shard that was held and is free again (a standby).
    pub standby: bool,
    /// Renewals a holder may miss before its lease expires (at least 1).
    pub missed_renewals: u32,
}

impl LeaseConfig {
    /// How long a renewed lease lasts in the database.
    pub fn ttl(&self, slot: Duration) -> Duration {
        slot * self.missed_renewals.max(1) + slot / 6
    }

    /// How long after sending a renewal the holder keeps signing under it
    /// (less than [`Self::ttl`] by `S/12`).
    pub fn local_validity(&self, slot: Duration) -> Duration {
        slot * self.missed_renewals.max(1) + slot / 12
    }

    /// When, into each slot, a standby tries to take expired leases.
    pub fn takeover_offset(slot: Duration) -> Duration {
        slot / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_stops_before_its_lease_can_be_taken_and_a_standby_tries_after_expiry() {
        let slot = Duration::from_secs(12);
        for m in 1..4 {
            let c = LeaseConfig { holder: "a".into(), shards: vec![], standby: true, missed_renewals: m };
            assert!(c.local_validity(slot) < c.ttl(slot), "m={m}");
            // Renewed at a slot's start, expired before the standby's try
            // m slots later, and that try is before the attestations (S/3).
            let expiry = c.ttl(slot);
            let attempt = slot * m + LeaseConfig::takeover_offset(slot);
            assert!(expiry < attempt && attempt < slot * m + slot / 3, "m={m}");
        }
    }
}
