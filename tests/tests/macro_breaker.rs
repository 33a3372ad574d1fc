//! `#[fallible_task(breaker = "..")]`: each attempt goes through the named breaker, inside the
//! retry; panics and deadlines count as failures, the caller's cancellation as neither, and
//! an open breaker fails calls with `CIRCUIT_OPEN` without running the body. Paused time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use result_runtime::breaker::{registry, CircuitBreaker, CircuitBreakerBuilder, State};
use result_runtime::context::Context;
use result_runtime::{fallible_task, Code, ErrorKind, Result, TaskError};

fn register(name: &'static str, builder: CircuitBreakerBuilder) -> CircuitBreaker {
    registry().register_breaker(name, builder).expect("each test registers its own name")
}

/// Opens once 4 calls failed (rate 0.5), for 30 s: longer than the retry's 10 s backoff cap,
/// so an open breaker stops the retries at once.
fn four_then_open() -> CircuitBreakerBuilder {
    CircuitBreaker::builder()
        .min_calls(4)
        .failure_rate(0.5)
        .open_for(Duration::from_secs(30))
        .jitter(0.0)
}

static DOWN_RUNS: AtomicU32 = AtomicU32::new(0);

#[fallible_task(breaker = "mb-down", retry = 2)]
async fn reserve_down(sku: String) -> Result<()> {
    DOWN_RUNS.fetch_add(1, Ordering::SeqCst);
    Err(TaskError::new(Code::UNAVAILABLE, format!("{sku}: connection refused")))
}

#[tokio::test(start_paused = true)]
async fn opens_after_failures_then_refuses_without_running_the_body() {
    let breaker = register("mb-down", four_then_open());
    // First call: 3 attempts, 3 failures; still closed (min_calls = 4).
    let e = reserve_down("a".into()).await.unwrap_err();
    assert_eq!(e.code(), Code::UNAVAILABLE);
    assert_eq!(DOWN_RUNS.load(Ordering::SeqCst), 3);
    assert_eq!(breaker.state(), State::Closed);
    // Second call: its first attempt is the 4th failure and opens the breaker; the retry then
    // meets CIRCUIT_OPEN (retry_after 30 s > the 10 s cap) and stops.
    let e = reserve_down("b".into()).await.unwrap_err();
    assert_eq!(e.code(), Code::CIRCUIT_OPEN);
    assert_eq!(DOWN_RUNS.load(Ordering::SeqCst), 4);
    assert_eq!(breaker.state(), State::Open);
    // From now on: refused at once, the body never runs, the error names the task.
    let started = tokio::time::Instant::now();
    for _ in 0..10 {
        let e = reserve_down("c".into()).await.unwrap_err();
        assert_eq!(e.code(), Code::CIRCUIT_OPEN);
        // The rest of the open wait (the second call's backoff has passed since it opened).
        let rest = e.retry_after().expect("CIRCUIT_OPEN carries the rest of the wait");
        assert!(rest > Duration::from_secs(29) && rest <= Duration::from_secs(30), "{rest:?}");
        assert!(e.task().unwrap().ends_with("reserve_down"), "{:?}", e.task());
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "refused at once, no backoff slept");
    assert_eq!(DOWN_RUNS.load(Ordering::SeqCst), 4);
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

#[fallible_task(breaker = "mb-recover", retry = 1)]
async fn flaky() -> Result<u32> {
    if FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) < 2 {
        Err(TaskError::new(Code::UNAVAILABLE, "down"))
    } else {
        Ok(7)
    }
}

#[tokio::test(start_paused = true)]
async fn the_retry_waits_out_a_short_open_wait_and_the_probe_closes_it() {
    let breaker = register(
        "mb-recover",
        CircuitBreaker::builder()
            .min_calls(2)
            .open_for(Duration::from_secs(2))
            .half_open_calls(1)
            .jitter(0.0),
    );
    // Attempt 1 and 2 fail and open it (2 s < the 10 s backoff cap): the next call's
    // first attempt meets CIRCUIT_OPEN, its retry waits the 2 s out, probes, and closes it.
    assert_eq!(flaky().await.unwrap_err().code(), Code::UNAVAILABLE);
    assert_eq!(breaker.state(), State::Open);
    let started = tokio::time::Instant::now();
    assert_eq!(flaky().await.unwrap(), 7);
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 3);
}

#[fallible_task(breaker = "mb-panic")]
async fn panics() -> Result<()> {
    panic!("bug in the client")
}

#[tokio::test(start_paused = true)]
async fn a_panicking_attempt_counts_as_a_failure() {
    let breaker = register(
        "mb-panic",
        CircuitBreaker::builder().min_calls(2).open_for(Duration::from_secs(30)),
    );
    for _ in 0..2 {
        assert_eq!(panics().await.unwrap_err().kind(), ErrorKind::Panicked);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(panics().await.unwrap_err().code(), Code::CIRCUIT_OPEN);
}

#[fallible_task(breaker = "mb-slow", timeout = "50ms")]
async fn hangs() -> Result<()> {
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cut_off_by_the_timeout_counts_as_deadline_exceeded() {
    let breaker = register(
        "mb-slow",
        CircuitBreaker::builder().min_calls(2).open_for(Duration::from_secs(30)),
    );
    for _ in 0..2 {
        assert_eq!(hangs().await.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(hangs().await.unwrap_err().code(), Code::CIRCUIT_OPEN);
}

static WAITS_RUNS: AtomicU32 = AtomicU32::new(0);

#[fallible_task(breaker = "mb-cancel")]
async fn waits() -> Result<()> {
    WAITS_RUNS.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_callers_cancellation_counts_as_neither() {
    // One counted failure would open it.
    let breaker = register(
        "mb-cancel",
        CircuitBreaker::builder().min_calls(1).open_for(Duration::from_secs(30)),
    );
    for _ in 0..5 {
        let ctx = Context::new();
        let canceller = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            canceller.cancel(TaskError::new(Code::UNAVAILABLE, "client went away"));
        });
        let e = ctx.scope(waits()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
    }
    assert_eq!(WAITS_RUNS.load(Ordering::SeqCst), 5);
    assert_eq!(breaker.state(), State::Closed);
}

#[fallible_task(breaker = "mb-not-found", retry = 2)]
async fn missing() -> Result<()> {
    Err(TaskError::new(Code::NOT_FOUND, "no such sku"))
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_not_found_never_opens_it() {
    let breaker = register("mb-not-found", CircuitBreaker::builder().min_calls(1));
    for _ in 0..50 {
        assert_eq!(missing().await.unwrap_err().code(), Code::NOT_FOUND);
    }
    assert_eq!(breaker.state(), State::Closed);
}
