//! Pool get+put against a fresh 4 KiB `Vec` and against lockfree-object-pool, same run, on
//! one thread and on two threads sharing the pool. One iteration is one get, a write, and
//! the return.
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::Criterion;
use lockfree_object_pool::{LinearObjectPool, SpinLockObjectPool};
use result_runtime::pool::Pool;

#[path = "support/mod.rs"]
mod support;

const SIZE: usize = 4096;

fn fresh() -> Vec<u8> {
    Vec::with_capacity(SIZE)
}

/// Runs `per_thread(iters)` on `threads` threads started together; wall time from the first
/// start to the last finish.
fn on_threads(threads: u64, iters: u64, per_thread: &(dyn Fn(u64) + Sync)) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        per_thread(iters);
        return start.elapsed();
    }
    let barrier = Barrier::new(usize::try_from(threads).unwrap());
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let n = iters / threads + u64::from(t < iters % threads);
                    barrier.wait();
                    let start = Instant::now();
                    per_thread(n);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    end - start
}

fn main() {
    let ours = Pool::new(64, fresh);
    let linear = LinearObjectPool::new(fresh, Vec::clear);
    let spin = SpinLockObjectPool::new(fresh, Vec::clear);
    let mut c = Criterion::default().configure_from_args();
    for threads in [1u64, 2] {
        let mut g = c.benchmark_group(format!("pool_{threads}t"));
        let id = |name: &str| format!("{name}_{threads}t");
        g.bench_function("result_runtime_pool", |b| {
            b.iter_custom(|iters| {
                let d = on_threads(threads, iters, &|n| {
                    for i in 0..n {
                        let mut buf = ours.get();
                        buf.push(black_box(i as u8));
                        black_box(&*buf);
                    }
                });
                support::record_elapsed(&id("ours"), iters, d)
            });
        });
        g.bench_function("fresh_vec_4k", |b| {
            b.iter_custom(|iters| {
                let d = on_threads(threads, iters, &|n| {
                    for i in 0..n {
                        let mut buf = black_box(fresh());
                        buf.push(black_box(i as u8));
                        black_box(&buf);
                    }
                });
                support::record_elapsed(&id("fresh"), iters, d)
            });
        });
        g.bench_function("lockfree_linear", |b| {
            b.iter_custom(|iters| {
                let d = on_threads(threads, iters, &|n| {
                    for i in 0..n {
                        let mut buf = linear.pull();
                        buf.push(black_box(i as u8));
                        black_box(&*buf);
                    }
                });
                support::record_elapsed(&id("linear"), iters, d)
            });
        });
        g.bench_function("lockfree_spinlock", |b| {
            b.iter_custom(|iters| {
                let d = on_threads(threads, iters, &|n| {
                    for i in 0..n {
                        let mut buf = spin.pull();
                        buf.push(black_box(i as u8));
                        black_box(&*buf);
                    }
                });
                support::record_elapsed(&id("spin"), iters, d)
            });
        });
        g.finish();
    }
    c.final_summary();

    for t in ["1t", "2t"] {
        support::ratio(
            &format!("pool get+put {t} vs fresh 4 KiB Vec"),
            &format!("ours_{t}"),
            &format!("fresh_{t}"),
            "<= 0.33x (3x faster)",
        );
        support::ratio(
            &format!("pool get+put {t} vs lockfree-object-pool LinearObjectPool"),
            &format!("ours_{t}"),
            &format!("linear_{t}"),
            "<= 1.0x",
        );
        support::ratio(
            &format!("pool get+put {t} vs lockfree-object-pool SpinLockObjectPool"),
            &format!("ours_{t}"),
            &format!("spin_{t}"),
            "<= 1.0x",
        );
    }
}
