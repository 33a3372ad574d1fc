//! [`Pool`]: a bounded object pool that resets objects on return, in the spirit of Go's
//! `sync.Pool`, with what its users miss: a size bound, a cap on retained capacity, reset at
//! a known time, and statistics.
//!
//! ```
//! use result_runtime::pool::Pool;
//!
//! let pool = Pool::new(64, || Vec::<u8>::with_capacity(4096));
//! {
//!     let mut buf = pool.get();
//!     buf.extend_from_slice(b"request body");
//! } // reset (cleared) and returned here
//!
//! let buf = pool.get();
//! assert!(buf.is_empty()); // no previous contents
//! assert!(buf.capacity() >= 4096); // but the allocation is reused
//! let stats = pool.stats();
//! assert_eq!((stats.misses, stats.hits, stats.returned), (1, 1, 1));
//! ```
//!
//! # How it works
//!
//! - **Per-thread slot.** Each thread keeps at most one object per pool in a thread-local
//!   slot (`sync.Pool`'s private per-P slot). A thread that gets and returns in turn touches
//!   no shared memory; two threads doing so never contend.
//! - **Bounded shared queue.** Objects returned while the thread's slot is full go to a
//!   lock-free bounded queue (`concurrent-queue`, the array queue under async-channel) of
//!   `capacity` objects, where any thread can take them. When it is full, the returned object
//!   is dropped. So the pool keeps at most `capacity` objects (at least 1) plus one per
//!   thread that uses it.
//! - **Reset on return.** [`Reset::reset`] runs when a [`Pooled`] guard is dropped, before
//!   the object can be seen again, so no request sees another's data.
//! - **Retained-capacity cap.** An object whose [`Reset::retained_bytes`] is over
//!   [`PoolBuilder::max_retained_bytes`] (default 64 KiB, as Go's `fmt` caps its buffers) is
//!   dropped instead of pooled: one huge request does not pin a huge buffer forever.
//! - **Boxed once.** An object is boxed when the factory makes it, so getting and returning
//!   it moves a pointer, not the object (this halved get+put time for a `Vec` in the bench).
//! - **No poisoning.** There are no locks on the hot path. An object held while its holder
//!   panics is dropped, not pooled (it may be half-updated in ways `reset` does not know
//!   about), and counted as discarded; the pool keeps working.
//!
//! Compared with `lockfree-object-pool` (also a dev-dependency, used in the bench): it has
//! no size bound, no retained-capacity cap and no statistics, and every pull and return is
//! an atomic operation on memory shared by all threads; `object-pool` needs a fallback at
//! every pull and has no reset hook. Same run of `cargo bench --bench pool` (2-core machine
//! shared with other jobs: noisy): get+put of a 4 KiB `Vec` took 8.3 ns on one thread
//! (LinearObjectPool 11.2 ns, a fresh `Vec` 28.6 ns) and 7.5 ns per operation with two
//! threads sharing the pool (LinearObjectPool 13.1 ns, fresh `Vec` 29.7 ns). Padding the
//! per-thread slot and counters to their own cache lines took the two-thread case from
//! 11.9 to 7.5 ns: adjacent allocations of two threads had been sharing a line.
//!
//! # Metrics
//!
//! A pool given a [name](PoolBuilder::name) publishes its counts through the `metrics`
//! facade (feature `metrics`) when `Pool::record_metrics` is called, where metrics are
//! collected (before each scrape): gets and returns never touch the facade, named or not.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `pool_gets_total` | counter | `pool`, `outcome` = `hit` (a pooled object reused) / `miss` (the factory called) |
//! | `pool_returns_total` | counter | `pool`, `outcome` = `kept` (reset and pooled) / `dropped` (the pool was full, the object over the retained-capacity cap, or its holder panicked) |
//! | `pool_idle` | gauge | `pool`: objects pooled now ([`Pool::idle`]) |

mod local;
#[cfg(feature = "metrics")]
mod metrics;
mod reset;

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use concurrent_queue::ConcurrentQueue;

use crate::config::ConfigError;

use local::{bump, LocalStats};
pub use reset::Reset;

/// What [`Pool::stats`] reports. Counts are exact once the threads using the pool are
/// quiet; while they run, each counter is a recent value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// `get`s served by a pooled object.
    pub hits: u64,
    /// `get`s that called the factory.
    pub misses: u64,
    /// Objects reset and kept for reuse.
    pub returned: u64,
    /// Objects dropped on return: the pool was full, the object was over the retained
    /// capacity cap, or its holder panicked.
    pub discarded: u64,
}

impl PoolStats {
    fn add(&mut self, s: &LocalStats) {
        self.hits += s.hits.load(Ordering::Relaxed);
        self.misses += s.misses.load(Ordering::Relaxed);
        self.returned += s.returned.load(Ordering::Relaxed);
        self.discarded += s.discarded.load(Ordering::Relaxed);
    }
}

/// Statistics of threads that exited, and of operations that could not use a thread slot.
#[derive(Default)]
struct Registry {
    live: Vec<Arc<LocalStats>>,
    retired: PoolStats,
    /// Pooled objects dropped when their thread exited and the shared queue was full: kept
    /// once, never got again, so no longer idle.
    lost: u64,
}

type Factory<T> = Box<dyn Fn() -> T + Send + Sync>;

struct Shared<T: Reset + Send + 'static> {
    /// Unique for the process lifetime: the key of this pool's thread-local slots.
    id: u64,
    /// The `pool` label of its metrics; unnamed pools record none.
    name: Option<Cow<'static, str>>,
    queue: ConcurrentQueue<Box<T>>,
    factory: Factory<T>,
    max_retained_bytes: usize,
    registry: Mutex<Registry>,
}

impl<T: Reset + Send + 'static> Shared<T> {
    /// The registry lock never guards user code, so a poisoned lock (a panic elsewhere
    /// while it was held) leaves consistent data: take it anyway.
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn retire(&self, stats: &Arc<LocalStats>) {
        let mut reg = self.registry();
        reg.retired.add(stats);
        reg.live.retain(|s| !Arc::ptr_eq(s, stats));
    }

    fn pop_shared(&self) -> Option<Box<T>> {
        self.queue.pop().ok()
    }

    fn get(self: &Arc<Self>) -> Box<T> {
        let got = local::with_slot(self, |slot| {
            let obj = slot.obj.take().or_else(|| self.pop_shared());
            bump(if obj.is_some() { &slot.stats.hits } else { &slot.stats.misses });
            obj
        });
        match got {
            Some(Some(obj)) => obj,
            Some(None) => Box::new((self.factory)()),
            None => {
                // No thread slot (thread exiting, or re-entered): shared queue only.
                let obj = self.pop_shared();
                let mut reg = self.registry();
                if obj.is_some() {
                    reg.retired.hits += 1;
                } else {
                    reg.retired.misses += 1;
                }
                drop(reg);
                obj.unwrap_or_else(|| Box::new((self.factory)()))
            }
        }
    }

    fn put(self: &Arc<Self>, mut obj: Box<T>) {
        if std::thread::panicking() {
            return self.discard(obj);
        }
        obj.reset();
        if obj.retained_bytes() > self.max_retained_bytes {
            return self.discard(obj);
        }
        let mut obj = Some(obj);
        let rejected = local::with_slot(self, |slot| {
            let o = obj.take()?;
            if slot.obj.is_none() {
                slot.obj = Some(o);
                bump(&slot.stats.returned);
                return None;
            }
            match self.queue.push(o) {
                Ok(()) => {
                    bump(&slot.stats.returned);
                    None
                }
                Err(full) => {
                    bump(&slot.stats.discarded);
                    Some(full.into_inner())
                }
            }
        });
        // Dropped here, after the slot list is released: dropping is user code.
        drop(rejected);
        if let Some(o) = obj {
            // No thread slot: shared queue only.
            let pushed = self.queue.push(o);
            let mut reg = self.registry();
            match pushed {
                Ok(()) => reg.retired.returned += 1,
                Err(_) => reg.retired.discarded += 1,
            }
        }
    }

    fn discard(self: &Arc<Self>, obj: Box<T>) {
        let counted = local::with_slot(self, |slot| bump(&slot.stats.discarded));
        if counted.is_none() {
            self.registry().retired.discarded += 1;
        }
        drop(obj);
    }
}

/// Builds a [`Pool`] with options; [`Pool::new`] covers the common case.
///
/// ```
/// use result_runtime::pool::Pool;
///
/// let pool = Pool::builder().capacity(32).max_retained_bytes(1 << 20).build(String::new)?;
/// pool.get().push_str("hello");
/// assert_eq!(pool.stats().returned, 1);
///
/// // Bad settings are refused, never clamped: the error names the setting.
/// let err = Pool::builder().capacity(0).build(String::new).unwrap_err();
/// assert_eq!(err.to_string(), "invalid setting `capacity`: must be greater than zero, got 0");
/// # Ok::<(), result_runtime::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder<T> {
    name: Option<Cow<'static, str>>,
    capacity: usize,
    max_retained_bytes: usize,
    _objects: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for PoolBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("max_retained_bytes", &self.max_retained_bytes)
            .finish()
    }
}

impl<T: Reset + Send + 'static> PoolBuilder<T> {
    /// Names the pool: the name appears in its `Debug` output and as the `pool` label of
    /// the metrics `Pool::record_metrics` publishes (feature `metrics`; unnamed pools
    /// publish none). Use one of a few fixed names: it is a label.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::pool::Pool;
    ///
    /// let pool = Pool::builder().name("buffers").build(Vec::<u8>::new)?;
    /// assert_eq!(pool.name(), Some("buffers"));
    ///
    /// let err = Pool::builder().name("").build(Vec::<u8>::new).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid setting `name`: must not be empty");
    /// # Ok::<(), result_runtime::ConfigError>(())
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Objects kept in the shared queue (default 64, at least 1); each thread also keeps one
    /// in its slot.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Objects whose [`Reset::retained_bytes`] exceed this are dropped on return instead of
    /// pooled (default 64 KiB; `usize::MAX` for no cap; 0 keeps only objects that retain
    /// nothing, such as those with the default [`Reset::retained_bytes`]).
    pub fn max_retained_bytes(mut self, bytes: usize) -> Self {
        self.max_retained_bytes = bytes;
        self
    }

    /// The pool; `factory` makes an object when none is pooled.
    ///
    /// # Errors
    /// A [`ConfigError`] for `name` when it is empty, and for `capacity` when it is zero (a
    /// pool that keeps nothing is a factory: call it directly).
    pub fn build<F>(self, factory: F) -> Result<Pool<T>, ConfigError>
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        if self.name.as_deref() == Some("") {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        if self.capacity == 0 {
            return Err(ConfigError::zero("capacity"));
        }
        Ok(Pool {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                name: self.name,
                queue: ConcurrentQueue::bounded(self.capacity),
                factory: Box::new(factory),
                max_retained_bytes: self.max_retained_bytes,
                registry: Mutex::new(Registry::default()),
            }),
        })
    }
}

/// The default retained-capacity cap, 64 KiB (Go's `fmt` caps its pooled buffers there).
pub const DEFAULT_MAX_RETAINED_BYTES: usize = 64 * 1024;

/// A bounded pool of reusable objects; see the [module docs](self). Cheap to clone (clones
/// share the objects).
pub struct Pool<T: Reset + Send + 'static> {
    shared: Arc<Shared<T>>,
}

impl<T: Reset + Send + 'static> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T: Reset + Send + 'static> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name)
            .field("capacity", &self.capacity())
            .field("max_retained_bytes", &self.shared.max_retained_bytes)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T: Reset + Send + 'static> Pool<T> {
    /// A builder with the defaults: capacity 64, [`DEFAULT_MAX_RETAINED_BYTES`].
    pub fn builder() -> PoolBuilder<T> {
        PoolBuilder {
            name: None,
            capacity: 64,
            max_retained_bytes: DEFAULT_MAX_RETAINED_BYTES,
            _objects: PhantomData,
        }
    }

    /// A pool keeping up to `capacity` objects in its shared queue (plus one per thread),
    /// with the default retained-capacity cap; `factory` makes objects when none is pooled.
    ///
    /// # Panics
    /// If `capacity` is zero, with the [`ConfigError`] message [`PoolBuilder::build`]
    /// returns (as `tokio::sync::mpsc::channel(0)` panics).
    pub fn new<F>(capacity: usize, factory: F) -> Self
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        Pool::builder().capacity(capacity).build(factory).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An object: this thread's pooled one, else one from the shared queue, else a new one
    /// from the factory. The guard resets and returns it when dropped.
    pub fn get(&self) -> Pooled<'_, T> {
        Pooled { pool: self, obj: Some(self.shared.get()) }
    }

    /// Like [`get`](Self::get), with a guard that owns a handle to the pool (`'static`, for
    /// moving into spawned tasks). Costs a reference-count update on the pool.
    pub fn get_owned(&self) -> OwnedPooled<T> {
        OwnedPooled { pool: self.clone(), obj: Some(self.shared.get()) }
    }

    /// The shared queue's capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.queue.capacity().unwrap_or(usize::MAX)
    }

    /// Objects waiting in the shared queue now (not counting the per-thread slots).
    #[must_use]
    pub fn shared_len(&self) -> usize {
        self.shared.queue.len()
    }

    /// Hits, misses, returned and discarded objects, summed over all threads.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        self.snapshot().0
    }

    /// The name given with [`PoolBuilder::name`].
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// Objects pooled now, waiting to be got: in the shared queue and in every thread's
    /// slot. Exact once the threads using the pool are quiet, like [`stats`](Self::stats).
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::pool::Pool;
    ///
    /// let pool = Pool::new(8, String::new);
    /// let held = [pool.get(), pool.get()];
    /// assert_eq!(pool.idle(), 0);
    /// drop(held);
    /// assert_eq!(pool.idle(), 2); // one in this thread's slot, one in the shared queue
    /// ```
    #[must_use]
    pub fn idle(&self) -> u64 {
        let (stats, lost) = self.snapshot();
        idle(&stats, lost)
    }

    /// Publishes this pool's counts through the `metrics` facade (feature `metrics`) as
    /// `pool_gets_total`, `pool_returns_total` (absolute counters) and `pool_idle` (a
    /// gauge), labelled `pool` = its [name](PoolBuilder::name); see the
    /// [module docs](self#metrics). An unnamed pool publishes nothing.
    ///
    /// Call it where metrics are collected (before each scrape, say): gets and returns
    /// never touch the facade, so the hot path keeps its per-thread counters and pays
    /// nothing for being named.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::pool::Pool;
    ///
    /// let pool = Pool::builder().name("buffers").build(Vec::<u8>::new)?;
    /// pool.get().push(1);
    /// pool.record_metrics(); // pool_gets_total{pool="buffers",outcome="miss"} 1, ...
    /// # Ok::<(), result_runtime::ConfigError>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn record_metrics(&self) {
        if let Some(name) = self.name() {
            let (stats, lost) = self.snapshot();
            metrics::record(name, &stats, idle(&stats, lost));
        }
    }

    /// The summed counts and the objects lost at thread exits, under one lock.
    fn snapshot(&self) -> (PoolStats, u64) {
        let reg = self.shared.registry();
        let mut total = reg.retired;
        for s in &reg.live {
            total.add(s);
        }
        (total, reg.lost)
    }
}

/// Every pooled object entered by a kept return and leaves by a hit or a loss at a thread's
/// exit. Saturating: counters read while threads run may be a little apart.
fn idle(stats: &PoolStats, lost: u64) -> u64 {
    stats.returned.saturating_sub(stats.hits).saturating_sub(lost)
}

impl<T: Reset + Send + 'static> Drop for Pool<T> {
    fn drop(&mut self) {
        // The last handle: release this thread's slot now instead of at thread exit. Other
        // threads' slots are released when they next meet a new pool, or exit.
        if Arc::strong_count(&self.shared) == 1 {
            local::remove_slot(self.shared.id);
        }
    }
}

/// An object borrowed from a [`Pool`]; derefs to it. Dropping the guard resets the object and
/// returns it to the pool (or drops it: pool full, over the cap, or a panic in flight).
pub struct Pooled<'a, T: Reset + Send + 'static> {
    pool: &'a Pool<T>,
    // `None` only after `detach`. Boxed: the guard and the queues move a pointer, not `T`.
    obj: Option<Box<T>>,
}

impl<T: Reset + Send + 'static> Pooled<'_, T> {
    /// Takes the object out for good: it will not be reset or returned.
    pub fn detach(mut this: Self) -> T {
        *this.obj.take().expect("a live guard holds its object")
    }
}

impl<T: Reset + Send + 'static> Deref for Pooled<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.obj.as_ref().expect("a live guard holds its object")
    }
}

impl<T: Reset + Send + 'static> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.obj.as_mut().expect("a live guard holds its object")
    }
}

impl<T: Reset + Send + 'static> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take() {
            self.pool.shared.put(obj);
        }
    }
}

impl<T: Reset + Send + fmt::Debug + 'static> fmt::Debug for Pooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Like [`Pooled`], holding its own handle to the pool (see [`Pool::get_owned`]).
pub struct OwnedPooled<T: Reset + Send + 'static> {
    pool: Pool<T>,
    obj: Option<Box<T>>,
}

impl<T: Reset + Send + 'static> OwnedPooled<T> {
    /// Takes the object out for good: it will not be reset or returned.
    pub fn detach(mut this: Self) -> T {
        *this.obj.take().expect("a live guard holds its object")
    }
}

impl<T: Reset + Send + 'static> Deref for OwnedPooled<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.obj.as_ref().expect("a live guard holds its object")
    }
}

impl<T: Reset + Send + 'static> DerefMut for OwnedPooled<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.obj.as_mut().expect("a live guard holds its object")
    }
}

impl<T: Reset + Send + 'static> Drop for OwnedPooled<T> {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take() {
            self.pool.shared.put(obj);
        }
    }
}

impl<T: Reset + Send + fmt::Debug + 'static> fmt::Debug for OwnedPooled<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
