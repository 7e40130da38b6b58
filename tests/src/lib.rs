//! Shared helpers for the workspace integration tests in `tests/tests/`
//! (most in one binary, `tests/tests/integration/`).

pub mod simnode;
pub mod tls;
pub mod turns;

use std::path::{Path, PathBuf};

/// The directory holding the copied public test vectors.
pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Decodes `0x`-prefixed or bare hex.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim().trim_start_matches("0x")).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A decimal integer (< 2^256) as 32 big-endian bytes.
pub fn decimal_to_be32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for ch in s.trim().chars() {
        let d = ch.to_digit(10).unwrap_or_else(|| panic!("not decimal: {s}"));
        let mut carry = d;
        for b in out.iter_mut().rev() {
            let v = (*b as u32) * 10 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0, "{s} overflows 256 bits");
    }
    out
}

/// The JSON files of a directory, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

/// The minimal config with every fork up to Electra at genesis, Fulu at
/// epoch 1 and Gloas at epoch 2: the schedule of the Gloas known answers
/// (`vectors/signing_roots/pyspec_gloas_kats.json`) and tests.
pub fn gloas_spec() -> poolvc_signer::types::ChainSpec {
    let mut text = include_str!("../../testnets/configs/minimal.yaml").to_string();
    for fork in ["ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA"] {
        text = text.replace(&format!("{fork}_FORK_EPOCH: 18446744073709551615"), &format!("{fork}_FORK_EPOCH: 0"));
    }
    text = text.replace("FULU_FORK_EPOCH: 18446744073709551615", "FULU_FORK_EPOCH: 1");
    text = text.replace("GLOAS_FORK_EPOCH: 18446744073709551615", "GLOAS_FORK_EPOCH: 2");
    poolvc_signer::types::ChainSpec::from_config_yaml("minimal.yaml (gloas at 2)", &text)
        .unwrap_or_else(|e| panic!("the Gloas test config: {e}"))
}

/// PostgreSQL for tests: `POOLVC_TEST_POSTGRES_URL` (e.g.
/// `postgres://poolvc:poolvc@127.0.0.1/poolvc`, set by `.ci/run`). Creates a
/// fresh database named after `name` and returns its URL. Without the
/// variable: `None` (the test reports itself skipped), except under `CI=true`,
/// where PostgreSQL tests must run and this panics.
pub fn fresh_postgres(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("POOLVC_TEST_POSTGRES_URL") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but POOLVC_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI");
        }
        eprintln!("SKIPPED {name}: POOLVC_TEST_POSTGRES_URL not set");
        return None;
    };
    let db = format!("poolvc_t_{}", name.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap_or_else(|e| panic!("{base}: {e}"));
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).unwrap_or_else(|e| panic!("drop {db}: {e}"));
    c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap_or_else(|e| panic!("create {db}: {e}"));
    let (prefix, _) = base.rsplit_once('/').unwrap_or_else(|| panic!("no database in {base}"));
    Some(format!("{prefix}/{db}"))
}
