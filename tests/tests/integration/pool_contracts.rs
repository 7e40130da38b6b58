//! The pool reader against the devnet pool contracts on a real EVM node
//! (anvil, from `contracts/tools`, the contracts built by `contracts/test.sh`):
//! the key map and each operator's rule as deployed, and each bad input
//! (unreachable RPC, another chain, a revert, return data that is not the
//! function's, a stale read) giving a clear error and no recipient, while the
//! keys go on attesting through the store.
//!
//! Without anvil or the built contracts the tests say they are skipped,
//! except under `CI=true`, where that is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::el::ancestry::Ancestry;
use poolvc::el::proof::{ExecAnchor, ProofError};
use poolvc::el::proven::{ProvenError, ProvenReader, Reads};
use poolvc::el::rpc::{EthRpc, RpcError};
use poolvc::events::EventBus;
use poolvc::outcome::{Outcome, Refusal};
use poolvc::policy::pool_rules::Facts;
use poolvc::policy::{PoolRecipient, ProposalConfig};
use poolvc::pool::config::{LidoModule, LidoPins, PoolSpec, PoolsConfig};
use poolvc::pool::map::PoolMap;
use poolvc::pool::reader::{
    read_frame_config, read_lido_addresses, read_operator, ChainTime, LidoAddresses, ReadError,
};
use poolvc::pool::snapshot;
use poolvc::store::{AttestationToSign, StoreTimings, ValidatorStore};
use poolvc_signer::clock::WallClock;
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
use poolvc_signer::types::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

struct Anvil {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// anvil on a free port with the devnet pools deployed for interop keys
/// 0..31; `None` (skipped) if anvil or the contracts are not built.
fn anvil(port: u16) -> Option<Anvil> {
    anvil_with(port, 0)
}

/// anvil on `port` with nothing deployed; `None` (skipped) as [`anvil`].
fn spawn(port: u16) -> Option<Anvil> {
    let bin = root().join("contracts/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    let built = root().join("contracts/out/NodeRegistry.sol/PermissionlessNodeRegistry.json");
    if !bin.exists() || !built.exists() {
        let ci = std::env::var("CI").as_deref() == Ok("true");
        assert!(!ci, "CI=true but anvil or the built contracts are missing: run contracts/test.sh first");
        eprintln!("skipped: no anvil at {} or no contracts built (contracts/test.sh)", bin.display());
        return None;
    }
    let child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--silent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("anvil starts");
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let a = Anvil { child, url, dir };
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(a)
}

/// As [`anvil`], with `cmv2` more keys (32..) for a curated module v2
/// operator.
fn anvil_with(port: u16, cmv2: u64) -> Option<Anvil> {
    let a = spawn(port)?;
    let n = 32 + cmv2;
    let keys: String = (0..n).map(|i| format!("{}\n", interop_secret_key(i).public_key().to_bytes())).collect();
    std::fs::write(a.dir.path().join("keys.txt"), keys).unwrap();
    let out = Command::new("python3")
        .arg(root().join("testnets/local/pools_devnet.py"))
        .args(["deploy", "--rpc", &a.url, "--range", &format!("0..{}", n - 1), "--cmv2", &cmv2.to_string(), "--out"])
        .arg(a.dir.path())
        .arg("--pubkeys")
        .arg(a.dir.path().join("keys.txt"))
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "deploy: {}", String::from_utf8_lossy(&out.stderr));
    Some(a)
}

fn state(a: &Anvil) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(a.dir.path().join("pools-devnet.json")).unwrap()).unwrap()
}

fn config(a: &Anvil) -> PoolsConfig {
    PoolsConfig::load_from_dir(a.dir.path()).unwrap().unwrap()
}

const TIME: ChainTime = ChainTime { genesis_time: 0, seconds_per_slot: 12, slots_per_epoch: 32, finalized_epoch: 0 };

fn pk(i: u64) -> PublicKeyBytes {
    interop_secret_key(i).public_key().to_bytes()
}

/// `pools_devnet.py ARGS --rpc URL --state pools-devnet.json` against `a`;
/// what it printed.
fn devnet(a: &Anvil, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(root().join("testnets/local/pools_devnet.py"))
        .args(args)
        .args(["--rpc", &a.url, "--state"])
        .arg(a.dir.path().join("pools-devnet.json"))
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// anvil mines `blocks` blocks, `interval` seconds apart (anvil answers
/// `null`, which the client would take for no answer: asked directly).
async fn mine(a: &Anvil, blocks: u64, interval: u64) {
    let params = serde_json::json!([format!("0x{blocks:x}"), format!("0x{interval:x}")]);
    let mined = reqwest::Client::new()
        .post(&a.url)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": params}))
        .send()
        .await
        .unwrap();
    assert!(mined.status().is_success());
}

/// anvil's latest header as the proofs' anchor: in these tests anvil's own
/// header stands in for the beacon block that commits to it (the devnet
/// e2e takes it from the beacon node).
async fn head_anchor(url: &str) -> ExecAnchor {
    anchor_at(url, "latest").await
}

/// anvil's header of block `tag` as an anchor.
async fn anchor_at(url: &str, tag: &str) -> ExecAnchor {
    let rpc = EthRpc::new(url, Duration::from_secs(5));
    let h = rpc.request("eth_getBlockByNumber", serde_json::json!([tag, false])).await.unwrap();
    let q = |k: &str| u64::from_str_radix(h[k].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let b = |k: &str| h[k].as_str().unwrap().parse::<Hash256>().unwrap();
    ExecAnchor {
        slot: 0,
        block_number: q("number"),
        block_hash: b("hash"),
        state_root: b("stateRoot"),
        receipts_root: b("receiptsRoot"),
        timestamp: q("timestamp"),
    }
}

#[tokio::test]
async fn the_key_map_and_every_operator_s_rule_as_deployed() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_701) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let rpc = EthRpc::new(&a.url, Duration::from_secs(5));
    let local: HashSet<PublicKeyBytes> = (0..32).map(pk).collect();
    let anchor = head_anchor(&a.url).await;
    let (snap, proven) = snapshot::take_with(&cfg, &rpc, Some(anchor), None, &local, &TIME).await.unwrap();
    assert!(snap.proven && snap.block == anchor.block_number);
    // Read again from that proven state: nothing changed, so only the
    // accounts are proven again and every slot is reused; the same picture.
    let (again, _) = snapshot::take_with(&cfg, &rpc, Some(anchor), proven, &local, &TIME).await.unwrap();
    assert_eq!(again.slots_reused, snap.proofs.1, "{:?} vs {:?}", again.proofs, snap.proofs);
    assert_eq!(again.proofs.1, 0, "no slot proven again: {:?}", again.proofs);
    for (p, q) in snap.operators.iter().zip(&again.operators) {
        assert_eq!((p.recipient, p.keys.len()), (q.recipient, q.keys.len()), "{}", p.pool);
    }
    let errors: Vec<_> = snap.operators.iter().filter_map(|o| o.error.clone()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(snap.proofs.0 >= 7 && snap.proofs.1 > 32, "accounts and slots proven: {:?}", snap.proofs);
    // The same picture as the endpoint's own answers (it is honest here).
    let plain = snapshot::take(&cfg, &EthRpc::new(&a.url, Duration::from_secs(5)), None, &local, &TIME).await.unwrap();
    assert!(!plain.proven);
    for (p, q) in snap.operators.iter().zip(&plain.operators) {
        assert_eq!((p.recipient, p.keys.len()), (q.recipient, q.keys.len()), "{}", p.pool);
    }
    assert_eq!(snap.operators.len(), 7);
    let names = ["stader-in", "stader-out", "stader-permissioned", "lido-curated", "lido-csm", "rocket-sp", "rocket"];
    for (o, name) in snap.operators.iter().zip(names) {
        let want = &st["operators"][name];
        let keys: Vec<PublicKeyBytes> = o.keys.iter().map(|k| k.pubkey).collect();
        let want_keys: Vec<PublicKeyBytes> =
            want["keys"].as_array().unwrap().iter().map(|i| pk(i.as_u64().unwrap())).collect();
        assert_eq!(keys, want_keys, "{name}'s keys");
        let recipient: Address = want["recipient"].as_str().unwrap().parse().unwrap();
        assert_eq!(o.recipient, Some(recipient), "{name}: {}", o.why);
        assert!(o.keys.iter().all(|k| k.local));
    }
    assert!(snap.local_keys_in_no_pool.is_empty());
    // Batched: far fewer HTTP requests than calls would need one by one.
    assert!(snap.rpc_requests < snap.rpc_calls, "{} requests, {} calls", snap.rpc_requests, snap.rpc_calls);
}

/// The curated module v2 (`CuratedModule`, `IBaseModule`): an entry of kind
/// `lido` reads the module's `getType()` and its keys as plain bytes, and
/// pays the vault; an entry that names another module kind for it is
/// refused with both named, as is a module type poolvc does not know.
#[tokio::test]
async fn the_curated_module_v2_is_read_by_its_type_and_a_wrong_kind_is_refused() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil_with(18_709, 4) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let rpc = EthRpc::new(&a.url, Duration::from_secs(5));
    let local: HashSet<PublicKeyBytes> = (0..36).map(pk).collect();
    let anchor = head_anchor(&a.url).await;
    let (snap, _) = snapshot::take_with(&cfg, &rpc, Some(anchor), None, &local, &TIME).await.unwrap();
    assert_eq!(snap.operators.len(), 8);
    let cmv2 = &snap.operators[7];
    assert_eq!(cmv2.pool, "lido");
    let keys: Vec<PublicKeyBytes> = cmv2.keys.iter().map(|k| k.pubkey).collect();
    assert_eq!(keys, (32..36).map(pk).collect::<Vec<_>>());
    let vault: Address = st["operators"]["lido-cmv2"]["recipient"].as_str().unwrap().parse().unwrap();
    assert_eq!(cmv2.recipient, Some(vault), "{}", cmv2.why);

    let block = rpc.block_number().await.unwrap();
    let plain = Reads::Unproven(&rpc);
    let PoolSpec::Lido { locator, module_id, operator_id, pins, relay_allow_list, .. } = cfg.pools[7].clone() else {
        panic!("pools[7] is the curated module v2")
    };
    let module: Address = st["contracts"]["cmv2"].as_str().unwrap().parse().unwrap();
    for named in [LidoModule::Cmv2, LidoModule::Any] {
        let spec = PoolSpec::Lido {
            module_kind: named,
            locator,
            module_id,
            operator_id,
            pins: pins.clone(),
            relay_allow_list,
        };
        let r = read_operator(&plain, &spec, block, &TIME).await.unwrap();
        assert_eq!(r.keys, (32..36).map(pk).collect::<Vec<_>>(), "{named:?}");
        assert_eq!(r.curve.map(|c| c.curve_id), Some(0), "the default curve, from the module's ACCOUNTING()");
    }
    for named in [LidoModule::Curated, LidoModule::Csm] {
        let spec = PoolSpec::Lido {
            module_kind: named,
            locator,
            module_id,
            operator_id,
            pins: pins.clone(),
            relay_allow_list,
        };
        let e = read_operator(&plain, &spec, block, &TIME).await.unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: pools.yaml says {}, but module {module} (id 5) is of type \"curated-onchain-v2\": \
                 write kind lido-cmv2 (or lido)",
                named.kind(),
                named.kind()
            )
        );
    }
    // Module 4 is a placeholder address with no code: no type, no keys.
    let spec =
        PoolSpec::Lido { module_kind: LidoModule::Any, locator, module_id: 4, operator_id, pins, relay_allow_list };
    assert!(read_operator(&plain, &spec, block, &TIME).await.is_err());
}

#[tokio::test]
async fn bad_inputs_are_named_and_leave_no_recipient_while_keys_attest() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_702) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let rpc = EthRpc::new(&a.url, Duration::from_secs(5));

    // Unreachable.
    let down = EthRpc::new("http://127.0.0.1:1", Duration::from_secs(2));
    let e = down.block_number().await.unwrap_err();
    assert!(matches!(e, RpcError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("http://127.0.0.1:1"), "{e}");
    // Another chain than pools.yaml names.
    let e = rpc.check_chain(1).await.unwrap_err();
    assert_eq!(e.to_string(), format!("execution RPC {} is on chain 31337, pools.yaml names chain 1", a.url));
    let mut wrong_chain = cfg.clone();
    wrong_chain.chain_id = Some(1);
    assert!(snapshot::take(&wrong_chain, &rpc, None, &HashSet::new(), &TIME).await.is_err());

    let block = rpc.block_number().await.unwrap();
    let plain = Reads::Unproven(&rpc);
    // A revert: a Lido operator id the registry does not have.
    let PoolSpec::Lido { module_kind, locator, module_id, pins, relay_allow_list, .. } = cfg.pools[3].clone() else {
        panic!("pools[3] is Lido curated")
    };
    let module: Address = st["contracts"]["lido_curated"].as_str().unwrap().parse().unwrap();
    let missing = PoolSpec::Lido { module_kind, locator, module_id, operator_id: 99, pins, relay_allow_list };
    let e = read_operator(&plain, &missing, block, &TIME).await.unwrap_err();
    assert!(
        matches!(&e, ReadError::Proven(ProvenError::Rpc(RpcError::Revert { contract, function, .. }))
            if *contract == module && function.starts_with("getNodeOperator(")),
        "{e:?}"
    );
    // The same revert, executed locally over proven state.
    let anchor = head_anchor(&a.url).await;
    let prover = ProvenReader::new(&rpc, anchor, 31337);
    let e = read_operator(&Reads::Proven(&prover), &missing, anchor.block_number, &TIME).await.unwrap_err();
    assert!(
        matches!(&e, ReadError::Proven(ProvenError::Revert { contract, function, .. })
            if *contract == module && function.starts_with("getNodeOperator(")),
        "{e:?}"
    );
    // Return data that is not the function's: the minipool manager pointed
    // at an account with no code answers 0x.
    let PoolSpec::RocketPool { node_manager, distributor_factory, smoothing_pool, node, .. } = cfg.pools[6].clone()
    else {
        panic!("pools[6] is Rocket Pool")
    };
    let eoa: Address = st["owner"].as_str().unwrap().parse().unwrap();
    let broken = PoolSpec::RocketPool {
        node_manager,
        distributor_factory,
        smoothing_pool,
        minipool_manager: eoa,
        node,
        network_penalties: None,
    };
    let e = read_operator(&plain, &broken, block, &TIME).await.unwrap_err();
    assert!(e.to_string().contains("returned data that is not its return type"), "{e}");
    assert!(e.to_string().contains("getNodeMinipoolCount(address)"), "{e}");

    // What the map makes of it: the broken entry's keys (never read) and any
    // key no read claims get no recipient; a read gone stale does the same.
    let mut bad = cfg.clone();
    bad.pools[6] = broken;
    let mut map = PoolMap::new(bad.pools.iter().map(|p| p.kind().to_string()).collect());
    for (i, spec) in bad.pools.iter().enumerate() {
        map.record(i, read_operator(&plain, spec, block, &TIME).await, 1_000, block);
    }
    let rules = map.rules(1_000, 192);
    let rocket_key = pk(st["operators"]["rocket"]["keys"][0].as_u64().unwrap());
    let lido_key = pk(st["operators"]["lido-curated"]["keys"][0].as_u64().unwrap());
    match rules.rule_of(&rocket_key) {
        Some(PoolRecipient::Unknown { reason, .. }) => assert!(reason.contains("pools[6] (rocket-pool)"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(rules.rule_of(&lido_key), Some(PoolRecipient::Rule { .. })));
    assert!(matches!(map.rules(1_193, 192).rule_of(&lido_key), Some(PoolRecipient::Unknown { .. })));

    // The store: every key still attests; a key without a recipient signs no block.
    let spec =
        ChainSpec::from_config_yaml("minimal.yaml", include_str!("../../../testnets/configs/minimal.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gvr = Hash256::repeat_byte(7);
    let db = SqliteSlashingDb::open(&dir.path().join("s.sqlite"), gvr).unwrap();
    let store = ValidatorStore::<Minimal>::new(
        spec.clone(),
        gvr,
        WallClock::new(0, &spec),
        Arc::new(db),
        Arc::new(EventBus::new()),
        StoreTimings::default(),
    );
    let base = ProposalConfig {
        fee_recipient: Some(Address::repeat_byte(0xaa)),
        own_fee_recipient: false,
        gas_limit: 30_000_000,
        graffiti: None,
        builder_proposals: false,
        pool: None,
    };
    store.add_local_keys((0..32).map(|i| (interop_secret_key(i), base.clone())).collect(), true).unwrap();
    store.set_indices((0..32).map(|i| (pk(i), i)));
    store.set_pool_recipients(|k| rules.rule_of(k));
    let data = AttestationData {
        slot: 33,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(3),
        source: Checkpoint { epoch: 3, root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch: 4, root: Hash256::repeat_byte(2) },
    };
    let batch: Vec<AttestationToSign> =
        (0..32).map(|i| AttestationToSign { validator_index: i, pubkey: pk(i), data }).collect();
    let signed = store.sign_attestations(33, &batch).await.iter().filter(|o| o.signature().is_some()).count();
    assert_eq!(signed, 32, "every key attests through the fault");
    let rocket_index = st["operators"]["rocket"]["keys"][0].as_u64().unwrap();
    let reg = ValidatorRegistrationV1 {
        fee_recipient: Address::repeat_byte(0xaa),
        gas_limit: 30_000_000,
        timestamp: 1,
        pubkey: pk(rocket_index),
    };
    let out = store.sign_registrations(33, &[reg]).await;
    match &out[0] {
        Outcome::Refused(r @ Refusal::PoolRecipientUnknown { .. }) => {
            assert!(r.to_string().contains("pools[6] (rocket-pool)"), "{r}")
        }
        other => panic!("{other:?}"),
    }
    // A Lido key's registration must pay the vault, not the flag's default.
    let vault: Address = st["operators"]["lido-curated"]["recipient"].as_str().unwrap().parse().unwrap();
    let lido_index = st["operators"]["lido-curated"]["keys"][0].as_u64().unwrap();
    let reg = ValidatorRegistrationV1 { pubkey: pk(lido_index), ..reg };
    assert!(matches!(
        store.sign_registrations(33, &[reg]).await[0],
        Outcome::Refused(Refusal::FeeRecipientMismatch { expected, .. }) if expected == vault
    ));
    let reg = ValidatorRegistrationV1 { fee_recipient: vault, ..reg };
    assert!(store.sign_registrations(33, &[reg]).await[0].signature().is_some());
}

alloy_sol_types::sol! {
    function addValidators(bytes[] _pubkeys) external;
    function registerNode(address _node, address _megapool) external;
}

/// Sends a transaction from an unlocked anvil account; its receipt.
async fn send(url: &str, from: &str, to: Option<&str>, data: Vec<u8>) -> serde_json::Value {
    let http = reqwest::Client::new();
    let mut tx = serde_json::json!({"from": from, "data": format!("0x{}", hex::encode(data))});
    if let Some(to) = to {
        tx["to"] = to.into();
    }
    let call = |method: &str, params: serde_json::Value| {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let req = http.post(url).json(&body);
        async move { req.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let hash = call("eth_sendTransaction", serde_json::json!([tx])).await["result"].clone();
    for _ in 0..100 {
        let r = call("eth_getTransactionReceipt", serde_json::json!([hash])).await["result"].clone();
        if !r.is_null() {
            assert_eq!(r["status"], "0x1", "{r}");
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("transaction {hash} not mined");
}

#[tokio::test]
async fn megapool_keys_are_listed_and_pay_the_megapool() {
    let _machine = poolvc_tests::turns::shared();
    use alloy_sol_types::SolCall;
    let Some(a) = anvil(18_703) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let owner = st["owner"].as_str().unwrap();
    // A proven read before the megapool exists: the read after it starts
    // from this one's proven state and must still see every change.
    let local: HashSet<PublicKeyBytes> = (0..34).map(pk).collect();
    let before_rpc = EthRpc::new(&a.url, Duration::from_secs(5));
    let (_, before) =
        snapshot::take_with(&cfg, &before_rpc, Some(head_anchor(&a.url).await), None, &local, &TIME).await.unwrap();
    let artifact: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("contracts/out/RocketNodeManager.sol/RocketMegapool.json")).unwrap(),
    )
    .unwrap();
    let code = hex::decode(artifact["bytecode"]["object"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let megapool = send(&a.url, owner, None, code).await["contractAddress"].as_str().unwrap().to_string();
    let keys = vec![pk(32).to_vec().into(), pk(33).to_vec().into()];
    send(&a.url, owner, Some(&megapool), addValidatorsCall { _pubkeys: keys }.abi_encode()).await;
    let PoolSpec::RocketPool { node_manager, node, .. } = cfg.pools[6].clone() else {
        panic!("pools[6] is Rocket Pool")
    };
    let megapool_addr: Address = megapool.parse().unwrap();
    let call = registerNodeCall { _node: node, _megapool: megapool_addr }.abi_encode();
    send(&a.url, owner, Some(&node_manager.to_string()), call).await;

    let rpc = EthRpc::new(&a.url, Duration::from_secs(5));
    let (snap, _) =
        snapshot::take_with(&cfg, &rpc, Some(head_anchor(&a.url).await), before, &local, &TIME).await.unwrap();
    assert!(snap.proven && snap.slots_reused > 0, "{} slots reused", snap.slots_reused);
    let rocket = &snap.operators[6];
    let second = rocket.second.as_ref().expect("the megapool's keys");
    assert_eq!(second.keys.iter().map(|k| k.pubkey).collect::<Vec<_>>(), vec![pk(32), pk(33)]);
    assert_eq!(second.recipient, Some(megapool_addr), "{}", second.why);
    // Its minipool keys still pay the distributor.
    let distributor: Address = st["operators"]["rocket"]["recipient"].as_str().unwrap().parse().unwrap();
    assert_eq!(rocket.recipient, Some(distributor));
    assert!(snap.local_keys_in_no_pool.is_empty(), "{:?}", snap.local_keys_in_no_pool);
}

/// The fault proxy (`testnets/local/rpc_fault_proxy.py`) in front of `a`,
/// in `mode`.
struct Proxy {
    child: Child,
    url: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proxy(a: &Anvil, port: u16, mode: &str) -> Proxy {
    let mode_file = a.dir.path().join("rpc-mode");
    std::fs::write(&mode_file, mode).unwrap();
    let child = Command::new("python3")
        .arg(root().join("testnets/local/rpc_fault_proxy.py"))
        .args(["--listen", &port.to_string(), "--upstream", &a.url, "--mode-file"])
        .arg(&mode_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Proxy { child, url: format!("http://127.0.0.1:{port}") }
}

#[tokio::test]
async fn a_lying_endpoint_moves_no_recipient_once_reads_are_proven() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_704) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let liar = proxy(&a, 18_714, "lie");
    let rpc = EthRpc::new(&liar.url, Duration::from_secs(5));
    let local: HashSet<PublicKeyBytes> = (0..32).map(pk).collect();
    let dead: Address = "0x000000000000000000000000000000000000dEaD".parse().unwrap();
    // On its word, the liar moves the Stader and Rocket Pool recipients.
    let plain = snapshot::take(&cfg, &rpc, None, &local, &TIME).await.unwrap();
    let moved = plain.operators.iter().filter(|o| o.recipient == Some(dead)).count();
    assert!(moved >= 3, "the proxy lies: {:#?}", plain.operators.iter().map(|o| o.recipient).collect::<Vec<_>>());
    // Proven against the real state root: no entry pays 0x..dEaD or any
    // address the chain does not hold; the forged proofs are named.
    let anchor = head_anchor(&a.url).await;
    let proven = snapshot::take(&cfg, &rpc, Some(anchor), &local, &TIME).await.unwrap();
    let names = ["stader-in", "stader-out", "stader-permissioned", "lido-curated", "lido-csm", "rocket-sp", "rocket"];
    for (o, name) in proven.operators.iter().zip(names) {
        let truth: Address = st["operators"][name]["recipient"].as_str().unwrap().parse().unwrap();
        match o.recipient {
            None => {
                let e = o.error.as_deref().unwrap_or_default();
                assert!(e.contains("proof does not match"), "{name}: {e}");
            }
            Some(r) => assert_eq!(r, truth, "{name}: {}", o.why),
        }
    }
    assert!(
        proven
            .operators
            .iter()
            .filter(|o| o.pool.starts_with("stader") || o.pool == "rocket-pool")
            .all(|o| o.recipient.is_none()),
        "every read that needs a storage value fails its proof"
    );
}

/// The Lido addresses come from the chain: the locator names the vault and
/// the exit bus, the staking router the module by id; a pin in `pools.yaml`
/// the chain contradicts is refused with both addresses named, and an id
/// the router does not have is its revert. Proven reads, as the client makes.
#[tokio::test]
async fn lido_addresses_come_from_the_locator_and_a_contradicted_pin_is_refused() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_706) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let rpc = EthRpc::new(&a.url, Duration::from_secs(5));
    let anchor = head_anchor(&a.url).await;
    let prover = ProvenReader::new(&rpc, anchor, 31337);
    let reads = Reads::Proven(&prover);
    let block = anchor.block_number;
    let addr = |k: &str| -> Address { st["contracts"][k].as_str().unwrap().parse().unwrap() };
    let PoolSpec::Lido { locator, pins, .. } = cfg.pools[4].clone() else { panic!("pools[4] is Lido CSM") };
    assert_eq!(pins, LidoPins::default(), "the devnet's CSM entry pins nothing");
    let at = read_lido_addresses(&reads, "lido-csm", locator, 3, &pins, block).await.unwrap();
    let vault: Address = st["operators"]["lido-csm"]["recipient"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        at,
        LidoAddresses {
            el_rewards_vault: vault,
            exit_bus: addr("exit_bus"),
            staking_router: addr("staking_router"),
            module: addr("csm"),
        }
    );
    // The read hands the exit bus to the exit watcher and pays the vault.
    let csm = read_operator(&reads, &cfg.pools[4], block, &TIME).await.unwrap();
    assert_eq!(csm.exit_bus, Some(addr("exit_bus")));
    assert!(matches!(csm.facts, Facts::Lido { el_rewards_vault } if el_rewards_vault == vault));

    // A vault typed wrong (or left from another network): refused, both named.
    let typo = Address::repeat_byte(0x1d);
    let wrong = LidoPins { el_rewards_vault: Some(typo), ..LidoPins::default() };
    let e = read_lido_addresses(&reads, "lido-csm", locator, 3, &wrong, block).await.unwrap_err();
    assert!(
        matches!(&e, ReadError::PinContradicted { field: "el_rewards_vault", pinned, chain, .. }
            if *pinned == typo && *chain == vault),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains(&typo.to_string()) && msg.contains(&vault.to_string()), "{msg}");
    assert!(msg.contains(&format!("LidoLocator {locator}: elRewardsVault()")), "{msg}");
    // The whole entry fails with it: no keys, no recipient.
    let mut spec = cfg.pools[4].clone();
    if let PoolSpec::Lido { pins, .. } = &mut spec {
        *pins = wrong;
    }
    assert!(matches!(read_operator(&reads, &spec, block, &TIME).await, Err(ReadError::PinContradicted { .. })));
    // A module pin naming the curated registry under CSM's id.
    let wrong = LidoPins { module: Some(addr("lido_curated")), ..LidoPins::default() };
    let e = read_lido_addresses(&reads, "lido-csm", locator, 3, &wrong, block).await.unwrap_err();
    assert!(e.to_string().contains("getStakingModule(3)"), "{e}");
    // Pins that agree are no error.
    let right = LidoPins { el_rewards_vault: Some(vault), module: Some(addr("csm")), exit_bus: Some(addr("exit_bus")) };
    assert_eq!(read_lido_addresses(&reads, "lido-csm", locator, 3, &right, block).await.unwrap(), at);
    // A module id the router does not have: its revert, over proven state.
    let e = read_lido_addresses(&reads, "lido-csm", locator, 9, &pins, block).await.unwrap_err();
    assert!(
        matches!(&e, ReadError::Proven(ProvenError::Revert { contract, function, .. })
            if *contract == addr("staking_router") && function.starts_with("getStakingModule(")),
        "{e:?}"
    );
    // CSM's frames as its oracle's HashConsensus has them (4 epochs from 0).
    assert_eq!(read_frame_config(&reads, addr("hash_consensus"), block).await.unwrap(), (0, 4));
    assert!(read_frame_config(&reads, locator, block).await.is_err(), "a locator is no HashConsensus");
    // A locator that is not one (an account without code): no address taken.
    let eoa: Address = st["owner"].as_str().unwrap().parse().unwrap();
    assert!(read_lido_addresses(&reads, "lido-csm", eoa, 3, &pins, block).await.is_err());
}

/// An exit request older than the lookback is missed and one inside it
/// found at start, the range asked in spans (`eth_getLogs` limits): the
/// mechanism at devnet scale (anvil mines about 300 blocks a second; the
/// default is Lido's 14 days, 100,800 blocks, in spans of 10,000), and a
/// lookback of 0 refused in `pools.yaml`.
#[tokio::test]
async fn an_exit_request_within_the_lookback_is_found_at_start() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_707) else { return };
    let cfg = config(&a);
    assert_eq!(cfg.exit_lookback_blocks, 14 * 7_200, "Lido's exit-event window");
    let st = state(&a);
    let v = st["operators"]["lido-curated"]["keys"][1].as_u64().unwrap();
    devnet(&a, &["exit-lido", "--index", &v.to_string()]);
    let rpc = EthRpc::new(&a.url, Duration::from_secs(30)).with_logs_span(100);
    mine(&a, 500, 1).await;
    let local: HashSet<PublicKeyBytes> = (0..32).map(pk).collect();
    // 600 blocks back, in spans of 100: found.
    let within = PoolsConfig { exit_lookback_blocks: 600, ..cfg.clone() };
    let (requests, _) = rpc.counts();
    let snap = snapshot::take(&within, &rpc, None, &local, &TIME).await.unwrap();
    let found: Vec<PublicKeyBytes> = snap.exit_requests.iter().map(|r| r.pubkey).collect();
    assert_eq!(found, [pk(v)], "{:#?}", snap.operators.iter().map(|o| &o.error).collect::<Vec<_>>());
    assert!(rpc.counts().0 - requests >= 6, "600 blocks are asked for in spans of 100");
    // 400 blocks back: the request is older, not seen.
    let short = PoolsConfig { exit_lookback_blocks: 400, ..cfg.clone() };
    let snap = snapshot::take(&short, &rpc, None, &local, &TIME).await.unwrap();
    assert!(snap.exit_requests.is_empty(), "{:?}", snap.exit_requests);
    let text = std::fs::read_to_string(a.dir.path().join("pools.yaml")).unwrap() + "exit_lookback_blocks: 0\n";
    let e = PoolsConfig::parse(Path::new("pools.yaml"), &text).unwrap_err();
    assert!(e.to_string().contains("exit_lookback_blocks: 0"), "{e}");
}

/// A CSM operator's bond curve and the published strikes, as deployed: the
/// devnet's CSM operator is on the ICS curve (the parameters registry's
/// leeway, reward share, strikes and weights; 5 days to exit from
/// `exitDeadlineThreshold`), the curated one on none (4 days); the strikes
/// tree is read by its CID, counted, and refused once a count in the file
/// no longer proves against the chain's root.
#[tokio::test]
async fn csm_curves_and_published_strikes_are_read_and_checked() {
    use poolvc::ledger::config::{CurveParams, StrikesConfig};
    use poolvc::pool::strikes::{self, StrikesError};
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_708) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let rpc = EthRpc::new(&a.url, Duration::from_secs(5));
    let anchor = head_anchor(&a.url).await;
    let prover = ProvenReader::new(&rpc, anchor, 31337);
    let reads = Reads::Proven(&prover);
    let block = anchor.block_number;
    let csm = read_operator(&reads, &cfg.pools[4], block, &TIME).await.unwrap();
    let ics = CurveParams {
        curve_id: 2,
        weights: [54, 4, 2],
        leeway_bp: vec![[1, 500], [151, 300]],
        reward_share_bp: vec![[1, 10_000], [17, 5_834]],
        strike_threshold: 4,
        strike_lifetime_frames: 6,
    };
    assert_eq!(csm.curve, Some(ics));
    assert_eq!(csm.exit_delay_secs, Some(5 * 24 * 3600));
    let registry: Address = st["contracts"]["parameters_registry"].as_str().unwrap().parse().unwrap();
    assert!(csm.watch.contains(&registry), "a curve change in the registry reads the operator again");
    let curated = read_operator(&reads, &cfg.pools[3], block, &TIME).await.unwrap();
    assert_eq!((curated.curve, curated.exit_delay_secs), (None, Some(4 * 24 * 3600)));

    // No report yet: no strikes, nothing fetched.
    let contract: Address = st["contracts"]["strikes"].as_str().unwrap().parse().unwrap();
    let dir = a.dir.path().join("strikes");
    let sc = StrikesConfig { contract, tree_source: dir.display().to_string() };
    assert!(strikes::read(&reads, &sc, block, None).await.unwrap().counts.is_empty());
    let keys = &st["operators"]["lido-csm"]["keys"];
    let (k0, k1) = (keys[0].as_u64().unwrap(), keys[1].as_u64().unwrap());
    let out = Command::new("python3")
        .arg(root().join("testnets/local/pools_devnet.py"))
        .args(["strikes-tree", "--rpc", &a.url, "--key", &format!("{k0}:1,1,0,1,0,0"), "--key"])
        .arg(format!("{k1}:0,0,0,0,0,1"))
        .arg("--out")
        .arg(&dir)
        .arg("--state")
        .arg(a.dir.path().join("pools-devnet.json"))
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "strikes-tree: {}", String::from_utf8_lossy(&out.stderr));
    let anchor = head_anchor(&a.url).await;
    let prover = ProvenReader::new(&rpc, anchor, 31337);
    let reads = Reads::Proven(&prover);
    let got = strikes::read(&reads, &sc, anchor.block_number, None).await.unwrap();
    let count = |k: u64| got.counts.get(&pk(k).to_string().to_ascii_lowercase()).copied();
    assert_eq!((count(k0), count(k1), got.counts.len()), (Some(3), Some(1), 2));
    // The file changed under the same CID (a gateway serving something
    // else): refused, nothing of it used.
    let path = dir.join(&got.cid);
    let text = std::fs::read_to_string(&path).unwrap().replace("[1,1,0,1,0,0]", "[0,0,0,0,0,0]");
    std::fs::write(&path, text).unwrap();
    let e = strikes::read(&reads, &sc, anchor.block_number, None).await.unwrap_err();
    assert!(matches!(e, StrikesError::Tree(_)) && e.to_string().contains("its leaf is not node"), "{e}");
    // The same root and CID as last read: the last read stands, unfetched.
    assert_eq!(strikes::read(&reads, &sc, anchor.block_number, Some(&got)).await.unwrap(), got);
    // Gone from the source: the error names the file.
    std::fs::remove_file(&path).unwrap();
    let e = strikes::read(&reads, &sc, anchor.block_number, None).await.unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
}

/// A CSM operator's bond and a Rocket Pool node's penalties, read proven
/// from the devnet's accounting and RocketNetworkPenalties stand-ins as the
/// real contracts answer them: a covered bond, then one short of two keys;
/// a minipool penalised twice (warned, one from a cheater), then a third.
#[tokio::test]
async fn csm_bond_state_and_rocket_pool_penalties_are_read() {
    use poolvc::pool::csm_bond::{self, BondRisk};
    use poolvc::pool::rocket_penalties::{self, PenaltyRisk};
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_710) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let rpc = EthRpc::new(&a.url, Duration::from_secs(5));
    let eth = |milli: u64| alloy_primitives::U256::from(milli) * alloy_primitives::U256::from(1_000_000_000_000_000u64);
    let read_bond = || async {
        let anchor = head_anchor(&a.url).await;
        let prover = ProvenReader::new(&rpc, anchor, 31337);
        let reads = Reads::Proven(&prover);
        let csm = read_operator(&reads, &cfg.pools[4], anchor.block_number, &TIME).await.unwrap();
        let acc = csm.accounting.expect("CSM's accounting read");
        csm_bond::read(&reads, acc, 0, anchor.block_number).await.unwrap()
    };
    // Four keys on the ICS curve: 1.5 + 3 × 1.3 = 5.4 ETH, all held.
    let s = read_bond().await;
    assert_eq!((s.current, s.required, s.unbonded, s.to_eject, s.risk()), (eth(5_400), eth(5_400), 0, 0, None));
    // 4.0 ETH covers 1.5 + 1.3 (2 keys): 2 to eject, 1.4 ETH short.
    devnet(&a, &["csm-bond", "--wei", "4000000000000000000"]);
    let s = read_bond().await;
    assert_eq!(
        (s.unbonded, s.to_eject, s.risk(), s.shortfall()),
        (2, 2, Some(BondRisk::Eject { keys: 2 }), eth(1_400))
    );
    // All 5.4 ETH held but 1.3 ETH of it locked: unbonded, none to eject.
    devnet(&a, &["csm-bond", "--wei", "5400000000000000000", "--locked", "1300000000000000000"]);
    let s = read_bond().await;
    assert_eq!((s.unbonded, s.to_eject, s.risk()), (1, 0, Some(BondRisk::Unbonded { keys: 1 })));
    // The curated module v1 has no accounting.
    let anchor = head_anchor(&a.url).await;
    let prover = ProvenReader::new(&rpc, anchor, 31337);
    let reads = Reads::Proven(&prover);
    assert_eq!(read_operator(&reads, &cfg.pools[3], anchor.block_number, &TIME).await.unwrap().accounting, None);

    // Rocket Pool: the smoothing-pool node's second minipool.
    let PoolSpec::RocketPool { network_penalties: Some(pen), minipool_manager, node, .. } = cfg.pools[5].clone() else {
        panic!("pools[5] is Rocket Pool with network_penalties")
    };
    let index = st["operators"]["rocket-sp"]["keys"][1].as_u64().unwrap().to_string();
    let read_pen = || async {
        let anchor = head_anchor(&a.url).await;
        let prover = ProvenReader::new(&rpc, anchor, 31337);
        let reads = Reads::Proven(&prover);
        rocket_penalties::read(&reads, pen, minipool_manager, node, anchor.block_number).await.unwrap()
    };
    assert!(read_pen().await.is_empty(), "no penalties yet");
    let minipool: Address = devnet(&a, &["rocket-penalty", "--index", &index, "--count", "2"]).parse().unwrap();
    assert_eq!(read_pen().await, vec![(minipool, 2)]);
    assert_eq!(rocket_penalties::risk(2), Some(PenaltyRisk::Warned { left: 1 }));
    devnet(&a, &["rocket-penalty", "--index", &index, "--count", "1"]);
    assert_eq!(read_pen().await, vec![(minipool, 3)]);
}

/// A Lido exit request 10 days old at start: 1,000 blocks 864 s apart
/// after the request (10 days of chain time; the depth in blocks a 14-day
/// look-back must reach is checked at scale by
/// `an_exit_request_within_the_lookback_is_found_at_start`), read with the
/// file's default look-back against anvil's head, proven: found, delivered
/// 10 days before the head, its exit deadline (delivery plus the module's
/// 4 days at the latest) long past, so poolvc acts on it at once.
#[tokio::test]
async fn a_lido_exit_request_ten_days_old_is_found_at_start() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = anvil(18_711) else { return };
    let cfg = config(&a);
    let st = state(&a);
    let v = st["operators"]["lido-curated"]["keys"][2].as_u64().unwrap();
    devnet(&a, &["exit-lido", "--index", &v.to_string()]);
    mine(&a, 1_000, 864).await;
    let rpc = EthRpc::new(&a.url, Duration::from_secs(30));
    let head = head_anchor(&a.url).await;
    let local: HashSet<PublicKeyBytes> = (0..32).map(pk).collect();
    let snap = snapshot::take(&cfg, &rpc, Some(head), &local, &TIME).await.unwrap();
    assert_eq!(snap.exit_requests.len(), 1, "{:#?}", snap.operators.iter().map(|o| &o.error).collect::<Vec<_>>());
    let r = &snap.exit_requests[0];
    assert_eq!(r.pubkey, pk(v));
    let age = head.timestamp - r.delivered.expect("Lido's request has its delivery time");
    assert!((10 * 86_400..10 * 86_400 + 600).contains(&age), "the request is {age} s old");
    let delay = r.allowed_delay_secs.expect("the module's exit deadline threshold read");
    assert!(r.delivered.unwrap() + delay < head.timestamp, "its deadline ({delay} s after delivery) is past");
}

/// A block below the proven payload is proven by its descendants' parent
/// hashes (two batches of headers here); a second block below the same
/// payload costs no request; a walk from a hash the endpoint's chain does
/// not have fails at once, and a block deeper than allowed is refused.
#[tokio::test]
async fn an_old_block_is_proven_by_its_descendants_parent_hashes() {
    let _machine = poolvc_tests::turns::shared();
    let Some(a) = spawn(18_712) else { return };
    mine(&a, 300, 12).await;
    let rpc = EthRpc::new(&a.url, Duration::from_secs(30));
    let head = head_anchor(&a.url).await;
    assert_eq!(head.block_number, 300);
    let old = anchor_at(&a.url, "0x5").await;
    let mut ancestry = Ancestry::default();
    let got = ancestry.anchor_of(&rpc, &head, 5, 1_000).await.unwrap();
    assert_eq!(
        (got.block_number, got.block_hash, got.state_root, got.receipts_root, got.timestamp),
        (5, old.block_hash, old.state_root, old.receipts_root, old.timestamp)
    );
    let asked = rpc.counts().0;
    assert_eq!(asked, 2, "296 headers in two batches");
    let seven = ancestry.anchor_of(&rpc, &head, 7, 1_000).await.unwrap();
    assert_eq!(seven.block_hash, anchor_at(&a.url, "0x7").await.block_hash);
    assert_eq!(rpc.counts().0, asked, "headers already proven are not asked again");
    let mut forged = head;
    forged.block_hash = Hash256::repeat_byte(7);
    let e = Ancestry::default().anchor_of(&rpc, &forged, 5, 1_000).await.unwrap_err();
    assert!(matches!(e, ProvenError::Proof(ProofError::HeaderHash { block: 300, .. })), "{e}");
    let e = Ancestry::default().anchor_of(&rpc, &head, 5, 100).await.unwrap_err();
    assert!(matches!(e, ProvenError::Proof(ProofError::TooDeep { block: 5, anchor_block: 300, max: 100 })), "{e}");
}
