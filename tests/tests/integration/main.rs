//! The workspace's integration tests, as one test binary: each module below
//! was once a binary of its own. One binary builds the simulated node, the
//! client and their generic code once instead of twenty-odd times, which was
//! most of CI's time.
//!
//! Every test takes a turn on the machine first thing
//! ([`poolvc_tests::turns`]): shared by default, alone for a test whose
//! assertion is a time bound or a process-wide counter.
//!
//! Run one module's tests with a filter:
//! `cargo test --workspace --locked --test integration -- simnode_hostile::`.
//!
//! Two suites stay binaries of their own, because each installs a counting
//! global allocator for the whole process: `tests/tests/beacon_streaming.rs`
//! and `tests/tests/fuzz_decoders.rs`.

mod batch_engine;
mod beacon_failover;
mod beacon_tls;
mod bls_vectors;
mod constant_time;
mod dashboard;
mod ha_two_hosts;
mod keymanager_api;
mod keys_vectors;
mod leases;
mod leases_hosts;
mod lighthouse_kurtosis;
mod netns;
mod pool_contracts;
mod signer_exposure;
mod signing_roots;
mod simnode_bad_nodes;
mod simnode_doppelganger;
mod simnode_electra;
mod simnode_hostile;
mod simnode_hostile_nodes;
mod simnode_signatures;
mod slashing_bad_input;
mod slashing_crash_and_race;
mod slashing_gloas;
mod slashing_interchange;
mod ssz_static;
mod store_gate;
mod store_gate_gloas;
mod web3signer_wire;
