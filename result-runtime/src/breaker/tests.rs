//! The breaker's behaviour, under a paused clock: every transition is deterministic.

use super::*;
use crate::{Code, TaskError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::{advance, sleep, Instant};

const FIVE: Duration = Duration::from_secs(5);

fn unavailable() -> TaskError {
    TaskError::new(Code::UNAVAILABLE, "connection refused")
}

async fn fail(b: &CircuitBreaker) -> Result<()> {
    b.call(async { Err(unavailable()) }).await
}

async fn succeed(b: &CircuitBreaker) -> Result<()> {
    b.call(async { Ok(()) }).await
}

fn breaker(min_calls: u32, window: u32) -> CircuitBreaker {
    CircuitBreaker::builder()
        .failure_rate(0.5)
        .min_calls(min_calls)
        .window(Window::Count(window))
        .open_for(FIVE)
        .max_open_for(Duration::from_secs(40))
        .half_open_calls(2)
        .jitter(0.0)
        .build()
        .unwrap()
}

fn is_open_error(r: &Result<()>) -> bool {
    r.as_ref().is_err_and(|e| e.code() == Code::CIRCUIT_OPEN)
}

#[tokio::test(start_paused = true)]
async fn min_calls_rule_then_closed_to_open() {
    let b = breaker(10, 20);
    // Nine failures: 100% failure rate, but fewer calls than min_calls: it does not judge.
    for _ in 0..9 {
        assert_eq!(fail(&b).await.unwrap_err().code(), Code::UNAVAILABLE);
    }
    assert_eq!(b.state(), State::Closed);
    // The tenth call makes the window big enough.
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn open_refuses_without_running_the_future_with_the_remaining_wait() {
    let b = breaker(2, 10);
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(2)).await;
    let ran = AtomicU32::new(0);
    let err = b
        .call(async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(err.code(), Code::CIRCUIT_OPEN);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
}

#[tokio::test(start_paused = true)]
async fn open_to_half_open_to_closed_after_k_probe_successes() {
    let b = breaker(2, 10);
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    advance(FIVE).await;
    assert_eq!(b.state(), State::Open, "moves on the next call, not by itself");
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    // Closed with a fresh window: one failure does not reopen it.
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn failed_probes_back_off_the_open_wait_up_to_the_cap_and_closing_resets_it() {
    let b = breaker(2, 10);
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    let mut waits = Vec::new();
    for _ in 0..5 {
        let wait = b.call(async { Ok(()) }).await.unwrap_err().retry_after().unwrap();
        waits.push(wait.as_secs());
        advance(wait).await;
        let _ = fail(&b).await; // the probe fails: open again, longer
        assert_eq!(b.state(), State::Open);
    }
    assert_eq!(waits, [5, 10, 20, 40, 40]);
    // Once it closes, the next opening waits the base again.
    advance(Duration::from_secs(40)).await;
    succeed(&b).await.unwrap();
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    assert_eq!(b.call(async { Ok(()) }).await.unwrap_err().retry_after(), Some(FIVE));
}

#[test]
fn jitter_shortens_the_wait_within_its_fraction() {
    let b =
        CircuitBreaker::builder().open_for(Duration::from_secs(10)).jitter(0.2).build().unwrap();
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..200 {
        let w = b.open_wait(0);
        assert!(w >= Duration::from_secs(8) && w <= Duration::from_secs(10), "{w:?}");
        distinct.insert(w);
        let w = b.open_wait(1);
        assert!(w >= Duration::from_secs(16) && w <= Duration::from_secs(20), "{w:?}");
    }
    assert!(distinct.len() > 100, "the waits are spread");
    // The default cap is 12 x open_for.
    assert_eq!(breaker(1, 1).open_wait(30), Duration::from_secs(40));
    let d = CircuitBreaker::builder().jitter(0.0).build().unwrap();
    assert_eq!(d.open_wait(30), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_answers_never_opens_it_and_cancellations_count_as_nothing() {
    let b = breaker(5, 10);
    for code in [
        Code::NOT_FOUND,
        Code::INVALID_ARGUMENT,
        Code::PERMISSION_DENIED,
        Code::ALREADY_EXISTS,
        Code::FAILED_PRECONDITION,
        Code::UNAUTHENTICATED,
    ] {
        for _ in 0..100 {
            let e = b.call(async { Err::<(), _>(TaskError::new(code, "answered")) }).await;
            assert_eq!(e.unwrap_err().code(), code);
        }
    }
    assert_eq!(b.state(), State::Closed);

    // Cancellations are not calls: four failures and a hundred cancellations stay below
    // min_calls = 5.
    for _ in 0..4 {
        let _ = fail(&b).await;
    }
    for _ in 0..100 {
        let _ = b.call(async { Err::<(), _>(TaskError::cancelled(None)) }).await;
        // A call dropped after it started (here by a timeout) is a cancellation too.
        let slow = b.call(async {
            sleep(Duration::from_secs(1)).await;
            Ok(())
        });
        assert!(tokio::time::timeout(Duration::from_millis(1), slow).await.is_err());
    }
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn every_unhealthy_class_counts_as_a_failure() {
    for e in [
        TaskError::new(Code::UNAVAILABLE, "down"),
        TaskError::new(Code::STORAGE, "disk"),
        TaskError::new(Code::RATE_LIMITED, "busy"),
        TaskError::new(Code::INTERNAL, "500"),
        TaskError::deadline_exceeded(),
    ] {
        let b = breaker(3, 3);
        for _ in 0..3 {
            let e = e.clone();
            let _ = b.call(async move { Err::<(), _>(e) }).await;
        }
        assert_eq!(b.state(), State::Open, "{e}");
    }
}

#[tokio::test(start_paused = true)]
async fn panics_count_as_failures() {
    use futures_util::FutureExt;
    let b = breaker(2, 2);
    for _ in 0..2 {
        let call = std::panic::AssertUnwindSafe(b.call(async { panic!("boom") }));
        let _: std::result::Result<Result<()>, _> = call.catch_unwind().await;
    }
    assert_eq!(b.state(), State::Open);
    // A panic caught into an error is a failure by its class too.
    let b = breaker(2, 2);
    for _ in 0..2 {
        let _ = b.call(crate::panic::catch_unwind(async { panic!("boom") })).await;
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_user_predicate_overrides_the_policy() {
    let b = CircuitBreaker::builder()
        .min_calls(3)
        .window(Window::Count(3))
        .classify(
            |e| if e.code() == Code::NOT_FOUND { Verdict::Failure } else { default_verdict(e) },
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        let _ = b
            .call(async { Err::<(), _>(TaskError::new(Code::NOT_FOUND, "index not loaded")) })
            .await;
    }
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_it_even_when_they_succeed() {
    let b = CircuitBreaker::builder()
        .slow_call(Duration::from_millis(100))
        .slow_call_rate(0.5)
        .min_calls(4)
        .window(Window::Count(4))
        .jitter(0.0)
        .build()
        .unwrap();
    let slow = || {
        b.call(async {
            sleep(Duration::from_millis(150)).await;
            Ok(())
        })
    };
    let fast = || {
        b.call(async {
            sleep(Duration::from_millis(50)).await;
            Ok(())
        })
    };
    fast().await.unwrap();
    fast().await.unwrap();
    slow().await.unwrap();
    assert_eq!(b.state(), State::Closed, "three calls: below min_calls");
    fast().await.unwrap();
    assert_eq!(b.state(), State::Closed, "one slow in four: below the rate");
    slow().await.unwrap();
    assert_eq!(b.state(), State::Open, "two slow in the last four: 0.5");
}

#[tokio::test(start_paused = true)]
async fn the_count_window_evicts_exactly_the_oldest_call() {
    let b = breaker(10, 10);
    for _ in 0..4 {
        let _ = fail(&b).await;
    }
    for _ in 0..6 {
        succeed(&b).await.unwrap();
    }
    // F F F F S S S S S S: four new failures replace the four old ones.
    for _ in 0..4 {
        let _ = fail(&b).await;
    }
    assert_eq!(b.state(), State::Closed);
    let _ = fail(&b).await; // replaces a success: 5 in 10
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn successes_counted_on_the_fast_path_weigh_against_later_failures() {
    let b = breaker(20, 20);
    for _ in 0..200 {
        succeed(&b).await.unwrap(); // a clean window: no lock taken
    }
    for _ in 0..9 {
        let _ = fail(&b).await;
    }
    assert_eq!(b.state(), State::Closed, "9 failures in the last 20 calls");
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open, "10 in 20");

    // The window goes clean again once the failures leave it, and counts on.
    let b = breaker(20, 20);
    for _ in 0..3 {
        let _ = fail(&b).await;
    }
    for _ in 0..40 {
        succeed(&b).await.unwrap();
    }
    for _ in 0..9 {
        let _ = fail(&b).await;
    }
    assert_eq!(b.state(), State::Closed);
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn the_time_window_forgets_old_calls() {
    let b = CircuitBreaker::builder()
        .min_calls(4)
        .window(Window::Time { span: Duration::from_secs(10), buckets: 10 })
        .jitter(0.0)
        .build()
        .unwrap();
    for _ in 0..3 {
        let _ = fail(&b).await;
    }
    advance(Duration::from_secs(11)).await;
    // The three failures have left the window: one more does not make four.
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Closed);
    // Successes in the window count against the rate.
    for _ in 0..4 {
        succeed(&b).await.unwrap();
    }
    for _ in 0..2 {
        let _ = fail(&b).await;
    }
    assert_eq!(b.state(), State::Closed, "3 failures in 7");
    let _ = fail(&b).await;
    assert_eq!(b.state(), State::Open, "4 in 8: the rate is 0.5");
}

#[tokio::test(start_paused = true)]
async fn outcomes_of_calls_admitted_before_a_transition_do_not_count() {
    let b = breaker(2, 10);
    // A call admitted while closed, finishing (as a success) after the breaker opened and
    // half-opened, must not count as a probe.
    let straggler = b.try_acquire().unwrap();
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    advance(FIVE).await;
    let probe = b.try_acquire().unwrap();
    straggler.success();
    assert_eq!(b.state(), State::HalfOpen);
    probe.success();
    assert_eq!(b.state(), State::HalfOpen, "one of two probes");
    succeed(&b).await.unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_refuses_beyond_k_and_a_cancelled_probe_frees_its_place() {
    let b = breaker(2, 10);
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    advance(FIVE).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let refused = b.try_acquire().unwrap_err();
    assert_eq!((refused.code(), refused.retry_after()), (Code::CIRCUIT_OPEN, Some(FIVE)));
    drop(p1); // cancelled
    let p3 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    p2.success();
    p3.success();
    assert_eq!(b.state(), State::Closed);
}

/// Half-open under real threads: in each of many rounds, eight threads race for two places
/// and exactly two win.
#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_k_under_concurrency() {
    use std::sync::Barrier;
    const THREADS: usize = 8;
    const K: u32 = 2;
    let b = breaker(2, 10);
    let _ = fail(&b).await;
    let _ = fail(&b).await;
    advance(FIVE).await;
    drop(b.try_acquire().unwrap()); // moves it to half-open; the place is given back
    assert_eq!(b.state(), State::HalfOpen);
    for round in 0..200 {
        let start = Barrier::new(THREADS);
        let counted = Barrier::new(THREADS);
        let admitted = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    start.wait();
                    let permit = b.try_acquire();
                    if permit.is_ok() {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                    counted.wait(); // hold the places until everyone has tried
                    drop(permit); // cancelled: the places go back for the next round
                });
            }
        });
        assert_eq!(admitted.load(Ordering::SeqCst), K, "round {round}");
        assert_eq!(b.state(), State::HalfOpen);
    }
}

#[tokio::test(start_paused = true)]
async fn the_rejection_carries_the_name_and_the_trace() {
    let b = CircuitBreaker::builder()
        .name("inventory")
        .min_calls(1)
        .window(Window::Count(1))
        .build()
        .unwrap();
    let _ = fail(&b).await;
    let trace = crate::trace::TraceContext::new_root();
    let err = trace.scope(succeed(&b)).await.unwrap_err();
    assert!(is_open_error(&Err(err.clone())));
    assert_eq!(err.message(), "circuit breaker `inventory` is open");
    assert_eq!(err.trace_id(), Some(trace.trace_id));
    let _ = Instant::now();
}
