//! Turns on the machine for the tests of one test binary.
//!
//! libtest runs two tests at a time on CI's two cores. Most tests may share
//! the machine that way; a test whose assertion is a time bound (an
//! attestation within 1/3 slot plus a margin, an exit within 2 s) or a
//! process-wide counter must not have its figure moved by whatever the other
//! test thread is doing, so it has the machine alone.
//!
//! Invariant: every test of the integration binary takes exactly one turn,
//! first thing, and holds it to its end. A turn is never taken twice in one
//! test (the lock prefers a waiting `alone` turn over new `shared` ones, so
//! a second `shared` would wait behind it forever), and a module's own
//! `TURN` mutex is taken after it, never before.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static MACHINE: RwLock<()> = RwLock::new(());

/// A turn on the machine, held until dropped.
///
/// Holding it across `.await` is the point: the test keeps the machine (or
/// its share of it) for its whole run. Nothing else waits on it inside the
/// test's runtime, so no task can deadlock on it.
#[must_use = "the turn ends when this is dropped"]
pub struct Turn {
    _shared: Option<RwLockReadGuard<'static, ()>>,
    _alone: Option<RwLockWriteGuard<'static, ()>>,
}

/// A share of the machine: runs beside the other shared tests.
pub fn shared() -> Turn {
    let guard = MACHINE.read().unwrap_or_else(|p| p.into_inner());
    Turn { _shared: Some(guard), _alone: None }
}

/// The machine alone: waits for the running tests to end and keeps the
/// others waiting until this one ends.
pub fn alone() -> Turn {
    let guard = MACHINE.write().unwrap_or_else(|p| p.into_inner());
    Turn { _shared: None, _alone: Some(guard) }
}
