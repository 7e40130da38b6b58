//! Consensus types a validator client signs or must hash, for every fork from
//! phase0 to fulu, generic over the [`Preset`] (mainnet or minimal), plus the
//! chain configuration and the signing-root machinery.

pub mod attestation;
pub mod block;
pub mod builder;
pub mod containers;
pub mod execution;
pub mod fork;
pub mod gloas;
pub mod preset;
pub mod primitives;
pub mod progressive;
pub mod signing;
pub mod spec;
pub mod sync;

pub use attestation::*;
pub use block::*;
pub use builder::*;
pub use containers::*;
pub use execution::*;
pub use fork::*;
pub use gloas::*;
pub use preset::*;
pub use primitives::*;
pub use progressive::{ProgressiveBitList, ProgressiveList};
pub use signing::*;
pub use spec::*;
pub use sync::*;
