//! Builder-API containers (builder-specs, Bellatrix).

use super::primitives::*;
use serde::{Deserialize, Serialize};
use ssz_derive::{Decode, Encode};
use tree_hash_derive::TreeHash;

/// `ValidatorRegistrationV1`: a validator's fee recipient and gas limit for builders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct ValidatorRegistrationV1 {
    /// Fee recipient for blocks built for this validator.
    pub fee_recipient: Address,
    /// Preferred gas limit.
    #[serde(with = "serde_utils::quoted_u64")]
    pub gas_limit: u64,
    /// Unix time of the registration (newer wins).
    #[serde(with = "serde_utils::quoted_u64")]
    pub timestamp: u64,
    /// The validator's public key.
    pub pubkey: PublicKeyBytes,
}

/// `SignedValidatorRegistrationV1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode, TreeHash)]
pub struct SignedValidatorRegistrationV1 {
    /// The registration.
    pub message: ValidatorRegistrationV1,
    /// The validator's signature under the builder domain.
    pub signature: SignatureBytes,
}
