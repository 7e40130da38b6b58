//! `poolvc bench signing`: an operator's measurement of this machine's signing
//! throughput, stock-client style (blst `SecretKey::sign` per signature,
//! spread over T threads, as Lighthouse does) against poolvc's batch engine,
//! on the same workload, with a byte-for-byte comparison of the outputs.

use crate::progress;
use poolvc_signer::batch::comb::DEFAULT_WINDOW;
use poolvc_signer::batch::{KeySet, SignRequest, SigningEngine, DEFAULT_TABLE_THRESHOLD};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::keys::{SecretKey, ETH_DST};
use poolvc_signer::types::{Hash256, SignatureBytes};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Errors of the bench commands.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad arguments.
    #[error("{0}")]
    Args(String),
    /// The engine refused the batch.
    #[error(transparent)]
    Engine(#[from] poolvc_signer::batch::BatchError),
}

/// The workload and knobs.
#[derive(Debug, Clone)]
pub struct SigningBenchOptions {
    /// Number of keys (interop keys 0..N).
    pub keys: usize,
    /// Number of distinct messages; key i signs message i mod M.
    pub messages: usize,
    /// Threads for both the baseline and the engine.
    pub threads: usize,
    /// Rounds of the whole workload per side (0 = enough for ~2,000 signatures).
    pub rounds: usize,
    /// Engine table threshold.
    pub threshold: usize,
    /// Engine window width.
    pub window: usize,
}

impl SigningBenchOptions {
    /// Defaults for `keys` keys.
    pub fn new(keys: usize) -> Self {
        Self { keys, messages: 1, threads: 1, rounds: 0, threshold: DEFAULT_TABLE_THRESHOLD, window: DEFAULT_WINDOW }
    }
}

/// The result, as printed by `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SigningBenchResult {
    /// Keys.
    pub keys: usize,
    /// Distinct messages.
    pub messages: usize,
    /// Threads.
    pub threads: usize,
    /// Rounds per side.
    pub rounds: usize,
    /// Baseline throughput.
    pub baseline_sigs_per_s: f64,
    /// Engine throughput.
    pub engine_sigs_per_s: f64,
    /// `engine / baseline`.
    pub speedup: f64,
    /// Whether both produced the same bytes for every signature.
    pub identical: bool,
    /// With more than one thread: the engine on one thread, same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_1_thread_sigs_per_s: Option<f64>,
    /// With more than one thread: engine(T threads) / engine(1 thread).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_scaling: Option<f64>,
}

/// Runs the signing benchmark.
pub fn run_signing(opts: &SigningBenchOptions) -> Result<SigningBenchResult, BenchError> {
    if opts.keys == 0 || opts.messages == 0 || opts.threads == 0 {
        return Err(BenchError::Args("--keys, --messages and --threads must be at least 1".into()));
    }
    if opts.messages > opts.keys {
        return Err(BenchError::Args(format!("--messages {} exceeds --keys {}", opts.messages, opts.keys)));
    }
    let rounds = if opts.rounds == 0 { 2_000usize.div_ceil(opts.keys).max(1) } else { opts.rounds };
    let phases = if opts.threads > 1 { 3 } else { 2 };
    let pb = progress::bar((phases * rounds) as u64, "bench signing");

    let sks: Vec<SecretKey> = (0..opts.keys as u64).into_par_iter().map(interop_secret_key).collect();
    let roots: Vec<Hash256> =
        (0..opts.messages as u64).map(|j| Hash256::from(<[u8; 32]>::from(Sha256::digest(j.to_le_bytes())))).collect();
    let mut set = KeySet::new();
    let handles: Vec<_> = sks.iter().map(|sk| set.insert(sk)).collect();
    let requests: Vec<SignRequest> = handles
        .iter()
        .enumerate()
        .map(|(i, h)| SignRequest { key: *h, signing_root: roots[i % opts.messages] })
        .collect();

    // Baseline: one blst sign per signature on a pool of T threads.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| BenchError::Args(format!("thread pool: {e}")))?;
    let mut baseline = Vec::new();
    let mut t_base = Duration::ZERO;
    for _ in 0..rounds {
        let t = Instant::now();
        baseline = pool.install(|| {
            requests
                .par_iter()
                .enumerate()
                .map(|(i, r)| {
                    SignatureBytes::from(sks[i].as_blst().sign(r.signing_root.as_slice(), ETH_DST, &[]).compress())
                })
                .collect::<Vec<_>>()
        });
        t_base += t.elapsed();
        pb.inc(1);
    }

    let engine = SigningEngine::with_params(set, opts.threads, opts.threshold, opts.window);
    let mut ours = Vec::new();
    let mut t_engine = Duration::ZERO;
    for _ in 0..rounds {
        let t = Instant::now();
        ours = engine.sign(&requests)?;
        t_engine += t.elapsed();
        pb.inc(1);
    }
    let n = (opts.keys * rounds) as f64;
    let mut one_thread = None;
    if opts.threads > 1 {
        let mut set1 = KeySet::new();
        sks.iter().for_each(|sk| {
            set1.insert(sk);
        });
        let engine1 = SigningEngine::with_params(set1, 1, opts.threshold, opts.window);
        let mut t1 = Duration::ZERO;
        for _ in 0..rounds {
            let t = Instant::now();
            let again = engine1.sign(&requests)?;
            t1 += t.elapsed();
            if again != ours {
                return Err(BenchError::Args("engine output differs between thread counts".into()));
            }
            pb.inc(1);
        }
        one_thread = Some(n / t1.as_secs_f64());
    }
    pb.finish_and_clear();

    let baseline_sigs_per_s = n / t_base.as_secs_f64();
    let engine_sigs_per_s = n / t_engine.as_secs_f64();
    Ok(SigningBenchResult {
        keys: opts.keys,
        messages: opts.messages,
        threads: opts.threads,
        rounds,
        baseline_sigs_per_s,
        engine_sigs_per_s,
        speedup: engine_sigs_per_s / baseline_sigs_per_s,
        identical: baseline == ours,
        engine_1_thread_sigs_per_s: one_thread,
        thread_scaling: one_thread.map(|e1| engine_sigs_per_s / e1),
    })
}

/// Options of `poolvc bench slashing`.
#[derive(Debug, Clone)]
pub struct SlashingBenchOptions {
    /// Validators.
    pub validators: usize,
    /// Attestations per batch (0 = one slot's attesters: validators / 32).
    pub batch: usize,
    /// Epochs recorded with batches (the batched side's figures are per epoch).
    pub epochs: usize,
    /// Epochs of history recorded first (untimed).
    pub history_epochs: usize,
    /// PostgreSQL URL (a scratch schema is made and dropped); SQLite in a temp dir otherwise.
    pub postgres: Option<String>,
}

/// Result of `poolvc bench slashing`, as printed by `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlashingBenchResult {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Validators.
    pub validators: usize,
    /// Attestations per batch.
    pub batch_size: usize,
    /// Epochs timed on the batched side.
    pub epochs: usize,
    /// Mean time to record one epoch in batches.
    pub batched_ms: f64,
    /// Time to record one epoch, one transaction per attestation.
    pub per_message_ms: f64,
    /// `per_message_ms / batched_ms`.
    pub speedup: f64,
    /// Median time of one batch (check + insert + durable commit).
    pub batch_median_ms: f64,
    /// Slowest batch.
    pub batch_max_ms: f64,
}

/// Runs the slashing-database benchmark.
pub fn run_slashing(opts: &SlashingBenchOptions) -> Result<SlashingBenchResult, BenchError> {
    use poolvc_signer::slashing::postgres::PostgresSlashingDb;
    use poolvc_signer::slashing::sqlite::SqliteSlashingDb;
    use poolvc_signer::slashing::{AttestationRecord, SlashingDatabase};
    use poolvc_signer::types::PublicKeyBytes;

    let n = opts.validators;
    if n == 0 || opts.epochs == 0 {
        return Err(BenchError::Args("--validators and --epochs must be at least 1".into()));
    }
    let batch = if opts.batch == 0 { n.div_ceil(32) } else { opts.batch };
    let gvr = Hash256::repeat_byte(0x42);
    let dir = tempfile::tempdir().map_err(|e| BenchError::Args(format!("temp dir: {e}")))?;
    let db_err = |e: poolvc_signer::slashing::SlashingError| BenchError::Args(format!("database: {e}"));
    let (db, backend, cleanup): (Box<dyn SlashingDatabase>, &'static str, Option<(String, String)>) = match &opts
        .postgres
    {
        None => {
            (Box::new(SqliteSlashingDb::open(&dir.path().join("bench.sqlite"), gvr).map_err(db_err)?), "sqlite", None)
        }
        Some(url) => {
            let schema = format!("poolvc_bench_{}", std::process::id());
            let mut c =
                postgres::Client::connect(url, postgres::NoTls).map_err(|e| BenchError::Args(format!("{url}: {e}")))?;
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
                .map_err(|e| BenchError::Args(format!("create schema: {e}")))?;
            let sep = if url.contains('?') { '&' } else { '?' };
            let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
            (
                Box::new(PostgresSlashingDb::connect(&scoped, gvr).map_err(db_err)?),
                "postgres",
                Some((url.clone(), schema)),
            )
        }
    };
    let keys: Vec<PublicKeyBytes> = (0..n as u64)
        .map(|i| {
            let mut b = [0u8; 48];
            b[..8].copy_from_slice(&i.to_le_bytes());
            b[47] = 0xa5;
            PublicKeyBytes::from(b)
        })
        .collect();
    db.register_validators(&keys).map_err(db_err)?;
    let epoch_records = |e: u64| -> Vec<AttestationRecord> {
        keys.iter()
            .map(|k| AttestationRecord {
                pubkey: *k,
                source_epoch: e - 1,
                target_epoch: e,
                signing_root: Some(Hash256::from(<[u8; 32]>::from(Sha256::digest(
                    [&k[..], &e.to_le_bytes()].concat(),
                )))),
            })
            .collect()
    };
    let pb = progress::bar((opts.history_epochs + opts.epochs + 1) as u64, "bench slashing");
    let mut epoch = 1u64;
    for _ in 0..opts.history_epochs {
        db.check_and_insert_attestations(&epoch_records(epoch)).map_err(db_err)?;
        epoch += 1;
        pb.inc(1);
    }
    let mut batch_times = Vec::new();
    let mut total = Duration::ZERO;
    for _ in 0..opts.epochs {
        let recs = epoch_records(epoch);
        for chunk in recs.chunks(batch) {
            let t = Instant::now();
            let v = db.check_and_insert_attestations(chunk).map_err(db_err)?;
            let dt = t.elapsed();
            if v.iter().any(|r| r.is_err()) {
                return Err(BenchError::Args("a fresh attestation was refused".into()));
            }
            batch_times.push(dt);
            total += dt;
        }
        epoch += 1;
        pb.inc(1);
    }
    let recs = epoch_records(epoch);
    let t = Instant::now();
    for r in &recs {
        db.check_and_insert_attestations(std::slice::from_ref(r)).map_err(db_err)?;
    }
    let per_message = t.elapsed();
    pb.finish_and_clear();
    if let Some((url, schema)) = cleanup {
        drop(db);
        if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
    batch_times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let batched_ms = ms(total) / opts.epochs as f64;
    let per_message_ms = ms(per_message);
    Ok(SlashingBenchResult {
        backend,
        validators: n,
        batch_size: batch.min(n),
        epochs: opts.epochs,
        batched_ms,
        per_message_ms,
        speedup: per_message_ms / batched_ms,
        batch_median_ms: ms(batch_times[batch_times.len() / 2]),
        batch_max_ms: ms(*batch_times.last().unwrap_or(&Duration::ZERO)),
    })
}
