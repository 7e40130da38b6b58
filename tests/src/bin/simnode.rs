//! The simulated Electra/Fulu beacon node as a process of its own, for runs
//! of the whole client at scale (`benches/fullclient.sh`): it serves until a
//! given slot has passed, then writes what it checked as JSON and exits.
//!
//! ```text
//! simnode --preset mainnet --validators 100000 --fulu-epoch 0 --slot-ms 12000 \
//!         --genesis-delay-s 60 --verify-sample 16000 --until-slot 96 --check-epochs 1,2 \
//!         --report report.json
//! ```
//! Prints `url=http://127.0.0.1:PORT genesis_time=T` once listening.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use poolvc_signer::types::*;
use poolvc_tests::simnode::harness::now;
use poolvc_tests::simnode::{Report, SimConfig, SimHandle};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;

fn arg(args: &HashMap<String, String>, k: &str, default: &str) -> String {
    args.get(k).cloned().unwrap_or_else(|| default.to_string())
}

fn num(args: &HashMap<String, String>, k: &str, default: u64) -> u64 {
    arg(args, k, &default.to_string()).parse().unwrap_or_else(|_| panic!("--{k}: not a number"))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What the node checked over `epochs`, as JSON.
fn summarize<P: Preset>(h: &SimHandle<P>, r: &Report, epochs: &[u64]) -> serde_json::Value {
    let spec = h.sim.spec().clone();
    let chain = h.sim.chain();
    let (mut expected, mut done, mut missing) = (0u64, 0u64, Vec::new());
    let (mut sync_expected, mut sync_done) = (0u64, 0u64);
    let mut blocks = 0u64;
    let mut latencies = Vec::new();
    let mut offsets = Vec::new();
    let (mut client, mut node) = (Vec::new(), Vec::new());
    for &e in epochs {
        for (v, d) in chain.attester_duties(e).iter() {
            expected += 1;
            if r.attested.contains(&(d.slot, *v)) {
                done += 1;
            } else if missing.len() < 10 {
                missing.push(format!("validator {v} slot {}", d.slot));
            }
        }
        for slot in spec.start_slot(e)..spec.start_slot(e + 1) {
            blocks += r.blocks.contains_key(&slot) as u64;
            let members: std::collections::HashSet<u64> =
                chain.sync_committee(spec.epoch_of(slot + 1)).into_iter().collect();
            sync_expected += members.len() as u64;
            sync_done += members.iter().filter(|v| r.sync_messages.contains(&(slot, **v))).count() as u64;
            // From the head event to the last attestation POST of the slot answered.
            let last_post = r.attestation_posts_ms.iter().filter(|(s, _)| *s == slot).map(|(_, t)| *t).max();
            if let (Some(head), Some(post)) = (r.head_ms.get(&slot), last_post) {
                latencies.push(post.saturating_sub(*head));
            }
            if let Some(post) = last_post {
                offsets.push(post.saturating_sub(slot * spec.slot_duration_ms));
            }
            // The same split: the client's time (head event to the slot's
            // last POST arrived whole) and the node's (that POST's answer).
            let last = r.attestation_posts.iter().filter(|p| p.0 == slot).max_by_key(|p| p.2);
            if let (Some(head), Some((_, arrived, answered))) = (r.head_ms.get(&slot), last) {
                client.push(arrived.saturating_sub(*head));
                node.push(answered.saturating_sub(*arrived));
            }
        }
    }
    latencies.sort_unstable();
    offsets.sort_unstable();
    client.sort_unstable();
    node.sort_unstable();
    let spread = |v: &[u64]| {
        json!({
            "slots": v.len(),
            "median": percentile(v, 0.5),
            "p99": percentile(v, 0.99),
            "max": v.last().copied().unwrap_or(0),
        })
    };
    json!({
        "epochs": epochs,
        "attestation_duties": expected,
        "attestations_done": done,
        "missing": missing,
        "blocks": blocks,
        "slots": epochs.len() as u64 * spec.slots_per_epoch,
        "sync_messages_expected": sync_expected,
        "sync_messages_done": sync_done,
        "head_to_post_ms": {
            "slots": latencies.len(),
            "median": percentile(&latencies, 0.5),
            "p99": percentile(&latencies, 0.99),
            "max": latencies.last().copied().unwrap_or(0),
        },
        "head_to_post_arrived_ms": spread(&client),
        "post_answer_ms": spread(&node),
        "slot_start_to_post_ms": {
            "median": percentile(&offsets, 0.5),
            "p99": percentile(&offsets, 0.99),
        },
        "signatures_verified": r.signatures_verified,
        "failures": r.failures.len(),
        "first_failures": r.failures.iter().take(20).collect::<Vec<_>>(),
    })
}

async fn run<P: Preset>(cfg: SimConfig, until_slot: u64, epochs: Vec<u64>, report: String, port: u16) {
    let h = SimHandle::<P>::start_on(cfg.clone(), &[([127, 0, 0, 1], port).into()]).await;
    println!("url={} genesis_time={}", h.urls()[0], cfg.genesis_time);
    std::io::stdout().flush().unwrap();
    let end_ms = cfg.genesis_time * 1000 + (until_slot + 1) * cfg.slot_ms;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    tokio::time::sleep(std::time::Duration::from_millis(end_ms.saturating_sub(now_ms))).await;
    // Let the sampling thread catch up.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let r = h.sim.report();
    let s = summarize(&h, &r, &epochs);
    std::fs::write(&report, serde_json::to_string_pretty(&s).unwrap()).unwrap();
    println!("{s}");
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut args = HashMap::new();
    for pair in raw.chunks(2) {
        let k = pair[0].strip_prefix("--").unwrap_or_else(|| panic!("expected --flag, got {}", pair[0]));
        args.insert(k.to_string(), pair.get(1).cloned().unwrap_or_default());
    }
    let cfg = SimConfig {
        validators: num(&args, "validators", 64),
        electra_epoch: num(&args, "electra-epoch", 0),
        fulu_epoch: num(&args, "fulu-epoch", 0),
        slot_ms: num(&args, "slot-ms", 12000),
        genesis_time: now() + num(&args, "genesis-delay-s", 30),
        builder: arg(&args, "builder", "false") == "true",
        liveness: true,
        ssz: true,
        verify_every: num(&args, "verify-every", 1),
        verify_sample: num(&args, "verify-sample", 0),
        distributed: false,
    };
    let until = num(&args, "until-slot", 64);
    let epochs: Vec<u64> = arg(&args, "check-epochs", "1").split(',').map(|e| e.parse().unwrap()).collect();
    let report = arg(&args, "report", "simnode-report.json");
    let port = num(&args, "port", 0) as u16;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match arg(&args, "preset", "mainnet").as_str() {
        "mainnet" => rt.block_on(run::<Mainnet>(cfg, until, epochs, report, port)),
        "minimal" => rt.block_on(run::<Minimal>(cfg, until, epochs, report, port)),
        other => panic!("--preset {other}: mainnet or minimal"),
    }
}
