//! `poolvc vc` checks local things before it waits for a beacon node: a flag
//! that names no node, a definitions file that does not parse and a data dir
//! with no key are reported at once, with every node down, instead of after
//! a node answers (or never: an empty `--beacon-nodes` was once asked
//! forever as a relative URL).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Far above what a local check takes, far below "forever" (the client asks
/// a down node again every 1 to 12 s for as long as it runs).
const BOUND: Duration = Duration::from_secs(60);

/// Runs `poolvc vc` with `args`; kills it past [`BOUND`] (then the test
/// fails: it was waiting for a node instead of reporting the fault).
fn vc(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_poolvc"))
        .arg("vc")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run poolvc: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap_or_else(|e| panic!("wait: {e}")).is_some() {
            break;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
            panic!(
                "poolvc vc {args:?} was still running after {BOUND:?} (waiting for a node?)\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A port nothing listens on (bound, then let go).
fn dead_node() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_empty_or_malformed_beacon_nodes_flag_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().to_string_lossy().to_string();
    for (nodes, why) in [
        ("", "no beacon node given"),
        ("localhost:5052", "only http and https"),
        ("ftp://127.0.0.1:5052", "only http and https"),
        ("not a url", "not a URL"),
    ] {
        let o = vc(&["--beacon-nodes", nodes, "--datadir", &d, "--init-slashing-protection"]);
        assert!(!o.status.success(), "--beacon-nodes {nodes:?} was accepted:\n{}", text(&o));
        let t = text(&o);
        assert!(t.contains("--beacon-nodes") && t.contains(why), "--beacon-nodes {nodes:?}: {t}");
    }
}

#[test]
fn a_bad_definitions_file_is_reported_with_every_node_down() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let validators = dir.path().join("validators");
    std::fs::create_dir_all(&validators).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(validators.join("validator_definitions.yml"), "- enabled: maybe\n  voting_public_key: [\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().to_string_lossy().to_string();
    let o = vc(&["--beacon-nodes", &dead_node(), "--datadir", &d, "--init-slashing-protection"]);
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("validator_definitions.yml"), "the fault does not name the file: {t}");
    assert!(!t.contains("waiting for a beacon node"), "it waited for a node first: {t}");
}

#[test]
fn a_data_dir_without_keys_is_reported_with_every_node_down() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().to_string_lossy().to_string();
    let o = vc(&["--beacon-nodes", &dead_node(), "--datadir", &d, "--init-slashing-protection"]);
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("no enabled validator could be loaded"), "{t}");
    assert!(!t.contains("waiting for a beacon node"), "it waited for a node first: {t}");
}
