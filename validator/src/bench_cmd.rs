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
