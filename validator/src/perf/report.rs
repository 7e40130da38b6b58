//! Frame reports read from a data dir (the command line and the HTTP
//! routes): `pools.yaml`'s `performance:` settings over the ledger.

use super::frames::{frame_report, FrameReport, PerfConfig};
use super::ledger::{Ledger, LEDGER_FILE};
use crate::pool::config::PoolsConfig;
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
    #[error("{reason}")]
    Ledger {
        /// Why.
        reason: String,
    },
    /// No epoch judged yet.
    #[error("the ledger has no judged epoch yet")]
    Empty,
}

/// `pools.yaml`'s performance settings (defaults without the file).
pub fn perf_config(datadir: &Path) -> Result<PerfConfig, ReportError> {
    match PoolsConfig::load_from_dir(datadir) {
        Ok(c) => Ok(c.map(|c| c.performance).unwrap_or_default()),
        Err(e) => Err(ReportError::Config { reason: e.to_string() }),
    }
}

/// The report of `frame` (the newest judged epoch's frame when `None`).
pub fn load(datadir: &Path, frame: Option<u64>) -> Result<FrameReport, ReportError> {
    let path = datadir.join(LEDGER_FILE);
    if !path.exists() {
        return Err(ReportError::NoLedger { path: path.display().to_string() });
    }
    let cfg = perf_config(datadir)?;
    let ledger = Ledger::open_read_only(datadir).map_err(|e| ReportError::Ledger { reason: e.to_string() })?;
    let frame = match frame {
        Some(f) => f,
        None => {
            let last = ledger.last_epoch().map_err(|e| ReportError::Ledger { reason: e.to_string() })?;
            cfg.frame_of(last.ok_or(ReportError::Empty)?)
        }
    };
    let members = ledger.members().map_err(|e| ReportError::Ledger { reason: e.to_string() })?;
    frame_report(&cfg, &members, &ledger, frame).map_err(|reason| ReportError::Ledger { reason })
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
                "  validator {i}: performance {} < threshold {:.4}, strikes {}, missed attestations {}{}",
                opt(k.performance),
                k.threshold,
                k.strikes,
                k.missed_attestations,
                k.own_when_missed.first().map(|w| format!("; poolvc: {w}")).unwrap_or_default()
            );
        }
    }
    s
}
