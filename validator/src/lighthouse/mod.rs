//! `lighthouse vc` compatibility: the flags ([`args`], and what poolvc does
//! with each in [`flags`]), the command line under Lighthouse's name
//! ([`argv`]), and the flags turned into the client's settings ([`config`]).
//! The data dir Lighthouse leaves behind is read by [`crate::datadir`].

pub mod args;
pub mod argv;
pub mod config;
pub mod flags;
