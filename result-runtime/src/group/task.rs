//! What runs inside every group task: the shared group state, the task-local scope that
//! [`fail_ambient`] finds, and the wrapper that turns a user future into a group task.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskCx, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::failure::FirstFailure;
use super::handle::{Slot, TaskHandle};
use super::sync;
use crate::context::Context;
use crate::error::{Result, TaskError};
use crate::panic::catch_unwind;
use crate::trace::{TraceContext, TraceId};

/// The state a group shares with its tasks.
pub(super) struct Shared {
    /// The group's context: a child of the ambient context at creation, with the group's
    /// deadline. Every task runs under it.
    pub(super) ctx: Context,
    /// The winning failure. Set once, *before* the context is cancelled, so a `Cancelled`
    /// caused by it can never be recorded in its place.
    pub(super) failure: FirstFailure,
    /// The concurrency limit, when there is one.
    pub(super) limit: Option<Arc<Semaphore>>,
    /// Collect-all mode: failures do not cancel the group.
    pub(super) collect_all: bool,
    pub(super) name: Option<Cow<'static, str>>,
}

impl Shared {
    /// Records `error` as the group's failure unless one is stored already, then cancels the
    /// group's context with it as the cause. Cancellations are never recorded: they are
    /// consequences of a failure (here or in a parent), not failures of their own.
    pub(super) fn fail(&self, error: &TaskError) {
        if self.collect_all || error.is_cancelled() {
            return;
        }
        if self.failure.record(error) {
            self.ctx.cancel(error.clone());
        }
    }

    /// The error a task's result carries out of the group: named after the task (unless the
    /// error already names the task it came from) and stamped with the spawner's trace id
    /// (unless it already has the trace it happened in).
    fn stamp(
        &self,
        error: TaskError,
        index: usize,
        name: Option<&Cow<'static, str>>,
        trace_id: Option<TraceId>,
    ) -> TaskError {
        // A sibling stopped by the group's failure keeps the failure's name (as its cause)
        // and is known by its index; naming each of thousands of them is most of what a
        // fail-fast stop would otherwise cost.
        let error = if error.task().is_some() || error.is_cancelled() {
            error
        } else {
            match name {
                Some(name) => error.or_task(name.clone()),
                None => {
                    error.or_task(format!("{}[{index}]", self.name.as_deref().unwrap_or("group")))
                }
            }
        };
        error.or_trace_id(trace_id)
    }
}

/// The task-local a group task runs in: which group, which task, and where its handle
/// looks for its outcome.
struct TaskScope {
    shared: Arc<Shared>,
    index: usize,
    name: Option<Cow<'static, str>>,
    slot: sync::Arc<Slot>,
}

impl Drop for TaskScope {
    /// A task torn down before it ended (aborted with its group) still tells its handle:
    /// `Cancelled`, with the group's cause.
    fn drop(&mut self) {
        if has_handle(&self.slot) && !self.slot.is_set() {
            self.slot.set(Err(TaskError::cancelled(self.shared.ctx.cause())));
        }
    }
}

/// Whether a [`TaskHandle`] for the task still exists. Handles are the only other owners of
/// the slot and are made only by `spawn`, so once the count is one nobody can ever read the
/// outcome: most tasks are spawned with their handle dropped, and skip storing it and the
/// wake-up.
fn has_handle(slot: &sync::Arc<Slot>) -> bool {
    sync::Arc::strong_count(slot) > 1
}

tokio::task_local! {
    static TASK: TaskScope;
}

/// Records `error` as the failure of the group the current task runs in (unless the group
/// has one already) and cancels the group. Outside a group task it does nothing.
///
/// This is what `#[fallible_task]` calls when its function fails, at any depth below a group
/// task: the group fails as soon as the error happens, not when it has bubbled up to the
/// task's top. The innermost group wins: a function running in a task of a nested group fails
/// that nested group (whose `join` then returns the error to the outer task). A `Cancelled`
/// error is ignored, and so is every error in collect-all mode (there, errors are only
/// collected from the tasks' results).
pub(crate) fn fail_ambient(error: &TaskError) {
    let _ = TASK.try_with(|scope| {
        let error = scope.shared.stamp(
            error.clone(),
            scope.index,
            scope.name.as_ref(),
            TraceContext::current_trace_id(),
        );
        scope.shared.fail(&error);
    });
}

/// Spawns `fut` into `set` as task `index` of the group.
///
/// The task: inherits the spawner's trace context; waits for a slot of the limit (unless
/// `permit` is one already) *inside* the group's context, so a cancelled group wakes it;
/// runs `fut` under the group's context (dropped at its next await when the group is
/// cancelled or its deadline passes); turns a panic into a `Panicked` error; stamps its error
/// with its name and trace id; records a failure and cancels the group.
///
/// The layers are hand-written futures rather than `async` blocks: a block that awaits a
/// future it captured stores that future twice, and the task's size is what every spawn
/// allocates and moves.
pub(super) fn spawn_task<T, F>(
    set: &mut JoinSet<(usize, Result<T>)>,
    shared: &Arc<Shared>,
    index: usize,
    name: Option<Cow<'static, str>>,
    permit: Option<OwnedSemaphorePermit>,
    fut: F,
) -> TaskHandle
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    super::metrics::spawned(shared.name.as_ref());
    let slot = sync::Arc::new(Slot::default());
    let trace = TraceContext::current();
    let acquire = match (&permit, &shared.limit) {
        (None, Some(limit)) => Some(acquire(limit.clone())),
        _ => None,
    };
    let work = Permitted { fut, permit, acquire };
    let finish = Finish {
        inner: catch_unwind(shared.ctx.run(work)),
        trace_id: trace.as_ref().map(|t| t.trace_id),
    };
    let scope = TaskScope { shared: shared.clone(), index, name, slot: slot.clone() };
    let task = TASK.scope(scope, finish);
    match trace {
        Some(trace) => set.spawn(trace.scope(task)),
        None => set.spawn(task),
    };
    TaskHandle::new(index, slot)
}

type Acquire = Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>;

fn acquire(limit: Arc<Semaphore>) -> Acquire {
    Box::pin(async move {
        limit.acquire_owned().await.expect("a group never closes its limit semaphore")
    })
}

pin_project_lite::pin_project! {
    /// The user's future, started once a slot of the limit is held; the slot is given back
    /// as soon as the future ends (or is dropped).
    struct Permitted<F> {
        #[pin]
        fut: F,
        permit: Option<OwnedSemaphorePermit>,
        acquire: Option<Acquire>,
    }
}

impl<F: Future> Future for Permitted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Some(acquire) = this.acquire {
            let permit = ready!(acquire.as_mut().poll(cx));
            *this.permit = Some(permit);
            *this.acquire = None;
        }
        let out = ready!(this.fut.poll(cx));
        *this.permit = None;
        Poll::Ready(out)
    }
}

pin_project_lite::pin_project! {
    /// Settles the task's result inside its scope: stamps the error, records a failure,
    /// tells the handle.
    struct Finish<F> {
        #[pin]
        inner: F,
        trace_id: Option<TraceId>,
    }
}

impl<F, T> Future for Finish<F>
where
    F: Future<Output = Result<Result<T>>>,
{
    type Output = (usize, Result<T>);

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx)).and_then(|r| r);
        let trace_id = *this.trace_id;
        let settled = TASK.with(|s| {
            super::metrics::finished(s.shared.name.as_ref(), &result);
            let result = result.map_err(|e| {
                let e = s.shared.stamp(e, s.index, s.name.as_ref(), trace_id);
                s.shared.fail(&e);
                e
            });
            if has_handle(&s.slot) {
                s.slot.set(result.as_ref().map(|_| ()).map_err(Clone::clone));
            }
            (s.index, result)
        });
        Poll::Ready(settled)
    }
}
