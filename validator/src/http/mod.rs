//! The servers `poolvc vc` offers: `/metrics` with the pool routes
//! ([`metrics`], [`pool_api`]) and the keymanager API ([`keymanager`]).
//! `poolvc signer`'s server is [`crate::remote_signer`]. Nothing here
//! imports a duty service.

pub mod keymanager;
pub mod metrics;
pub mod pool_api;
