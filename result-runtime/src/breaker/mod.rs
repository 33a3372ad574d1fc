//! Circuit breaking and retry budgets, driven by the error's classification.
//!
//! A [`CircuitBreaker`] remembers, across requests, that a dependency is failing, and stops
//! calling it for a while: callers get `CIRCUIT_OPEN` at once instead of paying a connection
//! attempt and its retries, and the dependency gets room to recover. A [`RetryBudget`] caps
//! retries to a share of first attempts, so that retries cannot multiply an outage's load.
//!
//! ```text
//!                 failure rate or slow-call rate >= threshold
//!                 over a window of >= min_calls calls
//!   +--------+ ------------------------------------------------> +--------+
//!   | CLOSED |                                                   |  OPEN  | every call refused at once:
//!   +--------+ <---------+                                       +--------+ CIRCUIT_OPEN, retry_after =
//!    calls run,          | k probes succeeded            wait passed |   ^  the rest of the wait
//!    outcomes counted    |                  (the next call moves it) v   |
//!                        |                                     +-----------+  one probe failed:
//!                        +------------------------------------ | HALF-OPEN | -+ open again, wait
//!                                                              +-----------+    doubled (up to
//!                                                               k probes run at   max_open_for,
//!                                                               once; the rest     with jitter)
//!                                                               refused at once
//! ```
//!
//! **What counts as a failure**, and why: only what says the dependency is unhealthy
//! (unavailable, storage, timeouts, rate limiting, internal errors, panics). An answer the
//! dependency gave on purpose (invalid argument, not found, permission denied, conflict, a
//! business refusal) proves it is up: a success. A call the caller gave up on is counted as
//! neither. So a burst of `NOT_FOUND` never opens a breaker. The table is in [`classify`]'s
//! docs ([`default_verdict`]); [`CircuitBreakerBuilder::classify`] overrides it.
//!
//! **Composing with retries**: put the breaker *inside* the retry, so that it sees every
//! attempt: `policy.run(|| breaker.call(fetch()))`. Once it opens, the next attempt fails with
//! `CIRCUIT_OPEN` without touching the dependency, and [`RetryPolicy`](crate::retry::RetryPolicy)
//! does not retry that at once: it waits out the error's `retry_after` or, when that is longer
//! than its backoff cap or the time left before the ambient deadline, gives up with it.
//! `#[fallible_task(breaker = "..", retry = N)]` nests them in this order.
//!
//! Time is `tokio::time::Instant`, so under a paused clock (`start_paused = true`) every
//! transition is deterministic.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use result_runtime::breaker::{CircuitBreaker, State};
//! use result_runtime::{Code, Result, TaskError};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let breaker = CircuitBreaker::builder()
//!     .failure_rate(0.5)
//!     .min_calls(4)
//!     .open_for(Duration::from_secs(5))
//!     .jitter(0.0)
//!     .build()?;
//! async fn down() -> Result<u32> { Err(TaskError::new(Code::UNAVAILABLE, "connection refused")) }
//! for _ in 0..4 {
//!     let _ = breaker.call(down()).await;
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let err = breaker.call(async { Ok(1) }).await.unwrap_err(); // not run
//! assert_eq!(err.code(), Code::CIRCUIT_OPEN);
//! assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
//! # Ok(()) }
//! ```

mod budget;
mod builder;
pub mod classify;
#[cfg(feature = "tower")]
mod layer;
mod metrics;
mod registry;
mod state;
mod window;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

pub use budget::{RetryBudget, RetryBudgetBuilder};
pub use builder::CircuitBreakerBuilder;
pub use classify::{code_verdict, default_verdict, Verdict};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{BoxError, BreakerLayer, BreakerService, ResponseFuture};
pub use registry::{registry, Registry};
pub use window::Window;

use crate::Result;
use state::{Core, Ticket};

/// Where a breaker is in its cycle; see the [module docs](self) for the diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Calls run and their outcomes are counted.
    Closed = 0,
    /// Calls are refused at once with `CIRCUIT_OPEN`. The first call after the wait moves the
    /// breaker to half-open.
    Open = 1,
    /// A few probe calls run; the others are refused.
    HalfOpen = 2,
}

impl State {
    /// `"closed"`, `"open"` or `"half_open"`, as logged.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A circuit breaker: closed, open or half-open, counting outcomes by their class.
///
/// Cloning is cheap and shares the breaker (one per dependency, or per method). Build one
/// with [`CircuitBreaker::builder`], or take a named one from the [`registry`].
///
/// Cost: around a call that succeeds while the window holds no failure, the breaker adds two
/// atomic loads and no write once its window has filled (no lock, no read-modify-write, so
/// callers on many cores do not contend); failures, slow calls and time windows take a short
/// lock. See `benches/breaker.rs` for the numbers next to failsafe-rs.
#[derive(Clone)]
pub struct CircuitBreaker(Arc<Core>);

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

impl CircuitBreaker {
    /// The settings, with their defaults; see [`CircuitBreakerBuilder`].
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    /// The current state. An open breaker whose wait has passed still reads `Open` until the
    /// next call moves it to half-open.
    #[must_use]
    pub fn state(&self) -> State {
        self.0.state()
    }

    /// The name given to the builder or the registry.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Runs `fut` if the breaker admits the call and counts its outcome; refuses it at once,
    /// without polling `fut`, while the breaker is open (or half-open with every probe place
    /// taken). Admission happens on the first poll.
    ///
    /// # Errors
    /// `fut`'s own error; or, without running it, a `CIRCUIT_OPEN` error (category
    /// `Unavailable`, retryable) whose [`retry_after`](crate::TaskError::retry_after) is the
    /// rest of the open wait (in half-open: the base `open_for`), stamped with the current
    /// trace id.
    ///
    /// # Cancel safety
    /// Dropping the returned future drops `fut` and counts the call as neither success nor
    /// failure; a dropped probe frees its half-open place for another caller. A panic in
    /// `fut` that unwinds through this future counts as a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::breaker::CircuitBreaker;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder().build().unwrap();
    /// let v = breaker.call(async { Ok::<_, result_runtime::TaskError>(7) }).await;
    /// assert_eq!(v.unwrap(), 7);
    /// # }
    /// ```
    pub fn call<F, T>(&self, fut: F) -> Call<'_, F>
    where
        F: Future<Output = Result<T>>,
    {
        Call { core: &self.0, fut, ticket: None, admitted: false }
    }

    /// Asks to make one call, for code that does not fit [`call`](Self::call) (a callback, a
    /// sync call, an error type of its own): run it, then report through the [`Permit`].
    ///
    /// # Errors
    /// `CIRCUIT_OPEN`, as [`call`](Self::call) refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder().build().unwrap();
    /// let permit = breaker.try_acquire().unwrap();
    /// let ok = std::fs::metadata(".").is_ok();
    /// if ok { permit.success() } else { permit.failure() }
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>> {
        let ticket = self.0.acquire()?;
        Ok(Permit { core: &self.0, ticket: Some(ticket) })
    }

    /// The open wait after `reopenings` consecutive failed half-open rounds (0: the first
    /// opening), with this breaker's jitter drawn afresh.
    #[must_use]
    pub fn open_wait(&self, reopenings: u32) -> std::time::Duration {
        self.0.wait(reopenings)
    }

    #[cfg(feature = "tower")]
    pub(crate) fn acquire_owned(&self) -> Result<OwnedPermit> {
        let ticket = self.0.acquire()?;
        Ok(OwnedPermit { core: self.0.clone(), ticket: Some(ticket) })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CircuitBreaker::call`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F> {
        core: &'a Core,
        #[pin]
        fut: F,
        ticket: Option<Ticket>,
        admitted: bool,
    }

    impl<F> PinnedDrop for Call<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(t) = this.ticket.take() {
                this.core.complete(t, dropped_verdict());
            }
        }
    }
}

impl<F> fmt::Debug for Call<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").field("admitted", &self.admitted).finish_non_exhaustive()
    }
}

impl<F, T> Future for Call<'_, F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<T>> {
        let this = self.project();
        if !*this.admitted {
            *this.admitted = true;
            match this.core.acquire() {
                Ok(t) => *this.ticket = Some(t),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        // A panic in `fut` unwinds through this guard, which counts it as a failure; on the
        // normal path the guard is forgotten, so it costs nothing.
        let guard = UnwindGuard { core: this.core, ticket: &mut *this.ticket };
        let polled = this.fut.poll(cx);
        std::mem::forget(guard);
        let out = std::task::ready!(polled);
        if let Some(t) = this.ticket.take() {
            this.core.complete(t, this.core.verdict(&out));
        }
        Poll::Ready(out)
    }
}

struct UnwindGuard<'a, 'b> {
    core: &'a Core,
    ticket: &'b mut Option<Ticket>,
}

impl Drop for UnwindGuard<'_, '_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.core.complete(t, Verdict::Failure);
        }
    }
}

/// Permission for one call, from [`CircuitBreaker::try_acquire`]; report how it ended.
///
/// Dropping it unreported counts the call as [`Verdict::Ignored`] (as a failure if the thread
/// is panicking).
#[must_use = "report the call's outcome, or it is counted as ignored"]
pub struct Permit<'a> {
    core: &'a Core,
    ticket: Option<Ticket>,
}

impl Permit<'_> {
    /// Reports a result, classified by the breaker's policy.
    #[inline]
    pub fn record<T>(mut self, result: &Result<T>) {
        let verdict = self.core.verdict(result);
        if let Some(t) = self.ticket.take() {
            self.core.complete(t, verdict);
        }
    }

    /// Reports a verdict directly.
    pub fn verdict(mut self, verdict: Verdict) {
        if let Some(t) = self.ticket.take() {
            self.core.complete(t, verdict);
        }
    }

    /// Reports a success.
    pub fn success(self) {
        self.verdict(Verdict::Success);
    }

    /// Reports a failure.
    pub fn failure(self) {
        self.verdict(Verdict::Failure);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.core.complete(t, dropped_verdict());
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

fn dropped_verdict() -> Verdict {
    if std::thread::panicking() {
        Verdict::Failure
    } else {
        Verdict::Ignored
    }
}

/// A [`Permit`] that owns its breaker, for `'static` futures (the tower layer).
#[cfg(feature = "tower")]
pub(crate) struct OwnedPermit {
    core: Arc<Core>,
    ticket: Option<Ticket>,
}

#[cfg(feature = "tower")]
impl OwnedPermit {
    /// Reports a response's code (`None`: a success), through the breaker's policy.
    pub(crate) fn record_code(self, code: Option<crate::Code>) {
        let verdict = match code {
            None => Verdict::Success,
            Some(code) => self.core.verdict::<()>(&Err(crate::TaskError::new(code, ""))),
        };
        self.verdict(verdict);
    }

    pub(crate) fn verdict(mut self, verdict: Verdict) {
        if let Some(t) = self.ticket.take() {
            self.core.complete(t, verdict);
        }
    }
}

#[cfg(feature = "tower")]
impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.core.complete(t, dropped_verdict());
        }
    }
}

/// What `#[fallible_task(breaker = "name")]` expands to call: the registered breaker `name`
/// (created with the registry's defaults on first use), resolved once per call site through
/// `cell`. Not public API.
#[doc(hidden)]
pub fn __named(
    cell: &'static std::sync::OnceLock<CircuitBreaker>,
    name: &'static str,
) -> &'static CircuitBreaker {
    cell.get_or_init(|| registry().breaker(name))
}

#[cfg(test)]
mod tests;
