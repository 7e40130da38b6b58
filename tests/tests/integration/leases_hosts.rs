//! Leased key shards across hosts: three poolvc instances, each in its own
//! network namespace as its own host, against the simulated node, sharing
//! one PostgreSQL reached over a link of its own (which can be cut without
//! cutting the node).
//!
//! Shards s1, s2, s3 of 64 keys each (one a host) and s4 of `BIG` keys
//! (host 3's). Every instance loads every key and is a standby for the
//! others. On one chain, in order:
//! - slot 4: `poolvc keys move` moves all of s4 (`BIG` keys) from host 3 to
//!   host 1 in the middle of the slot; every attestation of slots 2-7 is
//!   done once (the blocks there may be local ones: host 1 signs the moved
//!   keys' builder registrations first, which takes a few seconds for
//!   `BIG` keys); epoch 1: every duty of every kind done, none twice;
//! - slot 17 at a random point: SIGKILL of host 2 (s2's holder). A standby
//!   takes s2 a quarter into slot 18 (the lease, renewed at slot 17's start,
//!   lasts one slot and a sixth: `--lease-missed-renewals 1`) and signs s2's
//!   duties from slot 18's attestations;
//! - slot 20: host 2 comes back with its clock 2 s ahead (libfaketime), a
//!   standby holding nothing;
//! - slot 26 at a random point: host 3's database link goes down (its node
//!   stays up). Its leases (s3, and s2 if it took that one over) run out
//!   before anyone can take them; a standby takes them; the link comes back
//!   at slot 31.
//!
//! Through all of it: no attestation or sync message reaches the node twice,
//! nothing slashable reaches it, and the only duties missed are those of
//! s2 in slots 17-18 and host 3's shards in slots 26-28.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::netns::{forward, make_hosts, split_url, strip_ansi, Host};
use poolvc_signer::types::Minimal;
use poolvc_tests::simnode::harness::*;
use poolvc_tests::simnode::{SimConfig, SimHandle};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Keys of the big shard moved in one `keys move`.
const BIG: u64 = 10_000;
const SHARD: u64 = 64;
const SLOT_MS: u64 = 3000;
/// The instances stop at this slot (the end of epoch 3).
const END_SLOT: u64 = 32;
const KILL_SLOT: u64 = 17;
const SKEWED_SLOT: u64 = 20;
const CUT_SLOT: u64 = 26;
const HEAL_SLOT: u64 = 31;
const MOVE_SLOT: u64 = 4;
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Which shard validator `v` starts in (1..=4).
fn shard_of(v: u64) -> u64 {
    if v < 3 * SHARD {
        v / SHARD + 1
    } else {
        4
    }
}

struct Instance {
    child: Child,
    dir: tempfile::TempDir,
}

struct Net {
    bin: std::path::PathBuf,
    urls: Vec<String>,
    auth: String,
    db: String,
}

impl Net {
    /// Starts host `i`'s instance (shards it prefers; a standby for all),
    /// ending at `END_SLOT`; `skew` runs it with its clock 2 s ahead.
    fn start(&self, host: &Host, i: usize, genesis_ms: u64, skew: bool) -> Instance {
        let pg_here = SocketAddr::from((host.db_gateway(), 15432));
        let dir = tempfile::tempdir().unwrap();
        let slot_now = now_ms().saturating_sub(genesis_ms) / SLOT_MS;
        let max_slots = END_SLOT.saturating_sub(slot_now + 1).max(1);
        let shards = if i == 2 { "s3,s4".to_string() } else { format!("s{}", i + 1) };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &host.ns]).arg(&self.bin);
        cmd.args(["vc", "--beacon-nodes", &self.urls[i], "--datadir"]).arg(dir.path());
        cmd.args(["--init-slashing-protection", "--slashing-protection-db"]);
        cmd.arg(format!("postgres://{}@{pg_here}/{}", self.auth, self.db));
        cmd.args(["--interop-indexes", &format!("0..{}", 3 * SHARD + BIG - 1)]);
        cmd.args(["--lease-holder", &format!("host-{}", i + 1), "--lease-shards", &shards, "--lease-standby"]);
        cmd.args(["--suggested-fee-recipient", "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--builder-proposals"]);
        cmd.args(["--graffiti", &format!("host {}", i + 1), "--max-slots", &max_slots.to_string()]);
        cmd.env("RUST_LOG", "info");
        if skew {
            cmd.env("LD_PRELOAD", LIBFAKETIME).env("FAKETIME", "+2s").env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let child = cmd.stdout(log("vc.log")).stderr(log("vc.err")).spawn().unwrap();
        Instance { child, dir }
    }
}

/// Sleeps until `ms` (Unix milliseconds).
async fn until(ms: u64) {
    let now = now_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(ms - now)).await;
    }
}

/// Waits for an instance to end (or kills it after `limit`); its log.
async fn finish(mut inst: Instance, limit: Duration) -> (Option<std::process::ExitStatus>, String) {
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(s) = inst.child.try_wait().unwrap() {
                return (Some(s), inst.dir);
            }
            if std::time::Instant::now() > deadline {
                let _ = inst.child.kill();
                let _ = inst.child.wait();
                return (None, inst.dir);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();
    let log = strip_ansi(&std::fs::read_to_string(status.1.path().join("vc.err")).unwrap_or_default());
    (status.0, log)
}

fn poolvc(bin: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(out.status.success(), "poolvc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_lease_shards_kill_partition_skew_and_move() {
    let _machine = poolvc_tests::turns::alone();
    init_logs();
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let fresh = tokio::task::spawn_blocking(|| poolvc_tests::fresh_postgres("leases_hosts"));
    let Some(db_url) = fresh.await.unwrap() else { return };
    let Some(hosts) = make_hosts(&[(11, true), (12, true), (13, true)]) else { return };
    if !std::path::Path::new(LIBFAKETIME).exists() {
        assert!(!ci, "CI=true but libfaketime is not installed ({LIBFAKETIME})");
        eprintln!("SKIPPED: libfaketime is not installed (apt-get install faketime)");
        return;
    }
    let bin = poolvc_bin();
    let b = bin.to_str().unwrap().to_string();
    // The shards, through the command operators use.
    for (s, range) in [
        ("s1", format!("0..{}", SHARD - 1)),
        ("s2", format!("{}..{}", SHARD, 2 * SHARD - 1)),
        ("s3", format!("{}..{}", 2 * SHARD, 3 * SHARD - 1)),
        ("s4", format!("{}..{}", 3 * SHARD, 3 * SHARD + BIG - 1)),
    ] {
        let out = poolvc(&bin, &["keys", "assign", "--postgres", &db_url, "--shard", s, "--interop-range", &range]);
        assert!(out.contains("keys added"), "{out}");
    }
    let (auth, pg, db) = split_url(&db_url);
    let validators = 3 * SHARD + BIG;
    let genesis_time = now() + 14;
    let cfg = SimConfig { validators, slot_ms: SLOT_MS, genesis_time, verify_every: 4, ..SimConfig::electra_minimal() };
    let binds: Vec<SocketAddr> = hosts.iter().map(|h| SocketAddr::from((h.gateway(), 0))).collect();
    let h = SimHandle::<Minimal>::start_on(cfg, &binds).await;
    for host in &hosts {
        forward(SocketAddr::from((host.db_gateway(), 15432)), pg).await;
    }
    let net = Net { bin: bin.clone(), urls: h.urls(), auth, db };
    let genesis_ms = genesis_time * 1000;
    let at = |slot: u64, frac: f64| genesis_ms + slot * SLOT_MS + (frac * SLOT_MS as f64) as u64;
    let mut running: Vec<Option<Instance>> = (0..3).map(|i| Some(net.start(&hosts[i], i, genesis_ms, false))).collect();

    // All of s4 moves from host 3 to host 1 mid-slot.
    until(at(MOVE_SLOT, 0.5)).await;
    let range = format!("{}..{}", 3 * SHARD, 3 * SHARD + BIG - 1);
    let moved = tokio::task::spawn_blocking({
        let (b, u) = (b.clone(), db_url.clone());
        move || {
            poolvc(
                std::path::Path::new(&b),
                &["keys", "move", "--postgres", &u, "--to", "s1", "--interop-range", &range],
            )
        }
    })
    .await
    .unwrap();
    assert!(moved.contains(&format!("moved={BIG} ")), "{moved}");
    let move_ms: u64 = moved.split("ms=").nth(1).and_then(|s| s.trim().parse().ok()).unwrap();

    // SIGKILL of s2's holder at a random point of slot 17.
    let jitter = (now_ms() % 1000) as f64 / 1000.0;
    until(at(KILL_SLOT, jitter)).await;
    let mut victim = running[1].take().unwrap();
    let kill_ms = now_ms() - genesis_ms;
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    let shards_after_kill = poolvc(&bin, &["keys", "shards", "--postgres", &db_url]);

    // Host 2 back, its clock 2 s ahead.
    until(at(SKEWED_SLOT, 0.0)).await;
    running[1] = Some(net.start(&hosts[1], 1, genesis_ms, true));

    // Host 3 cut from PostgreSQL at a random point of slot 26.
    until(at(CUT_SLOT, 1.0 - jitter)).await;
    // What host 3 holds when it is cut off (s3, s4, and whatever it took
    // over when host 2 was killed): those shards miss the cut's slots.
    let before_cut = poolvc(&bin, &["keys", "shards", "--postgres", &db_url]);
    let cut_shards: Vec<u64> = before_cut
        .lines()
        .filter(|l| l.split('\t').nth(1) == Some("host-3"))
        .filter_map(|l| l.strip_prefix('s').and_then(|x| x.split('\t').next()).and_then(|n| n.parse().ok()))
        .collect();
    assert!(cut_shards.contains(&3), "host 3 does not hold s3 before the cut:\n{before_cut}");
    hosts[2].db_link(false).unwrap();
    let cut_ms = now_ms() - genesis_ms;
    until(at(HEAL_SLOT, 0.0)).await;
    hosts[2].db_link(true).unwrap();
    let shards_after_cut = poolvc(&bin, &["keys", "shards", "--postgres", &db_url]);

    let mut logs = Vec::new();
    for (i, inst) in running.into_iter().enumerate() {
        let (status, log) = finish(inst.unwrap(), Duration::from_secs(90)).await;
        // The host cut from its database may still be stuck in a call when
        // its slots run out; the others end cleanly.
        if i != 2 {
            assert!(status.is_some_and(|s| s.success()), "host {} failed ({status:?}):\n{log}", i + 1);
        }
        logs.push(log);
    }
    let victim_log = strip_ansi(&std::fs::read_to_string(victim.dir.path().join("vc.err")).unwrap_or_default());
    // Kept for a look after a failure.
    let keep = std::env::temp_dir().join("poolvc-leases-hosts");
    let _ = std::fs::create_dir_all(&keep);
    for (i, l) in logs.iter().enumerate() {
        let _ = std::fs::write(keep.join(format!("host-{}.log", i + 1)), l);
    }
    let _ = std::fs::write(keep.join("host-2-killed.log"), &victim_log);

    let r = h.sim.report();
    assert!(r.failures.is_empty(), "the node found problems:\n{}", r.failures.join("\n"));
    assert!(
        r.attested_twice.is_empty(),
        "attestations signed twice: {:?}",
        &r.attested_twice[..r.attested_twice.len().min(20)]
    );
    assert!(r.sync_twice.is_empty(), "sync messages signed twice: {:?}", &r.sync_twice[..r.sync_twice.len().min(20)]);
    // Epoch 1 (after the move): every duty of every kind, once.
    let line = check_epochs(&h, &r, &[1]);

    // Slots 2-7 (around the move) and epochs 2-3: every attestation, but
    // s2's around the kill and s3's around the cut.
    let chain = h.sim.chain();
    let excused = |slot: u64, v: u64| {
        (shard_of(v) == 2 && (KILL_SLOT..=KILL_SLOT + 1).contains(&slot))
            || (cut_shards.contains(&shard_of(v)) && (CUT_SLOT..=CUT_SLOT + 2).contains(&slot))
    };
    let mut missed: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut done = 0;
    for epoch in [0].into_iter().chain(2..END_SLOT / 8) {
        for (v, d) in chain.attester_duties(epoch).iter().filter(|(_, d)| d.slot >= 2) {
            if r.attested.contains(&(d.slot, *v)) {
                done += 1;
            } else {
                missed.entry(d.slot).or_default().push(*v);
            }
        }
    }
    let unexcused: Vec<(u64, u64)> =
        missed.iter().flat_map(|(s, vs)| vs.iter().map(move |v| (*s, *v))).filter(|(s, v)| !excused(*s, *v)).collect();
    assert!(unexcused.is_empty(), "attestations missed outside the failover windows: {unexcused:?}");
    // From which slot a standby signed s2's duties, and how long after the
    // kill: the first s2 vote the node received after it.
    let first_after = |at_ms: u64, shard: &dyn Fn(u64) -> bool| {
        r.attested_at_ms
            .iter()
            .filter(|((_, v), ms)| shard(*v) && **ms > at_ms)
            .map(|((slot, _), ms)| (*slot, ms - at_ms))
            .min_by_key(|(_, ms)| *ms)
            .unwrap()
    };
    let (resumed, failover_ms) = first_after(kill_ms, &|v| shard_of(v) == 2);
    assert!(resumed <= KILL_SLOT + 2, "s2 signed again only from slot {resumed}");
    let (s3_resumed, _) = first_after(cut_ms, &|v| cut_shards.contains(&shard_of(v)));
    assert!(s3_resumed <= CUT_SLOT + 3, "host 3's shards signed again only from slot {s3_resumed}");
    // Blocks: one per slot but where the proposer's shard was in a window.
    for slot in (2..8).chain(16..END_SLOT) {
        let p = chain.proposer(slot);
        if !r.blocks.contains_key(&slot) {
            assert!(excused(slot, p), "slot {slot}: no block from {p}");
        }
    }
    // The cut-off host stopped under its own deadline (its gate said so),
    // and someone else took s3 over.
    assert!(logs[2].contains("lease not renewed in time"), "host 3 never refused for its expired lease:\n{}", logs[2]);
    let takeovers: usize = logs.iter().map(|l| l.matches("lease taken").count()).sum();
    assert!(victim_log.contains("lease taken"), "host 2 took its shard at start:\n{victim_log}");
    assert!(takeovers >= 3 + 2, "takeovers: {takeovers}");
    assert!(shards_after_kill.contains("s2\thost-2"), "s2 not yet taken right after the kill:\n{shards_after_kill}");
    assert!(!shards_after_cut.contains("s3\thost-3"), "s3 taken from the cut-off host:\n{shards_after_cut}");
    eprintln!(
        "{line}; slots 2-7 and epochs 2-3: attestations {done} done, missed {} (all in the windows); move of {BIG} keys {move_ms} ms; \
         kill at {kill_ms} ms: s2 signed again from slot {resumed}, failover {failover_ms} ms; cut at {cut_ms} ms: s3 \
         shards {cut_shards:?} signed again from slot {s3_resumed}; twice=0",
        missed.values().map(Vec::len).sum::<usize>()
    );
}

/// Failover time: two hosts, shards of 64 keys each, both standbys. The
/// holder of s1 is SIGKILLed at a random point of a slot, the time until
/// the node receives the first attestation of an s1 key from the standby
/// is taken, the killed host comes back as a standby, and the next kill
/// takes the new holder: `POOLVC_LEASE_KILLS` times (20 by default). Says
/// the median, in milliseconds and in slots; no attestation twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_time_over_repeated_kills() {
    let _machine = poolvc_tests::turns::shared();
    init_logs();
    let kills: usize = std::env::var("POOLVC_LEASE_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let fresh = tokio::task::spawn_blocking(|| poolvc_tests::fresh_postgres("leases_failover"));
    let Some(db_url) = fresh.await.unwrap() else { return };
    let Some(hosts) = make_hosts(&[(14, true), (15, true)]) else { return };
    let bin = poolvc_bin();
    for (s, range) in [("s1", "0..63"), ("s2", "64..127")] {
        poolvc(&bin, &["keys", "assign", "--postgres", &db_url, "--shard", s, "--interop-range", range]);
    }
    let (auth, pg, db) = split_url(&db_url);
    const SLOT: u64 = 2000;
    let genesis_time = now() + 6;
    let cfg = SimConfig { validators: 128, slot_ms: SLOT, genesis_time, ..SimConfig::electra_minimal() };
    let binds: Vec<SocketAddr> = hosts.iter().map(|h| SocketAddr::from((h.gateway(), 0))).collect();
    let h = SimHandle::<Minimal>::start_on(cfg, &binds).await;
    for host in &hosts {
        forward(SocketAddr::from((host.db_gateway(), 15432)), pg).await;
    }
    let urls = h.urls();
    let genesis_ms = genesis_time * 1000;
    let start = |i: usize| {
        let pg_here = SocketAddr::from((hosts[i].db_gateway(), 15432));
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &hosts[i].ns]).arg(&bin);
        cmd.args(["vc", "--beacon-nodes", &urls[i], "--datadir"]).arg(dir.path());
        cmd.args([
            "--init-slashing-protection",
            "--slashing-protection-db",
            &format!("postgres://{auth}@{pg_here}/{db}"),
        ]);
        cmd.args(["--interop-indexes", "0..127", "--lease-holder", &format!("host-{}", i + 1)]);
        cmd.args(["--lease-shards", &format!("s{}", i + 1), "--lease-standby"]);
        cmd.args(["--suggested-fee-recipient", "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--builder-proposals"]);
        cmd.env("RUST_LOG", "info");
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let child = cmd.stdout(log("vc.log")).stderr(log("vc.err")).spawn().unwrap();
        Instance { child, dir }
    };
    let mut running: Vec<Option<Instance>> = vec![Some(start(0)), Some(start(1))];
    let slot_now = || now_ms().saturating_sub(genesis_ms) / SLOT;
    until(genesis_ms + 3 * SLOT).await;
    let mut holder = 0usize; // host 1 takes s1 at start
    let mut times = Vec::new();
    let mut seed = now_ms();
    for k in 0..kills {
        // A random point of the next slot.
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let frac = (seed >> 33) % 1000;
        until(genesis_ms + (slot_now() + 1) * SLOT + frac * SLOT / 1000).await;
        let shards = poolvc(&bin, &["keys", "shards", "--postgres", &db_url]);
        assert!(
            shards.contains(&format!("s1\thost-{}", holder + 1)),
            "kill {k}: s1's holder is not host {}:\n{shards}",
            holder + 1
        );
        let mut victim = running[holder].take().unwrap();
        let kill_ms = now_ms() - genesis_ms;
        victim.child.kill().unwrap();
        let _ = victim.child.wait();
        // The first s1 attestation after the kill (every s1 key attests once an epoch).
        let deadline = now_ms() + 12 * SLOT;
        let first = loop {
            let r = h.sim.report();
            let got = r.attested_at_ms.iter().filter(|((_, v), ms)| *v < 64 && **ms > kill_ms).map(|(_, ms)| *ms).min();
            if let Some(ms) = got {
                break ms;
            }
            assert!(now_ms() < deadline, "kill {k}: no s1 attestation within 12 slots of the kill");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        times.push(first - kill_ms);
        running[holder] = Some(start(holder));
        holder = 1 - holder;
        // The restarted host is up before the next kill.
        until(now_ms() + 2 * SLOT).await;
    }
    for i in running.into_iter().flatten() {
        let mut c = i.child;
        let _ = c.kill();
        let _ = c.wait();
    }
    let r = h.sim.report();
    assert!(r.failures.is_empty(), "the node found problems:\n{}", r.failures.join("\n"));
    assert!(r.attested_twice.is_empty(), "attestations signed twice: {:?}", r.attested_twice);
    times.sort_unstable();
    let median = times[times.len() / 2];
    eprintln!(
        "failover over {kills} kills: median {median} ms ({:.2} slots of {SLOT} ms), min {} ms, max {} ms; all: {times:?}",
        median as f64 / SLOT as f64,
        times[0],
        times[times.len() - 1]
    );
    assert!(median < 3 * SLOT, "median failover {median} ms");
}
