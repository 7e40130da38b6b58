//! The `poolvc keys` commands, run as an operator would run them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::cmd::keys::{self, WriteOptions};
use poolvc::datadir::definitions::{SigningDefinition, ValidatorDefinitions};
use poolvc_signer::keys::derive::{derive_path, mnemonic_to_seed};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::keystore::{decrypt_many, DecryptJob};
use poolvc_signer::keys::{Kdf, Keystore};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn poolvc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_poolvc")).args(args).output().expect("run poolvc")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn interop_writes_lighthouse_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dd");
    let o = poolvc(&["keys", "interop", "--range", "32..35", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("4 keystores written, 0 already present"), "{stdout}");

    let defs = ValidatorDefinitions::open_or_empty(&out.join("validators")).unwrap();
    assert_eq!(defs.0.len(), 4);
    assert_eq!(mode(&out.join("validators/validator_definitions.yml")), 0o600);
    for (i, d) in (32u64..=35).zip(&defs.0) {
        let pk = interop_secret_key(i).public_key();
        assert_eq!(d.voting_public_key, pk.to_hex());
        let SigningDefinition::LocalKeystore { voting_keystore_path, voting_keystore_password_path, .. } =
            &d.signing_definition
        else {
            panic!("local keystore expected")
        };
        let pw_path = voting_keystore_password_path.as_ref().unwrap();
        assert_eq!(
            voting_keystore_path,
            &out.canonicalize().unwrap().join(format!("validators/{}/voting-keystore.json", pk.to_hex()))
        );
        assert_eq!(pw_path, &out.canonicalize().unwrap().join(format!("secrets/{}", pk.to_hex())));
        assert_eq!(mode(voting_keystore_path), 0o600);
        assert_eq!(mode(pw_path), 0o600);
        assert_eq!(mode(voting_keystore_path.parent().unwrap()), 0o700);
        let sk = Keystore::from_file(voting_keystore_path)
            .unwrap()
            .decrypt(&std::fs::read_to_string(pw_path).unwrap())
            .unwrap();
        assert_eq!(sk.to_bytes().as_ref(), interop_secret_key(i).to_bytes().as_ref());
    }

    // Again, overlapping: 34 and 35 are kept, 36 is added.
    let o = poolvc(&["keys", "interop", "--range", "34..=36", "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 keystores written, 2 already present"));
    assert_eq!(ValidatorDefinitions::open_or_empty(&out.join("validators")).unwrap().0.len(), 5);

    // And every keystore decrypts through `keys verify`.
    let o = poolvc(&["keys", "verify", "--datadir", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("5 keystores decrypted, 0 failed"));
}

#[test]
fn verify_reports_a_wrong_password_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    keys::write_interop(0..=1, &WriteOptions { out: out.to_path_buf(), kdf: Kdf::Pbkdf2 { c: 64 } }).unwrap();
    let pk = interop_secret_key(1).public_key().to_hex();
    std::fs::write(out.join("secrets").join(&pk), "not the password").unwrap();
    let o = poolvc(&["keys", "verify", "--datadir", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{pk}/voting-keystore.json")) && err.contains("checksum mismatch"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 keystores decrypted, 1 failed"));
}

#[test]
fn bad_range_and_bad_keystore_are_clear_errors() {
    let o = poolvc(&["keys", "interop", "--range", "63..32", "--out", "/nonexistent/x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid range \"63..32\""));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-keystore.json");
    std::fs::write(&bad, b"{not json").unwrap();
    let o = poolvc(&["keys", "inspect", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad-keystore.json") && err.contains("malformed keystore JSON"), "{err}");
}

#[test]
fn derive_from_mnemonic() {
    let dir = tempfile::tempdir().unwrap();
    let mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let mfile = dir.path().join("mnemonic.txt");
    std::fs::write(&mfile, format!("{mnemonic}\n")).unwrap();
    let out = dir.path().join("dd");
    let o = poolvc(&[
        "keys",
        "derive",
        "--mnemonic-file",
        mfile.to_str().unwrap(),
        "--count",
        "2",
        "--first-index",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--kdf",
        "pbkdf2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seed = mnemonic_to_seed(mnemonic, "").unwrap();
    let o = poolvc(&["keys", "inspect", "--json", out.join("validators").to_str().unwrap()]);
    assert!(o.status.success());
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    for i in [5u32, 6] {
        let path = format!("m/12381/3600/{i}/0/0");
        let pk = derive_path(seed.as_ref(), &path).unwrap().public_key().to_hex();
        assert!(rows.iter().any(|r| r["path"] == path && r["pubkey"] == pk), "{path} {pk}: {rows:?}");
    }
    // A mnemonic with a bad checksum is refused, naming the file; nothing is written.
    std::fs::write(&mfile, "abandon ".repeat(12)).unwrap();
    let out2 = dir.path().join("dd2");
    let o = poolvc(&[
        "keys",
        "derive",
        "--mnemonic-file",
        mfile.to_str().unwrap(),
        "--count",
        "1",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("mnemonic.txt: invalid BIP-39 mnemonic"));
    assert!(!out2.exists());
}

#[test]
fn inspect_a_thousand_keystores_without_decrypting() {
    // A keystore whose KDF would need 128 GiB: any attempt to decrypt fails.
    let sk = interop_secret_key(7);
    let ks = Keystore::encrypt(&sk, "pw", Kdf::Pbkdf2 { c: 1 }, "m/12381/3600/7/0/0", None).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&ks.to_json_string()).unwrap();
    json["crypto"]["kdf"] = serde_json::json!({
        "function": "scrypt",
        "params": {"dklen": 32, "n": 1u64 << 30, "r": 8, "p": 1, "salt": "00"},
        "message": ""
    });
    let dir = tempfile::tempdir().unwrap();
    let text = json.to_string();
    assert!(Keystore::from_json_str("x", &text).unwrap().decrypt("pw").is_err());
    for i in 0..1000 {
        std::fs::write(dir.path().join(format!("keystore-{i:04}.json")), &text).unwrap();
    }
    let o = poolvc(&["keys", "inspect", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 1000);
    assert!(stdout.lines().all(|l| l.starts_with(&sk.public_key().to_hex()) && l.contains("scrypt")));
}

#[test]
fn decryption_runs_on_several_threads() {
    let dir = tempfile::tempdir().unwrap();
    keys::write_interop(0..=7, &WriteOptions { out: dir.path().to_path_buf(), kdf: Kdf::Pbkdf2 { c: 200_000 } })
        .unwrap();
    let defs = ValidatorDefinitions::open_or_empty(&dir.path().join("validators")).unwrap();
    let jobs: Vec<DecryptJob> = defs
        .0
        .iter()
        .map(|d| match &d.signing_definition {
            SigningDefinition::LocalKeystore { voting_keystore_path, voting_keystore_password_path, .. } => {
                DecryptJob {
                    keystore: voting_keystore_path.clone(),
                    password: std::fs::read_to_string(voting_keystore_password_path.as_ref().unwrap()).unwrap().into(),
                }
            }
            _ => unreachable!(),
        })
        .collect();
    let threads = std::sync::Mutex::new(std::collections::HashSet::new());
    let results = decrypt_many(&jobs, || {
        threads.lock().unwrap().insert(std::thread::current().id());
    });
    assert!(results.iter().all(|r| r.is_ok()));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 {
        assert!(threads.lock().unwrap().len() >= 2, "decryption used one thread on {cores} cores");
    }
}

#[test]
fn failed_run_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    // A stray directory for key 2 (not in the definitions) makes that key fail.
    let stray = out.join("validators").join(interop_secret_key(2).public_key().to_hex());
    std::fs::create_dir_all(&stray).unwrap();
    let err =
        keys::write_interop(0..=4, &WriteOptions { out: out.to_path_buf(), kdf: Kdf::Pbkdf2 { c: 16 } }).unwrap_err();
    assert!(err.to_string().contains(&interop_secret_key(2).public_key().to_hex()), "{err}");
    let left: Vec<_> = std::fs::read_dir(out.join("validators")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(left, vec![stray], "only the stray directory remains");
    assert_eq!(std::fs::read_dir(out.join("secrets")).unwrap().count(), 0);
    assert!(!out.join("validators/validator_definitions.yml").exists());
}
