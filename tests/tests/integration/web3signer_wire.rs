//! The Web3Signer eth2 wire format (`poolvc_signer::web3signer`):
//!
//! - every request example of the Web3Signer OpenAPI document parses (its
//!   `type` tags, field names, quoted integers, versioned blocks and
//!   aggregates), and where the example's root is that of its message, the
//!   signing root computed from the message and its `fork_info` is the
//!   example's `signingRoot`;
//! - what poolvc's client sends for each kind of message is checked by the
//!   signer's rule ([`check`]) to the very root the store computes, and the
//!   signer refuses another network, another fork, a `signingRoot` that is
//!   not the message's and versioned data that does not fit its slot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use poolvc_signer::types::*;
use poolvc_signer::web3signer::{check, request_for, Message, RequestError, SigningRequest};
use tree_hash::TreeHash;

/// A clock for a chain that began at Unix time 0: every slot the tests
/// sign (the API document's examples among them) is past.
fn past(spec: &ChainSpec) -> poolvc_signer::clock::WallClock {
    poolvc_signer::clock::WallClock::new(0, spec)
}

fn examples() -> Vec<(String, serde_json::Value)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/web3signer/sign.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let ex = &doc["post"]["requestBody"]["content"]["application/json"]["examples"];
    ex.as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), serde_json::to_value(&v["value"]).unwrap()))
        .collect()
}

fn mainnet() -> ChainSpec {
    ChainSpec::from_config_yaml("mainnet.yaml", include_str!("../../../testnets/configs/mainnet.yaml")).unwrap()
}

/// Recomputes `req`'s signing root from its message and `fork_info` alone,
/// as Web3Signer does; `false` when the example's type is not one of those.
fn example_root_matches<P: Preset>(name: &str, req: &SigningRequest<P>, spec: &ChainSpec) -> bool {
    let Some(info) = req.fork_info else { return false };
    let (kind, epoch, object_root) = match &req.message {
        Message::Attestation { attestation: a } => (DomainKind::BeaconAttester, a.target.epoch, a.tree_hash_root()),
        Message::AggregationSlot { aggregation_slot: s } => {
            (DomainKind::SelectionProof, s.slot / 32, s.slot.tree_hash_root())
        }
        Message::RandaoReveal { randao_reveal: r } => (DomainKind::Randao, r.epoch, r.epoch.tree_hash_root()),
        Message::SyncCommitteeMessage { sync_committee_message: m } => {
            (DomainKind::SyncCommittee, m.slot / 32, m.beacon_block_root)
        }
        Message::BlockV2 { beacon_block } => match beacon_block.block_header {
            Some(h) => (DomainKind::BeaconProposer, h.slot / 32, h.tree_hash_root()),
            None => return false,
        },
        _ => return false,
    };
    let version = if epoch >= info.fork.epoch { info.fork.current_version } else { info.fork.previous_version };
    let domain = compute_domain(spec.domain_type(kind), version, info.genesis_validators_root);
    assert_eq!(Some(compute_signing_root(object_root, domain)), req.signing_root, "example {name}: signingRoot");
    true
}

#[test]
fn every_example_of_the_web3signer_spec_parses() {
    let _machine = poolvc_tests::turns::shared();
    let all = examples();
    assert!(all.len() >= 20, "{} examples", all.len());
    let spec = mainnet();
    let mut parsed = 0;
    let mut roots_checked = 0;
    for (name, v) in &all {
        if name.starts_with("BLOCK (DEPRECATED)") || name.starts_with("DEPOSIT") {
            continue;
        }
        // The examples mix presets (a contribution's bits are the minimal preset's).
        let checked = match serde_json::from_value::<SigningRequest<Mainnet>>(v.clone()) {
            Ok(r) => example_root_matches(name, &r, &spec),
            Err(_) => {
                let r: SigningRequest<Minimal> =
                    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("example {name}: {e}\n{v}"));
                example_root_matches(name, &r, &spec)
            }
        };
        parsed += 1;
        roots_checked += usize::from(checked);
    }
    eprintln!("{parsed} examples parsed, {roots_checked} signing roots recomputed");
    assert!(parsed >= 20 && roots_checked >= 5, "{parsed} parsed, {roots_checked} roots");
}

/// A spec with every fork at its own epoch (minimal preset, 8-slot epochs).
fn stepped() -> ChainSpec {
    let mut text = include_str!("../../../testnets/configs/minimal.yaml").to_string();
    for (fork, epoch) in [("ALTAIR", 1), ("BELLATRIX", 2), ("CAPELLA", 3), ("DENEB", 4), ("ELECTRA", 5), ("FULU", 6)] {
        text = text
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{fork}_FORK_EPOCH:")) {
                    format!("{fork}_FORK_EPOCH: {epoch}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    ChainSpec::from_config_yaml("stepped", &text).unwrap()
}

#[test]
fn what_the_client_sends_the_signer_checks_to_the_same_root() {
    let _machine = poolvc_tests::turns::shared();
    let spec = stepped();
    let gvr = Hash256::repeat_byte(0x17);
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr };
    let spe = spec.slots_per_epoch;
    let data = |epoch: u64| AttestationData {
        slot: epoch * spe + 1,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(3),
        source: Checkpoint { epoch: epoch.saturating_sub(1), root: Hash256::repeat_byte(4) },
        target: Checkpoint { epoch, root: Hash256::repeat_byte(5) },
    };
    let header = |slot: u64| BeaconBlockHeader {
        slot,
        proposer_index: 9,
        parent_root: Hash256::repeat_byte(6),
        state_root: Hash256::repeat_byte(7),
        body_root: Hash256::repeat_byte(8),
    };
    let mut agg_base: AggregateAndProofBase<Minimal> = serde_json::from_value(serde_json::json!({
        "aggregator_index": "3",
        "aggregate": { "aggregation_bits": "0x01", "data": serde_json::to_value(data(4)).unwrap(),
                       "signature": format!("0x{}", "00".repeat(96)) },
        "selection_proof": format!("0x{}", "00".repeat(96)),
    }))
    .unwrap();
    agg_base.aggregator_index = 3;
    let agg_electra: AggregateAndProofElectra<Minimal> = serde_json::from_value(serde_json::json!({
        "aggregator_index": "3",
        "aggregate": { "aggregation_bits": "0x01", "data": serde_json::to_value(data(6)).unwrap(),
                       "signature": format!("0x{}", "00".repeat(96)), "committee_bits": "0x01" },
        "selection_proof": format!("0x{}", "00".repeat(96)),
    }))
    .unwrap();
    let sync_sel = SyncAggregatorSelectionData { slot: 6 * spe + 2, subcommittee_index: 1 };
    let exit = VoluntaryExit { epoch: 6, validator_index: 12 };
    let exit_old = VoluntaryExit { epoch: 3, validator_index: 12 };
    let reg = ValidatorRegistrationV1 {
        fee_recipient: Address::repeat_byte(0xaa),
        gas_limit: 30_000_000,
        timestamp: 1_700_000_000,
        pubkey: PublicKeyBytes::repeat_byte(0x11),
    };
    let (d1, d6, h2, h6) = (data(1), data(6), header(2 * spe + 1), header(6 * spe + 5));
    let messages: Vec<(&str, SignableMessage<'_, Minimal>)> = vec![
        ("attestation altair", SignableMessage::Attestation(&d1)),
        ("attestation fulu", SignableMessage::Attestation(&d6)),
        ("block header bellatrix", SignableMessage::BlockHeader(&h2)),
        ("block header fulu", SignableMessage::BlockHeader(&h6)),
        ("randao", SignableMessage::RandaoReveal(5)),
        ("selection proof", SignableMessage::SelectionProof(5 * spe + 3)),
        ("aggregate deneb", SignableMessage::AggregateAndProofBase(&agg_base)),
        ("aggregate fulu", SignableMessage::AggregateAndProofElectra(&agg_electra)),
        (
            "sync message",
            SignableMessage::SyncCommitteeMessage { slot: 6 * spe, beacon_block_root: Hash256::repeat_byte(1) },
        ),
        ("sync selection", SignableMessage::SyncSelectionProof(&sync_sel)),
        ("exit after deneb (EIP-7044)", SignableMessage::VoluntaryExit(&exit)),
        ("exit at capella", SignableMessage::VoluntaryExit(&exit_old)),
        ("registration", SignableMessage::ValidatorRegistration(&reg)),
    ];
    for (name, m) in &messages {
        let root = ctx.signing_root(m);
        let req = request_for(&spec, gvr, m, root).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Over the wire and back.
        let json = serde_json::to_string(&req).unwrap();
        let back: SigningRequest<Minimal> =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}\n{json}"));
        assert_eq!(back, req, "{name}: round trip");
        assert!(json.contains("\"type\":") && json.contains("\"signingRoot\":"), "{name}: {json}");
        let checked = check(&spec, gvr, &past(&spec), &back).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(checked.signing_root, root, "{name}: the signer's root is the store's");
        // Without the client's root the signer computes the same.
        let mut bare = back.clone();
        bare.signing_root = None;
        assert_eq!(check(&spec, gvr, &past(&spec), &bare).unwrap().signing_root, root, "{name}");
        if bare.fork_info.is_none() {
            continue;
        }
        // Another network.
        let mut other = bare.clone();
        other.fork_info.as_mut().unwrap().genesis_validators_root = Hash256::repeat_byte(0x99);
        assert!(matches!(check(&spec, gvr, &past(&spec), &other), Err(RequestError::OtherNetwork { .. })), "{name}");
        // Another fork version.
        let mut fork = bare.clone();
        let f = &mut fork.fork_info.as_mut().unwrap().fork;
        f.current_version = Version::from([9, 9, 9, 9]);
        f.previous_version = Version::from([9, 9, 9, 9]);
        assert!(matches!(check(&spec, gvr, &past(&spec), &fork), Err(RequestError::OtherFork { .. })), "{name}");
        // A root that is not the message's.
        let mut lie = bare.clone();
        lie.signing_root = Some(Hash256::repeat_byte(0x55));
        assert!(matches!(check(&spec, gvr, &past(&spec), &lie), Err(RequestError::RootMismatch { .. })), "{name}");
    }
    // Slashing data comes with the root.
    let att = request_for(
        &spec,
        gvr,
        &SignableMessage::<Minimal>::Attestation(&d6),
        ctx.signing_root(&SignableMessage::<Minimal>::Attestation(&d6)),
    )
    .unwrap();
    assert_eq!(
        check(&spec, gvr, &past(&spec), &att).unwrap().slashable,
        poolvc_signer::types::Slashable::Attestation { source: 5, target: 6 }
    );
    // A block whose version is not its slot's fork; an aggregate likewise.
    let mut blk = request_for(&spec, gvr, &SignableMessage::<Minimal>::BlockHeader(&h6), Hash256::ZERO).unwrap();
    blk.signing_root = None;
    if let Message::BlockV2 { beacon_block } = &mut blk.message {
        beacon_block.version = "DENEB".into();
    }
    assert!(matches!(check(&spec, gvr, &past(&spec), &blk), Err(RequestError::Block { .. })));
    let mut ag =
        request_for(&spec, gvr, &SignableMessage::AggregateAndProofElectra(&agg_electra), Hash256::ZERO).unwrap();
    ag.signing_root = None;
    if let Message::AggregateAndProofV2 { aggregate_and_proof } = &mut ag.message {
        aggregate_and_proof.version = "DENEB".into();
    }
    assert!(matches!(check(&spec, gvr, &past(&spec), &ag), Err(RequestError::Aggregate { .. })));
    // Unknown types and missing fields do not parse.
    for bad in
        [r#"{"type":"NOPE"}"#, r#"{"type":"ATTESTATION"}"#, r#"{"type":"RANDAO_REVEAL","randao_reveal":{"epoch":1}}"#]
    {
        let r: Result<SigningRequest<Minimal>, _> = serde_json::from_str(bad);
        if let Ok(r) = r {
            // An unquoted integer may parse; without fork_info it is refused.
            assert!(matches!(check(&spec, gvr, &past(&spec), &r), Err(RequestError::NoForkInfo { .. })), "{bad}");
        }
    }
}

/// A signer that holds interop keys 0..n, checks every request with the
/// signer's rule, signs for real, has no batch route (404, as Web3Signer),
/// and records the most single requests it had in flight at once.
mod counting_signer {
    use super::*;
    use axum::extract::{Path, State};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    pub struct Counts {
        pub now: AtomicUsize,
        pub max: AtomicUsize,
        pub total: AtomicUsize,
        pub batch_asked: AtomicUsize,
        spec: ChainSpec,
        gvr: Hash256,
        keys: Vec<(PublicKeyBytes, poolvc_signer::keys::SecretKey)>,
    }

    async fn sign(State(c): State<Arc<Counts>>, Path(id): Path<String>, body: String) -> (u16, String) {
        let now = c.now.fetch_add(1, Ordering::SeqCst) + 1;
        c.max.fetch_max(now, Ordering::SeqCst);
        c.total.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let answer = (|| {
            let req: SigningRequest<Minimal> = serde_json::from_str(&body).map_err(|e| (400, e.to_string()))?;
            let checked = check(&c.spec, c.gvr, &past(&c.spec), &req).map_err(|e| (400, e.to_string()))?;
            let (_, sk) = c.keys.iter().find(|(pk, _)| pk.to_string() == id).ok_or((404, "unknown key".to_string()))?;
            Ok::<_, (u16, String)>(sk.sign(checked.signing_root.as_slice()).to_bytes().to_string())
        })();
        c.now.fetch_sub(1, Ordering::SeqCst);
        match answer {
            Ok(sig) => (200, sig),
            Err(e) => e,
        }
    }

    /// Serves on a free loopback port; returns its URL and the counts.
    pub async fn start(n: u64, spec: ChainSpec, gvr: Hash256) -> (String, Arc<Counts>) {
        let keys = (0..n)
            .map(|i| {
                let sk = poolvc_signer::keys::interop::interop_secret_key(i);
                (sk.public_key().to_bytes(), sk)
            })
            .collect();
        let c = Arc::new(Counts {
            now: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            batch_asked: AtomicUsize::new(0),
            spec,
            gvr,
            keys,
        });
        let counted = Arc::clone(&c);
        let app = axum::Router::new()
            .route(
                "/api/v1/eth2/sign/{id}",
                axum::routing::post(|s, p, b| async move {
                    let (status, text) = sign(s, p, b).await;
                    (axum::http::StatusCode::from_u16(status).unwrap(), text)
                }),
            )
            .route(
                "/api/v1/eth2/sign_batch",
                axum::routing::post(move || {
                    counted.batch_asked.fetch_add(1, Ordering::SeqCst);
                    async { axum::http::StatusCode::NOT_FOUND }
                }),
            )
            .with_state(Arc::clone(&c));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, c)
    }
}

/// The client against a signer without the batch route: it asks for the
/// batch route once, then sends single requests, never more than its bound
/// in flight; a first URL that refuses connections is passed over for the
/// fallback. Every signature is the key's over the store's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_bounds_its_requests_and_falls_back() {
    let _machine = poolvc_tests::turns::shared();
    use poolvc::store::web3signer::{RemoteTarget, Web3SignerClient, Web3SignerOptions};
    use std::sync::atomic::Ordering;
    let spec = stepped();
    let gvr = Hash256::repeat_byte(0x17);
    let n = 300u64;
    let (url, counts) = counting_signer::start(n, spec.clone(), gvr).await;
    // A port nothing listens on, first.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let target = RemoteTarget {
        urls: vec![dead, url],
        root_certificate_path: None,
        request_timeout: std::time::Duration::from_secs(10),
        client_identity: None,
    };
    let opts = Web3SignerOptions { max_in_flight: 8, ..Default::default() };
    let client = Web3SignerClient::new(target, &opts).unwrap();
    let d = AttestationData {
        slot: 6 * spec.slots_per_epoch + 1,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(3),
        source: Checkpoint { epoch: 5, root: Hash256::repeat_byte(4) },
        target: Checkpoint { epoch: 6, root: Hash256::repeat_byte(5) },
    };
    let m = SignableMessage::<Minimal>::Attestation(&d);
    let root = SigningContext { spec: &spec, genesis_validators_root: gvr }.signing_root(&m);
    let req = std::sync::Arc::new(request_for(&spec, gvr, &m, root).unwrap());
    let work: Vec<_> = (0..n)
        .map(|i| {
            (poolvc_signer::keys::interop::interop_secret_key(i).public_key().to_bytes(), std::sync::Arc::clone(&req))
        })
        .collect();
    let sigs = client.sign(&work).await;
    for (i, s) in sigs.iter().enumerate() {
        let want = poolvc_signer::keys::interop::interop_secret_key(i as u64).sign(root.as_slice()).to_bytes();
        assert_eq!(s.as_ref().ok(), Some(&want), "key {i}: {s:?}");
    }
    assert_eq!(client.offers_batch(), Some(false), "a 404 on the batch route switches to single requests");
    assert_eq!(counts.batch_asked.load(Ordering::SeqCst), 1, "the batch route is asked once per chunk, once");
    assert_eq!(counts.total.load(Ordering::SeqCst), n as usize);
    let max = counts.max.load(Ordering::SeqCst);
    assert!((2..=8).contains(&max), "at most 8 requests in flight, and more than one: {max}");
    // The next batch goes straight to single requests.
    let again = client.sign(&work[..10]).await;
    assert!(again.iter().all(|s| s.is_ok()));
    assert_eq!(counts.batch_asked.load(Ordering::SeqCst), 1);
}

/// Mutual TLS as Lighthouse's `client_identity_path` sets it up: an
/// operator's authority (made with `openssl`), the signer's certificate for
/// 127.0.0.1, and a client certificate exported as PKCS#12 with a password
/// (OpenSSL 3's default: PBES2, AES-256). The TLS front in front of the
/// signer admits only clients with a certificate the authority signed.
mod mutual_tls {
    use std::path::{Path, PathBuf};

    use poolvc_tests::tls::{authority, openssl, signed};

    /// (authority, server cert, server key, client PKCS#12).
    pub fn credentials(dir: &Path, password: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        let ca = authority(dir);
        let (cert, key) =
            signed(dir, "signer", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n");
        signed(dir, "client", "/CN=poolvc client", "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n");
        let pass = format!("pass:{password}");
        openssl(
            dir,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                "client.key",
                "-in",
                "client.crt",
                "-out",
                "client.p12",
                "-passout",
                &pass,
            ],
        );
        (ca, cert, key, dir.join("client.p12"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_behind_mutual_tls_with_a_pkcs12_client_identity() {
    let _machine = poolvc_tests::turns::shared();
    use poolvc::store::web3signer::{ClientIdentity, RemoteError, RemoteTarget, Web3SignerClient, Web3SignerOptions};
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key, p12) = mutual_tls::credentials(dir.path(), "p12 secret");
    let spec = stepped();
    let gvr = Hash256::repeat_byte(0x17);
    let (url, _) = counting_signer::start(4, spec.clone(), gvr).await;
    let backend: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let front = poolvc_tests::tls::front(&cert, &key, Some(&ca), backend).await;
    let target = |identity: Option<ClientIdentity>| RemoteTarget {
        urls: vec![format!("https://127.0.0.1:{}", front.port())],
        root_certificate_path: Some(ca.clone()),
        request_timeout: std::time::Duration::from_secs(10),
        client_identity: identity,
    };
    let m = SignableMessage::<Minimal>::RandaoReveal(6);
    let root = SigningContext { spec: &spec, genesis_validators_root: gvr }.signing_root(&m);
    let req = std::sync::Arc::new(request_for(&spec, gvr, &m, root).unwrap());
    let sk = poolvc_signer::keys::interop::interop_secret_key(2);
    let work = vec![(sk.public_key().to_bytes(), req)];
    let opts = Web3SignerOptions::default();
    // With the identity: signed, by the key, over the root.
    let good = ClientIdentity { path: p12.clone(), password: zeroize::Zeroizing::new("p12 secret".into()) };
    assert!(!format!("{good:?}").contains("p12 secret"), "the password is never printed");
    let client = Web3SignerClient::new(target(Some(good)), &opts).unwrap();
    let sig = client.sign(&work).await.pop().unwrap().unwrap();
    assert_eq!(sig, sk.sign(root.as_slice()).to_bytes());
    // Without it: the TLS front turns the client away; nothing is signed.
    let client = Web3SignerClient::new(target(None), &opts).unwrap();
    let r = client.sign(&work).await.pop().unwrap();
    assert!(matches!(r, Err(RemoteError::Transport { .. })), "{r:?}");
    // A wrong password or a file that is not PKCS#12: a clear error at set-up.
    let wrong = ClientIdentity { path: p12.clone(), password: zeroize::Zeroizing::new("wrong".into()) };
    let e = Web3SignerClient::new(target(Some(wrong)), &opts).unwrap_err().to_string();
    assert!(e.contains("client identity") && e.contains("client.p12"), "{e}");
    let not_p12 = ClientIdentity { path: ca.clone(), password: zeroize::Zeroizing::new(String::new()) };
    let e = Web3SignerClient::new(target(Some(not_p12)), &opts).unwrap_err().to_string();
    assert!(e.contains("client identity") && e.contains("ca.crt"), "{e}");
}

/// Every Gloas type of remote-signing API v1.4.0, as poolvc's client sends
/// it, crosses the wire as JSON (`{"version", "data"}`) and is checked by
/// the signer to the pyspec's signing root (`pyspec_gloas_kats.json`); a
/// wrong version, a pre-Gloas version and a missing `fork_info` are refused.
#[test]
fn gloas_requests_cross_the_wire_to_the_pyspec_root() {
    use ssz::Decode;
    let _machine = poolvc_tests::turns::shared();
    type Mi = Minimal;
    let spec = poolvc_tests::gloas_spec();
    let clock = past(&spec);
    let kats: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(poolvc_tests::vectors().join("signing_roots/pyspec_gloas_kats.json")).unwrap(),
    )
    .unwrap();
    let h = |v: &serde_json::Value, k: &str| Hash256::from_slice(&poolvc_tests::unhex(v[k].as_str().unwrap()));
    let gvr = h(&kats, "genesis_validators_root");
    let mut kinds = Vec::new();
    for c in kats["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let bytes = poolvc_tests::unhex(c["ssz"].as_str().unwrap());
        let expected = h(c, "signing_root");
        let round_trip = |m: SignableMessage<'_, Mi>| {
            let req = request_for(&spec, gvr, &m, expected).unwrap();
            let wire = serde_json::to_string(&req).unwrap();
            let back: SigningRequest<Mi> = serde_json::from_str(&wire).unwrap();
            let checked = check(&spec, gvr, &clock, &back).unwrap_or_else(|e| panic!("{name}: {e}\n{wire}"));
            assert_eq!(checked.signing_root, expected, "{name}");
            (back.message.kind(), wire)
        };
        let (kind, wire) = match name {
            "payload_attestation_data" => round_trip(SignableMessage::PayloadAttestation(
                &PayloadAttestationData::from_ssz_bytes(&bytes).unwrap(),
            )),
            n if n.starts_with("proposer_preferences") => {
                round_trip(SignableMessage::ProposerPreferences(&ProposerPreferences::from_ssz_bytes(&bytes).unwrap()))
            }
            "execution_payload_envelope" => round_trip(SignableMessage::ExecutionPayloadEnvelope(
                &ExecutionPayloadEnvelope::<Mi>::from_ssz_bytes(&bytes).unwrap(),
            )),
            "execution_payload_bid" => round_trip(SignableMessage::ExecutionPayloadBid(
                &ExecutionPayloadBid::<Mi>::from_ssz_bytes(&bytes).unwrap(),
            )),
            "aggregate_and_proof" => round_trip(SignableMessage::AggregateAndProofGloas(
                &AggregateAndProofGloas::<Mi>::from_ssz_bytes(&bytes).unwrap(),
            )),
            "beacon_block" => {
                let b = BeaconBlock::<Mi>::from_ssz_bytes(ForkName::Gloas, &bytes).unwrap();
                round_trip(SignableMessage::Block(&b))
            }
            "attestation_data_full" => {
                round_trip(SignableMessage::Attestation(&AttestationData::from_ssz_bytes(&bytes).unwrap()))
            }
            other => panic!("unexpected case {other}"),
        };
        if name != "attestation_data_full" {
            assert!(wire.contains("\"GLOAS\""), "{name}: versioned as GLOAS: {wire}");
        }
        kinds.push(kind);
    }
    for k in [
        "PAYLOAD_ATTESTATION_MESSAGE",
        "PROPOSER_PREFERENCES",
        "EXECUTION_PAYLOAD_ENVELOPE",
        "EXECUTION_PAYLOAD_BID",
        "AGGREGATE_AND_PROOF_V2",
        "BLOCK_V2",
    ] {
        assert!(kinds.contains(&k), "{k} crossed the wire");
    }

    // A builder request auth: no fork_info, the genesis domain with a zero root.
    let auth = BuilderRequestAuth { data: ssz_types::VariableList::new(b"http://b".to_vec()).unwrap(), slot: 18 };
    let m = SignableMessage::<Mi>::BuilderRequestAuth(&auth);
    let root = SigningContext { spec: &spec, genesis_validators_root: gvr }.signing_root(&m);
    let req = request_for(&spec, gvr, &m, root).unwrap();
    assert!(req.fork_info.is_none());
    assert_eq!(
        root,
        compute_signing_root(
            auth.tree_hash_root(),
            compute_domain(DomainType::from([0x0b, 0, 0, 1]), spec.genesis_fork_version, Hash256::ZERO)
        )
    );
    assert_eq!(check(&spec, gvr, &clock, &req).unwrap().signing_root, root);

    // Refusals: a version that is not the slot's fork, one before Gloas, and
    // a dated Gloas message without fork_info.
    let prefs = ProposerPreferences { proposal_slot: 17, validator_index: 3, ..Default::default() };
    let m = SignableMessage::<Mi>::ProposerPreferences(&prefs);
    let root = SigningContext { spec: &spec, genesis_validators_root: gvr }.signing_root(&m);
    let good = serde_json::to_value(request_for(&spec, gvr, &m, root).unwrap()).unwrap();
    for (version, why) in [("FULU", "has no PROPOSER_PREFERENCES"), ("HEZE", "unknown fork name")] {
        let mut bad = good.clone();
        bad["proposer_preferences"]["version"] = serde_json::json!(version);
        let bad: SigningRequest<Mi> = serde_json::from_value(bad).unwrap();
        let e = check(&spec, gvr, &clock, &bad).unwrap_err().to_string();
        assert!(e.contains(why), "{version}: {e}");
    }
    let mut early = good.clone();
    early["proposer_preferences"]["data"]["proposal_slot"] = serde_json::json!("15");
    early["signingRoot"] = serde_json::Value::Null;
    let early: SigningRequest<Mi> = serde_json::from_value(early).unwrap();
    let e = check(&spec, gvr, &clock, &early).unwrap_err().to_string();
    assert!(e.contains("slot 15 is in fulu"), "{e}");
    let mut bare = good;
    bare.as_object_mut().unwrap().remove("fork_info");
    let bare: SigningRequest<Mi> = serde_json::from_value(bare).unwrap();
    assert!(matches!(check(&spec, gvr, &clock, &bare), Err(RequestError::NoForkInfo { .. })));
}
