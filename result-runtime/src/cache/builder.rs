//! [`CacheBuilder`]: the settings of a [`ResultCache`], checked when it is built.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use quick_cache::{DefaultHashBuilder, OptionsBuilder, UnitWeighter};
use tokio::time::Instant;

use super::flight::Flights;
use super::stats::Counters;
use super::{Hooks, Inner, Listener, RemovalCause, ResultCache, Store, Timing};
use crate::config::ConfigError;
use crate::error::Result;

/// Builds a [`ResultCache`]; start with [`ResultCache::builder`].
///
/// ```
/// use std::time::Duration;
/// use result_runtime::cache::{RemovalCause, ResultCache};
///
/// let cache = ResultCache::<String, Vec<u8>>::builder()
///     .max_capacity(50_000)
///     .ttl(Duration::from_secs(300))
///     .negative_ttl(Duration::from_secs(10))
///     .time_to_idle(Duration::from_secs(60))
///     .refresh_ahead(0.2)
///     .eviction_listener(|key, _value, cause| {
///         if cause == RemovalCause::Capacity {
///             tracing::debug!(%key, "evicted");
///         }
///     })
///     .build()
///     .expect("valid settings");
/// assert_eq!(cache.capacity(), 50_000);
///
/// // Bad settings are refused, never clamped: the error names the setting.
/// let err = ResultCache::<String, u8>::builder().refresh_ahead(0.2).build().unwrap_err();
/// assert_eq!(err.setting(), "refresh_ahead");
/// assert_eq!(err.to_string(), "invalid setting `refresh_ahead`: needs a ttl");
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct CacheBuilder<K, V> {
    max_capacity: u64,
    ttl: Option<Duration>,
    negative_ttl: Option<Duration>,
    time_to_idle: Option<Duration>,
    refresh_ahead: Option<f64>,
    shards: Option<usize>,
    listener: Option<Listener<K, V>>,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_capacity", &self.max_capacity)
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("time_to_idle", &self.time_to_idle)
            .field("refresh_ahead", &self.refresh_ahead)
            .field("shards", &self.shards)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl<K, V> CacheBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(super) fn new() -> Self {
        Self {
            max_capacity: 10_000,
            ttl: None,
            negative_ttl: None,
            time_to_idle: None,
            refresh_ahead: None,
            shards: None,
            listener: None,
            _types: PhantomData,
        }
    }

    /// The most entries the cache holds (values and cached errors alike); past it, quick_cache's
    /// CLOCK-style policy evicts. Default 10,000; at least 1. Rounded down to a multiple of
    /// the shard count so that the bound holds exactly ([`ResultCache::capacity`] reports the
    /// bound in force).
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.max_capacity = entries;
        self
    }

    /// How long a loaded or inserted value stays fresh; longer than zero. Default: until
    /// evicted.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How long a non-retryable error (`Failed` or `DeadlineExceeded` with a non-retryable
    /// code) stays cached. Default: errors are not cached. Retryable errors, panics and
    /// cancellations are never cached. Longer than zero, and not longer than the
    /// [`ttl`](Self::ttl) when there is one.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// An entry not read for this long expires (on top of its TTL). Costs one shared atomic
    /// store per hit on the entry, so leave it off unless you need it. Longer than zero.
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.time_to_idle = Some(idle);
        self
    }

    /// A `get_or_load` hit in the last `fraction` of a value's TTL (`0 < fraction < 1`)
    /// returns the cached value and starts one background reload with that call's loader.
    /// Needs a [`ttl`](Self::ttl); a fraction of 1 or more (a window not shorter than the TTL)
    /// is refused. A failed reload keeps the current value until it expires.
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = Some(fraction);
        self
    }

    /// How many independently locked shards the storage (and the single-flight table) use;
    /// rounded up to a power of two, and halved while a shard would hold fewer than 32
    /// entries. At least 1. Default: 4 × the available parallelism.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Called with each entry that leaves the cache: evicted for capacity, found expired by a
    /// read, invalidated, or replaced by a newer result (see [`RemovalCause`]). Runs on the thread that caused
    /// the removal, after the storage lock is released (it may call back into the cache); a
    /// panic in it is logged and otherwise ignored.
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(K, Result<V>, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Builds the cache, or refuses a bad setting (nothing is clamped).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first refused setting:
    /// - `max_capacity`: zero;
    /// - `ttl`, `negative_ttl`, `time_to_idle`: zero;
    /// - `negative_ttl`: longer than the `ttl` (errors would outlive values);
    /// - `refresh_ahead`: without a `ttl`, or a fraction outside `(0, 1)` (a window not
    ///   shorter than the TTL, or none at all);
    /// - `shards`: zero.
    pub fn build(self) -> std::result::Result<ResultCache<K, V>, ConfigError> {
        if self.max_capacity == 0 {
            return Err(ConfigError::zero("max_capacity"));
        }
        if self.ttl.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::zero("ttl"));
        }
        if self.negative_ttl.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::zero("negative_ttl"));
        }
        if let (Some(neg), Some(ttl)) = (self.negative_ttl, self.ttl) {
            if neg > ttl {
                return Err(ConfigError::new(
                    "negative_ttl",
                    format!("must not be longer than the ttl ({ttl:?}), got {neg:?}"),
                ));
            }
        }
        if self.time_to_idle.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::zero("time_to_idle"));
        }
        if self.shards == Some(0) {
            return Err(ConfigError::zero("shards"));
        }
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let ttl = self.ttl.map_or(u64::MAX, ns);
        let refresh_window = match self.refresh_ahead {
            None => None,
            Some(_) if self.ttl.is_none() => {
                return Err(ConfigError::new("refresh_ahead", "needs a ttl"));
            }
            Some(f) if !(f > 0.0 && f < 1.0) => {
                return Err(ConfigError::new(
                    "refresh_ahead",
                    format!("the fraction of the ttl must be between 0 and 1 (exclusive), got {f}"),
                ));
            }
            Some(f) => {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let w = (ttl as f64 * f) as u64;
                // Never wider than the TTL, so `expires - w` cannot underflow.
                Some(w.clamp(1, ttl))
            }
        };

        let mut shards = self.shards.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(4, std::num::NonZeroUsize::get) * 4
        });
        shards = shards.next_power_of_two();
        // quick_cache halves the shard count while a shard would hold fewer than 32 entries;
        // doing it here tells us the count, so the capacity can be a multiple of it.
        while shards > 1 && self.max_capacity / (shards as u64) < 32 {
            shards /= 2;
        }
        let capacity = self.max_capacity - self.max_capacity % shards as u64;
        let options = OptionsBuilder::new()
            .shards(shards)
            .estimated_items_capacity(usize::try_from(capacity).unwrap_or(usize::MAX))
            .weight_capacity(capacity)
            .build()
            .expect("both capacities are set");

        let counters = Arc::new(Counters::default());
        let hooks = Hooks { listener: self.listener, counters: Arc::clone(&counters) };
        let store: Store<K, V> = quick_cache::sync::Cache::with_options(
            options,
            UnitWeighter,
            DefaultHashBuilder::default(),
            hooks.clone(),
        );
        let timing = Timing {
            ttl,
            negative_ttl: self.negative_ttl.map(ns),
            tti: self.time_to_idle.map_or(u64::MAX, ns),
            refresh_window,
        };
        Ok(ResultCache {
            inner: Arc::new(Inner {
                store,
                hooks,
                flights: Flights::new(shards),
                counters,
                base: Instant::now(),
                clocked: timing.ttl != u64::MAX
                    || timing.negative_ttl.is_some()
                    || timing.tti != u64::MAX,
                timing,
                capacity,
                #[cfg(feature = "redis")]
                remote: std::sync::OnceLock::new(),
            }),
        })
    }
}

#[cfg(feature = "redis")]
impl<K, V> CacheBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// What the Redis tier needs to know: the TTL, the negative TTL, and whether
    /// refresh-ahead is on (which a tier refuses).
    pub(super) fn tier_settings(&self) -> (Option<Duration>, Option<Duration>, bool) {
        (self.ttl, self.negative_ttl, self.refresh_ahead.is_some())
    }

    /// The in-process cache under a tier.
    pub(super) fn build_for_tier(
        self,
    ) -> std::result::Result<ResultCache<K, V>, crate::ConfigError> {
        self.build()
    }
}
