//! `poolvc signer` secure by default, as a process on the network, with
//! certificates made by `openssl` (an operator's own authority):
//!
//! - on 0.0.0.0 without TLS it does not start, and says which flags;
//! - on 0.0.0.0 with TLS and a known-clients list: a client without a
//!   certificate, and one whose certificate the same authority signed but
//!   that is not on the list, get nothing (the handshake fails); the listed
//!   client signs a full epoch of attestations (every key once, checked with
//!   BLS) through the batch route;
//! - a `Host` not on the allow-list gets 403; a kind the kinds file does not
//!   allow (a voluntary exit) gets 403;
//! - a 200 MB body is cut after the route's cap, long before it is sent;
//! - a far-future vote and block are refused (412) and leave no mark: the
//!   next real vote is signed;
//! - with `--tls-ca-file` instead, any client that authority signed gets in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::types::*;
use poolvc_signer::web3signer::{request_for, BatchAnswer, SIGN_PATH};
use poolvc_tests::simnode::harness::{datadir, init_logs, now, poolvc_bin, VALIDATORS};
use poolvc_tests::tls::{authority, signed};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const GVR: Hash256 = Hash256::repeat_byte(0x5e);

/// The minimal config with Altair to Deneb from genesis (blocks are signed
/// by their header from Bellatrix on).
fn config_text() -> String {
    let mut text = include_str!("../../../testnets/configs/minimal.yaml").to_string();
    for fork in ["ALTAIR", "BELLATRIX", "CAPELLA", "DENEB"] {
        text = text.replace(&format!("{fork}_FORK_EPOCH: 18446744073709551615"), &format!("{fork}_FORK_EPOCH: 0"));
    }
    text
}

fn spec() -> ChainSpec {
    ChainSpec::from_config_yaml("minimal.yaml", &config_text()).unwrap()
}

/// A signer process; killed on drop.
struct Signer(Child);

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `poolvc signer` over the keys of `keys`, its chain started `genesis`
/// (Unix seconds), with `extra` flags.
fn command(keys: &Path, data: &Path, genesis: u64, extra: &[&str]) -> Command {
    let config = data.join("minimal.yaml");
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(&config, config_text()).unwrap();
    let mut cmd = Command::new(poolvc_bin());
    cmd.args(["signer", "--http-listen-port", "0", "--threads", "1", "--disable-key-cache"])
        .arg("--datadir")
        .arg(data)
        .arg("--keystores-path")
        .arg(keys.join("validators"))
        .arg("--keystores-passwords-path")
        .arg(keys.join("secrets"))
        .arg("--network-config")
        .arg(&config)
        .args(["--genesis-validators-root", &GVR.to_string(), "--genesis-time", &genesis.to_string()])
        .args(extra);
    cmd
}

/// Starts the signer; returns it and the port it listens on.
fn start(mut cmd: Command) -> (Signer, u16) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(u) = line.strip_prefix("url=") {
                let _ = tx.send(u.to_string());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(120)).expect("the signer prints its url");
    assert!(url.starts_with("https://"), "{url}");
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    (Signer(child), port)
}

/// A client trusting `ca`, presenting `identity` (certificate, key) if any.
fn client(ca: &Path, identity: Option<(&Path, &Path)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap())
        .timeout(Duration::from_secs(30));
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(key).unwrap();
        pem.extend(std::fs::read(cert).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// The SHA-256 fingerprint of a PEM certificate, as `openssl x509
/// -fingerprint -sha256` prints it (`AB:CD:...`).
fn fingerprint(dir: &Path, cert: &str) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in", cert])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit('=').next().unwrap().to_string()
}

/// POSTs a body of `len` bytes to `path` over TLS as the client
/// (`cert`, `key`), 1 MiB at a time until the server stops taking it;
/// returns the status the server answered (if it did) and the bytes sent.
async fn send_huge(port: u16, ca: &Path, cert: &Path, key: &Path, path: &str, len: u64) -> (Option<u16>, u64) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().map(|c| c.unwrap()).collect();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b' '; 1 << 20];
        let mut sent = 0u64;
        while sent < len {
            match tokio::time::timeout(Duration::from_secs(10), wr.write_all(&chunk)).await {
                Ok(Ok(())) => sent += chunk.len() as u64,
                _ => break,
            }
        }
        sent
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|s| s.parse().ok());
    (status, writer.await.unwrap())
}

fn vote(slot: u64, head: u8) -> AttestationData {
    let epoch = slot / spec().slots_per_epoch;
    AttestationData {
        slot,
        index: 0,
        beacon_block_root: Hash256::repeat_byte(head),
        source: Checkpoint { epoch: epoch.saturating_sub(1), root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch, root: Hash256::repeat_byte(2) },
    }
}

fn request(m: &SignableMessage<'_, Minimal>) -> serde_json::Value {
    let spec = spec();
    let root = SigningContext { spec: &spec, genesis_validators_root: GVR }.signing_root(m);
    serde_json::to_value(request_for(&spec, GVR, m, root).unwrap()).unwrap()
}

#[test]
fn a_public_address_without_tls_is_refused_naming_the_flags() {
    let _machine = poolvc_tests::turns::shared();
    let keys = datadir();
    let data = tempfile::tempdir().unwrap();
    let out = command(keys.path(), data.path(), now(), &["--http-listen-host", "0.0.0.0"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--unencrypted-http-transport") && err.contains("--tls-known-clients-file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_clients_sign_and_nothing_far_ahead_is_signed() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    let ca = authority(dir);
    let server_ext = "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n";
    let (cert, key) = signed(dir, "signer", "/CN=127.0.0.1", server_ext);
    let client_ext = "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n";
    let (ok_cert, ok_key) = signed(dir, "operator", "/CN=operator vc", client_ext);
    let (other_cert, other_key) = signed(dir, "stranger", "/CN=stranger", client_ext);
    std::fs::write(dir.join("known"), format!("operator-vc {}\n", fingerprint(dir, "operator.crt"))).unwrap();
    std::fs::write(
        dir.join("kinds.yaml"),
        "default: [ATTESTATION, BLOCK_V2, RANDAO_REVEAL, AGGREGATION_SLOT, AGGREGATE_AND_PROOF_V2]\n",
    )
    .unwrap();
    let keys = datadir();
    let data = tempfile::tempdir().unwrap();
    let spec = spec();
    // The chain is at epoch 10.
    let genesis = now() - 10 * spec.slots_per_epoch * spec.slot_duration_ms / 1000 - 1;
    let (c, k, known, kinds) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        dir.join("known").to_str().unwrap().to_string(),
        dir.join("kinds.yaml").to_str().unwrap().to_string(),
    );
    let (_signer, port) = start(command(
        keys.path(),
        data.path(),
        genesis,
        &[
            "--http-listen-host",
            "0.0.0.0",
            "--http-host-allowlist",
            "127.0.0.1",
            "--tls-cert-file",
            c,
            "--tls-key-file",
            k,
            "--tls-known-clients-file",
            &known,
            "--allowed-kinds-file",
            &kinds,
        ],
    ));
    let base = format!("https://127.0.0.1:{port}");
    let pk = |v: u64| interop_secret_key(v).public_key().to_bytes();

    // No certificate, or one not on the list: nothing gets through.
    for who in [client(&ca, None), client(&ca, Some((&other_cert, &other_key)))] {
        let r = who
            .post(format!("{base}{SIGN_PATH}/{}", pk(0)))
            .json(&request(&SignableMessage::Attestation(&vote(72, 1))))
            .send()
            .await;
        assert!(r.is_err(), "an unlisted client was answered: {:?}", r.map(|r| r.status()));
    }

    let ok = client(&ca, Some((&ok_cert, &ok_key)));
    // A full epoch (9: slots 72..80), every key once, in one batch.
    let batch: Vec<serde_json::Value> = (0..VALIDATORS)
        .map(|v| {
            let d = vote(72 + v % spec.slots_per_epoch, 1);
            serde_json::json!({"identifier": pk(v), "request": request(&SignableMessage::Attestation(&d))})
        })
        .collect();
    let r = ok.post(format!("{base}/api/v1/eth2/sign_batch")).json(&batch).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let answers: Vec<BatchAnswer> = r.json().await.unwrap();
    for (v, a) in answers.iter().enumerate() {
        let BatchAnswer::Signed { signature } = a else { panic!("key {v}: {a:?}") };
        let d = vote(72 + v as u64 % spec.slots_per_epoch, 1);
        let root = SigningContext { spec: &spec, genesis_validators_root: GVR }
            .signing_root(&SignableMessage::<Minimal>::Attestation(&d));
        assert_eq!(*signature, interop_secret_key(v as u64).sign(root.as_slice()).to_bytes(), "key {v}");
    }

    // Another Host: 403. A kind the file does not allow: 403.
    let r = ok.get(format!("{base}/upcheck")).header("host", "evil.example").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let exit = VoluntaryExit { epoch: 9, validator_index: 3 };
    let r = ok
        .post(format!("{base}{SIGN_PATH}/{}", pk(3)))
        .json(&request(&SignableMessage::VoluntaryExit(&exit)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "{}", r.text().await.unwrap());

    // 200 MB: refused once the route's cap is read past; the rest is never sent.
    let path = format!("{SIGN_PATH}/{}", pk(3));
    let (status, sent) = send_huge(port, &ca, &ok_cert, &ok_key, &path, 200 << 20).await;
    assert!(status.is_none() || status == Some(413), "{status:?}");
    assert!(sent < 64 << 20, "{} MiB were taken before the cut", sent >> 20);

    // Far ahead: refused, no mark left.
    let mut far = vote(80, 1);
    far.target.epoch = 1_000_000_000_000;
    let r = ok
        .post(format!("{base}{SIGN_PATH}/{}", pk(3)))
        .json(&request(&SignableMessage::Attestation(&far)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 412);
    assert!(r.text().await.unwrap().contains("ahead of the wall clock"));
    let header = BeaconBlockHeader {
        slot: 1_000_000_000_000_000,
        proposer_index: 3,
        parent_root: Hash256::ZERO,
        state_root: Hash256::ZERO,
        body_root: Hash256::ZERO,
    };
    let r = ok
        .post(format!("{base}{SIGN_PATH}/{}", pk(3)))
        .json(&request(&SignableMessage::BlockHeader(&header)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 412);
    let r = ok
        .post(format!("{base}{SIGN_PATH}/{}", pk(3)))
        .json(&request(&SignableMessage::Attestation(&vote(80, 1))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the real vote of now is signed");
    let body = r.text().await.unwrap();
    assert!(body.contains("signature"), "JSON when no Accept is sent: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_against_an_authority_admits_what_it_signed() {
    let _machine = poolvc_tests::turns::shared();
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    let ca = authority(dir);
    let (cert, key) =
        signed(dir, "signer", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n");
    let (cc, ck) =
        signed(dir, "client", "/CN=any vc", "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n");
    let keys = datadir();
    let data = tempfile::tempdir().unwrap();
    let extra = [
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--tls-ca-file",
        ca.to_str().unwrap(),
    ];
    let (_signer, port) = start(command(keys.path(), data.path(), now(), &extra));
    let base = format!("https://127.0.0.1:{port}");
    assert!(client(&ca, None).get(format!("{base}/upcheck")).send().await.is_err(), "no certificate: no answer");
    let r = client(&ca, Some((&cc, &ck))).get(format!("{base}/upcheck")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
