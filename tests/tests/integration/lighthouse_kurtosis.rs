//! The poolvc binary under the name `lighthouse`, started as Kurtosis'
//! ethereum-package starts Lighthouse's validator client
//! (`src/vc/lighthouse.star`): `lighthouse vc --debug-level=info
//! --testnet-dir=... --validators-dir=.../keys --secrets-dir=.../secrets
//! --init-slashing-protection --beacon-nodes=... --suggested-fee-recipient=...
//! --metrics --metrics-address=0.0.0.0 --metrics-allow-origin=* --metrics-port=...
//! --gas-limit=... --builder-proposals`, against an `eth2-val-tools` key tree
//! with no `validator_definitions.yml`, no `--datadir` (HOME is a scratch
//! dir), and one key whose password file is missing. It runs through a
//! whole epoch of the simulated node, which checks every signature; every
//! duty of the loaded keys is done, the missing-password key is named and
//! signs nothing, the log (not a terminal) has no escape codes, and the
//! keymanager API (`--http ... --unencrypted-http-transport`) lists the keys
//! with the token the client wrote to the validators dir.
//!
//! A second run uses a graffiti file changed while running, proposer nodes,
//! `--broadcast attestations` and `--log-format JSON`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::types::*;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `dir/lighthouse` -> the poolvc binary.
fn lighthouse_link(dir: &Path) -> PathBuf {
    let link = dir.join("lighthouse");
    std::os::unix::fs::symlink(poolvc_bin(), &link).unwrap();
    link
}

/// An `eth2-val-tools` tree: `keys/0x<pubkey>/voting-keystore.json` and
/// `secrets/0x<pubkey>`, no definitions file. The password file of the
/// returned key is removed.
fn val_tools_tree(root: &Path) -> String {
    let lh = datadir();
    std::fs::rename(lh.path().join("validators"), root.join("keys")).unwrap();
    std::fs::rename(lh.path().join("secrets"), root.join("secrets")).unwrap();
    std::fs::remove_file(root.join("keys/validator_definitions.yml")).unwrap();
    let last = interop_pubkey(VALIDATORS - 1);
    std::fs::remove_file(root.join("secrets").join(&last)).unwrap();
    last
}

fn interop_pubkey(i: u64) -> String {
    format!("0x{}", hex::encode(poolvc_signer::keys::interop::interop_secret_key(i).public_key().to_bytes()))
}

/// `--testnet-dir` with the node's own config as `config.yaml`.
async fn testnet_dir(root: &Path, url: &str) -> PathBuf {
    let spec: serde_json::Value =
        reqwest::get(format!("{url}/eth/v1/config/spec")).await.unwrap().json().await.unwrap();
    let mut yaml = String::new();
    for (k, v) in spec["data"].as_object().unwrap() {
        if let Some(s) = v.as_str() {
            yaml.push_str(&format!("{k}: {s}\n"));
        }
    }
    let dir = root.join("network-configs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), yaml).unwrap();
    std::fs::write(dir.join("genesis.ssz"), b"").unwrap();
    dir
}

/// A client-stats monitor: every POST's query and body.
type Pushes = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

async fn client_stats_monitor() -> (std::net::SocketAddr, Pushes) {
    let pushes: Pushes = Default::default();
    let kept = pushes.clone();
    let app = axum::Router::new().route(
        "/api/v1/client/metrics",
        axum::routing::post(move |uri: axum::http::Uri, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push((uri.query().unwrap_or("").to_string(), body.to_vec()));
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, pushes)
}

/// The two runs take turns: each is a client process and a simulated
/// chain on the clock, and on a 2-core machine two at once (with the rest
/// of the machine's load) can push a duty past its slot.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lighthouse_vc_as_kurtosis_starts_it() {
    let _machine = poolvc_tests::turns::shared();
    let _turn = TURN.lock().await;
    init_logs();
    let root = tempfile::tempdir().unwrap();
    let missing = val_tools_tree(root.path());
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let cfg = SimConfig { genesis_time: now() + 3, ..SimConfig::electra_minimal() };
    let h = SimHandle::<Minimal>::start(cfg, 1).await;
    let url = h.urls()[0].clone();
    let testnet = testnet_dir(root.path(), &url).await;
    let bin = lighthouse_link(root.path());
    let port = free_port();
    let http_port = free_port();
    let args: Vec<String> = vec![
        "vc".into(),
        "--debug-level=info".into(),
        format!("--testnet-dir={}", testnet.display()),
        format!("--validators-dir={}", root.path().join("keys").display()),
        format!("--secrets-dir={}", root.path().join("secrets").display()),
        "--init-slashing-protection".into(),
        format!("--beacon-nodes={url}"),
        "--suggested-fee-recipient=0x8943545177806ED17B9F23F0a21ee5948eCaa776".into(),
        "--metrics".into(),
        "--metrics-address=0.0.0.0".into(),
        "--metrics-allow-origin=*".into(),
        format!("--metrics-port={port}"),
        "--http".into(),
        format!("--http-port={http_port}"),
        "--http-address=0.0.0.0".into(),
        "--http-allow-origin=*".into(),
        "--unencrypted-http-transport".into(),
        "--gas-limit=30000000".into(),
        "--builder-proposals".into(),
        // The test's own stop: through epoch 1 (slots 0..=15).
        "--max-slots=15".into(),
    ];
    let log = root.path().join("vc.log");
    // Kurtosis's keymanager calls: the token from the validators dir, the
    // keys listed while the client runs.
    let keymanager = tokio::spawn({
        let token_file = root.path().join("keys/api-token.txt");
        async move {
            let http = reqwest::Client::new();
            for _ in 0..300 {
                if let Ok(token) = std::fs::read_to_string(&token_file) {
                    let url = format!("http://127.0.0.1:{http_port}/eth/v1/keystores");
                    if let Ok(r) = http.get(&url).bearer_auth(token.trim()).send().await {
                        let v: serde_json::Value = r.json().await.unwrap();
                        return v["data"].as_array().map_or(0, |a| a.len());
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            0
        }
    });
    let out = tokio::task::spawn_blocking({
        let log = log.clone();
        move || {
            Command::new(bin)
                .args(&args)
                .env("HOME", &home)
                .env_remove("RUST_LOG")
                .stderr(std::fs::File::create(&log).unwrap())
                .status()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(out.success(), "lighthouse vc failed:\n{text}");
    // Every duty of epoch 1 for the 63 keys that loaded; none for the one
    // without a password file.
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let chain = h.sim.chain();
    let duties = chain.attester_duties(1);
    let missing_index = VALIDATORS - 1;
    for (v, d) in duties.iter() {
        let done = r.attested.contains(&(d.slot, *v));
        assert_eq!(done, *v != missing_index, "slot {}: validator {v} attested={done}", d.slot);
    }
    assert!(!r.attested.iter().any(|(_, v)| *v == missing_index));
    // The key without a password is named, with the file looked for.
    assert!(
        text.contains(&format!("no password file {}", root.path().join("secrets").join(&missing).display())),
        "{text}"
    );
    // Discovery wrote the definitions (63 keys); the default data dir holds the rest.
    let defs = std::fs::read_to_string(root.path().join("keys/validator_definitions.yml")).unwrap();
    assert_eq!(defs.matches("voting_public_key").count() as u64, VALIDATORS - 1);
    assert!(root.path().join("keys/slashing_protection.sqlite").exists(), "Lighthouse's place for the database");
    assert!(root.path().join("home/.lighthouse/custom").is_dir(), "Lighthouse's default data dir for a --testnet-dir");
    // The keymanager API was served, with the 63 keys.
    assert_eq!(keymanager.await.unwrap(), (VALIDATORS - 1) as usize, "keys listed by the keymanager API");
    // Every flag Kurtosis gives is acted on.
    assert!(!text.contains("accepted but not acted on"), "{text}");
    // Not a terminal: no escape codes.
    assert!(!text.contains('\u{1b}'), "escape codes in a log that is not a terminal");
    eprintln!("kurtosis flags: {} attestations in epoch 1, log {} lines", duties.len() - 1, text.lines().count());
}

/// The same binary as `lighthouse`, with the flags that change where
/// messages go, against three listeners of one simulated chain that also
/// acts as distributed-validator middleware:
/// `--beacon-nodes=A,B --proposer-nodes=C --broadcast=attestations
/// --graffiti-file=F --distributed --log-format=JSON`. Through epochs 1
/// and 2:
/// - every block is produced and published through C only, and carries the
///   graffiti file's default of the moment (the file is rewritten between
///   slots 11 and 12);
/// - every attestation and aggregate POST goes to both A and B;
/// - aggregation follows the middleware's combined selection proofs (it
///   withholds one validator in eight, who then do not aggregate; the node
///   refuses any aggregate whose proof it did not return);
/// - every log line is one JSON object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lighthouse_vc_with_proposer_nodes_broadcast_graffiti_file_and_distributed() {
    let _machine = poolvc_tests::turns::shared();
    let _turn = TURN.lock().await;
    init_logs();
    let root = tempfile::tempdir().unwrap();
    let data = datadir();
    let cfg = SimConfig { genesis_time: now() + 4, distributed: true, ..SimConfig::electra_minimal() };
    let h = SimHandle::<Minimal>::start(cfg.clone(), 3).await;
    let urls = h.urls();
    let graffiti = root.path().join("graffiti.txt");
    std::fs::write(&graffiti, "default: first graffiti\n").unwrap();
    let bin = lighthouse_link(root.path());
    let (monitor, pushes) = client_stats_monitor().await;
    let args: Vec<String> = vec![
        "vc".into(),
        format!("--datadir={}", data.path().display()),
        format!("--monitoring-endpoint=http://{monitor}/api/v1/client/metrics?apikey=secret-api-key"),
        "--monitoring-endpoint-period=5".into(),
        format!("--beacon-nodes={},{}", urls[0], urls[1]),
        format!("--proposer-nodes={}", urls[2]),
        "--broadcast=attestations".into(),
        format!("--graffiti-file={}", graffiti.display()),
        "--distributed".into(),
        "--log-format=JSON".into(),
        "--init-slashing-protection".into(),
        "--suggested-fee-recipient=0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        "--builder-proposals".into(),
        "--max-slots=23".into(),
    ];
    let log = root.path().join("vc.log");
    let run = tokio::task::spawn_blocking({
        let log = log.clone();
        move || {
            Command::new(bin)
                .args(&args)
                .env("RUST_LOG", "info")
                .stderr(std::fs::File::create(&log).unwrap())
                .status()
                .unwrap()
        }
    });
    // Between slot 11's proposal and slot 12's: a new default, written whole.
    let change_at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(cfg.genesis_time * 1000 + 12 * cfg.slot_ms - 1000);
    if let Ok(wait) = change_at.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let tmp = root.path().join("graffiti.txt.new");
    std::fs::write(&tmp, "default: second graffiti\n").unwrap();
    std::fs::rename(&tmp, &graffiti).unwrap();
    let status = run.await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "lighthouse vc failed:\n{text}");
    let r = h.sim.report();
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_epochs(&h, &r, &[1, 2])));
    let line = checked.unwrap_or_else(|e| {
        eprintln!("the client's log:\n{text}");
        std::panic::resume_unwind(e)
    });

    // Blocks: produced and published through the proposer node only.
    let count = |listener: usize, prefix: &str| -> u64 {
        r.routes.iter().filter(|((l, route), _)| *l == listener && route.starts_with(prefix)).map(|(_, n)| n).sum()
    };
    for l in [0, 1] {
        assert_eq!(count(l, "GET /eth/v3/validator/blocks/"), 0, "listener {l} was asked for a block");
        assert_eq!(count(l, "POST /eth/v2/beacon/blocks") + count(l, "POST /eth/v2/beacon/blinded_blocks"), 0);
    }
    let produced = count(2, "GET /eth/v3/validator/blocks/");
    let published = count(2, "POST /eth/v2/beacon/blocks") + count(2, "POST /eth/v2/beacon/blinded_blocks");
    assert!(produced >= 16 && published >= 16, "proposer node: {produced} produced, {published} published");
    assert!(
        count(2, "POST /eth/v1/validator/prepare_beacon_proposer") > 0,
        "the proposer node knows the fee recipients"
    );

    // Graffiti: the file's default at the time of each proposal. Every
    // proposal from slot 12 on starts after the rewrite; one before it that
    // was published before the rewrite read the first file (one published
    // after it, on a slow machine, may have read either).
    let rewrite_ms = 12 * cfg.slot_ms - 1000;
    for slot in 8..=23u64 {
        let got = r.graffiti.get(&slot).map(String::as_str);
        if slot >= 12 {
            assert_eq!(got, Some("second graffiti"), "slot {slot}");
        } else if r.head_ms.get(&slot).is_some_and(|ms| *ms < rewrite_ms) {
            assert_eq!(got, Some("first graffiti"), "slot {slot}");
        } else {
            assert!(matches!(got, Some("first graffiti" | "second graffiti")), "slot {slot}: {got:?}");
        }
    }
    let before = (8..12).filter(|s| r.head_ms.get(s).is_some_and(|ms| *ms < rewrite_ms)).count();
    assert!(before >= 3, "only {before} of slots 8..11 published before the rewrite: the check had nothing to check");

    // Attestations and aggregates: to both beacon nodes, none to the proposer node.
    let atts = [count(0, "POST /eth/v2/beacon/pool/attestations"), count(1, "POST /eth/v2/beacon/pool/attestations")];
    let aggs = [
        count(0, "POST /eth/v2/validator/aggregate_and_proofs"),
        count(1, "POST /eth/v2/validator/aggregate_and_proofs"),
    ];
    assert!(atts[0] >= 16 && atts[0] == atts[1], "attestation POSTs per node: {atts:?}");
    assert!(aggs[0] > 0 && aggs[0] == aggs[1], "aggregate POSTs per node: {aggs:?}");
    assert_eq!(count(2, "POST /eth/v2/beacon/pool/attestations"), 0);

    // Distributed: proofs exchanged through the selections routes.
    let sel = count(0, "POST /eth/v1/validator/beacon_committee_selections")
        + count(1, "POST /eth/v1/validator/beacon_committee_selections");
    let sync_sel = count(0, "POST /eth/v1/validator/sync_committee_selections")
        + count(1, "POST /eth/v1/validator/sync_committee_selections");
    assert!(sel >= 2 && sync_sel >= 2, "selections requests: {sel} attestation, {sync_sel} sync");
    assert!(r.selections.0 > 0 && r.selections.1 > 0, "{:?}", r.selections);

    // JSON logs: every line an object with a message.
    let mut lines = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.get("message").is_some() || v.get("fields").is_some(), "{l}");
        lines += 1;
    }
    assert!(text.contains("slot 12: "), "the per-slot line of slot 12:\n{text}");

    // Client stats: pushed at start and every 5 s, in the monitor's format;
    // the API key stays out of the log.
    let pushes = pushes.lock().unwrap().clone();
    assert!(pushes.len() >= 5, "{} client-stats pushes in a run of 24 slots", pushes.len());
    for (query, body) in &pushes {
        assert_eq!(query, "apikey=secret-api-key");
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let objects = v.as_array().unwrap();
        let validator = objects.iter().find(|o| o["process"] == "validator").unwrap();
        let system = objects.iter().find(|o| o["process"] == "system").unwrap();
        assert_eq!(validator["version"], 1);
        assert_eq!(validator["validator_total"], VALIDATORS);
        assert_eq!(validator["sync_eth2_fallback_configured"], true);
        assert!(validator["memory_process_bytes"].as_u64().unwrap() > 0);
        assert!(system["memory_node_bytes_total"].as_u64().unwrap() > 0);
    }
    let last = serde_json::from_slice::<serde_json::Value>(&pushes.last().unwrap().1).unwrap();
    assert_eq!(last[0]["validator_active"], VALIDATORS, "every key known to the chain by the last push");
    assert!(!text.contains("secret-api-key"), "the monitoring API key in the log");
    eprintln!(
        "proposer/broadcast/graffiti/distributed: {line}; proposer node {produced} produced {published} published; \
         attestation POSTs per node {atts:?}; combined proofs {:?}; {lines} JSON log lines; {} client-stats pushes",
        r.selections,
        pushes.len()
    );
}
