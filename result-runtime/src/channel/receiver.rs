//! The receiving half: cancel-safe receives, batch receive, `Stream`, collectors.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use super::queue;
use super::{ChannelStats, Envelope, RecvTimeoutError, Shared, Traced, TryRecvError};
use crate::error::{Result, TaskError};

/// The receiving half of a [`ResultChannel`](super::ResultChannel). Cheap to clone; each item
/// goes to exactly one receiver. Also a [`Stream`] of `Result<T>`.
pub struct ResultReceiver<T> {
    shared: Arc<Shared<T>>,
    /// The `Stream` impl's entry among the waiting receivers, while it waits.
    stream_key: Option<u64>,
}

impl<T> Clone for ResultReceiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Self { shared: Arc::clone(&self.shared), stream_key: None }
    }
}

impl<T> Drop for ResultReceiver<T> {
    fn drop(&mut self) {
        if let Some(key) = self.stream_key.take() {
            self.shared.queue.cancel_pop(key);
        }
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last receiver: closing wakes the waiting senders, which see `Closed`.
            self.shared.queue.close();
            // Nothing sends any more: what is left is never received.
            self.shared.metrics.abandoned(self.shared.queue.len());
        }
    }
}

impl<T> fmt::Debug for ResultReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultReceiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T> ResultReceiver<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared, stream_key: None }
    }

    fn took(&self, env: Envelope<T>) -> Traced<T> {
        self.shared.metrics.received();
        env.into()
    }

    /// After the queue is closed and drained: a fail-fast channel's first error, once.
    fn take_failure(&self) -> Option<Traced<T>> {
        let failure = self.shared.failure.get()?;
        if self.shared.failure_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Traced { result: Err(failure.error.clone()), trace: failure.trace.clone() })
    }

    /// The next item, waiting for one; `None` once the channel is closed and drained.
    /// Cancel-safe: if this future is dropped before it returns, no item was taken.
    // One hand-written future rather than `async fn`s around it: each layer of async state
    // machine was paid on every item, and the whole receive is a few dozen instructions.
    pub fn recv(&self) -> impl Future<Output = Option<Result<T>>> + '_ {
        Recv::<T, Result<T>>::new(self)
    }

    /// Like [`recv`](Self::recv), with the sender's trace context (see [`Traced`]).
    pub fn recv_traced(&self) -> impl Future<Output = Option<Traced<T>>> + '_ {
        Recv::<T, Traced<T>>::new(self)
    }

    /// One poll of a receive waiting under `key`: the item, else (closed and drained) a
    /// fail-fast channel's first error once, else `None`.
    #[inline]
    fn poll_recv<O: Received<T>>(
        &self,
        key: &mut Option<u64>,
        cx: &Context<'_>,
    ) -> Poll<Option<O>> {
        match self.shared.queue.poll_pop(key, cx) {
            Poll::Ready(Some(env)) => {
                self.shared.metrics.received();
                Poll::Ready(Some(O::item(env)))
            }
            Poll::Ready(None) => Poll::Ready(self.take_failure().map(O::failure)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The next item if one is waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when nothing is waiting, [`TryRecvError::Closed`] when the
    /// channel is closed and drained.
    pub fn try_recv(&self) -> std::result::Result<Result<T>, TryRecvError> {
        self.try_recv_traced().map(Traced::into_result)
    }

    /// Like [`try_recv`](Self::try_recv), with the sender's trace context.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv).
    pub fn try_recv_traced(&self) -> std::result::Result<Traced<T>, TryRecvError> {
        match self.shared.queue.pop(None) {
            Poll::Ready(Some(env)) => Ok(self.took(env)),
            Poll::Pending => Err(TryRecvError::Empty),
            Poll::Ready(None) => self.take_failure().ok_or(TryRecvError::Closed),
        }
    }

    /// The next item, waiting at most `timeout`. Cancel-safe, like [`recv`](Self::recv).
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] when nothing arrived in time (nothing was taken),
    /// [`RecvTimeoutError::Closed`] when the channel is closed and drained.
    pub async fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<Result<T>, RecvTimeoutError> {
        match tokio::time::timeout(timeout, self.recv()).await {
            Ok(Some(item)) => Ok(item),
            Ok(None) => Err(RecvTimeoutError::Closed),
            Err(_) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// The next item from synchronous code, blocking the thread; `None` once closed and
    /// drained. Do not call it on an async runtime's worker thread.
    pub fn blocking_recv(&self) -> Option<Result<T>> {
        queue::block_on(self.recv())
    }

    /// Waits for at least one item, then appends up to `limit` items that are ready to
    /// `buf` without waiting again. Returns how many were appended: 0 only when `limit` is 0
    /// or the channel is closed and drained. Cancel-safe: items are taken only in the poll
    /// that returns.
    ///
    /// ```
    /// use result_runtime::channel::ResultChannel;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = ResultChannel::<u32>::bounded(8);
    /// for i in 0..5 {
    ///     tx.try_send(Ok(i)).unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_many(&mut batch, 3).await, 3);
    /// assert_eq!(rx.recv_many(&mut batch, 10).await, 2);
    /// assert_eq!(batch.len(), 5);
    /// # }
    /// ```
    pub async fn recv_many(&self, buf: &mut Vec<Result<T>>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        let Some(first) = self.recv().await else { return 0 };
        buf.push(first);
        let mut n = 1;
        while n < limit {
            match self.try_recv() {
                Ok(item) => {
                    buf.push(item);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }

    /// Every value until the channel closes, or the first error (the rest is not waited
    /// for).
    ///
    /// # Errors
    /// The first `Err` received.
    pub async fn collect_ok(self) -> Result<Vec<T>> {
        let mut values = Vec::new();
        while let Some(item) = self.recv().await {
            values.push(item?);
        }
        Ok(values)
    }

    /// Every item until the channel closes, split into values and errors (each in arrival
    /// order).
    pub async fn partition(self) -> (Vec<T>, Vec<TaskError>) {
        let (mut values, mut errors) = (Vec::new(), Vec::new());
        while let Some(item) = self.recv().await {
            match item {
                Ok(v) => values.push(v),
                Err(e) => errors.push(e),
            }
        }
        (values, errors)
    }

    /// Closes the channel for every sender and receiver; items already sent are still
    /// delivered. Returns `false` if it was already closed.
    pub fn close(&self) -> bool {
        self.shared.queue.close()
    }

    /// Whether the channel is closed (there may still be items to drain).
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

impl<T> Stream for ResultReceiver<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = &mut *self;
        let mut key = this.stream_key.take();
        let polled = this.poll_recv(&mut key, cx);
        this.stream_key = key;
        polled
    }
}

/// What a receive returns for an item or for a fail-fast channel's first error: the result
/// alone ([`ResultReceiver::recv`]) or with its context ([`ResultReceiver::recv_traced`]).
trait Received<T> {
    fn item(env: Envelope<T>) -> Self;
    fn failure(failure: Traced<T>) -> Self;
}

impl<T> Received<T> for Result<T> {
    #[inline]
    fn item(env: Envelope<T>) -> Self {
        env.result
    }

    fn failure(failure: Traced<T>) -> Self {
        failure.result
    }
}

impl<T> Received<T> for Traced<T> {
    #[inline]
    fn item(env: Envelope<T>) -> Self {
        env.into()
    }

    fn failure(failure: Traced<T>) -> Self {
        failure
    }
}

/// One receive: its entry among the waiting receivers lives as long as it waits.
struct Recv<'a, T, O> {
    receiver: &'a ResultReceiver<T>,
    key: Option<u64>,
    _out: PhantomData<fn() -> O>,
}

impl<'a, T, O> Recv<'a, T, O> {
    fn new(receiver: &'a ResultReceiver<T>) -> Self {
        Self { receiver, key: None, _out: PhantomData }
    }
}

impl<T, O: Received<T>> Future for Recv<'_, T, O> {
    type Output = Option<O>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.receiver.poll_recv(&mut this.key, cx)
    }
}

impl<T, O> Drop for Recv<'_, T, O> {
    /// A receive dropped while it waits leaves the list, passing on a wake-up it got (an
    /// item is there for the next receiver).
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.receiver.shared.queue.cancel_pop(key);
        }
    }
}
