//! What runs inside every group task: the shared group state, the task-local scope that
//! [`fail_ambient`] finds, and the wrapper that turns a user future into a group task.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::handle::{Slot, SlotGuard, TaskHandle};
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
    pub(super) failure: OnceLock<TaskError>,
    /// The concurrency limit, when there is one.
    pub(super) limit: Option<Arc<Semaphore>>,
    /// Collect-all mode: failures do not cancel the group.
    pub(super) collect_all: bool,
    pub(super) name: Option<Cow<'static, str>>,
}

impl Shared {
    pub(super) fn new(ctx: Context) -> Self {
        Self { ctx, failure: OnceLock::new(), limit: None, collect_all: false, name: None }
    }

    /// Records `error` as the group's failure unless one is stored already, then cancels the
    /// group's context with it as the cause. Cancellations are never recorded: they are
    /// consequences of a failure (here or in a parent), not failures of their own.
    pub(super) fn fail(&self, error: &TaskError) {
        if self.collect_all || error.is_cancelled() {
            return;
        }
        if self.failure.set(error.clone()).is_ok() {
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
        let error = if error.task().is_some() {
            error
        } else {
            match name {
                Some(name) => error.with_task(name.clone()),
                None => {
                    error.with_task(format!("{}[{index}]", self.name.as_deref().unwrap_or("group")))
                }
            }
        };
        error.or_trace_id(trace_id)
    }
}

/// The task-local a group task runs in: which group, which task.
struct TaskScope {
    shared: Arc<Shared>,
    index: usize,
    name: Option<Cow<'static, str>>,
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
    let slot = Arc::new(Slot::default());
    let guard = SlotGuard { slot: slot.clone(), cause: Some(shared.ctx.clone()) };
    let trace = TraceContext::current();
    let trace_id = trace.map(|t| t.trace_id);
    let ctx = shared.ctx.clone();
    let limit = if permit.is_none() { shared.limit.clone() } else { None };
    let scope = TaskScope { shared: shared.clone(), index, name };

    let work = async move {
        let _permit = match (permit, limit) {
            (Some(permit), _) => Some(permit),
            (None, Some(limit)) => {
                Some(limit.acquire_owned().await.expect("a group never closes its limit semaphore"))
            }
            (None, None) => None,
        };
        fut.await
    };
    let task = TASK.scope(scope, async move {
        let result = match catch_unwind(ctx.run(work)).await {
            Ok(result) => result,
            Err(panicked) => Err(panicked),
        };
        let result = result.map_err(|e| {
            TASK.with(|s| {
                let e = s.shared.stamp(e, s.index, s.name.as_ref(), trace_id);
                s.shared.fail(&e);
                e
            })
        });
        guard.finish(result.as_ref().map(|_| ()).map_err(Clone::clone));
        (index, result)
    });
    match trace {
        Some(trace) => set.spawn(trace.scope(task)),
        None => set.spawn(task),
    };
    TaskHandle::new(index, slot)
}
