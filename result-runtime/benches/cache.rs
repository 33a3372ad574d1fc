//! `cache` bench: ResultCache against moka (hit path at 1 and 2 threads, a 1,000-caller miss
//! storm), the raw storage candidates (quick_cache vs moka), and HashRing (rendezvous)
//! against a 512-virtual-node ring and jump hash, with each placement's balance and movement.
//!
//! `cargo bench -p result-runtime --bench cache -- --warm-up-time 1 --measurement-time 3`

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{black_box, Criterion};
use futures::FutureExt;
use result_runtime::cache::{HashRing, ResultCache};

const ENTRIES: u64 = 10_000;
const TTL: Duration = Duration::from_secs(3600);

/// A fixed pseudo-random read order over the cached keys.
fn key_order() -> Arc<Vec<u64>> {
    let mut rng = fastrand::Rng::with_seed(7);
    Arc::new((0..4096).map(|_| rng.u64(0..ENTRIES)).collect())
}

/// Runs `op` `iters` times on each of `threads` threads, started together; returns the wall
/// time. Each thread walks the key order from a different offset.
fn run_threads(
    threads: usize,
    iters: u64,
    keys: &Arc<Vec<u64>>,
    op: &(dyn Fn(u64) + Sync),
) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    for i in (t * 1024..).take(usize::try_from(iters).unwrap()) {
                        op(keys[i & 4095]);
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    })
}

fn hit_path(c: &mut Criterion) {
    let keys = key_order();
    let ours = ResultCache::<u64, u64>::builder()
        .max_capacity(2 * ENTRIES)
        .ttl(TTL)
        .build()
        .expect("valid cache settings");
    // Without any expiry the cache skips the clock read: shows what the read costs.
    let ours_no_ttl = ResultCache::<u64, u64>::new(2 * ENTRIES);
    let quick = quick_cache::sync::Cache::<u64, u64>::new(2 * ENTRIES as usize);
    let moka_sync = moka::sync::Cache::<u64, u64>::builder()
        .max_capacity(2 * ENTRIES)
        .time_to_live(TTL)
        .build();
    let moka_future = moka::future::Cache::<u64, u64>::builder()
        .max_capacity(2 * ENTRIES)
        .time_to_live(TTL)
        .build();
    for k in 0..ENTRIES {
        ours.insert(k, k);
        ours_no_ttl.insert(k, k);
        quick.insert(k, k);
        moka_sync.insert(k, k);
        moka_future.insert(k, k).now_or_never().unwrap();
    }
    moka_sync.run_pending_tasks();
    moka_future.run_pending_tasks().now_or_never().unwrap();

    type Op<'a> = Box<dyn Fn(u64) + Sync + 'a>;
    let ops: Vec<(&str, Op<'_>)> = vec![
        ("ours_get", Box::new(|k| assert!(black_box(ours.get(&k)).is_some()))),
        (
            "ours_get_or_load",
            Box::new(|k| {
                let v = ours.get_or_load(k, move || async move { Ok(k) }).now_or_never();
                assert!(black_box(v).is_some());
            }),
        ),
        ("ours_get_no_ttl", Box::new(|k| assert!(black_box(ours_no_ttl.get(&k)).is_some()))),
        ("quick_cache_get", Box::new(|k| assert!(black_box(quick.get(&k)).is_some()))),
        ("moka_sync_get", Box::new(|k| assert!(black_box(moka_sync.get(&k)).is_some()))),
        (
            "moka_future_get",
            Box::new(|k| assert!(black_box(moka_future.get(&k).now_or_never().unwrap()).is_some())),
        ),
    ];
    let mut g = c.benchmark_group("cache_hit");
    for threads in [1usize, 2] {
        for (name, op) in &ops {
            let id = format!("{name}/{threads}t");
            g.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let elapsed = run_threads(threads, iters, &keys, op.as_ref());
                    // Per item: `threads * iters` lookups ran in `elapsed`.
                    support::record_elapsed(&id, iters * threads as u64, elapsed);
                    elapsed
                });
            });
        }
    }
    g.finish();
}

fn miss_storm(c: &mut Criterion) {
    const CALLERS: usize = 1_000;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ours = ResultCache::<u64, u64>::builder()
        .max_capacity(1 << 20)
        .ttl(TTL)
        .build()
        .expect("valid cache settings");
    let moka =
        moka::future::Cache::<u64, u64>::builder().max_capacity(1 << 20).time_to_live(TTL).build();
    let next_key = AtomicUsize::new(0);
    let loads = Arc::new(AtomicUsize::new(0));

    let mut g = c.benchmark_group("cache_miss_storm");
    g.sample_size(20);
    g.bench_function("ours_get_or_load_1000", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let key = next_key.fetch_add(1, Relaxed) as u64;
                let before = loads.load(Relaxed);
                rt.block_on(async {
                    let callers = (0..CALLERS).map(|_| {
                        let loads = loads.clone();
                        ours.get_or_load(key, move || async move {
                            loads.fetch_add(1, Relaxed);
                            tokio::task::yield_now().await;
                            Ok(key)
                        })
                    });
                    for r in futures::future::join_all(callers).await {
                        assert_eq!(r.unwrap(), key);
                    }
                });
                assert_eq!(loads.load(Relaxed) - before, 1, "one load per storm");
            }
            support::record_elapsed("storm/ours", iters, start.elapsed())
        });
    });
    g.bench_function("moka_try_get_with_1000", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let key = next_key.fetch_add(1, Relaxed) as u64;
                let before = loads.load(Relaxed);
                rt.block_on(async {
                    let callers = (0..CALLERS).map(|_| {
                        let loads = loads.clone();
                        moka.try_get_with(key, async move {
                            loads.fetch_add(1, Relaxed);
                            tokio::task::yield_now().await;
                            Ok::<u64, std::io::Error>(key)
                        })
                    });
                    for r in futures::future::join_all(callers).await {
                        assert_eq!(r.unwrap(), key);
                    }
                });
                assert_eq!(loads.load(Relaxed) - before, 1, "one load per storm");
            }
            support::record_elapsed("storm/moka", iters, start.elapsed())
        });
    });
    g.finish();
}

/// The classic ring: 512 points per node, binary search for the first point after the key.
struct VirtualNodeRing {
    points: Vec<(u64, u32)>,
}

impl VirtualNodeRing {
    fn new(nodes: &[u32]) -> Self {
        let mut points: Vec<(u64, u32)> = nodes
            .iter()
            .flat_map(|&n| (0..512u32).map(move |v| (HashRing::<u32>::key_hash(&(n, v)), n)))
            .collect();
        points.sort_unstable();
        Self { points }
    }

    fn get(&self, key_hash: u64) -> u32 {
        let i = self.points.partition_point(|p| p.0 < key_hash);
        self.points[if i == self.points.len() { 0 } else { i }].1
    }
}

/// Jump consistent hash (Lamping & Veach), buckets `0..n`.
fn jump(mut key: u64, n: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(n) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        {
            j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
        }
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let b = b as u32;
    b
}

/// Balance (worst node's distance from the mean, %) at 100,000 keys over 10 nodes, and
/// keys moved (%) when an 11th node joins.
fn placement_quality(name: &str, place: impl Fn(u64, u32) -> u32) {
    let keys: Vec<u64> = (0..100_000u64).map(|k| HashRing::<u32>::key_hash(&k)).collect();
    let mut counts = [0u64; 10];
    for &k in &keys {
        counts[place(k, 10) as usize] += 1;
    }
    let worst = counts.iter().map(|&c| c.abs_diff(10_000)).max().unwrap();
    let moved = keys.iter().filter(|&&k| place(k, 10) != place(k, 11)).count();
    #[allow(clippy::cast_precision_loss)]
    let (w, m) = (worst as f64 / 100.0, moved as f64 / 1000.0);
    println!("PLACEMENT {name}: worst node {w:.2}% off the mean; adding an 11th node moves {m:.2}% of keys (ideal 9.09%)");
}

fn ring_lookup(c: &mut Criterion) {
    let nodes: Vec<u32> = (0..10).collect();
    let ours: HashRing<u32> = nodes.iter().copied().collect();
    let vnodes = VirtualNodeRing::new(&nodes);
    let keys: Vec<u64> = (0..4096u64).collect();

    let mut g = c.benchmark_group("hash_ring_lookup_10_nodes");
    let mut i = 0usize;
    g.bench_function("rendezvous", |b| {
        b.iter_custom(|iters| {
            support::record("ring/rendezvous", iters, || {
                i += 1;
                black_box(ours.get(&keys[i & 4095]));
            })
        });
    });
    g.bench_function("virtual_nodes_512", |b| {
        b.iter_custom(|iters| {
            support::record("ring/vnodes512", iters, || {
                i += 1;
                black_box(vnodes.get(HashRing::<u32>::key_hash(&keys[i & 4095])));
            })
        });
    });
    g.bench_function("jump", |b| {
        b.iter_custom(|iters| {
            support::record("ring/jump", iters, || {
                i += 1;
                black_box(jump(HashRing::<u32>::key_hash(&keys[i & 4095]), 10));
            })
        });
    });
    g.finish();

    let rings: Vec<HashRing<u32>> = [10, 11].iter().map(|&n| (0..n).collect()).collect();
    placement_quality("rendezvous", |k, n| *rings[(n - 10) as usize].get_by_hash(k).unwrap());
    let vrings: Vec<VirtualNodeRing> =
        [10u32, 11].iter().map(|&n| VirtualNodeRing::new(&(0..n).collect::<Vec<_>>())).collect();
    placement_quality("virtual_nodes_512", |k, n| vrings[(n - 10) as usize].get(k));
    placement_quality("jump", jump);
    println!(
        "PLACEMENT memory: rendezvous 8 B/node, virtual_nodes_512 {} B/node, jump 0 B/node",
        vnodes.points.len() * std::mem::size_of::<(u64, u32)>() / nodes.len()
    );
}

/// Resident memory of this process, from /proc (Linux); `None` elsewhere.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Resident bytes per entry of each cache holding 500,000 `u64 -> u64` entries with a TTL.
/// Every cache stays alive until all are measured, so none reuses memory another freed.
fn memory_per_entry() {
    const N: u64 = 500_000;
    let per_entry = |before: Option<u64>| match (before, rss_bytes()) {
        (Some(b), Some(a)) => format!("{} B/entry", a.saturating_sub(b) / N),
        _ => "not measured (no /proc)".to_owned(),
    };
    let before = rss_bytes();
    let quick = quick_cache::sync::Cache::<u64, u64>::new(N as usize);
    for k in 0..N {
        quick.insert(k, k);
    }
    let quick_b = per_entry(before);
    let before = rss_bytes();
    let ours = ResultCache::<u64, u64>::builder()
        .max_capacity(N)
        .ttl(TTL)
        .build()
        .expect("valid cache settings");
    for k in 0..N {
        ours.insert(k, k);
    }
    let ours_b = per_entry(before);
    let before = rss_bytes();
    let moka = moka::sync::Cache::<u64, u64>::builder().max_capacity(N).time_to_live(TTL).build();
    for k in 0..N {
        moka.insert(k, k);
    }
    moka.run_pending_tasks();
    let moka_b = per_entry(before);
    println!(
        "MEMORY resident, 500,000 u64->u64 entries: ResultCache {ours_b} ({} stored), quick_cache {quick_b}, moka::sync (TTL) {moka_b} ({} stored)",
        ours.len(),
        moka.entry_count()
    );
    drop((quick, ours, moka));
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    hit_path(&mut criterion);
    miss_storm(&mut criterion);
    ring_lookup(&mut criterion);
    criterion.final_summary();
    memory_per_entry();

    for t in ["1t", "2t"] {
        support::throughput_ratio(
            &format!("hit get, {t}, vs moka::sync::Cache::get"),
            &format!("ours_get/{t}"),
            &format!("moka_sync_get/{t}"),
            ">= 1.0x, aim 3x",
        );
        support::throughput_ratio(
            &format!("hit get_or_load, {t}, vs moka::future::Cache::get"),
            &format!("ours_get_or_load/{t}"),
            &format!("moka_future_get/{t}"),
            ">= 1.0x, aim 3x",
        );
        support::throughput_ratio(
            &format!(
                "storage choice, {t}: quick_cache::sync::Cache::get vs moka::sync::Cache::get"
            ),
            &format!("quick_cache_get/{t}"),
            &format!("moka_sync_get/{t}"),
            "> 1.0x picks quick_cache",
        );
        support::throughput_ratio(
            &format!("our layer's cost, {t}: ResultCache::get vs bare quick_cache get"),
            &format!("ours_get/{t}"),
            &format!("quick_cache_get/{t}"),
            "close to 1.0x",
        );
        support::throughput_ratio(
            &format!(
                "our layer's cost without expiry (no clock read), {t}: vs bare quick_cache get"
            ),
            &format!("ours_get_no_ttl/{t}"),
            &format!("quick_cache_get/{t}"),
            "close to 1.0x",
        );
    }
    support::ratio(
        "miss storm, 1,000 callers on one key, vs moka try_get_with",
        "storm/ours",
        "storm/moka",
        "<= 1.0x",
    );
    support::ratio(
        "HashRing (rendezvous) lookup, 10 nodes, vs 512-virtual-node ring",
        "ring/rendezvous",
        "ring/vnodes512",
        "<= 1.0x",
    );
    support::ratio(
        "HashRing (rendezvous) lookup, 10 nodes, vs jump hash",
        "ring/rendezvous",
        "ring/jump",
        "for reference",
    );
}
