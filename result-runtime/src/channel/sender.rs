//! The sending half: cancel-safe send, try/timeout/blocking sends, forwarding a stream.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;

use super::queue::{self, Refused};
use super::{ChannelStats, Envelope, Failure, SendError, SendTimeoutError, Shared, TrySendError};
use crate::error::{Result, TaskError};
use crate::trace::TraceContext;

/// The sending half of a [`ResultChannel`](super::ResultChannel). Cheap to clone; every
/// send records the sender's [`TraceContext::current`] with the item.
pub struct ResultSender<T> {
    pub(super) shared: Arc<Shared<T>>,
}

impl<T> Clone for ResultSender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T> Drop for ResultSender<T> {
    /// The last sender closes the channel: receivers drain what was sent, then get `None`.
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.queue.close();
        }
    }
}

impl<T> fmt::Debug for ResultSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultSender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T> ResultSender<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// The one place an item enters the queue: fail-fast rules, then the queue's push (which
    /// counts it), then the metrics. Never blocks, never loses the item: `Full` gives the envelope back
    /// (with its boxed context, so a retry does not allocate again), with `waiter`
    /// registered for room when given.
    fn push(
        &self,
        env: Envelope<T>,
        waiter: Option<(&mut Option<u64>, &std::task::Waker)>,
    ) -> std::result::Result<(), Rejected<T>> {
        let shared = &*self.shared;
        if shared.fail_fast {
            if let Some(first) = shared.failure.get() {
                return Err(Rejected::Closed(SendError {
                    item: env.result,
                    cause: Some(first.error.clone()),
                }));
            }
            if let Err(error) = env.result {
                return self.fail(error, env.trace.map(|t| *t));
            }
        }
        let is_ok = env.result.is_ok();
        match shared.queue.push(env, is_ok, waiter) {
            Ok(()) => {
                shared.metrics.sent(is_ok);
                Ok(())
            }
            Err(Refused::Full(env)) => Err(Rejected::Full(env)),
            Err(Refused::Closed(env)) => {
                Err(Rejected::Closed(SendError { item: env.result, cause: self.cause() }))
            }
        }
    }

    /// The first error of a fail-fast channel: it is kept beside the queue (so it never
    /// waits for room) and delivered after everything sent before it.
    fn fail(
        &self,
        error: TaskError,
        trace: Option<TraceContext>,
    ) -> std::result::Result<(), Rejected<T>> {
        if self.is_closed() {
            return Err(Rejected::Closed(SendError { item: Err(error), cause: self.cause() }));
        }
        match self.shared.failure.set(Failure { error, trace }) {
            Ok(()) => {
                self.shared.metrics.failed();
                self.shared.queue.close_failed();
                Ok(())
            }
            Err(lost_race) => {
                Err(Rejected::Closed(SendError { item: Err(lost_race.error), cause: self.cause() }))
            }
        }
    }

    /// Sends `item`, waiting for room while the channel is full (backpressure). The item
    /// carries the trace context current where the future is first polled.
    ///
    /// Cancel-safe in the sense of the [module docs](super#cancellation-what-is-guaranteed):
    /// the item is either sent or still in the returned future, which gives it back through
    /// [`SendFuture::into_item`].
    ///
    /// # Errors
    /// [`SendError`] with the item when the channel is closed (with the cause when a
    /// fail-fast channel was closed by an error).
    pub fn send(&self, item: Result<T>) -> SendFuture<'_, T> {
        SendFuture {
            sender: self,
            env: Some(Envelope { result: item, trace: None }),
            traced: false,
            key: None,
        }
    }

    /// Sends `item` if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], both with the item.
    pub fn try_send(&self, item: Result<T>) -> std::result::Result<(), TrySendError<T>> {
        match self.push(Envelope::current(item), None) {
            Ok(()) => Ok(()),
            Err(Rejected::Full(env)) => Err(TrySendError::Full(env.result)),
            Err(Rejected::Closed(e)) => Err(TrySendError::Closed(e)),
        }
    }

    /// Sends `item`, waiting at most `timeout` for room.
    ///
    /// Dropping this future before it completes drops the item; in `select!`, use
    /// [`send`](Self::send) by reference and [`SendFuture::into_item`] instead.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Closed`], both with the item.
    pub async fn send_timeout(
        &self,
        item: Result<T>,
        timeout: Duration,
    ) -> std::result::Result<(), SendTimeoutError<T>> {
        let mut fut = self.send(item);
        match tokio::time::timeout(timeout, &mut fut).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SendTimeoutError::Closed(e)),
            Err(_) => Err(SendTimeoutError::Timeout(
                fut.into_item().expect("a pending send still holds its item"),
            )),
        }
    }

    /// Sends `item` from synchronous code, blocking the thread while the channel is full.
    /// Do not call it on an async runtime's worker thread (use `spawn_blocking`).
    ///
    /// # Errors
    /// [`SendError`] with the item when the channel is closed.
    pub fn blocking_send(&self, item: Result<T>) -> std::result::Result<(), SendError<T>> {
        queue::block_on(self.send(item))
    }

    /// Sends every item of `stream` in order, waiting for room as needed, until the stream
    /// ends or the channel closes. Accepts `Result<T>` items and `(index, Result<T>)` pairs
    /// (the shape of a `Group`'s `join_stream`; the index is dropped). Stops pulling from
    /// the stream as soon as the channel is closed, so a fail-fast channel stops the work
    /// feeding it.
    ///
    /// ```
    /// use futures::stream;
    /// use result_runtime::channel::ResultChannel;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = ResultChannel::<u32>::bounded(2);
    /// let source = stream::iter([(1, Ok(10)), (0, Ok(20)), (2, Ok(30))]);
    /// let (sent, got) = tokio::join!(
    ///     async move { tx.forward(source).await }, // tx dropped at the end: channel closes
    ///     rx.collect_ok(),
    /// );
    /// assert_eq!(sent.unwrap(), 3);
    /// assert_eq!(got.unwrap(), [10, 20, 30]);
    /// # }
    /// ```
    ///
    /// Cancelling `forward` drops the item it was sending at that moment (and the rest of
    /// the stream); every item before it was delivered.
    ///
    /// # Errors
    /// [`SendError`] with the item that found the channel closed.
    pub async fn forward<S>(&self, stream: S) -> std::result::Result<usize, SendError<T>>
    where
        S: Stream,
        S::Item: ForwardItem<T>,
    {
        let mut stream = std::pin::pin!(stream);
        let mut sent = 0;
        while let Some(item) = stream.next().await {
            self.send(item.into_result()).await?;
            sent += 1;
            if self.is_closed() {
                break;
            }
        }
        Ok(sent)
    }

    /// Closes the channel for every sender and receiver. Items already sent are still
    /// delivered. Returns `false` if it was already closed.
    pub fn close(&self) -> bool {
        self.shared.queue.close()
    }

    /// Whether the channel is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.queue.is_closed()
    }

    /// Items waiting in the channel.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// Whether no item is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the channel holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.queue.capacity()
    }

    /// Items accepted so far, by outcome.
    #[must_use]
    pub fn stats(&self) -> ChannelStats {
        self.shared.counts()
    }

    /// The error that closed a fail-fast channel, if one did.
    #[must_use]
    pub fn cause(&self) -> Option<TaskError> {
        self.shared.failure.get().map(|f| f.error.clone())
    }
}

/// The future of [`ResultSender::send`]. It owns the item until the channel accepts it.
///
/// It is `Unpin`, so it can be polled by reference (`&mut fut`) inside `tokio::select!` and
/// asked for its item afterwards with [`into_item`](Self::into_item).
#[must_use = "futures do nothing unless polled; dropping this one drops its item"]
pub struct SendFuture<'a, T> {
    sender: &'a ResultSender<T>,
    env: Option<Envelope<T>>,
    /// Whether the context was recorded: at the first poll, since futures are lazy and
    /// `ctx.scope(tx.send(x))` must record `ctx`.
    traced: bool,
    /// Its entry among the senders waiting for room, once it found the channel full.
    key: Option<u64>,
}

impl<T> Drop for SendFuture<'_, T> {
    /// A send dropped while it waits leaves the waiting list (passing on a wake-up it got).
    // Inline: it runs after every send, and almost always finds nothing to do.
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.sender.shared.queue.cancel_push(key);
        }
    }
}

// The item is never pinned (it is moved in and out of the queue), so the future need not be.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> SendFuture<'_, T> {
    /// The item, if it was not sent: `Some` while the send is pending (or was never
    /// polled), `None` once the future returned (the item went into the channel, or back
    /// to the caller inside the [`SendError`]).
    pub fn into_item(mut self) -> Option<Result<T>> {
        self.take_item()
    }

    /// Like [`into_item`](Self::into_item), for a future held behind `Pin<&mut _>`; the
    /// future must not be polled again afterwards.
    pub fn take_item(&mut self) -> Option<Result<T>> {
        self.env.take().map(|env| env.result)
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = std::result::Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut env = this.env.take().expect("SendFuture polled after it completed");
        if !this.traced {
            this.traced = true;
            env.trace = TraceContext::current().map(Box::new);
        }
        // Full: the waker is registered under the same lock that saw the queue full, so
        // the room made next wakes this send.
        match this.sender.push(env, Some((&mut this.key, cx.waker()))) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(Rejected::Closed(e)) => Poll::Ready(Err(e)),
            Err(Rejected::Full(env)) => {
                this.env = Some(env);
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture").field("pending", &self.env.is_some()).finish_non_exhaustive()
    }
}

/// Why [`ResultSender::push`] did not send.
enum Rejected<T> {
    Full(Envelope<T>),
    Closed(SendError<T>),
}

impl<T> Envelope<T> {
    /// The item with the caller's current context.
    fn current(result: Result<T>) -> Self {
        Self { result, trace: TraceContext::current().map(Box::new) }
    }
}

/// An item [`ResultSender::forward`] accepts: a `Result<T>`, or an `(index, Result<T>)` pair
/// as a `Group`'s `join_stream` yields.
pub trait ForwardItem<T> {
    /// The result to send.
    fn into_result(self) -> Result<T>;
}

impl<T> ForwardItem<T> for Result<T> {
    fn into_result(self) -> Result<T> {
        self
    }
}

impl<T> ForwardItem<T> for (usize, Result<T>) {
    fn into_result(self) -> Result<T> {
        self.1
    }
}
