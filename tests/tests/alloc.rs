//! The Ok path of a non-spawned call of each macro allocates nothing: counted by a global
//! allocator (this file is its own test binary, with one test, so nothing else allocates
//! while it counts).

use std::alloc::System;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context as TaskCx, Poll, Waker};

use result_runtime::context::Context;
use result_runtime::trace::TraceContext;
use result_runtime::{fallible_task, traced, Classify, Result};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;
impl Classify for Never {}

#[fallible_task]
async fn add(a: u64, b: u64) -> Result<u64> {
    Ok(a + b)
}

#[fallible_task]
async fn classified(a: u64) -> std::result::Result<u64, Never> {
    Ok(a)
}

#[fallible_task]
async fn plain(a: u64) -> u64 {
    a
}

#[fallible_task(retry = 3)]
async fn retried(a: u64) -> Result<u64> {
    Ok(a)
}

#[traced]
async fn traced_add(a: u64, b: u64) -> Result<u64> {
    Ok(a + b)
}

#[traced]
fn traced_sync(a: u64) -> u64 {
    a
}

#[fallible_task]
#[traced]
async fn both(a: u64) -> Result<u64> {
    Ok(a)
}

/// Polls once with a no-op waker: the bodies above never wait, and no runtime is involved
/// whose own bookkeeping could allocate.
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut TaskCx::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the body was expected to be ready"),
    }
}

fn calls() -> u64 {
    let mut sum = 0;
    sum += ready(add(black_box(1), 2)).unwrap();
    sum += ready(classified(black_box(1))).unwrap();
    sum += ready(plain(black_box(1))).unwrap();
    sum += ready(retried(black_box(1))).unwrap();
    sum += ready(traced_add(black_box(1), 2)).unwrap();
    sum += traced_sync(black_box(1));
    sum += ready(both(black_box(1))).unwrap();
    sum
}

#[test]
fn ok_path_allocates_nothing() {
    // The counter counts: one box is one allocation.
    let region = Region::new(GLOBAL);
    drop(black_box(Box::new(1_u8)));
    assert_eq!(region.change().allocations, 1);

    // Warm-up: the first captured call installs the panic hook, tracing registers callsites.
    assert_eq!(calls(), 11);

    let region = Region::new(GLOBAL);
    for _ in 0..100 {
        assert_eq!(calls(), 11);
    }
    let bare = region.change();

    // Inside an ambient context and trace (created before counting).
    let ctx = Context::new();
    let trace = TraceContext::new_root();
    let region = Region::new(GLOBAL);
    let sum = ready(trace.scope(ctx.scope(async {
        let mut sum = 0;
        for _ in 0..100 {
            sum += calls();
        }
        sum
    })));
    let scoped = region.change();
    assert_eq!(sum, 1100);

    assert_eq!((bare.allocations, bare.reallocations), (0, 0), "no ambient context: {bare:?}");
    assert_eq!((scoped.allocations, scoped.reallocations), (0, 0), "in a context: {scoped:?}");
}
