//! What stops `poolvc vc` ([`VcError`]): a leaf of types, raised at start-up
//! by the runtime and by doppelganger protection.

use crate::beacon::BeaconError;
use crate::store::StoreError;
use std::path::PathBuf;

/// Errors that stop the client.
#[derive(Debug, thiserror::Error)]
pub enum VcError {
    /// The definitions file could not be read.
    #[error(transparent)]
    Keys(#[from] crate::datadir::keys::KeyLoadError),
    /// Beacon node.
    #[error(transparent)]
    Beacon(#[from] BeaconError),
    /// Beacon-node options (certificates).
    #[error(transparent)]
    BeaconOptions(#[from] crate::beacon::options::OptionsError),
    /// Where the files are.
    #[error(transparent)]
    Layout(#[from] crate::datadir::layout::LayoutError),
    /// Slashing DB.
    #[error(transparent)]
    Slashing(#[from] poolvc_signer::slashing::SlashingError),
    /// The validator store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The lease table (leased key shards).
    #[error(transparent)]
    Leases(#[from] crate::leases::table::LeaseError),
    /// No key loaded.
    #[error("{}: no enabled validator could be loaded", datadir.display())]
    NoValidators {
        /// The data dir.
        datadir: PathBuf,
    },
    /// No slashing database and no `--init-slashing-protection`.
    #[error("{}: no slashing protection database; start once with --init-slashing-protection", path.display())]
    NoSlashingDatabase {
        /// The expected file.
        path: PathBuf,
    },
    /// The `--testnet-dir` config could not be read.
    #[error("{}: {reason}", path.display())]
    TestnetConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The beacon node is on another network.
    #[error("beacon node is on another network: {reason}")]
    WrongNetwork {
        /// What differs.
        reason: String,
    },
    /// The metrics server could not start.
    #[error("--metrics on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The keymanager API could not start.
    #[error(transparent)]
    Keymanager(#[from] crate::http::keymanager::KeymanagerError),
    /// A blocking start-up task died.
    #[error("{what}: {reason}")]
    Task {
        /// Which task.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Interop keys on a public network.
    #[error("--interop-indexes is for local devnets; the beacon node is on {network}")]
    InteropOnPublicNetwork {
        /// The network.
        network: &'static str,
    },
    /// Doppelganger protection saw the keys active elsewhere.
    #[error(
        "doppelganger protection: validators {validators} are active elsewhere; nothing was signed. \
         Stop the other client before starting this one"
    )]
    Doppelganger {
        /// The validators seen.
        validators: String,
    },
}
