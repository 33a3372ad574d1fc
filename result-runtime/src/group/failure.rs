//! The group's first-failure store: "first real failure wins", set once.

use super::sync::{lock, Mutex};
use crate::error::TaskError;

/// Holds the winning failure of a group. Written at most once, by the first
/// [`record`](Self::record); the caller cancels the group's context only after its record
/// won, so anyone who sees the context cancelled by a failure also sees that failure here,
/// and a sibling's `Cancelled` (never recorded) can never take its place.
///
/// A mutex rather than a `OnceLock`: only real failures get here (a `Cancelled` is turned
/// away before), so it is never contended on the fail-fast path, and it is a primitive loom
/// can model.
#[derive(Default)]
pub(super) struct FirstFailure {
    error: Mutex<Option<TaskError>>,
}

impl FirstFailure {
    /// Stores `error` unless a failure is stored already; whether this call stored it.
    pub(super) fn record(&self, error: &TaskError) -> bool {
        let mut stored = lock(&self.error);
        if stored.is_some() {
            return false;
        }
        *stored = Some(error.clone());
        true
    }

    /// The winning failure, once one is stored.
    pub(super) fn get(&self) -> Option<TaskError> {
        lock(&self.error).clone()
    }
}
