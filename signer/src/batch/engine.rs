//! The engine: groups requests by signing root, hashes each root to G2 once,
//! multiplies with a fixed-base table for large groups and with
//! `blst_sign_pk_in_g1` for small ones, normalises to affine with one
//! inversion per chunk, and compresses. Results come back in request order.

use super::comb::{CombTable, DEFAULT_WINDOW};
use super::keyset::{KeyHandle, KeySet};
use crate::keys::ETH_DST;
use crate::types::{Hash256, SignatureBytes};
use blst::{blst_p2, blst_p2_affine, blst_scalar};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Group size from which the fixed-base table pays for itself. Measured on a
/// 2-core x86-64 machine: a w=6 table costs about as much as 9 plain
/// `blst_sign_pk_in_g1` calls and each table multiplication saves ~75% of one
/// (see the note in the README and `poolvc bench signing`).
pub const DEFAULT_TABLE_THRESHOLD: usize = 16;

/// Points normalised together (one field inversion per chunk).
const CHUNK: usize = 128;

/// Keys multiplied together on one table (one shared inversion per window).
const LANES: usize = 64;

fn compress(a: &blst_p2_affine) -> SignatureBytes {
    let mut c = [0u8; 96];
    // SAFETY: 96-byte output buffer for a compressed G2 point.
    unsafe { blst::blst_p2_affine_compress(c.as_mut_ptr(), a) };
    SignatureBytes::from(c)
}

/// Errors of a signing batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A request names a key the engine does not hold.
    #[error("request {index}: unknown key handle {handle}")]
    UnknownKey {
        /// Position of the request in the batch.
        index: usize,
        /// The handle.
        handle: u32,
    },
    /// A signing root is not 32 bytes.
    #[error("request {index}: signing root is {len} bytes, expected 32")]
    MalformedRoot {
        /// Position of the request.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// The engine's worker pool is gone (shutting down).
    #[error("signing engine is shut down")]
    Shutdown,
}

/// One signature to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignRequest {
    /// The key.
    pub key: KeyHandle,
    /// The 32-byte signing root.
    pub signing_root: Hash256,
}

impl SignRequest {
    /// Builds a request from raw root bytes, checking the length.
    pub fn from_slice(index: usize, key: KeyHandle, root: &[u8]) -> Result<Self, BatchError> {
        if root.len() != 32 {
            return Err(BatchError::MalformedRoot { index, len: root.len() });
        }
        Ok(Self { key, signing_root: Hash256::from_slice(root) })
    }
}

/// The batched signing engine. Cheap to share behind an `Arc`.
pub struct SigningEngine {
    pool: rayon::ThreadPool,
    keys: RwLock<Arc<KeySet>>,
    threshold: usize,
    window: usize,
}

impl std::fmt::Debug for SigningEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningEngine")
            .field("threads", &self.pool.current_num_threads())
            .field("threshold", &self.threshold)
            .field("window", &self.window)
            .finish()
    }
}

impl SigningEngine {
    /// An engine over `keys` with `threads` workers (0 = one per core).
    pub fn new(keys: KeySet, threads: usize) -> Self {
        Self::with_params(keys, threads, DEFAULT_TABLE_THRESHOLD, DEFAULT_WINDOW)
    }

    /// An engine with explicit table threshold and window width (for benches and tests).
    pub fn with_params(keys: KeySet, threads: usize, threshold: usize, window: usize) -> Self {
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("poolvc-sign-{i}"))
            .build()
            .unwrap_or_else(|_| {
                // Building a pool only fails if threads cannot be spawned; a
                // single-thread pool is the last resort.
                rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool")
            });
        Self { pool, keys: RwLock::new(Arc::new(keys)), threshold: threshold.max(1), window }
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.read().map(|k| Arc::clone(&k)).unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// Adds keys (with their public keys, derived once by the caller) at
    /// runtime; returns their handles, in order. Handles are
    /// never reused (see [`KeySet`]), so a batch in flight keeps signing
    /// with the keys it named.
    pub fn add_keys(&self, keys: &[(crate::keys::SecretKey, crate::keys::PublicKey)]) -> Vec<KeyHandle> {
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let mut set = KeySet::clone(&guard);
        let handles = set.insert_many(keys);
        *guard = Arc::new(set);
        handles
    }

    /// Removes keys at runtime; later batches naming them fail with
    /// [`BatchError::UnknownKey`]. Returns how many were held.
    pub fn remove_keys(&self, handles: &[KeyHandle]) -> usize {
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let mut set = KeySet::clone(&guard);
        let removed = handles.iter().filter(|h| set.remove(**h)).count();
        *guard = Arc::new(set);
        removed
    }

    /// Signs every request; blocks the calling thread while the pool works.
    /// An empty batch gives an empty result.
    pub fn sign(&self, requests: &[SignRequest]) -> Result<Vec<SignatureBytes>, BatchError> {
        let keys = self.keys();
        for (index, r) in requests.iter().enumerate() {
            if keys.scalar(r.key).is_none() {
                return Err(BatchError::UnknownKey { index, handle: r.key.0 });
            }
        }
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.pool.install(|| sign_on_pool(&keys, requests, self.threshold, self.window)))
    }

    /// Signs without blocking the async runtime: the work runs on the engine's
    /// pool and the caller awaits the result.
    pub async fn sign_async(self: &Arc<Self>, requests: Vec<SignRequest>) -> Result<Vec<SignatureBytes>, BatchError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let engine = Arc::clone(self);
        self.pool.spawn(move || {
            let _ = tx.send(engine.sign(&requests));
        });
        rx.await.map_err(|_| BatchError::Shutdown)?
    }
}

/// Hash-to-G2 with the Ethereum DST.
pub(crate) fn hash_root(root: &Hash256) -> blst_p2 {
    let mut h = blst_p2::default();
    // SAFETY: live slices; output owned here.
    unsafe { blst::blst_hash_to_g2(&mut h, root.as_ptr(), 32, ETH_DST.as_ptr(), ETH_DST.len(), std::ptr::null(), 0) };
    h
}

/// `sk * H` with blst's constant-time variable-base path.
fn mul_blst(h: &blst_p2, scalar_le: &[u8; 32]) -> blst_p2 {
    let mut sk = blst_scalar { b: *scalar_le };
    let mut out = blst_p2::default();
    // SAFETY: valid point and scalar owned here.
    unsafe { blst::blst_sign_pk_in_g1(&mut out, h, &sk) };
    // SAFETY: plain data, exclusive reference.
    unsafe { std::ptr::write_volatile(&mut sk, blst_scalar::default()) };
    out
}

fn sign_on_pool(keys: &KeySet, requests: &[SignRequest], threshold: usize, window: usize) -> Vec<SignatureBytes> {
    // Group request indices by signing root, in order of first appearance.
    let mut group_of: HashMap<Hash256, usize> = HashMap::new();
    let mut groups: Vec<(Hash256, Vec<usize>)> = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let g = *group_of.entry(r.signing_root).or_insert_with(|| {
            groups.push((r.signing_root, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }

    // Every handle was checked by the caller; a missing one cannot occur here.
    let scalar = |i: usize| keys.scalar(requests[i].key).map(|s| s.le_bytes());

    enum Done {
        /// Finished signatures (table path: already affine).
        Sigs(Vec<(usize, SignatureBytes)>),
        /// Projective points still to normalise (blst path).
        Points(Vec<(usize, blst_p2)>),
    }
    let done: Vec<Done> = groups
        .par_iter()
        .flat_map_iter(|(root, idx)| {
            let h = hash_root(root);
            if idx.len() >= threshold {
                let table = CombTable::new(&h, window);
                let sigs: Vec<(usize, SignatureBytes)> = idx
                    .par_chunks(LANES)
                    .flat_map_iter(|lane| {
                        let scalars: Vec<&[u8; 32]> = lane.iter().filter_map(|&i| scalar(i)).collect();
                        let affine = table.mul_batch(&scalars);
                        lane.iter().zip(affine).map(|(&i, a)| (i, compress(&a))).collect::<Vec<_>>()
                    })
                    .collect();
                vec![Done::Sigs(sigs)]
            } else {
                let pts = idx.par_iter().filter_map(|&i| scalar(i).map(|k| (i, mul_blst(&h, k)))).collect();
                vec![Done::Points(pts)]
            }
        })
        .collect();

    let mut out = vec![SignatureBytes::ZERO; requests.len()];
    let mut pending: Vec<(usize, blst_p2)> = Vec::new();
    for d in done {
        match d {
            Done::Sigs(v) => v.into_iter().for_each(|(i, s)| out[i] = s),
            Done::Points(v) => pending.extend(v),
        }
    }
    let normalised: Vec<(usize, SignatureBytes)> = pending
        .par_chunks(CHUNK)
        .flat_map_iter(|chunk| {
            let mut aff = vec![blst_p2_affine::default(); chunk.len()];
            let ptrs: Vec<*const blst_p2> = chunk.iter().map(|(_, p)| p as *const blst_p2).collect();
            // SAFETY: `aff` has room for `chunk.len()` points; `ptrs` holds that many valid pointers.
            unsafe { blst::blst_p2s_to_affine(aff.as_mut_ptr(), ptrs.as_ptr(), chunk.len()) };
            chunk.iter().zip(aff).map(|((i, _), a)| (*i, compress(&a))).collect::<Vec<_>>()
        })
        .collect();
    normalised.into_iter().for_each(|(i, s)| out[i] = s);
    out
}
