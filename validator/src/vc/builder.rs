//! Proposer preparation (fee recipients, every epoch) and builder
//! registrations: signed once per (fee recipient, gas limit) in one batch,
//! cached, and sent to the node every epoch.

use super::runtime::{Stats, Vc};
use poolvc_signer::batch::SignRequest;
use poolvc_signer::types::*;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::warn;

impl<P: Preset> Vc<P> {
    fn fee_recipient_of(&self, i: usize) -> Address {
        self.validators[i]
            .fee_recipient
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| self.cfg.fee_recipient.unwrap_or_default())
    }

    /// `POST /eth/v1/validator/prepare_beacon_proposer` for every known index.
    pub(super) async fn prepare_proposers(&self) {
        let preps: Vec<crate::beacon::ProposerPreparation> = self
            .by_index
            .iter()
            .map(|(idx, i)| crate::beacon::ProposerPreparation {
                validator_index: *idx,
                fee_recipient: self.fee_recipient_of(*i),
            })
            .collect();
        let body = serde_json::to_value(&preps).unwrap_or_default();
        if let Err(e) =
            self.beacon.post_ignore("/eth/v1/validator/prepare_beacon_proposer", &body, self.slot_timeout()).await
        {
            warn!("prepare_beacon_proposer: {e}");
        }
    }

    /// Signs the registrations not yet cached (or whose fee recipient or gas
    /// limit changed) in one batch, then sends all of them.
    pub(super) async fn register_validators(&self) {
        if !self.cfg.builder_proposals {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let wanted: Vec<(usize, ValidatorRegistrationV1)> = self
            .by_index
            .values()
            .filter(|i| self.validators[**i].builder_proposals != Some(false))
            .map(|i| {
                let v = &self.validators[*i];
                (
                    *i,
                    ValidatorRegistrationV1 {
                        fee_recipient: self.fee_recipient_of(*i),
                        gas_limit: v.gas_limit.unwrap_or(self.cfg.gas_limit),
                        timestamp: now,
                        pubkey: v.pubkey,
                    },
                )
            })
            .collect();
        let to_sign: Vec<(usize, ValidatorRegistrationV1)> = {
            let cache = self.registrations.lock().unwrap_or_else(|p| p.into_inner());
            wanted
                .iter()
                .filter(|(_, r)| {
                    cache.get(&r.pubkey).is_none_or(|c| {
                        c.message.fee_recipient != r.fee_recipient || c.message.gas_limit != r.gas_limit
                    })
                })
                .copied()
                .collect()
        };
        if !to_sign.is_empty() {
            let ctx = self.ctx();
            let reqs = to_sign
                .iter()
                .map(|(i, r)| SignRequest {
                    key: self.validators[*i].handle,
                    signing_root: ctx.signing_root::<P>(&SignableMessage::ValidatorRegistration(r)),
                })
                .collect();
            match self.sign(reqs).await {
                Ok(sigs) => {
                    let mut cache = self.registrations.lock().unwrap_or_else(|p| p.into_inner());
                    for ((_, message), signature) in to_sign.into_iter().zip(sigs) {
                        cache.insert(message.pubkey, SignedValidatorRegistrationV1 { message, signature });
                    }
                }
                Err(e) => {
                    Stats::add(&self.stats.errors, 1);
                    warn!("builder registrations: {e}");
                    return;
                }
            }
        }
        let all: Vec<SignedValidatorRegistrationV1> = {
            let cache = self.registrations.lock().unwrap_or_else(|p| p.into_inner());
            wanted.iter().filter_map(|(_, r)| cache.get(&r.pubkey).copied()).collect()
        };
        let n = all.len() as u64;
        let body = serde_json::to_value(&all).unwrap_or_default();
        match self.beacon.post_ignore("/eth/v1/validator/register_validator", &body, self.slot_timeout()).await {
            Ok(()) => Stats::add(&self.stats.registrations, n),
            Err(e) => warn!("register_validator: {e}"),
        }
    }
}
