//! `poolvc bench perf`: what the ledger costs per epoch at a number of
//! keys, on a synthetic mainnet-shaped epoch (32 slots, committees of 128,
//! one Electra aggregate per slot over all its committees with 2% of bits
//! unset, a block in every slot, a sync committee of 512): judging the
//! epoch, writing it, and the service's frame report (running sums plus the
//! report, as `poolvc vc` does each epoch); the frame report summed by the
//! database (the command line's and the HTTP routes' path) once at the end;
//! and the ledger's size per day (225 epochs).
//!
//! The chain's fetches are not included: they cost what the node takes to
//! serve 64 headers, 64 blocks and 3 small routes, whatever the key count.

use crate::ledger::config::PerfConfig;
use crate::ledger::db::Ledger;
use crate::ledger::frames::{build_report, frame_report, FrameData};
use crate::ledger::rows::Member;
use crate::ledger::verdict::{judge, BlockFacts, Committee, IncludedAttestation, Window};
use poolvc_signer::types::Hash256;
use std::collections::HashMap;
use std::time::Instant;

fn root(slot: u64) -> Hash256 {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(slot + 1).to_le_bytes());
    Hash256::from(b)
}

/// A synthetic window of epoch `e` over `n` validators.
fn window(e: u64, n: u64) -> Window {
    let spe = 32u64;
    let per_slot = n.div_ceil(spe);
    let count = per_slot.div_ceil(128).max(1);
    let mut committees = Vec::new();
    let mut v = 0u64;
    for s in e * spe..(e + 1) * spe {
        let members: Vec<u64> = (0..per_slot).map(|k| (v + k) % n).collect();
        v += per_slot;
        let size = members.len().div_ceil(count as usize).max(1);
        for (ci, chunk) in members.chunks(size).enumerate() {
            committees.push(Committee { slot: s, index: ci as u64, validators: chunk.to_vec() });
        }
    }
    let by_slot = |s: u64| committees.iter().filter(|c| c.slot == s).collect::<Vec<_>>();
    let mut blocks = Vec::new();
    for s in e * spe..(e + 2) * spe {
        let mut attestations = Vec::new();
        if s > e * spe && s <= (e + 1) * spe {
            let cs = by_slot(s - 1);
            let bits: Vec<bool> = cs.iter().flat_map(|c| c.validators.iter().map(|i| i % 50 != 7)).collect();
            attestations.push(IncludedAttestation {
                slot: s - 1,
                committees: cs.iter().map(|c| c.index).collect(),
                bits,
                head: root(s - 1),
                target: root(e * spe),
            });
        }
        blocks.push(BlockFacts {
            slot: s,
            root: root(s),
            parent: root(s.wrapping_sub(1)),
            proposer: s % n,
            attestations,
            sync_bits: (0..512).map(|p| p % 40 != 3).collect(),
        });
    }
    Window {
        epoch: e,
        slots_per_epoch: spe,
        committees,
        root_before: root(e * spe - 1),
        blocks,
        proposers: (e * spe..(e + 1) * spe).map(|s| (s, s % n)).collect(),
        sync_committee: (0..512).map(|p| (p * 7919) % n).collect(),
        withdrawal_requests: Vec::new(),
    }
}

/// Runs `epochs` epochs at each key count; one line per count.
pub fn run(keys: &[u64], epochs: u64) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut baseline: Option<f64> = None;
    for &n in keys {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut ledger = Ledger::open(dir.path()).map_err(|e| e.to_string())?;
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                index: i,
                pubkey: format!("0x{i:096x}"),
                pool: "lido-csm".into(),
                operator: format!("{}", i % 10),
            })
            .collect();
        ledger.set_members(&members).map_err(|e| e.to_string())?;
        let tracked: Vec<u64> = (0..n).collect();
        let cfg = PerfConfig { frame_epochs: epochs, first_epoch: 1, ..Default::default() };
        let (mut t_judge, mut t_record, mut t_report) = (0.0, 0.0, 0.0);
        let mut acc = FrameData::default();
        for e in 1..=epochs {
            let w = window(e, n);
            let t = Instant::now();
            let v = judge(&w).map_err(|e| e.to_string())?;
            t_judge += t.elapsed().as_secs_f64();
            let t = Instant::now();
            ledger.record_epoch(&v, [0; 32], true, &tracked, None, &HashMap::new()).map_err(|e| e.to_string())?;
            t_record += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let rows = ledger.validator_rows(e, e + 1).map_err(|e| e.to_string())?;
            let row = ledger.epochs(e, e + 1).map_err(|e| e.to_string())?.remove(0);
            acc.add_epoch(row, &rows);
            let r = build_report(&cfg, &members, cfg.frame_of(e), &acc, &Default::default());
            t_report += t.elapsed().as_secs_f64();
            if r.operators.len() != 10 {
                return Err("the frame report lost operators".into());
            }
        }
        let t = Instant::now();
        let db = frame_report(&cfg, &members, &ledger, cfg.frame_of(epochs)).map_err(|e| e.to_string())?;
        let t_db = t.elapsed().as_secs_f64() * 1000.0;
        if db.network != build_report(&cfg, &members, cfg.frame_of(epochs), &acc, &Default::default()).network {
            return Err("the database's frame sums differ from the running sums".into());
        }
        drop(ledger);
        let bytes: u64 = std::fs::read_dir(dir.path())
            .map_err(|e| e.to_string())?
            .filter_map(|f| f.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        let per_epoch = (t_judge + t_record) * 1000.0 / epochs as f64;
        let report = t_report * 1000.0 / epochs as f64;
        let ratio = match baseline {
            None => {
                baseline = Some(per_epoch);
                "baseline".to_string()
            }
            Some(b) => format!("{:.1}x the baseline", per_epoch / b),
        };
        out.push(format!(
            "perf ledger: {n} keys, {epochs} epochs: judge {:.1} ms + write {:.1} ms = {per_epoch:.1} ms/epoch ({ratio}; {:.4} of a 384 s epoch); running sums + report {report:.1} ms/epoch; report summed by the database over {epochs} epochs {t_db:.0} ms; disk {:.1} MB/day ({} bytes for {epochs} epochs)",
            t_judge * 1000.0 / epochs as f64,
            t_record * 1000.0 / epochs as f64,
            per_epoch / 384_000.0,
            bytes as f64 / epochs as f64 * 225.0 / 1e6,
            bytes
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_synthetic_epoch_is_judged_as_built() {
        let v = judge(&window(3, 4096)).unwrap();
        // 2% of bits unset: validators with i % 50 == 7.
        let missed = (0..4096u64).filter(|i| i % 50 == 7).count() as u64;
        assert_eq!(v.network.att_assigned, 4096);
        assert_eq!(v.network.att_included, 4096 - missed);
        assert_eq!(v.network.prop_made, 32);
    }
}
