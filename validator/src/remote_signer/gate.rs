//! The remote signer's gate: the only path from a request to a signature
//! in `poolvc signer`.
//!
//! ```text
//!  requests (one, or a batch in order)
//!     1. key: the identifier must be a loaded key (404 otherwise), allowed
//!        to sign the message's kind (`--allowed-kinds-file`; 403 otherwise)
//!     2. check: the signer computes the root from the message with its own
//!        config; another network, fork or signingRoot is refused (400); a
//!        message dated past the wall clock (`poolvc_signer::clock`) is
//!        refused (412), so nobody can poison a key's slashing watermarks;
//!        with `--enforce-fee-recipients`, a message that names a fee
//!        recipient other than the key's is refused (403)
//!     3. slashing: one check-and-insert for the batch's attestations and
//!        one for its blocks, durable before step 4 (412 when slashable)
//!     4. engine: one batch for everything that passed (same-message
//!        batching: a slot's attestations share one hash-to-curve)
//! ```
//!
//! Invariants kept here:
//! - nothing is signed whose root was not computed here from the message;
//! - a slashable message is signed only after its record is durable in the
//!   database (shared by every signer instance on PostgreSQL, whose row
//!   locks serialize two instances checking the same key); a database
//!   error signs nothing.

use super::exposure::KindsPolicy;
use poolvc_signer::batch::{KeyHandle, KeySet, SignRequest, SigningEngine};
use poolvc_signer::clock::WallClock;
use poolvc_signer::keys::{PublicKey, SecretKey};
use poolvc_signer::slashing::protect::{protect, Protection, ToProtect};
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::{Address, ChainSpec, Hash256, Preset, PublicKeyBytes, Slashable};
use poolvc_signer::web3signer::{self, BatchAnswer, SigningRequest};
use std::collections::HashMap;
use std::sync::Arc;

/// Keys, config, slashing database and engine of one signer.
pub struct SignerGate<P: Preset> {
    spec: ChainSpec,
    genesis_validators_root: Hash256,
    clock: WallClock,
    engine: Arc<SigningEngine>,
    keys: HashMap<PublicKeyBytes, KeyHandle>,
    slashing: Arc<dyn SlashingDatabase>,
    /// Requests refused as dated past the wall clock.
    ahead_of_clock: std::sync::atomic::AtomicU64,
    /// Which kinds each key signs.
    kinds: KindsPolicy,
    /// `--enforce-fee-recipients`: each key's recipient (`None`: unknown,
    /// nothing that pays is signed); `None` here: not enforced.
    payees: Option<HashMap<PublicKeyBytes, Option<Address>>>,
    _p: std::marker::PhantomData<P>,
}

impl<P: Preset> std::fmt::Debug for SignerGate<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerGate").field("keys", &self.keys.len()).finish()
    }
}

fn refused(status: u16, message: impl Into<String>) -> BatchAnswer {
    BatchAnswer::Refused { status, message: message.into() }
}

impl<P: Preset> SignerGate<P> {
    /// A gate over `keys` (registered with the slashing database here, so
    /// no key signs unprotected). Blocking: a database call.
    pub fn new(
        spec: ChainSpec,
        genesis_validators_root: Hash256,
        clock: WallClock,
        keys: Vec<(SecretKey, PublicKey)>,
        slashing: Arc<dyn SlashingDatabase>,
        threads: usize,
    ) -> Result<Self, poolvc_signer::slashing::SlashingError> {
        let pubkeys: Vec<PublicKeyBytes> = keys.iter().map(|(_, pk)| pk.to_bytes()).collect();
        slashing.register_validators(&pubkeys)?;
        let engine = Arc::new(SigningEngine::new(KeySet::new(), threads));
        let handles = engine.add_keys(&keys);
        let keys = pubkeys.into_iter().zip(handles).collect();
        Ok(Self {
            spec,
            genesis_validators_root,
            clock,
            engine,
            keys,
            slashing,
            ahead_of_clock: std::sync::atomic::AtomicU64::new(0),
            kinds: KindsPolicy::any(),
            payees: None,
            _p: std::marker::PhantomData,
        })
    }

    /// Limits the kinds each key signs.
    pub fn with_kinds(mut self, kinds: KindsPolicy) -> Self {
        self.kinds = kinds;
        self
    }

    /// Signs what names a fee recipient only when it pays the key's
    /// recipient in `payees` (a key absent or with `None`: none of it).
    pub fn with_payees(mut self, payees: HashMap<PublicKeyBytes, Option<Address>>) -> Self {
        self.payees = Some(payees);
        self
    }

    /// Why `pubkey` may not sign a message paying `to`, if it may not.
    fn payee_refusal(&self, pubkey: &PublicKeyBytes, kind: &str, to: Address) -> Option<String> {
        let payees = self.payees.as_ref()?;
        match payees.get(pubkey).copied().flatten() {
            Some(ours) if ours == to => None,
            Some(ours) => Some(format!("{kind} pays {to}; the fee recipient of {pubkey} is {ours}")),
            None => Some(format!(
                "{kind} pays {to}; {pubkey} has no suggested_fee_recipient, and --enforce-fee-recipients signs \
                 nothing that pays without one"
            )),
        }
    }

    /// The keys, in no particular order.
    pub fn pubkeys(&self) -> Vec<PublicKeyBytes> {
        self.keys.keys().copied().collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Requests refused so far as dated past the wall clock.
    pub fn ahead_of_clock(&self) -> u64 {
        self.ahead_of_clock.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the slashing database answers.
    pub async fn database_ok(&self) -> bool {
        let db = Arc::clone(&self.slashing);
        tokio::task::spawn_blocking(move || db.genesis_validators_root().is_ok()).await.unwrap_or(false)
    }

    /// Signs a batch of requests: one answer per request, in order.
    pub async fn sign(&self, batch: Vec<(PublicKeyBytes, SigningRequest<P>)>) -> Vec<BatchAnswer> {
        let mut out: Vec<Option<BatchAnswer>> = vec![None; batch.len()];
        // Steps 1 and 2.
        let mut passed: Vec<(usize, PublicKeyBytes, KeyHandle, web3signer::Checked)> = Vec::new();
        for (pos, (pubkey, req)) in batch.iter().enumerate() {
            let Some(handle) = self.keys.get(pubkey) else {
                out[pos] = Some(refused(404, format!("public key {pubkey} is not loaded by this signer")));
                continue;
            };
            let kind = req.message.kind();
            if !self.kinds.allows(pubkey, kind) {
                out[pos] = Some(refused(403, format!("{kind} is not allowed for {pubkey} by --allowed-kinds-file")));
                continue;
            }
            match web3signer::check(&self.spec, self.genesis_validators_root, &self.clock, req) {
                Ok(c) => match c.payee.and_then(|to| self.payee_refusal(pubkey, kind, to)) {
                    Some(why) => {
                        tracing::warn!(%pubkey, "refused: {why}");
                        out[pos] = Some(refused(403, why));
                    }
                    None => passed.push((pos, *pubkey, *handle, c)),
                },
                Err(e @ web3signer::RequestError::AheadOfClock { .. }) => {
                    self.ahead_of_clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(%pubkey, "refused: {e}");
                    out[pos] = Some(refused(412, e.to_string()))
                }
                Err(e) => out[pos] = Some(refused(400, e.to_string())),
            }
        }
        // Step 3: the one protected batch (records from the messages).
        let batch: Vec<ToProtect> = passed
            .iter()
            .map(|(_, pk, _, c)| ToProtect { pubkey: *pk, slashable: c.slashable, signing_root: c.signing_root })
            .collect();
        let db = Arc::clone(&self.slashing);
        let verdicts = match tokio::task::spawn_blocking(move || protect(db.as_ref(), &batch)).await {
            Ok(r) => r.map_err(|e| format!("slashing protection database: {e}")),
            Err(e) => Err(format!("slashing protection task: {e}")),
        };
        let mut safe = Vec::with_capacity(passed.len());
        match verdicts {
            Ok(v) => {
                for (p, protection) in passed.into_iter().zip(v) {
                    match protection {
                        Protection::NotSlashable | Protection::Safe(_) => safe.push(p),
                        Protection::Refused(why) => out[p.0] = Some(refused(412, format!("slashable: {why}"))),
                    }
                }
            }
            Err(why) => {
                // Nothing slashable is signed without its record; the rest
                // goes on.
                for p in passed {
                    if matches!(p.3.slashable, Slashable::No) {
                        safe.push(p);
                    } else {
                        out[p.0] = Some(refused(500, why.clone()));
                    }
                }
            }
        }
        // Step 4.
        if !safe.is_empty() {
            let reqs =
                safe.iter().map(|(_, _, key, c)| SignRequest { key: *key, signing_root: c.signing_root }).collect();
            match self.engine.sign_async(reqs).await {
                Ok(sigs) if sigs.len() == safe.len() => {
                    for ((pos, ..), signature) in safe.iter().zip(sigs) {
                        out[*pos] = Some(BatchAnswer::Signed { signature });
                    }
                }
                Ok(sigs) => {
                    let why = format!("engine returned {} signatures for {} requests", sigs.len(), safe.len());
                    for (pos, ..) in &safe {
                        out[*pos] = Some(refused(500, why.clone()));
                    }
                }
                Err(e) => {
                    for (pos, ..) in &safe {
                        out[*pos] = Some(refused(500, format!("signing engine: {e}")));
                    }
                }
            }
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| refused(500, "not processed"))).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::services::testing::{pk, spec_at, GVR};
    use poolvc_signer::keys::interop::interop_secret_key;
    use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
    use poolvc_signer::types::*;

    const RULE: Address = Address::repeat_byte(0x5a);

    /// A Gloas signer of keys 1 (recipient RULE) and 2 (none known), with
    /// `--enforce-fee-recipients` as `enforce` says.
    fn gate(enforce: bool) -> (SignerGate<Minimal>, ChainSpec) {
        let spec = spec_at(ForkName::Gloas);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let clock = WallClock::new(now - 3600, &spec);
        let keys = [1, 2].map(|i| (interop_secret_key(i), interop_secret_key(i).public_key())).to_vec();
        let db = Arc::new(SqliteSlashingDb::in_memory(GVR).unwrap());
        let g = SignerGate::new(spec.clone(), GVR, clock, keys, db, 1).unwrap();
        let payees = [(pk(1), Some(RULE)), (pk(2), None)].into_iter().collect();
        (if enforce { g.with_payees(payees) } else { g }, spec)
    }

    fn prefs(v: u64, to: Address) -> ProposerPreferences {
        ProposerPreferences {
            dependent_root: Hash256::repeat_byte(1),
            proposal_slot: 100,
            validator_index: v,
            fee_recipient: to,
            target_gas_limit: 60_000_000,
        }
    }

    async fn answer(
        g: &SignerGate<Minimal>,
        spec: &ChainSpec,
        key: u64,
        m: SignableMessage<'_, Minimal>,
    ) -> BatchAnswer {
        let root = SigningContext { spec, genesis_validators_root: GVR }.signing_root(&m);
        let req = web3signer::request_for(spec, GVR, &m, root).unwrap();
        g.sign(vec![(pk(key), req)]).await.remove(0)
    }

    #[tokio::test]
    async fn enforced_fee_recipients_refuse_what_pays_another_address() {
        let (g, spec) = gate(true);
        let reg = |to| ValidatorRegistrationV1 { fee_recipient: to, gas_limit: 1, timestamp: 1, pubkey: pk(1) };
        // Key 1 pays its recipient: signed.
        let p = prefs(1, RULE);
        assert!(matches!(
            answer(&g, &spec, 1, SignableMessage::ProposerPreferences(&p)).await,
            BatchAnswer::Signed { .. }
        ));
        let r = reg(RULE);
        assert!(matches!(
            answer(&g, &spec, 1, SignableMessage::ValidatorRegistration(&r)).await,
            BatchAnswer::Signed { .. }
        ));
        // Another address: 403, naming both.
        let other = Address::repeat_byte(0xee);
        for a in [
            answer(&g, &spec, 1, SignableMessage::ProposerPreferences(&prefs(1, other))).await,
            answer(&g, &spec, 1, SignableMessage::ValidatorRegistration(&reg(other))).await,
        ] {
            let BatchAnswer::Refused { status: 403, message } = a else { panic!("{a:?}") };
            assert!(message.contains(&other.to_string()) && message.contains(&RULE.to_string()), "{message}");
        }
        // A self-built envelope paying another address: refused before
        // protection looks at it.
        let mut e = <ExecutionPayloadEnvelope<Minimal> as ssz::Decode>::from_ssz_bytes(include_bytes!(
            "../../../tests/vectors/ssz_static/gloas_pyspec_1.7.0b2/tests/minimal/gloas/ssz_static/ExecutionPayloadEnvelope/ssz_random/case_0/serialized.ssz"
        ))
        .unwrap();
        e.payload.slot_number = 100;
        e.payload.fee_recipient = other;
        let a = answer(&g, &spec, 1, SignableMessage::ExecutionPayloadEnvelope(&e)).await;
        assert!(matches!(&a, BatchAnswer::Refused { status: 403, .. }), "{a:?}");
        // Key 2 has no recipient: nothing that pays is signed; what pays
        // no one still is.
        let a = answer(&g, &spec, 2, SignableMessage::ProposerPreferences(&prefs(2, RULE))).await;
        assert!(
            matches!(&a, BatchAnswer::Refused { status: 403, message } if message.contains("no suggested_fee_recipient")),
            "{a:?}"
        );
        assert!(matches!(answer(&g, &spec, 2, SignableMessage::RandaoReveal(3)).await, BatchAnswer::Signed { .. }));
    }

    #[tokio::test]
    async fn without_the_flag_the_signer_leaves_the_payee_to_the_client() {
        let (g, spec) = gate(false);
        let p = prefs(2, Address::repeat_byte(0xee));
        assert!(matches!(
            answer(&g, &spec, 2, SignableMessage::ProposerPreferences(&p)).await,
            BatchAnswer::Signed { .. }
        ));
    }
}
