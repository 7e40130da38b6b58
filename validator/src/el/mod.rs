//! The execution layer, as poolvc reads it: the JSON-RPC client ([`rpc`]),
//! the pool contracts' ABI ([`abi`]), proofs against the roots a beacon
//! block commits to ([`proof`]), blocks older than any such block proven by
//! their descendants' parent hashes ([`ancestry`]), and contract calls
//! executed locally over proven state ([`proven`]). Imports nothing else of
//! the crate.

pub mod abi;
pub mod ancestry;
pub mod proof;
pub mod proven;
pub mod rpc;
