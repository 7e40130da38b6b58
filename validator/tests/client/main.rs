//! The client's own integration tests, as one test binary (each module was a
//! binary of its own; one binary links the client once instead of six
//! times): the CLI commands run as an operator runs them, keys that are not
//! what their definitions claim, and the validator store as the only path to
//! a signature.
//!
//! `inspect_no_kdf.rs` stays a binary of its own: it reads the process-wide
//! count of keystore decryptions, which no other test may move meanwhile.

mod cli_bench_slot;
mod cli_keys;
mod cli_lighthouse;
mod cli_slashing;
mod dependency_rules;
mod keys_are_what_they_claim;
mod startup_order;
mod store_is_the_gate;
