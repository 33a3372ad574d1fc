//! [`ResultChannel`]: a bounded multi-producer multi-consumer channel of [`Result`]s that
//! keeps each item's trace context, never loses an item to cancellation, and knows about
//! errors (fail-fast mode, ok/err counters, collectors).
//!
//! ```
//! use result_runtime::channel::{ResultChannel, TrySendError};
//! use result_runtime::{Code, TaskError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (tx, rx) = ResultChannel::<u64>::bounded(2);
//! tx.send(Ok(1)).await.unwrap();
//! tx.send(Err(TaskError::new(Code::UNAVAILABLE, "shard 3 down"))).await.unwrap();
//!
//! // Full: the item comes back, nothing is lost.
//! let Err(TrySendError::Full(item)) = tx.try_send(Ok(3)) else { panic!() };
//! assert_eq!(item.unwrap(), 3);
//!
//! assert_eq!(rx.recv().await.unwrap().unwrap(), 1);
//! assert_eq!(rx.recv().await.unwrap().unwrap_err().code(), Code::UNAVAILABLE);
//! assert_eq!((tx.stats().ok, tx.stats().err), (1, 1));
//!
//! // Closing delivers what was already sent, then `None`.
//! tx.send(Ok(4)).await.unwrap();
//! rx.close();
//! assert!(tx.send(Ok(5)).await.is_err());
//! assert_eq!(rx.recv().await.unwrap().unwrap(), 4);
//! assert!(rx.recv().await.is_none());
//! # }
//! ```
//!
//! # Its own queue
//!
//! Storage and waiting are this module's own (`queue.rs`): a bounded FIFO under one mutex,
//! with the receivers waiting for an item and the senders waiting for room listed under
//! that same lock. The channel used to wrap async-channel; the crates measured against it
//! are async-channel, flume and kanal (tokio's `mpsc` has a single consumer), and none keeps
//! the contract by itself:
//!
//! - **close from either side while handles live**, delivering what was sent: flume only
//!   disconnects when every sender or every receiver is dropped, and kanal's `close` drops
//!   the queued items (and the items of the senders waiting for room);
//! - **a send that keeps its item**: a cancelled `async_channel::Send`, flume `SendFut` or
//!   kanal send future drops the value, with no way to take it back;
//! - **a receive that takes an item only in the poll that returns it**: kanal's receive
//!   future may complete without that poll and lose the item when dropped (its docs say
//!   `select!` is not correct with it).
//!
//! Wrapping async-channel, the cancel-safe send needed an `event-listener` event of its own
//! beside async-channel's (a sender saw `Full`, listened, retried), which cost one more
//! lock, an allocation per wait and a wake-up per item whenever the channel sat full. With
//! one lock over items and waiters, a send that sees `Full` registers its waker in the same
//! critical section, and a receive wakes it in the critical section that made room: one
//! lock per item on each side, a wake-up only when somebody waits. Measured numbers are in
//! the `channel` bench (`cargo bench --bench channel`), which prints the same-run ratios.
//!
//! With a queue of any size, the cost of an item is its instructions, not its wake-ups:
//! at 4 producers/4 consumers and capacity 1024 the tasks are polled 2 to 7 times per
//! thousand items (the queue fills and drains in runs), on a current-thread and a 2-worker
//! runtime alike, and the polls that find nothing to do (a consumer woken after a sibling
//! drained the queue) are at most 4 per thousand items. Kanal's lead there came from a
//! lighter item (about 145 instructions against 410 here, under callgrind), not from its
//! hand-off of items to waiting receivers, which would only pay off per wake-up. So the
//! item path is kept short instead (about 240 instructions now, the trace context, the
//! fail-fast check and the metrics included): a mutex without poisoning (see
//! `src/sync.rs`), the counters under the queue's lock, and one hand-written receive
//! future.
//!
//! What this module adds beyond a plain channel:
//!
//! - **Cancel-safe send.** The value stays in the [`SendFuture`] until the queue accepts
//!   it, and [`SendFuture::into_item`] takes it back if the send did not happen.
//! - **Trace context per item.** Each send records [`TraceContext::current`] next to the
//!   item: one pointer in the queue slot, and a small allocation only when the sender has
//!   a context (see `Envelope` in the source for why it is boxed);
//!   [`ResultReceiver::recv_traced`] returns a [`Traced`] whose [`Traced::scope`] runs the
//!   handling in the sender's context.
//! - **Fail-fast** ([`ResultChannel::fail_fast`]), **counters** ([`ChannelStats`]),
//!   **collectors** ([`ResultReceiver::collect_ok`], [`ResultReceiver::partition`]) and
//!   [`ResultSender::forward`] to pipe any stream of results (a `Group`'s `join_stream`)
//!   into the channel.
//!
//! # Cancellation: what is guaranteed
//!
//! - **Receive**: [`ResultReceiver::recv`], [`recv_traced`](ResultReceiver::recv_traced),
//!   [`recv_many`](ResultReceiver::recv_many), [`recv_timeout`](ResultReceiver::recv_timeout)
//!   and the `Stream` impl are cancel-safe: if the future is dropped before it returns an
//!   item, no item was taken; it stays in the channel for the next receive.
//! - **Send**: an item is either in the channel (the [`SendFuture`] returned `Ready(Ok)`) or
//!   still inside the `SendFuture`: there is no state where it is half-sent. Dropping a
//!   pending `SendFuture` drops its item, as dropping any owner would; to keep it, poll the
//!   future by reference (`&mut fut` in `tokio::select!`) and call
//!   [`SendFuture::into_item`] when another branch wins. [`ResultSender::try_send`],
//!   [`send_timeout`](ResultSender::send_timeout) and every error give the item back.
//!
//! ```
//! use std::time::Duration;
//! use result_runtime::channel::ResultChannel;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let (tx, rx) = ResultChannel::<u32>::bounded(1);
//! tx.send(Ok(1)).await.unwrap(); // now full
//!
//! let mut send = tx.send(Ok(2));
//! tokio::select! {
//!     r = &mut send => unreachable!("the channel is full: {r:?}"),
//!     () = tokio::time::sleep(Duration::from_millis(10)) => {}
//! }
//! // The send lost the race; its item is still ours.
//! assert_eq!(send.into_item().unwrap().unwrap(), 2);
//! assert_eq!(rx.len(), 1);
//! # }
//! ```
//!
//! # Fail-fast
//!
//! In [`fail_fast`](ResultChannel::fail_fast) mode the first `Err` sent closes the channel
//! at once (it never waits for room): receivers get everything sent before it, then that
//! error (exactly once, to one receiver), then `None`. Every later send returns
//! [`SendError`] with its item and the first error as [`SendError::cause`].

mod error;
mod metrics;
mod queue;
mod receiver;
mod sender;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};

use futures_util::future::Either;

use crate::config::ConfigError;
use crate::error::{Result, TaskError};
use crate::trace::TraceContext;

pub use error::{RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use receiver::ResultReceiver;
pub use sender::{ForwardItem, ResultSender, SendFuture};

/// What travels through the queue: the item and the context it was sent from.
///
/// The context is boxed, and only when there is one: an untraced `Result<u64>` envelope is
/// 24 bytes (a 32-byte queue slot, two per cache line) instead of 48 (a 64-byte slot). Each
/// item crosses cores through its slot's cache line, and the larger slot measured ~2x
/// slower per item in the 1P1C bench on a 2-worker runtime; a traced item pays one small
/// allocation instead.
struct Envelope<T> {
    result: Result<T>,
    trace: Option<Box<TraceContext>>,
}

/// The first error of a fail-fast channel, delivered after the queue drains.
struct Failure {
    error: TaskError,
    trace: Option<TraceContext>,
}

/// State shared by all senders and receivers of one channel.
struct Shared<T> {
    queue: queue::Queue<Envelope<T>>,
    fail_fast: bool,
    failure: OnceLock<Failure>,
    failure_taken: AtomicBool,
    /// Handles alive on each side: the last one of either side to go closes the channel.
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// The channel's metrics (see [`ResultChannel::name`]); nothing for an unnamed one.
    metrics: metrics::Instruments,
}

impl<T> Shared<T> {
    fn counts(&self) -> ChannelStats {
        let (ok, err) = self.queue.counts();
        ChannelStats { ok, err }
    }
}

/// Builds a result channel: [`ResultChannel::bounded`] for the common case, or
/// [`ResultChannel::builder`] then options then [`build`](ResultChannel::build).
///
/// ```
/// use result_runtime::channel::ResultChannel;
/// use result_runtime::{Code, TaskError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = ResultChannel::<u64>::builder(16).fail_fast().build();
/// tx.send(Ok(1)).await.unwrap();
/// tx.send(Err(TaskError::new(Code::UNAVAILABLE, "down"))).await.unwrap();
///
/// let rejected = tx.send(Ok(2)).await.unwrap_err();
/// assert_eq!(rejected.cause().unwrap().code(), Code::UNAVAILABLE);
/// assert_eq!(rejected.into_item().unwrap(), 2);
///
/// assert_eq!(rx.collect_ok().await.unwrap_err().code(), Code::UNAVAILABLE);
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ResultChannel<T> {
    capacity: usize,
    fail_fast: bool,
    name: Option<Cow<'static, str>>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for ResultChannel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultChannel")
            .field("capacity", &self.capacity)
            .field("fail_fast", &self.fail_fast)
            .field("name", &self.name)
            .finish()
    }
}

impl<T> ResultChannel<T> {
    /// A channel holding at most `capacity` items: sends wait for room beyond that.
    ///
    /// # Panics
    /// If `capacity` is zero (a rendezvous channel cannot give items back on cancellation),
    /// with the [`ConfigError`] message ``invalid setting `capacity`: must be greater than
    /// zero, got 0``, as `tokio::sync::mpsc::channel(0)` panics.
    #[must_use]
    pub fn bounded(capacity: usize) -> (ResultSender<T>, ResultReceiver<T>) {
        Self::builder(capacity).build()
    }

    /// A builder for a channel of `capacity` items, for options such as
    /// [`fail_fast`](Self::fail_fast).
    ///
    /// The capacity is the one setting that can be wrong, and it is given here, so
    /// [`build`](Self::build) cannot fail.
    ///
    /// # Panics
    /// If `capacity` is zero, as [`bounded`](Self::bounded) does.
    pub fn builder(capacity: usize) -> Self {
        if capacity == 0 {
            panic!("{}", ConfigError::zero("capacity"));
        }
        Self { capacity, fail_fast: false, name: None, _items: PhantomData }
    }

    /// The first `Err` sent closes the channel; later sends return [`SendError`] carrying
    /// that error as [`cause`](SendError::cause). Receivers still get every item sent
    /// before it, then the error, then `None`.
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// Names the channel: with the `metrics` feature, a named channel records its depth,
    /// the items sent and whether its first error closed it, labelled `channel` = `name`
    /// (the metrics and their names are in the table below). Unnamed channels record
    /// nothing, so the name is the only label: use a few fixed names, not one per request.
    ///
    /// | metric | kind | labels |
    /// |---|---|---|
    /// | `result_channel_depth` | gauge: items in the channel, not received yet | `channel` |
    /// | `result_channel_sent_total` | counter: items accepted | `channel`, `outcome` = `ok` / `err` |
    /// | `result_channel_closed_with_error_total` | counter: fail-fast channels closed by their first `Err` | `channel` |
    ///
    /// Channels built with the same name add up. Install the metrics recorder before
    /// building named channels (the facade's rule for every handle).
    ///
    /// ```
    /// use result_runtime::channel::ResultChannel;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (tx, rx) = ResultChannel::<u64>::builder(64).name("orders").build();
    /// tx.send(Ok(1)).await.unwrap();
    /// assert_eq!(rx.recv().await.unwrap().unwrap(), 1);
    /// # }
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The two ends. Both are cloneable: the channel closes when every sender or every
    /// receiver is dropped, or on [`ResultSender::close`] / [`ResultReceiver::close`].
    #[must_use]
    pub fn build(self) -> (ResultSender<T>, ResultReceiver<T>) {
        let shared = Arc::new(Shared {
            queue: queue::Queue::new(self.capacity),
            fail_fast: self.fail_fast,
            failure: OnceLock::new(),
            failure_taken: AtomicBool::new(false),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            metrics: metrics::Instruments::new(self.name.as_deref()),
        });
        (ResultSender::new(Arc::clone(&shared)), ResultReceiver::new(shared))
    }
}

/// How many items a channel accepted, by outcome. Items rejected (full, closed) are not
/// counted; a fail-fast channel's first error is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStats {
    /// `Ok` items accepted.
    pub ok: u64,
    /// `Err` items accepted.
    pub err: u64,
}

/// A received item with the trace context of the task that sent it.
///
/// ```
/// use result_runtime::channel::ResultChannel;
/// use result_runtime::trace::TraceContext;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = ResultChannel::<u32>::bounded(4);
/// let root = TraceContext::new_root();
/// root.scope(async { tx.send(Ok(7)).await.unwrap() }).await;
///
/// let item = rx.recv_traced().await.unwrap();
/// assert_eq!(item.trace, Some(root.clone()));
/// // Handle it in the sender's trace: logs and errors get its trace id.
/// let seen = item.scope(async { TraceContext::current_trace_id() }).await;
/// assert_eq!(seen, Some(root.trace_id));
/// assert_eq!(item.result.unwrap(), 7);
/// # }
/// ```
pub struct Traced<T> {
    /// The item.
    pub result: Result<T>,
    /// [`TraceContext::current`] of the sender at the time of the send.
    pub trace: Option<TraceContext>,
}

impl<T> Traced<T> {
    /// Runs `fut` with the sender's trace context as the current one (as it is, when the
    /// sender had none).
    pub fn scope<F: Future>(&self, fut: F) -> Either<crate::trace::TraceScope<F>, F> {
        match &self.trace {
            Some(tc) => Either::Left(tc.scope(fut)),
            None => Either::Right(fut),
        }
    }

    /// Runs `f` with the sender's trace context as the current one (for synchronous code).
    pub fn sync_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.trace {
            Some(tc) => tc.sync_scope(f),
            None => f(),
        }
    }

    /// The item, without its context.
    pub fn into_result(self) -> Result<T> {
        self.result
    }
}

impl<T: fmt::Debug> fmt::Debug for Traced<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traced").field("result", &self.result).field("trace", &self.trace).finish()
    }
}

impl<T> From<Envelope<T>> for Traced<T> {
    fn from(env: Envelope<T>) -> Self {
        Self { result: env.result, trace: env.trace.map(|t| *t) }
    }
}

impl<T> From<Failure> for Traced<T> {
    fn from(f: Failure) -> Self {
        Self { result: Err(f.error), trace: f.trace }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_item_overhead_is_one_pointer() {
        assert_eq!(
            std::mem::size_of::<Envelope<u64>>(),
            std::mem::size_of::<Result<u64>>() + std::mem::size_of::<usize>()
        );
    }

    #[tokio::test]
    async fn waiting_senders_are_counted_until_done_or_dropped() {
        let (tx, rx) = ResultChannel::<u8>::bounded(1);
        tx.try_send(Ok(0)).unwrap();
        let waiting = |tx: &sender::ResultSender<u8>| tx.shared.queue.waiting_senders();

        let mut cancelled = tx.send(Ok(1));
        assert!(futures_util::poll!(&mut cancelled).is_pending());
        assert_eq!(waiting(&tx), 1);
        drop(cancelled);
        assert_eq!(waiting(&tx), 0, "a dropped send stops counting");

        let mut sent = tx.send(Ok(2));
        assert!(futures_util::poll!(&mut sent).is_pending());
        assert_eq!(rx.recv().await.unwrap().unwrap(), 0);
        sent.await.unwrap();
        assert_eq!(waiting(&tx), 0, "a completed send stops counting");
    }

    /// A waker that counts its wake-ups.
    fn counting_waker() -> (std::task::Waker, Arc<AtomicUsize>) {
        struct Count(Arc<AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let count = Arc::new(AtomicUsize::new(0));
        (std::task::Waker::from(Arc::new(Count(Arc::clone(&count)))), count)
    }

    #[test]
    fn a_woken_receive_that_is_dropped_passes_the_item_on() {
        use std::pin::pin;
        use std::sync::atomic::Ordering::Relaxed;
        use std::task::{Context, Poll};

        let (tx, rx) = ResultChannel::<u8>::bounded(2);
        let (first_waker, first_woken) = counting_waker();
        let (second_waker, second_woken) = counting_waker();
        let mut first = Box::pin(rx.recv());
        let mut second = pin!(rx.recv_traced());
        assert!(first.as_mut().poll(&mut Context::from_waker(&first_waker)).is_pending());
        assert!(second.as_mut().poll(&mut Context::from_waker(&second_waker)).is_pending());

        tx.try_send(Ok(7)).unwrap();
        assert_eq!((first_woken.load(Relaxed), second_woken.load(Relaxed)), (1, 0));
        // Woken, then cancelled before it polled again: it took nothing, and the wake-up
        // goes to the receive behind it, which finds the item.
        drop(first);
        assert_eq!(second_woken.load(Relaxed), 1);
        assert_eq!(rx.len(), 1);
        let Poll::Ready(Some(got)) = second.as_mut().poll(&mut Context::from_waker(&second_waker))
        else {
            panic!("the item was passed on")
        };
        assert_eq!(got.result.unwrap(), 7);
    }

    #[test]
    fn close_with_receives_waiting_wakes_them_all_and_keeps_the_items() {
        use std::sync::atomic::Ordering::Relaxed;
        use std::task::{Context, Poll};

        let (tx, rx) = ResultChannel::<u8>::bounded(4);
        let wakers: Vec<_> = (0..3).map(|_| counting_waker()).collect();
        let mut recvs: Vec<_> = (0..3).map(|_| Box::pin(rx.recv())).collect();
        for (recv, (waker, _)) in recvs.iter_mut().zip(&wakers) {
            assert!(recv.as_mut().poll(&mut Context::from_waker(waker)).is_pending());
        }
        tx.try_send(Ok(1)).unwrap();
        assert!(tx.close());
        assert!(wakers.iter().all(|(_, woken)| woken.load(Relaxed) == 1));
        // The item sent before the close goes to one of them; the others see the end.
        let got: Vec<_> = recvs
            .iter_mut()
            .zip(&wakers)
            .map(|(recv, (waker, _))| match recv.as_mut().poll(&mut Context::from_waker(waker)) {
                Poll::Ready(item) => item.map(|r| r.unwrap()),
                Poll::Pending => panic!("a closed channel leaves nobody waiting"),
            })
            .collect();
        assert_eq!(got, [Some(1), None, None]);
        assert_eq!(tx.try_send(Ok(2)).unwrap_err().into_item().unwrap(), 2);
    }

    #[tokio::test]
    async fn the_first_error_of_a_fail_fast_channel_is_counted_once_with_the_items() {
        let (tx, rx) = ResultChannel::<u8>::builder(4).fail_fast().build();
        tx.send(Ok(1)).await.unwrap();
        tx.send(Err(TaskError::new(crate::Code::UNAVAILABLE, "down"))).await.unwrap();
        assert!(tx.send(Err(TaskError::new(crate::Code::INTERNAL, "late"))).await.is_err());
        assert!(tx.try_send(Ok(2)).is_err());
        assert_eq!(rx.stats(), ChannelStats { ok: 1, err: 1 });
        assert_eq!(rx.recv().await.unwrap().unwrap(), 1);
        assert_eq!(rx.recv().await.unwrap().unwrap_err().code(), crate::Code::UNAVAILABLE);
        assert!(rx.recv().await.is_none());
        assert_eq!(tx.stats(), ChannelStats { ok: 1, err: 1 }, "receiving does not uncount");
    }

    #[test]
    #[should_panic(expected = "invalid setting `capacity`: must be greater than zero, got 0")]
    fn zero_capacity_is_refused() {
        let _ = ResultChannel::<u8>::bounded(0);
    }

    #[test]
    #[should_panic(expected = "invalid setting `capacity`: must be greater than zero, got 0")]
    fn zero_capacity_is_refused_by_the_builder_too() {
        let _ = ResultChannel::<u8>::builder(0).fail_fast();
    }
}

/// Model checks of the channel's own waiting lists, on the real channel: under `--cfg loom`
/// the queue's mutex is loom's, so what is checked is the code that ships.
///
/// The protocol (see `queue.rs`): a send that finds the queue full registers its waker
/// under the lock that saw it full, and every pop wakes the first waiting sender under the
/// same lock, so no room made after a send saw `Full` can miss it; a waiter dropped after
/// it was woken passes the wake-up on. A lost wake-up leaves a task parked for good, which
/// loom reports as a deadlock.
///
/// Run with `RUSTFLAGS="--cfg loom" cargo test -p result-runtime --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// A full channel; the receiver's first pop must let the waiting sender in.
    fn full_channel() -> (ResultSender<u8>, ResultReceiver<u8>) {
        let (tx, rx) = ResultChannel::<u8>::bounded(2);
        tx.try_send(Ok(0)).unwrap();
        tx.try_send(Ok(1)).unwrap();
        (tx, rx)
    }

    /// An async sender waits for room on a full channel while a receiver makes it.
    #[test]
    fn loom_waiting_sender_is_woken_by_a_receive() {
        loom::model(|| {
            let (tx, rx) = full_channel();
            let sender = thread::spawn(move || {
                loom::future::block_on(tx.send(Ok(2))).unwrap();
                assert_eq!(tx.shared.queue.waiting_senders(), 0);
            });
            assert_eq!(rx.try_recv().unwrap().unwrap(), 0);
            sender.join().unwrap();
            assert_eq!(rx.try_recv().unwrap().unwrap(), 1);
            assert_eq!(rx.try_recv().unwrap().unwrap(), 2);
        });
    }

    /// The same with the blocking send.
    #[test]
    fn loom_blocking_sender_is_woken_by_a_receive() {
        loom::model(|| {
            let (tx, rx) = full_channel();
            let sender = thread::spawn(move || tx.blocking_send(Ok(2)).unwrap());
            assert_eq!(rx.try_recv().unwrap().unwrap(), 0);
            sender.join().unwrap();
            assert_eq!(rx.try_recv().unwrap().unwrap(), 1);
            assert_eq!(rx.try_recv().unwrap().unwrap(), 2);
        });
    }

    /// A receiver waits on an empty channel while a sender sends and another handle closes
    /// it: the receiver gets the item or `None` after it, never sleeps through either.
    #[test]
    fn loom_waiting_receiver_is_woken_by_a_send_or_the_close() {
        loom::model(|| {
            let (tx, rx) = ResultChannel::<u8>::bounded(2);
            let closer = tx.clone();
            let receiver = thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(item) = loom::future::block_on(rx.recv()) {
                    got.push(item.unwrap());
                }
                got
            });
            let sender = thread::spawn(move || {
                let _ = tx.try_send(Ok(7));
            });
            closer.close();
            sender.join().unwrap();
            let got = receiver.join().unwrap();
            assert!(got.is_empty() || got == [7], "{got:?}");
        });
    }

    /// Two receives wait on an empty channel; one gives up after it may have been woken by
    /// the send. The item then reaches the other one: the wake-up is passed on (the sender
    /// stays alive, so no close can wake it instead).
    #[test]
    fn loom_a_receiver_that_gives_up_passes_its_wake_up_on() {
        loom::model(|| {
            let (tx, rx) = ResultChannel::<u8>::bounded(1);
            let quitter = rx.clone();
            let waiter = thread::spawn(move || loom::future::block_on(rx.recv()).unwrap().unwrap());
            let gives_up = thread::spawn(move || {
                let mut recv = Box::pin(quitter.recv());
                let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
                match recv.as_mut().poll(&mut cx) {
                    std::task::Poll::Ready(item) => Some(item.unwrap().unwrap()),
                    // Dropping the future settles it, woken or not.
                    std::task::Poll::Pending => None,
                }
            });
            tx.try_send(Ok(7)).unwrap();
            let quitter_got = gives_up.join().unwrap();
            if quitter_got.is_some() {
                // It took the item: the waiter needs another one.
                tx.try_send(Ok(8)).unwrap();
            }
            let waiter_got = waiter.join().unwrap();
            match quitter_got {
                Some(got) => assert_eq!((got, waiter_got), (7, 8)),
                None => assert_eq!(waiter_got, 7),
            }
            drop(tx);
        });
    }

    /// Two senders wait on a full channel; one gives up after it may have been woken. The
    /// room a receive makes still reaches the other one (the wake-up is passed on).
    #[test]
    fn loom_a_sender_that_gives_up_passes_its_wake_up_on() {
        loom::model(|| {
            let (tx, rx) = ResultChannel::<u8>::bounded(1);
            tx.try_send(Ok(0)).unwrap();
            let quitter = tx.clone();
            let waiter = thread::spawn(move || loom::future::block_on(tx.send(Ok(2))).unwrap());
            let gives_up = thread::spawn(move || {
                let mut send = quitter.send(Ok(1));
                let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
                let _ = std::pin::Pin::new(&mut send).poll(&mut cx);
                // Whether it got in or not, dropping the future settles it.
                drop(send);
            });
            gives_up.join().unwrap();
            let first = rx.try_recv().unwrap().unwrap();
            assert_eq!(first, 0);
            waiter.join().unwrap();
            let mut rest = Vec::new();
            while let Ok(item) = rx.try_recv() {
                rest.push(item.unwrap());
            }
            assert!(rest == [2] || rest == [1, 2] || rest == [2, 1], "{rest:?}");
        });
    }
}
