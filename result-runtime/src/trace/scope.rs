//! The current trace context: a per-thread slot set for the duration of each poll of a
//! [`TraceScope`] (or of a [`TraceContext::sync_scope`] call).

use std::cell::Cell;
use std::future::Future;

use super::TraceContext;

thread_local! {
    /// The trace context of the task being polled on this thread. A hand-made task-local:
    /// [`TraceScope`] sets it for the duration of each poll and puts the previous value
    /// back, as tokio's `task_local!` does. A plain `Cell` (no borrow flag) is enough: the
    /// value is only ever swapped, never borrowed.
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
    /// Whether `CURRENT` holds a context. `CURRENT` has a destructor, so each access checks
    /// its registration; this flag has none, so the common "no trace" answer (every group
    /// spawn asks) costs one plain thread-local load.
    static HAS_CURRENT: Cell<bool> = const { Cell::new(false) };
}

/// Puts `ctx` in the slot and returns what was there, keeping `HAS_CURRENT` in step.
#[inline]
fn replace(ctx: Option<TraceContext>) -> Option<TraceContext> {
    HAS_CURRENT.with(|h| h.set(ctx.is_some()));
    CURRENT.with(|c| c.replace(ctx))
}

/// Makes `ctx` current until dropped (also when a poll unwinds), then restores the
/// previous one.
pub(crate) struct Entered(Option<TraceContext>);

impl Entered {
    #[inline]
    pub(crate) fn enter(ctx: TraceContext) -> Self {
        Self(replace(Some(ctx)))
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        let previous = self.0.take();
        replace(previous);
    }
}

/// Makes the context in `slot` current until dropped, keeping the previous one in `slot`
/// meanwhile; then swaps them back. A future that owns its context moves it in and out on
/// each poll, where [`Entered`] needs a clone.
pub(crate) struct Swapped<'a> {
    slot: &'a mut Option<TraceContext>,
}

impl<'a> Swapped<'a> {
    #[inline]
    pub(crate) fn enter(slot: &'a mut Option<TraceContext>) -> Self {
        *slot = replace(slot.take());
        Self { slot }
    }
}

impl Drop for Swapped<'_> {
    #[inline]
    fn drop(&mut self) {
        *self.slot = replace(self.slot.take());
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`TraceContext::scope`].
    #[must_use = "futures do nothing unless polled"]
    pub struct TraceScope<F> {
        // Fused: a finished future is dropped inside the poll that finished it, still in
        // this context.
        #[pin]
        fut: futures_util::future::Fuse<F>,
        // `Some` between polls; during one it holds the context that was current before.
        ctx: Option<TraceContext>,
    }
}

impl<F: Future> Future for TraceScope<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let _entered = Swapped::enter(this.ctx);
        this.fut.poll(cx)
    }
}

/// The context of the code running on this thread, if any.
#[inline]
pub(super) fn current() -> Option<TraceContext> {
    if !HAS_CURRENT.with(Cell::get) {
        return None;
    }
    CURRENT.with(|c| {
        let ctx = c.take();
        let copy = ctx.clone();
        c.set(ctx);
        copy
    })
}

/// The current trace id, without cloning the context.
#[inline]
pub(super) fn current_trace_id() -> Option<super::TraceId> {
    current_ids().map(|(trace_id, _)| trace_id)
}

/// The current trace and span ids, if any, without cloning the context.
#[inline]
pub(super) fn current_ids() -> Option<(super::TraceId, super::SpanId)> {
    if !HAS_CURRENT.with(Cell::get) {
        return None;
    }
    CURRENT.with(|c| {
        let ctx = c.take();
        let ids = ctx.as_ref().map(|t| (t.trace_id, t.span_id));
        c.set(ctx);
        ids
    })
}

/// Runs `fut` with `ctx` as the current context.
pub(super) fn scope<F: Future>(ctx: TraceContext, fut: F) -> TraceScope<F> {
    use futures_util::FutureExt as _;
    TraceScope { fut: fut.fuse(), ctx: Some(ctx) }
}

/// Runs `f` with `ctx` as the current context.
#[inline]
pub(super) fn sync_scope<R>(ctx: TraceContext, f: impl FnOnce() -> R) -> R {
    let _entered = Entered::enter(ctx);
    f()
}
