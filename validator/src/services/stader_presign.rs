//! Stader's presigned exits, kept registered in the background
//! ([`crate::pool::stader_presign`] has the backend's API and the
//! encryption). Once an epoch, for each Stader entry of `pools.yaml` with
//! `presign:`, the operator's keys this client holds with a validator index
//! are taken, minus those registered lately and those waiting out a
//! failure: the backend is asked which it holds, and each missing one gets
//! a voluntary exit signed through the store's gate (current epoch, the
//! EIP-7044 domain, valid from then on), encrypted and uploaded.
//!
//! The rule for repeats: a key the backend confirmed is asked again after
//! [`RECHECK_EPOCHS`]; a key whose check or upload failed is tried again
//! after 1, 2, 4 … epochs, at most [`MAX_BACKOFF_EPOCHS`]. One pass at a
//! time runs, off the pool service's slot loop: a slow backend never delays
//! a fee-recipient read.

use super::context::Ctx;
use crate::pool::config::{PoolSpec, PoolsConfig, PresignTarget};
use crate::pool::map::PoolMap;
use crate::pool::stader_presign::{
    key_hex, PresignBackend, PresignMessage, PresignUpload, StaderRsaKey, KEYS_PER_CHECK, KEYS_PER_UPLOAD,
};
use poolvc_signer::types::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

/// Epochs after which a registered key is asked about again (a day on
/// mainnet).
pub const RECHECK_EPOCHS: u64 = 225;
/// The longest wait before a failed key is tried again.
pub const MAX_BACKOFF_EPOCHS: u64 = 32;
/// Timeout of one request to the backend.
const TIMEOUT: Duration = Duration::from_secs(20);

/// One Stader entry's work for a pass.
#[derive(Debug, Clone)]
pub(super) struct Job {
    /// The entry's kind and operator, for messages.
    pub(super) kind: &'static str,
    pub(super) operator: String,
    pub(super) target: PresignTarget,
    pub(super) keys: Vec<PublicKeyBytes>,
}

/// What is known of each key between passes.
#[derive(Debug, Default)]
struct Book {
    /// The epoch each key was last confirmed registered.
    registered: HashMap<PublicKeyBytes, u64>,
    /// Failing keys: the epoch of the next try and the wait after that.
    failing: HashMap<PublicKeyBytes, (u64, u64)>,
}

impl Book {
    fn due(&self, k: &PublicKeyBytes, epoch: u64) -> bool {
        if self.registered.get(k).is_some_and(|e| epoch < e + RECHECK_EPOCHS) {
            return false;
        }
        self.failing.get(k).is_none_or(|(next, _)| epoch >= *next)
    }

    fn confirmed(&mut self, k: PublicKeyBytes, epoch: u64) {
        self.failing.remove(&k);
        self.registered.insert(k, epoch);
    }

    fn failed(&mut self, k: PublicKeyBytes, epoch: u64) {
        let wait = self.failing.get(&k).map_or(1, |(_, w)| (w * 2).min(MAX_BACKOFF_EPOCHS));
        self.failing.insert(k, (epoch + wait, wait));
    }
}

/// The background presigner the pool service ticks once an epoch.
#[derive(Default)]
pub(super) struct Presigner {
    book: Arc<Mutex<Book>>,
    running: Arc<AtomicBool>,
}

/// The jobs of `cfg` over what `map` last read: every Stader entry with
/// `presign:` whose read succeeded.
pub(super) fn jobs(cfg: &PoolsConfig, map: &PoolMap) -> Vec<Job> {
    cfg.pools
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| {
            let PoolSpec::Stader { presign: Some(target), .. } = spec else { return None };
            let g = map.entries.get(i)?.good.as_ref()?;
            Some(Job {
                kind: spec.kind(),
                operator: g.read.operator.clone(),
                target: target.clone(),
                keys: g.read.all_keys().collect(),
            })
        })
        .collect()
}

impl Presigner {
    /// Starts a pass over `jobs` at `epoch` unless one is still running.
    pub(super) fn tick<P: Preset>(&self, ctx: &Arc<Ctx<P>>, jobs: Vec<Job>, epoch: u64) {
        if jobs.is_empty() || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let (ctx, book, running) = (ctx.clone(), self.book.clone(), self.running.clone());
        tokio::spawn(async move {
            for job in jobs {
                pass(&ctx, &book, &job, epoch).await;
            }
            running.store(false, Ordering::Release);
        });
    }
}

fn lock(book: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|p| p.into_inner())
}

/// One entry's pass.
async fn pass<P: Preset>(ctx: &Ctx<P>, book: &Mutex<Book>, job: &Job, epoch: u64) {
    let due: Vec<(PublicKeyBytes, u64)> = {
        let b = lock(book);
        job.keys
            .iter()
            .filter(|k| ctx.store.holds(k) && b.due(k, epoch))
            .filter_map(|k| ctx.store.index_of(k).map(|i| (*k, i)))
            .collect()
    };
    if due.is_empty() {
        return;
    }
    let who = format!("{} operator {}", job.kind, job.operator);
    let rsa = match StaderRsaKey::from_file(&job.target.public_key) {
        Ok(k) => k,
        Err(e) => {
            warn!("pools: {who}: presigned exits not registered: {e}");
            let mut b = lock(book);
            due.iter().for_each(|(k, _)| b.failed(*k, epoch));
            return;
        }
    };
    let backend = PresignBackend::new(&job.target.endpoint, TIMEOUT);
    let mut missing = Vec::new();
    let mut held = 0;
    for chunk in due.chunks(KEYS_PER_CHECK) {
        let keys: Vec<PublicKeyBytes> = chunk.iter().map(|(k, _)| *k).collect();
        match backend.submitted(&keys).await {
            Ok(answer) => {
                let mut b = lock(book);
                for (k, i) in chunk {
                    if answer.get(k) == Some(&true) {
                        b.confirmed(*k, epoch);
                        held += 1;
                    } else {
                        missing.push((*k, *i));
                    }
                }
            }
            Err(e) => {
                warn!("pools: {who}: presigned exits: the check failed ({e}); trying again later");
                let mut b = lock(book);
                keys.iter().for_each(|k| b.failed(*k, epoch));
            }
        }
    }
    let (mut uploaded, mut refused) = (0, 0);
    for chunk in missing.chunks(KEYS_PER_UPLOAD) {
        let exits: Vec<VoluntaryExit> =
            chunk.iter().map(|(_, i)| VoluntaryExit { epoch, validator_index: *i }).collect();
        let outcomes = ctx.store.sign_voluntary_exits(&exits).await;
        let mut batch = Vec::with_capacity(chunk.len());
        let mut sent = Vec::with_capacity(chunk.len());
        for ((k, i), o) in chunk.iter().zip(&outcomes) {
            let encrypted = match o.signature() {
                Some(sig) => rsa.encrypt_signature(&sig),
                None => {
                    warn!(pubkey = %k, "pools: {who}: presigned exit not signed: {o:?}");
                    lock(book).failed(*k, epoch);
                    continue;
                }
            };
            match encrypted {
                Ok(signature) => {
                    batch.push(PresignUpload {
                        message: PresignMessage { epoch: epoch.to_string(), validator_index: i.to_string() },
                        signature,
                        validator_public_key: key_hex(k),
                    });
                    sent.push(*k);
                }
                Err(e) => {
                    warn!(pubkey = %k, "pools: {who}: {e}");
                    lock(book).failed(*k, epoch);
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        match backend.upload(&batch).await {
            Ok(answer) => {
                let mut b = lock(book);
                for k in sent {
                    match answer.get(&k) {
                        Some(a) if a.success => {
                            b.confirmed(k, epoch);
                            uploaded += 1;
                        }
                        other => {
                            let why = other.map_or("not in the answer".to_string(), |a| format!("{:?}", a.message));
                            warn!(pubkey = %k, "pools: {who}: Stader did not take the presigned exit ({why}); trying again later");
                            b.failed(k, epoch);
                            refused += 1;
                        }
                    }
                }
            }
            Err(e) => {
                warn!("pools: {who}: presigned exits of {} keys not uploaded ({e}); trying again later", sent.len());
                let mut b = lock(book);
                sent.iter().for_each(|k| b.failed(*k, epoch));
                refused += sent.len();
            }
        }
    }
    info!(
        epoch,
        already_registered = held,
        uploaded,
        failed = refused,
        "pools: {who}: Stader presigned exits (encrypted to Stader's key, {})",
        job.target.endpoint
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmed_keys_wait_a_day_and_failing_ones_back_off() {
        let k = PublicKeyBytes::repeat_byte(1);
        let mut b = Book::default();
        assert!(b.due(&k, 10));
        b.failed(k, 10);
        assert!(!b.due(&k, 10) && b.due(&k, 11));
        b.failed(k, 11);
        assert!(!b.due(&k, 12) && b.due(&k, 13));
        for e in 13..30 {
            b.failed(k, e);
        }
        assert_eq!(b.failing[&k].1, MAX_BACKOFF_EPOCHS);
        b.confirmed(k, 40);
        assert!(!b.due(&k, 40 + RECHECK_EPOCHS - 1) && b.due(&k, 40 + RECHECK_EPOCHS));
        assert!(b.failing.is_empty());
    }
}
