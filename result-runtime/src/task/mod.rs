//! What `#[fallible_task]` expands to: the body's future with panic capture, the ambient
//! [`Context`]'s cancellation and deadline, and failures stamped with the task name and the
//! trace id and reported to the ambient group. Reached only through the hidden `__private`
//! module; not public API.
//!
//! The expansion converts the body's output to `Result<T>` with `FutureExt::map` and a
//! closure written at the call site (see [`convert`] for why), then hands it to [`task`].

pub(crate) mod convert;
pub(crate) mod traced;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use crate::context::{Context, Run};
use crate::error::{Result, TaskError};
use crate::panic::{catch_unwind, CatchUnwind};
use crate::trace::TraceContext;

/// Runs the body of a `#[fallible_task]` fn: panics become `Panicked`, the ambient
/// [`Context`] (read here, when the fn's own future first runs) can stop it with `Cancelled` /
/// `DeadlineExceeded`, and a failure is stamped with the task name and current trace id and
/// reported to the ambient group.
#[doc(hidden)]
pub fn task<T, F>(name: &'static str, fut: F) -> Task<F>
where
    F: Future<Output = Result<T>>,
{
    // The context is read by the first poll, which follows at once (the expansion awaits
    // the task right away): the same moment, and nothing to clone or move when there is none.
    Task { name, run: Run::ambient(Flatten { fut: catch_unwind(fut) }) }
}

/// [`task`] under a deadline `timeout` from now (or the ambient context's, if earlier).
#[doc(hidden)]
pub fn task_with_timeout<T, F>(name: &'static str, timeout: Duration, fut: F) -> Task<F>
where
    F: Future<Output = Result<T>>,
{
    let ctx = Context::current().unwrap_or_default().with_timeout(timeout);
    Task { name, run: ctx.run(Flatten { fut: catch_unwind(fut) }) }
}

/// One attempt of a `#[fallible_task(breaker = "..")]` fn, run inside the breaker's `call`:
/// its panics become `Panicked` (a failure for the breaker) and the ambient context's
/// deadline ends it with `DeadlineExceeded` (a failure) or its cancellation with `Cancelled`
/// (ignored), so the breaker judges what the attempt did rather than seeing it dropped.
#[doc(hidden)]
pub fn attempt<T, F>(fut: F) -> Run<Flatten<F>>
where
    F: Future<Output = Result<T>>,
{
    Run::ambient(Flatten { fut: catch_unwind(fut) })
}

pin_project_lite::pin_project! {
    /// The future [`task`] returns. A named future rather than an `async fn`: the body's
    /// future is stored once, which keeps the state small and the Ok path cheap.
    #[doc(hidden)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Task<F> {
        name: &'static str,
        #[pin]
        run: Run<Flatten<F>>,
    }
}

pin_project_lite::pin_project! {
    /// `CatchUnwind` with the panic error and the body's error folded into one `Result`.
    #[doc(hidden)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Flatten<F> {
        #[pin]
        fut: CatchUnwind<F>,
    }
}

impl<T, F: Future<Output = Result<T>>> Future for Flatten<F> {
    type Output = Result<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<T>> {
        self.project().fut.poll(cx).map(|r| r.and_then(core::convert::identity))
    }
}

impl<T, F: Future<Output = Result<T>>> Future for Task<F> {
    type Output = Result<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<T>> {
        let this = self.project();
        let out = core::task::ready!(this.run.poll(cx));
        let name = *this.name;
        Poll::Ready(out.map_err(|e| failed(name, e)))
    }
}

#[cold]
fn failed(name: &'static str, error: TaskError) -> TaskError {
    let error = error.or_task(name).or_trace_id(TraceContext::current_trace_id());
    fail_ambient_group(&error);
    error
}

/// Called when a `#[fallible_task]` fn fails: if the caller runs inside a group task (at any
/// depth), the group records the error as its failure (unless it has one already) and
/// cancels its other tasks. Outside a group it does nothing.
#[doc(hidden)]
pub fn fail_ambient_group(error: &TaskError) {
    crate::group::fail_ambient(error);
}
