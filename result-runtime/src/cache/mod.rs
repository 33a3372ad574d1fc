//! [`ResultCache`]: a concurrent cache of *results* (values and classified errors) with
//! single-flight loading, negative caching and refresh-ahead; and [`HashRing`], consistent
//! placement of keys on nodes or shards.
//!
//! ## Why not moka or quick_cache directly
//!
//! Storage is [`quick_cache`]'s sharded `sync::Cache` (chosen over moka by the `cache`
//! benchmark: its hit path takes one shard read lock and does not fall as threads are added,
//! where moka records every read on a shared channel). This module adds what neither offers
//! for `Result`-returning loaders:
//!
//! - **Single-flight over results.** N concurrent [`get_or_load`](ResultCache::get_or_load)
//!   callers of a missing key run the loader once, and all get the same `Ok` or the same
//!   [`TaskError`](crate::TaskError) (a clone of one error, not wrapped in another layer). A loader that panics
//!   gives every waiter a `Panicked` error and caches nothing. The load runs in its own
//!   spawned task, so a cancelled caller, even the one that started it, never cancels it for
//!   the others, and the loader never runs twice for one flight.
//! - **Classification-aware caching.** Values live for [`ttl`](CacheBuilder::ttl).
//!   Non-retryable failures are cached for [`negative_ttl`](CacheBuilder::negative_ttl), so a
//!   "not found" stops hammering the database; retryable errors (`UNAVAILABLE`, timeouts),
//!   panics and cancellations are never cached.
//! - **Expiry on every read.** Each entry carries its deadline and every read checks it against
//!   `tokio::time::Instant` (so paused-time tests are exact): a stale value is never returned.
//! - **Refresh-ahead.** With [`refresh_ahead`](CacheBuilder::refresh_ahead), a
//!   `get_or_load` inside the last fraction of a value's TTL returns the cached value at once
//!   and starts one background reload with that call's loader.
//! - **Trace context.** The load runs under the trace context of the caller that started it.
//!
//! Values are cloned out on every hit: cache `Arc<T>` for anything bigger than a few words.
//!
//! ## Shards and nodes
//!
//! Inside one process, [`shards`](CacheBuilder::shards) sets how many independently locked
//! parts the storage and the single-flight table have; a key's shard is its hash masked to
//! the (power-of-two, fixed) shard count, which is all a fixed count needs. Across processes,
//! [`HashRing`] places keys on nodes that come and go (one `ResultCache` per node, or a
//! remote cache per address), moving only about 1/(n+1) of the keys when a node joins and only
//! the leaving node's keys when one leaves.
//!
//! ## Across replicas
//!
//! With the `redis` feature, `CacheBuilder::redis(urls)` adds a shared tier: L2 on Redis
//! nodes placed by [`HashRing`], one load per key across every replica (errors included),
//! and invalidations every replica applies to its L1. See `cache::remote`.
//!
//! ```
//! use std::time::Duration;
//! use result_runtime::cache::ResultCache;
//! use result_runtime::{Code, ErrorKind, TaskError};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> result_runtime::Result<()> {
//! let cache = ResultCache::<String, u64>::builder()
//!     .max_capacity(100_000)
//!     .ttl(Duration::from_secs(60))
//!     .negative_ttl(Duration::from_secs(5))
//!     .build()?;
//!
//! let price = cache.get_or_load("sku-1".into(), || async { Ok(42) }).await?;
//! assert_eq!(price, 42);
//!
//! // A non-retryable error is cached for the negative TTL: the loader is not called again.
//! let missing = || async { Err(TaskError::new(Code::NOT_FOUND, "no such sku")) };
//! let e1 = cache.get_or_load("sku-0".into(), missing).await.unwrap_err();
//! let e2 = cache.get_or_load("sku-0".into(), || async { Ok(1) }).await.unwrap_err();
//! assert_eq!(e1.code(), Code::NOT_FOUND);
//! assert_eq!(e2.to_string(), e1.to_string());
//! assert_eq!(cache.stats().negative_hits, 1);
//! # Ok(()) }
//! ```

mod builder;
mod flight;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod remote;
mod ring;
mod stats;

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, UnitWeighter};
use tokio::time::Instant;

use crate::error::{ErrorKind, Result};
use crate::panic::{catch_unwind, catch_unwind_sync};
use crate::trace::TraceContext;

pub use builder::CacheBuilder;
#[cfg(feature = "redis")]
pub use remote::{RedisCacheBuilder, RemoteStats};
pub use ring::HashRing;
pub use stats::CacheStats;

use flight::{Flights, Publisher, Slot};
use stats::{Counter, Counters};

/// Why an entry left the cache, as told to the
/// [eviction listener](CacheBuilder::eviction_listener).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// The cache was over capacity and the eviction policy chose this entry.
    Capacity,
    /// A read found the entry past its TTL, negative TTL or time-to-idle.
    Expired,
    /// [`ResultCache::invalidate`] or [`ResultCache::invalidate_all`] removed it.
    Explicit,
    /// An insert or a finished load stored a new result for the same key.
    Replaced,
}

type Listener<K, V> = Arc<dyn Fn(K, Result<V>, RemovalCause) + Send + Sync + 'static>;

/// What is stored per key: the result, its deadline as nanoseconds since the cache's
/// creation (`u64::MAX` = never) and, only with time-to-idle, the last read. The refresh-ahead
/// point is not stored: it is `expires - refresh_window`, the same window for every value.
#[derive(Clone)]
struct Entry<V> {
    result: Result<V>,
    expires: u64,
    touched: Option<Arc<AtomicU64>>,
}

impl<V> Entry<V> {
    #[inline]
    fn is_fresh(&self, now: u64, tti: u64) -> bool {
        now < self.expires
            && self.touched.as_ref().is_none_or(|t| now.saturating_sub(t.load(Relaxed)) < tti)
    }
}

/// The quick_cache lifecycle: evictions are only collected while quick_cache holds its shard
/// lock, and reported (by [`Hooks::report`]) after every lock is released, so a listener may
/// call back into the cache.
struct Hooks<K, V> {
    listener: Option<Listener<K, V>>,
    counters: Arc<Counters>,
}

impl<K, V> Clone for Hooks<K, V> {
    fn clone(&self) -> Self {
        Self { listener: self.listener.clone(), counters: Arc::clone(&self.counters) }
    }
}

impl<K, V> Hooks<K, V> {
    fn notify(&self, key: K, result: Result<V>, cause: RemovalCause) {
        if let Some(listener) = &self.listener {
            // A panicking listener must not take the cache operation (or a load's waiters)
            // down with it.
            if let Err(e) = catch_unwind_sync(|| listener(key, result, cause)) {
                tracing::error!(error = %e, "result cache eviction listener panicked");
            }
        }
    }
}

impl<K, V> Lifecycle<K, Entry<V>> for Hooks<K, V> {
    type RequestState = Vec<(K, Entry<V>)>;

    fn begin_request(&self) -> Self::RequestState {
        Vec::new()
    }

    fn on_evict(&self, state: &mut Self::RequestState, key: K, val: Entry<V>) {
        state.push((key, val));
    }

    fn end_request(&self, state: Self::RequestState) {
        for (key, entry) in state {
            self.counters.add(Counter::Evictions);
            self.notify(key, entry.result, RemovalCause::Capacity);
        }
    }
}

impl<K: Eq, V> Hooks<K, V> {
    /// Reports what an insert of `inserted` pushed out. quick_cache reports a replaced value
    /// like an eviction; it is the one with the inserted key (with unit weights nothing is
    /// ever rejected as oversized, so the new entry itself never shows up here).
    fn report(&self, state: Vec<(K, Entry<V>)>, inserted: &K) {
        for (key, entry) in state {
            let cause = if key == *inserted {
                RemovalCause::Replaced
            } else {
                self.counters.add(Counter::Evictions);
                RemovalCause::Capacity
            };
            self.notify(key, entry.result, cause);
        }
    }
}

type Store<K, V> = Cache<K, Entry<V>, UnitWeighter, DefaultHashBuilder, Hooks<K, V>>;

/// Settings in the units the hot path uses (nanoseconds; `u64::MAX` = off).
#[derive(Clone, Copy, Debug)]
struct Timing {
    ttl: u64,
    negative_ttl: Option<u64>,
    tti: u64,
    refresh_window: Option<u64>,
}

impl Timing {
    /// Whether a read at `now` of `entry` falls in its refresh-ahead window.
    #[inline]
    fn refresh_due<V>(&self, entry: &Entry<V>, now: u64) -> bool {
        self.refresh_window.is_some_and(|w| entry.result.is_ok() && now >= entry.expires - w)
    }
}

struct Inner<K, V> {
    store: Store<K, V>,
    hooks: Hooks<K, V>,
    flights: Flights<K, V>,
    counters: Arc<Counters>,
    base: Instant,
    /// Whether anything can expire (a TTL, a negative TTL or a time-to-idle is set).
    clocked: bool,
    timing: Timing,
    capacity: u64,
    /// The Redis tier, set once while a tiered cache is built.
    #[cfg(feature = "redis")]
    remote: std::sync::OnceLock<Arc<dyn remote::Tier<K, V>>>,
}

/// A concurrent cache of `Result<V>` with single-flight loading, negative caching of
/// non-retryable errors, TTL, time-to-idle and refresh-ahead. See the [module docs](self).
///
/// Cloning is cheap and gives another handle to the same cache.
///
/// Misses of [`get_or_load`](Self::get_or_load) spawn the load on the current tokio
/// runtime; all other methods are synchronous and work anywhere.
pub struct ResultCache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for ResultCache<K, V> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<K, V> fmt::Debug for ResultCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultCache")
            .field("capacity", &self.inner.capacity)
            .field("timing", &self.inner.timing)
            .finish_non_exhaustive()
    }
}

/// What a read found.
struct Hit<V> {
    result: Result<V>,
    refresh_due: bool,
}

impl<K, V> ResultCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A builder with the defaults: capacity 10,000, no TTL, no negative caching, no
    /// time-to-idle, no refresh-ahead, no listener.
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::new()
    }

    /// A cache holding up to `max_capacity` entries, with no expiry.
    ///
    /// # Panics
    /// If `max_capacity` is zero, with the [`ConfigError`](crate::ConfigError) message the
    /// builder returns (as `tokio::sync::mpsc::channel(0)` panics).
    #[must_use]
    pub fn new(max_capacity: u64) -> Self {
        Self::builder().max_capacity(max_capacity).build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The cached result for `key`: `Some(Ok(v))` for a value, `Some(Err(e))` for a cached
    /// (non-retryable) error, `None` when nothing fresh is cached. Never starts a load or a
    /// refresh (it has no loader).
    pub fn get<Q>(&self, key: &Q) -> Option<Result<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.inner.now();
        self.inner.lookup(key, now).map(|h| h.result)
    }

    /// Returns the cached result for `key`, or runs `loader` once for all concurrent callers
    /// and caches what it returns.
    ///
    /// - A fresh value is returned without calling `loader`; so is a cached error.
    /// - On a miss, the first caller starts the load in a spawned task under its trace
    ///   context; every caller that arrives before it finishes waits for the same result. An
    ///   `Ok` is cached for the TTL; a non-retryable `Failed` error for the negative TTL (when
    ///   set); retryable errors, panics (`Panicked` for every waiter) and cancellations are
    ///   returned but not cached, so the next call loads again.
    /// - Dropping this future only stops *this* caller from waiting; the load goes on and its
    ///   result is cached for later callers.
    /// - With refresh-ahead, a hit inside the last fraction of the TTL returns the cached
    ///   value and starts one background reload using this call's `loader` (the cache does
    ///   not store loaders: only `get_or_load` can refresh, `get` cannot).
    ///
    /// # Errors
    /// The loader's error (shared, not wrapped), a cached error, `Panicked` when the loader
    /// panicked, or `Cancelled` if the runtime shut down before the load finished.
    ///
    /// # Panics
    /// On a miss outside a tokio runtime (the load is spawned).
    ///
    /// ```
    /// # use result_runtime::cache::ResultCache;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = ResultCache::<u64, String>::new(1_000);
    /// let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    /// let load = |calls: std::sync::Arc<std::sync::atomic::AtomicUsize>| {
    ///     move || async move {
    ///         calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ///         Ok("alice".to_string())
    ///     }
    /// };
    /// let (a, b) = tokio::join!(
    ///     cache.get_or_load(7, load(calls.clone())),
    ///     cache.get_or_load(7, load(calls.clone())),
    /// );
    /// assert_eq!((a.unwrap(), b.unwrap()), ("alice".into(), "alice".into()));
    /// assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    /// # }
    /// ```
    pub async fn get_or_load<F, Fut>(&self, key: K, loader: F) -> Result<V>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let now = self.inner.now();
        if let Some(hit) = self.inner.lookup(&key, now) {
            if hit.refresh_due {
                Inner::refresh(&self.inner, key, loader);
            }
            return hit.result;
        }
        #[cfg(feature = "redis")]
        if let Some(tier) = self.inner.remote.get() {
            return Inner::tiered_miss(&self.inner, Arc::clone(tier), key, loader).await;
        }
        match Inner::join_or_start(&self.inner, key, loader) {
            Ok(slot) => flight::wait(slot).await,
            Err(cached) => cached,
        }
    }

    /// Caches `value` for `key` (for the TTL), replacing what was there. A load of `key` that
    /// is running is detached: its waiters still get its result, but it does not overwrite
    /// this value.
    pub fn insert(&self, key: K, value: V) {
        let entry = self.inner.entry_for(&Ok(value), self.inner.now(), false);
        let entry = entry.expect("values are always cacheable");
        let state = {
            let mut flights = self.inner.flights.lock(&key);
            flights.remove(&key);
            self.inner.store.insert_with_lifecycle(key.clone(), entry)
        };
        self.inner.hooks.report(state, &key);
    }

    /// Removes `key`'s entry (the listener sees [`RemovalCause::Explicit`]) and detaches a
    /// running load of it, so that load's result is not cached.
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let removed = {
            let mut flights = self.inner.flights.lock(key);
            flights.remove(key);
            self.inner.store.remove(key)
        };
        if let Some((k, entry)) = removed {
            self.inner.hooks.notify(k, entry.result, RemovalCause::Explicit);
        }
    }

    /// Removes every entry and detaches every running load. With a listener, each removed
    /// entry is reported as [`RemovalCause::Explicit`].
    pub fn invalidate_all(&self) {
        self.inner.flights.detach_all();
        if self.inner.hooks.listener.is_some() {
            let drained: Vec<_> = self.inner.store.drain().collect();
            for (k, entry) in drained {
                self.inner.hooks.notify(k, entry.result, RemovalCause::Explicit);
            }
        } else {
            self.inner.store.clear();
        }
    }

    /// Invalidates `key` in every replica: removes it from this L1 (as
    /// [`invalidate`](Self::invalidate) does), then, on a Redis-tiered cache, deletes its
    /// Redis entry and any lease on it (a load running elsewhere then stores nothing) and
    /// publishes an invalidation that every replica applies to its L1. On a cache without a
    /// tier it is `invalidate`.
    ///
    /// Returns whether Redis took the invalidation (`true` without a tier); `false` when the
    /// key's node is down, in which case other replicas' L1 copies expire within their
    /// [local TTL](RedisCacheBuilder::local_ttl).
    ///
    /// # Examples
    ///
    /// ```
    /// # use result_runtime::cache::ResultCache;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = ResultCache::<String, u64>::new(100);
    /// cache.insert("sku-1".into(), 7);
    /// assert!(cache.invalidate_everywhere(&"sku-1".into()).await);
    /// assert!(cache.get("sku-1").is_none());
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// The L1 removal happens before the first await; dropping the future after that may
    /// leave the Redis entry in place.
    #[cfg(feature = "redis")]
    pub async fn invalidate_everywhere(&self, key: &K) -> bool {
        self.invalidate(key);
        match self.inner.remote.get() {
            Some(tier) => Arc::clone(tier).invalidate(key.clone()).await,
            None => true,
        }
    }

    /// The Redis tier's counters in this process; `None` for a cache without a tier.
    ///
    /// # Examples
    ///
    /// ```
    /// # use result_runtime::cache::ResultCache;
    /// assert!(ResultCache::<u64, u64>::new(10).remote_stats().is_none());
    /// ```
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn remote_stats(&self) -> Option<RemoteStats> {
        self.inner.remote.get().map(|t| t.stats())
    }

    /// How many entries are stored, including expired ones that no read has removed yet
    /// (they still count against the capacity until they are read or evicted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.store.len()
    }

    /// Whether nothing is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.store.is_empty()
    }

    /// The maximum number of entries (the configured capacity, rounded down to a multiple of
    /// the shard count).
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }

    /// Publishes a snapshot of [`stats`](Self::stats) through the `metrics` facade as
    /// absolute counters labelled `cache = name` (feature `metrics`): `cache_hits_total`,
    /// `cache_misses_total`, `cache_negative_hits_total`, `cache_loads_total`,
    /// `cache_load_errors_total`, `cache_evictions_total`, `cache_expirations_total`, and,
    /// for a cache with a Redis tier (feature `redis`), `cache_lease_waits_total`: the times
    /// this replica waited for another replica's lease on a key instead of loading it
    /// (`RemoteStats::waits`: one per load that waited, however long).
    ///
    /// Call it where metrics are collected (before each scrape, say): reads and loads never
    /// touch the facade, so the hot path keeps its striped counters and pays nothing.
    /// `name` is a label value: keep it one of a few fixed names.
    #[cfg(feature = "metrics")]
    pub fn record_metrics(&self, name: &'static str) {
        let s = self.stats();
        for (metric, value) in [
            ("cache_hits_total", s.hits),
            ("cache_misses_total", s.misses),
            ("cache_negative_hits_total", s.negative_hits),
            ("cache_loads_total", s.loads),
            ("cache_load_errors_total", s.load_errors),
            ("cache_evictions_total", s.evictions),
            ("cache_expirations_total", s.expirations),
        ] {
            metrics::counter!(metric, "cache" => name).absolute(value);
        }
        #[cfg(feature = "redis")]
        if let Some(remote) = self.remote_stats() {
            metrics::counter!("cache_lease_waits_total", "cache" => name).absolute(remote.waits);
        }
    }
}

impl<K, V> Inner<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Nanoseconds since the cache was built. A cache where nothing can expire skips the
    /// clock (a clock read is a good part of a hit's cost) and reads as time zero.
    #[inline]
    fn now(&self) -> u64 {
        if !self.clocked {
            return 0;
        }
        let d = Instant::now().saturating_duration_since(self.base);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Reads `key`, counting the hit or miss. An expired entry is removed (and reported) and
    /// read as a miss.
    #[inline]
    fn lookup<Q>(&self, key: &Q, now: u64) -> Option<Hit<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(entry) = self.store.get(key) {
            if entry.is_fresh(now, self.timing.tti) {
                if let Some(t) = &entry.touched {
                    t.store(now, Relaxed);
                }
                let refresh_due = self.timing.refresh_due(&entry, now);
                let counter =
                    if entry.result.is_ok() { Counter::Hits } else { Counter::NegativeHits };
                self.counters.add(counter);
                return Some(Hit { result: entry.result, refresh_due });
            }
            let tti = self.timing.tti;
            if let Some((k, stale)) = self.store.remove_if(key, |e| !e.is_fresh(now, tti)) {
                self.counters.add(Counter::Expirations);
                self.hooks.notify(k, stale.result, RemovalCause::Expired);
            }
        }
        self.counters.add(Counter::Misses);
        None
    }

    /// Joins the running load of `key` or starts one. `Err` carries a result that a load
    /// finishing between the caller's miss and this call has just cached.
    fn join_or_start<F, Fut>(
        this: &Arc<Self>,
        key: K,
        loader: F,
    ) -> std::result::Result<Slot<V>, Result<V>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let mut flights = this.flights.lock(&key);
        if let Some(flight) = flights.get(&key).filter(|f| f.is_alive()) {
            return Ok(flight.slot.clone());
        }
        // A load stores its result before it leaves the table (both under this lock), so a
        // caller that finds no flight here sees that result in the store.
        if let Some(entry) = this.store.peek(&key) {
            if entry.is_fresh(this.now(), this.timing.tti) {
                return Err(entry.result);
            }
        }
        let (id, publisher, slot) = this.flights.start(&mut flights, key.clone());
        drop(flights);
        Self::spawn_load(this, key, id, publisher, loader, false);
        Ok(slot)
    }

    /// An L1 miss of a tiered cache. The caller that starts the process's flight of `key`
    /// reads Redis itself, before spawning anything: an L2 hit is answered (and published
    /// to the flight's waiters) without a task. A miss, or a node that is down, hands the
    /// flight to a spawned task that takes the lease or loads, as
    /// [`spawn_load`](Self::spawn_load) does. Still one Redis read per key per process:
    /// every other caller joins the flight.
    ///
    /// Cancel safety: if the caller is dropped during its read, the flight is handed to a
    /// spawned task (which reads again), so its waiters are still answered.
    #[cfg(feature = "redis")]
    async fn tiered_miss<F, Fut>(
        this: &Arc<Self>,
        tier: Arc<dyn remote::Tier<K, V>>,
        key: K,
        loader: F,
    ) -> Result<V>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let started = {
            let mut flights = this.flights.lock(&key);
            if let Some(flight) = flights.get(&key).filter(|f| f.is_alive()) {
                Err(flight.slot.clone())
            } else {
                if let Some(entry) = this.store.peek(&key) {
                    if entry.is_fresh(this.now(), this.timing.tti) {
                        return entry.result;
                    }
                }
                Ok(this.flights.start(&mut flights, key.clone()))
            }
        };
        let (id, publisher, slot) = match started {
            Ok(started) => started,
            Err(joined) => return flight::wait(joined).await,
        };
        let mut handoff = Handoff {
            inner: Arc::clone(this),
            tier: Arc::clone(&tier),
            flight: Some((key.clone(), id, publisher, loader)),
        };
        let read = Arc::clone(&tier).read(&key).await;
        let (key, id, publisher, loader) = handoff.flight.take().expect("taken only here");
        match read {
            remote::Read::Hit(loaded) => {
                let result = loaded.result.clone();
                this.finish(key, id, loaded.result, false, &publisher, false, loaded.l1_cap);
                result
            }
            first => {
                Self::spawn_tiered(this, tier, key, id, publisher, loader, false, Some(first));
                flight::wait(slot).await
            }
        }
    }

    /// Spawns the tier's load of `key` for the flight `id` (after `first`, the result of the
    /// caller's own read, if it made one).
    #[cfg(feature = "redis")]
    #[allow(clippy::too_many_arguments)]
    fn spawn_tiered<F, Fut>(
        this: &Arc<Self>,
        tier: Arc<dyn remote::Tier<K, V>>,
        key: K,
        id: u64,
        publisher: Publisher<V>,
        loader: F,
        refresh: bool,
        first: Option<remote::Read<V>>,
    ) where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let inner = Arc::clone(this);
        // Only the trace context travels, not the caller's `Context`: the caller's
        // cancellation must not cancel a load that other callers are waiting for.
        let trace = TraceContext::current();
        let task = async move {
            let local: remote::LocalLoad<V> = Box::new(move || {
                Box::pin(async move { catch_unwind(async move { loader().await }).await? })
            });
            let load = catch_unwind(tier.load(key.clone(), local, first));
            let loaded = match trace {
                Some(t) => t.scope(load).await,
                None => load.await,
            };
            let (result, counted, cap) = match loaded {
                Ok(l) => (l.result, l.ran_loader, l.l1_cap),
                Err(e) => (Err(e), true, 0),
            };
            inner.finish(key, id, result, refresh, &publisher, counted, cap);
        };
        // Under `otel` the load's spans hang under the caller's that started it.
        #[cfg(feature = "otel")]
        let task = tracing::Instrument::in_current_span(task);
        tokio::spawn(task);
    }

    /// Starts a background reload of `key` unless a load of it is already running or the
    /// entry was refreshed since the caller read it.
    fn refresh<F, Fut>(this: &Arc<Self>, key: K, loader: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let mut flights = this.flights.lock(&key);
        if flights.get(&key).is_some_and(flight::Flight::is_alive) {
            return;
        }
        let now = this.now();
        let still_due = this.store.peek(&key).is_some_and(|e| this.timing.refresh_due(&e, now));
        if !still_due {
            return;
        }
        let (id, publisher, _slot) = this.flights.start(&mut flights, key.clone());
        drop(flights);
        Self::spawn_load(this, key, id, publisher, loader, true);
    }

    fn spawn_load<F, Fut>(
        this: &Arc<Self>,
        key: K,
        id: u64,
        publisher: Publisher<V>,
        loader: F,
        refresh: bool,
    ) where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        #[cfg(feature = "redis")]
        if let Some(tier) = this.remote.get() {
            Self::spawn_tiered(this, Arc::clone(tier), key, id, publisher, loader, refresh, None);
            return;
        }
        let inner = Arc::clone(this);
        // Only the trace context travels, not the caller's `Context`: the caller's
        // cancellation must not cancel a load that other callers are waiting for.
        let trace = TraceContext::current();
        let task = async move {
            // The loader is called inside the task and inside the capture, so a panic while
            // building the future is caught as well as one while polling it.
            let load = catch_unwind(async move { loader().await });
            let result = match trace {
                Some(t) => t.scope(load).await,
                None => load.await,
            };
            inner.finish(key, id, result.and_then(|r| r), refresh, &publisher, true, u64::MAX);
        };
        // Under `otel` the load's spans hang under the caller's that started it.
        #[cfg(feature = "otel")]
        let task = tracing::Instrument::in_current_span(task);
        tokio::spawn(task);
    }

    /// Stores a finished load's result (when it is cacheable and the flight is still
    /// current), leaves the table and then wakes the waiters.
    ///
    /// `loaded` says whether this process ran the loader (a tier may have read the result
    /// from Redis instead); `cap` bounds how long the result stays (nanoseconds, `u64::MAX`
    /// for no bound beyond its TTL).
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        key: K,
        id: u64,
        result: Result<V>,
        refresh: bool,
        publisher: &Publisher<V>,
        loaded: bool,
        cap: u64,
    ) {
        if loaded {
            self.counters.add(Counter::Loads);
            if result.is_err() {
                self.counters.add(Counter::LoadErrors);
            }
        }
        let now = self.now();
        let entry = self.entry_for(&result, now, refresh).filter(|_| cap > 0).map(|mut e| {
            e.expires = e.expires.min(now.saturating_add(cap));
            e
        });
        let state = {
            let mut flights = self.flights.lock(&key);
            if flights.get(&key).is_some_and(|f| f.id == id) {
                flights.remove(&key);
                entry.map(|e| self.store.insert_with_lifecycle(key.clone(), e))
            } else {
                None
            }
        };
        if let Some(state) = state {
            self.hooks.report(state, &key);
        }
        publisher.send_replace(Some(result));
    }

    /// The entry to store for a load's result, or `None` when it must not be cached.
    fn entry_for(&self, result: &Result<V>, now: u64, refresh: bool) -> Option<Entry<V>> {
        let t = self.timing;
        let ttl = match result {
            Ok(_) => t.ttl,
            // A failed refresh keeps serving the current value until it expires.
            Err(_) if refresh => return None,
            Err(e) => match t.negative_ttl {
                Some(neg)
                    if matches!(e.kind(), ErrorKind::Failed | ErrorKind::DeadlineExceeded)
                        && !e.is_retryable() =>
                {
                    neg
                }
                _ => return None,
            },
        };
        Some(Entry {
            result: result.clone(),
            expires: now.saturating_add(ttl),
            touched: (t.tti != u64::MAX).then(|| Arc::new(AtomicU64::new(now))),
        })
    }
}

/// A loader that a [`Handoff`] can hand to a spawned tiered load.
#[cfg(feature = "redis")]
trait TieredLoader<K, V>: Sized {
    fn spawn(
        self,
        inner: &Arc<Inner<K, V>>,
        tier: Arc<dyn remote::Tier<K, V>>,
        key: K,
        id: u64,
        publisher: Publisher<V>,
    );
}

#[cfg(feature = "redis")]
impl<K, V, F, Fut> TieredLoader<K, V> for F
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V>> + Send + 'static,
{
    fn spawn(
        self,
        inner: &Arc<Inner<K, V>>,
        tier: Arc<dyn remote::Tier<K, V>>,
        key: K,
        id: u64,
        publisher: Publisher<V>,
    ) {
        Inner::spawn_tiered(inner, tier, key, id, publisher, self, false, None);
    }
}

/// The flight a caller of [`Inner::tiered_miss`] owns while it reads Redis: if the caller is
/// dropped before the read ends, the flight goes to a spawned load (which reads again), so
/// its waiters are still answered.
#[cfg(feature = "redis")]
struct Handoff<K, V, F: TieredLoader<K, V>> {
    inner: Arc<Inner<K, V>>,
    tier: Arc<dyn remote::Tier<K, V>>,
    flight: Option<(K, u64, Publisher<V>, F)>,
}

#[cfg(feature = "redis")]
impl<K, V, F: TieredLoader<K, V>> Drop for Handoff<K, V, F> {
    fn drop(&mut self) {
        if let Some((key, id, publisher, loader)) = self.flight.take() {
            loader.spawn(&self.inner, Arc::clone(&self.tier), key, id, publisher);
        }
    }
}
