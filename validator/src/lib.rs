//! `poolvc`: a validator client for Ethereum staking-pool node operators.
//!
//! This crate holds the client side: the command line, Lighthouse-compatible
//! on-disk layout (`validators/validator_definitions.yml`, `secrets/`), the
//! Beacon API client and the validator client runtime (`vc`). Everything
//! that touches a secret key lives in `poolvc-signer`.

pub mod beacon;
pub mod bench_cmd;
pub mod bench_key_cache;
pub mod bench_remote;
pub mod bench_slot;
pub mod cli;
pub mod events;
pub mod heap;
pub mod keymanager;
pub mod keys_cmd;
pub mod lighthouse;
pub mod logging;
pub mod networks;
pub mod perf;
pub mod policy;
pub mod pool;
pub mod pool_cmd;
pub mod progress;
pub mod remote_signer;
pub mod slashing_cmd;
pub mod store;
pub mod validator_definitions;
pub mod vc;
