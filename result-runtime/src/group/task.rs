//! What runs inside every group task: the shared group state, the task-local scope that
//! [`fail_ambient`] finds, and the wrapper that turns a user future into a group task.

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskCx, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::failure::FirstFailure;
use super::handle::{Slot, Slots, TaskHandle, CHUNK};
use super::set::{Core, TaskSet};
use super::sync;
use super::watch::Watch;
use crate::context::Context;
use crate::error::{Result, TaskError};
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
    pub(super) parent_task: Option<TaskRef>,
    /// The one wait on `ctx` that wakes the pending tasks when it ends.
    pub(super) watch: Watch,
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

    /// Wakes every parked task (the group's context ended; see [`Watch`]). The wakers are
    /// taken under the locks and woken outside them.
    pub(super) fn sweep(&self) {
        let chunks = sync::lock(&self.spawns).chunks();
        let wakers: Vec<_> =
            chunks.iter().flat_map(|chunk| chunk.slots().filter_map(Slot::unpark)).collect();
        drop(chunks);
        for waker in wakers {
            waker.wake();
        }
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
        name: impl FnOnce() -> Option<Cow<'static, str>>,
        trace_id: Option<TraceId>,
    ) -> TaskError {
        // A sibling stopped by the group's failure keeps the failure's name (as its cause)
        // and is known by its index; naming each of thousands of them is most of what a
        // fail-fast stop would otherwise cost.
        let error = if error.task().is_some() || error.is_cancelled() {
            error
        } else {
            match name() {
                Some(name) => error.or_task(name),
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
    /// The chunk of slots the next spawns take (`next % CHUNK` is the next one's); `None`
    /// before the first spawn and once a chunk is used up.
    chunk: Option<sync::Arc<Slots>>,
    /// Weak references to the chunks, for [`dump`](super::dump) alone: pushed when a chunk
    /// is made and pruned of dropped ones there once the list has doubled since the last
    /// pruning (amortised O(1) per chunk, bounded by twice the live chunks).
    #[cfg(not(loom))]
    pub(super) live: Vec<std::sync::Weak<Slots>>,
    /// Under loom, strong references (loom's `Arc` has no `Weak`), for the sweep alone.
    #[cfg(loom)]
    live: Vec<sync::Arc<Slots>>,
    /// The tokio handles of the tasks on a multi-thread runtime, dropped by the group (its
    /// `Drop`), so that a finished task's memory is freed by the thread that allocated it,
    /// as `JoinSet`'s `join_next` does: freed by the worker that ran the task, each task
    /// cell went back to the spawning thread's malloc arena from another core (its lock,
    /// and memory the next spawn gets cold), which was most of the 2-worker gap to
    /// `JoinSet` (notes/group-perf2.md). Never used to wait or abort: the group's context
    /// stops the tasks. Pruned of finished tasks once it has doubled while most of them
    /// were collected (a stream, a discarding group), so its memory follows the held tasks.
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Spawns {
    /// Keeps a new task's tokio handle (see `handles`); `held` is how many tasks the group
    /// holds (not collected yet).
    fn keep(&mut self, handle: tokio::task::JoinHandle<()>, held: usize) {
        let handles = &mut self.handles;
        if handles.len() == handles.capacity() && handles.len() >= 64 && held < handles.len() / 2 {
            handles.retain(|h| !h.is_finished());
            let n = handles.len();
            handles.reserve(n);
        }
        handles.push(handle);
    }

    /// The tasks' tokio handles, for the group to drop.
    pub(super) fn take_handles(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        std::mem::take(&mut self.handles)
    }

    /// The chunk holding the slot of the next spawn (made when the last one is used up),
    /// twice: for the task and for its handle.
    fn chunk(&mut self) -> (sync::Arc<Slots>, sync::Arc<Slots>) {
        if self.chunk.is_none() || self.next.is_multiple_of(CHUNK) {
            let chunk = sync::Arc::new(Slots::new(self.next - self.next % CHUNK));
            #[cfg(not(loom))]
            self.track(&chunk);
            #[cfg(loom)]
            self.live.push(chunk.clone());
            self.chunk = Some(chunk);
        }
        let chunk = self.chunk.as_ref().expect("made above");
        let task = chunk.clone();
        // The last slot's handle takes the group's reference: a used-up chunk lives only as
        // long as its tasks and handles.
        let handle = if self.next % CHUNK == CHUNK - 1 {
            self.chunk.take().expect("made above")
        } else {
            chunk.clone()
        };
        (task, handle)
    }

    /// The chunks whose tasks may still run, for the cancellation sweep.
    fn chunks(&self) -> Vec<sync::Arc<Slots>> {
        #[cfg(not(loom))]
        return self.live.iter().filter_map(std::sync::Weak::upgrade).collect();
        #[cfg(loom)]
        return self.live.clone();
    }

    #[cfg(not(loom))]
    fn track(&mut self, chunk: &sync::Arc<Slots>) {
        let live = &mut self.live;
        if live.len() == live.capacity() && live.len() >= 16 {
            live.retain(|t| t.strong_count() > 0);
            let n = live.len();
            live.reserve(n);
        }
        live.push(sync::Arc::downgrade(chunk));
    }
}

/// A task as the dump knows it: its chunk of slots and its index.
#[cfg(not(loom))]
pub(super) type TaskRef = (std::sync::Weak<Slots>, usize);

/// What a group task hands back to the group's [`TaskSet`].
pub(super) struct Done<T> {
    pub(super) index: usize,
    pub(super) result: Result<T>,
    /// The task's future was dropped because the group's context ended (a failure, the
    /// deadline, a shutdown's grace running out), not finished by itself.
    pub(super) stopped: bool,
}

/// What a group task is, for [`fail_ambient`], [`shield`], the dump and its own handle:
/// which group, which task, and where its handle looks for its outcome. Moved into
/// [`TASK`] for each poll of the task.
struct TaskScope {
    shared: Arc<Shared>,
    index: usize,
    /// The chunk holding the task's slot.
    slots: sync::Arc<Slots>,
}

impl TaskScope {
    fn slot(&self) -> &Slot {
        self.slots.slot(self.index)
    }

    /// The task's name, for its error (under the slot's lock: only failures ask).
    fn name(&self) -> Option<Cow<'static, str>> {
        self.slot().name()
    }

    /// The outcome of a task torn down before it ended: `Cancelled`, with the group's cause,
    /// told to its handle too.
    fn torn_down(&self) -> TaskError {
        let cause = self.shared.ctx.cause();
        self.ended();
        let slot = self.slot();
        if slot.has_handle() && !slot.is_set() {
            slot.set(Err(TaskError::cancelled(cause.clone())));
        }
        TaskError::cancelled(cause)
    }

    /// Ended before the group can see the outcome: a dump after `join` never lists it.
    fn ended(&self) {
        self.slot().ended.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

thread_local! {
    /// The scope of the group task being polled on this thread: a hand-made task-local. Each
    /// poll moves the task's scope in and back out (also when the poll unwinds), as tokio's
    /// `task_local!` does, but a `Cell` needs no borrow flag and the task no extra layer.
    static TASK: Cell<Option<TaskScope>> = const { Cell::new(None) };
}

/// Puts a task's scope in [`TASK`] until dropped, then puts it back where it came from.
struct InTask<'a> {
    scope: &'a mut Option<TaskScope>,
}

impl<'a> InTask<'a> {
    fn enter(scope: &'a mut Option<TaskScope>) -> Self {
        TASK.with(|t| t.swap(Cell::from_mut(scope)));
        Self { scope }
    }
}

impl Drop for InTask<'_> {
    fn drop(&mut self) {
        TASK.with(|t| t.swap(Cell::from_mut(self.scope)));
    }
}

/// Runs `f` on the scope of the group task being polled on this thread (`None` outside
/// one). The scope is moved out for the call and back after it, also when `f` unwinds.
fn with_scope<R>(f: impl FnOnce(&TaskScope) -> R) -> Option<R> {
    struct PutBack<'a>(&'a Cell<Option<TaskScope>>, Option<TaskScope>);
    impl Drop for PutBack<'_> {
        fn drop(&mut self) {
            self.0.set(self.1.take());
        }
    }
    TASK.try_with(|t| {
        let back = PutBack(t, Some(t.take()?));
        back.1.as_ref().map(f)
    })
    .ok()
    .flatten()
}

/// The task the caller runs in, when it is a group task (a group built there is its child
/// in the dump).
#[cfg(not(loom))]
pub(super) fn current_task() -> Option<TaskRef> {
    with_scope(|s| (sync::Arc::downgrade(&s.slots), s.index))
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
    let _ = with_scope(|scope| {
        let error = scope.shared.stamp(
            error.clone(),
            scope.index,
            || scope.name(),
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
/// All of that is one hand-written future ([`GroupTask`]) rather than a layer per concern:
/// each layer would be moved at every construction on the way to the runtime, and the
/// task's size is what every spawn allocates and moves.
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
    let limit = match (permit, &shared.limit) {
        (Some(permit), _) => Limit::Held(permit),
        (None, Some(limit)) => Limit::Waiting(acquire(limit.clone())),
        (None, None) => Limit::Free,
    };
    let (slots, handle_slots) = spawns.chunk();
    let slot = slots.slot(index);
    let age = tokio::time::Instant::now().saturating_duration_since(shared.created);
    slot.take(
        u64::try_from(age.as_nanos()).unwrap_or(u64::MAX),
        name,
        TraceContext::current(),
        matches!(limit, Limit::Waiting(_)),
    );
    slot.expect_handle();
    let task = GroupTask {
        fut: Some(fut),
        limit,
        scope: Some(TaskScope { shared: shared.clone(), index, slots }),
        core: Some(set.core().clone()),
        started: false,
        parked: false,
    };
    // Under `otel` the task's spans must hang under the spawner's, or each `#[traced]` task
    // would start a trace of its own in the backend; without it, spans stay as they were.
    #[cfg(feature = "otel")]
    let task = tracing::Instrument::in_current_span(task);
    let joined = set.spawn(&runtime, task);
    // One thread frees what it allocated anyway, and freeing the cell while the task has
    // just run is cheaper than a cold pass at the end (3 misses a task, cachegrind).
    if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread {
        spawns.keep(joined, set.len());
    }
    spawns.next += 1;
    TaskHandle::new(index, handle_slots)
}

type Acquire = Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>;

fn acquire(limit: Arc<Semaphore>) -> Acquire {
    Box::pin(async move {
        limit.acquire_owned().await.expect("a group never closes its limit semaphore")
    })
}

/// Where a task stands with the group's limit.
enum Limit {
    /// No limit.
    Free,
    /// Waiting for a slot: the user's future is not started before it has one.
    Waiting(Acquire),
    /// Holding a slot, given back as soon as the future ends (or is dropped).
    Held(#[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit),
}

pin_project_lite::pin_project! {
    /// A group task: the user's future with everything the group adds, in one future.
    ///
    /// Each poll makes the spawner's trace context current and the task's scope findable
    /// ([`TASK`]); runs the future under the group's `soft` context (ambient: what
    /// [`Context::current`] gives inside) but races it against `ctx` only, so a shutdown's
    /// cooperative cancellation (of `soft`) reaches the work without dropping it; catches
    /// a panic in it. Once it ends, the task settles its result: stamps the error, records
    /// a failure, tells the handle, delivers the outcome to the group.
    ///
    /// Dropped without having delivered (the runtime shutting down drops unfinished
    /// tasks), it still delivers the task's index, `Cancelled`: the group's count of running
    /// tasks never goes wrong.
    struct GroupTask<F, T> {
        // `None` once the future ended or was stopped: it is dropped right there, inside
        // the task's scopes and panic capture and before the outcome is delivered, so once
        // `join` has the outcome nothing of the task's future is left.
        #[pin]
        fut: Option<F>,
        limit: Limit,
        // `Some` until settled (moved into `TASK` while the future is polled).
        scope: Option<TaskScope>,
        // `Some` until delivered.
        core: Option<Arc<Core<T>>>,
        started: bool,
        // The task's waker is parked in its slot (it returned Pending): dropped from there
        // once the task ends.
        parked: bool,
    }

    impl<F, T> PinnedDrop for GroupTask<F, T> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let Some(core) = this.core.take() else { return };
            if this.fut.is_some() {
                let _in = InTask::enter(this.scope);
                this.fut.set(None);
            }
            if let Some(scope) = this.scope.take() {
                if *this.parked {
                    drop(scope.slot().unpark());
                }
                core.deliver(Done { index: scope.index, result: Err(scope.torn_down()), stopped: true });
            }
        }
    }
}

impl<F, T> GroupTask<F, T> {
    /// Drops the future (stopped by the group's context, or panicked) inside the task's
    /// scope and panic capture: a panic in its drop is the task's outcome.
    fn stop(
        mut fut: Pin<&mut Option<F>>,
        limit: &mut Limit,
        scope: &mut Option<TaskScope>,
    ) -> Option<TaskError> {
        let _in = InTask::enter(scope);
        let dropped = crate::panic::catch_unwind_sync(|| fut.set(None)).err();
        *limit = Limit::Free;
        dropped
    }
}

impl<F, T> Future for GroupTask<F, T>
where
    F: Future<Output = Result<T>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(scope) = this.scope.as_ref() else { return Poll::Ready(()) };
        let trace = scope.slot().trace();
        let _trace = trace.map(crate::trace::Entered::enter);
        let (result, stopped) = 'ended: {
            if !*this.started {
                *this.started = true;
                if let Some(e) = scope.shared.ctx.error() {
                    let e = Self::stop(this.fut.as_mut(), this.limit, this.scope).unwrap_or(e);
                    break 'ended (Err(e), true);
                }
            }
            if let Limit::Waiting(acquire) = this.limit {
                if let Poll::Ready(permit) = acquire.as_mut().poll(cx) {
                    *this.limit = Limit::Held(permit);
                    scope.slot().waiting.store(false, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if !matches!(this.limit, Limit::Waiting(_)) {
                let polled = {
                    // Cloned for the poll rather than kept by the task: a clone made at spawn
                    // is a reference count written by the spawning thread and again by the
                    // worker that ends the task, a cache line moved between cores per task
                    // (notes/group-perf2.md); per poll, both writes are the worker's.
                    let mut soft = Some(scope.shared.soft.clone());
                    let _in = InTask::enter(this.scope);
                    let mut fut = this.fut.as_mut();
                    let limit = &mut *this.limit;
                    crate::panic::catch_unwind_sync(|| {
                        let _ambient = crate::context::Entered::enter(&mut soft);
                        let Some(inner) = fut.as_mut().as_pin_mut() else {
                            return Poll::Ready(Err(TaskError::cancelled(None)));
                        };
                        let out = ready!(inner.poll(cx));
                        fut.set(None);
                        *limit = Limit::Free;
                        Poll::Ready(out)
                    })
                };
                match polled {
                    Ok(Poll::Ready(out)) => break 'ended (out, false),
                    Ok(Poll::Pending) => {}
                    Err(panic) => {
                        let _ = Self::stop(this.fut.as_mut(), this.limit, this.scope);
                        break 'ended (Err(panic), false);
                    }
                }
            }
            let Some(scope) = this.scope.as_ref() else { return Poll::Ready(()) };
            // Park, then look: the order no cancellation can slip between (see `watch`).
            scope.slot().park(cx.waker());
            *this.parked = true;
            scope.shared.watch.arm(&scope.shared);
            let Some(e) = scope.shared.ctx.error() else { return Poll::Pending };
            let e = Self::stop(this.fut.as_mut(), this.limit, this.scope).unwrap_or(e);
            (Err(e), true)
        };
        let Some(scope) = this.scope.take() else { return Poll::Ready(()) };
        if *this.parked {
            // Its own waker: dropped, not woken.
            drop(scope.slot().unpark());
        }
        let settled = settle(scope, result, stopped);
        if let Some(core) = this.core.take() {
            core.deliver(settled);
        }
        Poll::Ready(())
    }
}

/// Settles a task's result: stamps the error, records a failure, hands it to the
/// supervisor (inside the task's scope, as the task's own code would), tells the handle.
fn settle<T>(scope: TaskScope, result: Result<T>, stopped: bool) -> Done<T> {
    let trace_id = scope.slot().trace().map(|t| t.trace_id);
    super::metrics::finished(scope.shared.name.as_ref(), &result);
    let mut scope = Some(scope);
    let result = result.map_err(|e| {
        let s = scope.as_ref().expect("taken only below");
        let e = s.shared.stamp(e, s.index, || s.name(), trace_id);
        s.shared.fail(&e);
        if s.shared.supervisor.is_some() {
            let shared = s.shared.clone();
            let _in = InTask::enter(&mut scope);
            shared.supervise(&e);
        }
        e
    });
    let scope = scope.expect("put back by `InTask`");
    if scope.slot().has_handle() {
        scope.slot().set(result.as_ref().map(|_| ()).map_err(Clone::clone));
    }
    scope.ended();
    Done { index: scope.index, result, stopped }
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
    let ctx = with_scope(|s| s.shared.ctx.clone()).or_else(Context::current);
    match ctx {
        Some(ctx) => ctx.scope(fut),
        None => Context::new().scope(fut),
    }
}

#[cfg(all(test, not(loom)))]
mod footprint {
    /// Prints what a trivial task of the 10k-join bench costs in memory, beside the numbers
    /// of `benches/group_footprint.rs` (`cargo test -p result-runtime --lib footprint --
    /// --nocapture`).
    #[test]
    fn sizes() {
        use std::mem::size_of;
        fn task_of<F, T>(_: &F) -> usize {
            size_of::<super::GroupTask<F, T>>()
        }
        let i = std::hint::black_box(1_usize);
        let fut = async move { Ok::<usize, crate::error::TaskError>(i) };
        println!(
            "FOOTPRINT GroupTask {} B (user future {} B), Slot {} B, Done<usize> {} B, TaskScope {} B",
            task_of::<_, usize>(&fut),
            std::mem::size_of_val(&fut),
            size_of::<super::Slot>(),
            size_of::<super::Done<usize>>(),
            size_of::<super::TaskScope>(),
        );
    }
}

#[cfg(all(test, not(loom)))]
mod handles {
    /// On a multi-thread runtime the group keeps its tasks' tokio handles; a discarding
    /// group (or a stream) collects as it goes, and the list must follow what it holds,
    /// not every task it ever spawned.
    #[test]
    fn a_discarding_group_keeps_handles_of_its_held_tasks_only() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let g = super::super::Group::<u32>::builder().discard_outputs().build().unwrap();
            for _ in 0..50 {
                let batch: Vec<_> = (0..100).map(|_| g.spawn(async { Ok(1) })).collect();
                for h in batch {
                    h.await.unwrap();
                }
            }
            let spawns = super::sync::lock(&g.shared.spawns);
            assert_eq!(spawns.next, 5000);
            assert!(spawns.handles.capacity() <= 1024, "{}", spawns.handles.capacity());
        });
    }
}
