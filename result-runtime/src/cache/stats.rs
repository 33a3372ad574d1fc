//! Cache counters: [`CacheStats`] is the snapshot users read; `Counters` is how the cache
//! counts without making every hit contend on one shared atomic.
//!
//! A single `AtomicU64` for hits would put every reader thread on one cache line, which is
//! exactly how moka's hit throughput falls as threads are added. The counters are striped
//! instead: each thread adds to its own cache-line-padded stripe, and a snapshot sums them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A snapshot of a cache's counters, taken by [`ResultCache::stats`](super::ResultCache::stats).
///
/// Counters are summed from per-thread stripes without a global lock, so a snapshot taken
/// while other threads work is not an atomic cut across counters (each counter is exact once
/// the work it counts has finished).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads that found a fresh value.
    pub hits: u64,
    /// Reads that found nothing fresh (and, for `get_or_load`, then loaded or joined a load).
    pub misses: u64,
    /// Reads that found a cached error (negative caching).
    pub negative_hits: u64,
    /// Loader runs that finished (first loads and refresh-ahead reloads).
    pub loads: u64,
    /// Loader runs that ended in an error or a panic.
    pub load_errors: u64,
    /// Entries removed because the cache was over capacity.
    pub evictions: u64,
    /// Entries found expired (TTL, negative TTL or time-to-idle) and removed on read.
    pub expirations: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0 when nothing was read. Negative hits count as hits: the
    /// cache answered without running the loader.
    #[must_use]
    pub fn hit_ratio(&self) -> f64 {
        let hits = self.hits + self.negative_hits;
        let total = hits + self.misses;
        if total == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let r = hits as f64 / total as f64;
            r
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Counter {
    Hits,
    Misses,
    NegativeHits,
    Loads,
    LoadErrors,
    Evictions,
    Expirations,
}

const COUNTERS: usize = 7;
const STRIPES: usize = 16;

/// One cache line (two on CPUs that prefetch pairs) per stripe, so stripes never share.
#[repr(align(128))]
#[derive(Default)]
struct Stripe([AtomicU64; COUNTERS]);

pub(crate) struct Counters {
    stripes: Box<[Stripe]>,
}

impl Default for Counters {
    fn default() -> Self {
        Self { stripes: (0..STRIPES).map(|_| Stripe::default()).collect() }
    }
}

fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // Threads take stripes round-robin, so the first STRIPES threads never share one.
        static INDEX: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    INDEX.with(|i| *i)
}

impl Counters {
    #[inline]
    pub(crate) fn add(&self, counter: Counter) {
        self.stripes[stripe_index()].0[counter as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let sum = |c: Counter| self.stripes.iter().map(|s| s.0[c as usize].load(Relaxed)).sum();
        CacheStats {
            hits: sum(Counter::Hits),
            misses: sum(Counter::Misses),
            negative_hits: sum(Counter::NegativeHits),
            loads: sum(Counter::Loads),
            load_errors: sum(Counter::LoadErrors),
            evictions: sum(Counter::Evictions),
            expirations: sum(Counter::Expirations),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let c = Counters::default();
        std::thread::scope(|s| {
            for _ in 0..20 {
                s.spawn(|| {
                    for _ in 0..100 {
                        c.add(Counter::Hits);
                    }
                    c.add(Counter::Evictions);
                });
            }
        });
        let snap = c.snapshot();
        assert_eq!(snap.hits, 2000);
        assert_eq!(snap.evictions, 20);
        assert_eq!(snap.misses, 0);
    }

    #[test]
    fn hit_ratio() {
        assert!(CacheStats::default().hit_ratio().abs() < f64::EPSILON);
        let s = CacheStats { hits: 2, negative_hits: 1, misses: 1, ..CacheStats::default() };
        assert!((s.hit_ratio() - 0.75).abs() < 1e-9);
    }
}
