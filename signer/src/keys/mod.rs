//! Keys: BLS secret and public keys on blst (min_pk, the Ethereum
//! ciphersuite), interop keys, EIP-2333/2334 derivation from a BIP-39
//! mnemonic, and EIP-2335 keystores.

pub mod bls;
pub mod cache;
pub mod derive;
pub mod interop;
pub mod keystore;

pub use bls::{BlsError, PublicKey, SecretKey, Signature, ETH_DST};
pub use keystore::{Kdf, Keystore, KeystoreError, KeystoreErrorKind};
