//! The cost of the macros on a trivial body, polled once with a no-op waker (no runtime, so
//! only the wrapper is measured):
//! - `#[fallible_task]` Ok path vs the same plain `async fn` (goal <= 1.3x);
//! - `#[traced]` vs tracing's `#[instrument]`, with no subscriber and with a no-op
//!   subscriber that enables every span (goal <= 1.1x).
//!
//! `cargo bench -p result-runtime --bench macros -- --warm-up-time 1 --measurement-time 3`
#[path = "support/mod.rs"]
mod support;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskCx, Poll, Waker};

use criterion::Criterion;
use result_runtime::{fallible_task, traced, Result};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

async fn plain_async(a: u64) -> Result<u64> {
    Ok(a + 1)
}

#[fallible_task]
async fn fallible(a: u64) -> Result<u64> {
    Ok(a + 1)
}

#[tracing_attributes::instrument]
async fn instrumented(a: u64) -> Result<u64> {
    Ok(a + 1)
}

#[traced]
async fn traced_fn(a: u64) -> Result<u64> {
    Ok(a + 1)
}

/// Enables everything and records nothing: the cost of building and entering spans.
struct Noop(AtomicU64);

impl Subscriber for Noop {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut TaskCx::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("trivial bodies are ready at once"),
    }
}

fn bench_fallible(c: &mut Criterion) {
    let mut g = c.benchmark_group("macros");
    g.bench_function("plain_async", |b| {
        b.iter_custom(|iters| {
            support::record("macros/plain_async", iters, || {
                black_box(ready(plain_async(black_box(1))).ok());
            })
        });
    });
    g.bench_function("fallible_task", |b| {
        b.iter_custom(|iters| {
            support::record("macros/fallible_task", iters, || {
                black_box(ready(fallible(black_box(1))).ok());
            })
        });
    });
    g.finish();
}

fn bench_traced(c: &mut Criterion, subscriber: &str) {
    let mut g = c.benchmark_group(format!("macros/{subscriber}"));
    let instrument_id = format!("macros/{subscriber}/instrument");
    let traced_id = format!("macros/{subscriber}/traced");
    g.bench_function("instrument", |b| {
        b.iter_custom(|iters| {
            support::record(&instrument_id, iters, || {
                black_box(ready(instrumented(black_box(1))).ok());
            })
        });
    });
    g.bench_function("traced", |b| {
        b.iter_custom(|iters| {
            support::record(&traced_id, iters, || {
                black_box(ready(traced_fn(black_box(1))).ok());
            })
        });
    });
    g.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_fallible(&mut criterion);
    bench_traced(&mut criterion, "no_subscriber");
    tracing::subscriber::with_default(Noop(AtomicU64::new(0)), || {
        bench_traced(&mut criterion, "noop_subscriber");
    });
    criterion.final_summary();
    support::ratio(
        "#[fallible_task] Ok path vs plain async fn",
        "macros/fallible_task",
        "macros/plain_async",
        "<= 1.3x",
    );
    support::ratio(
        "#[traced] vs #[instrument], no subscriber",
        "macros/no_subscriber/traced",
        "macros/no_subscriber/instrument",
        "<= 1.1x",
    );
    support::ratio(
        "#[traced] vs #[instrument], no-op subscriber",
        "macros/noop_subscriber/traced",
        "macros/noop_subscriber/instrument",
        "<= 1.1x",
    );
}
