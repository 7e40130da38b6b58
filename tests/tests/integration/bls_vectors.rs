//! The ethereum/bls12-381-tests vectors (v0.1.2): every case of sign, verify,
//! hash_to_G2, deserialization_G1 and deserialization_G2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::keys::bls::{g1_deserializes, g2_deserializes, hash_to_g2_uncompressed};
use poolvc_signer::keys::{PublicKey, SecretKey, Signature};
use poolvc_tests::{json_files, read_json, unhex, vectors};

fn dir(handler: &str) -> std::path::PathBuf {
    vectors().join("bls/bls12-381-tests_json").join(handler)
}

#[test]
fn sign() {
    let _machine = poolvc_tests::turns::shared();
    let files = json_files(&dir("sign"));
    assert_eq!(files.len(), 10);
    for f in files {
        let v = read_json(&f);
        let sk = SecretKey::from_bytes(&unhex(v["input"]["privkey"].as_str().unwrap()));
        let msg = unhex(v["input"]["message"].as_str().unwrap());
        match v["output"].as_str() {
            Some(expected) => {
                let sig = sk.unwrap_or_else(|e| panic!("{}: {e}", f.display())).sign(&msg);
                assert_eq!(sig.compress().to_vec(), unhex(expected), "{}", f.display());
            }
            None => assert!(sk.is_err(), "{}: expected the key to be rejected", f.display()),
        }
    }
}

#[test]
fn verify() {
    let _machine = poolvc_tests::turns::shared();
    let files = json_files(&dir("verify"));
    assert_eq!(files.len(), 29);
    let mut valid = 0;
    for f in files {
        let v = read_json(&f);
        let expected = v["output"].as_bool().unwrap();
        let pk = PublicKey::from_bytes(&unhex(v["input"]["pubkey"].as_str().unwrap()));
        let sig = Signature::from_bytes(&unhex(v["input"]["signature"].as_str().unwrap()));
        let msg = unhex(v["input"]["message"].as_str().unwrap());
        let got = match (pk, sig) {
            (Ok(pk), Ok(sig)) => sig.verify(&pk, &msg),
            _ => false,
        };
        assert_eq!(got, expected, "{}", f.display());
        valid += usize::from(got);
    }
    assert!(valid >= 9, "the valid cases must verify");
}

#[test]
fn hash_to_g2() {
    let _machine = poolvc_tests::turns::shared();
    const DST: &[u8] = b"QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_";
    let files = json_files(&dir("hash_to_G2"));
    assert_eq!(files.len(), 4);
    for f in files {
        let v = read_json(&f);
        let msg = v["input"]["msg"].as_str().unwrap().as_bytes().to_vec();
        let out = hash_to_g2_uncompressed(&msg, DST);
        // Vectors give x = "c0,c1" and y = "c0,c1"; blst serializes c1 || c0.
        let coord = |s: &str| -> Vec<u8> {
            let (c0, c1) = s.split_once(',').unwrap();
            [unhex(c1), unhex(c0)].concat()
        };
        let expected = [coord(v["output"]["x"].as_str().unwrap()), coord(v["output"]["y"].as_str().unwrap())].concat();
        assert_eq!(out.to_vec(), expected, "{}", f.display());
    }
}

#[test]
fn deserialization_g1() {
    let _machine = poolvc_tests::turns::shared();
    let files = json_files(&dir("deserialization_G1"));
    assert_eq!(files.len(), 13);
    for f in files {
        let v = read_json(&f);
        let bytes = hex::decode(v["input"]["pubkey"].as_str().unwrap().trim_start_matches("0x"));
        let got = bytes.map(|b| g1_deserializes(&b)).unwrap_or(false);
        assert_eq!(got, v["output"].as_bool().unwrap(), "{}", f.display());
    }
}

#[test]
fn deserialization_g2() {
    let _machine = poolvc_tests::turns::shared();
    let files = json_files(&dir("deserialization_G2"));
    assert_eq!(files.len(), 15);
    for f in files {
        let v = read_json(&f);
        let bytes = hex::decode(v["input"]["signature"].as_str().unwrap().trim_start_matches("0x"));
        let got = bytes.map(|b| g2_deserializes(&b)).unwrap_or(false);
        assert_eq!(got, v["output"].as_bool().unwrap(), "{}", f.display());
    }
}
