//! The synchronisation primitives of the crate's own lock-free protocols: std's (the mutex:
//! `parking_lot`'s), or loom's when the crate is built with `RUSTFLAGS="--cfg loom"` for
//! model checking (see the `loom` tests in `context` and `channel`).
//!
//! Only what a model needs is routed through here (the channel queue's mutex,
//! a context's cancelled flag, cause and reference count); everything else uses `std::sync`
//! directly. Without `cfg(loom)` every item is std's or `parking_lot`'s, or a zero-cost
//! wrapper of one.
//!
//! The mutex is `parking_lot`'s because the channel takes it twice per item and does little
//! else: std's checks the thread's panic state on every lock and unlock (poisoning, which
//! [`lock`] ignores anyway) and calls out of line, which measured ~35 of the ~285
//! instructions an item cost under callgrind (4 producers/4 consumers); `parking_lot`'s
//! uncontended lock and unlock are one inlined compare-exchange each, and a contended one
//! spins briefly, then parks.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

/// Locks `mutex`; a panic while it was held does not poison it for everyone else (what it
/// guards is left consistent by every holder in this crate).
#[cfg(not(loom))]
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock()
}

/// Locks `mutex`; a panic while it was held does not poison it for everyone else (what it
/// guards is left consistent by every holder in this crate).
#[cfg(loom)]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A write-once cell with std `OnceLock`'s contract, reduced to what the crate uses: the
/// first `set` wins, a later one gets its value back, and a reader either sees nothing or
/// the complete value (never a value whose write it is not ordered after).
///
/// Readers get a clone, not a reference: loom's version cannot lend one out without
/// `unsafe`, and every caller clones anyway (`TaskError` is one reference count).
#[cfg(not(loom))]
pub(crate) struct OnceLock<T>(std::sync::OnceLock<T>);

#[cfg(not(loom))]
impl<T: Clone> OnceLock<T> {
    pub(crate) const fn new() -> Self {
        Self(std::sync::OnceLock::new())
    }

    /// Stores `value` if the cell is empty; gives it back otherwise.
    #[inline]
    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        self.0.set(value)
    }

    /// A clone of the value, if it was set.
    #[inline]
    pub(crate) fn get_cloned(&self) -> Option<T> {
        self.0.get().cloned()
    }

    /// A clone of the value, setting it with `init` first if the cell is empty.
    #[inline]
    pub(crate) fn get_or_init_cloned(&self, init: impl FnOnce() -> T) -> T {
        self.0.get_or_init(init).clone()
    }
}

/// Loom's model of std `OnceLock`: `done` plays the `Once` state (its `Release` store after
/// the write, the `Acquire` load of a reader), the mutex plays `Once`'s exclusive
/// initialisation (a second `set` waits for the first to finish, then fails).
#[cfg(loom)]
pub(crate) struct OnceLock<T> {
    done: AtomicBool,
    value: loom::sync::Mutex<Option<T>>,
}

#[cfg(loom)]
impl<T: Clone> OnceLock<T> {
    pub(crate) fn new() -> Self {
        Self { done: AtomicBool::new(false), value: loom::sync::Mutex::new(None) }
    }

    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        use std::sync::atomic::Ordering;
        if self.done.load(Ordering::Acquire) {
            return Err(value);
        }
        let mut slot = self.value.lock().unwrap();
        if slot.is_some() {
            return Err(value);
        }
        *slot = Some(value);
        self.done.store(true, Ordering::Release);
        Ok(())
    }

    pub(crate) fn get_cloned(&self) -> Option<T> {
        use std::sync::atomic::Ordering;
        // As std: not yet published means "empty", even while a `set` is under way.
        if !self.done.load(Ordering::Acquire) {
            return None;
        }
        self.value.lock().unwrap().clone()
    }

    pub(crate) fn get_or_init_cloned(&self, init: impl FnOnce() -> T) -> T {
        use std::sync::atomic::Ordering;
        if let Some(v) = self.get_cloned() {
            return v;
        }
        let mut slot = self.value.lock().unwrap();
        if let Some(v) = &*slot {
            return v.clone();
        }
        let v = init();
        *slot = Some(v.clone());
        self.done.store(true, Ordering::Release);
        v
    }
}
