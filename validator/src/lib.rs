//! `poolvc`: a validator client for Ethereum staking-pool node operators.
//!
//! This crate holds the client side: the command line, Lighthouse-compatible
//! on-disk layout (`validators/validator_definitions.yml`, `secrets/`), and
//! (in later modules) the Beacon API client, duties and services. Everything
//! that touches a secret key lives in `poolvc-signer`.

pub mod beacon;
pub mod bench_cmd;
pub mod cli;
pub mod keys_cmd;
pub mod progress;
pub mod slashing_cmd;
pub mod validator_definitions;
pub mod vc;
