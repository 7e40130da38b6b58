//! `vc` loads a key only if it is what `validator_definitions.yml` says
//! (issue 10; Lighthouse refuses these too): an entry whose keystore decrypts
//! to another key than its `voting_public_key` is refused and named (the
//! others load); the same keystore loaded again under a second entry is
//! refused likewise; two entries naming one key refuse the file, naming it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::datadir::keys::{load, KeyLoadError, Source};
use poolvc::policy::ProposalDefaults;
use poolvc_signer::keys::interop::interop_secret_key;

fn setup() -> (tempfile::TempDir, std::path::PathBuf, serde_yaml::Value) {
    let dir = tempfile::tempdir().unwrap();
    let opts = poolvc::cmd::keys::WriteOptions {
        out: dir.path().to_path_buf(),
        kdf: poolvc_signer::keys::Kdf::Pbkdf2 { c: 16 },
    };
    poolvc::cmd::keys::write_interop(0..=2, &opts).unwrap();
    let defs = dir.path().join("validators/validator_definitions.yml");
    let v = serde_yaml::from_str(&std::fs::read_to_string(&defs).unwrap()).unwrap();
    (dir, defs, v)
}

fn defaults() -> ProposalDefaults {
    ProposalDefaults { fee_recipient: None, gas_limit: None, graffiti: None, builder_proposals: false }
}

#[test]
fn a_keystore_of_another_key_is_refused_by_name() {
    let (dir, defs, mut v) = setup();
    let entries = v.as_sequence_mut().unwrap();
    let other = |i: u64| serde_yaml::Value::from(interop_secret_key(i).public_key().to_bytes().to_string());
    // Entry 1 claims key 5, but its keystore holds key 1.
    let wrong_path = entries[1]["voting_keystore_path"].as_str().unwrap().to_string();
    entries[1]["voting_public_key"] = other(5);
    // A fourth entry claims key 6 and points at key 0's keystore (already loaded).
    let mut again = entries[0].clone();
    again["voting_public_key"] = other(6);
    let again_path = again["voting_keystore_path"].as_str().unwrap().to_string();
    entries.push(again);
    std::fs::write(&defs, serde_yaml::to_string(&v).unwrap()).unwrap();

    let loaded = load(&Source::under(dir.path()), &defaults()).unwrap();
    let messages: Vec<String> = loaded.failures.iter().map(ToString::to_string).collect();
    let wrong = |p: &str| {
        loaded.failures.iter().any(|f| matches!(f, KeyLoadError::WrongKey { path, .. } if path.to_str() == Some(p)))
    };
    assert!(wrong(&wrong_path), "{messages:?}");
    assert!(wrong(&again_path), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains(&wrong_path) && m.contains("validator_definitions.yml names")),
        "{messages:?}"
    );
    // Keys 0 and 2 load, once each.
    let got: Vec<_> = loaded.keys.iter().map(|(sk, _)| sk.public_key().to_bytes()).collect();
    let want: Vec<_> = [0u64, 2].iter().map(|i| interop_secret_key(*i).public_key().to_bytes()).collect();
    assert_eq!(got, want, "{messages:?}");
}

#[test]
fn two_entries_for_one_key_refuse_the_file_by_name() {
    let (dir, defs, mut v) = setup();
    let entries = v.as_sequence_mut().unwrap();
    let again = entries[0].clone();
    let key = again["voting_public_key"].as_str().unwrap().to_string();
    entries.push(again);
    std::fs::write(&defs, serde_yaml::to_string(&v).unwrap()).unwrap();
    let err = load(&Source::under(dir.path()), &defaults()).unwrap_err().to_string();
    assert!(err.contains("validator_definitions.yml") && err.contains(&key), "{err}");
}
