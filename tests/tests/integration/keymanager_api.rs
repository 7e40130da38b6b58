//! The keymanager API (`--http`) of a client running against the simulated
//! Electra node (minimal preset, 2-second slots, real BLS: the node verifies
//! every signature and flags anything slashable).
//!
//! - Every route: without the token 401, with a wrong one 403, bad bodies
//!   and bad keys 400 with the spec's `{"message"}`, unknown keys 404; fee
//!   recipient, gas limit and graffiti set, read back, persisted in
//!   `validator_definitions.yml` and deleted; a voluntary exit signed and
//!   checked with BLS against the chain's domain.
//! - Imports: a keystore that does not decrypt is an `error` entry; an
//!   interchange for another network refuses the whole request with nothing
//!   imported; a key already held is a `duplicate`.
//! - Import, delete and re-import of one key while the client runs: it
//!   attests after the import, stops at the deletion (whose slashing data
//!   equals what the database holds), attests again after the re-import with
//!   that data, and the node never sees anything slashable.
//! - With doppelganger protection on, a key imported at run time is held
//!   and watched for a window of its own before it signs; the keys already
//!   signing go on meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::http::keymanager::KeymanagerConfig;
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::keystore::Keystore;
use poolvc_signer::keys::Kdf;
use poolvc_signer::slashing::interchange::Interchange;
use poolvc_signer::slashing::SlashingDatabase;
use poolvc_signer::types::*;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use serde_json::{json, Value};
use std::time::Duration;

/// The key imported at run time.
const NEW: u64 = 63;

/// Remote signing through `poolvc signer` (a child of this module: its runs
/// share the turns below and `free_port`).
#[path = "remote/remote_signer.rs"]
mod remote_signer;

/// The runs take turns: each is a client and a simulated chain on the clock.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn keystore_json(v: u64, password: &str) -> String {
    let ks =
        Keystore::encrypt(&interop_secret_key(v), password, Kdf::Pbkdf2 { c: 16 }, "m/12381/3600/0/0/0", None).unwrap();
    ks.to_json_string()
}

fn pubkey(v: u64) -> String {
    interop_secret_key(v).public_key().to_bytes().to_string()
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, v)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None, Some(&self.token)).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body), Some(&self.token)).await
    }

    async fn delete(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, body, Some(&self.token)).await
    }
}

fn has_message(v: &Value) -> bool {
    v["message"].as_str().is_some_and(|m| !m.is_empty())
}

/// The highest slot in which `v` attested, per the node.
fn last_attested<P: Preset>(h: &SimHandle<P>, v: u64) -> Option<u64> {
    h.sim.report().attested.iter().filter(|(_, x)| *x == v).map(|(s, _)| *s).max()
}

async fn wait_for_attestation<P: Preset>(h: &SimHandle<P>, v: u64, after: u64, within: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(s) = last_attested(h, v) {
            if s > after {
                return s;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "validator {v} did not attest after slot {after}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn current_slot<P: Preset>(h: &SimHandle<P>) -> u64 {
    let genesis_ms = h.sim.config().genesis_time * 1000;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    now_ms.saturating_sub(genesis_ms) / h.sim.config().slot_ms
}

async fn routes_answer_as_the_spec_says<P: Preset>(api: &Api, h: &SimHandle<P>, dir: &std::path::Path) {
    let k0 = pubkey(0);
    let stranger = format!("0x{}", "a1".repeat(48));
    let paths = [
        "/eth/v1/keystores".to_string(),
        "/eth/v1/remotekeys".to_string(),
        format!("/eth/v1/validator/{k0}/feerecipient"),
        format!("/eth/v1/validator/{k0}/gas_limit"),
        format!("/eth/v1/validator/{k0}/graffiti"),
        format!("/eth/v1/validator/{k0}/voluntary_exit"),
    ];
    for p in &paths {
        for m in [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::DELETE] {
            let (s, v) = api.call(m.clone(), p, Some(json!({})), None).await;
            assert_eq!(s, 401, "{m} {p} without a token: {v}");
            assert!(has_message(&v), "{m} {p}: {v}");
            let (s, v) = api.call(m.clone(), p, Some(json!({})), Some("api-token-0xwrong")).await;
            assert_eq!(s, 403, "{m} {p} with a wrong token: {v}");
            assert!(has_message(&v), "{m} {p}: {v}");
        }
    }

    // Listing.
    let (s, v) = api.get("/eth/v1/keystores").await;
    assert_eq!(s, 200, "{v}");
    let listed = v["data"].as_array().unwrap();
    assert_eq!(listed.len(), NEW as usize, "{v}");
    assert!(listed.iter().all(|k| k["readonly"] == json!(false) && k["validating_pubkey"].as_str().is_some()));
    assert!(listed.iter().any(|k| k["validating_pubkey"] == json!(k0)));
    let (s, v) = api.get("/eth/v1/remotekeys").await;
    assert_eq!((s, v), (200, json!({ "data": [] })));

    // Bad bodies: 400 with a message, nothing imported.
    for bad in [
        api.call(reqwest::Method::POST, "/eth/v1/keystores", None, Some(&api.token)).await,
        api.post("/eth/v1/keystores", json!({ "keystores": [] })).await,
        api.post("/eth/v1/keystores", json!({ "keystores": ["{}"], "passwords": [] })).await,
        api.post("/eth/v1/keystores", json!({ "keystores": [1], "passwords": ["x"] })).await,
        api.delete("/eth/v1/keystores", Some(json!({ "pubkeys": ["0x12"] }))).await,
        api.delete("/eth/v1/keystores", Some(json!({}))).await,
    ] {
        assert_eq!(bad.0, 400, "{}", bad.1);
        assert!(has_message(&bad.1), "{}", bad.1);
    }

    // A keystore that does not decrypt, a key already held.
    let (s, v) = api
        .post(
            "/eth/v1/keystores",
            json!({ "keystores": [keystore_json(NEW, "right"), keystore_json(0, "pw0")], "passwords": ["wrong", "pw0"] }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["status"], json!("error"), "{v}");
    assert!(v["data"][0]["message"].as_str().unwrap().contains("keystores[0]"), "{v}");
    assert_eq!(v["data"][1]["status"], json!("duplicate"), "{v}");

    // An interchange for another network: refused whole.
    let other = json!({
        "metadata": { "interchange_format_version": "5", "genesis_validators_root": format!("0x{}", "42".repeat(32)) },
        "data": []
    });
    let (s, v) = api
        .post(
            "/eth/v1/keystores",
            json!({ "keystores": [keystore_json(NEW, "pw")], "passwords": ["pw"], "slashing_protection": other.to_string() }),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("another network"), "{v}");
    let (_, v) = api.get("/eth/v1/keystores").await;
    assert_eq!(v["data"].as_array().unwrap().len(), NEW as usize, "nothing imported");
    assert!(!std::fs::read_to_string(dir.join("validators/validator_definitions.yml"))
        .unwrap()
        .contains(&pubkey(NEW)[2..]));

    // Fee recipient.
    let fr = format!("/eth/v1/validator/{k0}/feerecipient");
    let (s, v) = api.get(&fr).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["ethaddress"], json!(format!("0x{}", "aa".repeat(20))), "{v}");
    assert_eq!(v["data"]["pubkey"], json!(k0));
    let bb = format!("0x{}", "bb".repeat(20));
    assert_eq!(api.post(&fr, json!({ "ethaddress": bb })).await.0, 202);
    assert_eq!(api.get(&fr).await.1["data"]["ethaddress"], json!(bb));
    let defs = std::fs::read_to_string(dir.join("validators/validator_definitions.yml")).unwrap();
    assert!(defs.contains(&bb[2..]), "persisted: {defs}");
    for bad in [json!({ "ethaddress": format!("0x{}", "00".repeat(20)) }), json!({ "ethaddress": "0x12" }), json!({})] {
        let (s, v) = api.post(&fr, bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(has_message(&v));
    }
    assert_eq!(api.delete(&fr, None).await.0, 204);
    assert_eq!(api.get(&fr).await.1["data"]["ethaddress"], json!(format!("0x{}", "aa".repeat(20))));
    let (s, v) = api.get(&format!("/eth/v1/validator/{stranger}/feerecipient")).await;
    assert_eq!(s, 404, "{v}");
    assert!(has_message(&v));
    let (s, v) = api.get("/eth/v1/validator/0x1234/feerecipient").await;
    assert_eq!(s, 400, "{v}");

    // Gas limit.
    let gl = format!("/eth/v1/validator/{k0}/gas_limit");
    assert_eq!(api.get(&gl).await.1["data"]["gas_limit"], json!(poolvc::policy::DEFAULT_GAS_LIMIT.to_string()));
    assert_eq!(api.post(&gl, json!({ "gas_limit": "30000000" })).await.0, 202);
    assert_eq!(api.get(&gl).await.1["data"]["gas_limit"], json!("30000000"));
    assert_eq!(api.post(&gl, json!({ "gas_limit": 30000000 })).await.0, 400, "a number, not a string");
    assert_eq!(api.post(&gl, json!({ "gas_limit": "-1" })).await.0, 400);
    assert_eq!(api.delete(&gl, None).await.0, 204);
    assert_eq!(api.get(&gl).await.1["data"]["gas_limit"], json!(poolvc::policy::DEFAULT_GAS_LIMIT.to_string()));

    // Graffiti.
    let gf = format!("/eth/v1/validator/{k0}/graffiti");
    assert_eq!(api.get(&gf).await.1["data"]["graffiti"], json!("simnode test"));
    assert_eq!(api.post(&gf, json!({ "graffiti": "keymanager" })).await.0, 202);
    assert_eq!(api.get(&gf).await.1["data"]["graffiti"], json!("keymanager"));
    assert_eq!(api.post(&gf, json!({ "graffiti": "x".repeat(33) })).await.0, 400);
    assert_eq!(api.delete(&gf, None).await.0, 204);
    assert_eq!(api.get(&gf).await.1["data"]["graffiti"], json!("simnode test"));

    // A voluntary exit for an epoch the clock has not reached: refused (an
    // exit signed for the current epoch stays valid for good, EIP-7044).
    let (s, v) = api.post(&format!("/eth/v1/validator/{}/voluntary_exit?epoch=3", pubkey(1)), json!(null)).await;
    assert_eq!(s, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("ahead of the wall clock"), "{v}");
    // A voluntary exit, verified with BLS under the chain's exit domain.
    let (s, v) = api.post(&format!("/eth/v1/validator/{}/voluntary_exit?epoch=0", pubkey(1)), json!(null)).await;
    assert_eq!(s, 200, "{v}");
    let signed: SignedVoluntaryExit = serde_json::from_value(v["data"].clone()).unwrap();
    assert_eq!((signed.message.epoch, signed.message.validator_index), (0, 1));
    let ctx = SigningContext { spec: h.sim.spec(), genesis_validators_root: h.sim.genesis_validators_root() };
    let root = ctx.signing_root::<P>(&SignableMessage::VoluntaryExit(&signed.message));
    let sig = blst::min_pk::Signature::from_bytes(signed.signature.as_slice()).unwrap();
    let pk = interop_secret_key(1).public_key();
    assert_eq!(
        sig.verify(true, root.as_slice(), poolvc_signer::keys::ETH_DST, &[], pk.as_blst(), true),
        blst::BLST_ERROR::BLST_SUCCESS,
        "the exit verifies"
    );
    assert_eq!(api.post(&format!("/eth/v1/validator/{stranger}/voluntary_exit"), json!(null)).await.0, 404);
    assert_eq!(api.post(&format!("/eth/v1/validator/{k0}/voluntary_exit?epoch=x"), json!(null)).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keymanager_api_while_running() {
    let _machine = poolvc_tests::turns::shared();
    let _turn = TURN.lock().await;
    init_logs();
    // Keys 0..62 on disk; 63 comes through the API.
    let dir = tempfile::tempdir().unwrap();
    let opts = poolvc::cmd::keys::WriteOptions {
        out: dir.path().to_path_buf(),
        kdf: poolvc_signer::keys::Kdf::Pbkdf2 { c: 16 },
    };
    poolvc::cmd::keys::write_interop(0..=NEW - 1, &opts).unwrap();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    let port = free_port();
    let mut cfg = vc_config(h.urls(), dir.path(), 44);
    cfg.keymanager = Some(KeymanagerConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        allow_origin: None,
        token_path: None,
        passwords_in_secrets_dir: true,
    });
    let client = tokio::spawn(poolvc::runtime::run(cfg));
    let token_file = dir.path().join("validators/api-token.txt");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !token_file.exists() {
        assert!(tokio::time::Instant::now() < deadline, "no token file");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token file is private");
    }
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        token: std::fs::read_to_string(&token_file).unwrap().trim().to_string(),
        http: reqwest::Client::new(),
    };
    // The API answers once the client is up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api.http.get(format!("{}/eth/v1/keystores", api.base)).send().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "keymanager API not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    routes_answer_as_the_spec_says(&api, &h, dir.path()).await;

    // Import 63: it attests.
    let (s, v) = api
        .post("/eth/v1/keystores", json!({ "keystores": [keystore_json(NEW, "pw63")], "passwords": ["pw63"] }))
        .await;
    assert_eq!((s, &v["data"][0]["status"]), (200, &json!("imported")), "{v}");
    assert!(dir.path().join("secrets").join(pubkey(NEW)).exists(), "--http-store-passwords-in-secrets-dir");
    let imported_at = current_slot(&h);
    let first = wait_for_attestation(&h, NEW, imported_at.saturating_sub(1), Duration::from_secs(40)).await;
    eprintln!("imported at slot {imported_at}; attested at slot {first}");

    // Delete it: it stops, and its slashing data comes back.
    let (s, v) = api
        .delete("/eth/v1/keystores", Some(json!({ "pubkeys": [pubkey(NEW), format!("0x{}", "a1".repeat(48))] })))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["status"], json!("deleted"), "{v}");
    assert_eq!(v["data"][1]["status"], json!("not_found"), "{v}");
    let deleted_at = current_slot(&h);
    let exported = Interchange::from_json_str("response", v["slashing_protection"].as_str().unwrap()).unwrap();
    assert_eq!(exported.data.len(), 1, "only the deleted key's data: {exported:?}");
    assert!(!exported.data[0].signed_attestations.is_empty(), "it had attested");
    let db = poolvc_signer::slashing::sqlite::SqliteSlashingDb::open_existing_or_new(
        &dir.path().join("validators").join(poolvc_signer::slashing::sqlite::SQLITE_FILE),
    )
    .unwrap();
    let held = db.export_interchange(Some(&[interop_secret_key(NEW).public_key().to_bytes()])).unwrap();
    assert_eq!(held, exported, "the exported data is what the database holds");
    assert!(!dir.path().join("validators").join(pubkey(NEW)).exists(), "its keystore is gone");
    // A second delete: not active here any more, the same data again.
    let (_, again) = api.delete("/eth/v1/keystores", Some(json!({ "pubkeys": [pubkey(NEW)] }))).await;
    assert_eq!(again["data"][0]["status"], json!("not_active"), "{again}");
    // A whole epoch without it.
    tokio::time::sleep(Duration::from_millis(9 * h.sim.config().slot_ms)).await;
    let last = last_attested(&h, NEW).unwrap();
    assert!(last <= deleted_at, "validator {NEW} attested at slot {last} after its deletion at slot {deleted_at}");

    // Re-import it with its history: it attests again.
    let (s, v) = api
        .post(
            "/eth/v1/keystores",
            json!({ "keystores": [keystore_json(NEW, "again")], "passwords": ["again"],
                    "slashing_protection": v["slashing_protection"] }),
        )
        .await;
    assert_eq!((s, &v["data"][0]["status"]), (200, &json!("imported")), "{v}");
    let back = wait_for_attestation(&h, NEW, last, Duration::from_secs(40)).await;
    eprintln!("deleted at slot {deleted_at}; re-imported; attested again at slot {back}");

    let summary = client.await.unwrap().unwrap();
    let r = h.sim.report();
    assert!(
        r.failures.is_empty(),
        "the node found problems (anything slashable among them):\n{}",
        r.failures.join("\n")
    );
    eprintln!("client {summary:?}; {} signatures verified by the node", r.signatures_verified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_imported_key_waits_for_its_own_doppelganger_window() {
    let _machine = poolvc_tests::turns::shared();
    let _turn = TURN.lock().await;
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let opts = poolvc::cmd::keys::WriteOptions {
        out: dir.path().to_path_buf(),
        kdf: poolvc_signer::keys::Kdf::Pbkdf2 { c: 16 },
    };
    poolvc::cmd::keys::write_interop(0..=NEW - 1, &opts).unwrap();
    let h = SimHandle::<Minimal>::start(SimConfig::electra_minimal(), 1).await;
    let port = free_port();
    let mut cfg = vc_config(h.urls(), dir.path(), 50);
    cfg.doppelganger_epochs = 1;
    cfg.keymanager = Some(KeymanagerConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        allow_origin: None,
        token_path: None,
        passwords_in_secrets_dir: false,
    });
    let client = tokio::spawn(poolvc::runtime::run(cfg));
    let spe = 8u64;
    // The start's window: epoch 1 watched, signing from epoch 2 (slot 16).
    let first = wait_for_attestation(&h, 0, 0, Duration::from_secs(60)).await;
    assert!(first >= 2 * spe, "validator 0 attested at slot {first}, inside the start's window");
    let token = std::fs::read_to_string(dir.path().join("validators/api-token.txt")).unwrap();
    let api =
        Api { base: format!("http://127.0.0.1:{port}"), token: token.trim().to_string(), http: reqwest::Client::new() };
    let (s, v) =
        api.post("/eth/v1/keystores", json!({ "keystores": [keystore_json(NEW, "pw")], "passwords": ["pw"] })).await;
    assert_eq!((s, &v["data"][0]["status"]), (200, &json!("imported")), "{v}");
    let imported_at = current_slot(&h);
    // Its window: the first whole epoch after the import, then it signs.
    let window_end = (imported_at / spe + 2) * spe;
    let back = wait_for_attestation(&h, NEW, 0, Duration::from_secs(70)).await;
    assert!(
        back >= window_end,
        "validator {NEW} imported at slot {imported_at} attested at slot {back}, before slot {window_end}"
    );
    let others =
        h.sim.report().attested.iter().filter(|(s, v)| *v != NEW && *s > imported_at && *s < window_end).count();
    assert!(others > 0, "the other keys went on attesting during the new key's window");
    client.await.unwrap().unwrap();
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "{}", r.failures.join("\n"));
    eprintln!("imported at slot {imported_at}; held until slot {window_end}; first attestation at slot {back}");
}
