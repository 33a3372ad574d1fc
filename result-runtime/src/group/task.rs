//! What runs inside every group task: the shared group state, the task-local scope that
//! [`fail_ambient`] finds, and the wrapper that turns a user future into a group task.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskCx, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::failure::FirstFailure;
use super::handle::{Slot, TaskHandle, TaskInfo};
use super::set::{Core, TaskSet};
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
    /// The context the tasks see as ambient ([`Context::current`]): a child of `ctx`.
    /// [`Group::shutdown`](super::Group::shutdown) cancels it alone, cooperatively: work
    /// that watches it stops, but the tasks' futures are raced against `ctx` only, so they
    /// are not dropped until `ctx` ends (a failure, the deadline, the grace running out).
    pub(super) soft: Context,
    /// The winning failure. Set once, *before* the context is cancelled, so a `Cancelled`
    /// caused by it can never be recorded in its place.
    pub(super) failure: FirstFailure,
    /// The concurrency limit, when there is one.
    pub(super) limit: Option<Arc<Semaphore>>,
    /// Collect-all mode: failures do not cancel the group.
    pub(super) collect_all: bool,
    /// Supervisor mode: failures do not cancel the group; each goes to this handler once.
    pub(super) supervisor: Option<Supervisor>,
    /// Discarding mode: outputs are dropped as tasks finish.
    pub(super) discard: bool,
    pub(super) name: Option<Cow<'static, str>>,
    /// When the group was built (for [`dump`](super::dump)).
    pub(super) created: tokio::time::Instant,
    /// The spawn lock: the next index, and the group's tasks for [`dump`](super::dump).
    /// Every spawn takes it once (it orders the indexes); the tasks themselves never touch
    /// it, and only `dump` reads the list.
    pub(super) spawns: sync::Mutex<Spawns>,
    /// The task this group was built in, if it was built inside a group task: its parent
    /// in the dump's tree.
    #[cfg(not(loom))]
    pub(super) parent_task: Option<std::sync::Weak<Slot>>,
}

/// A supervisor group's failure handler.
pub(super) type Supervisor = Arc<dyn Fn(&TaskError) + Send + Sync>;

impl Shared {
    /// Records `error` as the group's failure unless one is stored already, then cancels the
    /// group's context with it as the cause. Cancellations are never recorded: they are
    /// consequences of a failure (here or in a parent), not failures of their own.
    pub(super) fn fail(&self, error: &TaskError) {
        if !self.fail_fast() || error.is_cancelled() {
            return;
        }
        self.fail_own(error);
    }

    /// Whether a task's failure fails the group (neither collect-all nor supervisor mode).
    pub(super) fn fail_fast(&self) -> bool {
        !self.collect_all && self.supervisor.is_none()
    }

    /// Records `error` as the group's own failure whatever the mode (a supervisor whose
    /// handler panicked, [`Group::cancel`](super::Group::cancel) in supervisor mode), then
    /// cancels the group.
    pub(super) fn fail_own(&self, error: &TaskError) {
        if self.failure.record(error) {
            self.ctx.cancel(error.clone());
        }
    }

    /// Hands a task's failure to the supervisor, once (called only where a task's result
    /// is settled). A handler that panics fails the supervisor itself: the panic becomes
    /// the group's `Panicked` failure and the group is cancelled.
    pub(super) fn supervise(&self, error: &TaskError) {
        let Some(handler) = &self.supervisor else { return };
        if error.is_cancelled() {
            return;
        }
        if let Err(panic) = crate::panic::catch_unwind_sync(|| handler(error)) {
            self.fail_own(&panic);
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

/// What the spawn lock guards.
#[derive(Default)]
pub(super) struct Spawns {
    /// The index the next spawn gets (also the number of tasks spawned so far).
    pub(super) next: usize,
    /// Weak references to the tasks, for [`dump`](super::dump) alone: pushed at spawn and
    /// pruned of ended tasks there once the list has doubled since the last pruning
    /// (amortised O(1) per spawn, bounded by twice the live tasks).
    #[cfg(not(loom))]
    pub(super) live: Vec<std::sync::Weak<Slot>>,
}

impl Spawns {
    #[cfg(not(loom))]
    fn track(&mut self, slot: &sync::Arc<Slot>) {
        let live = &mut self.live;
        if live.len() == live.capacity() && live.len() >= 16 {
            live.retain(|t| t.strong_count() > 0);
            let n = live.len();
            live.reserve(n);
        }
        live.push(sync::Arc::downgrade(slot));
    }
}

/// What a group task hands back to the group's [`TaskSet`].
pub(super) struct Done<T> {
    pub(super) index: usize,
    pub(super) result: Result<T>,
    /// The task's future was dropped because the group's context ended (a failure, the
    /// deadline, a shutdown's grace running out), not finished by itself.
    pub(super) stopped: bool,
}

/// The task-local a group task runs in: which group, which task, and where its handle
/// looks for its outcome.
struct TaskScope {
    shared: Arc<Shared>,
    index: usize,
    slot: sync::Arc<Slot>,
}

impl TaskScope {
    fn name(&self) -> Option<&Cow<'static, str>> {
        self.slot.info.as_ref().and_then(|i| i.name.as_ref())
    }
}

/// The task the caller runs in, when it is a group task (a group built there is its child
/// in the dump).
#[cfg(not(loom))]
pub(super) fn current_task() -> Option<std::sync::Weak<Slot>> {
    TASK.try_with(|s| sync::Arc::downgrade(&s.slot)).ok()
}

impl Drop for TaskScope {
    /// A task torn down before it ended (aborted with its group) still tells its handle:
    /// `Cancelled`, with the group's cause.
    fn drop(&mut self) {
        if let Some(info) = &self.slot.info {
            info.ended.store(true, std::sync::atomic::Ordering::Relaxed);
        }
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
            scope.name(),
            TraceContext::current_trace_id(),
        );
        scope.shared.fail(&error);
    });
}

/// Spawns `fut` as task `index` of the group, into `set`.
///
/// The task: inherits the spawner's trace context; waits for a slot of the limit (unless
/// `permit` is one already) *inside* the group's context, so a cancelled group wakes it;
/// runs `fut` under the group's context (dropped at its next await when the group is
/// cancelled or its deadline passes); turns a panic into a `Panicked` error; stamps its error
/// with its name and trace id; records a failure and cancels the group; delivers its
/// outcome to `set`.
///
/// The layers are hand-written futures rather than `async` blocks: a block that awaits a
/// future it captured stores that future twice, and the task's size is what every spawn
/// allocates and moves.
///
/// # Panics
/// Outside a tokio runtime, as `tokio::spawn`, before anything is counted or tracked.
pub(super) fn spawn_task<T, F>(
    set: &TaskSet<T>,
    spawns: &mut Spawns,
    shared: &Arc<Shared>,
    name: Option<Cow<'static, str>>,
    permit: Option<OwnedSemaphorePermit>,
    fut: F,
) -> TaskHandle
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().unwrap_or_else(|e| panic!("{e}"));
    let index = spawns.next;
    super::metrics::spawned(shared.name.as_ref());
    let trace = TraceContext::current();
    let acquire = match (&permit, &shared.limit) {
        (None, Some(limit)) => Some(acquire(limit.clone())),
        _ => None,
    };
    let slot = sync::Arc::new(Slot::with_info(TaskInfo {
        index,
        name,
        spawned: tokio::time::Instant::now(),
        trace_id: trace.as_ref().map(|t| t.trace_id),
        waiting: std::sync::atomic::AtomicBool::new(acquire.is_some()),
        ended: std::sync::atomic::AtomicBool::new(false),
    }));
    #[cfg(not(loom))]
    spawns.track(&slot);
    let work = Permitted { fut, permit, acquire };
    let finish = Finish {
        inner: catch_unwind(Guarded {
            fut: futures_util::FutureExt::fuse(shared.soft.scope(work)),
            started: false,
            wait: None,
        }),
        core: Some(set.core().clone()),
        index,
    };
    let scope = TaskScope { shared: shared.clone(), index, slot: slot.clone() };
    let task = TASK.scope(scope, finish);
    // Under `otel` the task's spans must hang under the spawner's, or each `#[traced]` task
    // would start a trace of its own in the backend; without it, spans stay as they were.
    #[cfg(feature = "otel")]
    let task = tracing::Instrument::in_current_span(task);
    match trace {
        Some(trace) => set.spawn(&runtime, trace.scope(task)),
        None => set.spawn(&runtime, task),
    }
    spawns.next += 1;
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
            let _ = TASK.try_with(|s| {
                if let Some(info) = &s.slot.info {
                    info.waiting.store(false, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        let out = ready!(this.fut.poll(cx));
        *this.permit = None;
        Poll::Ready(out)
    }
}

pin_project_lite::pin_project! {
    /// Settles the task's result inside its scope: stamps the error, records a failure,
    /// tells the handle, delivers the outcome to the group. Dropped without having
    /// delivered (the runtime shutting down drops unfinished tasks), it still delivers the
    /// task's index, `Cancelled`: the group's count of running tasks never goes wrong.
    struct Finish<F, T> {
        #[pin]
        inner: F,
        core: Option<Arc<Core<T>>>,
        index: usize,
    }

    impl<F, T> PinnedDrop for Finish<F, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(core) = this.core.take() {
                let cause = TASK.try_with(|s| s.shared.ctx.cause()).ok().flatten();
                core.deliver(Done {
                    index: *this.index,
                    result: Err(TaskError::cancelled(cause)),
                    stopped: true,
                });
            }
        }
    }
}

impl<F, T> Future for Finish<F, T>
where
    F: Future<Output = Result<(Result<T>, bool)>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = self.project();
        let (result, stopped) = match ready!(this.inner.poll(cx)) {
            Ok(done) => done,
            Err(panic) => (Err(panic), false),
        };
        let settled = TASK.with(|s| {
            let trace_id = s.slot.info.as_ref().and_then(|i| i.trace_id);
            super::metrics::finished(s.shared.name.as_ref(), &result);
            let result = result.map_err(|e| {
                let e = s.shared.stamp(e, s.index, s.name(), trace_id);
                s.shared.fail(&e);
                s.shared.supervise(&e);
                e
            });
            if has_handle(&s.slot) {
                s.slot.set(result.as_ref().map(|_| ()).map_err(Clone::clone));
            }
            // Ended before the group can see the outcome: a dump after `join` never lists it.
            if let Some(info) = &s.slot.info {
                info.ended.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Done { index: s.index, result, stopped }
        });
        if let Some(core) = this.core.take() {
            core.deliver(settled);
        }
        Poll::Ready(())
    }
}

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project_lite::pin_project! {
    /// [`Context::run`] with two contexts: the future runs with the group's `soft` context
    /// ambient (inside `fut`, a [`Context::scope`]) but is raced against `ctx` only, so a
    /// shutdown's cooperative cancellation (of `soft`) reaches the work without dropping
    /// it. Outputs whether the race, not the future, ended it. `ctx` is read from the
    /// task's scope rather than kept here: a clone per task would bounce the context's
    /// reference count between the spawning thread and the workers.
    struct Guarded<F> {
        // Fused, so that a future stopped by the race is dropped right there, inside the
        // task's panic capture and before the outcome is delivered: once `join` has it,
        // nothing of the task's future is left.
        #[pin]
        fut: futures_util::future::Fuse<F>,
        started: bool,
        // Made only when the future first returns Pending.
        wait: Option<Wait>,
    }
}

impl<F, T> Future for Guarded<F>
where
    F: Future<Output = Result<T>>,
{
    type Output = (Result<T>, bool);

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.started {
            *this.started = true;
            if let Some(e) = TASK.with(|s| s.shared.ctx.error()) {
                this.fut.set(futures_util::future::Fuse::terminated());
                return Poll::Ready((Err(e), true));
            }
        }
        if let Poll::Ready(out) = this.fut.as_mut().poll(cx) {
            return Poll::Ready((out, false));
        }
        let wait = this.wait.get_or_insert_with(|| {
            let ctx = TASK.with(|s| s.shared.ctx.clone());
            Box::pin(async move { ctx.cancelled().await })
        });
        if wait.as_mut().poll(cx).is_ready() {
            let e =
                TASK.with(|s| s.shared.ctx.error()).unwrap_or_else(|| TaskError::cancelled(None));
            this.fut.set(futures_util::future::Fuse::terminated());
            return Poll::Ready((Err(e), true));
        }
        Poll::Pending
    }
}

/// Runs `fut` shielded from a [`Group::shutdown`](super::Group::shutdown)'s cooperative
/// cancellation: inside it, the ambient context ([`Context::current`]) is the group's own
/// context instead of the tasks' cooperative one, so work raced against the ambient context
/// is not stopped when the shutdown begins. The grace still bounds it: once the grace runs
/// out (or the group fails, or its deadline passes) the whole task is dropped, shield
/// included. Outside a group task it runs `fut` under the ambient context as it is (a
/// fresh root context when there is none).
///
/// Called inside a task of a nested group, it shields from *that* group's shutdown; an
/// outer group's shutdown cancels the nested group's context, which stops the nested
/// group's tasks at once (the outer task's own code gets the grace).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use result_runtime::{context::Context, group::{self, Group}};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let g = Group::new();
/// g.spawn(async {
///     Context::current().unwrap().cancelled().await; // the shutdown began
///     // flush, under the shield: not interrupted by the shutdown, bounded by the grace
///     group::shield(async {
///         let ctx = Context::current().unwrap();
///         ctx.run(async { tokio::time::sleep(Duration::from_millis(50)).await; Ok(()) }).await
///     })
///     .await
/// });
/// let report = g.shutdown(Duration::from_secs(1)).await;
/// assert_eq!(report.finished.len(), 1);
/// assert!(report.aborted.is_empty());
/// # }
/// ```
///
/// # Cancel safety
/// As cancel safe as `fut`: dropping the returned future drops `fut`.
pub fn shield<F: Future>(fut: F) -> crate::context::Scope<F> {
    let ctx = TASK.try_with(|s| s.shared.ctx.clone()).ok().or_else(Context::current);
    match ctx {
        Some(ctx) => ctx.scope(fut),
        None => Context::new().scope(fut),
    }
}
