//! `poolvc`: a validator client for Ethereum staking-pool node operators.
//!
//! This crate holds the client side; everything that touches a secret key
//! lives in `poolvc-signer`. The layers, from the leaves up (the rules are
//! kept by `validator/tests/client/dependency_rules.rs`, the picture is in
//! `ARCHITECTURE.md` at the repository's root):
//!
//! - the vocabulary: [`outcome`] (what became of a message) and [`events`]
//!   (what the services tell); they import nothing else of the crate;
//! - the edges to other processes: [`beacon`] (the Beacon API client) and
//!   [`el`] (the execution layer's JSON-RPC and the contracts' ABI); they
//!   import nothing of the crate;
//! - the rules and the gate: [`policy`] (fee recipients, the payment check),
//!   [`store`] (the validator store: the only path to a signature);
//! - what poolvc knows of the world: [`datadir`] (Lighthouse's data dir and
//!   the key loader), [`pool`] (pools, operators, their contracts),
//!   [`ledger`] (per-operator performance, reports);
//! - the client: [`config`], [`error`], [`services`] (the duty services,
//!   each a task over one context), [`runtime`] (the wiring, nothing else);
//! - the ways in: [`http`] (metrics, keymanager API, pool API),
//!   [`remote_signer`] (`poolvc signer`), [`lighthouse`] (`lighthouse vc`'s
//!   flags), [`cli`] and [`cmd`] (the other subcommands).

pub mod beacon;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod datadir;
pub mod el;
pub mod error;
pub mod events;
pub mod heap;
pub mod http;
pub mod leases;
pub mod ledger;
pub mod lighthouse;
pub mod logging;
pub mod metrics;
pub mod networks;
pub mod outcome;
pub mod policy;
pub mod pool;
pub mod progress;
pub mod remote_signer;
pub mod runtime;
pub mod services;
pub mod signals;
pub mod store;
