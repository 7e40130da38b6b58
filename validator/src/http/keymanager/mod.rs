//! The standard keymanager API (`--http`), as Lighthouse serves it: local
//! keystores (list, import with their slashing-protection data, delete
//! returning it), remote keys (`web3signer` entries), per-key fee recipient, gas limit and graffiti, and signed
//! voluntary exits. Every route needs the bearer token ([`token`]).
//!
//! Invariants kept here:
//! - one change at a time: imports, deletions and settings hold
//!   [`Keymanager::edit`] from the first read of `validator_definitions.yml`
//!   to the last write, so no two changes interleave in the file or the store;
//! - a key is on disk and in `validator_definitions.yml` (replaced whole,
//!   atomically) before it signs, and its imported slashing history is in
//!   the database before that;
//! - a deleted key is out of `validator_definitions.yml` first (so it never
//!   comes back at a restart), then out of the store, and its slashing data
//!   is exported only once no signature by it can still be on its way
//!   ([`ValidatorStore::remove_keys_and_wait`]).

pub mod keystores;
mod manager;
pub mod remotekeys;
pub mod routes;
pub mod settings;
pub mod token;

pub use manager::{Keymanager, KeymanagerConfig, KeymanagerError, Parts};
