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
/// instruction), read by `Pool::stats` from any thread.
#[derive(Default)]
pub(super) struct LocalStats {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) returned: AtomicU64,
    pub(super) discarded: AtomicU64,
}

/// Adds one to a counter that only the current thread writes.
pub(super) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

pub(super) struct LocalSlot<T: Reset + Send + 'static> {
    pub(super) obj: Option<T>,
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
            if let Some(queue) = &shared.queue {
                let _ = queue.push(obj);
            }
        }
    }
}

trait Slot {
    fn is_dead(&self) -> bool;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Reset + Send + 'static> Slot for LocalSlot<T> {
    fn is_dead(&self) -> bool {
        self.pool.strong_count() == 0
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

type Slots = Vec<(u64, Box<dyn Slot>)>;

thread_local! {
    static SLOTS: RefCell<Slots> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's slot for `shared`, creating it on first use. `None` when the
/// slot cannot be reached (the thread is exiting, or the list is already borrowed higher up
/// this stack): the caller then uses the shared queue.
pub(super) fn with_slot<T: Reset + Send + 'static, R>(
    shared: &Arc<Shared<T>>,
    f: impl FnOnce(&mut LocalSlot<T>) -> R,
) -> Option<R> {
    SLOTS
        .try_with(|cell| {
            let mut slots = cell.try_borrow_mut().ok()?;
            let mut dead = Vec::new();
            let index = if let Some(i) = slots.iter().position(|(id, _)| *id == shared.id) {
                i
            } else {
                // Slow path, once per thread and pool: drop the slots of pools that are gone
                // (after the borrow ends: dropping them drops objects, which is user code).
                let mut i = 0;
                while i < slots.len() {
                    if slots[i].1.is_dead() {
                        dead.push(slots.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
                slots.push((shared.id, Box::new(LocalSlot::new(shared))));
                slots.len() - 1
            };
            let result = slots[index].1.as_any_mut().downcast_mut::<LocalSlot<T>>().map(f);
            drop(slots);
            drop(dead);
            result
        })
        .ok()
        .flatten()
}

/// Removes this thread's slot for pool `id`, if any (the pool is being dropped).
pub(super) fn remove_slot(id: u64) {
    let removed = SLOTS
        .try_with(|cell| {
            let mut slots = cell.try_borrow_mut().ok()?;
            let i = slots.iter().position(|(slot_id, _)| *slot_id == id)?;
            Some(slots.swap_remove(i))
        })
        .ok()
        .flatten();
    drop(removed);
}
