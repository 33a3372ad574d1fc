//! [`RemoteStats`]: what the Redis tier of one cache did, as seen by this replica.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the Redis tier's counters in this process, taken by
/// [`ResultCache::remote_stats`](crate::cache::ResultCache::remote_stats). Only the miss path
/// of L1 counts here: L1 hits are in [`CacheStats`](crate::cache::CacheStats).
///
/// # Examples
///
/// ```
/// use result_runtime::cache::RemoteStats;
/// let s = RemoteStats::default();
/// assert_eq!(s.loads + s.fallback_loads, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteStats {
    /// L1 misses answered by a Redis entry (a value or a negative entry).
    pub l2_hits: u64,
    /// Loads this replica ran while holding the fleet-wide lease.
    pub loads: u64,
    /// Loads this replica ran without a lease because the key's node was down (or a wait
    /// for another replica's lease ran past `max_wait`).
    pub fallback_loads: u64,
    /// Times this replica waited for another replica's lease.
    pub waits: u64,
    /// Leases this replica took after waiting for another's (its holder finished without a
    /// stored result, or died and the lease expired).
    pub takeovers: u64,
    /// Entries read from Redis that were corrupt, truncated or foreign (each read as a miss).
    pub corrupt: u64,
    /// Redis commands that failed or timed out (each marks its node down).
    pub node_errors: u64,
    /// Invalidations received from any replica (this one included) and applied to L1.
    pub invalidations: u64,
}

#[derive(Default)]
pub(crate) struct RemoteCounters {
    pub(crate) l2_hits: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) fallback_loads: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) takeovers: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    pub(crate) node_errors: AtomicU64,
    pub(crate) invalidations: AtomicU64,
}

impl RemoteCounters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RemoteStats {
        RemoteStats {
            l2_hits: self.l2_hits.load(Relaxed),
            loads: self.loads.load(Relaxed),
            fallback_loads: self.fallback_loads.load(Relaxed),
            waits: self.waits.load(Relaxed),
            takeovers: self.takeovers.load(Relaxed),
            corrupt: self.corrupt.load(Relaxed),
            node_errors: self.node_errors.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
        }
    }
}
