//! The execution layer, as poolvc reads it: the JSON-RPC client ([`rpc`])
//! and the pool contracts' ABI ([`abi`]). Imports nothing else of the crate.

pub mod abi;
pub mod rpc;
