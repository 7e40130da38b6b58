//! Proposal policy: which fee recipient each key pays, and the checks a
//! block or a builder registration must pass before the store signs it.
//!
//! Money paths fail closed. A key whose fee recipient is not known gets no
//! `prepare_beacon_proposer` entry, no builder registration, and no block:
//! the store refuses it and says how to set one. Nothing ever pays the zero
//! address unless an operator wrote the zero address down.
//!
//! Pool rules (Stader, Lido, Rocket Pool: [`pool_rules`]) decide the
//! recipient per key from what the pool contracts say; [`check_payment`]
//! stays the one check.

pub mod pool_rules;

use crate::outcome::Refusal;
use poolvc_signer::types::{Address, PublicKeyBytes};

/// Default gas limit of builder registrations (Lighthouse's default).
pub const DEFAULT_GAS_LIMIT: u64 = 36_000_000;

/// Errors reading a key's proposal settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A per-key fee recipient that is not a 20-byte hex address.
    #[error("validator {pubkey}: suggested_fee_recipient {value:?} is not an address (0x and 40 hex digits)")]
    BadFeeRecipient {
        /// The key.
        pubkey: String,
        /// What was written.
        value: String,
    },
}

/// What a pool's rule says a key must pay, as last read from the pool's
/// contracts (`crate::pool`). A pool key's rule always beats its configured
/// recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolRecipient {
    /// The rule's recipient.
    Rule {
        /// The pool (as `pools.yaml` names its kind, or a custom pool's name).
        pool: String,
        /// The operator, as the pool identifies it.
        operator: String,
        /// The recipient and why.
        decision: pool_rules::Decision,
        /// Why the key must not take builder blocks, if it must not (a Lido
        /// key whose relays are not all on the allow-list).
        no_builder: Option<String>,
    },
    /// The rule's recipient cannot be known now: the key must not propose.
    Unknown {
        /// The pool.
        pool: String,
        /// The operator.
        operator: String,
        /// Why (unreachable RPC and nothing fresh cached, a zero address...).
        reason: String,
    },
}

/// What a key proposes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalConfig {
    /// Who the key's blocks pay as configured (`validator_definitions.yml`
    /// or the flag); a pool rule in [`ProposalConfig::pool`] overrides it.
    /// Read it through [`ProposalConfig::recipient`].
    pub fee_recipient: Option<Address>,
    /// Whether `fee_recipient` was written for this key itself (not the
    /// client-wide default): a contradiction with a pool rule is reported.
    pub own_fee_recipient: bool,
    /// Gas limit of its builder registrations.
    pub gas_limit: u64,
    /// Graffiti of its blocks.
    pub graffiti: Option<String>,
    /// Whether it registers with builders and asks for blinded blocks.
    pub builder_proposals: bool,
    /// The pool rule, for a key a pool holds.
    pub pool: Option<PoolRecipient>,
}

impl ProposalConfig {
    /// Who the key's blocks and registrations must pay; `None`: it must not
    /// propose. The one place that says a pool rule beats configuration.
    pub fn recipient(&self) -> Option<Address> {
        match &self.pool {
            Some(PoolRecipient::Rule { decision, .. }) => Some(decision.recipient),
            Some(PoolRecipient::Unknown { .. }) => None,
            None => self.fee_recipient,
        }
    }

    /// Whether the key asks for builder blocks and registers with builders:
    /// configured so, and its pool (if any) allows it.
    pub fn builder(&self) -> bool {
        self.builder_proposals
            && match &self.pool {
                Some(PoolRecipient::Rule { no_builder, .. }) => no_builder.is_none(),
                Some(PoolRecipient::Unknown { .. }) => false,
                None => true,
            }
    }

    /// Why the key must not take builder blocks, if it must not.
    pub fn no_builder(&self) -> Option<String> {
        if !self.builder_proposals {
            return Some("builder proposals are off for this key (builder_proposals / --builder-proposals)".into());
        }
        match &self.pool {
            Some(PoolRecipient::Rule { no_builder: Some(why), pool, .. }) => Some(format!("{pool}: {why}")),
            Some(PoolRecipient::Unknown { pool, reason, .. }) => {
                Some(format!("{pool}: the pool's fee recipient is not known ({reason})"))
            }
            _ => None,
        }
    }

    /// Why the key may not propose, if it may not.
    pub fn no_recipient(&self, pubkey: &PublicKeyBytes) -> Option<Refusal> {
        match &self.pool {
            Some(PoolRecipient::Unknown { pool, operator, reason }) => Some(Refusal::PoolRecipientUnknown {
                pubkey: *pubkey,
                pool: pool.clone(),
                operator: operator.clone(),
                reason: reason.clone(),
            }),
            Some(PoolRecipient::Rule { .. }) => None,
            None => self.fee_recipient.is_none().then_some(Refusal::NoFeeRecipient { pubkey: *pubkey }),
        }
    }
}

/// Client-wide defaults (command-line flags).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProposalDefaults {
    /// `--suggested-fee-recipient`.
    pub fee_recipient: Option<Address>,
    /// `--gas-limit`.
    pub gas_limit: Option<u64>,
    /// `--graffiti`.
    pub graffiti: Option<String>,
    /// `--builder-proposals`.
    pub builder_proposals: bool,
}

/// A key's settings as written in `validator_definitions.yml`.
#[derive(Debug, Clone, Default)]
pub struct KeySettings {
    /// `suggested_fee_recipient`.
    pub fee_recipient: Option<String>,
    /// `gas_limit`.
    pub gas_limit: Option<u64>,
    /// `graffiti`.
    pub graffiti: Option<String>,
    /// `builder_proposals`.
    pub builder_proposals: Option<bool>,
}

/// Parses a `0x`-prefixed 20-byte address strictly.
pub fn parse_address(s: &str) -> Option<Address> {
    let hex_part = s.strip_prefix("0x")?;
    if hex_part.len() != 40 {
        return None;
    }
    let bytes = hex::decode(hex_part).ok()?;
    Some(Address::from_slice(&bytes))
}

/// A key's proposal config: its own settings first, then the defaults.
/// A per-key fee recipient that is not an address is an error for that key
/// (never a silent fallback to the default).
pub fn resolve(pubkey: &str, own: &KeySettings, defaults: &ProposalDefaults) -> Result<ProposalConfig, PolicyError> {
    let own_fee_recipient = own.fee_recipient.is_some();
    let fee_recipient = match &own.fee_recipient {
        Some(s) => Some(
            parse_address(s.trim())
                .ok_or_else(|| PolicyError::BadFeeRecipient { pubkey: pubkey.to_string(), value: s.clone() })?,
        ),
        None => defaults.fee_recipient,
    };
    Ok(ProposalConfig {
        fee_recipient,
        own_fee_recipient,
        pool: None,
        gas_limit: own.gas_limit.or(defaults.gas_limit).unwrap_or(DEFAULT_GAS_LIMIT),
        graffiti: own.graffiti.clone().or_else(|| defaults.graffiti.clone()),
        builder_proposals: own.builder_proposals.unwrap_or(defaults.builder_proposals),
    })
}

/// The one payment check: a block's payload or a registration must pay the
/// key's configured recipient, and a key without one pays no one.
pub fn check_payment(pubkey: &PublicKeyBytes, config: &ProposalConfig, pays: Address) -> Result<(), Refusal> {
    if let Some(refusal) = config.no_recipient(pubkey) {
        return Err(refusal);
    }
    match config.recipient() {
        None => Err(Refusal::NoFeeRecipient { pubkey: *pubkey }),
        Some(expected) if expected != pays => {
            Err(Refusal::FeeRecipientMismatch { pubkey: *pubkey, expected, got: pays })
        }
        Some(_) => Ok(()),
    }
}

/// The check of a blinded block, the builder's payload. What a relay
/// guarantees is that the proposer is paid at least the bid, at the fee
/// recipient of the registration the relay holds for the key; so a blinded
/// block is signed only when
/// - poolvc asked for builder blocks for this proposal (`asked`) and the
///   key's settings and pool allow them ([`ProposalConfig::no_builder`]),
///   else a node answering a local request with a blinded block would get
///   it signed;
/// - the key's last registration signed by poolvc (`registered`) pays the
///   key's fee recipient now, so the relay pays the right address.
///
/// The payload header's own fee recipient is the builder's when the builder
/// pays by a transaction at the end of the payload (most do), so it is not
/// compared: that payment is the relay's guarantee, not checkable here.
pub fn check_builder_block(
    pubkey: &PublicKeyBytes,
    config: &ProposalConfig,
    asked: bool,
    registered: Option<Address>,
) -> Result<(), Refusal> {
    if let Some(refusal) = config.no_recipient(pubkey) {
        return Err(refusal);
    }
    if let Some(why) = config.no_builder() {
        return Err(Refusal::BlindedBlockNotAllowed { pubkey: *pubkey, why });
    }
    if !asked {
        let why = "poolvc asked the node for a local block (builder_boost_factor=0), and it answered a blinded one";
        return Err(Refusal::BlindedBlockNotAllowed { pubkey: *pubkey, why: why.into() });
    }
    let Some(expected) = config.recipient() else {
        return Err(Refusal::NoFeeRecipient { pubkey: *pubkey });
    };
    if !registration_current(config, registered) {
        return Err(Refusal::RegistrationNotCurrent { pubkey: *pubkey, expected, registered });
    }
    Ok(())
}

/// Whether the key's last builder registration signed by poolvc
/// (`registered`) pays the key's fee recipient now: the condition under
/// which a relay pays the right address, so under which a builder block
/// may be asked for and signed.
pub fn registration_current(config: &ProposalConfig, registered: Option<Address>) -> bool {
    registered.is_some() && registered == config.recipient()
}

/// The check of a Gloas block: its bid's `fee_recipient` receives the
/// builder's payment (and, self-built, the proposer's envelope must pay it
/// too), so it must be the key's recipient ([`check_payment`]); a bid of an
/// external builder is taken only when poolvc asked for builder bids for
/// this proposal and the key's settings and pool allow builders.
pub fn check_gloas_block(
    pubkey: &PublicKeyBytes,
    config: &ProposalConfig,
    pays: Address,
    builder_index: u64,
    asked: bool,
) -> Result<(), Refusal> {
    check_payment(pubkey, config, pays)?;
    if builder_index == poolvc_signer::types::BUILDER_INDEX_SELF_BUILD {
        return Ok(());
    }
    if let Some(why) = config.no_builder() {
        return Err(Refusal::BuilderBidNotAllowed { pubkey: *pubkey, builder_index, why });
    }
    if !asked {
        let why = "poolvc asked the node for a self-built block, and it answered one on a builder's bid".to_string();
        return Err(Refusal::BuilderBidNotAllowed { pubkey: *pubkey, builder_index, why });
    }
    Ok(())
}

/// The check of a Gloas envelope: only the proposer's own (self-built)
/// payload, paying the key's recipient.
pub fn check_envelope(
    pubkey: &PublicKeyBytes,
    config: &ProposalConfig,
    pays: Address,
    builder_index: u64,
) -> Result<(), Refusal> {
    if builder_index != poolvc_signer::types::BUILDER_INDEX_SELF_BUILD {
        return Err(Refusal::EnvelopeNotSelfBuilt { pubkey: *pubkey, builder_index });
    }
    check_payment(pubkey, config, pays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_key_recipient_wins_and_bad_one_is_an_error() {
        let d = ProposalDefaults { fee_recipient: Some(Address::repeat_byte(1)), ..Default::default() };
        let own = KeySettings { fee_recipient: Some(format!("0x{}", "22".repeat(20))), ..Default::default() };
        assert_eq!(resolve("k", &own, &d).unwrap().fee_recipient, Some(Address::repeat_byte(0x22)));
        let bad = KeySettings { fee_recipient: Some("0x1234".into()), ..Default::default() };
        assert!(matches!(resolve("k", &bad, &d), Err(PolicyError::BadFeeRecipient { .. })));
        let no_prefix = KeySettings { fee_recipient: Some("22".repeat(20)), ..Default::default() };
        assert!(resolve("k", &no_prefix, &d).is_err());
    }

    #[test]
    fn no_recipient_anywhere_stays_none_and_refuses_payment() {
        let c = resolve("k", &KeySettings::default(), &ProposalDefaults::default()).unwrap();
        assert_eq!(c.recipient(), None);
        let pk = PublicKeyBytes::ZERO;
        assert!(matches!(check_payment(&pk, &c, Address::ZERO), Err(Refusal::NoFeeRecipient { .. })));
        let c = ProposalConfig { fee_recipient: Some(Address::repeat_byte(3)), ..c };
        assert!(check_payment(&pk, &c, Address::repeat_byte(3)).is_ok());
        assert!(matches!(check_payment(&pk, &c, Address::repeat_byte(4)), Err(Refusal::FeeRecipientMismatch { .. })));
    }

    #[test]
    fn a_pool_rule_beats_the_configured_recipient_and_an_unknown_rule_refuses() {
        let own = KeySettings { fee_recipient: Some(format!("0x{}", "22".repeat(20))), ..Default::default() };
        let mut c = resolve("k", &own, &ProposalDefaults::default()).unwrap();
        assert!(c.own_fee_recipient);
        let vault = Address::repeat_byte(0x77);
        c.pool = Some(PoolRecipient::Rule {
            pool: "lido-csm".into(),
            operator: "7".into(),
            decision: pool_rules::Decision { recipient: vault, why: pool_rules::Why::LidoVault },
            no_builder: Some("relay r is not allowed".into()),
        });
        c.builder_proposals = true;
        assert!(!c.builder(), "a pool that forbids the relays turns builder blocks off");
        let pk = PublicKeyBytes::ZERO;
        assert_eq!(c.recipient(), Some(vault));
        assert!(check_payment(&pk, &c, vault).is_ok());
        assert!(matches!(
            check_payment(&pk, &c, Address::repeat_byte(0x22)),
            Err(Refusal::FeeRecipientMismatch { expected, .. }) if expected == vault
        ));
        c.pool =
            Some(PoolRecipient::Unknown { pool: "lido-csm".into(), operator: "7".into(), reason: "rpc down".into() });
        assert_eq!(c.recipient(), None);
        let r = check_payment(&pk, &c, Address::repeat_byte(0x22)).unwrap_err();
        assert!(r.to_string().contains("rpc down"), "{r}");
    }
}
