//! `keys inspect` reads keystores without running a single KDF (own test
//! binary, so no other test in this process decrypts concurrently).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::cmd::keys;
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::keystore::decryptions_performed;
use poolvc_signer::keys::{Kdf, Keystore};

#[test]
fn inspect_runs_no_kdf() {
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystore::encrypt(&interop_secret_key(1), "pw", Kdf::Pbkdf2 { c: 1 }, "", None).unwrap();
    let text = ks.to_json_string();
    for i in 0..1000 {
        std::fs::write(dir.path().join(format!("k{i}.json")), &text).unwrap();
    }
    let before = decryptions_performed();
    let files = keys::find_keystores(&[dir.path().to_path_buf()]).unwrap();
    let rows = keys::inspect(&files);
    assert_eq!(rows.len(), 1000);
    assert!(rows.iter().all(|r| r.is_ok()));
    assert_eq!(decryptions_performed(), before, "inspect must not decrypt");
    // The counter does count real decryptions.
    Keystore::from_json_str("k", &text).unwrap().decrypt("pw").unwrap();
    assert_eq!(decryptions_performed(), before + 1);
}
