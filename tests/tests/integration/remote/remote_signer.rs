//! Remote signing end to end (compiled into the `keymanager_api` test
//! binary, sharing its turns: one simulated chain on the clock at a time): `poolvc vc` holds no secret key, only
//! `web3signer` entries, and signs every duty through `poolvc signer`
//! processes over HTTP, against the simulated Electra/Fulu node (minimal
//! preset, real BLS: the node verifies every signature and flags anything
//! slashable).
//!
//! - One signer (SQLite): every duty of epochs 1 and 2 done (across the Fulu
//!   fork), builder registrations included; before genesis one key is
//!   deleted and imported again through the keymanager's remote keys API.
//! - Two signers sharing one PostgreSQL slashing database, the second as the
//!   entries' fallback URL: the first is killed (SIGKILL) mid-epoch 1; the
//!   duties continue on the second, every duty of epoch 2 is done, and
//!   nothing slashable is ever signed.
//! - The signer's answers to bad requests: a malformed body, an unknown
//!   key, another network, a signing root that is not the message's (400,
//!   404, 400, 400) and a slashable attestation (412).

use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::types::*;
use poolvc_signer::web3signer::{request_for, BatchAnswer, SIGN_PATH};
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::TURN;

/// A `poolvc signer` process; killed on drop.
struct Signer {
    child: Child,
    url: String,
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Signer {
    /// Starts a signer on the keystores of `keys_dir` (Lighthouse layout),
    /// its data in `data`, its chain config from `node`.
    fn start(keys_dir: &Path, data: &Path, node: &str, postgres: Option<&str>) -> Self {
        let mut cmd = Command::new(poolvc_bin());
        cmd.args(["signer", "--http-listen-port", "0", "--beacon-node", node])
            .arg("--datadir")
            .arg(data)
            .arg("--keystores-path")
            .arg(keys_dir.join("validators"))
            .arg("--keystores-passwords-path")
            .arg(keys_dir.join("secrets"))
            .args(["--threads", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = postgres {
            cmd.args(["--slashing-protection-db-url", url]);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(u) = line.strip_prefix("url=") {
                    let _ = tx.send(u.to_string());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(120)).expect("the signer prints its url");
        Self { child, url }
    }
}

/// `validator_definitions.yml` with one `web3signer` entry per validator.
fn remote_definitions(dir: &Path, urls: &[&str]) {
    let vdir = dir.join("validators");
    std::fs::create_dir_all(&vdir).unwrap();
    let mut yml = String::from("---\n");
    for v in 0..VALIDATORS {
        let pk = interop_secret_key(v).public_key().to_bytes();
        yml.push_str(&format!(
            "- enabled: true\n  voting_public_key: \"{pk}\"\n  type: web3signer\n  url: \"{}\"\n  request_timeout_ms: 4000\n",
            urls[0]
        ));
        if urls.len() > 1 {
            yml.push_str("  fallback_urls:\n");
            for u in &urls[1..] {
                yml.push_str(&format!("    - \"{u}\"\n"));
            }
        }
    }
    std::fs::write(vdir.join("validator_definitions.yml"), yml).unwrap();
}

async fn bad_requests_are_answered_as_web3signer_does<P: Preset>(h: &SimHandle<P>, signer: &str) {
    let http = reqwest::Client::new();
    let spec = h.sim.spec().clone();
    let gvr = h.sim.genesis_validators_root();
    let pk = interop_secret_key(5).public_key().to_bytes();
    let post = |path: String, body: String| {
        let http = http.clone();
        async move {
            let r = http.post(path).header("content-type", "application/json").body(body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let url = format!("{signer}{SIGN_PATH}/{pk}");
    // Malformed.
    let (s, t) = post(url.clone(), "{\"type\":\"ATTESTATION\"}".into()).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("malformed"), "{t}");
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr };
    let req = |d: &AttestationData| {
        let m = SignableMessage::<P>::Attestation(d);
        request_for(&spec, gvr, &m, ctx.signing_root(&m)).unwrap()
    };
    // Far-future votes and blocks are refused (412, nothing recorded), so
    // they cannot poison the key's slashing watermarks: 10^12 epochs, a
    // block at slot 10^15.
    let far = AttestationData {
        slot: 8,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(3),
        source: Checkpoint { epoch: 0, root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch: 1_000_000_000_000, root: Hash256::repeat_byte(2) },
    };
    let (s, t) = post(url.clone(), serde_json::to_string(&req(&far)).unwrap()).await;
    assert_eq!(s, 412, "{t}");
    assert!(t.contains("ahead of the wall clock"), "{t}");
    let header = BeaconBlockHeader {
        slot: 1_000_000_000_000_000,
        proposer_index: 5,
        parent_root: Hash256::ZERO,
        state_root: Hash256::ZERO,
        body_root: Hash256::ZERO,
    };
    let m = SignableMessage::<P>::BlockHeader(&header);
    let block = request_for(&spec, gvr, &m, ctx.signing_root(&m)).unwrap();
    let (s, t) = post(url.clone(), serde_json::to_string(&block).unwrap()).await;
    assert_eq!(s, 412, "{t}");
    // A vote for the epoch the clock is in (after the client's last, epoch
    // 2) is signed: the far-future ones left no mark. The same target
    // again with another root: 412.
    // The client attested through epoch 2: wait for epoch 3 on the clock.
    let epoch3_ms = h.sim.config().genesis_time * 1000 + spec.start_slot(3) * spec.slot_duration_ms;
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(epoch3_ms.saturating_sub(now_ms()))).await;
    let slot = (now_ms() - h.sim.config().genesis_time * 1000) / spec.slot_duration_ms;
    let target = spec.epoch_of(slot);
    assert!(target >= 3, "the clock is at slot {slot}");
    let data = |root: u8| AttestationData {
        slot,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(root),
        source: Checkpoint { epoch: target - 1, root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch: target, root: Hash256::repeat_byte(2) },
    };
    let first = req(&data(7));
    let (s, t) = post(url.clone(), serde_json::to_string(&first).unwrap()).await;
    assert_eq!(s, 200, "{t}");
    // No `Accept`: JSON, as from Web3Signer.
    let answer: serde_json::Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}"));
    let sig: SignatureBytes = answer["signature"].as_str().unwrap().parse().unwrap();
    // `Accept: text/plain`: the signature as text.
    let r = http
        .post(url.clone())
        .header("content-type", "application/json")
        .header("accept", "text/plain")
        .body(serde_json::to_string(&first).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap().trim().parse::<SignatureBytes>().unwrap(), sig);
    let expect = interop_secret_key(5).sign(ctx.signing_root(&SignableMessage::<P>::Attestation(&data(7))).as_slice());
    assert_eq!(sig, expect.to_bytes(), "the signer signs the message's root with the key");
    let (s, t) = post(url.clone(), serde_json::to_string(&req(&data(8))).unwrap()).await;
    assert_eq!(s, 412, "a double vote: {t}");
    // Unknown key.
    let stranger = interop_secret_key(VALIDATORS + 7).public_key().to_bytes();
    let (s, t) = post(format!("{signer}{SIGN_PATH}/{stranger}"), serde_json::to_string(&first).unwrap()).await;
    assert_eq!(s, 404, "{t}");
    // Another network.
    let mut other = first.clone();
    other.fork_info.as_mut().unwrap().genesis_validators_root = Hash256::repeat_byte(0x42);
    let (s, t) = post(url.clone(), serde_json::to_string(&other).unwrap()).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("network"), "{t}");
    // A signing root that is not the message's.
    let mut lie = first.clone();
    lie.signing_root = Some(Hash256::repeat_byte(9));
    let (s, t) = post(url.clone(), serde_json::to_string(&lie).unwrap()).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("signingRoot"), "{t}");
    // The batch route answers each entry in order.
    let batch = serde_json::json!([
        { "identifier": pk, "request": req(&data(7)) },
        { "identifier": stranger, "request": req(&data(7)) },
        { "identifier": pk, "request": req(&data(9)) },
    ]);
    let (s, t) = post(format!("{signer}/api/v1/eth2/sign_batch"), batch.to_string()).await;
    assert_eq!(s, 200, "{t}");
    let answers: Vec<BatchAnswer> = serde_json::from_str(&t).unwrap();
    assert_eq!(answers[0], BatchAnswer::Signed { signature: sig }, "the same message again: signed again");
    assert!(matches!(answers[1], BatchAnswer::Refused { status: 404, .. }), "{t}");
    assert!(matches!(answers[2], BatchAnswer::Refused { status: 412, .. }), "{t}");
    // Health and keys.
    let keys: Vec<String> =
        http.get(format!("{signer}/api/v1/eth2/publicKeys")).send().await.unwrap().json().await.unwrap();
    assert_eq!(keys.len() as u64, VALIDATORS);
    assert_eq!(http.get(format!("{signer}/upcheck")).send().await.unwrap().text().await.unwrap(), "OK");
    let hc = http.get(format!("{signer}/healthcheck")).send().await.unwrap();
    assert_eq!(hc.status().as_u16(), 200);
}

/// Before genesis: the remote keys are listed with their signer; one is
/// deleted (out of `validator_definitions.yml`) and imported again with its
/// URL, so its duties in the checked epochs prove the import signs.
async fn remote_keys_through_the_keymanager_api(dir: &Path, port: u16, signer: &str) {
    let token_file = dir.join("validators/api-token.txt");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/eth/v1/remotekeys");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let token = loop {
        if let Ok(t) = std::fs::read_to_string(&token_file) {
            if http.get(&base).bearer_auth(t.trim()).send().await.is_ok_and(|r| r.status() == 200) {
                break t.trim().to_string();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "keymanager API not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let call = |m: reqwest::Method, body: serde_json::Value| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let r = http.request(m, &base).bearer_auth(&token).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, v) = call(reqwest::Method::GET, serde_json::Value::Null).await;
    assert_eq!(s, 200, "{v}");
    let listed = v["data"].as_array().unwrap();
    assert_eq!(listed.len() as u64, VALIDATORS, "{v}");
    assert!(listed.iter().all(|k| k["url"] == serde_json::json!(signer) && k["readonly"] == serde_json::json!(false)));
    let last = interop_secret_key(VALIDATORS - 1).public_key().to_bytes().to_string();
    // Remote keys are not keystores.
    let ks = format!("http://127.0.0.1:{port}/eth/v1/keystores");
    let v: serde_json::Value = http.get(&ks).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"], serde_json::json!([]), "{v}");
    let (s, v) = call(reqwest::Method::DELETE, serde_json::json!({ "pubkeys": [last] })).await;
    assert_eq!((s, &v["data"][0]["status"]), (200, &serde_json::json!("deleted")), "{v}");
    let defs = std::fs::read_to_string(dir.join("validators/validator_definitions.yml")).unwrap();
    assert!(!defs.contains(&last[2..]), "the deleted key is out of the definitions");
    let (_, v) = call(reqwest::Method::GET, serde_json::Value::Null).await;
    assert_eq!(v["data"].as_array().unwrap().len() as u64, VALIDATORS - 1);
    let (s, v) = call(
        reqwest::Method::POST,
        serde_json::json!({ "remote_keys": [
            { "pubkey": last, "url": signer },
            { "pubkey": last, "url": signer },
            { "pubkey": interop_secret_key(0).public_key().to_bytes().to_string(), "url": "ftp://nowhere" },
        ] }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["status"], serde_json::json!("imported"), "{v}");
    assert_eq!(v["data"][1]["status"], serde_json::json!("duplicate"), "{v}");
    assert_eq!(v["data"][2]["status"], serde_json::json!("error"), "{v}");
    let defs = std::fs::read_to_string(dir.join("validators/validator_definitions.yml")).unwrap();
    assert!(defs.contains(&last[2..]), "the imported key is in the definitions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_signs_every_duty_through_poolvc_signer() {
    let _machine = poolvc_tests::turns::shared();
    let _turn = TURN.lock().await;
    init_logs();
    let keys = datadir();
    let signer_data = tempfile::tempdir().unwrap();
    let vc_dir = tempfile::tempdir().unwrap();
    poolvc_bin();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    let signer = Signer::start(keys.path(), signer_data.path(), &h.urls()[0], None);
    remote_definitions(vc_dir.path(), &[&signer.url]);
    let mut cfg = vc_config(h.urls(), vc_dir.path(), 23);
    let port = super::free_port();
    cfg.keymanager = Some(poolvc::http::keymanager::KeymanagerConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        allow_origin: None,
        token_path: None,
        passwords_in_secrets_dir: false,
    });
    let client = tokio::spawn(poolvc::runtime::run(cfg));
    remote_keys_through_the_keymanager_api(vc_dir.path(), port, &signer.url).await;
    let summary = client.await.unwrap().unwrap();
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1, 2]);
    eprintln!("through poolvc signer: {line}; client {summary:?}");
    bad_requests_are_answered_as_web3signer_does(&h, &signer.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_signers_share_postgres_and_one_is_killed() {
    let _machine = poolvc_tests::turns::shared();
    let Some(pg) = tokio::task::spawn_blocking(|| poolvc_tests::fresh_postgres("remote_signers")).await.unwrap() else {
        return;
    };
    let _turn = TURN.lock().await;
    init_logs();
    let keys = datadir();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let vc_dir = tempfile::tempdir().unwrap();
    poolvc_bin();
    let cfg = SimConfig::electra_minimal();
    let h = SimHandle::<Minimal>::start(cfg.clone(), 1).await;
    let mut first = Signer::start(keys.path(), d1.path(), &h.urls()[0], Some(&pg));
    let second = Signer::start(keys.path(), d2.path(), &h.urls()[0], Some(&pg));
    remote_definitions(vc_dir.path(), &[&first.url, &second.url]);
    let client = tokio::spawn(poolvc::runtime::run(vc_config(h.urls(), vc_dir.path(), 23)));
    // Mid-epoch 1 (slot 12): the first signer dies.
    let kill_at_ms = cfg.genesis_time * 1000 + 12 * cfg.slot_ms + 300;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(kill_at_ms.saturating_sub(now_ms))).await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let summary = client.await.unwrap().unwrap();
    let r = h.sim.report();
    assert!(
        r.failures.is_empty(),
        "the node found problems (anything slashable among them):\n{}",
        r.failures.join("\n")
    );
    let line = check_epochs(&h, &r, &[2]);
    // Both signers recorded into the one database: epoch 1's early slots by
    // the first, the rest by the second.
    let url = pg.clone();
    let n: i64 = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one("SELECT count(*) FROM signed_attestations", &[]).unwrap().get(0)
    })
    .await
    .unwrap();
    assert!(n as u64 >= VALIDATORS, "attestations recorded in the shared database: {n}");
    eprintln!("first signer killed at slot 12: {line}; {n} attestations in the shared database; client {summary:?}");
    drop(second);
}
