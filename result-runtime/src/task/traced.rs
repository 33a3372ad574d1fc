//! What `#[traced]` expands to: the body runs in a trace context, inside a `tracing` span
//! entered for each poll (never held across an `.await`), and a `Result<T, TaskError>`
//! leaves with its error stamped with the trace id. Reached only through the hidden
//! `__private` module; not public API.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use crate::error::Result;
use crate::trace::{Swapped, TraceContext, TraceId};

/// Runs an async body in `trace`, inside `span`, then passes the output and the trace id to
/// `stamp`.
#[doc(hidden)]
pub fn traced<F, C>(trace: TraceContext, span: tracing::Span, fut: F, stamp: C) -> Traced<F, C>
where
    F: Future,
    C: FnOnce(F::Output, TraceId) -> F::Output,
{
    Traced { trace: Some(trace), span, fut, stamp: Some(stamp) }
}

pin_project_lite::pin_project! {
    /// The future [`traced`] returns.
    #[doc(hidden)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Traced<F, C> {
        // `Some` between polls; during one it holds the context that was current before
        // (moved in and out, not cloned per poll).
        trace: Option<TraceContext>,
        span: tracing::Span,
        #[pin]
        fut: F,
        stamp: Option<C>,
    }
}

impl<F, C> Future for Traced<F, C>
where
    F: Future,
    C: FnOnce(F::Output, TraceId) -> F::Output,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        let this = self.project();
        let span = &*this.span;
        let fut = this.fut;
        let out = {
            let _scope = Swapped::enter(this.trace);
            let _entered = span.enter();
            core::task::ready!(fut.poll(cx))
        };
        let stamp = this.stamp.take().expect("`Traced` polled after completion");
        let trace_id = this.trace.as_ref().expect("back after the poll").trace_id;
        Poll::Ready(stamp(out, trace_id))
    }
}

/// Opens a step's span with `make` (its `span!`); exported (under `otel`), the span has
/// `trace`'s ids.
#[doc(hidden)]
#[inline]
pub fn traced_span(trace: &TraceContext, make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    #[cfg(feature = "otel")]
    {
        use crate::otel::Parent;
        // The step's parent is the context it is a child of, when no exported span of its
        // trace encloses it: a context no span stands for (scoped from a message's
        // `traceparent`, say) must not make the step a root.
        let parent = match TraceContext::current_ids() {
            Some((trace_id, span_id)) if trace_id == trace.trace_id && span_id != trace.span_id => {
                Parent::Local(span_id)
            }
            _ => Parent::None,
        };
        crate::otel::with_ids(trace, parent, make)
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = trace;
        make()
    }
}

/// Runs a sync body in `trace`, inside `span`.
#[doc(hidden)]
pub fn traced_sync<R>(trace: &TraceContext, span: &tracing::Span, f: impl FnOnce() -> R) -> R {
    trace.sync_scope(|| span.in_scope(f))
}

/// Stamps a `Result<T, TaskError>` with the trace id.
#[doc(hidden)]
pub struct Stamp;
/// Leaves any other output alone.
#[doc(hidden)]
pub struct Keep;

/// Picked first by `(&out).__rr_stamp()` for `Result<T, TaskError>` (autoref
/// specialisation: the expansion knows the concrete output type).
#[doc(hidden)]
pub trait ViaStamp {
    /// What to do with the output.
    fn __rr_stamp(&self) -> Stamp {
        Stamp
    }
}
impl<T> ViaStamp for Result<T> {}

/// The fallback of [`ViaStamp`] (one more autoref away).
#[doc(hidden)]
pub trait ViaKeep {
    /// What to do with the output.
    fn __rr_stamp(&self) -> Keep {
        Keep
    }
}
impl<T> ViaKeep for &T {}

impl Stamp {
    /// Stamps the error (unless it carries a trace id already).
    #[allow(clippy::unused_self)]
    pub fn stamp<T>(self, out: Result<T>, trace_id: TraceId) -> Result<T> {
        out.map_err(|e| e.or_trace_id(Some(trace_id)))
    }
}

impl Keep {
    /// Returns the output unchanged.
    #[allow(clippy::unused_self)]
    pub fn stamp<T>(self, out: T, _trace_id: TraceId) -> T {
        out
    }
}
