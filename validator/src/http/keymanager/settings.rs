//! Per-key fee recipient, gas limit and graffiti through the API: written to
//! the key's entry in `validator_definitions.yml` (replaced whole), then
//! resolved with the flags' defaults by the one rule in
//! [`crate::policy::resolve`] and applied to the running store. A pool
//! key's rule still beats its fee recipient (the store keeps the rule).

use super::keystores::blocking;
use super::manager::{Keymanager, KeymanagerError};
use crate::datadir::definitions::{ValidatorDefinitions, DEFINITIONS_FILE};
use crate::policy::{self, KeySettings, ProposalConfig};
use poolvc_signer::types::{Address, Preset, PublicKeyBytes};
use std::sync::Arc;

/// Graffiti longer than this (in bytes) does not fit a block.
pub const GRAFFITI_BYTES: usize = 32;

/// A change to one key's settings (`None` in a field: back to the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `suggested_fee_recipient`.
    FeeRecipient(Option<Address>),
    /// `gas_limit`.
    GasLimit(Option<u64>),
    /// `graffiti`.
    Graffiti(Option<String>),
}

impl<P: Preset> Keymanager<P> {
    /// Our key `pubkey`'s proposal config as it is now.
    pub fn config_of(&self, pubkey: &PublicKeyBytes) -> Result<ProposalConfig, KeymanagerError> {
        self.store
            .configs()
            .into_iter()
            .find(|(pk, _)| pk == pubkey)
            .map(|(_, c)| c)
            .ok_or(KeymanagerError::UnknownKey { pubkey: *pubkey })
    }

    /// Applies `change` to our key `pubkey`: in the file first, then in the
    /// store.
    pub async fn change(self: &Arc<Self>, pubkey: PublicKeyBytes, change: Change) -> Result<(), KeymanagerError> {
        match &change {
            Change::FeeRecipient(Some(a)) if *a == Address::ZERO => {
                return Err(KeymanagerError::BadRequest {
                    reason: "ethaddress: the zero address cannot be set as a fee recipient".into(),
                })
            }
            Change::GasLimit(Some(0)) => {
                return Err(KeymanagerError::BadRequest { reason: "gas_limit: must be above 0".into() })
            }
            Change::Graffiti(Some(g)) if g.len() > GRAFFITI_BYTES => {
                return Err(KeymanagerError::BadRequest {
                    reason: format!("graffiti: {} bytes, at most {GRAFFITI_BYTES} fit a block", g.len()),
                })
            }
            _ => {}
        }
        if !self.store.holds(&pubkey) {
            return Err(KeymanagerError::UnknownKey { pubkey });
        }
        let _edit = self.edit.lock().await;
        let this = Arc::clone(self);
        let config = blocking(move || this.write_change(&pubkey, &change)).await?;
        if !self.store.update_config(&pubkey, |_| config) {
            return Err(KeymanagerError::UnknownKey { pubkey });
        }
        Ok(())
    }

    /// Writes the change into the key's entry; returns its new config.
    fn write_change(&self, pubkey: &PublicKeyBytes, change: &Change) -> Result<ProposalConfig, KeymanagerError> {
        let mut defs = ValidatorDefinitions::open_or_empty(&self.validators_dir)
            .map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
        let name = pubkey.to_string();
        let Some(d) = defs.0.iter_mut().find(|d| d.voting_public_key.eq_ignore_ascii_case(&name)) else {
            return Err(KeymanagerError::Forbidden {
                reason: format!("{name} is not in {DEFINITIONS_FILE} (an interop key): its settings cannot be changed"),
            });
        };
        match change {
            Change::FeeRecipient(a) => d.suggested_fee_recipient = a.map(|a| format!("{a:#x}")),
            Change::GasLimit(g) => d.gas_limit = *g,
            Change::Graffiti(g) => d.graffiti = g.clone(),
        }
        let settings = KeySettings {
            fee_recipient: d.suggested_fee_recipient.clone(),
            gas_limit: d.gas_limit,
            graffiti: d.graffiti.clone(),
            builder_proposals: d.builder_proposals,
        };
        let config = policy::resolve(&name, &settings, &self.defaults)
            .map_err(|e| KeymanagerError::BadRequest { reason: e.to_string() })?;
        defs.save(&self.validators_dir).map_err(|e| KeymanagerError::internal(DEFINITIONS_FILE, e))?;
        Ok(config)
    }
}
