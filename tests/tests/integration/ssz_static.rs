//! consensus-spec-tests `ssz_static` (mainnet preset): for every case of every
//! container poolvc defines that the phase0 and fulu sets contain, decode ->
//! re-encode gives the same bytes and `hash_tree_root` equals `roots.yaml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::types::*;
use poolvc_tests::{unhex, vectors};
use ssz::{Decode, Encode};
use std::path::{Path, PathBuf};
use tree_hash::TreeHash;

type M = Mainnet;

fn cases(type_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(type_dir.join("ssz_random")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn serialized(case: &Path) -> Vec<u8> {
    let raw = case.join("serialized.ssz");
    if raw.exists() {
        return std::fs::read(raw).unwrap();
    }
    let compressed = std::fs::read(case.join("serialized.ssz_snappy")).unwrap();
    snap::raw::Decoder::new().decompress_vec(&compressed).unwrap()
}

fn expected_root(case: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(case.join("roots.yaml")).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    unhex(v["root"].as_str().unwrap())
}

fn check<T: Encode + Decode + TreeHash>(type_dir: &Path) -> usize {
    let cs = cases(type_dir);
    assert!(!cs.is_empty(), "{}: no cases", type_dir.display());
    for case in &cs {
        let bytes = serialized(case);
        let value = T::from_ssz_bytes(&bytes).unwrap_or_else(|e| panic!("{}: decode: {e:?}", case.display()));
        assert_eq!(value.as_ssz_bytes(), bytes, "{}: re-encode", case.display());
        assert_eq!(value.tree_hash_root().as_slice(), expected_root(case).as_slice(), "{}: root", case.display());
    }
    cs.len()
}

fn type_dirs(set: &str, fork: &str) -> Vec<(String, PathBuf)> {
    let dir = vectors().join("ssz_static").join(set).join("tests/mainnet").join(fork).join("ssz_static");
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), p)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn phase0_mainnet() {
    let _machine = poolvc_tests::turns::shared();
    let mut total = 0;
    let dirs = type_dirs("phase0_v1.0.x_grandinetech", "phase0");
    assert_eq!(dirs.len(), 10);
    for (name, dir) in dirs {
        total += match name.as_str() {
            "AttestationData" => check::<AttestationData>(&dir),
            "Checkpoint" => check::<Checkpoint>(&dir),
            "BeaconBlockHeader" => check::<BeaconBlockHeader>(&dir),
            "ForkData" => check::<ForkData>(&dir),
            "Fork" => check::<Fork>(&dir),
            "SigningData" => check::<SigningData>(&dir),
            "AggregateAndProof" => check::<AggregateAndProofBase<M>>(&dir),
            "VoluntaryExit" => check::<VoluntaryExit>(&dir),
            "SignedVoluntaryExit" => check::<SignedVoluntaryExit>(&dir),
            "BeaconBlock" => check::<BeaconBlockPhase0<M>>(&dir),
            other => panic!("phase0 type {other} has vectors but no mapping here"),
        };
    }
    assert_eq!(total, 30);
}

#[test]
fn fulu_mainnet() {
    let _machine = poolvc_tests::turns::shared();
    let mut total = 0;
    let dirs = type_dirs("fulu_mainnet_consensus-spec-tests_v1.5.0", "fulu");
    assert_eq!(dirs.len(), 20);
    for (name, dir) in dirs {
        total += match name.as_str() {
            "AttestationData" => check::<AttestationData>(&dir),
            "Checkpoint" => check::<Checkpoint>(&dir),
            "BeaconBlockHeader" => check::<BeaconBlockHeader>(&dir),
            "ForkData" => check::<ForkData>(&dir),
            "Fork" => check::<Fork>(&dir),
            "SigningData" => check::<SigningData>(&dir),
            "SyncAggregatorSelectionData" => check::<SyncAggregatorSelectionData>(&dir),
            "AggregateAndProof" => check::<AggregateAndProofElectra<M>>(&dir),
            "SignedAggregateAndProof" => check::<SignedAggregateAndProofElectra<M>>(&dir),
            "ContributionAndProof" => check::<ContributionAndProof<M>>(&dir),
            "SignedContributionAndProof" => check::<SignedContributionAndProof<M>>(&dir),
            "SyncCommitteeContribution" => check::<SyncCommitteeContribution<M>>(&dir),
            "SyncCommitteeMessage" => check::<SyncCommitteeMessage>(&dir),
            "Attestation" => check::<AttestationElectra<M>>(&dir),
            "SingleAttestation" => check::<SingleAttestation>(&dir),
            "VoluntaryExit" => check::<VoluntaryExit>(&dir),
            "SignedVoluntaryExit" => check::<SignedVoluntaryExit>(&dir),
            "BeaconBlock" => check::<BeaconBlockElectra<M>>(&dir),
            "BeaconBlockBody" => check::<BeaconBlockBodyElectra<M>>(&dir),
            "SignedBeaconBlock" => check::<SignedBeaconBlockElectra<M>>(&dir),
            other => panic!("fulu type {other} has vectors but no mapping here"),
        };
    }
    assert_eq!(total, 60);
}

/// The fork-tagged enum gives the same bytes and root as the inner type.
#[test]
fn block_enum_matches_inner_type() {
    let _machine = poolvc_tests::turns::shared();
    let dirs = type_dirs("fulu_mainnet_consensus-spec-tests_v1.5.0", "fulu");
    let dir = &dirs.iter().find(|(n, _)| n == "BeaconBlock").unwrap().1;
    for case in cases(dir) {
        let bytes = serialized(&case);
        for fork in [ForkName::Electra, ForkName::Fulu] {
            let block = BeaconBlock::<M>::from_ssz_bytes(fork, &bytes).unwrap();
            assert_eq!(block.fork_name(), fork);
            assert_eq!(block.as_ssz_bytes(), bytes);
            assert_eq!(block.tree_hash_root().as_slice(), expected_root(&case).as_slice());
            assert_eq!(block.header().tree_hash_root(), block.tree_hash_root());
            // JSON round trip through the Beacon API form.
            let back = BeaconBlock::<M>::from_json(fork, block.to_json()).unwrap();
            assert_eq!(back, block);
        }
        // The same bytes are not a valid Deneb block, or decode to a different root.
        if let Ok(b) = BeaconBlock::<M>::from_ssz_bytes(ForkName::Deneb, &bytes) {
            assert_ne!(b.tree_hash_root().as_slice(), expected_root(&case).as_slice());
        }
    }
}

/// Gloas (progressive SSZ) containers against pyspec 1.7.0b2's bytes and
/// roots, at both presets (`tests/vectors/ssz_static/gloas_pyspec_1.7.0b2`).
fn gloas<Q: Preset>(preset: &str) -> usize {
    let dir = vectors().join("ssz_static/gloas_pyspec_1.7.0b2/tests").join(preset).join("gloas/ssz_static");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 22, "{}", dir.display());
    let mut total = 0;
    for name in names {
        let d = dir.join(&name);
        total += match name.as_str() {
            "AttestationData" => check::<AttestationData>(&d),
            "PayloadAttestationData" => check::<PayloadAttestationData>(&d),
            "PayloadAttestation" => check::<PayloadAttestation<Q>>(&d),
            "PayloadAttestationMessage" => check::<PayloadAttestationMessage>(&d),
            "ExecutionPayloadBid" => check::<ExecutionPayloadBid<Q>>(&d),
            "SignedExecutionPayloadBid" => check::<SignedExecutionPayloadBid<Q>>(&d),
            "ExecutionPayload" => check::<ExecutionPayloadGloas<Q>>(&d),
            "ExecutionRequests" => check::<ExecutionRequestsGloas<Q>>(&d),
            "BuilderDepositRequest" => check::<BuilderDepositRequest>(&d),
            "BuilderExitRequest" => check::<BuilderExitRequest>(&d),
            "ExecutionPayloadEnvelope" => check::<ExecutionPayloadEnvelope<Q>>(&d),
            "SignedExecutionPayloadEnvelope" => check::<SignedExecutionPayloadEnvelope<Q>>(&d),
            "ProposerPreferences" => check::<ProposerPreferences>(&d),
            "SignedProposerPreferences" => check::<SignedProposerPreferences>(&d),
            "Attestation" => check::<AttestationGloas<Q>>(&d),
            "IndexedAttestation" => check::<IndexedAttestationGloas<Q>>(&d),
            "AttesterSlashing" => check::<AttesterSlashingGloas<Q>>(&d),
            "AggregateAndProof" => check::<AggregateAndProofGloas<Q>>(&d),
            "SignedAggregateAndProof" => check::<SignedAggregateAndProofGloas<Q>>(&d),
            "BeaconBlockBody" => check::<BeaconBlockBodyGloas<Q>>(&d),
            "BeaconBlock" => check::<BeaconBlockGloas<Q>>(&d),
            "SignedBeaconBlock" => check::<SignedBeaconBlockGloas<Q>>(&d),
            other => panic!("gloas type {other} has vectors but no mapping here"),
        };
    }
    total
}

#[test]
fn gloas_pyspec_minimal_and_mainnet() {
    let _machine = poolvc_tests::turns::shared();
    assert_eq!(gloas::<Minimal>("minimal"), 110);
    assert_eq!(gloas::<Mainnet>("mainnet"), 110);
}

/// Lodestar 1.48.0's JSON of Gloas containers (what a Gloas node serves and
/// takes, `tests/vectors/lodestar/gloas_json`) parses here to the root
/// Lodestar computed for the same value, and back to the same JSON values.
#[test]
fn gloas_lodestar_json_parses_to_lodestars_root() {
    fn check<T: serde::de::DeserializeOwned + serde::Serialize + TreeHash>(dir: &Path) -> usize {
        let mut n = 0;
        for c in 0..3 {
            let text = std::fs::read_to_string(dir.join(format!("case_{c}.json"))).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let value: T =
                serde_json::from_value(v["json"].clone()).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            assert_eq!(
                format!("{:?}", value.tree_hash_root()),
                v["root"].as_str().unwrap(),
                "{} case {c}",
                dir.display()
            );
            let back = serde_json::to_value(&value).unwrap();
            let again: T = serde_json::from_value(back).unwrap();
            assert_eq!(again.tree_hash_root(), value.tree_hash_root());
            n += 1;
        }
        n
    }
    let _machine = poolvc_tests::turns::shared();
    type Q = Minimal;
    let dir = vectors().join("lodestar/gloas_json");
    let mut total = 0;
    total += check::<PayloadAttestationData>(&dir.join("PayloadAttestationData"));
    total += check::<PayloadAttestationMessage>(&dir.join("PayloadAttestationMessage"));
    total += check::<PayloadAttestation<Q>>(&dir.join("PayloadAttestation"));
    total += check::<ProposerPreferences>(&dir.join("ProposerPreferences"));
    total += check::<SignedProposerPreferences>(&dir.join("SignedProposerPreferences"));
    total += check::<ExecutionPayloadBid<Q>>(&dir.join("ExecutionPayloadBid"));
    total += check::<ExecutionPayloadEnvelope<Q>>(&dir.join("ExecutionPayloadEnvelope"));
    total += check::<SignedExecutionPayloadEnvelope<Q>>(&dir.join("SignedExecutionPayloadEnvelope"));
    total += check::<AggregateAndProofGloas<Q>>(&dir.join("AggregateAndProof"));
    total += check::<BeaconBlockGloas<Q>>(&dir.join("BeaconBlock"));
    total += check::<SignedBeaconBlockGloas<Q>>(&dir.join("SignedBeaconBlock"));
    assert_eq!(total, 33);
}
