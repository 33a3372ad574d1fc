//! The group's own task set, in place of tokio's `JoinSet`: tasks are spawned detached and
//! push their [`Done`] onto one queue that the group drains.
//!
//! Why not `JoinSet`: per task it allocates a list entry, takes its list lock at spawn, at
//! completion (moving the entry to the "notified" list) and at `join_next`, and clones a
//! waker into every `JoinHandle`. Here a task costs one queue push and one fence, and the
//! group's poller is woken only when it asked to be (see [`Joiner`]). Stopping the tasks
//! needs no abort handles: every task races its future against the group's context
//! ([`GroupTask`](super::task)), so cancelling that context, as dropping the group does,
//! drops every future at its next poll, as an abort would.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::task::{Context as TaskCx, Poll, Waker};

use std::collections::VecDeque;

use super::sync::{fence, lock, AtomicBool, AtomicUsize as SyncUsize, Mutex, Ordering};
use super::task::Done;

/// What a group shares with its tasks for their outcomes.
pub(super) struct Core<T> {
    /// The outcomes delivered and not collected yet, in delivery order. A locked deque
    /// rather than a lock-free queue: its critical sections are a push or a pop (or, for
    /// the collect-everything waits, one take of the whole deque), and a lock-free queue
    /// costs more per outcome than the uncontended lock, in allocations of its blocks too.
    done: Mutex<VecDeque<Done<T>>>,
    joiner: Joiner,
    /// Outcomes delivered so far. Only the tasks write it: a count of pending tasks, which
    /// every spawn would also write, moved its cache line from the worker that last
    /// delivered to the spawning thread and back once per task (notes/group-perf2.md);
    /// the spawns are counted in the [`TaskSet`], which only the group touches.
    delivered: SyncUsize,
    /// How many deliveries a collect-everything wait (`poll_all`) waits for: the delivery
    /// that brings `delivered` there wakes it (`usize::MAX` before any such wait).
    target: SyncUsize,
    /// The poller wants every outcome as it comes (the stream, `map`, `shutdown`), not only
    /// the last one (`join` and the other collect-everything waits): those sleep until the
    /// last task delivers, one wake-up per group instead of one per burst of outcomes,
    /// each of which costs a thread wake-up when the poller sleeps.
    each: AtomicBool,
}

impl<T> Core<T> {
    /// Hands a task's outcome to the group.
    pub(super) fn deliver(&self, done: Done<T>) {
        lock(&self.done).push_back(done);
        let delivered = self.delivered.fetch_add(1, Ordering::AcqRel) + 1;
        fence(Ordering::SeqCst);
        if delivered == self.target.load(Ordering::Relaxed) || self.each.load(Ordering::Relaxed) {
            self.joiner.notify();
        }
    }
}

/// The waker of the one task polling the set (`join`, the stream, `map`, `shutdown`).
///
/// `armed` keeps completions from touching the waker's lock unless the poller is asleep:
/// the poller stores its waker, raises `armed`, then looks at the queue once more; a task
/// pushes, then looks at `armed`. A `SeqCst` fence on each side, between its write and its
/// read, makes it impossible for both to miss the other (the loom model in `loom.rs` checks
/// that no outcome is left unseen by a sleeping poller).
pub(super) struct Joiner {
    waker: Mutex<Option<Waker>>,
    armed: AtomicBool,
}

impl Joiner {
    fn new() -> Self {
        Self { waker: Mutex::new(None), armed: AtomicBool::new(false) }
    }

    /// Called by the poller before its last look at the queue.
    pub(super) fn register(&self, waker: &Waker) {
        {
            let mut slot = lock(&self.waker);
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }
        self.armed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Called by a task after its push and the `SeqCst` fence that follows it (in
    /// [`Core::deliver`], which needs that fence anyway, so none is repeated here).
    pub(super) fn notify(&self) {
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            let waker = lock(&self.waker).take();
            // Outside the lock: a waker may run arbitrary code.
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The tasks of one group, from spawn until their outcome is collected.
pub(super) struct TaskSet<T> {
    core: std::sync::Arc<Core<T>>,
    /// Spawned and not collected yet (running, or finished with the outcome in the queue).
    /// Only the group changes it: up at spawn, down when an outcome is popped, so an empty
    /// queue with a non-zero count means tasks are still running.
    held: AtomicUsize,
    /// Every task spawned so far (never goes down), for `poll_all` against the core's
    /// `delivered`. Only the group changes it.
    spawned: AtomicUsize,
}

impl<T> TaskSet<T> {
    pub(super) fn new() -> Self {
        Self {
            core: std::sync::Arc::new(Core {
                done: Mutex::new(VecDeque::new()),
                joiner: Joiner::new(),
                delivered: SyncUsize::new(0),
                target: SyncUsize::new(usize::MAX),
                each: AtomicBool::new(true),
            }),
            held: AtomicUsize::new(0),
            spawned: AtomicUsize::new(0),
        }
    }

    /// The core a new task delivers its outcome to.
    pub(super) fn core(&self) -> &std::sync::Arc<Core<T>> {
        &self.core
    }

    /// Spawns a task made by `spawn_task` (which delivers exactly one outcome, even when the
    /// runtime drops it unfinished).
    ///
    /// # Panics
    /// Outside a tokio runtime, as `tokio::spawn`, before anything is counted.
    pub(super) fn spawn<F: Future<Output = ()> + Send + 'static>(
        &self,
        handle: &tokio::runtime::Handle,
        task: F,
    ) -> tokio::task::JoinHandle<()> {
        self.held.fetch_add(1, StdOrdering::Relaxed);
        self.spawned.fetch_add(1, StdOrdering::Relaxed);
        handle.spawn(task)
    }

    /// Counts a task delivered by hand, for the loom model (which spawns no tokio task).
    #[cfg(all(test, loom))]
    pub(super) fn hold(&self) {
        self.held.fetch_add(1, StdOrdering::Relaxed);
        self.spawned.fetch_add(1, StdOrdering::Relaxed);
    }

    /// How many tasks are held (see `held`).
    pub(super) fn len(&self) -> usize {
        self.held.load(StdOrdering::Relaxed)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An outcome that is ready, without waiting.
    pub(super) fn try_join_next(&self) -> Option<Done<T>> {
        let done = lock(&self.core.done).pop_front()?;
        self.held.fetch_sub(1, StdOrdering::Relaxed);
        Some(done)
    }

    /// The next outcome, `None` once every task spawned so far was collected.
    pub(super) fn poll_join_next(&self, cx: &TaskCx<'_>) -> Poll<Option<Done<T>>> {
        if let Some(done) = self.try_join_next() {
            return Poll::Ready(Some(done));
        }
        if self.is_empty() {
            return Poll::Ready(None);
        }
        self.core.each.store(true, Ordering::Relaxed);
        self.core.joiner.register(cx.waker());
        match self.try_join_next() {
            Some(done) => Poll::Ready(Some(done)),
            None => Poll::Pending,
        }
    }

    /// Ready once every task spawned so far has delivered its outcome (then collect them
    /// with [`try_join_next`](Self::try_join_next)); woken once, by the last task.
    pub(super) fn poll_all(&self, cx: &TaskCx<'_>) -> Poll<()> {
        let spawned = self.spawned.load(StdOrdering::Relaxed);
        if self.core.delivered.load(Ordering::Acquire) == spawned {
            return Poll::Ready(());
        }
        // Stored before `register`'s fence, as `delivered` is before the delivery's: the
        // last delivery sees the target (and wakes), or this look sees that delivery.
        self.core.target.store(spawned, Ordering::Relaxed);
        self.core.each.store(false, Ordering::Relaxed);
        self.core.joiner.register(cx.waker());
        if self.core.delivered.load(Ordering::Acquire) == spawned {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// [`poll_all`](Self::poll_all) as a future, then every outcome, in delivery order
    /// (taken at once: every task has delivered).
    pub(super) async fn join_all(&self) -> impl Iterator<Item = Done<T>> + '_ {
        std::future::poll_fn(|cx| self.poll_all(cx)).await;
        let all = std::mem::take(&mut *lock(&self.core.done));
        self.held.fetch_sub(all.len(), StdOrdering::Relaxed);
        all.into_iter()
    }

    /// [`poll_join_next`](Self::poll_join_next) as a future (cancel safe: an outcome is
    /// taken only in the poll that returns it).
    pub(super) async fn join_next(&self) -> Option<Done<T>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }
}
