//! Core costs, each against its peer in the same run:
//! - building and dropping a `TaskError` from an `io::Error` vs `anyhow::Error` (goal <= 1.1x);
//! - `ctx.run` on a ready future vs awaiting it bare; the overhead is compared with one
//!   uncontended mutex lock (goal: below it).

#[path = "support/mod.rs"]
mod support;

use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context as TaskCx, Poll, Waker};

use criterion::Criterion;
use result_runtime::context::Context;
use result_runtime::{Result, TaskError};

fn poll_ready<F: Future>(fut: F) -> F::Output {
    let mut cx = TaskCx::from_waker(Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the benched futures are ready"),
    }
}

async fn ready() -> Result<u64> {
    Ok(black_box(1))
}

fn errors(c: &mut Criterion) {
    let mut g = c.benchmark_group("error");
    g.bench_function("task_error_from_io", |b| {
        b.iter_custom(|iters| {
            support::record("task_error_from_io", iters, || {
                let e =
                    TaskError::from(io::Error::from(black_box(io::ErrorKind::ConnectionRefused)));
                drop(black_box(e));
            })
        });
    });
    g.bench_function("anyhow_from_io", |b| {
        b.iter_custom(|iters| {
            support::record("anyhow_from_io", iters, || {
                let e = anyhow::Error::from(io::Error::from(black_box(
                    io::ErrorKind::ConnectionRefused,
                )));
                drop(black_box(e));
            })
        });
    });
    g.bench_function("task_error_from_custom", |b| {
        b.iter_custom(|iters| {
            support::record("task_error_from_custom", iters, || {
                let e = TaskError::from(black_box(std::fmt::Error));
                drop(black_box(e));
            })
        });
    });
    g.bench_function("anyhow_from_custom", |b| {
        b.iter_custom(|iters| {
            support::record("anyhow_from_custom", iters, || {
                let e = anyhow::Error::from(black_box(std::fmt::Error));
                drop(black_box(e));
            })
        });
    });
    g.finish();
}

fn context_run(c: &mut Criterion) {
    let ctx = Context::new();
    let mutex = Mutex::new(0_u64);
    let mut g = c.benchmark_group("context");
    g.bench_function("bare_await", |b| {
        b.iter_custom(|iters| {
            support::record("bare_await", iters, || {
                black_box(poll_ready(ready()).ok());
            })
        });
    });
    g.bench_function("ctx_run", |b| {
        b.iter_custom(|iters| {
            support::record("ctx_run", iters, || {
                black_box(poll_ready(ctx.run(ready())).ok());
            })
        });
    });
    g.bench_function("mutex_lock", |b| {
        b.iter_custom(|iters| {
            support::record("mutex_lock", iters, || {
                *black_box(&mutex).lock().unwrap() += 1;
            })
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    errors(&mut c);
    context_run(&mut c);
    c.final_summary();
    support::ratio(
        "TaskError vs anyhow (io::Error)",
        "task_error_from_io",
        "anyhow_from_io",
        "<= 1.1x",
    );
    support::ratio(
        "TaskError vs anyhow (boxed std error)",
        "task_error_from_custom",
        "anyhow_from_custom",
        "<= 1.1x",
    );
    support::ratio("ctx.run vs bare await", "ctx_run", "bare_await", "overhead < one mutex lock");
    support::print_iters("mutex_lock");
    if let (Some(run), Some(bare), Some(lock)) = (
        support::mean_ns("ctx_run"),
        support::mean_ns("bare_await"),
        support::mean_ns("mutex_lock"),
    ) {
        println!(
            "RATIO ctx.run overhead vs uncontended mutex lock: {:.3}x ({:.1} ns overhead vs {lock:.1} ns; goal < 1.0x)",
            (run - bare) / lock,
            run - bare
        );
    }
}
