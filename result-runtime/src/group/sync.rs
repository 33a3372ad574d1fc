//! The synchronisation primitives of the group's own shared state (the handle slot, the
//! first-failure store, the task set's
//! joiner): std's, or loom's under `--cfg loom`, so that the loom models in
//! `loom.rs` check the very code that runs. Everything else (tokio, the context) keeps its
//! own primitives.

#[cfg(loom)]
pub(super) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(super) use std::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

/// Locks `mutex`, ignoring poison: every critical section of the group leaves its data
/// consistent before anything that could panic (a waker is woken outside the lock).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
