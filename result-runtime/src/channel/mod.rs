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
//! # Built on async-channel
//!
//! Storage and receive-side waiting are [`async_channel`]'s (smol-rs: a bounded lock-free
//! array queue from `concurrent-queue`, `event-listener` wake-ups). The candidates were
//! async-channel and `flume` (tokio's `mpsc` has a single consumer). What was measured
//! (`cargo bench --bench channel`, `Result<u64>`, capacity 1024, same run, on a 2-core
//! machine shared with other jobs, load average 8-10, so every number is noisy):
//!
//! | ns per item          | async-channel | flume | tokio mpsc |
//! |----------------------|---------------|-------|------------|
//! | 1P1C, 2 workers      | 199           | 126   | 110        |
//! | 4P4C, 2 workers      | 169           | 94    | 179 (4P1C) |
//! | 1P1C, current thread | 205           | 107   | 182        |
//!
//! Raw flume was faster in every run (0.5x-0.7x async-channel's time). async-channel is
//! used anyway, because the contract needs what flume lacks:
//!
//! - **close from either side while handles live**, delivering what was sent: flume only
//!   disconnects when every sender or every receiver is dropped; emulating close would add
//!   a second wake-up source raced against every receive;
//! - a receive that takes an item only in the poll that returns it (cancel-safe), a
//!   `Stream`, `len`, and blocking variants, all native.
//!
//! Switching the backend is local to this module (push, pop, close); it is worth revisiting
//! if flume gains `close`.
//!
//! What this layer costs: on a current-thread runtime (no cross-thread wake-ups, the
//! steadiest number here) 1P1C took 114 ns per item against async-channel's 76 ns. The
//! channel sits full in that bench (the producer outruns the consumer), so every receive
//! wakes the waiting sender through this module's own event: one more event-listener lock
//! per item (~17 ns in the profile) than async-channel's internal wake-up, plus the trace
//! capture and counters (~14 ns). That is the price of a send that keeps its item. On the
//! 2-worker runtime the same-run ratio swung between 0.6x and 1.1x of async-channel from
//! run to run (1P1C and 4P4C), i.e. it is dominated by scheduling noise on this machine.
//!
//! What async-channel does not give us, and this module adds:
//!
//! - **Cancel-safe send.** A cancelled `async_channel::Send` drops its value. Here the value
//!   stays in the [`SendFuture`] until the queue accepts it (an atomic `try_send`), and
//!   [`SendFuture::into_item`] takes it back if the send did not happen. Waiting for room
//!   uses a separate `event-listener` event that receivers signal when an item leaves while
//!   a sender waits (a counter keeps the common case, nobody waiting, free of its lock).
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
mod receiver;
mod sender;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use event_listener::Event;
use futures_util::future::Either;

use crate::config::ConfigError;
use crate::error::{Result, TaskError};
use crate::sync::AtomicUsize as WaitCounter;
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

/// One shard of the ok/err counters, on its own cache line (128 bytes: adjacent-line
/// prefetch pairs lines on x86).
#[repr(align(128))]
#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    err: AtomicU64,
}

/// Sharded by thread, so that producers on different threads do not bounce one cache line
/// on every send (the queue's own lines are contended enough); [`Shared::counts`] sums them.
struct ShardedCounters {
    shards: Box<[Counters]>,
}

impl ShardedCounters {
    const SHARDS: usize = 8;

    fn new() -> Self {
        Self { shards: (0..Self::SHARDS).map(|_| Counters::default()).collect() }
    }

    #[inline]
    fn add(&self, ok: bool) {
        thread_local! {
            // `usize::MAX` until first use; a const initialiser keeps the access cheap.
            static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let index = SHARD
            .try_with(|s| {
                if s.get() == usize::MAX {
                    s.set(NEXT.fetch_add(1, Ordering::Relaxed) % Self::SHARDS);
                }
                s.get()
            })
            .unwrap_or(0);
        let shard = &self.shards[index];
        let counter = if ok { &shard.ok } else { &shard.err };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// State shared by all senders and receivers of one channel, beside async-channel's own.
struct Shared {
    fail_fast: bool,
    /// Signalled after each item leaves the queue and on close: senders waiting for room
    /// listen here (async-channel's own send event is private to its `Send` future).
    space: Event,
    /// Senders between "saw Full" and "done": receivers skip `space.notify` (which always
    /// takes event-listener's list lock) while it is zero, which is almost always.
    waiting: Padded<WaitCounter>,
    counters: ShardedCounters,
    failure: OnceLock<Failure>,
    failure_taken: AtomicBool,
    /// Our own count, so that exactly one dropping receiver sees the last one go and wakes
    /// the senders waiting for room (async-channel closes, but does not know our event).
    receivers: AtomicUsize,
}

/// A value alone on its cache line.
#[repr(align(128))]
struct Padded<T>(T);

impl Shared {
    fn wake_all_senders(&self) {
        self.space.notify(usize::MAX);
    }

    /// A sender saw `Full` and will listen. `SeqCst`: pairs with [`Self::made_room`] (the
    /// sender's retry after listening must see a pop that this count did not announce).
    fn start_waiting(&self) {
        self.waiting.0.fetch_add(1, Ordering::SeqCst);
    }

    fn stop_waiting(&self) {
        self.waiting.0.fetch_sub(1, Ordering::SeqCst);
    }

    /// An item left the queue. async-channel's `try_recv`, under every receive, issued a
    /// `SeqCst` fence after the pop, so either this load sees the waiting sender, or that
    /// sender's retry (after its `SeqCst` increment) sees the room.
    #[inline]
    fn made_room(&self) {
        if self.waiting.0.load(Ordering::SeqCst) > 0 {
            self.space.notify_additional_relaxed(1);
        }
    }

    fn counts(&self) -> ChannelStats {
        let mut stats = ChannelStats::default();
        for shard in &*self.counters.shards {
            stats.ok += shard.ok.load(Ordering::Relaxed);
            stats.err += shard.err.load(Ordering::Relaxed);
        }
        stats
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
    _items: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for ResultChannel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultChannel")
            .field("capacity", &self.capacity)
            .field("fail_fast", &self.fail_fast)
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
        Self { capacity, fail_fast: false, _items: PhantomData }
    }

    /// The first `Err` sent closes the channel; later sends return [`SendError`] carrying
    /// that error as [`cause`](SendError::cause). Receivers still get every item sent
    /// before it, then the error, then `None`.
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// The two ends. Both are cloneable: the channel closes when every sender or every
    /// receiver is dropped, or on [`ResultSender::close`] / [`ResultReceiver::close`].
    #[must_use]
    pub fn build(self) -> (ResultSender<T>, ResultReceiver<T>) {
        let (tx, rx) = async_channel::bounded(self.capacity);
        let shared = Arc::new(Shared {
            fail_fast: self.fail_fast,
            space: Event::new(),
            waiting: Padded(WaitCounter::new(0)),
            counters: ShardedCounters::new(),
            failure: OnceLock::new(),
            failure_taken: AtomicBool::new(false),
            receivers: AtomicUsize::new(1),
        });
        (ResultSender::new(tx, Arc::clone(&shared)), ResultReceiver::new(rx, shared))
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
        let waiting = |tx: &sender::ResultSender<u8>| tx.shared.waiting.0.load(Ordering::SeqCst);

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

/// Model checks of the waiting-sender counter, on the real channel: under `--cfg loom`,
/// async-channel's queue (`concurrent-queue`) and both events (`event-listener`) run on
/// loom's atomics, fences and mutexes too, so what is checked is the code that ships.
///
/// The protocol (see [`Shared::made_room`]): a sender that saw `Full` increments `waiting`
/// (`SeqCst`), listens, and pushes again: concurrent-queue's array queue issues a `SeqCst`
/// fence before it reads `head` and reports `Full`. A receiver pops (a `SeqCst` CAS of
/// `head`), then async-channel's `send_ops.notify_additional` issues a `SeqCst` fence before
/// our load of `waiting`. Fence against fence: either the retry sees the room or the
/// receiver sees the waiter. A lost wake-up leaves the sender parked for good, which loom
/// reports as a deadlock (and does, if `start_waiting` is moved after the retry).
///
/// The models use capacity 2. At capacity 1 concurrent-queue uses its `Single` queue,
/// where the pairing is made by `SeqCst` read-modify-writes of one state word instead of
/// fences (the sender's failed CAS is coherence-ordered before the receiver's pop, so in
/// the single total order `waiting += 1` < failed push < pop < fence < load, and the
/// load sees the waiter). Loom models `SeqCst` accesses as `AcqRel` (a limitation its
/// README states; only `SeqCst` fences are exact), so it reports a false deadlock there.
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
                assert_eq!(tx.shared.waiting.0.load(Ordering::SeqCst), 0);
            });
            assert_eq!(rx.try_recv().unwrap().unwrap(), 0);
            sender.join().unwrap();
            assert_eq!(rx.try_recv().unwrap().unwrap(), 1);
            assert_eq!(rx.try_recv().unwrap().unwrap(), 2);
        });
    }

    /// The same with the blocking send, which parks the thread on an `EventListener`.
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
}
