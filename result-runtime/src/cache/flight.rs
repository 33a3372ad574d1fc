//! The single-flight table: at most one load per key at a time, and every caller that asks
//! while it runs waits for that load's result.
//!
//! Each load runs in its own spawned task and publishes its result on a `tokio::sync::watch`
//! channel. Callers only hold receivers, so a caller that is cancelled (dropped) takes nothing
//! with it: not even the caller that started the load can cancel it for the others, and the
//! loader never runs twice for one flight (moka re-runs the init future when its leader is
//! cancelled).
//!
//! A flight is identified by a number so that a finishing load can tell whether it is still
//! the current flight for its key: `insert`, `invalidate` and `invalidate_all` *detach* a
//! running flight, and a detached load still answers its waiters but stores nothing.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use quick_cache::DefaultHashBuilder;
use tokio::sync::watch;

use crate::error::{Result, TaskError};

/// Where a load's result is published; `None` until it finishes.
pub(crate) type Slot<V> = watch::Receiver<Option<Result<V>>>;
pub(crate) type Publisher<V> = watch::Sender<Option<Result<V>>>;

pub(crate) struct Flight<V> {
    pub(crate) id: u64,
    pub(crate) slot: Slot<V>,
}

impl<V> Flight<V> {
    /// Whether the load can still publish. A load task dropped before it finished (its
    /// runtime shut down) leaves its flight behind with a closed channel; such a flight is
    /// replaced by the next caller instead of being joined, so the key never gets stuck.
    pub(crate) fn is_alive(&self) -> bool {
        self.slot.has_changed().is_ok()
    }
}

pub(crate) type Shard<K, V> = HashMap<K, Flight<V>, DefaultHashBuilder>;

pub(crate) struct Flights<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    hasher: DefaultHashBuilder,
    next_id: AtomicU64,
}

impl<K: Hash + Eq, V> Flights<K, V> {
    pub(crate) fn new(shards: usize) -> Self {
        let n = shards.max(1).next_power_of_two();
        Self {
            shards: (0..n).map(|_| Mutex::new(HashMap::default())).collect(),
            hasher: DefaultHashBuilder::default(),
            next_id: AtomicU64::new(1),
        }
    }

    /// Locks the shard that holds `key`'s flight. The lock is never held across an await or
    /// while user code runs.
    pub(crate) fn lock<Q>(&self, key: &Q) -> MutexGuard<'_, Shard<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        #[allow(clippy::cast_possible_truncation)] // only the low bits pick the shard
        let i = self.hasher.hash_one(key) as usize & (self.shards.len() - 1);
        // Poisoning is impossible in practice (no user code runs under the lock); if it ever
        // happens the map is still consistent, so keep going.
        self.shards[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new flight for `key` in a locked shard and returns its id and publisher.
    pub(crate) fn start(&self, shard: &mut Shard<K, V>, key: K) -> (u64, Publisher<V>, Slot<V>) {
        let id = self.next_id.fetch_add(1, Relaxed);
        let (tx, rx) = watch::channel(None);
        shard.insert(key, Flight { id, slot: rx.clone() });
        (id, tx, rx)
    }

    /// Detaches every flight (used by `invalidate_all`).
    pub(crate) fn detach_all(&self) {
        for s in &*self.shards {
            s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
    }
}

/// Waits for a flight's result. If the load task vanished without publishing (its runtime
/// shut down), the waiter gets `Cancelled` rather than hanging.
pub(crate) async fn wait<V: Clone>(mut slot: Slot<V>) -> Result<V> {
    match slot.wait_for(Option::is_some).await {
        Ok(v) => v.clone().expect("wait_for returned a published result"),
        Err(_) => Err(TaskError::cancelled(None)),
    }
}
