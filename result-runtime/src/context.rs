//! [`Context`]: cancellation with a cause, an optional deadline, and a tree of children.
//!
//! Go's `context.Context` for tokio, built on tokio-util's `CancellationToken`. What it adds:
//! the *cause* (the [`TaskError`] that cancelled it, readable afterwards), deadlines that need
//! no timer task (they are checked when asked and awaited only while someone waits), and
//! [`Context::run`], which races a future against the context and drops it when the context
//! ends first.
//!
//! ```
//! use std::time::Duration;
//! use result_runtime::{context::Context, Code, ErrorKind, TaskError};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let ctx = Context::new().with_timeout(Duration::from_secs(2));
//! let child = ctx.child();
//!
//! ctx.cancel(TaskError::new(Code::UNAVAILABLE, "inventory down"));
//! assert!(child.is_cancelled());
//!
//! let err = child.run(async { Ok::<_, TaskError>(1) }).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Cancelled);
//! assert_eq!(err.cause().unwrap().code(), Code::UNAVAILABLE);
//! # }
//! ```

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use futures_util::future::{Fuse, FutureExt};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::error::{Result, TaskError};
use crate::sync::{Arc, AtomicBool, OnceLock};

thread_local! {
    /// The ambient context of the task being polled on this thread. A hand-made task-local
    /// (like tokio's `task_local!`, which swaps values in and out the same way) so that
    /// `Context::run` moves its context in and out instead of cloning it on every poll. A
    /// `Cell` rather than a `RefCell`: values only ever move in and out whole, so there is no
    /// borrow flag to check on the hot path.
    static AMBIENT: Cell<Option<Context>> = const { Cell::new(None) };
    /// Whether `AMBIENT` holds a context. `AMBIENT` has a destructor, so each access checks
    /// its registration; this flag has none, so the common "no context" answer costs one
    /// plain thread-local load.
    static HAS_AMBIENT: Cell<bool> = const { Cell::new(false) };
}

/// Puts a context in the ambient slot for the duration of one poll; puts it back on drop,
/// also when the poll unwinds.
pub(crate) struct Entered<'a> {
    slot: &'a mut Option<Context>,
}

impl<'a> Entered<'a> {
    /// Also for futures outside this module that own their context (a group task), so
    /// they need no [`Scope`] layer of their own.
    pub(crate) fn enter(slot: &'a mut Option<Context>) -> Self {
        swap_ambient(slot);
        Self { slot }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        swap_ambient(self.slot);
    }
}

/// Swaps `slot` with the ambient slot. Deliberately not `#[inline]`: the generic futures
/// that call it are instantiated in other crates, where a thread-local is reached through
/// an indirect call; here it is a direct call with the thread-local access inlined.
fn swap_ambient(slot: &mut Option<Context>) {
    HAS_AMBIENT.with(|h| h.set(slot.is_some()));
    AMBIENT.with(|a| a.swap(Cell::from_mut(slot)));
}

struct Node {
    token: CancellationToken,
    /// Mirrors this node's own cancellation so that checks need no lock (the token's
    /// `is_cancelled` takes a mutex).
    cancelled: AtomicBool,
    cause: OnceLock<TaskError>,
    /// The `Cancelled` error work stopped by this node ends with, made once and shared:
    /// a group's failure stops thousands of tasks, and each would otherwise allocate it.
    stopped: OnceLock<TaskError>,
    /// The effective deadline: the earliest of this node's and its ancestors'.
    deadline: Option<Instant>,
    parent: Option<Context>,
}

/// A cancellation scope with a cause and an optional deadline. Cheap to clone (a reference
/// count); clones are the same context.
#[derive(Clone)]
pub struct Context {
    node: Arc<Node>,
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("cancelled", &self.is_cancelled())
            .field("deadline", &self.node.deadline)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A root context: never cancelled unless [`cancel`](Self::cancel) is called, no deadline.
    #[must_use]
    pub fn new() -> Self {
        Self::from_parts(CancellationToken::new(), None, None)
    }

    fn from_parts(
        token: CancellationToken,
        deadline: Option<Instant>,
        parent: Option<Self>,
    ) -> Self {
        Self {
            node: Arc::new(Node {
                token,
                cancelled: AtomicBool::new(false),
                cause: OnceLock::new(),
                stopped: OnceLock::new(),
                deadline,
                parent,
            }),
        }
    }

    /// A child: cancelled when this context is (with this context's cause), cancellable on
    /// its own without affecting this one, with the same deadline.
    #[must_use]
    pub fn child(&self) -> Self {
        Self::from_parts(self.node.token.child_token(), self.node.deadline, Some(self.clone()))
    }

    /// A child whose deadline is `timeout` from now (or this context's, if earlier).
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        self.with_deadline(Instant::now() + timeout)
    }

    /// What `Context::new().with_deadline(deadline)` gives, without the root in between that
    /// nothing else could reach or cancel: the server layers make one per call, and the root
    /// cost a second node, a second token and a lock to link the two. They pass the clock
    /// reading they took for the call's start, so a call reads the clock once.
    #[cfg(any(feature = "grpc", feature = "http"))]
    pub(crate) fn root_with_deadline(deadline: Instant) -> Self {
        Self::from_parts(CancellationToken::new(), Some(deadline), None)
    }

    /// A child with a deadline (or this context's, if earlier).
    #[must_use]
    pub fn with_deadline(&self, deadline: Instant) -> Self {
        let deadline = Some(self.node.deadline.map_or(deadline, |d| d.min(deadline)));
        Self::from_parts(self.node.token.child_token(), deadline, Some(self.clone()))
    }

    /// The context the current task runs in, if any (set by [`run`](Self::run),
    /// [`scope`](Self::scope), groups, and the service middleware).
    #[must_use]
    #[inline]
    pub fn current() -> Option<Self> {
        if HAS_AMBIENT.with(Cell::get) {
            Self::current_slow()
        } else {
            None
        }
    }

    fn current_slow() -> Option<Self> {
        AMBIENT.with(|a| {
            // Moved out and back: a `Cell` lends nothing, and a take/set pair costs no
            // more than a borrow.
            let ctx = a.take();
            let current = ctx.clone();
            a.set(ctx);
            current
        })
    }

    /// Cancels this context and its children. The first cause wins; later calls change
    /// nothing.
    pub fn cancel(&self, cause: TaskError) {
        let _ = self.node.cause.set(cause);
        self.node.cancelled.store(true, Ordering::Release);
        self.node.token.cancel();
    }

    /// Whether this context or an ancestor was cancelled, or the deadline has passed.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled_node().is_some() || self.deadline_passed()
    }

    fn cancelled_node(&self) -> Option<&Node> {
        let mut node = &*self.node;
        loop {
            if node.cancelled.load(Ordering::Acquire) {
                return Some(node);
            }
            node = &node.parent.as_ref()?.node;
        }
    }

    /// Whether this is a root that no other clone shares: then only this holder can cancel
    /// it. `Arc::get_mut`'s check synchronises with the release of every dropped clone, so a
    /// cancel made through one is visible here.
    fn alone(&mut self) -> bool {
        self.node.parent.is_none() && Arc::get_mut(&mut self.node).is_some()
    }

    fn deadline_passed(&self) -> bool {
        self.node.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The effective deadline.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline
    }

    /// Time left before the deadline (zero once it passed); `None` without a deadline.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.node.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Why the context ended: the error given to `cancel` (here or in the nearest cancelled
    /// ancestor), or a `DeadlineExceeded` error; `None` while it is live.
    #[must_use]
    pub fn cause(&self) -> Option<TaskError> {
        if let Some(node) = self.cancelled_node() {
            return node.cause.get_cloned();
        }
        self.deadline_passed().then(TaskError::deadline_exceeded)
    }

    /// The error that work stopped by this context ends with: `Cancelled` carrying the cause,
    /// or `DeadlineExceeded`; `None` while the context is live.
    #[must_use]
    pub fn error(&self) -> Option<TaskError> {
        if let Some(node) = self.cancelled_node() {
            // The cause is set before the flag is raised, so it is visible here.
            let stopped =
                node.stopped.get_or_init_cloned(|| TaskError::cancelled(node.cause.get_cloned()));
            return Some(stopped);
        }
        self.deadline_passed().then(TaskError::deadline_exceeded)
    }

    /// Waits until the context is cancelled or its deadline passes.
    pub async fn cancelled(&self) {
        match self.node.deadline {
            Some(deadline) => {
                tokio::select! {
                    () = self.node.token.cancelled() => {}
                    () = tokio::time::sleep_until(deadline) => {}
                }
            }
            None => self.node.token.cancelled().await,
        }
    }

    /// Runs `fut` with this context as the ambient one, without racing it.
    pub fn scope<F: Future>(&self, fut: F) -> Scope<F> {
        Scope { fut: fut.fuse(), ctx: Some(self.clone()) }
    }

    /// Runs `fut` with this context as the ambient one; if the context is cancelled or its
    /// deadline passes first, `fut` is dropped and the result is `Cancelled` (carrying the
    /// cause) or `DeadlineExceeded`. A context that has already ended does not poll `fut`
    /// at all.
    ///
    /// When the future and the cancellation are ready in the same poll, the future's result
    /// wins: work that finished is not thrown away.
    pub fn run<F, T>(&self, fut: F) -> Run<F>
    where
        F: Future<Output = Result<T>>,
    {
        Run { fut: fut.fuse(), ctx: Some(self.clone()), started: false, race: None }
    }
}

impl<F: Future> Run<F> {
    /// [`Context::run`] in the context that is ambient when the future is first polled; with
    /// none, the future runs as it is (nothing to enter, nothing to race).
    pub(crate) fn ambient(fut: F) -> Self {
        Run { fut: fut.fuse(), ctx: None, started: false, race: None }
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`Context::scope`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Scope<F> {
        // Fused: a finished future is dropped inside the poll that finished it, so its drop
        // runs with the ambient context set and inside any panic capture around the poll.
        #[pin]
        fut: Fuse<F>,
        ctx: Option<Context>,
    }
}

impl<F: Future> Future for Scope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = Entered::enter(this.ctx);
        this.fut.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`Context::run`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Run<F> {
        #[pin]
        fut: Fuse<F>,
        // `Some` between polls (moved into the ambient slot during one), except for
        // `Run::ambient`: `None` until the first poll reads the ambient one, and after it
        // when there was none.
        ctx: Option<Context>,
        started: bool,
        // Created only when the future first returns Pending: the ready path allocates
        // nothing, registers nothing, and drops one empty pointer.
        race: Option<Pin<Box<Race>>>,
    }
}

pin_project_lite::pin_project! {
    /// What a pending [`Run`] waits on besides its future: one allocation for both.
    struct Race {
        // `None` while the context is [alone](Context::alone).
        #[pin]
        wait: Option<WaitForCancellationFutureOwned>,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<F, T> Future for Run<F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            if this.ctx.is_none() {
                *this.ctx = Context::current();
            }
            if let Some(e) = this.ctx.as_ref().and_then(Context::error) {
                return Poll::Ready(Err(e));
            }
        }
        if this.ctx.is_none() {
            return this.fut.poll(cx);
        }
        let polled = {
            let _entered = Entered::enter(this.ctx);
            this.fut.poll(cx)
        };
        if let Poll::Ready(out) = polled {
            return Poll::Ready(out);
        }
        let ctx = this.ctx.as_mut().expect("the context is back after the poll");
        // Nobody else holds this root context, so nobody can cancel it before the next poll:
        // no waiter to register (the token locks to add one and again to drop it). A cancel
        // made during the poll, by a clone since dropped, shows in the flag.
        let alone = ctx.alone();
        if alone && ctx.cancelled_node().is_some() {
            return Poll::Ready(Err(ctx.error().unwrap_or_else(|| TaskError::cancelled(None))));
        }
        let node = &ctx.node;
        if alone && node.deadline.is_none() && this.race.is_none() {
            return Poll::Pending;
        }
        let race = this.race.get_or_insert_with(|| {
            Box::pin(Race { wait: None, sleep: node.deadline.map(tokio::time::sleep_until) })
        });
        let mut race = race.as_mut().project();
        if !alone && race.wait.is_none() {
            race.wait.set(Some(node.token.clone().cancelled_owned()));
        }
        if let Some(wait) = race.wait.as_pin_mut() {
            if wait.poll(cx).is_ready() {
                return Poll::Ready(Err(ctx.error().unwrap_or_else(|| TaskError::cancelled(None))));
            }
        }
        if let Some(sleep) = race.sleep.as_pin_mut() {
            if sleep.poll(cx).is_ready() {
                return Poll::Ready(Err(TaskError::deadline_exceeded()));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Code, ErrorKind};
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    fn unavailable() -> TaskError {
        TaskError::new(Code::UNAVAILABLE, "down")
    }

    #[tokio::test]
    async fn cancelled_before_start_never_polls() {
        let ctx = Context::new();
        ctx.cancel(unavailable());
        let polled = AtomicUsize::new(0);
        let err = ctx
            .run(async {
                polled.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(polled.load(Ordering::SeqCst), 0);
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(err.cause().unwrap().code(), Code::UNAVAILABLE);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_mid_flight_drops_the_future() {
        struct Guard(Arc<AtomicBool>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let ctx = Context::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let guard = Guard(dropped.clone());
        let task = tokio::spawn(ctx.clone().run(async move {
            let _guard = guard;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
            Ok(())
        }));
        started_rx.await.unwrap();
        assert!(!dropped.load(Ordering::SeqCst));
        ctx.cancel(unavailable());
        let err = task.await.unwrap().unwrap_err();
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(err.cause().unwrap().code(), Code::UNAVAILABLE);
    }

    /// A root nobody else holds registers no waiter while it pends: the only cancel left is
    /// one made inside its own future, through a clone dropped before the poll ended.
    #[tokio::test(start_paused = true)]
    async fn an_unshared_root_cancelled_inside_its_future_stops() {
        let run = Context::new().run(async {
            Context::current().expect("the ambient context").cancel(unavailable());
            std::future::pending::<()>().await;
            Ok(())
        });
        let err = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("the cancel is seen without a waiter")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(err.cause().unwrap().code(), Code::UNAVAILABLE);
    }

    /// A clone that leaves the future during a poll makes the root shared: it waits for a
    /// cancel from that clone, made while it pends.
    #[tokio::test(start_paused = true)]
    async fn a_root_shared_from_inside_is_cancelled_through_its_clone() {
        let (clone_tx, clone_rx) = tokio::sync::oneshot::channel();
        let run = Context::new().run(async move {
            clone_tx.send(Context::current().expect("the ambient context")).unwrap();
            std::future::pending::<()>().await;
            Ok(())
        });
        let task = tokio::spawn(run);
        let clone = clone_rx.await.unwrap();
        clone.cancel(unavailable());
        drop(clone);
        let err = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the clone's cancel wakes the pending future")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
    }

    #[cfg(any(feature = "grpc", feature = "http"))]
    #[tokio::test(start_paused = true)]
    async fn an_unshared_root_still_meets_its_deadline() {
        let run =
            Context::root_with_deadline(Instant::now() + Duration::from_millis(100)).run(async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            });
        assert_eq!(run.await.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_already_passed() {
        let ctx = Context::new().with_timeout(Duration::ZERO);
        assert!(ctx.is_cancelled());
        let err = ctx.run(async { Ok(()) }).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
        assert_eq!(ctx.cause().unwrap().kind(), ErrorKind::DeadlineExceeded);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_mid_flight() {
        let ctx = Context::new().with_timeout(Duration::from_millis(100));
        let err = ctx
            .run(async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
        assert_eq!(ctx.remaining(), Some(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn child_deadline_is_the_earliest() {
        let parent = Context::new().with_timeout(Duration::from_secs(1));
        let child = parent.with_timeout(Duration::from_secs(10));
        assert_eq!(child.deadline(), parent.deadline());
        let grandchild = child.with_timeout(Duration::from_millis(10));
        assert!(grandchild.deadline() < parent.deadline());
    }

    #[cfg(any(feature = "grpc", feature = "http"))]
    #[tokio::test]
    async fn a_root_with_a_deadline_is_a_root_given_a_deadline() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let ctx = Context::root_with_deadline(deadline);
        assert_eq!(ctx.deadline(), Some(deadline));
        assert!(!ctx.is_cancelled());
        let child = ctx.child();
        ctx.cancel(unavailable());
        assert!(ctx.is_cancelled() && child.is_cancelled());
        ctx.cancelled().await;
    }

    #[tokio::test]
    async fn parent_cancels_child_with_its_cause_but_not_the_reverse() {
        let parent = Context::new();
        let child = parent.child();
        let grandchild = child.child();
        let sibling = parent.child();

        sibling.cancel(TaskError::new(Code::INTERNAL, "sibling"));
        assert!(!parent.is_cancelled());
        assert!(!child.is_cancelled());

        parent.cancel(unavailable());
        assert!(grandchild.is_cancelled());
        grandchild.cancelled().await;
        assert_eq!(grandchild.cause().unwrap().code(), Code::UNAVAILABLE);
        // the sibling keeps its own, earlier cause
        assert_eq!(sibling.cause().unwrap().code(), Code::INTERNAL);
    }

    #[tokio::test]
    async fn first_cause_wins() {
        let ctx = Context::new();
        assert!(ctx.cause().is_none() && ctx.error().is_none());
        ctx.cancel(unavailable());
        ctx.cancel(TaskError::new(Code::INTERNAL, "later"));
        assert_eq!(ctx.cause().unwrap().code(), Code::UNAVAILABLE);
    }

    #[tokio::test]
    async fn run_sets_the_ambient_context() {
        assert!(Context::current().is_none());
        let ctx = Context::new();
        let seen = ctx.run(async { Ok(Context::current().unwrap()) }).await.unwrap();
        assert!(Arc::ptr_eq(&seen.node, &ctx.node));
        let seen = ctx.scope(async { Context::current() }).await.unwrap();
        assert!(Arc::ptr_eq(&seen.node, &ctx.node));
    }

    #[tokio::test]
    async fn the_future_error_is_returned_unchanged() {
        let err = Context::new().run(async { Err::<(), _>(unavailable()) }).await.unwrap_err();
        assert_eq!(err.code(), Code::UNAVAILABLE);
        assert_eq!(err.kind(), ErrorKind::Failed);
    }
}

/// Model checks of the cause protocol (`cause` set once, then the `cancelled` flag raised
/// with `Release`; readers load the flag with `Acquire`, then the cause). Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p result-runtime --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::Code;
    use loom::thread;

    fn code(e: &TaskError) -> Code {
        e.code()
    }

    /// Two racing cancels and a reader: whoever reads the context cancelled also reads a
    /// cause, the same one on every later read (first cause wins, for everyone), and the
    /// `Cancelled` error carries that same cause.
    #[test]
    fn loom_racing_cancels_agree_on_one_cause() {
        loom::model(|| {
            let ctx = Context::new();
            let a = {
                let ctx = ctx.clone();
                thread::spawn(move || ctx.cancel(TaskError::new(Code::UNAVAILABLE, "a")))
            };
            let b = {
                let ctx = ctx.clone();
                thread::spawn(move || ctx.cancel(TaskError::new(Code::INTERNAL, "b")))
            };
            let seen = if ctx.is_cancelled() {
                let first = ctx.cause().expect("cancelled, so the cause is visible");
                let again = ctx.cause().expect("a cause is never taken back");
                assert_eq!(code(&first), code(&again), "the cause changed after it was read");
                Some(code(&first))
            } else {
                None
            };
            a.join().unwrap();
            b.join().unwrap();
            let cause = ctx.cause().expect("both cancels finished");
            if let Some(seen) = seen {
                assert_eq!(seen, code(&cause), "a later cancel replaced the cause");
            }
            let stopped = ctx.error().expect("cancelled");
            assert_eq!(code(stopped.cause().expect("Cancelled carries its cause")), code(&cause));
        });
    }

    /// A clone cancelled and dropped on another thread: a holder that finds itself alone
    /// (and so waits on no waiter) sees that cancel and its cause.
    #[test]
    fn loom_alone_sees_the_cancel_of_a_dropped_clone() {
        loom::model(|| {
            let mut ctx = Context::new();
            let clone = ctx.clone();
            let other =
                thread::spawn(move || clone.cancel(TaskError::new(Code::UNAVAILABLE, "gone")));
            if ctx.alone() {
                assert!(ctx.cancelled_node().is_some(), "alone, but the clone's cancel is unseen");
                assert_eq!(ctx.cause().expect("cancelled").code(), Code::UNAVAILABLE);
            }
            other.join().unwrap();
            assert!(ctx.alone(), "every clone is gone");
            assert!(!ctx.child().alone(), "a child has a parent that can cancel it");
        });
    }

    /// A child cancelled through its parent, read from another thread: cancelled implies
    /// the parent's cause is visible through the child, and the stop error carries it.
    #[test]
    fn loom_child_sees_the_parent_cause() {
        loom::model(|| {
            let parent = Context::new();
            let child = parent.child();
            let reader = thread::spawn(move || {
                if child.is_cancelled() {
                    let cause = child.cause().expect("cancelled, so the cause is visible");
                    assert_eq!(cause.code(), Code::UNAVAILABLE);
                    let stopped = child.error().expect("cancelled");
                    assert_eq!(stopped.cause().unwrap().code(), Code::UNAVAILABLE);
                }
            });
            parent.cancel(TaskError::new(Code::UNAVAILABLE, "parent"));
            reader.join().unwrap();
        });
    }
}
