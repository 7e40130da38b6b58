//! `poolvc-signer`: everything in poolvc that touches a secret key or defines
//! what gets signed.
//!
//! ```text
//! types/   consensus containers (SSZ + tree-hash), presets, ChainSpec,
//!          fork schedule, domains and signing roots
//! keys/    BLS keys (zeroized), interop keys, EIP-2333/2334 derivation,
//!          EIP-2335 keystores (parallel decryption)
//! ```
//!
//! Invariant kept across the crate: a secret scalar is only ever held in a
//! type that zeroizes on drop and prints nothing from `Debug`/`Display`.

pub mod batch;
pub mod clock;
pub mod keys;
pub mod slashing;
pub mod types;
pub mod web3signer;
