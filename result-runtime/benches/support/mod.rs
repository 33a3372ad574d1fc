//! Shared by the benchmarks: records what criterion measured for each routine so that each
//! bench can print, in the same run, its ratio against the peer it competes with.
//!
//! Use `b.iter_custom(|iters| record("id", iters, || { ... one iteration ... }))` (or
//! [`record_elapsed`] for routines that time themselves), then [`ratio`] at the end.
//!
//! Instruction counts (immune to the machine's noise): run one routine under callgrind,
//! collecting only inside [`run_loop`], with `RR_ITERS=1` so the ratio lines also print how
//! many iterations ran, e.g.
//! `RR_ITERS=1 valgrind --tool=callgrind --toggle-collect='*run_loop*' target/release/deps/macros-HASH --bench --profile-time 1 macros/fallible_task`
//! then divide the collected `Ir` by the iterations.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn table() -> &'static Mutex<HashMap<String, (Duration, u64)>> {
    static T: OnceLock<Mutex<HashMap<String, (Duration, u64)>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

/// Adds a measured batch to `id`'s totals and returns its duration (for `iter_custom`).
pub fn record_elapsed(id: &str, iters: u64, elapsed: Duration) -> Duration {
    let mut t = table().lock().unwrap();
    let e = t.entry(id.to_owned()).or_default();
    e.0 += elapsed;
    e.1 += iters;
    elapsed
}

/// Times `iters` calls of `f`, records them under `id` and returns the total.
pub fn record(id: &str, iters: u64, f: impl FnMut()) -> Duration {
    let start = Instant::now();
    run_loop(iters, f);
    record_elapsed(id, iters, start.elapsed())
}

/// The measured loop, never inlined so that callgrind can collect inside it alone.
#[inline(never)]
pub fn run_loop(iters: u64, mut f: impl FnMut()) {
    for _ in 0..iters {
        f();
    }
}

/// With `RR_ITERS` set, prints how many iterations `id` ran (for instruction counts).
pub fn print_iters(id: &str) {
    if std::env::var_os("RR_ITERS").is_some() {
        if let Some((_, n)) = table().lock().unwrap().get(id) {
            println!("ITERS {id}: {n}");
        }
    }
}

/// Mean nanoseconds per iteration recorded for `id`.
pub fn mean_ns(id: &str) -> Option<f64> {
    let t = table().lock().unwrap();
    let (d, n) = t.get(id)?;
    #[allow(clippy::cast_precision_loss)]
    Some(d.as_nanos() as f64 / *n as f64)
}

/// Prints `ours / peer` time ratio (lower is better for us) next to its goal.
pub fn ratio(label: &str, ours: &str, peer: &str, goal: &str) {
    print_iters(ours);
    print_iters(peer);
    match (mean_ns(ours), mean_ns(peer)) {
        (Some(a), Some(b)) => println!(
            "RATIO {label}: {:.3}x the time of {peer} ({a:.1} ns vs {b:.1} ns per iteration; goal {goal})",
            a / b
        ),
        _ => println!("RATIO {label}: not measured (filtered out?)"),
    }
}

/// Prints `ours / peer` throughput ratio (higher is better for us) next to its goal.
pub fn throughput_ratio(label: &str, ours: &str, peer: &str, goal: &str) {
    print_iters(ours);
    print_iters(peer);
    match (mean_ns(ours), mean_ns(peer)) {
        (Some(a), Some(b)) => println!(
            "RATIO {label}: {:.3}x the throughput of {peer} ({a:.1} ns vs {b:.1} ns per item; goal {goal})",
            b / a
        ),
        _ => println!("RATIO {label}: not measured (filtered out?)"),
    }
}

/// Benches `a` against `b` in `g` under the names `names`, recording their times under `ids`:
/// each batch interleaves their calls, alternating which goes first, so that neither always
/// finds the threads, the allocator and the runtime warm from the other's call (or takes the
/// machine's noise alone); both routines record both timings, and [`ratio`] compares them in
/// this run. Each closure makes one call's future, which returns the call's own time.
pub fn interleaved<FA, FB, A, B>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    names: [&str; 2],
    ids: [&'static str; 2],
    a: FA,
    b: FB,
) where
    FA: Fn() -> A + Clone,
    FB: Fn() -> B + Clone,
    A: std::future::Future<Output = Duration>,
    B: std::future::Future<Output = Duration>,
{
    for (name, ours) in [(names[0], true), (names[1], false)] {
        g.bench_function(name, |bench| {
            bench.to_async(rt).iter_custom(|iters| {
                let (call_a, call_b) = (a.clone(), b.clone());
                async move {
                    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
                    for i in 0..iters {
                        if i % 2 == 0 {
                            ta += call_a().await;
                            tb += call_b().await;
                        } else {
                            tb += call_b().await;
                            ta += call_a().await;
                        }
                    }
                    record_elapsed(ids[0], iters, ta);
                    record_elapsed(ids[1], iters, tb);
                    if ours {
                        ta
                    } else {
                        tb
                    }
                }
            });
        });
    }
}
