//! The batched BLS signing engine.
//!
//! `sig = sk * H(m)`. Many keys sign the same message (since Electra every
//! attester of a slot signs the same `AttestationData`; selection proofs and
//! sync-committee messages share messages too), so the engine:
//!
//! ```text
//! requests ──group by signing root──► one hash-to-G2 per root
//!    │                                   │
//!    │            group ≥ threshold? ────┴── yes: fixed-base table for H(m),
//!    │                                         signed-digit windows, constant-time
//!    │                                         table scan, additions only (comb.rs)
//!    │                                    no: blst_sign_pk_in_g1 per key
//!    ▼
//! projective points ──one batch inversion per chunk──► affine ──► compress
//! ```
//!
//! Output equals blst's `SecretKey::sign` byte for byte (the tests check it).
//! Work runs on the engine's own rayon pool, never on tokio's threads; async
//! callers await a oneshot channel ([`SigningEngine::sign_async`]).

pub mod comb;
pub mod engine;
pub mod keyset;
pub mod valgrind;

pub use engine::{BatchError, SignRequest, SigningEngine, DEFAULT_TABLE_THRESHOLD};
pub use keyset::{KeyHandle, KeySet};
