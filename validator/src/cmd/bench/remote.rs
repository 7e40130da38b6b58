//! `poolvc bench remote-signing`: one slot's attestations for N keys signed
//! by a real `poolvc signer` process over HTTP, once as N single requests
//! (Web3Signer's route, at most [`Web3SignerOptions::max_in_flight`] at a
//! time, as the client sends them to a signer without the batch route) and
//! once through the batch route, by the client the validator store uses.
//! Also the signer's memory with N keys loaded, and its start-up time.
//!
//! The signer gets the N keystores with a fast test KDF (PBKDF2, c = 16):
//! what is measured here is signing and memory, not decryption (see
//! `poolvc bench key-cache` for that). The two runs sign different targets
//! (one epoch apart), so each one's slashing check inserts N new records.

use crate::cmd::bench::signing::BenchError;
use crate::store::web3signer::{RemoteTarget, RemoteWork, Web3SignerClient, Web3SignerOptions};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::types::*;
use poolvc_signer::web3signer::request_for;
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The figures of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteBenchResult {
    /// Keys loaded by the signer, and signatures per run.
    pub keys: usize,
    /// Seconds from spawning the signer to its `url=` line.
    pub signer_start_s: f64,
    /// The signer's resident memory once ready (MiB).
    pub signer_rss_ready_mib: f64,
    /// Its peak resident memory after both runs (MiB).
    pub signer_rss_peak_mib: f64,
    /// Seconds for N single requests.
    pub single_s: f64,
    /// Seconds for the same through the batch route.
    pub batch_s: f64,
    /// `single_s / batch_s`.
    pub speedup: f64,
    /// Every signature of a sample verified against its key and root.
    pub verified_sample: usize,
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Args(e.to_string())
}

/// A field of `/proc/<pid>/status` in MiB.
fn proc_mib(pid: u32, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Kills the signer on every way out.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the benchmark with `keys` keys.
pub fn run(keys: usize) -> Result<RemoteBenchResult, BenchError> {
    if keys == 0 {
        return Err(BenchError::Args("--keys must be at least 1".into()));
    }
    let dir = tempfile::tempdir().map_err(err)?;
    let keys_dir = dir.path().join("keys");
    let pb = crate::progress::bar(keys as u64, "writing keystores");
    crate::cmd::keys::write_interop(
        0..=keys as u64 - 1,
        &crate::cmd::keys::WriteOptions { out: keys_dir.clone(), kdf: poolvc_signer::keys::Kdf::Pbkdf2 { c: 16 } },
    )
    .map_err(err)?;
    pb.finish_and_clear();
    let spec_text = include_str!("../../../../testnets/configs/mainnet.yaml");
    let config = dir.path().join("mainnet.yaml");
    std::fs::write(&config, spec_text).map_err(err)?;
    let spec = ChainSpec::from_config_yaml("mainnet.yaml", spec_text).map_err(err)?;
    let gvr = Hash256::repeat_byte(0x42);
    let exe = std::env::current_exe().map_err(err)?;
    let started = Instant::now();
    let mut child = Child(
        std::process::Command::new(exe)
            .arg("signer")
            .arg("--datadir")
            .arg(dir.path().join("signer"))
            .arg("--keystores-path")
            .arg(keys_dir.join("validators"))
            .arg("--keystores-passwords-path")
            .arg(keys_dir.join("secrets"))
            .arg("--network-config")
            .arg(&config)
            .args(["--genesis-validators-root", &gvr.to_string(), "--genesis-time", "0"])
            .args(["--http-listen-port", "0", "--disable-key-cache"])
            .args(["--debug-level", "warn"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(err)?,
    );
    let pid = child.0.id();
    let stdout = child.0.stdout.take().ok_or_else(|| err("no signer stdout"))?;
    let url = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("url=").map(str::to_string))
        .ok_or_else(|| err("the signer exited before listening"))?;
    let signer_start_s = started.elapsed().as_secs_f64();
    let signer_rss_ready_mib = proc_mib(pid, "VmRSS:");

    let pubkeys: Vec<PublicKeyBytes> = {
        use rayon::prelude::*;
        (0..keys as u64).into_par_iter().map(|i| interop_secret_key(i).public_key().to_bytes()).collect()
    };
    let slot_of_epoch = |epoch: u64| spec.start_slot(epoch) + 3;
    let data = |epoch: u64| AttestationData {
        slot: slot_of_epoch(epoch),
        index: 0,
        beacon_block_root: Hash256::repeat_byte(epoch as u8),
        source: Checkpoint { epoch: epoch - 1, root: Hash256::repeat_byte(1) },
        target: Checkpoint { epoch, root: Hash256::repeat_byte(2) },
    };
    let ctx = SigningContext { spec: &spec, genesis_validators_root: gvr };
    let work = |d: &AttestationData| -> Result<(Hash256, Vec<RemoteWork<Mainnet>>), BenchError> {
        let m = SignableMessage::<Mainnet>::Attestation(d);
        let root = ctx.signing_root(&m);
        let req = Arc::new(request_for(&spec, gvr, &m, root).map_err(err)?);
        Ok((root, pubkeys.iter().map(|pk| (*pk, Arc::clone(&req))).collect()))
    };
    let target = RemoteTarget {
        urls: vec![url],
        root_certificate_path: None,
        request_timeout: Duration::from_secs(120),
        client_identity: None,
    };
    let opts = Web3SignerOptions::default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(err)?;
    let timed = |client: Web3SignerClient, w: Vec<RemoteWork<Mainnet>>| {
        rt.block_on(async move {
            let t = Instant::now();
            let sigs = client.sign(&w).await;
            (t.elapsed().as_secs_f64(), sigs)
        })
    };
    let (single_root, single_work) = work(&data(10))?;
    let single = Web3SignerClient::new(target.clone(), &opts).map_err(err)?.single_route_only();
    let (single_s, single_sigs) = timed(single, single_work);
    let (batch_root, batch_work) = work(&data(11))?;
    let batch = Web3SignerClient::new(target, &opts).map_err(err)?;
    let (batch_s, batch_sigs) = timed(batch, batch_work);
    let signer_rss_peak_mib = proc_mib(pid, "VmHWM:");

    // Every request signed; a sample checked with BLS.
    let mut verified_sample = 0;
    for (sigs, root) in [(&single_sigs, single_root), (&batch_sigs, batch_root)] {
        if let Some((i, e)) = sigs.iter().enumerate().find_map(|(i, s)| s.as_ref().err().map(|e| (i, e))) {
            return Err(err(format!("key {i}: {e}")));
        }
        for i in (0..keys).step_by((keys / 16).max(1)) {
            let want = interop_secret_key(i as u64).sign(root.as_slice()).to_bytes();
            if sigs[i].as_ref().ok() != Some(&want) {
                return Err(err(format!("key {i}: the signer's signature is not the key's over the root")));
            }
            verified_sample += 1;
        }
    }
    Ok(RemoteBenchResult {
        keys,
        signer_start_s,
        signer_rss_ready_mib,
        signer_rss_peak_mib,
        single_s,
        batch_s,
        speedup: single_s / batch_s.max(1e-9),
        verified_sample,
    })
}
