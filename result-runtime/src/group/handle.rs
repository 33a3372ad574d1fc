//! [`TaskHandle`]: what `spawn` returns, awaitable for one task's outcome.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};

use super::sync::{lock, Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::error::Result;

/// How many consecutive tasks of a group share one allocation of [`Slots`]. Small under loom:
/// every slot holds loom primitives, which the model tracks one by one.
#[cfg(not(loom))]
pub(super) const CHUNK: usize = 32;
#[cfg(loom)]
pub(super) const CHUNK: usize = 2;

/// The slots of [`CHUNK`] consecutive tasks of one group, in one allocation: a spawn takes
/// the next slot of its group's current chunk (task `index` has slot `index % CHUNK`) rather
/// than allocating one, so per task it costs reference counts, not an allocation and a free
/// (each several times the price of everything else a spawn adds to tokio's). The chunk
/// lives while a task or a handle of any of its slots does.
pub(super) struct Slots {
    /// [`CHUNK`] slots, made in place in their own allocation: inline, the chunk (several
    /// kilobytes) would be built on the stack and copied into the `Arc`, twice.
    slots: Box<[Slot]>,
}

impl Slots {
    pub(super) fn new() -> Self {
        Self { slots: (0..CHUNK).map(|_| Slot::default()).collect() }
    }

    /// The slot of task `index`.
    pub(super) fn slot(&self, index: usize) -> &Slot {
        &self.slots[index % CHUNK]
    }

    /// The slots, in spawn order (those not taken yet have no info).
    #[cfg(not(loom))]
    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter()
    }
}

/// Where a task leaves its outcome for its handles. Written at most once: by the task when
/// it ends, or by its drop guard when the task is torn down before it could.
///
/// Every handle (clones included) awaiting the outcome has its own entry in the waiter list,
/// and [`set`](Self::set) wakes them all: a single waker slot would let the last clone to
/// register replace the others', leaving them waiting forever.
#[derive(Default)]
pub(super) struct Slot {
    /// Raised once the outcome is stored: `is_finished` without the lock.
    done: AtomicBool,
    /// Waiting for a slot of the group's limit (cleared once it holds one), for the dump.
    pub(super) waiting: std::sync::atomic::AtomicBool,
    /// Ended (result settled or future dropped), for the dump.
    pub(super) ended: std::sync::atomic::AtomicBool,
    /// How many [`TaskHandle`]s of the task exist (clones included). Counted up before the
    /// task is spawned, so a task that sees none can skip storing its outcome: nobody can
    /// ever read it (most tasks are spawned with their handle dropped).
    handles: AtomicUsize,
    state: Mutex<State>,
    /// The spawner's trace context, current in every poll of the task: set at spawn when
    /// there is one (most spawns have none and skip the store), read without a lock.
    pub(super) trace: std::sync::OnceLock<crate::trace::TraceContext>,
}

/// A task as [`dump`](super::dump) and its errors' names see it: written at spawn, read
/// only by the dump and by a failure. It sits under the slot's lock, which a spawn takes
/// uncontended, rather than in a write-once cell, which costs a spawn several times that.
pub(super) struct TaskInfo {
    pub(super) index: usize,
    pub(super) name: Option<std::borrow::Cow<'static, str>>,
    pub(super) spawned: tokio::time::Instant,
    pub(super) trace_id: Option<crate::trace::TraceId>,
}

#[derive(Default)]
struct State {
    /// Set at spawn (`None` only in the loom models and in the slots of a chunk not taken
    /// yet).
    info: Option<TaskInfo>,
    outcome: Option<Result<()>>,
    /// The wakers of the handles waiting, indexed by the key each handle keeps; a handle that
    /// stops waiting leaves a hole, which the next one to register reuses.
    waiters: Vec<Option<Waker>>,
}

impl Slot {
    /// Counts the handle `spawn` is about to return, before the task can end.
    pub(super) fn expect_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Records what the group knows of the task taking this slot.
    pub(super) fn set_info(&self, info: TaskInfo) {
        lock(&self.state).info = Some(info);
    }

    /// `f` on the slot's task info, unless the slot was never taken.
    pub(super) fn with_info<R>(&self, f: impl FnOnce(&TaskInfo) -> R) -> Option<R> {
        lock(&self.state).info.as_ref().map(f)
    }

    /// Whether the slot's task has ended (for the dump, which lists live tasks only).
    pub(super) fn ended(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a [`TaskHandle`] of the task still exists (see `handles`).
    pub(super) fn has_handle(&self) -> bool {
        self.handles.load(Ordering::Acquire) > 0
    }

    pub(super) fn is_set(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Stores `outcome` (unless one is stored already) and wakes every waiting handle.
    pub(super) fn set(&self, outcome: Result<()>) {
        let waiters = {
            let mut state = lock(&self.state);
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(outcome);
            self.done.store(true, Ordering::Release);
            std::mem::take(&mut state.waiters)
        };
        // Outside the lock: a waker may run arbitrary code.
        for waker in waiters.into_iter().flatten() {
            waker.wake();
        }
    }

    /// The outcome, or `Pending` with `cx`'s waker registered under `key` (a new key when
    /// there is none yet).
    fn poll(&self, key: &mut Option<usize>, cx: &TaskCx<'_>) -> Poll<Result<()>> {
        let mut state = lock(&self.state);
        if let Some(outcome) = &state.outcome {
            *key = None;
            return Poll::Ready(outcome.clone());
        }
        match *key {
            Some(k) => match &mut state.waiters[k] {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                entry => *entry = Some(cx.waker().clone()),
            },
            None => {
                let waker = Some(cx.waker().clone());
                let k = match state.waiters.iter().position(Option::is_none) {
                    Some(hole) => {
                        state.waiters[hole] = waker;
                        hole
                    }
                    None => {
                        state.waiters.push(waker);
                        state.waiters.len() - 1
                    }
                };
                *key = Some(k);
            }
        }
        Poll::Pending
    }

    /// Removes the waker registered under `key` (its handle stopped waiting).
    fn unregister(&self, key: usize) {
        let mut state = lock(&self.state);
        // After `set` the list is empty and the key means nothing any more.
        if let Some(entry) = state.waiters.get_mut(key) {
            *entry = None;
        }
        while let Some(None) = state.waiters.last() {
            state.waiters.pop();
        }
    }

    #[cfg(all(test, loom))]
    pub(super) fn waiters(&self) -> usize {
        lock(&self.state).waiters.iter().flatten().count()
    }
}

/// A spawned task of a [`Group`](super::Group): its index in the group's results, whether it
/// has ended, and (awaited) how it ended.
///
/// Awaiting a handle resolves to `Ok(())` when the task produced its value, or to the task's
/// own error (a sibling's failure shows up here as `Cancelled` with that failure as the
/// cause). The value itself is not in the handle: it goes to [`Group::join`](super::Group::join)
/// (or the stream, or `map`), so every value has exactly one owner and `join` never misses
/// one. Awaiting a handle does not consume anything, and dropping a handle does not cancel its
/// task: the group owns its tasks.
///
/// Clones are handles to the same task, and any number of them can be awaited at once, from
/// different tasks: every one is woken when the task ends, with the same outcome.
///
/// # Cancel safety
/// Awaiting is cancel safe: a handle abandoned mid-await (a `select!` that took another
/// branch) can be awaited again later and still sees the outcome.
///
/// ```
/// use result_runtime::{group::Group, Code, ErrorKind, TaskError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let group = Group::new();
/// let ok = group.spawn(async { Ok(1) });
/// let bad = group.spawn(async { Err(TaskError::new(Code::NOT_FOUND, "no such user")) });
/// assert_eq!((ok.index(), bad.index()), (0, 1));
/// assert!(ok.await.is_ok());
/// assert_eq!(bad.await.unwrap_err().code(), Code::NOT_FOUND);
/// assert_eq!(group.join().await.unwrap_err().kind(), ErrorKind::Failed);
/// # }
/// ```
pub struct TaskHandle {
    index: usize,
    /// The chunk holding the task's slot.
    slots: Arc<Slots>,
    /// This handle's entry in the slot's waiter list, while it waits.
    waiter: Option<usize>,
}

impl Clone for TaskHandle {
    /// Another handle to the same task, with a waiter entry of its own: every clone can be
    /// awaited at the same time, and every one is woken.
    fn clone(&self) -> Self {
        self.slot().expect_handle();
        Self { index: self.index, slots: self.slots.clone(), waiter: None }
    }
}

impl Drop for TaskHandle {
    /// A handle dropped while it waits (a `select!` that took another branch) leaves the
    /// waiter list. The task is not affected: the group owns it.
    fn drop(&mut self) {
        let waiter = self.waiter.take();
        let slot = self.slot();
        if let Some(key) = waiter {
            slot.unregister(key);
        }
        slot.handles.fetch_sub(1, Ordering::Release);
    }
}

impl std::fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle")
            .field("index", &self.index)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl TaskHandle {
    /// The handle of task `index`, whose slot in `slots` already counts it
    /// ([`Slot::expect_handle`]).
    pub(super) fn new(index: usize, slots: Arc<Slots>) -> Self {
        Self { index, slots, waiter: None }
    }

    fn slot(&self) -> &Slot {
        self.slots.slot(self.index)
    }

    /// The task's position in spawn order: where its value sits in `join`'s `Vec`, and the
    /// index `join_stream` reports with it.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether the task has ended (its outcome is available without waiting).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.slot().is_set()
    }
}

impl Future for TaskHandle {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.slots.slot(this.index).poll(&mut this.waiter, cx)
    }
}
