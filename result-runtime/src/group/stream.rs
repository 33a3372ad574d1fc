//! [`JoinStream`]: a group's results as its tasks finish.

use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use futures_core::Stream;

use super::Group;
use crate::error::{Result, TaskError};

/// The stream returned by [`Group::join_stream`]: `(index, result)` for every task, in the
/// order they finish. It owns the group: dropping it cancels and aborts the tasks still
/// running.
///
/// In fail-fast mode the stream goes on after a failure: the failure comes first, then the
/// siblings it cancelled (each `Cancelled`, with the failure as the cause), so a consumer sees
/// every index exactly once. [`JoinStream::failure`] tells the winning failure at any time.
#[must_use = "streams do nothing unless polled"]
pub struct JoinStream<T> {
    pub(super) group: Group<T>,
}

impl<T: Send + 'static> JoinStream<T> {
    /// The group's winning failure, once one is recorded (always `None` in collect-all mode).
    #[must_use]
    pub fn failure(&self) -> Option<TaskError> {
        self.group.shared.failure.get().cloned()
    }

    /// Spawns more work into the group behind the stream (a long-lived group: spawn, stream
    /// the results, never keep them all).
    pub fn group(&self) -> &Group<T> {
        &self.group
    }
}

impl<T: Send + 'static> Stream for JoinStream<T> {
    type Item = (usize, Result<T>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let tasks = this.group.tasks.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            return match tasks.set.poll_join_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Ok(item))) => Poll::Ready(Some(item)),
                // Only a runtime shutting down tears a task down without a result (panics
                // are caught inside the task, and the group aborts only when dropped); the
                // index is gone with it, so there is nothing to report.
                Poll::Ready(Some(Err(_))) => continue,
            };
        }
    }
}
