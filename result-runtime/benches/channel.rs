//! ResultChannel throughput against the crates it competes with (async-channel, flume,
//! kanal, tokio mpsc), same run: `Result<u64>`
//! items, capacity 1024, 1 producer/1 consumer and 4 producers/4 consumers (tokio mpsc has
//! one consumer: 4P1C), each on a 2-worker tokio runtime (`1p1c`, `4p4c`) and on a
//! current-thread runtime (`1p1c_local`, `4p4c_local`: the per-item cost without
//! cross-thread wake-ups, which on a shared 2-core machine are mostly scheduler noise). One
//! iteration is one item through the channel.
//!
//! The ratios printed at the end are times (lower is better for us): 1P1C against tokio
//! mpsc, 4P4C against the MPMC crate that keeps the channel's close-and-drain guarantee
//! (async-channel; see the channel module's docs for what each peer keeps), both with a
//! goal of <= 1.00x; and, for information, 4P4C against the fastest crate of the run.
//!
//! Run: `cargo bench -p result-runtime --bench channel -- --warm-up-time 1 --measurement-time 3`
//!
//! The same workloads as a plain program, for counts the machine's noise does not move
//! (instructions per item under callgrind, task polls per item): `examples/channel_count.rs`.
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use result_runtime::channel::ResultChannel;
use tokio::runtime::Runtime;

#[path = "support/mod.rs"]
mod support;

type Item = result_runtime::Result<u64>;
const CAP: usize = 1024;

/// Items producer `p` of `n` sends out of `total`.
fn share(total: u64, p: u64, n: u64) -> u64 {
    total / n + u64::from(p < total % n)
}

fn ours(rt: &Runtime, total: u64, producers: u64, consumers: usize) -> Duration {
    rt.block_on(async {
        let (tx, rx) = ResultChannel::<u64>::bounded(CAP);
        let start = Instant::now();
        let cons: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while let Some(item) = rx.recv().await {
                        n += u64::from(black_box(item).is_ok());
                    }
                    n
                })
            })
            .collect();
        drop(rx);
        for p in 0..producers {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..share(total, p, producers) {
                    tx.send(Ok(i)).await.unwrap();
                }
            });
        }
        drop(tx);
        let mut got = 0;
        for c in cons {
            got += c.await.unwrap();
        }
        assert_eq!(got, total);
        start.elapsed()
    })
}

fn async_channel(rt: &Runtime, total: u64, producers: u64, consumers: usize) -> Duration {
    rt.block_on(async {
        let (tx, rx) = async_channel::bounded::<Item>(CAP);
        let start = Instant::now();
        let cons: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while let Ok(item) = rx.recv().await {
                        n += u64::from(black_box(item).is_ok());
                    }
                    n
                })
            })
            .collect();
        drop(rx);
        for p in 0..producers {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..share(total, p, producers) {
                    tx.send(Ok(i)).await.unwrap();
                }
            });
        }
        drop(tx);
        let mut got = 0;
        for c in cons {
            got += c.await.unwrap();
        }
        assert_eq!(got, total);
        start.elapsed()
    })
}

fn flume(rt: &Runtime, total: u64, producers: u64, consumers: usize) -> Duration {
    rt.block_on(async {
        let (tx, rx) = flume::bounded::<Item>(CAP);
        let start = Instant::now();
        let cons: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while let Ok(item) = rx.recv_async().await {
                        n += u64::from(black_box(item).is_ok());
                    }
                    n
                })
            })
            .collect();
        drop(rx);
        for p in 0..producers {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..share(total, p, producers) {
                    tx.send_async(Ok(i)).await.unwrap();
                }
            });
        }
        drop(tx);
        let mut got = 0;
        for c in cons {
            got += c.await.unwrap();
        }
        assert_eq!(got, total);
        start.elapsed()
    })
}

fn kanal(rt: &Runtime, total: u64, producers: u64, consumers: usize) -> Duration {
    rt.block_on(async {
        let (tx, rx) = kanal::bounded_async::<Item>(CAP);
        let start = Instant::now();
        let cons: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while let Ok(item) = rx.recv().await {
                        n += u64::from(black_box(item).is_ok());
                    }
                    n
                })
            })
            .collect();
        drop(rx);
        for p in 0..producers {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..share(total, p, producers) {
                    tx.send(Ok(i)).await.unwrap();
                }
            });
        }
        drop(tx);
        let mut got = 0;
        for c in cons {
            got += c.await.unwrap();
        }
        assert_eq!(got, total);
        start.elapsed()
    })
}

fn tokio_mpsc(rt: &Runtime, total: u64, producers: u64) -> Duration {
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(CAP);
        let start = Instant::now();
        let cons = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(item) = rx.recv().await {
                n += u64::from(black_box(item).is_ok());
            }
            n
        });
        for p in 0..producers {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..share(total, p, producers) {
                    tx.send(Ok(i)).await.unwrap();
                }
            });
        }
        drop(tx);
        assert_eq!(cons.await.unwrap(), total);
        start.elapsed()
    })
}

fn main() {
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let local = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut c = Criterion::default().configure_from_args();
    for (label, rt, p, n) in [
        ("1p1c_local", &local, 1u64, 1usize),
        ("1p1c", &multi, 1, 1),
        ("4p4c_local", &local, 4, 4),
        ("4p4c", &multi, 4, 4),
    ] {
        let mut g = c.benchmark_group(format!("channel_{label}"));
        let id = |name: &str| format!("{name}_{label}");
        g.bench_function("result_channel", |b| {
            b.iter_custom(|iters| {
                support::record_elapsed(&id("ours"), iters, ours(rt, iters, p, n))
            });
        });
        g.bench_function("async_channel", |b| {
            b.iter_custom(|iters| {
                support::record_elapsed(&id("async_channel"), iters, async_channel(rt, iters, p, n))
            });
        });
        g.bench_function("flume", |b| {
            b.iter_custom(|iters| {
                support::record_elapsed(&id("flume"), iters, flume(rt, iters, p, n))
            });
        });
        g.bench_function("kanal", |b| {
            b.iter_custom(|iters| {
                support::record_elapsed(&id("kanal"), iters, kanal(rt, iters, p, n))
            });
        });
        g.bench_function("tokio_mpsc", |b| {
            b.iter_custom(|iters| {
                support::record_elapsed(&id("tokio_mpsc"), iters, tokio_mpsc(rt, iters, p))
            });
        });
        g.finish();
    }
    c.final_summary();

    for label in ["1p1c_local", "1p1c", "4p4c_local", "4p4c"] {
        let ours = format!("ours_{label}");
        let many = label.starts_with("4p4c");
        if many {
            // The goal's peer, by the rule: the MPMC crate that keeps the channel's
            // guarantees. Only async-channel closes with handles alive and still delivers
            // what was queued (flume cannot close while handles live; kanal's close drops
            // the queue), and no peer's send keeps its item when cancelled: see the module
            // docs of `result_runtime::channel`. The fastest crate of the run, whatever it
            // keeps, gets its own line.
            support::ratio(
                &format!(
                    "channel {label} vs the MPMC crate that keeps close-and-drain (async-channel)"
                ),
                &ours,
                &format!("async_channel_{label}"),
                "<= 1.00x",
            );
            let fastest = ["async_channel", "flume", "kanal"]
                .into_iter()
                .map(|peer| format!("{peer}_{label}"))
                .filter(|id| support::mean_ns(id).is_some())
                .min_by(|a, b| {
                    support::mean_ns(a).unwrap().total_cmp(&support::mean_ns(b).unwrap())
                });
            if let Some(fastest) = fastest {
                support::ratio(
                    &format!(
                        "channel {label} vs the fastest MPMC crate ({fastest}), whatever it keeps"
                    ),
                    &ours,
                    &fastest,
                    "for information",
                );
            }
        } else {
            support::ratio(
                &format!("channel {label} vs tokio mpsc"),
                &ours,
                &format!("tokio_mpsc_{label}"),
                "<= 1.00x",
            );
        }
        for peer in ["async_channel", "flume", "kanal", "tokio_mpsc"] {
            let note = if many && peer == "tokio_mpsc" { " (4P1C)" } else { "" };
            support::ratio(
                &format!("channel {label} vs {peer}{note}"),
                &ours,
                &format!("{peer}_{label}"),
                "for information",
            );
        }
    }
}
