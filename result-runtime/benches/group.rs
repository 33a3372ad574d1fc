//! `Group` against the peers it replaces, same run, ratios printed at the end:
//! - join of 10,000 trivial tasks: vs tokio `JoinSet` (goal <= 1.00x) and vs
//!   `futures::future::try_join_all` over spawned `JoinHandle`s;
//! - from one failure to `join` returning, with 10,000 parked siblings: vs `JoinSet` with a
//!   hand-written fail-fast loop (`abort_all` on the first error, then drain; goal <= 1.5x);
//! - a limit of 64 over 10,000 tasks: vs `StreamExt::buffer_unordered(64)` over plain futures
//!   (polled inside one task, no spawn: the floor) and over spawned tasks (the same shape as
//!   the group's lazy `map`), and the same refill loop written by hand on a `JoinSet`.
//!
//! Run: `cargo bench -p result-runtime --bench group -- --warm-up-time 1 --measurement-time 3`
//!
//! Instruction counts (steady whatever the load): `RR_NO_WARMUP=1 RR_ITERS=1 valgrind
//! --tool=callgrind target/release/deps/group-HASH --bench --profile-time 1
//! join_10k_trivial/group` (then `/joinset`), and divide the total by the iterations printed.

#[path = "support/mod.rs"]
mod support;

#[path = "support/join10k.rs"]
mod join10k;
use join10k::{group_join, joinset_join, N};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, Criterion};
use futures::StreamExt;
use result_runtime::group::Group;
use result_runtime::{Code, TaskError};
use tokio::task::JoinSet;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn join_trivial(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut g = c.benchmark_group("join_10k_trivial");
    g.sample_size(20);
    let ids = ["group/join_10k", "joinset/join_10k"];
    support::interleaved(&mut g, rt, ["group", "joinset"], ids, group_join, joinset_join);
    // One thread: no cache line crosses cores, so this pair shows the work alone.
    let local = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    support::interleaved(
        &mut g,
        &local,
        ["group_current_thread", "joinset_current_thread"],
        ["group/join_10k_local", "joinset/join_10k_local"],
        group_join,
        joinset_join,
    );
    g.bench_function("try_join_all_spawned", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let handles = (0..N).map(|i| tokio::spawn(async move { Ok::<_, TaskError>(i) }));
                let out = futures::future::try_join_all(handles).await.unwrap();
                black_box(out.into_iter().collect::<Result<Vec<_>, _>>().unwrap());
            }
            support::record_elapsed("try_join_all/join_10k", iters, start.elapsed())
        });
    });
    g.finish();
}

/// A task that counts its first poll, then waits forever.
async fn parked(polled: Arc<AtomicUsize>) {
    polled.fetch_add(1, Ordering::Relaxed);
    std::future::pending::<()>().await;
}

async fn all_parked(polled: &AtomicUsize) {
    while polled.load(Ordering::Relaxed) < N {
        tokio::task::yield_now().await;
    }
}

fn failure_to_join(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut g = c.benchmark_group("failure_to_join_10k_parked");
    g.sample_size(20);
    g.bench_function("group", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let polled = Arc::new(AtomicUsize::new(0));
                let group = Group::<()>::new();
                for _ in 0..N {
                    let polled = polled.clone();
                    group.spawn(async move {
                        parked(polled).await;
                        Ok(())
                    });
                }
                all_parked(&polled).await;
                let start = Instant::now();
                group.spawn(async { Err(TaskError::new(Code::UNAVAILABLE, "down")) });
                black_box(group.join().await.unwrap_err());
                total += start.elapsed();
            }
            support::record_elapsed("group/failure_to_join", iters, total)
        });
    });
    g.bench_function("joinset_abort_all_drain", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let polled = Arc::new(AtomicUsize::new(0));
                let mut set = JoinSet::new();
                for _ in 0..N {
                    let polled = polled.clone();
                    set.spawn(async move {
                        parked(polled).await;
                        Ok::<(), TaskError>(())
                    });
                }
                all_parked(&polled).await;
                let start = Instant::now();
                set.spawn(async { Err(TaskError::new(Code::UNAVAILABLE, "down")) });
                let mut first = None;
                while let Some(r) = set.join_next().await {
                    if let Ok(Err(e)) = r {
                        if first.is_none() {
                            first = Some(e);
                            set.abort_all();
                        }
                    }
                }
                black_box(first.unwrap());
                total += start.elapsed();
            }
            support::record_elapsed("joinset/failure_to_join", iters, total)
        });
    });
    g.finish();
}

fn limit_64(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut g = c.benchmark_group("limit_64_over_10k");
    g.sample_size(20);
    // Each item yields once, so that the limit really holds work back.
    g.bench_function("group_spawn", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let group = Group::builder().limit(64).build().unwrap();
                for i in 0..N {
                    group.spawn(async move {
                        tokio::task::yield_now().await;
                        Ok(i)
                    });
                }
                black_box(group.join().await.unwrap());
            }
            support::record_elapsed("group/limit64_spawn", iters, start.elapsed())
        });
    });
    g.bench_function("group_map", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let out = Group::builder()
                    .limit(64)
                    .build()
                    .unwrap()
                    .map(0..N, |i| async move {
                        tokio::task::yield_now().await;
                        Ok(i)
                    })
                    .await;
                black_box(out.unwrap());
            }
            support::record_elapsed("group/limit64_map", iters, start.elapsed())
        });
    });
    g.bench_function("buffer_unordered", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let out: Vec<usize> = futures::stream::iter(0..N)
                    .map(|i| async move {
                        tokio::task::yield_now().await;
                        i
                    })
                    .buffer_unordered(64)
                    .collect()
                    .await;
                black_box(out);
            }
            support::record_elapsed("buffer_unordered/limit64", iters, start.elapsed())
        });
    });
    // The lazy map by hand on a JoinSet: at most 64 spawned, refilled as they finish.
    g.bench_function("joinset_64", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let mut set = JoinSet::new();
                let mut out = vec![0; N];
                let mut next = 0;
                loop {
                    while next < N && set.len() < 64 {
                        let i = next;
                        set.spawn(async move {
                            tokio::task::yield_now().await;
                            (i, i)
                        });
                        next += 1;
                    }
                    match set.join_next().await {
                        Some(r) => {
                            let (i, v) = r.unwrap();
                            out[i] = v;
                        }
                        None => break,
                    }
                }
                black_box(out);
            }
            support::record_elapsed("joinset64", iters, start.elapsed())
        });
    });
    // The same shape with real tasks: 64 spawned at a time, as the group does.
    g.bench_function("buffer_unordered_spawned", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let start = Instant::now();
            for _ in 0..iters {
                let out: Vec<usize> = futures::stream::iter(0..N)
                    .map(|i| {
                        tokio::spawn(async move {
                            tokio::task::yield_now().await;
                            i
                        })
                    })
                    .buffer_unordered(64)
                    .map(Result::unwrap)
                    .collect()
                    .await;
                black_box(out);
            }
            support::record_elapsed("buffer_unordered_spawned/limit64", iters, start.elapsed())
        });
    });
    g.finish();
}

/// Untimed rounds of both kinds of work before anything is measured: whichever routine ran
/// first on a cold runtime and allocator used to look up to 1.8x slower than the same code
/// measured later in the run.
fn warm_up(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        for _ in 0..50 {
            let group = Group::new();
            let mut set = JoinSet::new();
            for i in 0..N {
                group.spawn(async move { Ok(i) });
                set.spawn(async move { i });
            }
            black_box(group.join().await.unwrap());
            while let Some(r) = set.join_next().await {
                black_box(r.unwrap());
            }
        }
    });
}

fn main() {
    let rt = runtime();
    // `RR_NO_WARMUP=1` for instruction counts (callgrind): only the measured routine runs,
    // so the total divided by the iterations printed (`RR_ITERS=1`) is its cost.
    if std::env::var_os("RR_NO_WARMUP").is_none() {
        warm_up(&rt);
    }
    let mut criterion = Criterion::default().configure_from_args();
    join_trivial(&mut criterion, &rt);
    failure_to_join(&mut criterion, &rt);
    limit_64(&mut criterion, &rt);
    criterion.final_summary();

    support::ratio("join 10k trivial", "group/join_10k", "joinset/join_10k", "<= 1.00x");
    support::ratio(
        "join 10k trivial, current-thread runtime",
        "group/join_10k_local",
        "joinset/join_10k_local",
        "for information: the work without cross-core traffic",
    );
    support::ratio("join 10k trivial", "group/join_10k", "try_join_all/join_10k", "<= 1.0x");
    support::ratio(
        "failure to join, 10k parked",
        "group/failure_to_join",
        "joinset/failure_to_join",
        "<= 1.5x",
    );
    support::ratio(
        "limit 64 over 10k (spawn)",
        "group/limit64_spawn",
        "buffer_unordered/limit64",
        "none set: spawned tasks vs one polling task",
    );
    support::ratio(
        "limit 64 over 10k (map)",
        "group/limit64_map",
        "buffer_unordered/limit64",
        "none set: spawned tasks vs one polling task",
    );
    support::ratio(
        "limit 64 over 10k (map)",
        "group/limit64_map",
        "joinset64",
        "<= 1.10x: the same loop by hand",
    );
    support::ratio(
        "limit 64 over 10k (map)",
        "group/limit64_map",
        "buffer_unordered_spawned/limit64",
        "<= 1.10x: both spawn 64 tasks at a time",
    );
}
