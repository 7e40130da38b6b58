//! Signing roots and domains: known answers from an independent
//! implementation (the consensus-specs pyspec, see
//! `vectors/signing_roots/SOURCE.md`), from builder-specs, and from real
//! signatures recorded on a Lodestar dev chain. Also ChainSpec parsing of a
//! real node's `/eth/v1/config/spec` and of `config.yaml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::Signature;
use poolvc_signer::types::*;
use poolvc_tests::{unhex, vectors};
use ssz::{Decode, Encode};
use ssz_types::BitVector;
use tree_hash::TreeHash;

type Mi = Minimal;
type Ma = Mainnet;

/// Reads a recorded response, dropping a trailing ` http=200` note.
fn recorded(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(vectors().join("lodestar").join(name)).unwrap();
    let end = text.rfind('}').unwrap() + 1;
    serde_json::from_str(&text[..end]).unwrap()
}

fn lodestar_spec() -> ChainSpec {
    let text = std::fs::read_to_string(vectors().join("lodestar/config_spec.json")).unwrap();
    ChainSpec::from_beacon_json("config_spec.json", &text).unwrap()
}

fn kats() -> serde_json::Value {
    recorded_path(&vectors().join("signing_roots/pyspec_kats.json"))
}

fn recorded_path(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn h(v: &serde_json::Value, key: &str) -> Hash256 {
    Hash256::from_slice(&unhex(v[key].as_str().unwrap_or_else(|| panic!("missing {key}"))))
}

fn gvr() -> Hash256 {
    Hash256::from_slice(&unhex(recorded("genesis.json")["data"]["genesis_validators_root"].as_str().unwrap()))
}

fn produced_block() -> BeaconBlock<Mi> {
    let v = recorded("produce_v2_infinity.json");
    let fork: ForkName = v["version"].as_str().unwrap().parse().unwrap();
    BeaconBlock::<Mi>::from_json(fork, v["data"].clone()).unwrap()
}

#[test]
fn lodestar_spec_parses() {
    let _machine = poolvc_tests::turns::shared();
    let spec = lodestar_spec();
    assert_eq!(spec.preset, PresetName::Minimal);
    assert_eq!(spec.seconds_per_slot, 2);
    assert_eq!(spec.slots_per_epoch, 8);
    assert_eq!(spec.sync_committee_size, 32);
    assert_eq!(spec.fork_name_at_epoch(0), ForkName::Bellatrix);
    assert_eq!(spec.fork_name_at_epoch(1_000_000), ForkName::Bellatrix);
    // Lodestar v1.5 calls Deneb "EIP4844"; it is scheduled at FAR_FUTURE_EPOCH.
    assert_eq!(spec.scheduled(ForkName::Deneb).unwrap().epoch, FAR_FUTURE_EPOCH);
    // The state's fork at genesis, as the node reports it.
    let state_fork: Fork = serde_json::from_value(recorded("state_fork.json")["data"].clone()).unwrap();
    assert_eq!(spec.fork_at_epoch(0), state_fork);
    // The node's fork schedule lists the same versions and epochs.
    let schedule: Vec<Fork> = serde_json::from_value(recorded("fork_schedule.json")["data"].clone()).unwrap();
    for f in schedule {
        let ours = spec.forks.iter().find(|s| s.version == f.current_version).expect("version known");
        assert_eq!(ours.epoch, f.epoch);
    }
}

#[test]
fn config_yaml_parses_and_matches_presets() {
    let _machine = poolvc_tests::turns::shared();
    for (file, preset, slots) in [("mainnet.yaml", PresetName::Mainnet, 32), ("minimal.yaml", PresetName::Minimal, 8)] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnets/configs").join(file);
        let spec = ChainSpec::from_config_yaml(file, &std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(spec.preset, preset);
        assert_eq!(spec.slots_per_epoch, slots);
        assert_eq!(spec.forks.len(), 8, "{file}: phase0..gloas");
        assert_eq!(spec.forks[6].name, ForkName::Fulu);
        assert_eq!(spec.forks[7].name, ForkName::Gloas);
        assert_ne!(spec.fork_name_at_epoch(u64::MAX - 1), ForkName::Gloas, "{file}: Gloas is not scheduled");
    }
    let mainnet = ChainSpec::from_config_yaml(
        "mainnet.yaml",
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnets/configs/mainnet.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(mainnet.genesis_fork_version, Version::from([0, 0, 0, 0]));
    assert_eq!(mainnet.fork_name_at_epoch(364_032), ForkName::Electra);
    assert_eq!(mainnet.fork_name_at_epoch(364_031), ForkName::Deneb);
}

#[test]
fn bad_specs_are_named() {
    let _machine = poolvc_tests::turns::shared();
    let err = ChainSpec::from_beacon_json("node-a", "{\"data\": []}").unwrap_err().to_string();
    assert!(err.contains("node-a"), "{err}");
    let err =
        ChainSpec::from_config_yaml("c.yaml", "PRESET_BASE: 'minimal'\nSECONDS_PER_SLOT: 6\n").unwrap_err().to_string();
    assert!(err.contains("c.yaml") && err.contains("GENESIS_FORK_VERSION"), "{err}");
    let err = ChainSpec::from_config_yaml("c.yaml", "PRESET_BASE: 'minimal'\nSECONDS_PER_SLOT: six\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("SECONDS_PER_SLOT") && err.contains("six"), "{err}");
    let err = ChainSpec::from_config_yaml(
        "c.yaml",
        "PRESET_BASE: gnosis\nSECONDS_PER_SLOT: 5\nGENESIS_FORK_VERSION: 0x00000064\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("PRESET_BASE"), "{err}");
    let err = ChainSpec::from_config_yaml(
        "c.yaml",
        "PRESET_BASE: minimal\nSECONDS_PER_SLOT: 5\nGENESIS_FORK_VERSION: 0x0001\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("exactly 4 bytes"), "{err}");
}

/// Block root of a real Lodestar-produced block, minimal preset: equals the
/// pyspec's root; the header gives the same root; SSZ round-trips.
#[test]
fn minimal_block_root_known_answer() {
    let _machine = poolvc_tests::turns::shared();
    let k = kats();
    let block = produced_block();
    assert_eq!(block.fork_name(), ForkName::Bellatrix);
    assert_eq!(block.tree_hash_root(), h(&k, "block_root_produce_v2_infinity"));
    assert_eq!(block.header().body_root, h(&k, "block_body_root_produce_v2_infinity"));
    assert_eq!(block.header().tree_hash_root(), block.tree_hash_root());
    let back = BeaconBlock::<Mi>::from_ssz_bytes(ForkName::Bellatrix, &block.as_ssz_bytes()).unwrap();
    assert_eq!(back, block);
    // The same JSON cannot be read with the mainnet preset: its sync bits are 32, not 512.
    let v = recorded("produce_v2_infinity.json");
    assert!(BeaconBlock::<Ma>::from_json(ForkName::Bellatrix, v["data"].clone()).is_err());
}

#[test]
fn signing_roots_known_answers() {
    let _machine = poolvc_tests::turns::shared();
    let k = kats();
    let spec = lodestar_spec();
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr() };
    assert_eq!(gvr(), h(&k, "genesis_validators_root"));
    let block = produced_block();
    let root = |m: SignableMessage<'_, Mi>| ctx.signing_root(&m);

    assert_eq!(root(SignableMessage::Block(&block)), h(&k, "block"));
    assert_eq!(root(SignableMessage::BlockHeader(&block.header())), h(&k, "block"));

    let att: AttestationData = serde_json::from_value(recorded("attestation_data.json")["data"].clone()).unwrap();
    assert_eq!(root(SignableMessage::Attestation(&att)), h(&k, "attestation"));
    assert_eq!(root(SignableMessage::RandaoReveal(3)), h(&k, "randao_epoch_3"));
    assert_eq!(root(SignableMessage::SelectionProof(27)), h(&k, "selection_proof_slot_27"));

    let BeaconBlock::Bellatrix(b) = &block else { panic!("bellatrix") };
    let agg = AggregateAndProofBase::<Mi> {
        aggregator_index: 39,
        aggregate: b.body.attestations[0].clone(),
        selection_proof: SignatureBytes::repeat_byte(0x11),
    };
    assert_eq!(root(SignableMessage::AggregateAndProofBase(&agg)), h(&k, "aggregate_and_proof"));
    assert_eq!(
        root(SignableMessage::SyncCommitteeMessage { slot: 27, beacon_block_root: block.header().parent_root }),
        h(&k, "sync_committee_message_slot_27")
    );
    let sel = SyncAggregatorSelectionData { slot: 27, subcommittee_index: 3 };
    assert_eq!(root(SignableMessage::SyncSelectionProof(&sel)), h(&k, "sync_selection_proof"));
    let mut bits = BitVector::new();
    for i in [0, 2, 7] {
        bits.set(i, true).unwrap();
    }
    let contrib = ContributionAndProof::<Mi> {
        aggregator_index: 7,
        contribution: SyncCommitteeContribution {
            slot: 27,
            beacon_block_root: block.header().parent_root,
            subcommittee_index: 3,
            aggregation_bits: bits,
            signature: SignatureBytes::repeat_byte(0x22),
        },
        selection_proof: SignatureBytes::repeat_byte(0x33),
    };
    assert_eq!(root(SignableMessage::ContributionAndProof(&contrib)), h(&k, "contribution_and_proof"));

    let exit = VoluntaryExit { epoch: 3, validator_index: 40 };
    assert_eq!(root(SignableMessage::VoluntaryExit(&exit)), h(&k, "voluntary_exit"));

    let mut wc = [0x55u8; 32];
    wc[0] = 0;
    let dep = DepositMessage {
        pubkey: PublicKeyBytes::repeat_byte(0x44),
        withdrawal_credentials: wc.into(),
        amount: 32_000_000_000,
    };
    assert_eq!(root(SignableMessage::Deposit(&dep)), h(&k, "deposit"));
    let reg = ValidatorRegistrationV1 {
        fee_recipient: Address::repeat_byte(0x66),
        gas_limit: 30_000_000,
        timestamp: 1_700_000_000,
        pubkey: PublicKeyBytes::repeat_byte(0x77),
    };
    assert_eq!(root(SignableMessage::ValidatorRegistration(&reg)), h(&k, "builder_registration"));
}

/// EIP-7044: from Deneb on, exits use the Capella fork version, whatever the
/// current fork; before Deneb, the fork at the exit's epoch.
#[test]
fn voluntary_exit_eip7044() {
    let _machine = poolvc_tests::turns::shared();
    let k = kats();
    let mut text = std::fs::read_to_string(vectors().join("lodestar/config_spec.json")).unwrap();
    text = text
        .replace("\"CAPELLA_FORK_EPOCH\":\"18446744073709551615\"", "\"CAPELLA_FORK_EPOCH\":\"1\"")
        .replace("\"EIP4844_FORK_EPOCH\":\"18446744073709551615\"", "\"EIP4844_FORK_EPOCH\":\"2\"");
    let spec = ChainSpec::from_beacon_json("patched", &text).unwrap();
    assert_eq!(spec.fork_name_at_epoch(3), ForkName::Deneb);
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr() };
    let exit = VoluntaryExit { epoch: 3, validator_index: 40 };
    assert_eq!(
        ctx.signing_root::<Mi>(&SignableMessage::VoluntaryExit(&exit)),
        h(&k, "voluntary_exit_eip7044_capella_version")
    );
    // An exit at a Bellatrix epoch is still signed with Bellatrix's version.
    let early = VoluntaryExit { epoch: 0, validator_index: 40 };
    let d = ctx.domain_for(DomainKind::VoluntaryExit, early.epoch);
    assert_eq!(d, compute_domain(spec.domains.voluntary_exit, Version::from([2, 0, 0, 1]), gvr()));
    // Other messages at a Deneb epoch use Deneb's version.
    let d = ctx.domain_for(DomainKind::BeaconAttester, 3);
    assert_eq!(d, compute_domain(spec.domains.beacon_attester, Version::from([4, 0, 0, 1]), gvr()));
}

/// builder-specs: the mainnet builder domain and the example registration's
/// roots (values stated in builder_specs/SOURCE.md).
#[test]
fn builder_registration_known_answer() {
    let _machine = poolvc_tests::turns::shared();
    let mainnet = ChainSpec::from_config_yaml(
        "mainnet.yaml",
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnets/configs/mainnet.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    // Any genesis root: the builder domain ignores it.
    let ctx = SigningContext { spec: &mainnet, genesis_validators_root: Hash256::repeat_byte(0xab) };
    assert_eq!(
        ctx.domain_for(DomainKind::ApplicationBuilder, 123_456),
        Hash256::from_slice(&unhex("0x00000001f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a9"))
    );
    let v = recorded_path(&vectors().join("builder_specs/examples/bellatrix/signed_validator_registrations.json"));
    let regs: Vec<SignedValidatorRegistrationV1> = serde_json::from_value(v["value"].clone()).unwrap();
    let msg = &regs[0].message;
    assert_eq!(
        msg.tree_hash_root(),
        Hash256::from_slice(&unhex("0x51fc61bd054c204f5e34684d2acdfe782507e65e66bbb81ea2553c8840b90a9e"))
    );
    assert_eq!(
        ctx.signing_root::<Ma>(&SignableMessage::ValidatorRegistration(msg)),
        Hash256::from_slice(&unhex("0xa495e9b52826f7b155dce81878f108ed4d122e278fd20abf8f9aa4dde08ae004"))
    );
    let ssz_bytes =
        std::fs::read(vectors().join("builder_specs/examples/bellatrix/signed_validator_registrations.ssz")).unwrap();
    assert_eq!(regs.as_ssz_bytes(), ssz_bytes);
}

/// builder-specs examples: JSON blinded blocks and payloads of every fork
/// equal their SSZ examples (mainnet preset), and blinded roots equal the
/// roots of the headers.
#[test]
fn builder_examples_json_equals_ssz() {
    let _machine = poolvc_tests::turns::shared();
    let ex = vectors().join("builder_specs/examples");
    fn check<T: serde::de::DeserializeOwned + Encode + Decode + PartialEq + std::fmt::Debug>(
        json: &std::path::Path,
        ssz_path: &std::path::Path,
        data_key: Option<&str>,
    ) {
        let v = recorded_path(json);
        let v = match data_key {
            Some(k) => v["value"][k].clone(),
            None => v["value"].clone(),
        };
        let from_json: T = serde_json::from_value(v).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        let bytes = std::fs::read(ssz_path).unwrap();
        assert_eq!(from_json.as_ssz_bytes(), bytes, "{}", json.display());
        assert_eq!(T::from_ssz_bytes(&bytes).unwrap(), from_json);
    }
    let blinded = |fork: &str| {
        (ex.join(fork).join("signed_blinded_beacon_block.json"), ex.join(fork).join("signed_blinded_beacon_block.ssz"))
    };
    let (j, s) = blinded("bellatrix");
    check::<SignedBlindedBeaconBlockBellatrix<Ma>>(&j, &s, None);
    let (j, s) = blinded("capella");
    check::<SignedBlindedBeaconBlockCapella<Ma>>(&j, &s, None);
    let (j, s) = blinded("deneb");
    check::<SignedBlindedBeaconBlockDeneb<Ma>>(&j, &s, None);
    let (j, s) = blinded("electra");
    check::<SignedBlindedBeaconBlockElectra<Ma>>(&j, &s, None);
    let (j, s) = blinded("fulu");
    check::<SignedBlindedBeaconBlockElectra<Ma>>(&j, &s, None);
    check::<ExecutionPayloadBellatrix<Ma>>(
        &ex.join("bellatrix/execution_payload.json"),
        &ex.join("bellatrix/execution_payload.ssz"),
        Some("data"),
    );
    check::<ExecutionPayloadCapella<Ma>>(
        &ex.join("capella/execution_payload.json"),
        &ex.join("capella/execution_payload.ssz"),
        Some("data"),
    );

    // The enum reads the message and its root equals its header's root.
    let v = recorded_path(&ex.join("electra/signed_blinded_beacon_block.json"));
    let b = BlindedBeaconBlock::<Ma>::from_json(ForkName::Electra, v["value"]["message"].clone()).unwrap();
    assert_eq!(b.header().tree_hash_root(), b.tree_hash_root());
    assert!(BlindedBeaconBlock::<Ma>::from_json(ForkName::Altair, v["value"]["message"].clone()).is_err());
}

/// Real signatures from the Lodestar dev chain: single-attester aggregates in
/// a produced block verify under the signing root poolvc computes, for exactly
/// one interop key.
#[test]
fn real_lodestar_attestation_signatures_verify() {
    let _machine = poolvc_tests::turns::shared();
    let spec = lodestar_spec();
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr() };
    let block = produced_block();
    let BeaconBlock::Bellatrix(b) = &block else { panic!("bellatrix") };
    let keys: Vec<_> = (0..64).map(|i| interop_secret_key(i).public_key()).collect();
    let mut checked = 0;
    for att in b.body.attestations.iter().filter(|a| a.aggregation_bits.num_set_bits() == 1) {
        let root = ctx.signing_root::<Mi>(&SignableMessage::Attestation(&att.data));
        let sig = Signature::from_bytes(att.signature.as_slice()).unwrap();
        let signers = keys.iter().filter(|pk| sig.verify(pk, root.as_slice())).count();
        assert_eq!(signers, 1, "attestation at slot {} index {}", att.data.slot, att.data.index);
        // A wrong domain (phase0 version) verifies for nobody.
        let wrong = compute_signing_root(
            att.data.tree_hash_root(),
            compute_domain(spec.domains.beacon_attester, spec.genesis_fork_version, gvr()),
        );
        assert!(!keys.iter().any(|pk| sig.verify(pk, wrong.as_slice())));
        checked += 1;
    }
    assert!(checked >= 2, "expected single-attester aggregates in the sample, found {checked}");
}

/// Every Gloas message a validator signs: poolvc's domain, signing root and
/// BLS signature equal the pyspec's (`signing_roots/pyspec_gloas_kats.json`).
#[test]
fn gloas_signing_roots_and_signatures_match_pyspec() {
    let _machine = poolvc_tests::turns::shared();
    let spec = poolvc_tests::gloas_spec();
    assert_eq!(spec.fork_name_at_slot(15), ForkName::Fulu);
    assert_eq!(spec.fork_name_at_slot(16), ForkName::Gloas);
    let kats = recorded_path(&vectors().join("signing_roots/pyspec_gloas_kats.json"));
    let gvr = h(&kats, "genesis_validators_root");
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr };
    let sk = interop_secret_key(kats["secret_index"].as_u64().unwrap());
    let mut names = Vec::new();
    for c in kats["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let bytes = unhex(c["ssz"].as_str().unwrap());
        let check = |m: SignableMessage<'_, Mi>| {
            let (kind, epoch, object_root) = m.parts(spec.slots_per_epoch);
            assert_eq!(object_root, h(c, "object_root"), "{name}: object root");
            assert_eq!(ctx.domain_for(kind, epoch), h(c, "domain"), "{name}: domain");
            let root = ctx.signing_root(&m);
            assert_eq!(root, h(c, "signing_root"), "{name}: signing root");
            let sig = sk.sign(root.as_slice());
            assert_eq!(
                sig.to_bytes().as_slice(),
                unhex(c["signature"].as_str().unwrap()).as_slice(),
                "{name}: signature"
            );
        };
        match name {
            "payload_attestation_data" => {
                check(SignableMessage::PayloadAttestation(&PayloadAttestationData::from_ssz_bytes(&bytes).unwrap()))
            }
            n if n.starts_with("proposer_preferences") => {
                check(SignableMessage::ProposerPreferences(&ProposerPreferences::from_ssz_bytes(&bytes).unwrap()))
            }
            "execution_payload_envelope" => check(SignableMessage::ExecutionPayloadEnvelope(
                &ExecutionPayloadEnvelope::<Mi>::from_ssz_bytes(&bytes).unwrap(),
            )),
            "execution_payload_bid" => {
                check(SignableMessage::ExecutionPayloadBid(&ExecutionPayloadBid::<Mi>::from_ssz_bytes(&bytes).unwrap()))
            }
            "aggregate_and_proof" => check(SignableMessage::AggregateAndProofGloas(
                &AggregateAndProofGloas::<Mi>::from_ssz_bytes(&bytes).unwrap(),
            )),
            "beacon_block" => {
                let block = BeaconBlock::<Mi>::from_ssz_bytes(ForkName::Gloas, &bytes).unwrap();
                check(SignableMessage::Block(&block));
                // The same root through the header the remote signer gets.
                check(SignableMessage::BlockHeader(&block.header()));
            }
            "attestation_data_full" => {
                let d = AttestationData::from_ssz_bytes(&bytes).unwrap();
                assert_eq!(d.index, 1, "a vote for the full payload");
                check(SignableMessage::Attestation(&d))
            }
            other => panic!("unexpected case {other}"),
        }
        names.push(name.to_string());
    }
    assert_eq!(names.len(), 8);
}

/// Duty deadlines from the config: a third and two thirds before Gloas, a
/// quarter and a half from Gloas on, three quarters for the PTC.
#[test]
fn due_times_follow_the_fork() {
    let _machine = poolvc_tests::turns::shared();
    let spec = poolvc_tests::gloas_spec();
    let at = |duty, slot| spec.due.fraction(duty, spec.fork_name_at_slot(slot));
    assert!((at(Due::Attestation, 15) - 0.3333).abs() < 1e-9);
    assert!((at(Due::Aggregate, 15) - 0.6667).abs() < 1e-9);
    assert!((at(Due::Attestation, 16) - 0.25).abs() < 1e-9);
    assert!((at(Due::Aggregate, 16) - 0.5).abs() < 1e-9);
    assert!((at(Due::SyncMessage, 16) - 0.25).abs() < 1e-9);
    assert!((at(Due::Contribution, 16) - 0.5).abs() < 1e-9);
    assert!((at(Due::PayloadAttestation, 16) - 0.75).abs() < 1e-9);
}
