//! The Redis tier of `ResultCache`, against real `redis-server` processes on loopback
//! (started and killed by each test; skipped without `redis-server`, see `redis_support`).
//! Replicas are separate caches in one process here, each with its own L1, connections and
//! subscriptions; `redis_fleet.rs` runs them as separate processes.

mod redis_support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use redis::AsyncCommands;
use redis_support::RedisServer;
use result_runtime::cache::{RemovalCause, ResultCache};
use result_runtime::{Category, Code, TaskError};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(10);

fn builder() -> result_runtime::cache::CacheBuilder<String, u64> {
    ResultCache::<String, u64>::builder()
        .max_capacity(100_000)
        .ttl(Duration::from_secs(60))
        .negative_ttl(Duration::from_secs(30))
}

async fn replica(urls: &[String], ns: &str) -> ResultCache<String, u64> {
    builder()
        .redis(urls)
        .namespace(ns)
        .command_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("valid settings")
}

fn urls(servers: &[RedisServer]) -> Vec<String> {
    servers.iter().map(RedisServer::url).collect()
}

/// Counts loader runs.
#[derive(Clone, Default)]
struct Loads(Arc<AtomicUsize>);

impl Loads {
    fn n(&self) -> usize {
        self.0.load(SeqCst)
    }
    fn ok(&self, v: u64) -> impl FnOnce() -> futures::future::Ready<result_runtime::Result<u64>> {
        let c = self.0.clone();
        move || {
            c.fetch_add(1, SeqCst);
            futures::future::ready(Ok(v))
        }
    }
    fn err(
        &self,
        e: TaskError,
    ) -> impl FnOnce() -> futures::future::Ready<result_runtime::Result<u64>> {
        let c = self.0.clone();
        move || {
            c.fetch_add(1, SeqCst);
            futures::future::ready(Err(e))
        }
    }
}

const SKU_UNKNOWN: Code = Code::new("SKU_UNKNOWN", Category::NotFound);

#[tokio::test]
async fn settings_are_checked_when_built() {
    let e = ResultCache::<String, u64>::builder().redis(["redis://127.0.0.1:1"]).build().await;
    assert_eq!(e.unwrap_err().setting(), "ttl");
    let e = builder().redis(Vec::<String>::new()).build().await.unwrap_err();
    assert_eq!(e.setting(), "redis");
    let e = builder().redis(["http://x:1"]).build().await.unwrap_err();
    assert_eq!(e.setting(), "redis");
    let e = builder().redis(["redis://a:1", "redis://a:1"]).build().await.unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
    let e = builder().refresh_ahead(0.5).redis(["redis://a:1"]).build().await.unwrap_err();
    assert_eq!(e.setting(), "refresh_ahead");
    let e = builder().redis(["redis://a:1"]).lease_ttl(Duration::ZERO).build().await.unwrap_err();
    assert_eq!(e.setting(), "lease_ttl");
    let e = builder().redis(["redis://a:1"]).namespace("").build().await.unwrap_err();
    assert_eq!(e.setting(), "namespace");
}

#[tokio::test]
async fn a_node_that_never_answers_costs_no_request() {
    // Nothing listens on this port: the cache builds, and every call is a local load.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cache = builder()
        .redis([format!("redis://127.0.0.1:{port}")])
        .command_timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let loads = Loads::default();
    for i in 0..20 {
        let v = cache.get_or_load(format!("k{i}"), loads.ok(i)).await;
        assert_eq!(v.unwrap(), i);
    }
    assert_eq!(loads.n(), 20);
    let s = cache.remote_stats().unwrap();
    assert_eq!(s.fallback_loads, 20);
    assert!(s.node_errors >= 1);
}

#[tokio::test]
async fn values_and_negative_entries_are_shared_and_retryable_errors_are_not() {
    let Some(servers) = RedisServer::start_n(2) else { return };
    let urls = urls(&servers);
    let (a, b) = (replica(&urls, "share").await, replica(&urls, "share").await);
    let loads = Loads::default();

    // A value loaded by one replica is an L2 hit for the other.
    assert_eq!(a.get_or_load("p".into(), loads.ok(42)).await.unwrap(), 42);
    assert_eq!(b.get_or_load("p".into(), loads.ok(0)).await.unwrap(), 42);
    assert_eq!(loads.n(), 1);
    assert_eq!(b.remote_stats().unwrap().l2_hits, 1);
    assert_eq!(b.stats().loads, 0);

    // A non-retryable error learned by one is served by the other, code and message intact,
    // internal text never stored.
    let nf = TaskError::new(SKU_UNKNOWN, "no such sku");
    let e1 = a.get_or_load("missing".into(), loads.err(nf)).await.unwrap_err();
    let e2 = b.get_or_load("missing".into(), loads.ok(1)).await.unwrap_err();
    assert_eq!(loads.n(), 2);
    assert_eq!(e2.code().name(), "SKU_UNKNOWN");
    assert_eq!(e2.code().category(), Category::NotFound);
    assert_eq!(e2.client_message(), e1.client_message());
    assert!(!e2.is_retryable());

    // A retryable error is returned, never stored: the next call, anywhere, loads again.
    let down = TaskError::new(Code::UNAVAILABLE, "db down");
    let e = a.get_or_load("flaky".into(), loads.err(down)).await.unwrap_err();
    assert!(e.is_retryable());
    let mut conn = servers[0].conn().await;
    let mut conn1 = servers[1].conn().await;
    let stored: Vec<String> = conn.keys("rr:share:*flaky").await.unwrap();
    let stored1: Vec<String> = conn1.keys("rr:share:*flaky").await.unwrap();
    assert!(stored.is_empty() && stored1.is_empty(), "{stored:?} {stored1:?}");
    assert_eq!(b.get_or_load("flaky".into(), loads.ok(5)).await.unwrap(), 5);
    assert_eq!(loads.n(), 4);

    // Entries carry their TTL in Redis.
    let k0: Vec<Vec<u8>> = conn.keys("rr:share:v:*").await.unwrap();
    let k1: Vec<Vec<u8>> = conn1.keys("rr:share:v:*").await.unwrap();
    let keys = [k0, k1].concat();
    assert_eq!(keys.len(), 3, "p, missing, flaky");
    for k in keys {
        let pttl: i64 = match conn.pttl(&k).await.unwrap() {
            -2 => conn1.pttl(&k).await.unwrap(),
            t => t,
        };
        assert!(pttl > 0 && pttl <= 60_000, "{pttl}");
    }
}

#[tokio::test]
async fn one_load_for_many_replicas_in_one_process() {
    let Some(servers) = RedisServer::start_n(1) else { return };
    let urls = urls(&servers);
    let replicas = join_all((0..4).map(|_| replica(&urls, "burst"))).await;
    let loads = Loads::default();
    let calls = replicas.iter().flat_map(|r| {
        (0..50).map(|_| {
            let c = loads.0.clone();
            r.get_or_load("hot".into(), move || async move {
                c.fetch_add(1, SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(7)
            })
        })
    });
    let results = tokio::time::timeout(T, join_all(calls)).await.expect("bounded");
    assert!(results.iter().all(|r| *r.as_ref().unwrap() == 7));
    assert_eq!(loads.n(), 1);
}

#[tokio::test]
async fn invalidation_reaches_every_replica_l1() {
    let Some(servers) = RedisServer::start_n(2) else { return };
    let urls = urls(&servers);
    let mut replicas = Vec::new();
    let mut heard = Vec::new();
    for _ in 0..3 {
        let (tx, rx) = mpsc::unbounded_channel();
        let cache = builder()
            .eviction_listener(move |k: String, _, cause| {
                if cause == RemovalCause::Explicit {
                    let _ = tx.send(k);
                }
            })
            .redis(&urls)
            .namespace("inval")
            .local_ttl(Duration::from_secs(60))
            .build()
            .await
            .unwrap();
        replicas.push(cache);
        heard.push(rx);
    }
    let loads = Loads::default();
    for r in &replicas {
        assert_eq!(r.get_or_load("k".into(), loads.ok(1)).await.unwrap(), 1);
        assert_eq!(r.get("k").map(Result::unwrap), Some(1), "in every L1");
    }
    assert_eq!(loads.n(), 1);

    assert!(replicas[0].invalidate_everywhere(&"k".to_string()).await);
    for rx in &mut heard[1..] {
        let k = tokio::time::timeout(T, rx.recv()).await.expect("invalidation arrives");
        assert_eq!(k.as_deref(), Some("k"));
    }
    for r in &replicas {
        assert!(r.get("k").is_none());
    }
    // The next read loads the new value once, for all.
    for r in &replicas {
        assert_eq!(r.get_or_load("k".into(), loads.ok(2)).await.unwrap(), 2);
    }
    assert_eq!(loads.n(), 2);
    assert!(replicas[2].remote_stats().unwrap().invalidations >= 1);
}

#[tokio::test]
async fn a_killed_node_costs_no_request_and_its_keys_come_back() {
    let Some(mut servers) = RedisServer::start_n(2) else { return };
    let urls = urls(&servers);
    let fast = |ns: &'static str| {
        let urls = urls.clone();
        async move {
            builder()
                .redis(&urls)
                .namespace(ns)
                .command_timeout(Duration::from_millis(300))
                .down_for(Duration::from_millis(200))
                .build()
                .await
                .unwrap()
        }
    };
    let cache = fast("kill").await;
    let loads = Loads::default();
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(cache.get_or_load(k.clone(), loads.ok(i as u64)).await.unwrap(), i as u64);
    }
    let mut c1 = servers[1].conn().await;
    let on_b: u64 = redis::cmd("DBSIZE").query_async(&mut c1).await.unwrap();
    assert!(on_b > 5, "node b holds some keys: {on_b}");

    servers[1].kill();
    // Every call is still right: L1 misses of node b's keys load locally, node a serves its own.
    for round in 0..3 {
        cache.invalidate_all();
        for (i, k) in keys.iter().enumerate() {
            let v = tokio::time::timeout(T, cache.get_or_load(k.clone(), loads.ok(i as u64)))
                .await
                .expect("bounded");
            assert_eq!(v.unwrap(), i as u64, "round {round} key {k}");
        }
    }
    assert!(cache.remote_stats().unwrap().fallback_loads > 0);

    servers[1].restart();
    // Node b is empty after the restart; once it answers again its keys are stored there
    // again. There is no signal for "answers again" (that is what the back-off probes), so
    // this retries, bounded.
    let deadline = tokio::time::Instant::now() + T;
    let mut c1 = servers[1].conn().await;
    loop {
        cache.invalidate_all();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(cache.get_or_load(k.clone(), loads.ok(i as u64)).await.unwrap(), i as u64);
        }
        let n: u64 = redis::cmd("DBSIZE").query_async(&mut c1).await.unwrap();
        if n == on_b {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "node b's keys came back: {n} of {on_b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And another replica reads them from node b.
    let other = fast("kill").await;
    let before = loads.n();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(other.get_or_load(k.clone(), loads.ok(i as u64)).await.unwrap(), i as u64);
    }
    assert_eq!(loads.n(), before, "all 40 were L2 hits");
}

#[tokio::test]
async fn adding_a_third_node_moves_about_a_third_of_the_keys() {
    let Some(servers) = RedisServer::start_n(3) else { return };
    let urls = urls(&servers);
    const N: usize = 4000;
    let two = replica(&urls[..2], "ring").await;
    let loads = Loads::default();
    let keys: Vec<String> = (0..N).map(|i| format!("user:{i}")).collect();
    for chunk in keys.chunks(200) {
        let r = join_all(chunk.iter().map(|k| two.get_or_load(k.clone(), loads.ok(1)))).await;
        assert!(r.into_iter().all(|r| r.unwrap() == 1));
    }
    assert_eq!(loads.n(), N);

    let three = replica(&urls, "ring").await;
    for chunk in keys.chunks(200) {
        let r = join_all(chunk.iter().map(|k| three.get_or_load(k.clone(), loads.ok(1)))).await;
        assert!(r.into_iter().all(|r| r.unwrap() == 1));
    }
    let moved = loads.n() - N;
    #[allow(clippy::cast_precision_loss)]
    let share = moved as f64 / N as f64;
    println!("adding a third node moved {moved} of {N} keys ({:.1}%)", share * 100.0);
    assert!((share - 1.0 / 3.0).abs() <= 0.03, "moved {:.1}%", share * 100.0);
    let mut c2 = servers[2].conn().await;
    let on_new: usize = redis::cmd("DBSIZE").query_async(&mut c2).await.unwrap();
    assert_eq!(on_new, moved, "every moved key went to the new node");
}

#[tokio::test]
async fn a_corrupt_entry_is_a_miss() {
    let Some(servers) = RedisServer::start_n(1) else { return };
    let urls = urls(&servers);
    let cache = replica(&urls, "corrupt").await;
    let loads = Loads::default();
    assert_eq!(cache.get_or_load("k".into(), loads.ok(9)).await.unwrap(), 9);
    let mut conn = servers[0].conn().await;
    let keys: Vec<Vec<u8>> = conn.keys("rr:corrupt:v:*").await.unwrap();
    assert_eq!(keys.len(), 1);
    let good: Vec<u8> = conn.get(&keys[0]).await.unwrap();

    let mut expected_corrupt = 0;
    let bad: Vec<Vec<u8>> = vec![
        b"{\"foreign\":true}".to_vec(),
        good[..good.len() - 1].to_vec(),         // truncated
        [&good[..], &[0xff, 0xff][..]].concat(), // trailing bytes
        vec![b'r', b'r', 1, 1, 0, 0],            // an error entry of no category
        vec![b'r', b'r', 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // bad varint
        Vec::new(),
    ];
    for (i, b) in bad.into_iter().enumerate() {
        let _: () = conn.set_ex(&keys[0], b, 60).await.unwrap();
        cache.invalidate("k"); // L1 only: the next read goes to Redis
        let v = cache.get_or_load("k".into(), loads.ok(10 + i as u64)).await.unwrap();
        assert_eq!(v, 10 + i as u64, "case {i}: a miss, loaded again");
        expected_corrupt += 1;
        assert_eq!(cache.remote_stats().unwrap().corrupt, expected_corrupt, "case {i}");
        // ...and the load replaced the corrupt entry.
        let now: Vec<u8> = conn.get(&keys[0]).await.unwrap();
        assert_ne!(now, good);
        cache.invalidate("k");
        assert_eq!(cache.get_or_load("k".into(), loads.ok(0)).await.unwrap(), 10 + i as u64);
    }
}

/// What `record_metrics` publishes, as `name{cache=...}` to its absolute value.
#[cfg(feature = "metrics")]
fn published(cache: &ResultCache<String, u64>, name: &'static str) -> Vec<(String, u64)> {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || cache.record_metrics(name));
    let mut got: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<_> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let DebugValue::Counter(n) = value else { panic!("cache metrics are counters") };
            (format!("{}{{{}}}", key.name(), labels.join(",")), n)
        })
        .collect();
    got.sort();
    got
}

/// A replica that finds another's lease on a key waits for it (and loads nothing), counts
/// the wait once, and publishes it as `cache_lease_waits_total`; the holder waited for none,
/// and a cache without a Redis tier publishes no such series.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn a_wait_for_another_replicas_lease_is_counted_and_published() {
    use tokio::sync::oneshot;

    let Some(servers) = RedisServer::start_n(1) else { return };
    let urls = urls(&servers);
    let (holder, waiter) = (replica(&urls, "lease").await, replica(&urls, "lease").await);

    let (started_tx, started) = oneshot::channel();
    let (release, release_rx) = oneshot::channel::<()>();
    let holding = {
        let holder = holder.clone();
        tokio::spawn(async move {
            holder
                .get_or_load("hot".into(), move || async move {
                    // The loader runs only once this replica holds the key's lease.
                    started_tx.send(()).unwrap();
                    release_rx.await.unwrap();
                    Ok(7)
                })
                .await
        })
    };
    tokio::time::timeout(T, started).await.expect("bounded").unwrap();

    let loads = Loads::default();
    let waiting = {
        let (waiter, load) = (waiter.clone(), loads.ok(8));
        tokio::spawn(async move { waiter.get_or_load("hot".into(), load).await })
    };
    // No signal leaves the tier when a wait starts: watch its counter (bounded by `T`).
    tokio::time::timeout(T, async {
        while waiter.remote_stats().unwrap().waits == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the second replica waits for the first one's lease");
    assert!(!waiting.is_finished(), "it waits while the lease is held");

    release.send(()).unwrap();
    assert_eq!(tokio::time::timeout(T, holding).await.expect("bounded").unwrap().unwrap(), 7);
    assert_eq!(tokio::time::timeout(T, waiting).await.expect("bounded").unwrap().unwrap(), 7);
    assert_eq!(loads.n(), 0, "the waiter read the holder's result instead of loading");

    let stats = (holder.remote_stats().unwrap(), waiter.remote_stats().unwrap());
    assert_eq!((stats.0.waits, stats.0.loads), (0, 1));
    assert_eq!((stats.1.waits, stats.1.loads, stats.1.takeovers), (1, 0, 0));
    let lease_waits = |cache, name| {
        published(cache, name).into_iter().find(|(k, _)| k.starts_with("cache_lease_waits_total"))
    };
    assert_eq!(lease_waits(&waiter, "b"), Some(("cache_lease_waits_total{cache=b}".into(), 1)));
    assert_eq!(lease_waits(&holder, "a"), Some(("cache_lease_waits_total{cache=a}".into(), 0)));

    let local = builder().build().unwrap();
    assert_eq!(local.get_or_load("hot".into(), loads.ok(9)).await.unwrap(), 9);
    let series = published(&local, "local");
    assert!(series.iter().all(|(k, _)| !k.starts_with("cache_lease_waits")), "{series:?}");
    assert!(series.contains(&("cache_loads_total{cache=local}".into(), 1)), "{series:?}");
}
