//! The wall-clock bound both gates apply (the client's validator store and
//! `poolvc signer`): nothing is signed for a slot or epoch the chain has not
//! reached.
//!
//! Why it matters: slashing-protection watermarks never go down. One
//! attestation with target epoch 10^12, or one block at slot 10^15, signed
//! for whoever asked, would make every real vote and block of that key
//! "slashable" from then on. The bound makes that impossible.
//!
//! The rule, one place for both gates ([`WallClock::check`]):
//! - blocks (full, blinded, by header), attestations (their slot and target
//!   epoch) and voluntary exits: at most the slot the wall clock is in
//!   [`FUTURE_TOLERANCE_MS`] from now (the gossip clock disparity: a node
//!   whose clock runs half a second ahead still gets its block signed);
//! - messages that cannot be slashed and that a client signs ahead of their
//!   duty (selection proofs, RANDAO reveals, sync messages, aggregates,
//!   contributions): at most [`LOOKAHEAD_EPOCHS`] epochs past that;
//! - Gloas: payload attestations, envelopes and bids as blocks (the slot
//!   now); proposer preferences, builder request authentications and
//!   aggregates within the lookahead;
//! - builder registrations: a timestamp at most
//!   [`REGISTRATION_TOLERANCE_S`] seconds ahead (relays drop a registration
//!   older than the newest they hold, so a far-future one would freeze the
//!   key's registration);
//! - deposits and BLS-to-execution changes carry no time.

use crate::types::{ChainSpec, Epoch, Preset, SignableMessage, Slot};
use std::time::{SystemTime, UNIX_EPOCH};

/// How far ahead of the wall clock a block, attestation or exit may be
/// (milliseconds): the gossip clock disparity of the p2p spec.
pub const FUTURE_TOLERANCE_MS: u64 = 500;
/// How many epochs ahead of the current one a message that cannot be
/// slashed may be (selection proofs are signed with the duties, an epoch
/// ahead; sync selection proofs for the whole of that epoch).
pub const LOOKAHEAD_EPOCHS: u64 = 2;
/// How far ahead of the wall clock a builder registration's timestamp may
/// be (seconds; relays refuse more than 10).
pub const REGISTRATION_TOLERANCE_S: u64 = 10;

/// A message dated further ahead than the wall clock allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value} is ahead of the wall clock (at most {latest} now); a far-future message is never signed")]
pub struct AheadOfClock {
    /// What is dated ("block slot", "attestation target epoch", ...).
    pub what: &'static str,
    /// Its slot, epoch or timestamp.
    pub value: u64,
    /// The latest the clock allows now.
    pub latest: u64,
}

/// The chain's clock: genesis time and slot length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    genesis_time: u64,
    slot_ms: u64,
    slots_per_epoch: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl WallClock {
    /// The clock of a chain that started at `genesis_time` (Unix seconds).
    pub fn new(genesis_time: u64, spec: &ChainSpec) -> Self {
        Self { genesis_time, slot_ms: spec.slot_duration_ms.max(1), slots_per_epoch: spec.slots_per_epoch.max(1) }
    }

    /// The genesis time it was made with.
    pub fn genesis_time(&self) -> u64 {
        self.genesis_time
    }

    /// The latest slot a block or attestation may have at `now_ms` (Unix
    /// milliseconds): the slot of `now_ms + FUTURE_TOLERANCE_MS`; 0 before
    /// genesis.
    pub fn latest_slot_at(&self, now_ms: u64) -> Slot {
        let since = (now_ms + FUTURE_TOLERANCE_MS).saturating_sub(self.genesis_time.saturating_mul(1000));
        since / self.slot_ms
    }

    /// Checks `m` against the clock now.
    pub fn check<P: Preset>(&self, m: &SignableMessage<'_, P>) -> Result<(), AheadOfClock> {
        self.check_at(m, now_ms())
    }

    /// Checks `m` against the clock at `now_ms` (Unix milliseconds).
    pub fn check_at<P: Preset>(&self, m: &SignableMessage<'_, P>, now_ms: u64) -> Result<(), AheadOfClock> {
        let slot = self.latest_slot_at(now_ms);
        let epoch: Epoch = slot / self.slots_per_epoch;
        let ahead_epoch = epoch + LOOKAHEAD_EPOCHS;
        let ahead_slot = (ahead_epoch + 1) * self.slots_per_epoch - 1;
        let at_most = |what: &'static str, value: u64, latest: u64| {
            if value > latest {
                Err(AheadOfClock { what, value, latest })
            } else {
                Ok(())
            }
        };
        match m {
            SignableMessage::Block(b) => at_most("block slot", b.header().slot, slot),
            SignableMessage::BlindedBlock(b) => at_most("block slot", b.header().slot, slot),
            SignableMessage::BlockHeader(h) => at_most("block slot", h.slot, slot),
            SignableMessage::Attestation(d) => {
                at_most("attestation slot", d.slot, slot)?;
                at_most("attestation target epoch", d.target.epoch, epoch)
            }
            SignableMessage::VoluntaryExit(e) => at_most("voluntary exit epoch", e.epoch, epoch),
            SignableMessage::RandaoReveal(e) => at_most("RANDAO reveal epoch", *e, ahead_epoch),
            SignableMessage::SelectionProof(s) => at_most("selection proof slot", *s, ahead_slot),
            SignableMessage::AggregateAndProofBase(a) => at_most("aggregate slot", a.aggregate.data.slot, ahead_slot),
            SignableMessage::AggregateAndProofElectra(a) => {
                at_most("aggregate slot", a.aggregate.data.slot, ahead_slot)
            }
            SignableMessage::SyncCommitteeMessage { slot: s, .. } => at_most("sync message slot", *s, ahead_slot),
            SignableMessage::SyncSelectionProof(d) => at_most("sync selection proof slot", d.slot, ahead_slot),
            SignableMessage::ContributionAndProof(c) => {
                at_most("sync contribution slot", c.contribution.slot, ahead_slot)
            }
            SignableMessage::ValidatorRegistration(r) => {
                at_most("registration timestamp", r.timestamp, now_ms / 1000 + REGISTRATION_TOLERANCE_S)
            }
            SignableMessage::AggregateAndProofGloas(a) => at_most("aggregate slot", a.aggregate.data.slot, ahead_slot),
            // A PTC vote is for the slot now, as a block is.
            SignableMessage::PayloadAttestation(d) => at_most("payload attestation slot", d.slot, slot),
            // Preferences are signed for the proposals of the lookahead.
            SignableMessage::ProposerPreferences(p) => {
                at_most("proposer preferences slot", p.proposal_slot, ahead_slot)
            }
            SignableMessage::ExecutionPayloadEnvelope(e) => at_most("envelope slot", e.payload.slot_number, slot),
            SignableMessage::ExecutionPayloadBid(b) => at_most("bid slot", b.slot, slot),
            SignableMessage::BuilderRequestAuth(r) => at_most("builder request slot", r.slot, ahead_slot),
            SignableMessage::Deposit(_) | SignableMessage::BlsToExecutionChange(_) => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::types::{AttestationData, Checkpoint, Hash256, Minimal, VoluntaryExit};

    fn clock() -> (WallClock, ChainSpec) {
        let text = include_str!("../../testnets/configs/minimal.yaml");
        let spec = ChainSpec::from_config_yaml("minimal.yaml", text).expect("the minimal config");
        (WallClock::new(1_000, &spec), spec)
    }

    fn data(slot: u64, target: u64) -> AttestationData {
        AttestationData {
            slot,
            index: 0,
            beacon_block_root: Hash256::ZERO,
            source: Checkpoint { epoch: 0, root: Hash256::ZERO },
            target: Checkpoint { epoch: target, root: Hash256::ZERO },
        }
    }

    #[test]
    fn slots_and_epochs_past_the_clock_are_refused() {
        let (c, spec) = clock();
        // 100 slots after genesis, 1 ms before the next slot's tolerance.
        let now = 1_000_000 + 100 * spec.slot_duration_ms;
        assert_eq!(c.latest_slot_at(now), 100);
        let epoch = 100 / spec.slots_per_epoch;
        assert!(c.check_at(&SignableMessage::<Minimal>::Attestation(&data(100, epoch)), now).is_ok());
        let far = data(100, 1_000_000_000_000);
        let err = c.check_at(&SignableMessage::<Minimal>::Attestation(&far), now).unwrap_err();
        assert_eq!(err.what, "attestation target epoch");
        assert!(c.check_at(&SignableMessage::<Minimal>::Attestation(&data(101, epoch)), now).is_err());
        let exit = VoluntaryExit { epoch: epoch + 1, validator_index: 0 };
        assert!(c.check_at(&SignableMessage::<Minimal>::VoluntaryExit(&exit), now).is_err());
        // Proofs signed ahead of their duty pass up to the lookahead.
        let last = (epoch + LOOKAHEAD_EPOCHS + 1) * spec.slots_per_epoch - 1;
        assert!(c.check_at(&SignableMessage::<Minimal>::SelectionProof(last), now).is_ok());
        assert!(c.check_at(&SignableMessage::<Minimal>::SelectionProof(last + 1), now).is_err());
    }

    #[test]
    fn the_tolerance_is_half_a_second() {
        let (c, spec) = clock();
        let slot_start = 1_000_000 + 7 * spec.slot_duration_ms;
        assert_eq!(c.latest_slot_at(slot_start - FUTURE_TOLERANCE_MS - 1), 6);
        assert_eq!(c.latest_slot_at(slot_start - FUTURE_TOLERANCE_MS), 7);
        // Before genesis: only slot 0.
        assert_eq!(c.latest_slot_at(0), 0);
    }
}
