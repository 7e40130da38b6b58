//! Frame reports read from a data dir (the command line and the HTTP
//! routes): `pools.yaml`'s `performance:` settings over the ledger.

use super::config::PerfConfig;
use super::db::{Ledger, LEDGER_FILE};
use super::frames::{frame_report, FrameReport};
use std::path::Path;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No ledger in the data dir.
    #[error("{path}: no performance ledger (poolvc vc writes it when pools.yaml is present)")]
    NoLedger {
        /// The ledger's path.
        path: String,
    },
    /// `pools.yaml` could not be read.
    #[error("{reason}")]
    Config {
        /// Why.
        reason: String,
    },
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] super::error::LedgerError),
    /// The reading task ended without an answer.
    #[error("reading the ledger: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The execution node failed.
    #[error("execution node: {0}")]
    Rpc(#[from] crate::el::rpc::RpcError),
    /// No epoch judged yet.
    #[error("the ledger has no judged epoch yet")]
    Empty,
}

/// The report of `frame` (the newest judged epoch's frame when `None`),
/// from the ledger in `datadir`, or in PostgreSQL at `postgres`.
/// `cfg` is `pools.yaml`'s `performance:` (read by the caller, who knows
/// where `pools.yaml` is: [`crate::pool::config::performance_in`]).
pub fn load(
    cfg: &PerfConfig,
    datadir: &Path,
    postgres: Option<&str>,
    frame: Option<u64>,
) -> Result<FrameReport, ReportError> {
    let ledger = match postgres {
        Some(url) => Ledger::open_postgres(url),
        None => {
            let path = datadir.join(LEDGER_FILE);
            if !path.exists() {
                return Err(ReportError::NoLedger { path: path.display().to_string() });
            }
            Ledger::open_read_only(datadir)
        }
    }?;
    // The frames the client cut by (a HashConsensus's), over the file's,
    // and the operators' curves it judged by.
    let mut cfg = cfg.cut_by(ledger.frames()?);
    cfg.curves = ledger.curves()?;
    let cfg = &cfg;
    let frame = match frame {
        Some(f) => f,
        None => {
            let last = ledger.last_epoch()?;
            cfg.frame_of(last.ok_or(ReportError::Empty)?)
        }
    };
    let members = ledger.members()?;
    Ok(frame_report(cfg, &members, &ledger, frame)?)
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.4}"))
}

/// The report as text: the frame, the network, then per operator a line
/// and its keys below threshold or with strikes.
pub fn render(r: &FrameReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "frame {} (epochs {}..{}): {} epochs judged{}; network performance {}",
        r.frame,
        r.epochs[0],
        r.epochs[1],
        r.epochs_judged,
        if r.complete { "" } else { " (in progress)" },
        opt(r.network_performance)
    );
    for (name, o) in &r.operators {
        let c = &o.counts;
        let _ = writeln!(
            s,
            "{name}: {} keys, performance {}, attestations {}/{}, proposals {}/{}, sync {}/{}, rewards {}; {} below \
             threshold, {} ejectable",
            o.validators.len(),
            opt(o.performance),
            c.att_included,
            c.att_assigned,
            c.prop_made,
            c.prop_assigned,
            c.sync_included,
            c.sync_assigned,
            opt(o.rewards_ratio),
            o.keys_below,
            o.keys_ejectable
        );
        for (i, k) in o.validators.iter().filter(|(_, k)| k.below || k.strikes > 0) {
            let _ = writeln!(
                s,
                "  validator {i}: performance {} < threshold {}{}, strikes {}, missed attestations {}{}",
                opt(k.performance),
                opt(k.threshold),
                if k.slashed { " (slashed)" } else { "" },
                k.strikes,
                k.missed_attestations,
                k.own_when_missed.first().map(|w| format!("; poolvc: {w}")).unwrap_or_default()
            );
        }
    }
    s
}

/// What `poolvc pool verify` prints.
#[derive(Debug, serde::Serialize)]
pub struct Verified {
    /// The frame.
    pub frame: u64,
    /// The contract.
    pub contract: String,
    /// The leaf's fields.
    pub leaf: serde_json::Value,
    /// Its hash.
    pub leaf_hash: String,
    /// The proof, leaf to root.
    pub proof: Vec<String>,
    /// The root poolvc computes from its ledger.
    pub root: String,
    /// The root the contract accepted (zero before quorum).
    pub accepted_root: String,
    /// Whether the contract's `verifyValidator` says yes.
    pub verified_on_chain: bool,
}

/// Builds `pubkey`'s leaf and proof of `frame` and asks the contract at
/// `cfg.report` through the JSON-RPC endpoint `rpc` (`pools.yaml`'s
/// `performance:` and `rpc:`).
pub async fn verify(
    cfg: &PerfConfig,
    rpc: Option<&str>,
    datadir: &Path,
    postgres: Option<&str>,
    frame: u64,
    pubkey: &str,
) -> Result<Verified, ReportError> {
    use super::onchain::{self, sol};
    let rc = cfg.report.clone().ok_or_else(|| ReportError::Config {
        reason: "pools.yaml: performance.report (the reporting contract) is not set".into(),
    })?;
    let url = rpc.ok_or_else(|| ReportError::Config { reason: "pools.yaml: rpc is not set".into() })?.to_string();
    let (dir, pg, perf) = (datadir.to_path_buf(), postgres.map(str::to_string), cfg.clone());
    let r = tokio::task::spawn_blocking(move || load(&perf, &dir, pg.as_deref(), Some(frame))).await??;
    let (leaf, proof, root) = onchain::leaf_and_proof(&r, pubkey).ok_or_else(|| ReportError::Config {
        reason: format!("validator {pubkey} is not in frame {frame}'s report"),
    })?;
    let rpc = crate::el::rpc::EthRpc::new(&url, std::time::Duration::from_secs(10));
    let block = rpc.block_number().await?;
    let accepted =
        rpc.call(rc.contract, sol::validatorsRootCall { frame: alloy_primitives::U256::from(frame) }, block).await?;
    let ok =
        rpc.call(rc.contract, sol::verifyValidatorCall { leaf: leaf.clone(), proof: proof.clone() }, block).await?;
    let leaf_json = serde_json::json!({
        "frame": frame,
        "validator_index": leaf.validatorIndex,
        "pubkey_root": format!("{}", leaf.pubkeyRoot),
        "operator_id": format!("{}", leaf.operatorId),
        "attestations": [leaf.attAssigned, leaf.attIncluded],
        "proposals": [leaf.propAssigned, leaf.propMade],
        "sync": [leaf.syncAssigned, leaf.syncIncluded],
        "performance_bp": leaf.performanceBp,
        "threshold_bp": leaf.thresholdBp,
    });
    Ok(Verified {
        frame,
        contract: format!("{}", rc.contract),
        leaf: leaf_json,
        leaf_hash: format!("{}", onchain::leaf_hash(&leaf)),
        proof: proof.iter().map(|p| format!("{p}")).collect(),
        root: format!("{root}"),
        accepted_root: format!("{accepted}"),
        verified_on_chain: ok,
    })
}

/// Writes a new reporter keystore to `out` (0600, not overwriting);
/// returns its address.
pub fn new_reporter_key(out: &Path, password_file: &Path) -> Result<String, ReportError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let bad = |reason: String| ReportError::Config { reason };
    let password =
        std::fs::read_to_string(password_file).map_err(|e| bad(format!("{}: {e}", password_file.display())))?;
    let password = zeroize::Zeroizing::new(password.trim_end_matches(['\n', '\r']).to_string());
    let (key, json) =
        super::reporter_key::ReporterKey::generate(password.as_bytes(), 18).map_err(|e| bad(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| bad(format!("{}: {e}", out.display())))?;
    f.write_all(json.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| bad(format!("{}: {e}", out.display())))?;
    Ok(format!("{}", key.address()))
}
