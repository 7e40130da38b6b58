//! The subcommands other than `vc` and `signer`: each reads its flags from
//! [`crate::cli`] and does one job, then exits.
//!
//! - [`keys`]: interop and mnemonic keys, inspect, verify;
//! - [`slashing`]: EIP-3076 import and export;
//! - [`pool`]: `pool show`, `pool presign-exits`;
//! - [`shards`]: `keys shards`, `keys assign`, `keys move` (leased key shards);
//! - [`bench`]: the measurements (`bench signing`, `slot`, `key-cache`,
//!   `remote-signing`, `perf`).

pub mod bench;
pub mod keys;
pub mod pool;
pub mod shards;
pub mod slashing;
