//! One entry per message kind: each builds the messages' items (the key,
//! the root computed here from the message, what it must pay) and passes
//! them through the gate as one batch.

use super::*;

/// An attestation data already seen in a batch: its root, clock verdict and
/// remote request.
type SeenData<P> = (AttestationData, Hash256, Result<(), AheadOfClock>, RemoteRequest<P>);

impl<P: Preset> ValidatorStore<P> {
    /// The Web3Signer request of `m`, while any key signs remotely.
    pub(super) fn remote_request(&self, m: &SignableMessage<'_, P>, root: Hash256) -> RemoteRequest<P> {
        if self.remote_keys.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            return None;
        }
        Some(poolvc_signer::web3signer::request_for(&self.spec, self.genesis_validators_root, m, root).map(Arc::new))
    }

    /// One message signed by many keys `(validator, claimed key)` that pays
    /// no one (sync messages, payload attestations): its root, clock
    /// verdict and remote request computed once.
    fn same_message(&self, m: SignableMessage<'_, P>, batch: &[(u64, PublicKeyBytes)]) -> Vec<Item<P>> {
        let root = self.root(&m);
        let dated = self.clock.check(&m);
        let remote = self.remote_request(&m, root);
        let slashable = self.ctx().protection(&m);
        batch
            .iter()
            .map(|(index, pk)| Item {
                key: KeyRef::Index { index: *index, claimed: Some(*pk) },
                root,
                slashable,
                pays: Pays::Nothing,
                dated: dated.clone(),
                remote: remote.clone(),
            })
            .collect()
    }

    /// One message for `key`: its root, and its remote request if needed.
    pub(super) fn item(&self, key: KeyRef, m: SignableMessage<'_, P>, pays: Pays) -> Item<P> {
        let root = self.root(&m);
        Item {
            key,
            root,
            slashable: self.ctx().protection(&m),
            pays,
            dated: self.clock.check(&m),
            remote: self.remote_request(&m, root),
        }
    }

    /// Attestations: one slashing batch, one signing batch.
    pub async fn sign_attestations(&self, slot: Slot, batch: &[AttestationToSign]) -> Vec<Outcome> {
        let mut roots: Vec<SeenData<P>> = Vec::new();
        let items = batch
            .iter()
            .map(|a| {
                // One root, clock verdict and remote request per distinct
                // data (since Electra: one per slot).
                let (root, dated, remote) = match roots.iter().find(|(d, ..)| *d == a.data) {
                    Some((_, r, t, q)) => (*r, t.clone(), q.clone()),
                    None => {
                        let m = SignableMessage::Attestation(&a.data);
                        let r = self.root(&m);
                        let t = self.clock.check(&m);
                        let q = self.remote_request(&m, r);
                        roots.push((a.data, r, t.clone(), q.clone()));
                        (r, t, q)
                    }
                };
                Item {
                    key: KeyRef::Index { index: a.validator_index, claimed: Some(a.pubkey) },
                    root,
                    slashable: SignableMessage::<P>::Attestation(&a.data).slashable(),
                    pays: Pays::Nothing,
                    dated,
                    remote,
                }
            })
            .collect();
        self.gate(MessageKind::Attestation, slot, items).await
    }

    /// Attestation-aggregator selection proofs `(validator, claimed key, slot)`.
    pub async fn sign_selection_proofs(&self, batch: &[(u64, PublicKeyBytes, Slot)]) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |b| b.2);
        let items = batch
            .iter()
            .map(|(index, pk, s)| {
                let key = KeyRef::Index { index: *index, claimed: Some(*pk) };
                self.item(key, SignableMessage::SelectionProof(*s), Pays::Nothing)
            })
            .collect();
        self.gate(MessageKind::SelectionProof, slot, items).await
    }

    /// Pre-Electra aggregate-and-proofs.
    pub async fn sign_aggregates_base(&self, slot: Slot, batch: &[AggregateAndProofBase<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| {
                self.item(
                    KeyRef::Index { index: m.aggregator_index, claimed: None },
                    SignableMessage::AggregateAndProofBase(m),
                    Pays::Nothing,
                )
            })
            .collect();
        self.gate(MessageKind::Aggregate, slot, items).await
    }

    /// Electra aggregate-and-proofs (the wire shape from Electra on). From
    /// Gloas on the same message is signed under its progressive root.
    pub async fn sign_aggregates_electra(&self, slot: Slot, batch: &[AggregateAndProofElectra<P>]) -> Vec<Outcome> {
        let gloas = self.spec.fork_name_at_slot(slot).gloas_enabled();
        let items = batch
            .iter()
            .map(|m| {
                let key = KeyRef::Index { index: m.aggregator_index, claimed: None };
                if gloas {
                    let g = AggregateAndProofGloas::from(m.clone());
                    self.item(key, SignableMessage::AggregateAndProofGloas(&g), Pays::Nothing)
                } else {
                    self.item(key, SignableMessage::AggregateAndProofElectra(m), Pays::Nothing)
                }
            })
            .collect();
        self.gate(MessageKind::Aggregate, slot, items).await
    }

    /// Gloas payload attestations: every PTC member `(validator, claimed
    /// key)` of `data.slot` signs the same data (one root, one engine
    /// batch); each key votes at most once per slot (the protection
    /// database records it).
    pub async fn sign_payload_attestations(
        &self,
        data: &PayloadAttestationData,
        batch: &[(u64, PublicKeyBytes)],
    ) -> Vec<Outcome> {
        let items = self.same_message(SignableMessage::PayloadAttestation(data), batch);
        self.gate(MessageKind::PayloadAttestation, data.slot, items).await
    }

    /// Gloas proposer preferences, each with the key its duty names: signed
    /// by the key of its own `validator_index`, and only when its
    /// `fee_recipient` is the key's recipient now (a pool rule first; no
    /// known recipient: refused).
    pub async fn sign_proposer_preferences(&self, batch: &[(ProposerPreferences, PublicKeyBytes)]) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |(p, _)| p.proposal_slot);
        let items = batch
            .iter()
            .map(|(p, pk)| {
                let key = KeyRef::Index { index: p.validator_index, claimed: Some(*pk) };
                self.item(key, SignableMessage::ProposerPreferences(p), Pays::To(p.fee_recipient))
            })
            .collect();
        self.gate(MessageKind::ProposerPreferences, slot, items).await
    }

    /// A Gloas envelope of the proposer's own payload: signed only when it
    /// is self-built, pays the key's recipient, and names the block the same
    /// key signed at its slot.
    pub async fn sign_envelope(
        &self,
        index: u64,
        claimed: PublicKeyBytes,
        envelope: &ExecutionPayloadEnvelope<P>,
    ) -> Outcome {
        let pays = Pays::Envelope { to: envelope.payload.fee_recipient, builder_index: envelope.builder_index };
        let item = self.item(
            KeyRef::Index { index, claimed: Some(claimed) },
            SignableMessage::ExecutionPayloadEnvelope(envelope),
            pays,
        );
        self.one(MessageKind::Envelope, envelope.payload.slot_number, item).await
    }

    /// A RANDAO reveal.
    pub async fn sign_randao(&self, slot: Slot, index: u64, claimed: PublicKeyBytes) -> Outcome {
        let epoch = self.spec.epoch_of(slot);
        let item = self.item(
            KeyRef::Index { index, claimed: Some(claimed) },
            SignableMessage::RandaoReveal(epoch),
            Pays::Nothing,
        );
        self.one(MessageKind::Randao, slot, item).await
    }

    /// A full block: its payload must pay the proposer's fee recipient
    /// (Bellatrix on), and its slot must be new for the key. A Gloas block
    /// is checked as [`ValidatorStore::sign_gloas_block`] with no builder
    /// bid asked for.
    pub async fn sign_block(&self, index: u64, claimed: PublicKeyBytes, block: &BeaconBlock<P>) -> Outcome {
        self.sign_gloas_block(index, claimed, block, false).await
    }

    /// A block of any fork; from Gloas on its bid must pay the proposer's
    /// fee recipient, and a builder's bid is signed only when `asked`
    /// (poolvc asked for builder bids) and the key may take builders
    /// ([`policy::check_gloas_block`]).
    pub async fn sign_gloas_block(
        &self,
        index: u64,
        claimed: PublicKeyBytes,
        block: &BeaconBlock<P>,
        asked: bool,
    ) -> Outcome {
        let h = block.header();
        if let BeaconBlock::Gloas(b) = block {
            let bid = &b.body.signed_execution_payload_bid.message;
            let pays = Pays::Bid { to: bid.fee_recipient, builder_index: bid.builder_index, asked };
            let item = self.item(KeyRef::Index { index, claimed: Some(claimed) }, SignableMessage::Block(block), pays);
            return self.one(MessageKind::Block, h.slot, item).await;
        }
        let pays = match block.execution_fee_recipient() {
            Some(a) => a,
            // Before Bellatrix a block pays no one; a key still needs a
            // fee recipient to propose, so the rule does not depend on the fork.
            None => self.proposal_config(index).and_then(|(_, c)| c.recipient()).unwrap_or(Address::ZERO),
        };
        let item =
            self.item(KeyRef::Index { index, claimed: Some(claimed) }, SignableMessage::Block(block), Pays::To(pays));
        self.one(MessageKind::Block, h.slot, item).await
    }

    /// A blinded block (a builder's payload). Signed only when `asked`
    /// (poolvc asked the node for builder blocks for this proposal), the
    /// key's settings and pool allow builder blocks, and the last
    /// registration signed for the key pays its fee recipient now (what
    /// the relay pays is the registration's recipient):
    /// [`policy::check_builder_block`].
    pub async fn sign_blinded_block(
        &self,
        index: u64,
        claimed: PublicKeyBytes,
        block: &BlindedBeaconBlock<P>,
        asked: bool,
    ) -> Outcome {
        let h = block.header();
        let item = self.item(
            KeyRef::Index { index, claimed: Some(claimed) },
            SignableMessage::BlindedBlock(block),
            Pays::Builder { asked },
        );
        self.one(MessageKind::Block, h.slot, item).await
    }

    /// Sync-committee messages over `beacon_block_root` at `slot`.
    pub async fn sign_sync_messages(
        &self,
        slot: Slot,
        beacon_block_root: Hash256,
        batch: &[(u64, PublicKeyBytes)],
    ) -> Vec<Outcome> {
        let items = self.same_message(SignableMessage::SyncCommitteeMessage { slot, beacon_block_root }, batch);
        self.gate(MessageKind::SyncMessage, slot, items).await
    }

    /// Sync-aggregator selection proofs `(validator, claimed key, data)`.
    pub async fn sign_sync_selection_proofs(
        &self,
        batch: &[(u64, PublicKeyBytes, SyncAggregatorSelectionData)],
    ) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |b| b.2.slot);
        let items = batch
            .iter()
            .map(|(index, pk, d)| {
                let key = KeyRef::Index { index: *index, claimed: Some(*pk) };
                self.item(key, SignableMessage::SyncSelectionProof(d), Pays::Nothing)
            })
            .collect();
        self.gate(MessageKind::SyncSelectionProof, slot, items).await
    }

    /// Sync contribution-and-proofs.
    pub async fn sign_contributions(&self, slot: Slot, batch: &[ContributionAndProof<P>]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|m| {
                self.item(
                    KeyRef::Index { index: m.aggregator_index, claimed: None },
                    SignableMessage::ContributionAndProof(m),
                    Pays::Nothing,
                )
            })
            .collect();
        self.gate(MessageKind::Contribution, slot, items).await
    }

    /// Voluntary exits.
    pub async fn sign_voluntary_exits(&self, batch: &[VoluntaryExit]) -> Vec<Outcome> {
        let slot = batch.first().map_or(0, |e| self.spec.start_slot(e.epoch));
        let items = batch
            .iter()
            .map(|e| {
                self.item(
                    KeyRef::Index { index: e.validator_index, claimed: None },
                    SignableMessage::VoluntaryExit(e),
                    Pays::Nothing,
                )
            })
            .collect();
        self.gate(MessageKind::VoluntaryExit, slot, items).await
    }

    /// Builder registrations: each must name one of our keys and pay its
    /// fee recipient. Each one signed becomes the key's registration of
    /// record (what its blinded blocks are checked against).
    pub async fn sign_registrations(&self, slot: Slot, batch: &[ValidatorRegistrationV1]) -> Vec<Outcome> {
        let items = batch
            .iter()
            .map(|r| {
                let m = SignableMessage::ValidatorRegistration(r);
                self.item(KeyRef::Pubkey(r.pubkey), m, Pays::To(r.fee_recipient))
            })
            .collect();
        let outcomes = self.gate(MessageKind::Registration, slot, items).await;
        let mut reg = self.write();
        for (r, o) in batch.iter().zip(&outcomes) {
            if let (Outcome::Signed(_), Some(e)) = (o, reg.get_mut(&r.pubkey)) {
                e.registered = Some(r.fee_recipient);
            }
        }
        outcomes
    }

    pub(super) async fn one(&self, kind: MessageKind, slot: Slot, item: Item<P>) -> Outcome {
        self.gate(kind, slot, vec![item]).await.pop().unwrap_or(Outcome::Failed(Failure::Signer {
            fault: SignerFault::Engine,
            reason: "the gate returned no outcome".into(),
        }))
    }
}
