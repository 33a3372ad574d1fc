//! [`JoinStream`]: a group's results as its tasks finish.

use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use futures_core::Stream;

use super::Group;
use crate::error::Result;

/// The stream returned by [`Group::join_stream`]: `(index, result)` for every task, in the
/// order they finish. It owns the group: dropping it cancels and aborts the tasks still
/// running.
///
/// In fail-fast mode the stream goes on after a failure: the failure comes first, then the
/// siblings it cancelled (each `Cancelled`, with the failure as the cause), so a consumer sees
/// every index exactly once. [`Group::failure`] (through [`group`](Self::group)) tells the
/// winning failure at any time.
///
/// # Cancel safety
/// `StreamExt::next` on it is cancel safe: an item is taken from the group only when it is
/// returned, so a `next()` dropped in a `select!` loses nothing.
#[must_use = "streams do nothing unless polled"]
pub struct JoinStream<T> {
    pub(super) group: Group<T>,
}

impl<T: Send + 'static> JoinStream<T> {
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
        this.group.set.poll_join_next(cx).map(|done| done.map(|d| (d.index, d.result)))
    }
}
