//! EIP-2335 keystore vectors, encrypt/decrypt round trips, bad keystores,
//! EIP-2333 derivation, BIP-39 seeds, and the interop key lists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::keys::derive::{derive_child, derive_master, derive_path, mnemonic_to_seed};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::keystore::{decryptions_performed, normalize_password};
use poolvc_signer::keys::{Kdf, Keystore, KeystoreErrorKind, SecretKey};
use poolvc_tests::{decimal_to_be32, read_json, unhex, vectors};
use std::path::PathBuf;

fn keystore_vector(name: &str) -> (PathBuf, serde_json::Value) {
    let p = vectors().join("keystore").join(name);
    let v = read_json(&p);
    (p, v)
}

#[test]
fn eip2335_vectors_decrypt() {
    let _machine = poolvc_tests::turns::shared();
    for name in ["eip2335_scrypt.json", "eip2335_pbkdf2.json"] {
        let (path, v) = keystore_vector(name);
        let password = v["password"].as_str().unwrap();
        assert_eq!(
            normalize_password(password).as_slice(),
            unhex(v["password_utf8_hex_after_nfkd_and_control_code_stripping"].as_str().unwrap()),
            "{name}: normalisation"
        );
        let ks = Keystore::from_json_str(&path, &v["keystore"].to_string()).unwrap();
        let sk = ks.decrypt(password).unwrap();
        assert_eq!(sk.to_bytes().to_vec(), unhex(v["secret"].as_str().unwrap()), "{name}");
        assert_eq!(ks.pubkey(), Some(sk.public_key().to_bytes()), "{name}: pubkey");
    }
}

#[test]
fn staking_deposit_cli_keystores_decrypt() {
    let _machine = poolvc_tests::turns::shared();
    let dir = vectors().join("keystore/staking-deposit-cli/tests/test_key_handling/keystore_test_vectors");
    for f in ["test0.json", "test1.json"] {
        let ks = Keystore::from_file(dir.join(f)).unwrap();
        let sk = ks.decrypt("𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑").unwrap();
        assert_eq!(
            hex::encode(sk.to_bytes().as_ref()),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
    }
}

#[test]
fn encrypt_decrypt_round_trips() {
    let _machine = poolvc_tests::turns::shared();
    for (i, kdf) in [Kdf::Pbkdf2 { c: 16 }, Kdf::Scrypt { log_n: 4 }, Kdf::STANDARD_PBKDF2].into_iter().enumerate() {
        let sk = interop_secret_key(i as u64);
        let password = "correct horse \u{7f}battery staple\n";
        let ks = Keystore::encrypt(&sk, password, kdf, "m/12381/3600/0/0/0", Some("t")).unwrap();
        let text = ks.to_json_string();
        let back = Keystore::from_json_str("rt.json", &text).unwrap();
        assert_eq!(back.path(), "m/12381/3600/0/0/0");
        // Control codes are stripped, so the password without them is the same password.
        let got = back.decrypt("correct horse battery staple").unwrap();
        assert_eq!(got.to_bytes().as_ref(), sk.to_bytes().as_ref());
        assert!(matches!(back.decrypt("wrong").unwrap_err().kind, KeystoreErrorKind::Checksum));
    }
}

/// Builds a modified copy of the pbkdf2 vector keystore and returns the
/// error of reading + decrypting it with the right password.
fn broken(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let (_, v) = keystore_vector("eip2335_pbkdf2.json");
    let mut ks = v["keystore"].clone();
    edit(&mut ks);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken-keystore.json");
    std::fs::write(&file, ks.to_string()).unwrap();
    let err = Keystore::from_file(&file)
        .and_then(|k| k.decrypt(v["password"].as_str().unwrap()))
        .expect_err("broken keystore must not decrypt");
    let msg = err.to_string();
    assert!(msg.contains("broken-keystore.json"), "error must name the file: {msg}");
    msg
}

#[test]
fn bad_keystores_give_clear_errors() {
    let _machine = poolvc_tests::turns::shared();
    // Malformed JSON.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("malformed.json");
    std::fs::write(&file, "{\"crypto\": {").unwrap();
    let msg = Keystore::from_file(&file).unwrap_err().to_string();
    assert!(msg.contains("malformed.json") && msg.contains("malformed keystore JSON"), "{msg}");

    // Wrong password.
    let (path, v) = keystore_vector("eip2335_pbkdf2.json");
    let ks = Keystore::from_json_str(&path, &v["keystore"].to_string()).unwrap();
    let msg = ks.decrypt("not the password").unwrap_err().to_string();
    assert!(msg.contains("eip2335_pbkdf2.json") && msg.contains("wrong password"), "{msg}");

    // Unknown KDF.
    let msg = broken(|k| k["crypto"]["kdf"]["function"] = "argon2id".into());
    assert!(msg.contains("unknown KDF function \"argon2id\""), "{msg}");

    // Bad checksum.
    let msg = broken(|k| k["crypto"]["checksum"]["message"] = "00".repeat(32).into());
    assert!(msg.contains("checksum mismatch"), "{msg}");

    // Truncated cipher message.
    let msg = broken(|k| {
        let m = k["crypto"]["cipher"]["message"].as_str().unwrap().to_string();
        k["crypto"]["cipher"]["message"] = m[..40].to_string().into();
    });
    assert!(msg.contains("cipher message is 20 bytes, expected 32"), "{msg}");

    // Others: version, cipher, bad hex, absurd scrypt parameters.
    let msg = broken(|k| k["version"] = 3.into());
    assert!(msg.contains("unsupported keystore version 3"), "{msg}");
    let msg = broken(|k| k["crypto"]["cipher"]["function"] = "aes-256-gcm".into());
    assert!(msg.contains("unknown cipher function"), "{msg}");
    let msg = broken(|k| k["crypto"]["cipher"]["message"] = "zz".repeat(32).into());
    assert!(msg.contains("not valid hex"), "{msg}");
    let msg = broken(|k| {
        k["crypto"]["kdf"]["function"] = "scrypt".into();
        k["crypto"]["kdf"]["params"] = serde_json::json!({"dklen": 32, "n": 1u64 << 40, "r": 8, "p": 1, "salt": "00"});
    });
    assert!(msg.contains("above the 2 GiB limit"), "{msg}");
    let msg = broken(|k| k["pubkey"] = "abcd".into());
    assert!(msg.contains("pubkey field"), "{msg}");
}

#[test]
fn reading_a_keystore_never_runs_the_kdf() {
    let _machine = poolvc_tests::turns::alone();
    let (path, v) = keystore_vector("eip2335_scrypt.json");
    let before = decryptions_performed();
    for _ in 0..100 {
        let ks = Keystore::from_json_str(&path, &v["keystore"].to_string()).unwrap();
        assert!(ks.pubkey().is_some());
    }
    // The counter is process-wide: this test has the machine alone, so no
    // other test decrypts meanwhile and the count must not move at all.
    assert_eq!(decryptions_performed(), before, "reading a keystore ran its KDF");
}

#[test]
fn eip2333_cases() {
    let _machine = poolvc_tests::turns::shared();
    let v = read_json(&vectors().join("keystore/eip2333.json"));
    let cases = v["test_cases"].as_array().or_else(|| v["cases"].as_array()).expect("cases array");
    assert!(cases.len() >= 5);
    for c in cases {
        let seed = unhex(c["seed"].as_str().unwrap());
        let master = derive_master(&seed).unwrap();
        assert_eq!(*master.to_bytes(), decimal_to_be32(c["master_SK"].as_str().unwrap()), "{}", c["name"]);
        let child = derive_child(&master, c["child_index"].as_u64().unwrap() as u32);
        assert_eq!(*child.to_bytes(), decimal_to_be32(c["child_SK"].as_str().unwrap()), "{}", c["name"]);
    }
}

#[test]
fn eip2333_from_mnemonic_and_path() {
    let _machine = poolvc_tests::turns::shared();
    let path = vectors().join(
        "keystore/staking-deposit-cli/tests/test_key_handling/test_key_derivation/test_vectors/tree_kdf_intermediate.json",
    );
    let v = read_json(&path);
    // The big integers are bare JSON numbers: take their digits from the text.
    let text = std::fs::read_to_string(&path).unwrap();
    let big = |key: &str| -> String {
        let at = text.find(&format!("\"{key}\"")).unwrap() + key.len() + 3;
        text[at..].trim_start().chars().take_while(|c| c.is_ascii_digit()).collect()
    };
    let seed = mnemonic_to_seed(v["mnemonic"].as_str().unwrap(), v["password"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(seed.as_ref()), v["seed"].as_str().unwrap());
    let master = derive_master(seed.as_ref()).unwrap();
    assert_eq!(*master.to_bytes(), decimal_to_be32(&big("master_SK")));
    let sk = derive_path(seed.as_ref(), v["path"].as_str().unwrap()).unwrap();
    assert_eq!(*sk.to_bytes(), decimal_to_be32(&big("child_SK")));
}

#[test]
fn bip39_seeds_all_languages() {
    let _machine = poolvc_tests::turns::shared();
    let v =
        read_json(&vectors().join(
            "keystore/staking-deposit-cli/tests/test_key_handling/test_key_derivation/test_vectors/mnemonic.json",
        ));
    let mut n = 0;
    for (lang, cases) in v.as_object().unwrap() {
        for c in cases.as_array().unwrap() {
            let seed = mnemonic_to_seed(c[1].as_str().unwrap(), "TREZOR").unwrap_or_else(|e| panic!("{lang}: {e}"));
            assert_eq!(hex::encode(seed.as_ref()), c[2].as_str().unwrap(), "{lang}");
            n += 1;
        }
    }
    assert!(n > 50, "only {n} mnemonic cases");
    assert!(mnemonic_to_seed("abandon abandon abandon", "").is_err());
    assert!(mnemonic_to_seed(&"abandon ".repeat(12), "").is_err(), "bad checksum must fail");
}

#[derive(serde::Deserialize)]
struct InteropEntry {
    privkey: String,
    pubkey: String,
}

fn interop_file(name: &str) -> Vec<InteropEntry> {
    let text = std::fs::read_to_string(vectors().join("interop").join(name)).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn check_interop(i: usize, e: &InteropEntry) {
    let sk = interop_secret_key(i as u64);
    // The YAML drops leading zero bytes of the big-endian integer: left-pad it.
    let mut want = unhex(&e.privkey);
    while want.len() < 32 {
        want.insert(0, 0);
    }
    assert_eq!(sk.to_bytes().to_vec(), want, "interop privkey {i}");
    assert_eq!(sk.public_key().compress().to_vec(), unhex(&e.pubkey), "interop pubkey {i}");
}

#[test]
fn interop_ten_keys_exactly() {
    let _machine = poolvc_tests::turns::shared();
    let entries = interop_file("keygen_10_validators.yaml");
    assert_eq!(entries.len(), 10);
    for (i, e) in entries.iter().enumerate() {
        check_interop(i, e);
    }
}

#[test]
fn interop_ten_thousand_sample() {
    let _machine = poolvc_tests::turns::shared();
    let entries = interop_file("keygen_10000_validators.yaml");
    assert_eq!(entries.len(), 10_000);
    // Every 43rd entry plus the first and last 10: 253 entries.
    let mut sample: Vec<usize> = (0..10_000).step_by(43).collect();
    sample.extend(0..10);
    sample.extend(9_990..10_000);
    sample.sort_unstable();
    sample.dedup();
    assert!(sample.len() >= 200);
    for i in sample {
        check_interop(i, &entries[i]);
    }
}

#[test]
fn secret_key_debug_is_redacted_everywhere() {
    let _machine = poolvc_tests::turns::shared();
    let sk =
        SecretKey::from_bytes(&unhex("0x25295f0d1d592a90b333e26e85149708208e9f8e8bc18f6c77bd62f8ad7a6866")).unwrap();
    let dbg = format!("{sk:?} {:?}", Some(&sk));
    assert!(!dbg.contains("25295f0d"), "{dbg}");
}
