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

use crate::store::outcome::Refusal;
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

/// What a key proposes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalConfig {
    /// Who the key's blocks pay; `None` means the key must not propose.
    pub fee_recipient: Option<Address>,
    /// Gas limit of its builder registrations.
    pub gas_limit: u64,
    /// Graffiti of its blocks.
    pub graffiti: Option<String>,
    /// Whether it registers with builders and asks for blinded blocks.
    pub builder_proposals: bool,
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
    let fee_recipient = match &own.fee_recipient {
        Some(s) => Some(
            parse_address(s.trim())
                .ok_or_else(|| PolicyError::BadFeeRecipient { pubkey: pubkey.to_string(), value: s.clone() })?,
        ),
        None => defaults.fee_recipient,
    };
    Ok(ProposalConfig {
        fee_recipient,
        gas_limit: own.gas_limit.or(defaults.gas_limit).unwrap_or(DEFAULT_GAS_LIMIT),
        graffiti: own.graffiti.clone().or_else(|| defaults.graffiti.clone()),
        builder_proposals: own.builder_proposals.unwrap_or(defaults.builder_proposals),
    })
}

/// The one payment check: a block's payload or a registration must pay the
/// key's configured recipient, and a key without one pays no one.
pub fn check_payment(pubkey: &PublicKeyBytes, config: &ProposalConfig, pays: Address) -> Result<(), Refusal> {
    match config.fee_recipient {
        None => Err(Refusal::NoFeeRecipient { pubkey: *pubkey }),
        Some(expected) if expected != pays => {
            Err(Refusal::FeeRecipientMismatch { pubkey: *pubkey, expected, got: pays })
        }
        Some(_) => Ok(()),
    }
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
        assert_eq!(c.fee_recipient, None);
        let pk = PublicKeyBytes::ZERO;
        assert!(matches!(check_payment(&pk, &c, Address::ZERO), Err(Refusal::NoFeeRecipient { .. })));
        let c = ProposalConfig { fee_recipient: Some(Address::repeat_byte(3)), ..c };
        assert!(check_payment(&pk, &c, Address::repeat_byte(3)).is_ok());
        assert!(matches!(check_payment(&pk, &c, Address::repeat_byte(4)), Err(Refusal::FeeRecipientMismatch { .. })));
    }
}
