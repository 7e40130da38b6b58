//! `lighthouse vc` compatibility: the flags ([`args`], and what poolvc does
//! with each in [`flags`]), the command line under Lighthouse's name
//! ([`argv`]), the directories ([`layout`]), key discovery ([`discover`])
//! and the graffiti file ([`graffiti_file`]).

pub mod args;
pub mod argv;
pub mod config;
pub mod discover;
pub mod flags;
pub mod graffiti_file;
pub mod layout;
