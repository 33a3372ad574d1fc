//! ResultCache behaviour: single-flight, negative caching, expiry, refresh-ahead, capacity.
//! Time-based tests run on a paused clock, so every deadline is checked to the nanosecond.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use result_runtime::cache::{CacheStats, RemovalCause, ResultCache};
use result_runtime::trace::TraceContext;
use result_runtime::{Code, ErrorKind, Result, TaskError};
use tokio::sync::oneshot;
use tokio::time::advance;

const NS: Duration = Duration::from_nanos(1);

/// Counts loader calls and hands out loaders returning fixed results.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }

    fn ok(&self, v: u64) -> impl FnOnce() -> futures::future::Ready<Result<u64>> + Send + 'static {
        let c = self.0.clone();
        move || {
            c.fetch_add(1, SeqCst);
            futures::future::ready(Ok(v))
        }
    }

    fn err(
        &self,
        e: TaskError,
    ) -> impl FnOnce() -> futures::future::Ready<Result<u64>> + Send + 'static {
        let c = self.0.clone();
        move || {
            c.fetch_add(1, SeqCst);
            futures::future::ready(Err(e))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("row 7 is gone")]
struct Gone;

fn not_found() -> TaskError {
    TaskError::from_error(Gone).with_code(Code::NOT_FOUND)
}

fn cache(ttl: u64, neg: u64) -> ResultCache<u64, u64> {
    ResultCache::builder()
        .max_capacity(1_000)
        .ttl(Duration::from_secs(ttl))
        .negative_ttl(Duration::from_secs(neg))
        .build()
        .expect("valid cache settings")
}

#[tokio::test(start_paused = true)]
async fn ttl_is_exact_and_expired_values_are_never_returned() {
    let expired = Arc::new(Mutex::new(Vec::new()));
    let seen = expired.clone();
    let c = ResultCache::<u64, u64>::builder()
        .ttl(Duration::from_secs(10))
        .eviction_listener(move |k, v, cause| seen.lock().unwrap().push((k, v.unwrap(), cause)))
        .build()
        .expect("valid cache settings");
    let calls = Calls::default();
    assert_eq!(c.get_or_load(1, calls.ok(10)).await.unwrap(), 10);

    advance(Duration::from_secs(10) - NS).await;
    assert_eq!(c.get(&1).unwrap().unwrap(), 10);
    assert_eq!(c.get_or_load(1, calls.ok(11)).await.unwrap(), 10);
    assert_eq!(calls.count(), 1);

    advance(NS).await;
    assert!(c.get(&1).is_none(), "expired at exactly ttl");
    assert_eq!(*expired.lock().unwrap(), vec![(1, 10, RemovalCause::Expired)]);
    assert_eq!(c.get_or_load(1, calls.ok(11)).await.unwrap(), 11);
    assert_eq!(calls.count(), 2);

    let s = c.stats();
    // Misses: the first load, the `get` at expiry and the reload.
    assert_eq!((s.hits, s.misses, s.loads, s.expirations), (2, 3, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn negative_ttl_is_exact_and_the_same_error_is_returned() {
    let c = cache(60, 5);
    let calls = Calls::default();
    let e1 = c.get_or_load(7, calls.err(not_found())).await.unwrap_err();

    advance(Duration::from_secs(5) - NS).await;
    let e2 = c.get_or_load(7, calls.ok(1)).await.unwrap_err();
    let e3 = c.get(&7).unwrap().unwrap_err();
    assert_eq!(calls.count(), 1);
    for e in [&e2, &e3] {
        assert_eq!(e.code(), Code::NOT_FOUND);
        assert_eq!(e.to_string(), e1.to_string());
        // The same error, shared: its source is the very same allocation.
        assert!(std::ptr::addr_eq(e.source().unwrap(), e1.source().unwrap()));
    }

    advance(NS).await;
    assert_eq!(c.get_or_load(7, calls.ok(1)).await.unwrap(), 1);
    assert_eq!(calls.count(), 2);
    let s = c.stats();
    assert_eq!((s.negative_hits, s.load_errors, s.loads), (2, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn retryable_panicked_and_cancelled_errors_are_never_cached() {
    let c = cache(60, 60);
    let calls = Calls::default();
    for e in [
        TaskError::new(Code::UNAVAILABLE, "db down"),
        TaskError::deadline_exceeded(),
        TaskError::cancelled(None),
    ] {
        let before = calls.count();
        let got = c.get_or_load(1, calls.err(e.clone())).await.unwrap_err();
        assert_eq!(got.code(), e.code());
        assert!(c.get(&1).is_none(), "{e} must not be cached");
        assert_eq!(c.get_or_load(1, calls.err(e)).await.unwrap_err().code(), got.code());
        assert_eq!(calls.count(), before + 2);
    }
    let p = c.get_or_load(1, || async { panic!("loader bug") }).await.unwrap_err();
    assert_eq!(p.kind(), ErrorKind::Panicked);
    assert!(c.get(&1).is_none());
    assert_eq!(c.get_or_load(1, calls.ok(5)).await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn without_negative_ttl_errors_are_not_cached() {
    let c = ResultCache::<u64, u64>::builder()
        .ttl(Duration::from_secs(1))
        .build()
        .expect("valid cache settings");
    let calls = Calls::default();
    c.get_or_load(1, calls.err(not_found())).await.unwrap_err();
    c.get_or_load(1, calls.err(not_found())).await.unwrap_err();
    assert_eq!(calls.count(), 2);
    assert!(c.is_empty());
}

/// A loader that waits for `gate`, then returns `result`, counting its calls.
fn gated(
    calls: &Calls,
    gate: oneshot::Receiver<()>,
    result: impl FnOnce() -> Result<u64> + Send + 'static,
) -> impl FnOnce() -> futures::future::BoxFuture<'static, Result<u64>> + Send + 'static {
    let c = calls.0.clone();
    move || {
        c.fetch_add(1, SeqCst);
        Box::pin(async move {
            gate.await.ok();
            result()
        })
    }
}

/// 1,000 callers of one missing key, all waiting while the single load runs.
async fn storm(
    c: &ResultCache<u64, u64>,
    result: impl Fn() -> Result<u64> + Clone + Send + 'static,
) -> (Vec<Result<u64>>, usize) {
    let calls = Calls::default();
    let mut gates = Vec::new();
    let callers = (0..1_000).map(|_| {
        let (tx, rx) = oneshot::channel();
        gates.push(tx);
        let r = result.clone();
        c.get_or_load(42, gated(&calls, rx, r))
    });
    let callers: Vec<_> = callers.collect();
    // join! polls the callers first (all 1,000 miss and join the one flight), then opens
    // every gate; only the loader that actually runs is waiting on its gate.
    let (results, ()) = tokio::join!(join_all(callers), async move {
        for g in gates {
            let _ = g.send(());
        }
    });
    (results, calls.count())
}

#[tokio::test(start_paused = true)]
async fn thousand_callers_one_load_ok() {
    let c = cache(60, 60);
    let (results, calls) = storm(&c, || Ok(9)).await;
    assert_eq!(calls, 1);
    assert!(results.iter().all(|r| matches!(r, Ok(9))));
    let s = c.stats();
    assert_eq!((s.misses, s.loads), (1_000, 1));
}

#[tokio::test(start_paused = true)]
async fn thousand_callers_one_load_err_all_share_one_error() {
    // Retryable, so it is not cached: sharing must come from the flight, not the cache.
    let c = cache(60, 60);
    let (results, calls) =
        storm(&c, || Err(TaskError::from_error(Gone).with_code(Code::UNAVAILABLE))).await;
    assert_eq!(calls, 1);
    let first = results[0].as_ref().unwrap_err();
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.code(), Code::UNAVAILABLE);
        assert!(std::ptr::addr_eq(e.source().unwrap(), first.source().unwrap()));
    }
    assert_eq!(c.stats().load_errors, 1);
}

#[tokio::test(start_paused = true)]
async fn thousand_callers_one_panicking_load_then_the_key_loads_again() {
    let c = cache(60, 60);
    let (results, calls) = storm(&c, || panic!("loader exploded")).await;
    assert_eq!(calls, 1);
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.panic().unwrap().message(), "loader exploded");
    }
    let again = Calls::default();
    assert_eq!(c.get_or_load(42, again.ok(3)).await.unwrap(), 3);
    assert_eq!(again.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiters_do_not_cancel_the_load() {
    let c = cache(60, 60);
    let calls = Calls::default();
    let (open, gate) = oneshot::channel();
    // The leader starts the load and is then dropped (as a timed-out request would be).
    let mut leader = Box::pin(c.get_or_load(1, gated(&calls, gate, || Ok(77))));
    assert!(futures::poll!(&mut leader).is_pending());
    let follower = c.get_or_load(1, || async { panic!("must join the running load") });
    let mut follower = Box::pin(follower);
    assert!(futures::poll!(&mut follower).is_pending());
    drop(leader);
    open.send(()).unwrap();
    assert_eq!(follower.await.unwrap(), 77);
    assert_eq!(calls.count(), 1);
    assert_eq!(c.get(&1).unwrap().unwrap(), 77);
}

#[tokio::test(start_paused = true)]
async fn a_load_whose_callers_all_left_still_fills_the_cache() {
    let c = cache(60, 60);
    let calls = Calls::default();
    let (open, gate) = oneshot::channel();
    let mut only = Box::pin(c.get_or_load(1, gated(&calls, gate, || Ok(5))));
    assert!(futures::poll!(&mut only).is_pending());
    drop(only);
    open.send(()).unwrap();
    // Joins the still-running load or hits its cached result; never loads again.
    let v = c.get_or_load(1, || async { panic!("loaded twice") }).await.unwrap();
    assert_eq!(v, 5);
    assert_eq!(calls.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_load_runs_in_the_trace_context_of_the_caller_that_started_it() {
    let c = cache(60, 60);
    let seen = Arc::new(Mutex::new(None));
    let (open, gate) = oneshot::channel::<()>();
    let starter = TraceContext::new_root();
    let other = TraceContext::new_root();
    let s = seen.clone();
    let first = starter.scope(c.get_or_load(1, move || async move {
        *s.lock().unwrap() = TraceContext::current();
        gate.await.ok();
        Ok(1)
    }));
    let second = other.scope(c.get_or_load(1, || async { Ok(2) }));
    let (a, b, ()) = tokio::join!(first, second, async move {
        let _ = open.send(());
    });
    assert_eq!((a.unwrap(), b.unwrap()), (1, 1));
    assert_eq!(*seen.lock().unwrap(), Some(starter));
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_serves_the_cached_value_and_reloads_exactly_once() {
    let c = ResultCache::<u64, u64>::builder()
        .ttl(Duration::from_secs(10))
        .refresh_ahead(0.2)
        .build()
        .expect("valid cache settings");
    let calls = Calls::default();
    assert_eq!(c.get_or_load(1, calls.ok(1)).await.unwrap(), 1);

    // Before the last 20% of the TTL: a plain hit.
    advance(Duration::from_secs(8) - NS).await;
    assert_eq!(c.get_or_load(1, calls.ok(2)).await.unwrap(), 1);
    assert_eq!(calls.count(), 1);

    // Inside it: the reader gets the cached value at once, and one reload starts.
    advance(NS).await;
    let (open, gate) = oneshot::channel();
    let (started_tx, started) = oneshot::channel();
    let counter = calls.0.clone();
    let reload = move || {
        counter.fetch_add(1, SeqCst);
        let _ = started_tx.send(());
        async move {
            gate.await.ok();
            Ok(2)
        }
    };
    assert_eq!(c.get_or_load(1, reload).await.unwrap(), 1);
    started.await.unwrap();
    // While it runs, 100 more readers in the window are served and start nothing.
    let readers: Vec<_> = (0..100).map(|_| c.get_or_load(1, calls.ok(3))).collect();
    for r in join_all(readers).await {
        assert_eq!(r.unwrap(), 1);
    }
    assert_eq!(calls.count(), 2, "one reload, not 101");
    open.send(()).unwrap();

    // Past the old value's expiry, a read joins the reload or hits its result: never a
    // third load. The new value's TTL counts from the reload, which finished between
    // t = 8 s (gate opened) and t = 10 s (this read): so it is fresh until at least 18 s
    // and gone by 20 s.
    advance(Duration::from_secs(2)).await;
    assert_eq!(c.get_or_load(1, || async { panic!("no third load") }).await.unwrap(), 2);
    advance(Duration::from_secs(8) - NS).await;
    assert_eq!(c.get(&1).unwrap().unwrap(), 2);
    advance(Duration::from_secs(2) + NS).await;
    assert!(c.get(&1).is_none());
    assert_eq!(calls.count(), 2);
    assert_eq!(c.stats().loads, 2);
}

#[tokio::test(start_paused = true)]
async fn time_to_idle_expires_unread_entries() {
    let c = ResultCache::<u64, u64>::builder()
        .ttl(Duration::from_secs(100))
        .time_to_idle(Duration::from_secs(10))
        .build()
        .expect("valid cache settings");
    c.insert(1, 1);
    advance(Duration::from_secs(10) - NS).await;
    assert_eq!(c.get(&1).unwrap().unwrap(), 1); // the read resets the idle clock
    advance(Duration::from_secs(10) - NS).await;
    assert_eq!(c.get(&1).unwrap().unwrap(), 1);
    advance(Duration::from_secs(10)).await;
    assert!(c.get(&1).is_none());
}

#[tokio::test]
async fn capacity_bound_holds_and_evictions_are_reported() {
    let evicted = Arc::new(AtomicUsize::new(0));
    let e = evicted.clone();
    let c = ResultCache::<u64, u64>::builder()
        .max_capacity(100)
        .eviction_listener(move |_, _, cause| {
            assert_eq!(cause, RemovalCause::Capacity, "no key is inserted twice here");
            e.fetch_add(1, SeqCst);
        })
        .build()
        .expect("valid cache settings");
    assert_eq!(c.capacity(), 100);
    for k in 0..1_000 {
        c.insert(k, k);
        assert!(c.len() <= 100, "len {} after inserting {k}", c.len());
    }
    for k in 1_000..1_100 {
        c.get_or_load(k, move || async move { Ok(k) }).await.unwrap();
        assert!(c.len() <= 100);
    }
    let stored = c.len() as u64;
    assert!(stored > 50, "the cache should be mostly full, holds {stored}");
    assert_eq!(c.stats().evictions, 1_100 - stored);
    assert_eq!(evicted.load(SeqCst) as u64, 1_100 - stored);
}

#[tokio::test(start_paused = true)]
async fn insert_get_invalidate() {
    let removed = Arc::new(Mutex::new(Vec::new()));
    let r = removed.clone();
    let c = ResultCache::<String, u64>::builder()
        .ttl(Duration::from_secs(10))
        .eviction_listener(move |k, v, cause| r.lock().unwrap().push((k, v.ok(), cause)))
        .build()
        .expect("valid cache settings");
    assert!(c.get("a").is_none());
    c.insert("a".into(), 1);
    c.insert("b".into(), 2);
    c.insert("a".into(), 3);
    assert_eq!(c.get("a").unwrap().unwrap(), 3);
    assert_eq!(c.len(), 2);
    c.invalidate("a");
    c.invalidate("zzz");
    assert!(c.get("a").is_none());
    c.invalidate_all();
    assert!(c.is_empty());
    assert_eq!(
        *removed.lock().unwrap(),
        vec![
            ("a".into(), Some(1), RemovalCause::Replaced),
            ("a".into(), Some(3), RemovalCause::Explicit),
            ("b".into(), Some(2), RemovalCause::Explicit)
        ]
    );
    let s: CacheStats = c.stats();
    assert_eq!((s.hits, s.misses), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn invalidate_during_a_load_keeps_its_result_out_of_the_cache() {
    let c = cache(60, 60);
    let calls = Calls::default();
    let (open, gate) = oneshot::channel();
    let mut waiter = Box::pin(c.get_or_load(1, gated(&calls, gate, || Ok(1))));
    assert!(futures::poll!(&mut waiter).is_pending());
    c.invalidate(&1);
    open.send(()).unwrap();
    assert_eq!(waiter.await.unwrap(), 1, "the waiter still gets its result");
    assert!(c.get(&1).is_none(), "but the invalidated load is not cached");

    // An explicit insert during a load wins over the load's result.
    let (open, gate) = oneshot::channel();
    let mut waiter = Box::pin(c.get_or_load(2, gated(&calls, gate, || Ok(1))));
    assert!(futures::poll!(&mut waiter).is_pending());
    c.insert(2, 99);
    open.send(()).unwrap();
    assert_eq!(waiter.await.unwrap(), 1);
    assert_eq!(c.get(&2).unwrap().unwrap(), 99);
}

#[tokio::test]
async fn a_panicking_listener_does_not_break_the_cache() {
    let c = ResultCache::<u64, u64>::builder()
        .max_capacity(1)
        .eviction_listener(|_, _, _| panic!("listener bug"))
        .build()
        .expect("valid cache settings");
    c.insert(1, 1);
    c.insert(2, 2);
    c.invalidate(&2);
    assert_eq!(c.get_or_load(3, || async { Ok(3) }).await.unwrap(), 3);
}

/// Every refused setting, by name: a builder returns `ConfigError` and never clamps.
#[test]
fn invalid_settings_are_refused_with_a_config_error() {
    let refused = |b: result_runtime::cache::CacheBuilder<u64, u64>| {
        let e = b.build().unwrap_err();
        (e.setting(), e.to_string())
    };
    let b = ResultCache::<u64, u64>::builder;
    let secs = Duration::from_secs;
    let zero = |s: &str| format!("invalid setting `{s}`: must be greater than zero, got 0");
    assert_eq!(refused(b().max_capacity(0)), ("max_capacity", zero("max_capacity")));
    assert_eq!(refused(b().ttl(Duration::ZERO)), ("ttl", zero("ttl")));
    assert_eq!(refused(b().negative_ttl(Duration::ZERO)), ("negative_ttl", zero("negative_ttl")));
    assert_eq!(refused(b().time_to_idle(Duration::ZERO)), ("time_to_idle", zero("time_to_idle")));
    assert_eq!(refused(b().shards(0)), ("shards", zero("shards")));
    assert_eq!(
        refused(b().ttl(secs(5)).negative_ttl(secs(6))),
        (
            "negative_ttl",
            "invalid setting `negative_ttl`: must not be longer than the ttl (5s), got 6s".into()
        )
    );
    assert_eq!(
        refused(b().refresh_ahead(0.5)),
        ("refresh_ahead", "invalid setting `refresh_ahead`: needs a ttl".into())
    );
    // A window of the whole TTL or more, none at all, or not a number.
    for f in [1.0, 1.5, 0.0, -1.0, f64::NAN] {
        let (setting, msg) = refused(b().ttl(secs(1)).refresh_ahead(f));
        assert_eq!(setting, "refresh_ahead");
        assert!(msg.contains("must be between 0 and 1 (exclusive)"), "{msg}");
    }
    // The error converts with `?` and keeps its classification's code.
    let e = result_runtime::TaskError::from(b().max_capacity(0).build().unwrap_err());
    assert!(e.to_string().contains("max_capacity"), "{e}");

    // The edges that are allowed.
    b().max_capacity(1).build().unwrap();
    b().ttl(secs(5)).negative_ttl(secs(5)).build().unwrap();
    b().negative_ttl(secs(5)).build().unwrap(); // values forever, errors for 5 s
    b().ttl(Duration::from_nanos(1)).time_to_idle(Duration::from_nanos(1)).build().unwrap();
    b().ttl(secs(1)).refresh_ahead(0.999).build().unwrap();
}

#[test]
#[should_panic(expected = "invalid setting `max_capacity`: must be greater than zero, got 0")]
fn new_with_zero_capacity_panics_with_the_config_error() {
    let _ = ResultCache::<u64, u64>::new(0);
}

/// Real threads: callers released together on a multi-threaded runtime. Values and
/// non-retryable errors are cached when the load finishes, so even callers that arrive after
/// it never load again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_spawned_callers_on_two_threads_one_load() {
    for result in [Ok(1), Err(not_found())] {
        let c = cache(60, 60);
        let calls = Calls::default();
        let (start_tx, start_rx) = tokio::sync::watch::channel(false);
        let tasks: Vec<_> = (0..1_000)
            .map(|_| {
                let (c, calls, result, mut start) =
                    (c.clone(), calls.clone(), result.clone(), start_rx.clone());
                tokio::spawn(async move {
                    start.wait_for(|s| *s).await.unwrap();
                    let count = calls.0.clone();
                    c.get_or_load(5, move || async move {
                        count.fetch_add(1, SeqCst);
                        tokio::task::yield_now().await;
                        result
                    })
                    .await
                })
            })
            .collect();
        start_tx.send(true).unwrap();
        for t in tasks {
            let got = t.await.unwrap();
            assert_eq!(got.is_ok(), result.is_ok());
        }
        assert_eq!(calls.count(), 1);
        assert_eq!(c.stats().loads, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_ttl_values_never_expire() {
    let c = ResultCache::<u64, u64>::new(10);
    c.insert(1, 1);
    advance(Duration::from_secs(86_400 * 1_000)).await;
    assert_eq!(c.get(&1).unwrap().unwrap(), 1);
    assert_eq!(c.stats().expirations, 0);
}

#[test]
fn a_load_killed_by_runtime_shutdown_leaves_the_key_loadable() {
    let c = ResultCache::<u64, u64>::new(100);
    let first = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (started_tx, started) = oneshot::channel();
    first.block_on(async {
        let mut waiter = Box::pin(c.get_or_load(1, move || {
            let _ = started_tx.send(());
            std::future::pending()
        }));
        assert!(futures::poll!(&mut waiter).is_pending());
        started.await.unwrap(); // the load task is running, and will never finish
    });
    drop(first); // shutting the runtime down drops the load task mid-load

    let second = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let v = second.block_on(c.get_or_load(1, || async { Ok(2) }));
    assert_eq!(v.unwrap(), 2);
}

#[tokio::test]
async fn capacity_bound_holds_with_many_shards() {
    for (cap, shards) in [(10_000, 64), (1_000, 8), (33, 4), (1, 16)] {
        let c = ResultCache::<u64, u64>::builder()
            .max_capacity(cap)
            .shards(shards)
            .build()
            .expect("valid cache settings");
        assert!(c.capacity() <= cap && c.capacity() > 0);
        for k in 0..3 * cap {
            c.insert(k, k);
        }
        assert!(c.len() as u64 <= cap, "cap {cap}, shards {shards}: len {}", c.len());
        assert_eq!(c.stats().evictions, 3 * cap - c.len() as u64);
    }
}

#[tokio::test]
async fn the_listener_may_call_back_into_the_cache() {
    let handle = Arc::new(std::sync::OnceLock::<ResultCache<u64, u64>>::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (h, s) = (handle.clone(), seen.clone());
    let c = ResultCache::<u64, u64>::builder()
        .max_capacity(1)
        .eviction_listener(move |k, _, cause| {
            let cache = h.get().unwrap();
            // Reads and invalidations from inside the listener must not deadlock.
            s.lock().unwrap().push((k, cause, cache.get(&2).is_some()));
            cache.invalidate(&99);
        })
        .build()
        .expect("valid cache settings");
    handle.set(c.clone()).unwrap();
    c.insert(1, 1);
    c.insert(2, 2);
    c.get_or_load(3, || async { Ok(3) }).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(1, RemovalCause::Capacity, true), (2, RemovalCause::Capacity, false)]
    );
}
