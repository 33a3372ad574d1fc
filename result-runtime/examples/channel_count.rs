//! The channel bench's workloads as a plain program, for deterministic counts where the
//! criterion bench (`benches/channel.rs`) gives wall-clock times: instructions per item
//! under callgrind, and task polls per item (how many wake-ups the channel causes, and how
//! many of them find nothing to do).
//!
//! `channel_count IMPL FLAVOUR PRODUCERS CONSUMERS ITEMS`, with IMPL one of `ours`,
//! `kanal`, `flume`, `async_channel` and FLAVOUR `local` (current-thread runtime) or
//! `multi` (2 workers); `Result<u64>` items, capacity 1024, as in the bench. It prints the
//! time per item and, per item, the polls of the consumer and producer tasks and those that
//! made no progress ("wasted": the task was woken, or polled, and neither took nor sent an
//! item).
//!
//! Instructions per item, without the set-up: the difference of two runs, divided by the
//! difference in items, e.g.
//! ```text
//! cargo build --release -p result-runtime --example channel_count
//! for n in 20000 120000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/channel_count ours local 4 4 $n 2>&1 | grep Collected
//! done   # (Ir(120000) - Ir(20000)) / 100000
//! ```
//! Valgrind runs one thread at a time, so on the `multi` flavour the count is the work of
//! an item, not the cost of moving it between cores.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use result_runtime::channel::ResultChannel;

type Item = result_runtime::Result<u64>;
const CAP: usize = 1024;

/// Items producer `p` of `n` sends out of `total`.
fn share(total: u64, p: u64, n: u64) -> u64 {
    total / n + u64::from(p < total % n)
}

/// Consumer polls, consumer polls without progress, producer polls, producer polls without
/// progress.
static POLLS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
const CONSUMER: usize = 0;
const PRODUCER: usize = 2;

/// A task's future, counting its polls into `POLLS[role]` and `POLLS[role + 1]`.
struct Counted<F> {
    fut: Pin<Box<F>>,
    progress: Arc<AtomicU64>,
    role: usize,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let before = self.progress.load(Relaxed);
        let polled = self.fut.as_mut().poll(cx);
        POLLS[self.role].fetch_add(1, Relaxed);
        if polled.is_pending() && self.progress.load(Relaxed) == before {
            POLLS[self.role + 1].fetch_add(1, Relaxed);
        }
        polled
    }
}

/// `body` gets the counter it bumps per item handled.
fn counted<F: Future>(role: usize, body: impl FnOnce(Arc<AtomicU64>) -> F) -> Counted<F> {
    let progress = Arc::new(AtomicU64::new(0));
    Counted { fut: Box::pin(body(Arc::clone(&progress))), progress, role }
}

/// The bench's workload for one crate: `$recv` yields `Option<Item>`, `$send` sends `Ok($i)`.
macro_rules! run {
    ($total:expr, $p:expr, $c:expr, $channel:expr, |$rx:ident| $recv:expr, |$tx:ident, $i:ident| $send:expr) => {{
        let total: u64 = $total;
        let (tx, rx) = $channel;
        let consumers: Vec<_> = (0..$c)
            .map(|_| {
                let $rx = rx.clone();
                tokio::spawn(counted(CONSUMER, |progress| async move {
                    let mut n = 0u64;
                    while let Some(item) = $recv {
                        progress.fetch_add(1, Relaxed);
                        n += u64::from(black_box(item).is_ok());
                    }
                    n
                }))
            })
            .collect();
        drop(rx);
        for p in 0..$p {
            let $tx = tx.clone();
            tokio::spawn(counted(PRODUCER, |progress| async move {
                for $i in 0..share(total, p, $p) {
                    $send;
                    progress.fetch_add(1, Relaxed);
                }
            }));
        }
        drop(tx);
        let mut got = 0;
        for c in consumers {
            got += c.await.unwrap();
        }
        assert_eq!(got, total);
    }};
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [imp, flavour, p, c, n] = args.as_slice() else {
        eprintln!("usage: channel_count ours|kanal|flume|async_channel local|multi P C ITEMS");
        std::process::exit(2);
    };
    let (p, c, n): (u64, usize, u64) = (p.parse().unwrap(), c.parse().unwrap(), n.parse().unwrap());
    let rt = match flavour.as_str() {
        "local" => tokio::runtime::Builder::new_current_thread().build().unwrap(),
        "multi" => tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap(),
        other => panic!("unknown flavour {other}"),
    };
    let start = std::time::Instant::now();
    rt.block_on(async {
        match imp.as_str() {
            "ours" => {
                run!(n, p, c, ResultChannel::<u64>::bounded(CAP), |rx| rx.recv().await, |tx, i| {
                    tx.send(Ok(i)).await.unwrap()
                })
            }
            "kanal" => run!(
                n,
                p,
                c,
                kanal::bounded_async::<Item>(CAP),
                |rx| rx.recv().await.ok(),
                |tx, i| { tx.send(Ok(i)).await.unwrap() }
            ),
            "flume" => run!(
                n,
                p,
                c,
                flume::bounded::<Item>(CAP),
                |rx| rx.recv_async().await.ok(),
                |tx, i| { tx.send_async(Ok(i)).await.unwrap() }
            ),
            "async_channel" => run!(
                n,
                p,
                c,
                async_channel::bounded::<Item>(CAP),
                |rx| rx.recv().await.ok(),
                |tx, i| { tx.send(Ok(i)).await.unwrap() }
            ),
            other => panic!("unknown channel {other}"),
        }
    });
    let elapsed = start.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let per_item = |x: u64| x as f64 / n as f64;
    let polls: Vec<f64> = POLLS.iter().map(|x| per_item(x.load(Relaxed))).collect();
    println!(
        "{imp} {flavour} {p}p{c}c: {:.1} ns/item; per item: consumer polls {:.4} (wasted {:.4}), producer polls {:.4} (wasted {:.4})",
        per_item(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)),
        polls[0],
        polls[1],
        polls[2],
        polls[3],
    );
}
