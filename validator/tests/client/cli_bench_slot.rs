//! `poolvc bench slot` as an operator runs it: small, JSON out; both paths
//! must give the same signatures, and bad arguments get a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn poolvc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_poolvc")).args(args).output().expect("run poolvc")
}

#[test]
fn bench_slot_small_run_is_identical() {
    let out = poolvc(&["bench", "slot", "--validators", "64", "--slots", "2", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["attesters_per_slot"], 2);
    assert_eq!(v["identical"], true);
    assert!(v["batched_median_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_slot_bad_arguments() {
    let out = poolvc(&["bench", "slot", "--validators", "10", "--slots", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--validators must be at least 32"));
}

/// `poolvc bench aggregate-fetch`: every committee's aggregate comes back in
/// both runs, and the concurrent run holds several requests at the node at
/// once, never more than the bound (counted by the node, not timed).
#[test]
fn bench_aggregate_fetch_is_concurrent_within_its_bound() {
    let out = poolvc(&["bench", "aggregate-fetch", "--committees", "40", "--delay-ms", "50", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["committees"], 40);
    let (held, bound) = (v["max_in_flight"].as_u64().unwrap(), v["bound"].as_u64().unwrap());
    assert!(held > 1, "the concurrent run held one request at a time: {v}");
    assert!(held <= bound, "more than the bound at once: {v}");
}
