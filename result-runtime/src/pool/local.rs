//! The per-thread slot: each thread keeps at most one object per pool where only it looks,
//! so a thread that gets and returns objects in turn (the common case) touches no shared
//! memory at all, like `sync.Pool`'s per-P private slot.
//!
//! `thread_local!` cannot be generic, so one thread-local list holds a type-erased slot per
//! pool that the thread used, found by the pool's unique id (a linear scan: threads use few
//! pools). No user code (factory, reset, drop of an object) runs while the list is
//! borrowed, and every access uses `try_borrow_mut`, so an object whose drop uses a pool
//! cannot make the list re-enter: that access takes the shared queue instead.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::{Reset, Shared};

/// Counters written only by the thread that owns them (plain load + store, no locked
/// instruction), read by `Pool::stats` from any thread. Aligned to a cache line pair so
/// that two threads' counters never share one.
#[derive(Default)]
#[repr(align(128))]
pub(super) struct LocalStats {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) returned: AtomicU64,
    pub(super) discarded: AtomicU64,
}

/// Adds one to a counter that only the current thread writes.
#[inline]
pub(super) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Aligned like [`LocalStats`]: written on every get and return by its thread only.
#[repr(align(128))]
pub(super) struct LocalSlot<T: Reset + Send + 'static> {
    pub(super) obj: Option<Box<T>>,
    pub(super) stats: Arc<LocalStats>,
    pool: Weak<Shared<T>>,
}

impl<T: Reset + Send + 'static> LocalSlot<T> {
    fn new(shared: &Arc<Shared<T>>) -> Self {
        let stats = Arc::new(LocalStats::default());
        shared.registry().live.push(Arc::clone(&stats));
        Self { obj: None, stats, pool: Arc::downgrade(shared) }
    }
}

impl<T: Reset + Send + 'static> Drop for LocalSlot<T> {
    /// The thread exits (or the pool is gone): fold this thread's counts into the pool's
    /// and hand the object to the shared queue for other threads.
    fn drop(&mut self) {
        let Some(shared) = self.pool.upgrade() else { return };
        shared.retire(&self.stats);
        if let Some(obj) = self.obj.take() {
            if let Err(full) = shared.queue.push(obj) {
                shared.registry().lost += 1;
                // Dropped after the lock is released: dropping is user code.
                drop(full);
            }
        }
    }
}

/// One pool's slot on this thread, type-erased; `is_dead` knows the concrete type.
struct Entry {
    pool_id: u64,
    slot: Box<dyn Any>,
    is_dead: fn(&dyn Any) -> bool,
}

fn is_dead<T: Reset + Send + 'static>(slot: &dyn Any) -> bool {
    slot.downcast_ref::<LocalSlot<T>>().is_none_or(|s| s.pool.strong_count() == 0)
}

thread_local! {
    static SLOTS: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's slot for `shared`, creating it on first use. `None` when the
/// slot cannot be reached (the thread is exiting, or the list is already borrowed higher up
/// this stack): the caller then uses the shared queue.
#[inline]
pub(super) fn with_slot<T: Reset + Send + 'static, R>(
    shared: &Arc<Shared<T>>,
    f: impl FnOnce(&mut LocalSlot<T>) -> R,
) -> Option<R> {
    SLOTS
        .try_with(|cell| {
            let mut slots = cell.try_borrow_mut().ok()?;
            if let Some(entry) = slots.iter_mut().find(|e| e.pool_id == shared.id) {
                return entry.slot.downcast_mut::<LocalSlot<T>>().map(f);
            }
            // Slow path, once per thread and pool. Slots of pools that are gone are dropped
            // after the borrow ends: dropping them drops objects, which is user code.
            let mut dead = Vec::new();
            let mut i = 0;
            while i < slots.len() {
                if (slots[i].is_dead)(&*slots[i].slot) {
                    dead.push(slots.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            let mut slot = LocalSlot::new(shared);
            let result = f(&mut slot);
            slots.push(Entry { pool_id: shared.id, slot: Box::new(slot), is_dead: is_dead::<T> });
            drop(slots);
            drop(dead);
            Some(result)
        })
        .ok()
        .flatten()
}

/// Removes this thread's slot for pool `id`, if any (the pool is being dropped).
pub(super) fn remove_slot(id: u64) {
    let removed = SLOTS
        .try_with(|cell| {
            let mut slots = cell.try_borrow_mut().ok()?;
            let i = slots.iter().position(|e| e.pool_id == id)?;
            Some(slots.swap_remove(i))
        })
        .ok()
        .flatten();
    drop(removed);
}
