//! CSM's published strikes: `CSStrikes.treeRoot()` and `treeCid()` read
//! with the pools (proven the same way), the tree fetched by its CID from
//! the configured source (an IPFS gateway or a directory), and checked
//! against the root ([`crate::ledger::strikes_tree::parse`]) before any
//! count is used.

use crate::el::abi::ICSStrikes;
use crate::el::proven::{ProvenError, Reads};
use crate::ledger::config::StrikesConfig;
use crate::ledger::strikes_tree::{self, StrikesTreeError};
use alloy_primitives::B256;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The largest tree fetched (mainnet's holds some thousands of keys).
pub const MAX_TREE_BYTES: usize = 64 << 20;

/// Why the published strikes were not read; each names where.
#[derive(Debug, thiserror::Error)]
pub enum StrikesError {
    /// The contract was not read.
    #[error("CSStrikes {contract}: {source}")]
    Chain {
        /// The contract.
        contract: alloy_primitives::Address,
        /// The read's error.
        source: ProvenError,
    },
    /// A CID that is no CID (only letters and digits are fetched).
    #[error("CSStrikes {contract}: treeCid() {cid:?} is not a CID")]
    BadCid {
        /// The contract.
        contract: alloy_primitives::Address,
        /// What it answered.
        cid: String,
    },
    /// The tree was not fetched.
    #[error("the strikes tree {cid} from {source_at}: {reason}")]
    Fetch {
        /// Its CID.
        cid: String,
        /// The configured source.
        source_at: String,
        /// What failed.
        reason: String,
    },
    /// The tree did not check.
    #[error(transparent)]
    Tree(#[from] StrikesTreeError),
}

/// The chain's strikes as last read: the root and CID they are of, and
/// each key's count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainStrikes {
    /// `treeRoot()`.
    pub root: B256,
    /// `treeCid()`.
    pub cid: String,
    /// Strikes by public key (`0x` + lowercase hex).
    pub counts: Arc<BTreeMap<String, u64>>,
}

/// Reads the published strikes at `block`; `last` is reused when the root
/// and CID are unchanged (the tree is fetched once per report).
pub async fn read(
    rpc: &Reads<'_>,
    cfg: &StrikesConfig,
    block: u64,
    last: Option<&ChainStrikes>,
) -> Result<ChainStrikes, StrikesError> {
    let chain = |source| StrikesError::Chain { contract: cfg.contract, source };
    let root = rpc.call(cfg.contract, ICSStrikes::treeRootCall {}, block).await.map_err(chain)?;
    let cid = rpc.call(cfg.contract, ICSStrikes::treeCidCall {}, block).await.map_err(chain)?;
    if let Some(l) = last.filter(|l| l.root == root && l.cid == cid) {
        return Ok(l.clone());
    }
    if root == B256::ZERO && cid.is_empty() {
        // No report yet: no strikes.
        return Ok(ChainStrikes { root, cid, counts: Arc::default() });
    }
    if cid.is_empty() || cid.len() > 128 || !cid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(StrikesError::BadCid { contract: cfg.contract, cid });
    }
    let text = fetch(&cfg.tree_source, &cid).await?;
    let keys = strikes_tree::parse(&text, &cid, root)?;
    Ok(ChainStrikes { root, cid, counts: Arc::new(keys.into_iter().map(|(k, s)| (k, s.count())).collect()) })
}

/// The bytes of the tree `cid` from `source`: `source + cid` over HTTP(S),
/// or the file `cid` in the directory `source`; at most [`MAX_TREE_BYTES`].
async fn fetch(source: &str, cid: &str) -> Result<Vec<u8>, StrikesError> {
    let fail = |reason: String| StrikesError::Fetch { cid: cid.to_string(), source_at: source.to_string(), reason };
    if source.starts_with("http://") || source.starts_with("https://") {
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| fail(e.to_string()))?;
        let mut resp = client.get(format!("{source}{cid}")).send().await.map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
            if out.len() + chunk.len() > MAX_TREE_BYTES {
                return Err(fail(format!("more than {MAX_TREE_BYTES} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    } else {
        let path = std::path::Path::new(source).join(cid);
        let len = std::fs::metadata(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?.len();
        if len > MAX_TREE_BYTES as u64 {
            return Err(fail(format!("{}: more than {MAX_TREE_BYTES} bytes", path.display())));
        }
        std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))
    }
}
