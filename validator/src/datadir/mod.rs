//! The data dir, in Lighthouse's layout: where the files are ([`layout`]),
//! `validator_definitions.yml` ([`definitions`]), keystores found in the
//! validators dir ([`discover`]), Lighthouse's graffiti file
//! ([`graffiti_file`]) and the key loader that turns them into keys for the
//! validator store ([`keys`]).

pub mod definitions;
pub mod discover;
pub mod graffiti_file;
pub mod keys;
pub mod layout;
