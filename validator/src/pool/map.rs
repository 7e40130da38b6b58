//! The key -> (pool, operator, recipient) map, from the latest read of each
//! `pools.yaml` entry, and what it says about every key poolvc holds.
//!
//! Invariants kept here (fail closed):
//! - a read older than the freshness bound gives its keys no recipient;
//! - while some entry has never been read, a key no fresh read claims may be
//!   that entry's, so it gets no recipient either (it still attests);
//! - a key two entries claim gets no recipient (the pools disagree);
//! - only an entry whose read succeeded says which keys it holds.

use super::reader::{OperatorRead, ReadError};
use crate::policy::pool_rules::{self, Facts, Why};
use crate::policy::PoolRecipient;
use poolvc_signer::types::PublicKeyBytes;
use std::collections::{HashMap, HashSet};

/// The freshness bound, in slots: a read is trusted for 96 slots. A Stader
/// opt-in change takes effect 96 blocks after it is made (one block per slot
/// since the merge), so a read no older than that cannot have missed a change
/// already in force; Rocket Pool's opt-out keeps the smoothing pool until the
/// next epoch is finalized (at least 64 slots later).
pub const MAX_AGE_SLOTS: u64 = pool_rules::STADER_CHANGE_DELAY_BLOCKS;

/// A successful read of one entry.
#[derive(Debug, Clone)]
pub struct GoodRead {
    /// What was read.
    pub read: OperatorRead,
    /// When (unix seconds).
    pub at: u64,
    /// At which execution block.
    pub block: u64,
}

/// One `pools.yaml` entry's state.
#[derive(Debug, Clone, Default)]
pub struct EntryState {
    /// The last read that worked.
    pub good: Option<GoodRead>,
    /// The last failure, with its time, if the last read failed.
    pub error: Option<(String, u64)>,
}

/// Every entry's state.
#[derive(Debug, Clone)]
pub struct PoolMap {
    /// By `pools.yaml` entry.
    pub entries: Vec<EntryState>,
    /// What each entry is called before it was ever read (its kind).
    pub kinds: Vec<String>,
    /// The relays the operator uses (`pools.yaml` `relays`).
    pub relays: Vec<String>,
    /// The newest execution block number seen and when (unix seconds).
    pub head: Option<(u64, u64)>,
    /// Seconds a head stays current (one slot).
    pub slot_secs: u64,
}

/// What the map says about keys now.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The rule of each key some entry claims.
    pub by_key: HashMap<PublicKeyBytes, PoolRecipient>,
    /// Set while some entry has never been read: why unclaimed keys get no
    /// recipient.
    pub unclaimed: Option<String>,
}

impl Rules {
    /// A key's pool rule: `None` for a key in no pool (its configured
    /// recipient applies).
    pub fn rule_of(&self, pubkey: &PublicKeyBytes) -> Option<PoolRecipient> {
        match self.by_key.get(pubkey) {
            Some(r) => Some(r.clone()),
            None => self.unclaimed.as_ref().map(|reason| PoolRecipient::Unknown {
                pool: "pools.yaml".into(),
                operator: "?".into(),
                reason: reason.clone(),
            }),
        }
    }
}

impl PoolMap {
    /// A map of `kinds.len()` entries, none read yet.
    pub fn new(kinds: Vec<String>) -> Self {
        Self { entries: vec![EntryState::default(); kinds.len()], kinds, relays: Vec::new(), head: None, slot_secs: 12 }
    }

    /// The same, on a chain of `secs`-second slots.
    pub fn with_slot_secs(mut self, secs: u64) -> Self {
        self.slot_secs = secs.max(1);
        self
    }

    /// Records the node's block number `block` at unix time `at`.
    pub fn set_head(&mut self, block: u64, at: u64) {
        if self.head.is_none_or(|(b, _)| block >= b) {
            self.head = Some((block, at));
        }
    }

    /// The same, for an operator whose mev-boost uses `relays`.
    pub fn with_relays(mut self, relays: Vec<String>) -> Self {
        self.relays = relays;
        self
    }

    /// Records a read of entry `i`.
    pub fn record(&mut self, i: usize, result: Result<OperatorRead, ReadError>, now: u64, block: u64) {
        let Some(e) = self.entries.get_mut(i) else { return };
        match result {
            Ok(read) => {
                e.good = Some(GoodRead { read, at: now, block });
                e.error = None;
            }
            Err(err) => e.error = Some((err.to_string(), now)),
        }
    }

    /// Records a failure for every entry (the node unreachable, another chain).
    pub fn record_all_failed(&mut self, why: &str, now: u64) {
        for e in &mut self.entries {
            e.error = Some((why.to_string(), now));
        }
    }

    /// The rules at unix time `now`, trusting reads younger than `max_age` s.
    pub fn rules(&self, now: u64, max_age: u64) -> Rules {
        let mut by_key: HashMap<PublicKeyBytes, PoolRecipient> = HashMap::new();
        let mut owner: HashMap<PublicKeyBytes, usize> = HashMap::new();
        let mut twice: HashSet<PublicKeyBytes> = HashSet::new();
        let mut never: Vec<String> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let Some(g) = &e.good else {
                let why = e.error.as_ref().map_or("not read yet".to_string(), |(m, _)| m.clone());
                never.push(format!("pools[{i}] ({}): {why}", self.kinds[i]));
                continue;
            };
            let age = now.saturating_sub(g.at);
            let rule_for = |facts: &Facts| {
                if age > max_age {
                    let last = e.error.as_ref().map_or(String::new(), |(m, _)| format!("; last error: {m}"));
                    return PoolRecipient::Unknown {
                        pool: g.read.pool.clone(),
                        operator: g.read.operator.clone(),
                        reason: format!("the contracts were last read {age} s ago, over the {max_age} s bound{last}"),
                    };
                }
                match self.decide_now(facts, now) {
                    Ok(decision) => PoolRecipient::Rule {
                        pool: g.read.pool.clone(),
                        operator: g.read.operator.clone(),
                        decision,
                        no_builder: relay_check(&g.read, &self.relays),
                    },
                    Err(e) => PoolRecipient::Unknown {
                        pool: g.read.pool.clone(),
                        operator: g.read.operator.clone(),
                        reason: e.to_string(),
                    },
                }
            };
            let mut groups = vec![(rule_for(&g.read.facts), &g.read.keys)];
            if let Some((facts, keys)) = &g.read.second {
                groups.push((rule_for(facts), keys));
            }
            for (rule, keys) in groups {
                for k in keys {
                    if let Some(first) = owner.insert(*k, i) {
                        if first != i {
                            twice.insert(*k);
                        }
                    }
                    by_key.insert(*k, rule.clone());
                }
            }
        }
        for k in twice {
            by_key.insert(
                k,
                PoolRecipient::Unknown {
                    pool: "pools.yaml".into(),
                    operator: "?".into(),
                    reason: "two pools.yaml entries' contracts both claim this key".into(),
                },
            );
        }
        let unclaimed = (!never.is_empty()).then(|| {
            format!(
                "a pool this key may belong to could not be read or does not list all its keys ({})",
                never.join("; ")
            )
        });
        Rules { by_key, unclaimed }
    }

    /// Whether an entry's rule is waiting for a Stader change to apply (the
    /// service then reads every slot, to switch on time).
    pub fn change_pending(&self) -> bool {
        self.entries.iter().filter_map(|e| e.good.as_ref()).any(
            |g| matches!(pool_rules::decide(&g.read.facts), Ok(d) if matches!(d.why, Why::StaderChangePending { .. })),
        )
    }

    /// Every key some read claims.
    pub fn claimed(&self) -> HashSet<PublicKeyBytes> {
        self.entries.iter().filter_map(|e| e.good.as_ref()).flat_map(|g| g.read.all_keys()).collect()
    }
}

/// Why no rule applies now.
#[derive(Debug, thiserror::Error)]
enum Undecided {
    /// The facts give no rule.
    #[error(transparent)]
    Rule(#[from] pool_rules::RuleError),
    /// A pending Stader change may have applied, and the head is not known.
    #[error(
        "a Stader opt-in change applies after block {applies_after_block} and the execution node's current block \
         is not known (last seen {head})"
    )]
    HeadUnknown {
        /// The block after which it applies.
        applies_after_block: u64,
        /// The last head seen.
        head: u64,
    },
}

impl PoolMap {
    /// A rule at the current head: a Stader change pending as of the read
    /// may have applied since (the facts themselves hold for the freshness
    /// bound, the block number does not). With no current head, a change
    /// that is still pending as of the last head cannot be placed: no
    /// recipient until the node answers.
    fn decide_now(&self, facts: &Facts, now: u64) -> Result<pool_rules::Decision, Undecided> {
        let Facts::StaderPermissionless { opted_in, changed_at_block, socializing_pool, el_reward_vault, block } =
            facts
        else {
            return Ok(pool_rules::decide(facts)?);
        };
        let (head, current) = match self.head {
            Some((b, at)) => (b.max(*block), now.saturating_sub(at) <= self.slot_secs),
            None => (*block, false),
        };
        let at_head = Facts::StaderPermissionless {
            opted_in: *opted_in,
            changed_at_block: *changed_at_block,
            socializing_pool: *socializing_pool,
            el_reward_vault: *el_reward_vault,
            block: head,
        };
        let d = pool_rules::decide(&at_head)?;
        if let Why::StaderChangePending { applies_after_block, .. } = d.why {
            if !current {
                return Err(Undecided::HeadUnknown { applies_after_block, head });
            }
        }
        Ok(d)
    }
}

/// Why an operator's keys must not take builder blocks: a pool that
/// restricts relays (Lido) with no list read, or a relay of the operator's
/// not on it. URIs compare without case and trailing slashes.
fn relay_check(read: &OperatorRead, relays: &[String]) -> Option<String> {
    if !read.restricts_relays {
        return None;
    }
    let norm = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some(allowed) = &read.allowed_relays else {
        return Some("pools.yaml names no relay_allow_list for this Lido entry".into());
    };
    let allowed: HashSet<String> = allowed.iter().map(|u| norm(u)).collect();
    if relays.is_empty() {
        return Some("pools.yaml names no `relays` to check against Lido's allow-list".into());
    }
    relays
        .iter()
        .find(|r| !allowed.contains(&norm(r)))
        .map(|r| format!("relay {r} is not on Lido's MEVBoostRelayAllowedList"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use poolvc_signer::types::Address;

    fn key(b: u8) -> PublicKeyBytes {
        PublicKeyBytes::repeat_byte(b)
    }

    fn read(keys: &[u8], recipient: Address) -> OperatorRead {
        OperatorRead {
            pool: "custom-a".into(),
            operator: "op".into(),
            keys: keys.iter().map(|b| key(*b)).collect(),
            facts: Facts::Lido { el_rewards_vault: recipient },
            watch: Vec::new(),
            allowed_relays: Some(vec!["https://Relay.A/".into()]),
            restricts_relays: true,
            second: None,
            exit_bus: None,
            exit_delay_secs: None,
            curve: None,
            accounting: None,
        }
    }

    #[test]
    fn fresh_reads_give_rules_and_stale_or_missing_ones_fail_closed() {
        let vault = Address::repeat_byte(9);
        let mut m = PoolMap::new(vec!["lido-curated".into(), "rocket-pool".into()]);
        m.record(0, Ok(read(&[1, 2], vault)), 1_000, 10);
        // Entry 1 never read: keys nobody claims get no recipient.
        let r = m.rules(1_010, 192);
        assert!(
            matches!(r.rule_of(&key(1)), Some(PoolRecipient::Rule { decision, .. }) if decision.recipient == vault)
        );
        match r.rule_of(&key(7)) {
            Some(PoolRecipient::Unknown { reason, .. }) => {
                assert!(reason.contains("pools[1] (rocket-pool)"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        m.record(1, Ok(read(&[3], vault)), 1_010, 11);
        let r = m.rules(1_020, 192);
        assert_eq!(r.rule_of(&key(7)), None, "a key in no pool keeps its own recipient");
        // A failed read keeps the last good one until it is too old.
        m.record(0, Err(ReadError::Contract { pool: "lido-curated", what: "boom".into() }), 1_100, 0);
        assert!(matches!(m.rules(1_150, 192).rule_of(&key(1)), Some(PoolRecipient::Rule { .. })));
        match m.rules(1_300, 192).rule_of(&key(1)) {
            Some(PoolRecipient::Unknown { reason, .. }) => {
                assert!(reason.contains("300 s ago") && reason.contains("boom"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn megapool_keys_pay_the_megapool_and_minipool_keys_the_distributor() {
        let facts = |key| Facts::RocketPool {
            in_smoothing_pool: false,
            changed_epoch: None,
            finalized_epoch: 0,
            smoothing_pool: Address::repeat_byte(1),
            fee_distributor: Address::repeat_byte(2),
            megapool: Some(Address::repeat_byte(3)),
            key,
        };
        let r = OperatorRead {
            facts: facts(pool_rules::RocketKey::Minipool),
            second: Some((facts(pool_rules::RocketKey::Megapool), vec![key(8)])),
            restricts_relays: false,
            ..read(&[1], Address::ZERO)
        };
        let mut m = PoolMap::new(vec!["rocket-pool".into()]);
        m.record(0, Ok(r), 5, 1);
        let rules = m.rules(6, 100);
        let pays = |k| match rules.rule_of(&key(k)) {
            Some(PoolRecipient::Rule { decision, .. }) => Some(decision.recipient),
            _ => None,
        };
        assert_eq!(pays(1), Some(Address::repeat_byte(2)));
        assert_eq!(pays(8), Some(Address::repeat_byte(3)));
        assert!(m.claimed().contains(&key(8)));
    }

    #[test]
    fn a_key_two_pools_claim_gets_no_recipient() {
        let mut m = PoolMap::new(vec!["a".into(), "b".into()]);
        m.record(0, Ok(read(&[1], Address::repeat_byte(1))), 5, 1);
        m.record(1, Ok(read(&[1, 2], Address::repeat_byte(2))), 5, 1);
        let r = m.rules(6, 100);
        assert!(matches!(r.rule_of(&key(1)), Some(PoolRecipient::Unknown { .. })));
        assert!(matches!(r.rule_of(&key(2)), Some(PoolRecipient::Rule { .. })));
    }

    #[test]
    fn lido_keys_take_builder_blocks_only_through_allowed_relays() {
        let r = read(&[1], Address::repeat_byte(1));
        assert_eq!(relay_check(&r, &["https://relay.a".into()]), None);
        assert!(relay_check(&r, &["https://relay.a".into(), "https://b".into()]).unwrap().contains("https://b"));
        assert!(relay_check(&r, &[]).is_some(), "no relays named: fail closed");
        let no_list = OperatorRead { allowed_relays: None, ..r.clone() };
        assert!(relay_check(&no_list, &["https://relay.a".into()]).is_some());
        let stader = OperatorRead { restricts_relays: false, allowed_relays: None, ..r };
        assert_eq!(relay_check(&stader, &[]), None);
    }

    #[test]
    fn a_pending_stader_change_applies_at_the_current_head_and_fails_closed_without_one() {
        let (pool, vault) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let stader = |block| OperatorRead {
            pool: "stader-permissionless".into(),
            operator: "op".into(),
            keys: vec![key(1)],
            facts: Facts::StaderPermissionless {
                opted_in: true,
                changed_at_block: 100,
                socializing_pool: pool,
                el_reward_vault: vault,
                block,
            },
            watch: Vec::new(),
            allowed_relays: None,
            restricts_relays: false,
            exit_bus: None,
            exit_delay_secs: None,
            curve: None,
            accounting: None,
            second: None,
        };
        let mut m = PoolMap::new(vec!["stader-permissionless".into()]).with_slot_secs(2);
        m.record(0, Ok(stader(150)), 1_000, 150);
        m.set_head(150, 1_000);
        let pays = |m: &PoolMap, now| match m.rules(now, 192).rule_of(&key(1)) {
            Some(PoolRecipient::Rule { decision, .. }) => Some(decision.recipient),
            _ => None,
        };
        assert_eq!(pays(&m, 1_001), Some(vault), "pending until block 196");
        // The read fails from now on, the node still answers its block number.
        m.set_head(197, 1_050);
        assert_eq!(pays(&m, 1_051), Some(pool), "past block 196: the new recipient, from the same facts");
        // The node stops answering while the change is pending: no recipient.
        let mut m2 = PoolMap::new(vec!["stader-permissionless".into()]).with_slot_secs(2);
        m2.record(0, Ok(stader(150)), 1_000, 150);
        m2.set_head(150, 1_000);
        assert_eq!(pays(&m2, 1_010), None);
        // An opt-in change long applied does not need the head.
        let mut m3 = PoolMap::new(vec!["stader-permissionless".into()]).with_slot_secs(2);
        m3.record(0, Ok(stader(500)), 1_000, 500);
        assert_eq!(pays(&m3, 1_100), Some(pool));
    }

    #[test]
    fn a_zero_address_rule_is_no_recipient() {
        let mut m = PoolMap::new(vec!["a".into()]);
        m.record(0, Ok(read(&[1], Address::ZERO)), 5, 1);
        assert!(matches!(m.rules(6, 100).rule_of(&key(1)), Some(PoolRecipient::Unknown { .. })));
    }
}
