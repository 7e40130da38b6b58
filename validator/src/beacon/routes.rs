//! Typed Beacon API routes the duty services use, over the health-ranked
//! fallback: request bodies are typed values encoded once, answers are
//! decoded straight into their types (no `serde_json::Value` on the hot
//! path).

use super::client::BeaconClient;
use super::error::{AnswerError, BeaconError};
use super::options::Topic;
use super::types::*;
use poolvc_signer::types::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::{Serialize, Serializer};
use std::time::Duration;

/// Entries per request of the once-an-epoch bulk routes (subscriptions,
/// proposer preparation, registrations): at 100,000 keys one body would be
/// 10 to 40 MB, past the request limits beacon nodes set.
pub const BULK_CHUNK: usize = 4096;

/// The node's answers a 2/3-slot step asks for at once (aggregates per
/// committee, contributions per subcommittee): enough that 64 committees
/// take two round trips, few enough not to flood a node.
pub const FETCHES_IN_FLIGHT: usize = 32;

/// Validator indices as the Beacon API wants them in a body: a JSON array of
/// decimal strings.
#[derive(Debug, Clone, Copy)]
pub struct Indices<'a>(pub &'a [u64]);

impl Serialize for Indices<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|i| i.to_string()))
    }
}

/// `POST /eth/v1/validator/sync_committee_subscriptions` entry.
#[derive(Debug, Clone, Serialize)]
pub struct SyncCommitteeSubscription {
    /// Index.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// Positions in the sync committee.
    #[serde(with = "serde_utils::quoted_u64_vec")]
    pub sync_committee_indices: Vec<u64>,
    /// Subscription end.
    #[serde(with = "serde_utils::quoted_u64")]
    pub until_epoch: u64,
}

/// `{"ids": [...]}` body of the validators lookup.
#[derive(Serialize)]
struct Ids<'a> {
    ids: &'a [String],
}

/// `GET /eth/v1/beacon/blocks/head/root`.
#[derive(Deserialize)]
struct Root {
    root: Hash256,
}

/// A validator's selection proof for an attestation slot, as exchanged with
/// distributed-validator middleware (`beacon_committee_selections`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconCommitteeSelection {
    /// The validator.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// The slot it attests at.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
    /// Its proof (partial going out, combined coming back).
    pub selection_proof: SignatureBytes,
}

/// A sync-committee member's selection proof for a slot and subcommittee
/// (`sync_committee_selections`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCommitteeSelection {
    /// The validator.
    #[serde(with = "serde_utils::quoted_u64")]
    pub validator_index: u64,
    /// The slot of the contribution.
    #[serde(with = "serde_utils::quoted_u64")]
    pub slot: u64,
    /// The subcommittee.
    #[serde(with = "serde_utils::quoted_u64")]
    pub subcommittee_index: u64,
    /// Its proof (partial going out, combined coming back).
    pub selection_proof: SignatureBytes,
}

impl BeaconClient {
    /// `POST /eth/v1/validator/beacon_committee_selections`: the combined
    /// proofs the middleware returns.
    pub async fn beacon_committee_selections(
        &self,
        partial: &[BeaconCommitteeSelection],
        t: Duration,
    ) -> Result<Vec<BeaconCommitteeSelection>, BeaconError> {
        self.exchange_in_chunks("/eth/v1/validator/beacon_committee_selections", partial, t).await
    }

    /// `POST /eth/v1/validator/sync_committee_selections`: the combined
    /// proofs the middleware returns.
    pub async fn sync_committee_selections(
        &self,
        partial: &[SyncCommitteeSelection],
        t: Duration,
    ) -> Result<Vec<SyncCommitteeSelection>, BeaconError> {
        self.exchange_in_chunks("/eth/v1/validator/sync_committee_selections", partial, t).await
    }

    /// POSTs `items` in requests of [`BULK_CHUNK`] entries; each answer's
    /// `data` (sized by the entries asked), joined.
    async fn exchange_in_chunks<T: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        items: &[T],
        t: Duration,
    ) -> Result<Vec<T>, BeaconError> {
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(BULK_CHUNK) {
            let r: Data<Vec<T>> = self.post_for_keys(path, chunk, chunk.len(), t).await?;
            out.extend(r.data);
        }
        Ok(out)
    }

    /// Publishes `items` (subscriptions, preparations) in requests of
    /// [`BULK_CHUNK`] entries; the answers are ignored.
    async fn publish_in_chunks<T: Serialize>(&self, path: &str, items: &[T], t: Duration) -> Result<(), BeaconError> {
        for chunk in items.chunks(BULK_CHUNK) {
            self.publish(path, chunk, Some(Topic::Subscriptions), None, t).await?;
        }
        Ok(())
    }

    /// `GET /eth/v1/validator/attestation_data`.
    pub async fn attestation_data(
        &self,
        slot: u64,
        committee_index: u64,
        t: Duration,
    ) -> Result<AttestationData, BeaconError> {
        let path = format!("/eth/v1/validator/attestation_data?slot={slot}&committee_index={committee_index}");
        Ok(self.get::<Data<AttestationData>>(&path, t).await?.data)
    }

    /// `POST /eth/v1/validator/duties/attester/{epoch}`.
    pub async fn attester_duties(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError> {
        let path = format!("/eth/v1/validator/duties/attester/{epoch}");
        self.post_for_keys(&path, &Indices(indices), indices.len(), t).await
    }

    /// [`Self::attester_duties`], moving on to the next node while `check`
    /// finds fault with an answer's duties.
    pub async fn attester_duties_checked(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
        check: impl Fn(&[AttesterDuty]) -> Result<(), AnswerError>,
    ) -> Result<DutiesResponse<AttesterDuty>, BeaconError> {
        let path = format!("/eth/v1/validator/duties/attester/{epoch}");
        self.post_for_keys_checked(&path, &Indices(indices), indices.len(), t, |d: &DutiesResponse<AttesterDuty>| {
            check(&d.data)
        })
        .await
    }

    /// [`Self::proposer_duties`], checked likewise.
    pub async fn proposer_duties_checked(
        &self,
        epoch: u64,
        t: Duration,
        check: impl Fn(&[ProposerDuty]) -> Result<(), AnswerError>,
    ) -> Result<DutiesResponse<ProposerDuty>, BeaconError> {
        let path = format!("/eth/v1/validator/duties/proposer/{epoch}");
        self.get_checked(&path, t, |d: &DutiesResponse<ProposerDuty>| check(&d.data)).await
    }

    /// [`Self::sync_duties`], checked likewise.
    pub async fn sync_duties_checked(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
        check: impl Fn(&[SyncDuty]) -> Result<(), AnswerError>,
    ) -> Result<Vec<SyncDuty>, BeaconError> {
        let path = format!("/eth/v1/validator/duties/sync/{epoch}");
        let d: Data<Vec<SyncDuty>> = self
            .post_for_keys_checked(&path, &Indices(indices), indices.len(), t, |d: &Data<Vec<SyncDuty>>| check(&d.data))
            .await?;
        Ok(d.data)
    }

    /// `GET /eth/v1/validator/duties/proposer/{epoch}`.
    pub async fn proposer_duties(&self, epoch: u64, t: Duration) -> Result<DutiesResponse<ProposerDuty>, BeaconError> {
        self.get(&format!("/eth/v1/validator/duties/proposer/{epoch}"), t).await
    }

    /// `POST /eth/v1/validator/duties/sync/{epoch}`.
    pub async fn sync_duties(&self, epoch: u64, indices: &[u64], t: Duration) -> Result<Vec<SyncDuty>, BeaconError> {
        let path = format!("/eth/v1/validator/duties/sync/{epoch}");
        let d: Data<Vec<SyncDuty>> = self.post_for_keys(&path, &Indices(indices), indices.len(), t).await?;
        Ok(d.data)
    }

    /// `POST /eth/v1/beacon/states/head/validators` with `{"ids": [...]}`.
    pub async fn validators_by_post(&self, ids: &[String], t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError> {
        let path = "/eth/v1/beacon/states/head/validators";
        let d: Data<Vec<ValidatorEntry>> = self.post_for_keys(path, &Ids { ids }, ids.len(), t).await?;
        Ok(d.data)
    }

    /// `GET /eth/v1/beacon/states/head/validators?id=..&id=..` (nodes without the POST route).
    pub async fn validators_by_get(&self, ids: &[String], t: Duration) -> Result<Vec<ValidatorEntry>, BeaconError> {
        let query: Vec<String> = ids.iter().map(|id| format!("id={id}")).collect();
        let path = format!("/eth/v1/beacon/states/head/validators?{}", query.join("&"));
        Ok(self.get_for_keys::<Data<Vec<ValidatorEntry>>>(&path, ids.len(), t).await?.data)
    }

    /// The finalized epoch, from `GET /eth/v1/beacon/states/head/finality_checkpoints`.
    pub async fn finalized_epoch(&self, t: Duration) -> Result<u64, BeaconError> {
        #[derive(serde::Deserialize)]
        struct Checkpoint {
            #[serde(with = "serde_utils::quoted_u64")]
            epoch: u64,
        }
        #[derive(serde::Deserialize)]
        struct Finality {
            finalized: Checkpoint,
        }
        let path = "/eth/v1/beacon/states/head/finality_checkpoints";
        Ok(self.get::<Data<Finality>>(path, t).await?.data.finalized.epoch)
    }

    /// `GET /eth/v1/beacon/blocks/head/root`.
    pub async fn head_root(&self, t: Duration) -> Result<Hash256, BeaconError> {
        Ok(self.get::<Data<Root>>("/eth/v1/beacon/blocks/head/root", t).await?.data.root)
    }

    /// `GET /eth/v1/validator/aggregate_attestation` (before Electra): the
    /// node's aggregate of the attestations with data root `root`.
    pub async fn aggregate_attestation_v1<P: Preset>(
        &self,
        slot: u64,
        root: Hash256,
        t: Duration,
    ) -> Result<AttestationBase<P>, BeaconError> {
        let path = format!("/eth/v1/validator/aggregate_attestation?slot={slot}&attestation_data_root={root}");
        Ok(self.get::<Data<AttestationBase<P>>>(&path, t).await?.data)
    }

    /// `GET /eth/v2/validator/aggregate_attestation` (Electra on): the node's
    /// aggregate for committee `committee_index` with data root `root`.
    pub async fn aggregate_attestation_v2<P: Preset>(
        &self,
        slot: u64,
        root: Hash256,
        committee_index: u64,
        t: Duration,
    ) -> Result<AttestationElectra<P>, BeaconError> {
        let path = format!(
            "/eth/v2/validator/aggregate_attestation?slot={slot}&attestation_data_root={root}&committee_index={committee_index}"
        );
        Ok(self.get::<VersionedData<AttestationElectra<P>>>(&path, t).await?.data)
    }

    /// `GET /eth/v1/validator/sync_committee_contribution`: the node's
    /// contribution of subcommittee `subcommittee_index` for `head`.
    pub async fn sync_committee_contribution<P: Preset>(
        &self,
        slot: u64,
        subcommittee_index: u64,
        head: Hash256,
        t: Duration,
    ) -> Result<SyncCommitteeContribution<P>, BeaconError> {
        let path = format!(
            "/eth/v1/validator/sync_committee_contribution?slot={slot}&subcommittee_index={subcommittee_index}&beacon_block_root={head}"
        );
        Ok(self.get::<Data<SyncCommitteeContribution<P>>>(&path, t).await?.data)
    }

    /// `POST /eth/v1/beacon/pool/attestations` (before Electra).
    pub async fn publish_attestations_v1<P: Preset>(
        &self,
        atts: &[AttestationBase<P>],
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish("/eth/v1/beacon/pool/attestations", atts, Some(Topic::Attestations), None, t).await
    }

    /// `POST /eth/v2/beacon/pool/attestations` with `SingleAttestation`s (Electra on).
    pub async fn publish_single_attestations(
        &self,
        atts: &[SingleAttestation],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish("/eth/v2/beacon/pool/attestations", atts, Some(Topic::Attestations), Some(fork), t).await
    }

    /// `POST /eth/v1/validator/aggregate_and_proofs` (before Electra).
    pub async fn publish_aggregates_v1<P: Preset>(
        &self,
        aggs: &[SignedAggregateAndProofBase<P>],
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish("/eth/v1/validator/aggregate_and_proofs", aggs, Some(Topic::Attestations), None, t).await
    }

    /// `POST /eth/v2/validator/aggregate_and_proofs` (Electra on).
    pub async fn publish_aggregates_v2<P: Preset>(
        &self,
        aggs: &[SignedAggregateAndProofElectra<P>],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish("/eth/v2/validator/aggregate_and_proofs", aggs, Some(Topic::Attestations), Some(fork), t).await
    }

    /// `POST /eth/v1/beacon/pool/sync_committees`.
    pub async fn publish_sync_messages(&self, msgs: &[SyncCommitteeMessage], t: Duration) -> Result<(), BeaconError> {
        self.publish("/eth/v1/beacon/pool/sync_committees", msgs, Some(Topic::SyncCommittee), None, t).await
    }

    /// `POST /eth/v1/validator/duties/ptc/{epoch}` (Gloas).
    pub async fn ptc_duties(
        &self,
        epoch: u64,
        indices: &[u64],
        t: Duration,
    ) -> Result<DutiesResponse<PtcDuty>, BeaconError> {
        let path = format!("/eth/v1/validator/duties/ptc/{epoch}");
        self.post_for_keys(&path, &Indices(indices), indices.len(), t).await
    }

    /// `GET /eth/v1/validator/payload_attestation_data?slot=` (Gloas);
    /// `None` on the route's 204: the node has seen no block of the slot,
    /// and the PTC casts no vote.
    pub async fn payload_attestation_data(
        &self,
        slot: u64,
        t: Duration,
    ) -> Result<Option<PayloadAttestationData>, BeaconError> {
        let path = format!("/eth/v1/validator/payload_attestation_data?slot={slot}");
        let raw = self.request_json_raw::<()>(reqwest::Method::GET, &path, None, None, t).await?;
        if raw.body.is_empty() {
            return Ok(None);
        }
        let d: Data<PayloadAttestationData> = serde_json::from_slice(&raw.body)
            .map_err(|e| BeaconError::Invalid { url: path, reason: format!("payload attestation data: {e}") })?;
        Ok(Some(d.data))
    }

    /// `POST /eth/v1/beacon/pool/payload_attestations` (Gloas), with
    /// `Eth-Consensus-Version`.
    pub async fn publish_payload_attestations(
        &self,
        msgs: &[PayloadAttestationMessage],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish("/eth/v1/beacon/pool/payload_attestations", msgs, Some(Topic::Attestations), Some(fork), t).await
    }

    /// `POST /eth/v1/validator/proposer_preferences` (Gloas), with
    /// `Eth-Consensus-Version`.
    pub async fn publish_proposer_preferences(
        &self,
        signed: &[SignedProposerPreferences],
        fork: ForkName,
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish("/eth/v1/validator/proposer_preferences", signed, Some(Topic::Subscriptions), Some(fork), t).await
    }

    /// `POST /eth/v1/validator/contribution_and_proofs`.
    pub async fn publish_contributions<P: Preset>(
        &self,
        signed: &[SignedContributionAndProof<P>],
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish("/eth/v1/validator/contribution_and_proofs", signed, Some(Topic::SyncCommittee), None, t).await
    }

    /// `POST /eth/v1/validator/beacon_committee_subscriptions`, in requests of [`BULK_CHUNK`] entries.
    pub async fn subscribe_committees(&self, subs: &[CommitteeSubscription], t: Duration) -> Result<(), BeaconError> {
        self.publish_in_chunks("/eth/v1/validator/beacon_committee_subscriptions", subs, t).await
    }

    /// `POST /eth/v1/validator/sync_committee_subscriptions`, in requests of [`BULK_CHUNK`] entries.
    pub async fn subscribe_sync_committees(
        &self,
        subs: &[SyncCommitteeSubscription],
        t: Duration,
    ) -> Result<(), BeaconError> {
        self.publish_in_chunks("/eth/v1/validator/sync_committee_subscriptions", subs, t).await
    }

    /// `POST /eth/v1/validator/prepare_beacon_proposer`, in requests of [`BULK_CHUNK`] entries.
    pub async fn prepare_beacon_proposer(&self, preps: &[ProposerPreparation], t: Duration) -> Result<(), BeaconError> {
        self.publish_in_chunks("/eth/v1/validator/prepare_beacon_proposer", preps, t).await
    }

    /// `POST /eth/v1/validator/register_validator`, in requests of `batch`
    /// entries (`--validator-registration-batch-size`).
    pub async fn register_validators(
        &self,
        regs: &[SignedValidatorRegistrationV1],
        batch: usize,
        t: Duration,
    ) -> Result<(), BeaconError> {
        for chunk in regs.chunks(batch.max(1)) {
            self.publish("/eth/v1/validator/register_validator", chunk, Some(Topic::Subscriptions), None, t).await?;
        }
        Ok(())
    }

    /// `POST /eth/v1/beacon/pool/voluntary_exits`: one signed exit (not a
    /// `--broadcast` topic: one node at a time, as Lighthouse).
    pub async fn publish_voluntary_exit(&self, exit: &SignedVoluntaryExit, t: Duration) -> Result<(), BeaconError> {
        self.publish("/eth/v1/beacon/pool/voluntary_exits", exit, None, None, t).await
    }

    /// `POST /eth/v1/validator/liveness/{epoch}`: which of `indices` the node
    /// saw live in `epoch`.
    pub async fn liveness(&self, epoch: u64, indices: &[u64], t: Duration) -> Result<Vec<Liveness>, BeaconError> {
        let path = format!("/eth/v1/validator/liveness/{epoch}");
        Ok(self.post_for_keys::<Data<Vec<Liveness>>, _>(&path, &Indices(indices), indices.len(), t).await?.data)
    }

    /// The node's chain spec (`GET /eth/v1/config/spec`).
    pub async fn spec(&self, timeout: Duration) -> Result<ChainSpec, BeaconError> {
        let v: serde_json::Value = self.get("/eth/v1/config/spec", timeout).await?;
        ChainSpec::from_beacon_json("/eth/v1/config/spec", &v.to_string())
            .map_err(|e| BeaconError::Invalid { url: "/eth/v1/config/spec".into(), reason: e.to_string() })
    }

    /// `GET /eth/v1/beacon/genesis`.
    pub async fn genesis(&self, timeout: Duration) -> Result<Genesis, BeaconError> {
        Ok(self.get::<Data<Genesis>>("/eth/v1/beacon/genesis", timeout).await?.data)
    }
}
