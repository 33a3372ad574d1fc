//! The Redis tier, against a real `redis-server` on loopback started by this bench (skipped
//! without one): `cargo bench -p result-runtime --features redis --bench redis`.
//!
//! - L2 hit (an L1 miss answered by Redis: single-flight, `GET`+`PTTL`, decode, L1 insert)
//!   vs a plain `GET` through a `redis` `ConnectionManager` plus the same decode (goal ≤ 1.10x),
//!   and vs the same `GET`+`PTTL` pipeline the tier sends (the tier's own cost), interleaved.
//! - L1 hit of a tiered cache vs a hit of the in-process cache: unchanged (goal ≤ 1.05x).
//! - A cold-key burst from 4 replicas × 250 callers: loads per burst (goal 1; caches that
//!   single-flight per process load 4) and the time to serve it vs one caller doing one load.

#[path = "../tests/redis_support/mod.rs"]
mod redis_support;
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::future::join_all;
use redis::AsyncCommands;
use result_runtime::cache::ResultCache;
use tokio::runtime::Runtime;

const LOAD: Duration = Duration::from_millis(20);

async fn tiered(url: &str, ns: &str) -> ResultCache<String, u64> {
    ResultCache::<String, u64>::builder()
        .ttl(Duration::from_secs(600))
        .redis([url])
        .namespace(ns)
        .local_ttl(Duration::from_secs(600))
        .command_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("valid settings")
}

fn decode(bytes: &[u8]) -> u64 {
    // The entry format: 3 bytes of magic, the variant (0 = value), the postcard value.
    let (variant, rest) = postcard::take_from_bytes::<u32>(&bytes[3..]).expect("entry");
    assert_eq!(variant, 0);
    postcard::from_bytes::<u64>(rest).expect("value")
}

fn hits(c: &mut Criterion, rt: &Runtime, url: &str) {
    let cache = rt.block_on(tiered(url, "bench"));
    let plain = ResultCache::<String, u64>::builder()
        .ttl(Duration::from_secs(600))
        .build()
        .expect("valid settings");
    rt.block_on(async {
        assert_eq!(cache.get_or_load("hot".into(), || async { Ok(42) }).await.unwrap(), 42);
        assert_eq!(plain.get_or_load("hot".into(), || async { Ok(42) }).await.unwrap(), 42);
    });
    let client = redis::Client::open(url).unwrap();
    let conn = rt.block_on(redis::aio::ConnectionManager::new(client)).unwrap();
    let key = [&b"rr:bench:v:"[..], &postcard::to_stdvec(&"hot".to_string()).unwrap()].concat();

    let mut g = c.benchmark_group("redis");
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    // What the tier's read sends: the value and its remaining TTL in one round trip, through
    // a connection with a response timeout, as the tier's nodes are configured.
    let timed = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_connection_timeout(Some(Duration::from_secs(2)));
    let timed = rt
        .block_on(redis::aio::ConnectionManager::new_with_config(
            redis::Client::open(url).unwrap(),
            timed,
        ))
        .unwrap();
    // The three are interleaved call by call, so the machine's noise (and the server's) hits
    // them alike; each routine records all three, and the RATIO lines compare them.
    const L2: &str = "l2_hit";
    const GET: &str = "plain_get_decode";
    const PIPE: &str = "plain_get_pttl_decode";
    for id in [L2, GET, PIPE] {
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let (mut conn, mut timed) = (conn.clone(), timed.clone());
                rt.block_on(async {
                    let mut spent = [Duration::ZERO; 3];
                    for _ in 0..iters {
                        let start = Instant::now();
                        cache.invalidate("hot"); // L1 only: the next read goes to Redis
                        let v = cache.get_or_load("hot".into(), || async { Ok(0) }).await;
                        black_box(v.unwrap());
                        spent[0] += start.elapsed();

                        let start = Instant::now();
                        let bytes: Vec<u8> = conn.get(&key).await.unwrap();
                        black_box(decode(&bytes));
                        spent[1] += start.elapsed();

                        let start = Instant::now();
                        let (bytes, pttl): (Vec<u8>, i64) = redis::pipe()
                            .get(&key)
                            .pttl(&key)
                            .query_async(&mut timed)
                            .await
                            .unwrap();
                        black_box((decode(&bytes), pttl));
                        spent[2] += start.elapsed();
                    }
                    for (name, time) in [L2, GET, PIPE].into_iter().zip(spent) {
                        support::record_elapsed(name, iters, time);
                    }
                    spent[[L2, GET, PIPE].iter().position(|n| *n == id).unwrap()]
                })
            });
        });
    }
    g.bench_function("l1_hit_tiered", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let v = cache.get_or_load("hot".into(), || async { Ok(0) }).await;
                    black_box(v.unwrap());
                }
                support::record_elapsed("l1_hit_tiered", iters, start.elapsed())
            })
        });
    });
    g.bench_function("l1_hit_plain", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let v = plain.get_or_load("hot".into(), || async { Ok(0) }).await;
                    black_box(v.unwrap());
                }
                support::record_elapsed("l1_hit_plain", iters, start.elapsed())
            })
        });
    });
    g.finish();
    assert_eq!(cache.remote_stats().unwrap().loads, 1, "every L2 read was a hit");
}

/// Four replicas × 250 callers on one cold key per round.
fn burst(rt: &Runtime, url: &str) {
    const ROUNDS: u32 = 5;
    rt.block_on(async {
        let replicas = join_all((0..4).map(|_| tiered(url, "burst"))).await;
        let single = tiered(url, "burst-single").await;
        let (mut fleet_time, mut one_time, mut loads) = (Duration::ZERO, Duration::ZERO, 0);
        for round in 0..ROUNDS {
            let key = format!("cold-{round}");
            let counter = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
            let start = Instant::now();
            let calls = replicas.iter().flat_map(|r| {
                (0..250).map(|_| {
                    let c = counter.clone();
                    r.get_or_load(key.clone(), move || async move {
                        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(LOAD).await;
                        Ok(1)
                    })
                })
            });
            assert!(join_all(calls).await.into_iter().all(|r| r.unwrap() == 1));
            fleet_time += start.elapsed();
            loads += counter.load(std::sync::atomic::Ordering::SeqCst);

            let start = Instant::now();
            single
                .get_or_load(key, || async {
                    tokio::time::sleep(LOAD).await;
                    Ok(1)
                })
                .await
                .unwrap();
            one_time += start.elapsed();
        }
        println!(
            "LOADS cold-key burst, 4 replicas x 250 callers: {:.2} loads per burst (goal 1; per-process single-flight: 4)",
            f64::from(loads) / f64::from(ROUNDS)
        );
        println!(
            "RATIO cold-key burst vs one caller doing one load: {:.3}x ({:?} vs {:?} per burst, load {LOAD:?}; goal <= 2x)",
            fleet_time.as_secs_f64() / one_time.as_secs_f64(),
            fleet_time / ROUNDS,
            one_time / ROUNDS
        );
    });
}

fn main() {
    let Some(server) = redis_support::RedisServer::start() else { return };
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut criterion = Criterion::default().configure_from_args();
    hits(&mut criterion, &rt, &server.url());
    criterion.final_summary();
    burst(&rt, &server.url());
    support::ratio("L2 hit vs plain GET + decode", "l2_hit", "plain_get_decode", "<= 1.10x");
    support::ratio(
        "L2 hit vs the same GET + PTTL pipeline + decode",
        "l2_hit",
        "plain_get_pttl_decode",
        "the tier's own cost",
    );
    support::ratio(
        "L1 hit, tiered vs in-process cache",
        "l1_hit_tiered",
        "l1_hit_plain",
        "<= 1.05x",
    );
    drop(server);
}
