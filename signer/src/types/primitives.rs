//! Scalar and byte types shared by every container.

use alloy_primitives::FixedBytes;

/// A 32-byte root (block root, state root, signing root).
pub type Hash256 = alloy_primitives::B256;
/// A 20-byte execution-layer address.
pub type Address = alloy_primitives::Address;
/// A 256-bit unsigned integer (e.g. `base_fee_per_gas`).
pub type Uint256 = alloy_primitives::U256;
/// A slot number.
pub type Slot = u64;
/// An epoch number.
pub type Epoch = u64;
/// A validator's index in the registry.
pub type ValidatorIndex = u64;
/// A committee's index within a slot.
pub type CommitteeIndex = u64;
/// An amount in Gwei.
pub type Gwei = u64;
/// A compressed BLS public key as raw bytes (not checked to be on the curve).
pub type PublicKeyBytes = FixedBytes<48>;
/// A compressed BLS signature as raw bytes (not checked to be on the curve).
pub type SignatureBytes = FixedBytes<96>;
/// A KZG commitment.
pub type KzgCommitment = FixedBytes<48>;
/// A 4-byte fork version.
pub type Version = FixedBytes<4>;
/// A 4-byte domain type (`DOMAIN_BEACON_ATTESTER`, ...).
pub type DomainType = FixedBytes<4>;
/// A 32-byte signing domain.
pub type Domain = Hash256;
/// 32 bytes of graffiti.
pub type Graffiti = Hash256;

/// `FAR_FUTURE_EPOCH` of the spec: a fork scheduled at this epoch never happens.
pub const FAR_FUTURE_EPOCH: Epoch = u64::MAX;
