//! [`Watch`]: the one wait on a group's context that stops its pending tasks.
//!
//! A task that returns `Pending` must be woken when the group's context ends (a failure,
//! the deadline, a shutdown's grace running out, the group dropped), or it would never see
//! the cancellation. Each task used to wait on the context itself: a boxed
//! `ctx.cancelled()` holding a clone of the context, a waiter in tokio-util's token tree
//! (under its mutex) and, for a group with a deadline, a timer entry, about 500
//! instructions for every task that ever pends (notes/group-perf3.md). Now a pending task
//! leaves its waker in its slot ([`Slot::park`](super::handle::Slot::park)), and the
//! group keeps one wait on its context, armed by the first task that pends. When the
//! context ends, the wait's waker wakes every parked task ([`Shared::sweep`]); each then
//! sees the end in `ctx.error()` at its poll and stops.
//!
//! No wake-up is lost: a task parks (the slot's lock) and only then reads the context's
//! flag; the context raises its flag before it cancels its token, whose waiters (the sweep)
//! then take every slot's lock. Either the sweep finds the waker, or the task's lock comes
//! after the sweep's and its read sees the flag (the loom model in `loom.rs`). A deadline
//! has no flag: its timer fires at or after the deadline, so a task that parks after the
//! sweep reads a clock past it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskCx, Wake, Waker};

use super::sync::{lock, AtomicBool, Mutex, Ordering};
use super::task::Shared;

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The group's one wait on its context (see the [module docs](self)).
#[derive(Default)]
pub(super) struct Watch {
    /// Raised once the wait is registered (or found the context ended): from then on a
    /// parked task is woken by the sweep, so tasks stop asking.
    armed: AtomicBool,
    /// The registered wait, kept (not polled again) until the group's state is dropped.
    wait: Mutex<Option<Wait>>,
}

impl Watch {
    /// Registers the group's wait on its context, once: called by every task that pends,
    /// after it parked its waker. Inside a runtime (a task's poll), as the context's
    /// deadline timer needs one.
    pub(super) fn arm(&self, shared: &Arc<Shared>) {
        if self.armed.load(Ordering::Acquire) {
            return;
        }
        let mut wait = lock(&self.wait);
        if self.armed.load(Ordering::Relaxed) {
            return;
        }
        let ctx = shared.ctx.clone();
        let mut fut: Wait = Box::pin(async move { ctx.cancelled().await });
        let waker = Waker::from(Arc::new(Sweep(Arc::downgrade(shared))));
        // Ready: the context ended already, and the caller's look at `ctx.error()` sees it.
        if fut.as_mut().poll(&mut TaskCx::from_waker(&waker)).is_pending() {
            *wait = Some(fut);
        }
        self.armed.store(true, Ordering::Release);
    }
}

/// The wait's waker: the context ended, wake every parked task of the group. It holds the
/// group's state weakly: the state owns the wait, which owns this waker.
struct Sweep(Weak<Shared>);

impl Wake for Sweep {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.0.upgrade() {
            shared.sweep();
        }
    }
}
