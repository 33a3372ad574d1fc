//! The channel's storage: a bounded FIFO under one mutex, with the tasks waiting for an item
//! and the tasks waiting for room listed under the same lock.
//!
//! One lock for the items and both waiter lists is what makes the channel's guarantees
//! cheap: a send that finds the queue full registers its waker in the same critical section
//! that saw it full (no separate event to listen to, then retry), so the item never leaves
//! the sender until the queue takes it; a receive takes an item only in the poll that
//! returns it; close is a flag under the lock, with the items still there to drain. An item
//! costs one lock on each side, and a wake-up only when somebody waits.
//!
//! The ok/err counters live under the same lock too: the push holds it anyway, so counting
//! there is a plain add, where a counter of its own was one more atomic read-modify-write
//! (and a thread-local look-up for its shard) per item, on a path whose whole cost is a
//! handful of those.
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::sync::{lock, Mutex};

pub(super) struct Queue<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    /// Receivers waiting for an item (or the close).
    receivers: Waiters,
    /// Senders waiting for room (or the close).
    senders: Waiters,
    /// Items accepted, by outcome (a fail-fast channel's first error included).
    ok: u64,
    err: u64,
}

/// Waiting tasks in arrival order, each entry known by the id its future keeps. A waiter
/// woken is removed from the list: a future that finds its id gone was woken, and passes
/// the wake-up on if it is dropped without using it.
#[derive(Default)]
struct Waiters {
    list: VecDeque<(u64, Waker)>,
    next_id: u64,
}

impl Waiters {
    fn register(&mut self, key: &mut Option<u64>, waker: &Waker) {
        if let Some(id) = *key {
            if let Some((_, w)) = self.list.iter_mut().find(|(i, _)| *i == id) {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                return;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.list.push_back((id, waker.clone()));
        *key = Some(id);
    }

    /// Removes `id`'s entry; `false` when a wake-up took it already.
    fn remove(&mut self, id: u64) -> bool {
        match self.list.iter().position(|(i, _)| *i == id) {
            Some(at) => {
                self.list.remove(at);
                true
            }
            None => false,
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<Waker> {
        self.list.pop_front().map(|(_, w)| w)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.list.len()
    }
}

/// Why an item came back from a push.
pub(super) enum Refused<T> {
    Full(T),
    Closed(T),
}

impl<T> Queue<T> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                receivers: Waiters::default(),
                senders: Waiters::default(),
                ok: 0,
                err: 0,
            }),
            capacity,
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pushes `item` if there is room, counting it as `ok` or not; when full and `waiter` is
    /// given, registers it (under the lock that saw the queue full) to be woken when room is
    /// made or the queue closes. Once the push is settled (done, or closed), the waiter's
    /// entry is gone and its key cleared.
    #[inline]
    pub(super) fn push(
        &self,
        item: T,
        ok: bool,
        waiter: Option<(&mut Option<u64>, &Waker)>,
    ) -> Result<(), Refused<T>> {
        let woken = {
            let mut state = lock(&self.state);
            let (key, waker) = match waiter {
                Some((key, waker)) => (Some(key), Some(waker)),
                None => (None, None),
            };
            let full = state.items.len() >= self.capacity;
            if full && !state.closed {
                if let (Some(key), Some(waker)) = (key, waker) {
                    state.senders.register(key, waker);
                }
                return Err(Refused::Full(item));
            }
            if let Some(id) = key.and_then(Option::take) {
                state.senders.remove(id);
            }
            if state.closed {
                return Err(Refused::Closed(item));
            }
            state.items.push_back(item);
            if ok {
                state.ok += 1;
            } else {
                state.err += 1;
            }
            state.receivers.pop()
        };
        // Outside the lock: a waker may run arbitrary code.
        if let Some(waker) = woken {
            waker.wake();
        }
        Ok(())
    }

    /// Takes the next item; `Ready(None)` once closed and drained; `Pending` when empty,
    /// with `waiter` registered (when given). Settled, the waiter's entry is gone.
    #[inline]
    pub(super) fn pop(&self, waiter: Option<(&mut Option<u64>, &Waker)>) -> Poll<Option<T>> {
        let (item, woken) = {
            let mut state = lock(&self.state);
            let (key, waker) = match waiter {
                Some((key, waker)) => (Some(key), Some(waker)),
                None => (None, None),
            };
            let item = state.items.pop_front();
            if item.is_none() && !state.closed {
                if let (Some(key), Some(waker)) = (key, waker) {
                    state.receivers.register(key, waker);
                }
                return Poll::Pending;
            }
            if let Some(id) = key.and_then(Option::take) {
                state.receivers.remove(id);
            }
            match item {
                Some(item) => (item, state.senders.pop()),
                None => return Poll::Ready(None),
            }
        };
        if let Some(waker) = woken {
            waker.wake();
        }
        Poll::Ready(Some(item))
    }

    /// [`pop`](Self::pop) for a future.
    #[inline]
    pub(super) fn poll_pop(&self, key: &mut Option<u64>, cx: &Context<'_>) -> Poll<Option<T>> {
        self.pop(Some((key, cx.waker())))
    }

    /// A receive that waited under `key` is dropped: it leaves the list, and a wake-up it
    /// got and did not use goes to the next receiver (an item is there for it).
    #[cold]
    pub(super) fn cancel_pop(&self, key: u64) {
        let woken = {
            let mut state = lock(&self.state);
            if state.receivers.remove(key) || state.items.is_empty() {
                None
            } else {
                state.receivers.pop()
            }
        };
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// A send that waited under `key` is done or dropped: as [`cancel_pop`](Self::cancel_pop)
    /// for the senders (the room it was woken for goes to the next one).
    #[cold]
    pub(super) fn cancel_push(&self, key: u64) {
        let woken = {
            let mut state = lock(&self.state);
            if state.senders.remove(key) || state.items.len() >= self.capacity {
                None
            } else {
                state.senders.pop()
            }
        };
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// Closes the queue (the items stay, to be drained) and wakes every waiter; `true` if
    /// this call closed it.
    pub(super) fn close(&self) -> bool {
        self.close_counting(false)
    }

    /// Closes the queue for a fail-fast channel's first error, which is counted as accepted
    /// (it is delivered after the items, from beside the queue) whether or not another
    /// handle closed the queue first.
    pub(super) fn close_failed(&self) {
        self.close_counting(true);
    }

    fn close_counting(&self, failed: bool) -> bool {
        let (receivers, senders) = {
            let mut state = lock(&self.state);
            if failed {
                state.err += 1;
            }
            if state.closed {
                return false;
            }
            state.closed = true;
            (std::mem::take(&mut state.receivers.list), std::mem::take(&mut state.senders.list))
        };
        for (_, waker) in receivers.into_iter().chain(senders) {
            waker.wake();
        }
        true
    }

    pub(super) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    pub(super) fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// Items accepted so far: `(ok, err)`.
    pub(super) fn counts(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.ok, state.err)
    }

    /// How many senders wait for room (for tests).
    #[cfg(test)]
    pub(super) fn waiting_senders(&self) -> usize {
        lock(&self.state).senders.len()
    }
}

/// Runs `fut` to completion on this thread, parking it while `fut` is pending (the
/// blocking send and receive).
#[cfg(not(loom))]
pub(super) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[cfg(loom)]
pub(super) use loom::future::block_on;
