//! Constant time, checked with a test that can fail: the table path runs
//! under valgrind memcheck with the secret scalars marked undefined (ctgrind),
//! so a branch or address depending on them is reported and fails the run. A
//! deliberately leaky lookup must be reported (the check is live).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn valgrind(mode: &str) -> Option<std::process::Output> {
    let out = Command::new("valgrind")
        .args([
            "--tool=memcheck",
            "--error-exitcode=42",
            "--track-origins=yes",
            env!("CARGO_BIN_EXE_ctgrind_comb"),
            mode,
        ])
        .output();
    match out {
        Ok(o) => Some(o),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("valgrind is required in CI: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: valgrind not available ({e})");
            None
        }
    }
}

#[test]
fn table_path_has_no_secret_dependent_branch_or_address() {
    let _machine = poolvc_tests::turns::shared();
    let Some(o) = valgrind("ct") else { return };
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "memcheck reported secret-dependent behaviour:\n{stderr}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("ct ok"));
    assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
}

#[test]
fn leaky_control_is_caught() {
    let _machine = poolvc_tests::turns::shared();
    let Some(o) = valgrind("leaky") else { return };
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(42), "the leaky control must be reported:\n{stderr}");
    assert!(stderr.contains("uninitialised"), "{stderr}");
}
