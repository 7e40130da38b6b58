//! `--monitoring-endpoint`: the client-stats push that Lighthouse sends to
//! a remote monitor (beaconcha.in's "client stats", version 1): every
//! `--monitoring-endpoint-period` seconds, first at start, one POST of a
//! JSON array with two objects, the `validator` process and the `system`.
//!
//! The figures come from `/proc` (Linux); a figure that cannot be read is
//! sent as 0 rather than holding back the rest. A push that fails is
//! logged once per run of failures and tried again at the next period: the
//! monitor is never in the way of a duty.

use super::context::Ctx;
use poolvc_signer::types::Preset;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{info, warn};

/// Version of the client-stats format.
const FORMAT_VERSION: u64 = 1;

/// What the validator object reports beyond the process figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorFigures {
    /// Keys loaded.
    pub total: u64,
    /// Keys the chain knows (with a validator index).
    pub active: u64,
    /// More than one beacon node configured.
    pub fallback_configured: bool,
    /// The preferred node is not the first one given (it failed).
    pub fallback_connected: bool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// This process's CPU seconds (user + system) and resident bytes.
fn process_figures() -> (u64, u64) {
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces), from field 3.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let (utime, stime): (u64, u64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
            Some(((utime + stime) as f64 / clock_ticks()) as u64)
        })
        .unwrap_or(0);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page_size())
        .unwrap_or(0);
    (cpu, rss)
}

/// The `validator` object of the client-stats format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatorObject {
    /// Format version.
    pub version: u64,
    /// Unix milliseconds.
    pub timestamp: u64,
    /// `validator`.
    pub process: &'static str,
    /// This process's CPU seconds.
    pub cpu_process_seconds_total: u64,
    /// This process's resident bytes.
    pub memory_process_bytes: u64,
    /// `poolvc`.
    pub client_name: &'static str,
    /// Its version.
    pub client_version: &'static str,
    /// 0.
    pub client_build: u64,
    /// More than one beacon node configured.
    pub sync_eth2_fallback_configured: bool,
    /// The preferred node is not the first one given.
    pub sync_eth2_fallback_connected: bool,
    /// Keys loaded.
    pub validator_total: u64,
    /// Keys with a validator index.
    pub validator_active: u64,
}

/// The `validator` object.
pub fn validator_object(v: ValidatorFigures) -> ValidatorObject {
    let (cpu, rss) = process_figures();
    ValidatorObject {
        version: FORMAT_VERSION,
        timestamp: now_ms(),
        process: "validator",
        cpu_process_seconds_total: cpu,
        memory_process_bytes: rss,
        client_name: "poolvc",
        client_version: env!("CARGO_PKG_VERSION"),
        client_build: 0,
        sync_eth2_fallback_configured: v.fallback_configured,
        sync_eth2_fallback_connected: v.fallback_connected,
        validator_total: v.total,
        validator_active: v.active,
    }
}

/// The `system` object of the client-stats format (Linux figures; 0 where
/// one cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemObject {
    /// Format version.
    pub version: u64,
    /// Unix milliseconds.
    pub timestamp: u64,
    /// `system`.
    pub process: &'static str,
    /// Physical cores.
    pub cpu_cores: u64,
    /// Hardware threads.
    pub cpu_threads: u64,
    /// CPU seconds in the kernel, all CPUs.
    pub cpu_node_system_seconds_total: u64,
    /// CPU seconds in user space.
    pub cpu_node_user_seconds_total: u64,
    /// CPU seconds waiting for I/O.
    pub cpu_node_iowait_seconds_total: u64,
    /// CPU seconds idle.
    pub cpu_node_idle_seconds_total: u64,
    /// Memory in all.
    pub memory_node_bytes_total: u64,
    /// Memory free.
    pub memory_node_bytes_free: u64,
    /// Page cache.
    pub memory_node_bytes_cached: u64,
    /// Buffers.
    pub memory_node_bytes_buffers: u64,
    /// Disk in all (the root file system).
    pub disk_node_bytes_total: u64,
    /// Disk free to users.
    pub disk_node_bytes_free: u64,
    /// Seconds doing disk I/O.
    pub disk_node_io_seconds: u64,
    /// Reads completed.
    pub disk_node_reads_total: u64,
    /// Writes completed.
    pub disk_node_writes_total: u64,
    /// Bytes received.
    pub network_node_bytes_total_receive: u64,
    /// Bytes sent.
    pub network_node_bytes_total_transmit: u64,
    /// Boot time, unix seconds.
    pub misc_node_boot_ts_seconds: u64,
    /// `lin`, or `unk`.
    pub misc_os: &'static str,
}

/// `key value kB` lines of `/proc/meminfo`, in bytes.
fn meminfo(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The `system` object.
pub fn system_object() -> SystemObject {
    let ticks = clock_ticks();
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| l.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    let secs = |i: usize| (cpu.get(i).copied().unwrap_or(0) as f64 / ticks) as u64;
    let boot: u64 = stat.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            let ids: std::collections::HashSet<(String, String)> = c
                .split("\n\n")
                .filter_map(|block| {
                    let field = |k: &str| {
                        block
                            .lines()
                            .find(|l| l.starts_with(k))
                            .and_then(|l| l.split(':').nth(1))
                            .map(|v| v.trim().to_string())
                    };
                    Some((field("physical id").unwrap_or_default(), field("core id")?))
                })
                .collect();
            (!ids.is_empty()).then_some(ids.len())
        })
        .unwrap_or(threads);
    let (disk_total, disk_free) = disk_space("/");
    let (reads, writes, io_ms) = disk_io();
    let (rx, tx) = network_bytes();
    SystemObject {
        version: FORMAT_VERSION,
        timestamp: now_ms(),
        process: "system",
        cpu_cores: cores as u64,
        cpu_threads: threads as u64,
        cpu_node_system_seconds_total: secs(2),
        cpu_node_user_seconds_total: secs(0),
        cpu_node_iowait_seconds_total: secs(4),
        cpu_node_idle_seconds_total: secs(3),
        memory_node_bytes_total: meminfo(&mem, "MemTotal"),
        memory_node_bytes_free: meminfo(&mem, "MemFree"),
        memory_node_bytes_cached: meminfo(&mem, "Cached"),
        memory_node_bytes_buffers: meminfo(&mem, "Buffers"),
        disk_node_bytes_total: disk_total,
        disk_node_bytes_free: disk_free,
        disk_node_io_seconds: io_ms / 1000,
        disk_node_reads_total: reads,
        disk_node_writes_total: writes,
        network_node_bytes_total_receive: rx,
        network_node_bytes_total_transmit: tx,
        misc_node_boot_ts_seconds: boot,
        misc_os: if cfg!(target_os = "linux") { "lin" } else { "unk" },
    }
}

/// Bytes in all and free (to unprivileged users) on the file system of `path`.
fn disk_space(path: &str) -> (u64, u64) {
    let Ok(c) = std::ffi::CString::new(path) else { return (0, 0) };
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is a valid C string.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return (0, 0);
    }
    let frsize = s.f_frsize as u64;
    (s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize)
}

/// Reads and writes completed, and milliseconds doing I/O, over the whole
/// disks (`/sys/block`, without loop and RAM devices).
fn disk_io() -> (u64, u64, u64) {
    let disks: std::collections::HashSet<String> = std::fs::read_dir("/sys/block")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    let text = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
    let mut out = (0, 0, 0);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(name) = f.get(2) else { continue };
        if !disks.contains(*name) || name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.0 += n(3);
        out.1 += n(7);
        out.2 += n(12);
    }
    out
}

/// Bytes received and sent over every interface but loopback.
fn network_bytes() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    let mut out = (0, 0);
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        out.0 += f.first().copied().unwrap_or(0);
        out.1 += f.get(8).copied().unwrap_or(0);
    }
    out
}

/// The push loop: now, then every `period`, until the runtime stops.
pub(crate) async fn run<P: Preset>(ctx: Arc<Ctx<P>>, endpoint: String, period: Duration) {
    let http = reqwest::Client::new();
    let mut failing = false;
    let mut tick = tokio::time::interval(period.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    info!(endpoint = %redact(&endpoint), period_s = period.as_secs(), "client stats pushed to the monitoring endpoint");
    loop {
        tick.tick().await;
        let figures = ValidatorFigures {
            total: ctx.store.len() as u64,
            active: ctx.store.indices().len() as u64,
            fallback_configured: ctx.cfg.beacon_nodes.len() > 1,
            fallback_connected: ctx.beacon.ranked().first().is_some_and(|i| *i != 0),
        };
        let body = (validator_object(figures), system_object());
        let sent = http.post(&endpoint).json(&body).timeout(Duration::from_secs(10)).send().await;
        let problem = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("HTTP {}", r.status())),
            Err(e) => Some(e.without_url().to_string()),
        };
        match (problem, failing) {
            (Some(p), false) => {
                warn!(endpoint = %redact(&endpoint), "client stats push failed ({p}); trying again each period");
                failing = true;
            }
            (None, true) => {
                info!(endpoint = %redact(&endpoint), "client stats push works again");
                failing = false;
            }
            _ => {}
        }
    }
}

/// The endpoint without its query (beaconcha.in's carries the API key).
fn redact(endpoint: &str) -> &str {
    endpoint.split('?').next().unwrap_or(endpoint)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_objects_carry_the_format_and_this_machine_figures() {
        let v = serde_json::to_value(validator_object(ValidatorFigures {
            total: 3,
            active: 2,
            fallback_configured: true,
            fallback_connected: false,
        }))
        .unwrap();
        assert_eq!(v["process"], "validator");
        assert_eq!(v["version"], 1);
        assert_eq!((v["validator_total"].as_u64(), v["validator_active"].as_u64()), (Some(3), Some(2)));
        assert!(v["memory_process_bytes"].as_u64().unwrap() > 1_000_000, "this process's RSS: {v}");
        let s = serde_json::to_value(system_object()).unwrap();
        assert_eq!(s["process"], "system");
        // Sent as a JSON array of the two objects.
        let body = serde_json::to_value((
            validator_object(ValidatorFigures {
                total: 0,
                active: 0,
                fallback_configured: false,
                fallback_connected: false,
            }),
            system_object(),
        ))
        .unwrap();
        assert_eq!((body[0]["process"].as_str(), body[1]["process"].as_str()), (Some("validator"), Some("system")));
        assert!(s["memory_node_bytes_total"].as_u64().unwrap() > s["memory_node_bytes_free"].as_u64().unwrap());
        assert!(s["cpu_threads"].as_u64().unwrap() >= 1 && s["misc_node_boot_ts_seconds"].as_u64().unwrap() > 0);
        assert!(s["disk_node_bytes_total"].as_u64().unwrap() > 0);
    }

    #[test]
    fn the_api_key_stays_out_of_the_logs() {
        assert_eq!(
            redact("https://beaconcha.in/api/v1/client/metrics?apikey=SECRET"),
            "https://beaconcha.in/api/v1/client/metrics"
        );
    }

    #[test]
    fn meminfo_lines_are_read_in_bytes() {
        let t = "MemTotal:       16000000 kB\nMemFree:         1000 kB\nCached:  5 kB\nSwapCached: 7 kB\n";
        assert_eq!(meminfo(t, "MemTotal"), 16_000_000 * 1024);
        assert_eq!(meminfo(t, "Cached"), 5 * 1024);
        assert_eq!(meminfo(t, "Buffers"), 0);
    }
}
