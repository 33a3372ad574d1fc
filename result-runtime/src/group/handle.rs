//! [`TaskHandle`]: what `spawn` returns, awaitable for one task's outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskCx, Poll};

use futures_util::task::AtomicWaker;

use crate::error::Result;

/// Where a task leaves its outcome for its handle. Written exactly once: by the task when it
/// ends, or by its drop guard when the task is torn down before it could.
#[derive(Default)]
pub(super) struct Slot {
    outcome: OnceLock<Result<()>>,
    waker: AtomicWaker,
}

impl Slot {
    pub(super) fn is_set(&self) -> bool {
        self.outcome.get().is_some()
    }

    pub(super) fn set(&self, outcome: Result<()>) {
        if self.outcome.set(outcome).is_ok() {
            self.waker.wake();
        }
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
#[derive(Clone)]
pub struct TaskHandle {
    index: usize,
    slot: Arc<Slot>,
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
    pub(super) fn new(index: usize, slot: Arc<Slot>) -> Self {
        Self { index, slot }
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
        self.slot.outcome.get().is_some()
    }
}

impl Future for TaskHandle {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        if let Some(outcome) = self.slot.outcome.get() {
            return Poll::Ready(outcome.clone());
        }
        self.slot.waker.register(cx.waker());
        // The task may have finished between the check and the registration.
        match self.slot.outcome.get() {
            Some(outcome) => Poll::Ready(outcome.clone()),
            None => Poll::Pending,
        }
    }
}
