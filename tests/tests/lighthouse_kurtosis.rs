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
//! signs nothing, and the log (not a terminal) has no escape codes.
//!
//! A second run uses a graffiti file changed while running, proposer nodes,
//! `--broadcast attestations` and `--log-format JSON`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::types::*;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The poolvc binary `cargo test --workspace` built (for the validator
/// crate's own command-line tests), or `POOLVC_BIN`.
fn poolvc_bin() -> PathBuf {
    let p = std::env::var_os("POOLVC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/poolvc"));
    assert!(p.is_file(), "{}: no poolvc binary; run `cargo test --workspace` (or build poolvc)", p.display());
    p
}

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lighthouse_vc_as_kurtosis_starts_it() {
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
        "--http-port=5062".into(),
        "--http-address=0.0.0.0".into(),
        "--http-allow-origin=*".into(),
        "--unencrypted-http-transport".into(),
        "--gas-limit=30000000".into(),
        "--builder-proposals".into(),
        // The test's own stop: through epoch 1 (slots 0..=15).
        "--max-slots=15".into(),
    ];
    let log = root.path().join("vc.log");
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
    // The keymanager flags are accepted and named in one warning.
    assert_eq!(text.matches("accepted but not acted on").count(), 1, "{text}");
    assert!(text.contains("--http (not implemented"), "{text}");
    // Not a terminal: no escape codes.
    assert!(!text.contains('\u{1b}'), "escape codes in a log that is not a terminal");
    eprintln!("kurtosis flags: {} attestations in epoch 1, log {} lines", duties.len() - 1, text.lines().count());
}
