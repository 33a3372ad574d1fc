//! [`RetryPolicy`]: retries driven by classification, with exponential backoff and jitter.
//!
//! Only errors whose [`TaskError::is_retryable`] is true are retried (a retryable [`Code`]
//! and a plain failure or deadline: never a panic, never a cancellation), so the decision
//! lives in one place, the code table, instead of in every call site.
//!
//! Every attempt runs in the caller's task, so it sees the same trace context and the same
//! ambient [`Context`]. When that context is cancelled the policy stops: between attempts
//! (the backoff sleep ends early) and before starting a new one, with `Cancelled` (carrying
//! the cause) or `DeadlineExceeded`.
//!
//! The backoff sleeps with `tokio::time::sleep`, so tests can run it under a paused clock.
//!
//! **Servers that say when to come back.** An error with a
//! [`retry_after`](TaskError::retry_after) (a `CIRCUIT_OPEN` from a
//! [`CircuitBreaker`](crate::breaker::CircuitBreaker), a remote `RetryInfo`) is never retried
//! sooner than that: the wait is the larger of the backoff and `retry_after`. When
//! `retry_after` is longer than the backoff cap ([`max_delay`](RetryPolicy::max_delay)), or
//! than the time left before the ambient [`Context`]'s deadline, the policy gives up at once
//! with that error instead of sleeping into a wait it will not see the end of. A
//! `CIRCUIT_OPEN` without a `retry_after` is not retried at all (nothing says when the breaker
//! will admit calls again).
//!
//! **Retry budgets.** With [`budget`](RetryPolicy::budget), every `run` deposits its first
//! attempt in a shared [`RetryBudget`] and every retry withdraws from it; a retry the budget
//! refuses is not made and `run` returns the last error (counted by the budget).
//!
//! **With a circuit breaker**, the breaker goes inside, so that it sees every attempt and its
//! opening stops the retries: `policy.run(|| breaker.call(fetch()))`.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use result_runtime::{retry::RetryPolicy, Code, Result, TaskError};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<()> {
//! let calls = AtomicU32::new(0);
//! let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(10));
//! let v = policy
//!     .run(|| async {
//!         if calls.fetch_add(1, Ordering::SeqCst) < 2 {
//!             Err(TaskError::new(Code::UNAVAILABLE, "flaky"))
//!         } else {
//!             Ok(7)
//!         }
//!     })
//!     .await?;
//! assert_eq!((v, calls.load(Ordering::SeqCst)), (7, 3));
//! # Ok(()) }
//! ```
//!
//! [`Code`]: crate::Code

use std::future::Future;
use std::time::Duration;

use crate::breaker::RetryBudget;
use crate::context::Context;
use crate::error::{Result, TaskError};
use crate::trace::TraceContext;

/// How many times to try, and how long to wait in between.
///
/// The wait before retry `n` (counting from 0) is `base_delay * 2^n`, capped at `max_delay`;
/// with jitter (the default) it is drawn uniformly from the upper half of that, `[d/2, d]`
/// ("equal jitter"), so that callers that failed together do not retry together, while the
/// wait never collapses to zero.
///
/// Cloning is cheap; a clone shares the [`budget`](Self::budget), if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    base: Duration,
    max: Duration,
    jitter: bool,
    budget: Option<RetryBudget>,
}

impl RetryPolicy {
    /// At most `attempts` attempts in all (the first call included; `0` counts as `1`), with a
    /// 100 ms base delay, a 10 s cap and jitter.
    #[must_use]
    pub const fn new(attempts: u32) -> Self {
        Self {
            attempts: if attempts == 0 { 1 } else { attempts },
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
            jitter: true,
            budget: None,
        }
    }

    /// The wait before the first retry; later waits double.
    #[must_use]
    pub const fn base_delay(mut self, delay: Duration) -> Self {
        self.base = delay;
        self
    }

    /// The longest wait between two attempts.
    #[must_use]
    pub const fn max_delay(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// Whether to randomise each wait within `[d/2, d]` (on by default).
    #[must_use]
    pub const fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Draws retries from `budget`, shared with every policy that holds a clone of it (one
    /// budget per dependency). A retry the budget refuses is not made: `run` returns the last
    /// error.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::breaker::RetryBudget;
    /// use result_runtime::retry::RetryPolicy;
    ///
    /// let inventory = RetryBudget::builder().ratio(0.2).min_per_sec(10).build().unwrap();
    /// let policy = RetryPolicy::new(3).budget(inventory.clone());
    /// assert_eq!(policy.get_budget(), Some(&inventory));
    /// ```
    #[must_use]
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The budget retries are drawn from, if any.
    #[must_use]
    pub fn get_budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// The most attempts this policy makes.
    #[must_use]
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before retry number `retry` (0 for the wait after the first failure).
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1_u32.checked_shl(retry).unwrap_or(u32::MAX);
        let d = self.base.checked_mul(factor).unwrap_or(self.max).min(self.max);
        if self.jitter && !d.is_zero() {
            let half = d / 2;
            let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
            half + Duration::from_nanos(fastrand::u64(0..=span))
        } else {
            d
        }
    }

    /// Calls `attempt` until it succeeds, fails with an error that is not retryable, or the
    /// attempts run out; returns the last result. Errors leave stamped with the current trace
    /// id (unless they carry one already).
    ///
    /// # Errors
    /// The last attempt's error (also when the budget refuses a retry, or when the error's
    /// `retry_after` is beyond the backoff cap or the deadline); `Cancelled` /
    /// `DeadlineExceeded` when the ambient [`Context`] ends before or between attempts.
    ///
    /// # Cancel safety
    /// Dropping the future drops the attempt in flight (or the backoff sleep); no attempt is
    /// started after that.
    pub async fn run<F, Fut, T>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let ctx = Context::current();
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        let mut retry = 0;
        loop {
            let error = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if retry + 1 >= self.attempts || !error.is_retryable() {
                return Err(stamp(error));
            }
            let Some(wait) = self.wait_for(retry, &error, ctx.as_ref()) else {
                return Err(stamp(error));
            };
            if self.budget.as_ref().is_some_and(|b| !b.try_withdraw()) {
                return Err(stamp(error));
            }
            let wait = tokio::time::sleep(wait);
            match &ctx {
                Some(ctx) => {
                    tokio::select! {
                        () = wait => {}
                        () = ctx.cancelled() => {}
                    }
                    if let Some(stop) = ctx.error() {
                        return Err(stamp(stop));
                    }
                }
                None => wait.await,
            }
            retry += 1;
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry `retry` after `error`, or `None` to give up: the error
    /// asks for a wait beyond the backoff cap or the deadline, or is a `CIRCUIT_OPEN` that
    /// does not say when to come back.
    fn wait_for(&self, retry: u32, error: &TaskError, ctx: Option<&Context>) -> Option<Duration> {
        let backoff = self.delay(retry);
        let Some(after) = error.retry_after() else {
            return (error.code() != crate::Code::CIRCUIT_OPEN).then_some(backoff);
        };
        if after > self.max || ctx.and_then(Context::remaining).is_some_and(|left| after >= left) {
            return None;
        }
        Some(backoff.max(after))
    }
}

fn stamp(error: TaskError) -> TaskError {
    error.or_trace_id(TraceContext::current_trace_id())
}

/// What `#[fallible_task(retry = N)]` needs of each argument: a fresh copy for every
/// attempt. Implemented for every `Clone` type; the trait exists for its error message.
/// Reached through the hidden `__private` module; not public API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`retry` runs the function again, so each argument must be `Clone`; `{Self}` is not",
    label = "this argument is not `Clone`",
    note = "derive or implement `Clone`, pass a reference or an `Arc`, or remove `retry`"
)]
pub trait RetryArg {
    /// The copy for the next attempt.
    fn retry_clone(&self) -> Self;
}

impl<T: Clone> RetryArg for T {
    fn retry_clone(&self) -> Self {
        self.clone()
    }
}

/// Clones an argument for one attempt (called by the `retry` expansion).
#[doc(hidden)]
pub fn retry_arg<T: RetryArg>(value: &T) -> T {
    value.retry_clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Code, ErrorKind};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;
    use tokio::time::Instant;

    fn unavailable() -> TaskError {
        TaskError::new(Code::UNAVAILABLE, "flaky")
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_until_success_with_exponential_waits() {
        let policy = RetryPolicy::new(5).base_delay(Duration::from_millis(100)).jitter(false);
        let start = Instant::now();
        let times = Mutex::new(Vec::new());
        let v = policy
            .run(|| {
                let mut t = times.lock().unwrap();
                t.push(start.elapsed());
                let n = t.len();
                async move {
                    if n < 4 {
                        Err(unavailable())
                    } else {
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(v, 4);
        let ms: Vec<u128> = times.lock().unwrap().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 100, 300, 700]);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_attempts_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::new(3)
            .run(|| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { Err::<(), _>(unavailable().context(format!("attempt {n}"))) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(err.message(), "attempt 2");
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_non_retryable_errors_or_panics() {
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::new(5)
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(TaskError::new(Code::INVALID_ARGUMENT, "bad")) }
            })
            .await
            .unwrap_err();
        assert_eq!((calls.load(Ordering::SeqCst), err.code()), (1, Code::INVALID_ARGUMENT));

        let calls = AtomicU32::new(0);
        let err = RetryPolicy::new(5)
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                crate::panic::catch_unwind(async { panic!("boom") })
            })
            .await
            .unwrap_err();
        assert_eq!((calls.load(Ordering::SeqCst), err.kind()), (1, ErrorKind::Panicked));
    }

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_stays_in_the_upper_half() {
        let p = RetryPolicy::new(10)
            .base_delay(Duration::from_millis(10))
            .max_delay(Duration::from_millis(50))
            .jitter(false);
        let d: Vec<u128> = (0..5).map(|r| p.delay(r).as_millis()).collect();
        assert_eq!(d, [10, 20, 40, 50, 50]);
        assert_eq!(p.delay(200), Duration::from_millis(50));
        let j = p.clone().jitter(true);
        for r in 0..200 {
            let full = p.delay(r % 6);
            let got = j.delay(r % 6);
            assert!(got >= full / 2 && got <= full, "{got:?} outside [{:?}, {full:?}]", full / 2);
        }
        assert_eq!(RetryPolicy::new(0).attempts(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_share_the_trace_and_errors_are_stamped() {
        let root = TraceContext::new_root();
        let seen = Mutex::new(Vec::new());
        let err = root
            .scope(RetryPolicy::new(3).run(|| {
                seen.lock().unwrap().push(TraceContext::current());
                async { Err::<(), _>(unavailable()) }
            }))
            .await
            .unwrap_err();
        assert_eq!(*seen.lock().unwrap(), vec![Some(root.clone()); 3]);
        assert_eq!(err.trace_id(), Some(root.trace_id));
    }

    #[tokio::test(start_paused = true)]
    async fn stops_waiting_when_the_ambient_context_is_cancelled() {
        let ctx = Context::new();
        let calls = AtomicU32::new(0);
        let cancel = ctx.clone();
        let start = Instant::now();
        let err = ctx
            .scope(RetryPolicy::new(5).base_delay(Duration::from_secs(3600)).run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                // The first failure also cancels the context: the hour-long wait must end.
                cancel.cancel(TaskError::new(Code::INTERNAL, "shutdown"));
                async { Err::<(), _>(unavailable()) }
            }))
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Paused clock: the hour-long backoff was not slept through.
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(err.cause().unwrap().message(), "shutdown");
    }

    fn open_for(d: Duration) -> TaskError {
        TaskError::new(Code::CIRCUIT_OPEN, "open").with_retry_after(d)
    }

    #[tokio::test(start_paused = true)]
    async fn waits_at_least_retry_after_and_never_retries_circuit_open_at_once() {
        let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(10)).jitter(false);
        let start = Instant::now();
        let times = Mutex::new(Vec::new());
        let v = policy
            .run(|| {
                let mut t = times.lock().unwrap();
                t.push(start.elapsed().as_millis());
                let n = t.len();
                async move {
                    if n == 1 {
                        Err(open_for(Duration::from_millis(700)))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!((v, times.lock().unwrap().clone()), (2, vec![0, 700]));

        // CIRCUIT_OPEN without a retry delay: given up at once.
        let calls = AtomicU32::new(0);
        let err = RetryPolicy::new(3)
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(TaskError::new(Code::CIRCUIT_OPEN, "open")) }
            })
            .await
            .unwrap_err();
        assert_eq!((calls.load(Ordering::SeqCst), err.code()), (1, Code::CIRCUIT_OPEN));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_retry_after_exceeds_the_cap_or_the_deadline() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let run = |policy: RetryPolicy, after: Duration| {
            let calls = &calls;
            async move {
                policy
                    .run(|| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        async move { Err::<(), _>(open_for(after)) }
                    })
                    .await
            }
        };
        let capped = RetryPolicy::new(3).max_delay(Duration::from_secs(1));
        let err = run(capped, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!((calls.swap(0, Ordering::SeqCst), err.code()), (1, Code::CIRCUIT_OPEN));
        let ctx = Context::new().with_timeout(Duration::from_secs(3));
        let err = ctx.scope(run(RetryPolicy::new(3), Duration::from_secs(5))).await.unwrap_err();
        assert_eq!((calls.swap(0, Ordering::SeqCst), err.code()), (1, Code::CIRCUIT_OPEN));
        assert_eq!(start.elapsed(), Duration::ZERO, "no sleeping into a wait it cannot finish");
        // Within the deadline: it waits.
        let ctx = Context::new().with_timeout(Duration::from_secs(10));
        let _ = ctx.scope(run(RetryPolicy::new(2), Duration::from_secs(5))).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_budget_returns_the_last_error_and_counts_it() {
        let budget =
            crate::breaker::RetryBudget::builder().ratio(0.5).min_per_sec(0).build().unwrap();
        let policy =
            RetryPolicy::new(3).base_delay(Duration::from_millis(1)).budget(budget.clone());
        let calls = AtomicU32::new(0);
        // Two runs deposit 2 x 0.5 = one retry; four runs of three attempts each would make
        // eight retries without the budget.
        for _ in 0..4 {
            let err = policy
                .clone()
                .run(|| {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move { Err::<(), _>(unavailable().context(format!("attempt {n}"))) }
                })
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::UNAVAILABLE);
        }
        // run 1: 0.5 in the budget, no retry (1 call); run 2: 1.0 -> one retry, then 0
        // (2 calls); run 3: 0.5 (1 call); run 4: 1.0 -> one retry (2 calls).
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        assert_eq!(budget.exhausted(), 4);
    }
}
