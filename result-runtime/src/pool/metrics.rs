//! What named pools record through the `metrics` facade (feature `metrics`, which `tower`,
//! `grpc` and `http` turn on), published by [`Pool::record_metrics`](super::Pool::record_metrics)
//! from the pool's own per-thread counters:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `pool_gets_total` | counter | `pool`, `outcome` = `hit` (a pooled object reused) / `miss` (the factory called) |
//! | `pool_returns_total` | counter | `pool`, `outcome` = `kept` (reset and pooled) / `dropped` (the pool was full, the object over the retained-capacity cap, or its holder panicked) |
//! | `pool_idle` | gauge | `pool`: objects pooled now, in the shared queue and in threads' slots |
//!
//! A get or a return never touches the facade: at a few nanoseconds each, one shared atomic
//! per call would cost more than the pool saves (two threads would contend on it). So the
//! counts stay in the per-thread counters [`Pool::stats`](super::Pool::stats) sums, and a
//! snapshot is published where metrics are collected, as the cache's are. Unnamed pools
//! record nothing. Name pools with a few fixed names: the name is a label.

use super::PoolStats;

/// Publishes `stats` and `idle` as pool `name`'s counters and gauge.
pub(super) fn record(name: &str, stats: &PoolStats, idle: u64) {
    // Label values must be owned; a scrape-time allocation, never one on the hot path.
    let pool = || name.to_owned();
    for (outcome, value) in [("hit", stats.hits), ("miss", stats.misses)] {
        metrics::counter!("pool_gets_total", "pool" => pool(), "outcome" => outcome)
            .absolute(value);
    }
    for (outcome, value) in [("kept", stats.returned), ("dropped", stats.discarded)] {
        metrics::counter!("pool_returns_total", "pool" => pool(), "outcome" => outcome)
            .absolute(value);
    }
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("pool_idle", "pool" => pool()).set(idle as f64);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use metrics_util::debugging::DebuggingRecorder;

    use crate::pool::{Pool, Pooled, Reset};
    use crate::recorded::series;

    fn recorded(f: impl FnOnce()) -> BTreeMap<String, u64> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        series(&snapshotter)
    }

    /// Retains `0` bytes until grown, then `usize::MAX`: over any cap.
    #[derive(Default)]
    struct Huge(bool);

    impl Reset for Huge {
        fn reset(&mut self) {}
        fn retained_bytes(&self) -> usize {
            if self.0 {
                usize::MAX
            } else {
                0
            }
        }
    }

    #[test]
    fn an_unnamed_pool_records_nothing() {
        let pool = Pool::new(2, String::new);
        drop(pool.get());
        let got = recorded(|| pool.record_metrics());
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn an_empty_name_is_refused() {
        let err = Pool::<String>::builder().name("").build(String::new).unwrap_err();
        assert_eq!(err.setting(), "name");
        assert_eq!(err.to_string(), "invalid setting `name`: must not be empty");
    }

    #[test]
    fn drops_at_capacity_and_over_the_cap_count_as_dropped() {
        let pool = Pool::builder().name("huge").capacity(1).build(Huge::default).unwrap();
        {
            // Three out at once: on return one fills this thread's slot, one the shared
            // queue, and the third finds both full.
            let held = [pool.get(), pool.get(), pool.get()];
            drop(held);
        }
        let mut grown = pool.get();
        grown.0 = true;
        drop(grown); // over the retained-capacity cap: dropped, not pooled
        let got = recorded(|| pool.record_metrics());
        let want = [
            ("pool_gets_total{outcome=hit,pool=huge}", 1),
            ("pool_gets_total{outcome=miss,pool=huge}", 3),
            ("pool_idle{pool=huge}", 1),
            ("pool_returns_total{outcome=dropped,pool=huge}", 2),
            ("pool_returns_total{outcome=kept,pool=huge}", 2),
        ];
        assert_eq!(got, want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    }

    #[test]
    fn a_panicking_holder_counts_as_dropped() {
        let pool = Pool::builder().name("p").build(String::new).unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = pool.get();
            panic!("holder fails");
        }));
        assert!(caught.is_err());
        let got = recorded(|| pool.record_metrics());
        assert_eq!(got["pool_returns_total{outcome=dropped,pool=p}"], 1);
        assert_eq!(got["pool_returns_total{outcome=kept,pool=p}"], 0);
        assert_eq!(got["pool_idle{pool=p}"], 0);
    }

    #[test]
    fn hits_misses_and_idle_objects_are_published_by_name() {
        let pool = Pool::builder().name("buffers").capacity(8).build(Vec::<u8>::new).unwrap();
        let held: Vec<_> = (0..3).map(|_| pool.get()).collect();
        drop(held);
        drop(pool.get());
        drop(pool.get_owned());
        let got = recorded(|| pool.record_metrics());
        let want = [
            ("pool_gets_total{outcome=hit,pool=buffers}", 2),
            ("pool_gets_total{outcome=miss,pool=buffers}", 3),
            ("pool_idle{pool=buffers}", 3),
            ("pool_returns_total{outcome=dropped,pool=buffers}", 0),
            ("pool_returns_total{outcome=kept,pool=buffers}", 5),
        ];
        assert_eq!(got, want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        assert_eq!(pool.idle(), 3);

        // Detached objects leave the pool for good; a later snapshot replaces the first.
        let a = Pooled::detach(pool.get());
        let got = recorded(|| pool.record_metrics());
        assert_eq!(got["pool_idle{pool=buffers}"], 2);
        assert_eq!(got["pool_gets_total{outcome=hit,pool=buffers}"], 3);
        drop(a);
    }

    #[test]
    fn an_object_dropped_at_a_thread_exit_leaves_idle_exact() {
        let pool = Pool::builder().name("threads").capacity(1).build(Vec::<u8>::new).unwrap();
        let held = [pool.get(), pool.get()];
        drop(held); // one in this thread's slot, one in the one-object queue
        std::thread::scope(|s| {
            // A join, not the scope's end, waits for the thread's exit (its slot's drop).
            s.spawn(|| {
                // The queue's object and a new one; on return one stays in the worker's slot
                // and one refills the queue, so at the worker's exit its slot's object finds
                // no room and is dropped.
                let held = [pool.get(), pool.get()];
                drop(held);
            })
            .join()
            .unwrap();
        });
        let got = recorded(|| pool.record_metrics());
        assert_eq!(got["pool_gets_total{outcome=hit,pool=threads}"], 1, "{got:?}");
        assert_eq!(got["pool_returns_total{outcome=kept,pool=threads}"], 4, "{got:?}");
        assert_eq!(got["pool_idle{pool=threads}"], 2, "this thread's slot and the queue");
        assert_eq!(pool.shared_len(), 1);
    }
}
