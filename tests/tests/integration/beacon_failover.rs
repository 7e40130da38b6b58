//! Bad beacon-node behaviour, against small misbehaving HTTP nodes on
//! loopback: a 500, malformed JSON, a node too slow for the request's
//! timeout, and a node that closes the connection each fail over to the next
//! node; when every node fails, the error names each one. A node on another
//! network is refused at start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc::beacon::BeaconClient;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

#[derive(Clone, Copy)]
enum Behaviour {
    Good,
    Error500,
    Malformed,
    Slow,
    Hangup,
}

/// Serves every request with `behaviour`; "good" answers come from the
/// recorded Lodestar responses. Returns the base URL.
fn node(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let file = match path.as_str() {
                    "/eth/v1/beacon/genesis" => "genesis.json",
                    "/eth/v1/config/spec" => "config_spec.json",
                    _ => "node_version.json",
                };
                let body = std::fs::read_to_string(poolvc_tests::vectors().join("lodestar").join(file)).unwrap();
                let (status, body) = match behaviour {
                    Behaviour::Good => ("200 OK", body),
                    Behaviour::Error500 => ("500 Internal Server Error", "{\"message\":\"boom\"}".to_string()),
                    Behaviour::Malformed => ("200 OK", "{\"data\": {\"genesis_time\": ".to_string()),
                    Behaviour::Slow => {
                        std::thread::sleep(Duration::from_secs(3));
                        ("200 OK", body)
                    }
                    Behaviour::Hangup => return,
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    format!("http://{addr}")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn each_failure_fails_over_to_the_next_node() {
    let _machine = poolvc_tests::turns::shared();
    let good = node(Behaviour::Good);
    for bad in [Behaviour::Error500, Behaviour::Malformed, Behaviour::Slow, Behaviour::Hangup] {
        let client = BeaconClient::new(vec![node(bad), good.clone()]);
        let g = rt().block_on(client.genesis(Duration::from_millis(800))).expect("falls over to the good node");
        assert_eq!(g.genesis_time, 1_795_346_708);
    }
}

#[test]
fn all_nodes_failing_is_a_clear_error() {
    let _machine = poolvc_tests::turns::shared();
    let (a, b) = (node(Behaviour::Error500), node(Behaviour::Malformed));
    let client = BeaconClient::new(vec![a.clone(), b.clone()]);
    let err = rt().block_on(client.genesis(Duration::from_millis(800))).unwrap_err().to_string();
    assert!(err.contains(&a) && err.contains("HTTP 500"), "{err}");
    assert!(err.contains(&b) && err.contains("malformed body"), "{err}");
}

#[test]
fn node_on_another_network_is_refused_at_start() {
    let _machine = poolvc_tests::turns::shared();
    let dir = tempfile::tempdir().unwrap();
    let cfg = poolvc::config::VcConfig {
        init_slashing_protection: true,
        // Keys load before any node is asked: give it one.
        interop_indexes: Some(0..=0),
        // The node serves a minimal dev chain; we claim mainnet.
        testnet_config: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnets/configs/mainnet.yaml")),
        max_slots: Some(1),
        ..poolvc::config::VcConfig::new(vec![node(Behaviour::Good)], dir.path().to_path_buf())
    };
    let err = rt().block_on(poolvc::runtime::run(cfg)).unwrap_err().to_string();
    assert!(err.contains("another network") && err.contains("PRESET_BASE"), "{err}");
}

#[test]
fn node_of_another_public_network_is_refused_at_start() {
    let _machine = poolvc_tests::turns::shared();
    let dir = tempfile::tempdir().unwrap();
    let cfg = poolvc::config::VcConfig {
        init_slashing_protection: true,
        max_slots: Some(1),
        interop_indexes: Some(0..=0),
        // The node serves a dev chain's genesis; we expect Hoodi.
        network: poolvc::networks::by_name("hoodi"),
        ..poolvc::config::VcConfig::new(vec![node(Behaviour::Good)], dir.path().to_path_buf())
    };
    let err = rt().block_on(poolvc::runtime::run(cfg)).unwrap_err().to_string();
    assert!(err.contains("another network") && err.contains("--network hoodi") && err.contains("0x212f13fc"), "{err}");
}
