//! [`TaskHandle`]: what `spawn` returns, awaitable for one task's outcome.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};

use super::sync::{lock, Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::error::{Result, TaskError};

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
    /// The index of the chunk's first task (the dump's index for each slot).
    // Only the dump reads it, and loom builds leave the dump out.
    #[cfg_attr(loom, allow(dead_code))]
    first: usize,
    /// [`CHUNK`] slots, made in place in their own allocation: inline, the chunk would be
    /// built on the stack and copied into the `Arc`, twice.
    slots: Box<[Slot]>,
}

impl Slots {
    /// The chunk whose first slot is task `first`'s.
    pub(super) fn new(first: usize) -> Self {
        Self { first, slots: (0..CHUNK).map(|_| Slot::default()).collect() }
    }

    /// The slot of task `index`.
    pub(super) fn slot(&self, index: usize) -> &Slot {
        &self.slots[index % CHUNK]
    }

    /// Every slot of the chunk, taken or not.
    pub(super) fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter()
    }

    /// The slots with their task's index, in spawn order (those not taken yet are not
    /// [`taken`](Slot::taken)).
    #[cfg(not(loom))]
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &Slot)> {
        self.slots.iter().enumerate().map(|(i, slot)| (self.first + i, slot))
    }
}

/// What a group keeps of one task beside the task itself: where the task leaves its outcome
/// for its handles, and what [`dump`](super::dump) shows of it. The outcome is written at
/// most once: by the task when it ends, or by its drop guard when the task is torn down
/// before it could.
///
/// Small on purpose (a few words, several slots to a cache line): every spawn writes its
/// slot, the task reads it, and the chunk's drop reads every slot, so its size is memory
/// traffic per task. A 190-byte slot cost the 10k join three more cache misses per task
/// than `JoinSet`'s whole bookkeeping (notes/group-perf2.md). What only some tasks have (a
/// name, a trace context, handles that wait) is in one [`Extra`] allocated when first
/// needed.
///
/// Every handle (clones included) awaiting the outcome has its own entry in the waiter list,
/// and [`set`](Self::set) wakes them all: a single waker slot would let the last clone to
/// register replace the others', leaving them waiting forever.
#[derive(Default)]
pub(super) struct Slot {
    /// How many [`TaskHandle`]s of the task exist (clones included). Counted up before the
    /// task is spawned, so a task that sees none can skip storing its outcome: nobody can
    /// ever read it (most tasks are spawned with their handle dropped).
    handles: AtomicUsize,
    /// When the task was spawned, in nanoseconds after its group was built (for the dump's
    /// age): a word instead of an `Instant`'s two.
    spawned: std::sync::atomic::AtomicU64,
    /// Raised once the outcome is stored: `is_finished` without the lock.
    done: AtomicBool,
    /// Spawned: the slot holds a task. Raised with `Release` once the spawn time and the
    /// extra are written, for the dump, which reads every slot of a chunk.
    taken: std::sync::atomic::AtomicBool,
    /// Waiting for a slot of the group's limit (cleared once it holds one), for the dump.
    pub(super) waiting: std::sync::atomic::AtomicBool,
    /// Ended (result settled or future dropped), for the dump.
    pub(super) ended: std::sync::atomic::AtomicBool,
    /// Spawned under a trace context (in the extra): the only tasks whose polls take the
    /// slot's lock, to make it current.
    traced: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
}

/// What the slot's lock guards.
#[derive(Default)]
struct State {
    /// The task's error once it ended with one (with `done` raised, `None` is `Ok(())`).
    error: Option<TaskError>,
    extra: Option<Box<Extra>>,
    /// The task's waker while it is pending, for the group's cancellation sweep
    /// ([`Watch`](super::watch)).
    parked: Option<Waker>,
}

/// What only some tasks have, out of the slot: allocated at spawn for a named or traced
/// task, or when a handle first waits.
#[derive(Default)]
struct Extra {
    name: Option<std::borrow::Cow<'static, str>>,
    /// The spawner's trace context, current in every poll of the task.
    trace: Option<crate::trace::TraceContext>,
    /// The wakers of the handles waiting, indexed by the key each handle keeps; a handle that
    /// stops waiting leaves a hole, which the next one to register reuses.
    waiters: Vec<Option<Waker>>,
}

impl State {
    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
}

impl Slot {
    /// Takes the slot for a task being spawned: what the dump and its errors know of it.
    /// `spawned` is in nanoseconds after the group was built.
    pub(super) fn take(
        &self,
        spawned: u64,
        name: Option<std::borrow::Cow<'static, str>>,
        trace: Option<crate::trace::TraceContext>,
        waiting: bool,
    ) {
        use std::sync::atomic::Ordering as O;
        if name.is_some() || trace.is_some() {
            let mut state = lock(&self.state);
            let extra = state.extra();
            extra.name = name;
            self.traced.store(trace.is_some(), O::Relaxed);
            extra.trace = trace;
        }
        if waiting {
            self.waiting.store(true, O::Relaxed);
        }
        self.spawned.store(spawned, O::Relaxed);
        self.taken.store(true, O::Release);
    }

    /// Whether the slot holds a task (for the dump, which reads every slot of a chunk).
    #[cfg(not(loom))]
    pub(super) fn taken(&self) -> bool {
        self.taken.load(std::sync::atomic::Ordering::Acquire)
    }

    /// When the task was spawned, in nanoseconds after its group was built.
    #[cfg(not(loom))]
    pub(super) fn spawned(&self) -> u64 {
        self.spawned.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The task's name, when it was given one.
    pub(super) fn name(&self) -> Option<std::borrow::Cow<'static, str>> {
        lock(&self.state).extra.as_ref()?.name.clone()
    }

    /// The spawner's trace context (the lock is taken only for a traced task). Inline: every
    /// poll asks, and most tasks are not traced.
    #[inline]
    pub(super) fn trace(&self) -> Option<crate::trace::TraceContext> {
        if !self.traced.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        lock(&self.state).extra.as_ref()?.trace.clone()
    }

    /// Leaves the pending task's waker for the group's cancellation sweep (replacing an
    /// older one unless it would wake the same task). The caller reads the group's context
    /// after this: see [`watch`](super::watch) for why no wake-up is lost.
    pub(super) fn park(&self, waker: &Waker) {
        let mut state = lock(&self.state);
        match &mut state.parked {
            Some(parked) if parked.will_wake(waker) => {}
            parked => *parked = Some(waker.clone()),
        }
    }

    /// Takes the parked waker: to wake it (the sweep), or to drop it once the task ended.
    pub(super) fn unpark(&self) -> Option<Waker> {
        lock(&self.state).parked.take()
    }

    /// Counts the handle `spawn` is about to return, before the task can end.
    pub(super) fn expect_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the slot's task has ended (for the dump, which lists live tasks only).
    #[cfg_attr(loom, allow(dead_code))]
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
            if self.done.load(Ordering::Relaxed) {
                return;
            }
            state.error = outcome.err();
            self.done.store(true, Ordering::Release);
            state.extra.as_mut().map(|e| std::mem::take(&mut e.waiters))
        };
        // Outside the lock: a waker may run arbitrary code.
        for waker in waiters.into_iter().flatten().flatten() {
            waker.wake();
        }
    }

    /// The outcome, or `Pending` with `cx`'s waker registered under `key` (a new key when
    /// there is none yet).
    fn poll(&self, key: &mut Option<usize>, cx: &TaskCx<'_>) -> Poll<Result<()>> {
        let mut state = lock(&self.state);
        // Read under the lock, which `set` holds while it raises the flag.
        if self.done.load(Ordering::Relaxed) {
            *key = None;
            return Poll::Ready(state.error.clone().map_or(Ok(()), Err));
        }
        let waiters = &mut state.extra().waiters;
        match *key {
            Some(k) => match &mut waiters[k] {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                entry => *entry = Some(cx.waker().clone()),
            },
            None => {
                let waker = Some(cx.waker().clone());
                let k = match waiters.iter().position(Option::is_none) {
                    Some(hole) => {
                        waiters[hole] = waker;
                        hole
                    }
                    None => {
                        waiters.push(waker);
                        waiters.len() - 1
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
        let Some(extra) = state.extra.as_mut() else { return };
        let waiters = &mut extra.waiters;
        // After `set` the list is empty and the key means nothing any more.
        if let Some(entry) = waiters.get_mut(key) {
            *entry = None;
        }
        while let Some(None) = waiters.last() {
            waiters.pop();
        }
    }

    #[cfg(all(test, loom))]
    pub(super) fn waiters(&self) -> usize {
        lock(&self.state).extra.as_ref().map_or(0, |e| e.waiters.iter().flatten().count())
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
