//! `--beacon-nodes-tls-certs`: a beacon node behind HTTPS whose certificate
//! no public authority signed (made here with
//! `openssl`: an operator's own authority and a certificate for 127.0.0.1
//! it signed). The simulated node is put behind a TLS front
//! (rustls, terminating TLS and passing the bytes through); `poolvc vc`
//! given the certificate does every duty of epoch 1 over HTTPS. Without the
//! certificate the same node is refused by the TLS check, and the client
//! names the node while it waits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use poolvc_tests::tls;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An operator's own authority (`ca.crt`) and the node's certificate for
/// 127.0.0.1 signed by it (`node.crt`, key `node.key`), made with `openssl`.
/// Returns (authority, node certificate, node key).
fn own_authority(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = tls::authority(dir);
    let (cert, key) =
        tls::signed(dir, "node", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n");
    (ca, cert, key)
}

/// Runs the client; `None` if it was still running after `limit` (killed).
fn run_vc(args: Vec<String>, log: &Path, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
    let mut c = Command::new(poolvc_bin())
        .args(&args)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if let Some(st) = c.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = c.kill();
    let _ = c.wait();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_https_with_its_own_certificate() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let root = tempfile::tempdir().unwrap();
    let (ca, cert, key) = own_authority(root.path());
    let cfg = SimConfig { genesis_time: now() + 4, ..SimConfig::electra_minimal() };
    let h = SimHandle::<Minimal>::start(cfg, 1).await;
    let backend: SocketAddr = h.urls()[0].trim_start_matches("http://").parse().unwrap();
    let front = tls::front(&cert, &key, None, backend).await;
    let url = format!("https://127.0.0.1:{}", front.port());
    let data = datadir();
    let base = |datadir: &Path| -> Vec<String> {
        vec![
            "vc".into(),
            format!("--datadir={}", datadir.display()),
            format!("--beacon-nodes={url}"),
            "--init-slashing-protection".into(),
            "--suggested-fee-recipient=0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            "--builder-proposals".into(),
        ]
    };

    // Without the certificate: the node is not trusted; the client waits,
    // naming it, and signs nothing (stopped after two slots).
    let untrusted = root.path().join("untrusted.log");
    let mut args = base(&root.path().join("other"));
    args.extend(["--max-slots=2".into(), "--interop-indexes=0..3".into()]);
    let st = tokio::task::spawn_blocking({
        let untrusted = untrusted.clone();
        move || run_vc(args, &untrusted, std::time::Duration::from_secs(3))
    })
    .await
    .unwrap();
    assert!(st.is_none(), "the client stopped instead of waiting for the node");
    let text = std::fs::read_to_string(&untrusted).unwrap();
    assert!(text.contains("waiting for a beacon node") && text.contains(&url), "{text}");
    assert!(h.sim.report().attested.is_empty());

    // With it: every duty of epoch 1 over HTTPS.
    let log = root.path().join("vc.log");
    let mut args = base(data.path());
    args.extend([format!("--beacon-nodes-tls-certs={}", ca.display()), "--max-slots=15".into()]);
    let st = tokio::task::spawn_blocking({
        let log = log.clone();
        move || run_vc(args, &log, std::time::Duration::from_secs(120))
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(st.is_some_and(|s| s.success()), "poolvc over HTTPS: {st:?}\n{text}");
    let r = h.sim.report();
    let line = check_epochs(&h, &r, &[1]);
    eprintln!("over HTTPS with --beacon-nodes-tls-certs: {line}");
}
