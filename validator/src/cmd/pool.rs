//! `poolvc pool show` and `poolvc pool presign-exits`.
//!
//! Both read `pools.yaml` and the pool contracts as the running client does
//! (one block, the same reader and rules); `presign-exits` signs with the
//! data dir's keystores and writes all files or none.

use crate::beacon::{BeaconClient, ValidatorEntry};
use crate::datadir::definitions::ValidatorDefinitions;
use crate::el::proof::ExecAnchor;
use crate::el::rpc::{EthRpc, RpcError};
use crate::policy::ProposalDefaults;
use crate::pool::config::{PoolConfigError, PoolsConfig, POOLS_FILE};
use crate::pool::reader::ChainTime;
use crate::pool::snapshot::{self, Snapshot};
use poolvc_signer::types::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the pool commands.
#[derive(Debug, thiserror::Error)]
pub enum PoolCmdError {
    /// `pools.yaml` is bad.
    #[error(transparent)]
    Config(#[from] PoolConfigError),
    /// There is no `pools.yaml`.
    #[error("{path}: no such file; poolvc applies no pool rules without it")]
    NoPools {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `pools.yaml` names no RPC.
    #[error("{path}: `rpc` is missing: the pool contracts cannot be read")]
    NoRpc {
        /// The file.
        path: PathBuf,
    },
    /// The execution node or a contract failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The validator definitions could not be read.
    #[error("validator definitions: {reason}")]
    Definitions {
        /// Why.
        reason: String,
    },
    /// The beacon node failed.
    #[error("beacon node {url}: {reason}")]
    Beacon {
        /// The node.
        url: String,
        /// Why.
        reason: String,
    },
    /// Keystores could not be decrypted.
    #[error("keystores: {reason}")]
    Keys {
        /// Why.
        reason: String,
    },
    /// A pool key the beacon node does not know.
    #[error("the beacon node knows no validator {pubkey} (not deposited yet?): no exit can be signed for it")]
    NoIndex {
        /// The key.
        pubkey: PublicKeyBytes,
    },
    /// The output directory exists.
    #[error("{path} exists: presign-exits writes a new directory, all files or none")]
    OutExists {
        /// The directory.
        path: PathBuf,
    },
    /// Writing failed (nothing is left behind).
    #[error("writing {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The local keys (enabled entries of `validator_definitions.yml`).
pub fn local_pubkeys(datadir: &Path) -> Result<HashSet<PublicKeyBytes>, PoolCmdError> {
    let defs = ValidatorDefinitions::open_or_empty(&datadir.join("validators"))
        .map_err(|e| PoolCmdError::Definitions { reason: e.to_string() })?;
    let mut out = HashSet::new();
    for d in defs.0.iter().filter(|d| d.enabled) {
        let pk = d.voting_public_key.parse::<PublicKeyBytes>().map_err(|e| PoolCmdError::Definitions {
            reason: format!("voting_public_key {:?}: {e}", d.voting_public_key),
        })?;
        out.insert(pk);
    }
    Ok(out)
}

fn load(datadir: &Path) -> Result<(PoolsConfig, EthRpc), PoolCmdError> {
    let path = datadir.join(POOLS_FILE);
    let cfg = PoolsConfig::load_from_dir(datadir)?.ok_or_else(|| PoolCmdError::NoPools { path: path.clone() })?;
    let url = cfg.rpc.clone().ok_or(PoolCmdError::NoRpc { path })?;
    Ok((cfg, EthRpc::new(&url, TIMEOUT)))
}

/// The chain's clock and finality from the beacon node; without one, the
/// Rocket Pool cooldown is taken as not over (the smoothing pool), the safe side.
async fn chain_time(beacon: &BeaconClient) -> (ChainTime, Option<String>) {
    let fallback = ChainTime { genesis_time: 0, seconds_per_slot: 12, slots_per_epoch: 32, finalized_epoch: 0 };
    let (genesis, spec) = match (beacon.genesis(TIMEOUT).await, beacon.spec(TIMEOUT).await) {
        (Ok(g), Ok(s)) => (g, s),
        (Err(e), _) | (_, Err(e)) => return (fallback, Some(e.to_string())),
    };
    let fin = beacon.finalized_epoch(TIMEOUT).await;
    let t = ChainTime {
        genesis_time: genesis.genesis_time,
        seconds_per_slot: (spec.slot_duration_ms / 1000).max(1),
        slots_per_epoch: spec.slots_per_epoch,
        finalized_epoch: fin.as_ref().map_or(0, |e| *e),
    };
    (t, fin.err().map(|e| e.to_string()))
}

/// `poolvc pool show`: the snapshot, and a warning if the beacon node could
/// not be asked for finality.
pub async fn show(
    datadir: &Path,
    beacon_node: &str,
    anchor: ProofAnchor,
    reread: bool,
) -> Result<(Snapshot, Vec<String>), PoolCmdError> {
    let (cfg, rpc) = load(datadir)?;
    let local = local_pubkeys(datadir)?;
    let beacon = BeaconClient::new(vec![beacon_node.to_string()]);
    let (time, warning) = chain_time(&beacon).await;
    let mut warnings: Vec<String> = warning
        .map(|w| format!("beacon node {beacon_node}: {w}; Rocket Pool opt-out cooldowns taken as not over"))
        .into_iter()
        .collect();
    let anchor = match anchor {
        ProofAnchor::None => None,
        ProofAnchor::Beacon => match beacon_anchor(&beacon, beacon_node).await {
            Ok(a) => Some(a),
            Err(e) => {
                warnings.push(format!("{e}; the reads below are the endpoint's word, not proven"));
                None
            }
        },
        ProofAnchor::EndpointHead => Some(endpoint_head(&rpc).await?),
    };
    let (mut snap, state) = snapshot::take_with(&cfg, &rpc, anchor, None, &local, &time).await?;
    if reread {
        // The running client's steady state: the same read again, from the
        // first one's proven state (only what changed is proven again).
        let (requests, calls) = rpc.counts();
        let (again, _) = snapshot::take_with(&cfg, &rpc, anchor, state, &local, &time).await?;
        snap = Snapshot { rpc_requests: again.rpc_requests - requests, rpc_calls: again.rpc_calls - calls, ..again };
    }
    Ok((snap, warnings))
}

/// The state root `pool show` proves its reads against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProofAnchor {
    /// The beacon node's head block (what the client does); unproven reads,
    /// with a warning, when it has none.
    Beacon,
    /// The endpoint's own latest header: measures what proofs cost, proves
    /// nothing (benchmarks).
    EndpointHead,
    /// No proofs: the endpoint's answers as given.
    None,
}

/// The head block's execution commitments, from the beacon node.
pub async fn beacon_anchor(beacon: &BeaconClient, url: &str) -> Result<ExecAnchor, PoolCmdError> {
    beacon
        .payload_commitment("head", TIMEOUT)
        .await
        .map_err(|e| PoolCmdError::Beacon { url: url.into(), reason: e.to_string() })?
        .ok_or_else(|| PoolCmdError::Beacon { url: url.into(), reason: "no head block".into() })
}

/// The endpoint's latest header as an anchor (for measuring only).
async fn endpoint_head(rpc: &EthRpc) -> Result<ExecAnchor, PoolCmdError> {
    let v = rpc.request("eth_getBlockByNumber", serde_json::json!(["latest", false])).await?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Header {
        number: String,
        hash: Hash256,
        state_root: Hash256,
        receipts_root: Hash256,
        timestamp: String,
    }
    let bad = |reason: String| RpcError::Malformed {
        url: rpc.url().to_string(),
        method: "eth_getBlockByNumber".into(),
        reason,
    };
    let h: Header = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    let q = |s: &str| crate::el::rpc::parse_quantity(s).ok_or_else(|| bad(format!("{s:?} is not a quantity")));
    Ok(ExecAnchor {
        slot: 0,
        block_number: q(&h.number)?,
        block_hash: h.hash,
        state_root: h.state_root,
        receipts_root: h.receipts_root,
        timestamp: q(&h.timestamp)?,
    })
}

/// What `presign-exits` wrote.
#[derive(Debug)]
pub struct Presigned {
    /// The directory.
    pub out: PathBuf,
    /// Files written.
    pub files: usize,
    /// The exits' epoch.
    pub epoch: u64,
}

/// `poolvc pool presign-exits`: a signed voluntary exit (EIP-7044 domain) for
/// every local key a pool in `pools.yaml` holds, one `<pubkey>.json` file
/// each (0600) in the new directory `out`; all files or none. With
/// `encrypt` (a password), each file is the signed exit sealed as Lido's
/// validator-ejector reads encrypted messages
/// ([`poolvc_signer::keys::keystore::Keystore::seal_bytes`]).
pub async fn presign_exits(
    datadir: &Path,
    beacon_node: &str,
    out: &Path,
    epoch: Option<u64>,
    encrypt: Option<&str>,
) -> Result<Presigned, PoolCmdError> {
    if out.exists() {
        return Err(PoolCmdError::OutExists { path: out.to_path_buf() });
    }
    let (cfg, rpc) = load(datadir)?;
    let local = local_pubkeys(datadir)?;
    let beacon = BeaconClient::new(vec![beacon_node.to_string()]);
    let bn_err =
        |e: crate::beacon::BeaconError| PoolCmdError::Beacon { url: beacon_node.into(), reason: e.to_string() };
    let spec = beacon.spec(TIMEOUT).await.map_err(bn_err)?;
    let genesis = beacon.genesis(TIMEOUT).await.map_err(bn_err)?;
    let (time, _) = chain_time(&beacon).await;
    // The keys exits are signed for are proven to be the pool's.
    let anchor = beacon_anchor(&beacon, beacon_node).await?;
    let snap = snapshot::take(&cfg, &rpc, Some(anchor), &local, &time).await?;
    let mut pool_keys: Vec<PublicKeyBytes> =
        snap.operators.iter().flat_map(|o| o.keys.iter().filter(|k| k.local).map(|k| k.pubkey)).collect();
    pool_keys.sort();
    pool_keys.dedup();
    let ids: Vec<String> = pool_keys.iter().map(|k| k.to_string()).collect();
    let entries: Vec<ValidatorEntry> = beacon.validators_by_post(&ids, TIMEOUT).await.map_err(bn_err)?;
    let index_of = |pk: &PublicKeyBytes| entries.iter().find(|e| e.validator.pubkey == *pk).map(|e| e.index);
    let now_epoch = {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        time.epoch_at(now)
    };
    let epoch = epoch.unwrap_or(now_epoch);
    let mut exits = Vec::with_capacity(pool_keys.len());
    for pk in &pool_keys {
        let validator_index = index_of(pk).ok_or(PoolCmdError::NoIndex { pubkey: *pk })?;
        exits.push((*pk, VoluntaryExit { epoch, validator_index }));
    }
    // Decrypt the keystores (only those needed are used).
    let loaded = tokio::task::spawn_blocking({
        let d = datadir.to_path_buf();
        move || crate::datadir::keys::load(&crate::datadir::keys::Source::under(&d), &ProposalDefaults::default())
    })
    .await
    .map_err(|e| PoolCmdError::Keys { reason: e.to_string() })?
    .map_err(|e| PoolCmdError::Keys { reason: e.to_string() })?;
    // Signed through the validator store like every signature poolvc
    // makes (key map, domain from the message's epoch); exits are never
    // slashable, so an in-memory slashing database is enough.
    let clock = poolvc_signer::clock::WallClock::new(genesis.genesis_time, &spec);
    let store = exit_store(spec, genesis.genesis_validators_root, clock, loaded.keys)?;
    store.set_indices(exits.iter().map(|(pk, e)| (*pk, e.validator_index)));
    let messages: Vec<VoluntaryExit> = exits.iter().map(|(_, e)| *e).collect();
    let outcomes = store.sign_voluntary_exits(&messages).await;
    let mut docs = Vec::with_capacity(exits.len());
    for ((pk, exit), outcome) in exits.iter().zip(outcomes) {
        let signature = match outcome {
            crate::outcome::Outcome::Signed(s) => s,
            other => {
                return Err(PoolCmdError::Keys { reason: format!("the exit of {pk} was not signed: {other:?}") });
            }
        };
        let doc = serde_json::json!({"message": exit, "signature": signature});
        let bytes = match encrypt {
            None => serde_json::to_vec_pretty(&doc).unwrap_or_default(),
            Some(password) => {
                let plain = zeroize::Zeroizing::new(serde_json::to_vec(&doc).unwrap_or_default());
                use poolvc_signer::keys::keystore::{Keystore, STANDARD_PBKDF2_ROUNDS};
                Keystore::seal_bytes(&plain, password, STANDARD_PBKDF2_ROUNDS)
                    .map_err(|e| PoolCmdError::Keys { reason: format!("encrypting the exit of {pk}: {e}") })?
                    .to_json_string()
                    .into_bytes()
            }
        };
        docs.push((format!("{pk}.json"), bytes));
    }
    write_all_or_nothing(out, &docs)?;
    Ok(Presigned { out: out.to_path_buf(), files: docs.len(), epoch })
}

/// A validator store holding `keys` for the network of `spec` and
/// `genesis_validators_root`, over an in-memory slashing database.
fn exit_store(
    spec: ChainSpec,
    genesis_validators_root: Hash256,
    clock: poolvc_signer::clock::WallClock,
    keys: Vec<(poolvc_signer::keys::SecretKey, crate::policy::ProposalConfig)>,
) -> Result<crate::store::ValidatorStore<Mainnet>, PoolCmdError> {
    let keys_err = |reason: String| PoolCmdError::Keys { reason };
    let db = poolvc_signer::slashing::sqlite::SqliteSlashingDb::in_memory(genesis_validators_root)
        .map_err(|e| keys_err(e.to_string()))?;
    let store = crate::store::ValidatorStore::new(
        spec,
        genesis_validators_root,
        clock,
        std::sync::Arc::new(db),
        std::sync::Arc::new(crate::events::EventBus::new()),
        crate::store::StoreTimings::default(),
    );
    store.add_local_keys(keys, true).map_err(|e| keys_err(e.to_string()))?;
    Ok(store)
}

/// Writes `files` into a new directory `out`: first into a hidden sibling,
/// each file 0600 and synced, then one rename. On any failure the sibling is
/// removed and `out` does not exist.
fn write_all_or_nothing(out: &Path, files: &[(String, Vec<u8>)]) -> Result<(), PoolCmdError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "exits".into());
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let wr = |path: &Path, source| PoolCmdError::Write { path: path.to_path_buf(), source };
    let result = (|| {
        std::fs::DirBuilder::new().mode(0o700).create(&tmp).map_err(|e| wr(&tmp, e))?;
        for (file, bytes) in files {
            let p = tmp.join(file);
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p).map_err(|e| wr(&p, e))?;
            f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| wr(&p, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| wr(out, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_0600_and_a_failure_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("exits");
        write_all_or_nothing(&out, &[("a.json".into(), b"{}".to_vec()), ("b.json".into(), b"{}".to_vec())]).unwrap();
        let mode = std::fs::metadata(out.join("a.json")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The same name twice fails mid-way: no directory, no partial one.
        let out2 = d.path().join("exits2");
        let e = write_all_or_nothing(&out2, &[("a.json".into(), vec![]), ("a.json".into(), vec![])]).unwrap_err();
        assert!(e.to_string().contains("a.json"), "{e}");
        assert!(!out2.exists());
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
