//! ResultChannel behaviour: items given back on every failure, close semantics, blocking and
//! async sides together, fail-fast, trace context, collectors, forwarding, counters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{stream, StreamExt};
use result_runtime::channel::{
    RecvTimeoutError, ResultChannel, SendTimeoutError, TryRecvError, TrySendError,
};
use result_runtime::trace::TraceContext;
use result_runtime::{Code, TaskError};

fn err(msg: &'static str) -> TaskError {
    TaskError::new(Code::UNAVAILABLE, msg)
}

#[tokio::test]
async fn try_send_gives_the_item_back_when_full_and_when_closed() {
    let (tx, rx) = ResultChannel::<String>::bounded(1);
    tx.try_send(Ok("a".into())).unwrap();
    assert_eq!(tx.len(), 1);

    let full = tx.try_send(Ok("b".into())).unwrap_err();
    assert!(full.is_full());
    assert_eq!(full.into_item().unwrap(), "b");

    let full_err = tx.try_send(Err(err("x"))).unwrap_err();
    assert!(matches!(&full_err, TrySendError::Full(Err(e)) if e.message() == "x"));

    rx.close();
    let closed = tx.try_send(Ok("c".into())).unwrap_err();
    assert!(closed.is_closed());
    let TrySendError::Closed(e) = closed else { unreachable!() };
    assert!(e.cause().is_none());
    assert_eq!(e.to_string(), "result channel closed");
    assert_eq!(e.into_item().unwrap(), "c");

    // What was sent before the close is still there.
    assert_eq!(rx.try_recv().unwrap().unwrap(), "a");
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
}

#[tokio::test]
async fn send_to_a_channel_without_receivers_gives_the_item_back() {
    let (tx, rx) = ResultChannel::<u32>::bounded(4);
    drop(rx);
    let e = tx.send(Ok(9)).await.unwrap_err();
    assert_eq!(e.into_item().unwrap(), 9);
    assert!(tx.is_closed());
}

#[tokio::test]
async fn close_from_either_side_delivers_what_was_sent_then_none() {
    for close_from_sender in [true, false] {
        let (tx, rx) = ResultChannel::<u32>::bounded(8);
        for i in 0..3 {
            tx.send(Ok(i)).await.unwrap();
        }
        tx.send(Err(err("third"))).await.unwrap();
        let first_close = if close_from_sender { tx.close() } else { rx.close() };
        assert!(first_close);
        assert!(!tx.close(), "second close reports it was already closed");
        assert!(tx.is_closed() && rx.is_closed());

        assert_eq!(tx.send(Ok(99)).await.unwrap_err().into_item().unwrap(), 99);
        assert_eq!(rx.len(), 4);
        let mut got = Vec::new();
        while let Some(item) = rx.recv().await {
            got.push(item.map_err(|e| e.message().into_owned()));
        }
        assert_eq!(got, [Ok(0), Ok(1), Ok(2), Err("third".to_owned())]);
        assert!(rx.is_empty());
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
    }
}

#[tokio::test]
async fn dropping_all_senders_ends_the_stream_after_the_last_item() {
    let (tx, rx) = ResultChannel::<u32>::bounded(4);
    let tx2 = tx.clone();
    tx.send(Ok(1)).await.unwrap();
    tx2.send(Ok(2)).await.unwrap();
    drop(tx);
    assert!(!rx.is_closed(), "one sender is left");
    drop(tx2);
    let all: Vec<u32> = rx.map(Result::unwrap).collect().await;
    assert_eq!(all, [1, 2]);
}

#[tokio::test]
async fn a_sender_waiting_for_room_is_woken_by_close_and_gets_its_item_back() {
    let (tx, rx) = ResultChannel::<u32>::bounded(1);
    tx.send(Ok(1)).await.unwrap();
    let waiting = tokio::spawn({
        let tx = tx.clone();
        async move { tx.send(Ok(2)).await }
    });
    // Current-thread runtime: one yield lets the spawned send run until it parks.
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "the send waits for room");
    drop(rx);
    let e = waiting.await.unwrap().unwrap_err();
    assert_eq!(e.into_item().unwrap(), 2);
}

#[tokio::test]
async fn backpressure_send_waits_for_room() {
    let (tx, rx) = ResultChannel::<u32>::bounded(2);
    let producer = tokio::spawn(async move {
        for i in 0..100 {
            tx.send(Ok(i)).await.unwrap();
        }
    });
    let mut next = 0;
    while let Some(item) = rx.recv().await {
        assert!(rx.len() <= 2);
        assert_eq!(item.unwrap(), next);
        next += 1;
    }
    producer.await.unwrap();
    assert_eq!(next, 100);
}

#[tokio::test(start_paused = true)]
async fn send_timeout_gives_the_item_back_and_recv_timeout_takes_nothing() {
    let (tx, rx) = ResultChannel::<u32>::bounded(1);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).await.unwrap_err(),
        RecvTimeoutError::Timeout
    );

    tx.send_timeout(Ok(1), Duration::from_secs(1)).await.unwrap();
    match tx.send_timeout(Ok(2), Duration::from_secs(1)).await {
        Err(SendTimeoutError::Timeout(item)) => assert_eq!(item.unwrap(), 2),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).await.unwrap().unwrap(), 1);
    drop(tx);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).await.unwrap_err(),
        RecvTimeoutError::Closed
    );
}

#[tokio::test]
async fn send_timeout_on_a_closed_channel_gives_the_item_back() {
    let (tx, rx) = ResultChannel::<u32>::bounded(1);
    rx.close();
    match tx.send_timeout(Ok(5), Duration::from_secs(1)).await {
        Err(SendTimeoutError::Closed(e)) => assert_eq!(e.into_item().unwrap(), 5),
        other => panic!("expected closed, got {other:?}"),
    }
}

#[tokio::test]
async fn recv_many_batches_what_is_ready() {
    let (tx, rx) = ResultChannel::<u32>::bounded(8);
    let mut buf = Vec::new();
    assert_eq!(rx.recv_many(&mut buf, 0).await, 0);
    for i in 0..5 {
        tx.try_send(Ok(i)).unwrap();
    }
    assert_eq!(rx.recv_many(&mut buf, 2).await, 2);
    assert_eq!(rx.recv_many(&mut buf, 10).await, 3);
    drop(tx);
    assert_eq!(rx.recv_many(&mut buf, 10).await, 0);
    let values: Vec<u32> = buf.into_iter().map(Result::unwrap).collect();
    assert_eq!(values, [0, 1, 2, 3, 4]);
}

#[test]
fn blocking_and_async_sides_together() {
    const PER: u64 = 500;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();

    // Blocking producers, async consumers.
    let (tx, rx) = ResultChannel::<u64>::bounded(4);
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    tx.blocking_send(Ok(p * PER + i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            rt.spawn(async move {
                let mut got = Vec::new();
                while let Some(v) = rx.recv().await {
                    got.push(v.unwrap());
                }
                got
            })
        })
        .collect();
    drop(rx);
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<u64> = consumers.into_iter().flat_map(|c| rt.block_on(c).unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..3 * PER).collect::<Vec<_>>());

    // Async producers, blocking consumers.
    let (tx, rx) = ResultChannel::<u64>::bounded(4);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(v) = rx.blocking_recv() {
                    got.push(v.unwrap());
                }
                got
            })
        })
        .collect();
    drop(rx);
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let tx = tx.clone();
            rt.spawn(async move {
                for i in 0..PER {
                    tx.send(Ok(p * PER + i)).await.unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        rt.block_on(p).unwrap();
    }
    let mut all: Vec<u64> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..3 * PER).collect::<Vec<_>>());
}

#[tokio::test]
async fn fail_fast_first_error_closes_and_becomes_the_cause() {
    let (tx, rx) = ResultChannel::<u32>::builder(8).fail_fast().build();
    let rx2 = rx.clone();
    tx.send(Ok(1)).await.unwrap();
    tx.send(Ok(2)).await.unwrap();
    tx.send(Err(err("first"))).await.unwrap();
    assert!(tx.is_closed());
    assert_eq!(tx.cause().unwrap().message(), "first");

    // Later sends, of either kind, are refused with the item and the cause.
    let later = tx.send(Ok(3)).await.unwrap_err();
    assert_eq!(later.cause().unwrap().message(), "first");
    assert!(later.to_string().contains("closed by an earlier error"));
    assert_eq!(later.into_item().unwrap(), 3);
    let later_err = tx.try_send(Err(err("second"))).unwrap_err();
    let TrySendError::Closed(e) = later_err else { panic!("expected Closed") };
    assert_eq!(e.cause().unwrap().message(), "first");
    assert_eq!(e.into_item().unwrap_err().message(), "second");
    assert!(tx.blocking_send_probe(Ok(4)));

    // Receivers: what came before, then the error exactly once (across clones), then None.
    assert_eq!(rx.recv().await.unwrap().unwrap(), 1);
    assert_eq!(rx2.recv().await.unwrap().unwrap(), 2);
    assert_eq!(rx2.recv().await.unwrap().unwrap_err().message(), "first");
    assert!(rx.recv().await.is_none());
    assert!(rx2.recv().await.is_none());
    assert_eq!(rx.stats().ok, 2);
    assert_eq!(rx.stats().err, 1, "only the first error was accepted");
}

trait BlockingProbe {
    fn blocking_send_probe(&self, item: result_runtime::Result<u32>) -> bool;
}

impl BlockingProbe for result_runtime::channel::ResultSender<u32> {
    /// `blocking_send` on a fail-fast-closed channel refuses at once, with the cause.
    fn blocking_send_probe(&self, item: result_runtime::Result<u32>) -> bool {
        let e = self.blocking_send(item).unwrap_err();
        e.cause().is_some() && e.into_item().is_ok()
    }
}

#[tokio::test]
async fn fail_fast_error_never_waits_for_room_and_wakes_waiting_senders() {
    let (tx, rx) = ResultChannel::<u32>::builder(1).fail_fast().build();
    tx.send(Ok(1)).await.unwrap();
    let waiting = tokio::spawn({
        let tx = tx.clone();
        async move { tx.send(Ok(2)).await }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "the send waits for room");
    // The channel is full, yet the error goes through at once.
    tx.send(Err(err("boom"))).await.unwrap();
    let e = waiting.await.unwrap().unwrap_err();
    assert_eq!(e.cause().unwrap().message(), "boom");
    assert_eq!(e.into_item().unwrap(), 2);
    assert_eq!(rx.collect_ok().await.unwrap_err().message(), "boom");
}

#[tokio::test]
async fn fail_fast_concurrent_errors_have_one_winner() {
    let (tx, rx) = ResultChannel::<u32>::builder(64).fail_fast().build();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let tx = tx.clone();
            tokio::spawn(async move {
                tx.send(Err(TaskError::new(Code::UNAVAILABLE, format!("e{i}")))).await.is_ok()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    let (values, errors) = rx.partition().await;
    assert!(values.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(Some(errors[0].message()), tx.cause().as_ref().map(TaskError::message));
}

#[tokio::test]
async fn without_fail_fast_errors_are_ordinary_items() {
    let (tx, rx) = ResultChannel::<u32>::bounded(8);
    tx.send(Err(err("a"))).await.unwrap();
    tx.send(Ok(1)).await.unwrap();
    tx.send(Err(err("b"))).await.unwrap();
    tx.send(Ok(2)).await.unwrap();
    drop(tx);
    let (values, errors) = rx.partition().await;
    assert_eq!(values, [1, 2]);
    let msgs: Vec<_> = errors.iter().map(|e| e.message().into_owned()).collect();
    assert_eq!(msgs, ["a", "b"]);
}

#[tokio::test]
async fn collect_ok_returns_all_values_or_the_first_error() {
    let (tx, rx) = ResultChannel::<u32>::bounded(8);
    for i in 0..4 {
        tx.send(Ok(i)).await.unwrap();
    }
    drop(tx);
    assert_eq!(rx.collect_ok().await.unwrap(), [0, 1, 2, 3]);

    let (tx, rx) = ResultChannel::<u32>::bounded(8);
    tx.send(Ok(0)).await.unwrap();
    tx.send(Err(err("first"))).await.unwrap();
    tx.send(Err(err("second"))).await.unwrap();
    drop(tx);
    assert_eq!(rx.collect_ok().await.unwrap_err().message(), "first");
}

#[tokio::test]
async fn counters_count_accepted_items_by_outcome() {
    let (tx, rx) = ResultChannel::<u32>::bounded(2);
    tx.send(Ok(1)).await.unwrap();
    tx.send(Err(err("x"))).await.unwrap();
    assert!(tx.try_send(Ok(2)).is_err(), "full: not counted");
    let s = rx.stats();
    assert_eq!((s.ok, s.err), (1, 1));
    rx.close();
    assert!(tx.try_send(Err(err("y"))).is_err(), "closed: not counted");
    assert_eq!(tx.stats(), s);
}

#[tokio::test]
async fn each_item_carries_its_senders_trace_context() {
    let (tx, rx) = ResultChannel::<u32>::bounded(8);
    let a = TraceContext::new_root();
    let b = TraceContext::new_root();
    a.scope(tx.send(Ok(1))).await.unwrap();
    tx.send(Ok(2)).await.unwrap();
    b.scope(async { tx.try_send(Err(err("in b"))).unwrap() }).await;
    let tx2 = tx.clone();
    let a2 = a.clone();
    std::thread::spawn(move || a2.sync_scope(|| tx2.blocking_send(Ok(3)).unwrap())).join().unwrap();

    let one = rx.recv_traced().await.unwrap();
    assert_eq!(one.trace, Some(a.clone()));
    assert_eq!(one.scope(async { TraceContext::current() }).await, Some(a.clone()));
    assert_eq!(one.sync_scope(TraceContext::current_trace_id), Some(a.trace_id));

    let two = rx.try_recv_traced().unwrap();
    assert_eq!(two.trace, None);
    assert_eq!(two.scope(async { TraceContext::current() }).await, None);

    let three = rx.recv_traced().await.unwrap();
    assert_eq!(three.trace, Some(b));
    assert_eq!(three.into_result().unwrap_err().message(), "in b");
    assert_eq!(rx.recv_traced().await.unwrap().trace, Some(a));
}

#[tokio::test]
async fn fail_fast_error_keeps_its_trace_context() {
    let (tx, rx) = ResultChannel::<u32>::builder(4).fail_fast().build();
    let ctx = TraceContext::new_root();
    ctx.scope(tx.send(Err(err("traced")))).await.unwrap();
    let item = rx.recv_traced().await.unwrap();
    assert_eq!(item.trace, Some(ctx));
}

#[tokio::test]
async fn forward_streams_results_and_indexed_pairs() {
    let (tx, rx) = ResultChannel::<u32>::bounded(2);
    let source = stream::iter(vec![Ok(1), Err(err("two")), Ok(3)]);
    let indexed = stream::iter(vec![(2, Ok(4)), (0, Ok(5))]);
    let sender = async move {
        let a = tx.forward(source).await.unwrap();
        let b = tx.forward(indexed).await.unwrap();
        (a, b)
    };
    let (counts, (values, errors)) = tokio::join!(sender, rx.partition());
    assert_eq!(counts, (3, 2));
    assert_eq!(values, [1, 3, 4, 5]);
    assert_eq!(errors.len(), 1);
}

#[tokio::test]
async fn forward_into_a_fail_fast_channel_stops_pulling_after_the_error() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&pulled);
    let source = stream::iter(0..100u32).map(move |i| {
        counted.fetch_add(1, Ordering::SeqCst);
        if i == 3 {
            Err(err("stop"))
        } else {
            Ok(i)
        }
    });
    let (tx, rx) = ResultChannel::<u32>::builder(128).fail_fast().build();
    assert_eq!(tx.forward(source).await.unwrap(), 4);
    assert_eq!(pulled.load(Ordering::SeqCst), 4, "nothing pulled after the channel closed");
    assert_eq!(rx.collect_ok().await.unwrap_err().message(), "stop");
}

#[tokio::test]
async fn forward_into_a_closed_channel_returns_the_item() {
    let (tx, rx) = ResultChannel::<u32>::bounded(2);
    rx.close();
    let e = tx.forward(stream::iter(vec![Ok(7), Ok(8)])).await.unwrap_err();
    assert_eq!(e.into_item().unwrap(), 7);
}

#[tokio::test]
async fn receivers_share_the_items_each_goes_to_one() {
    let (tx, rx) = ResultChannel::<u32>::bounded(16);
    let rx2 = rx.clone();
    for i in 0..10 {
        tx.send(Ok(i)).await.unwrap();
    }
    drop(tx);
    let (a, b) = tokio::join!(rx.partition(), rx2.partition());
    let mut all = [a.0, b.0].concat();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
}

#[test]
fn debug_output_names_the_state_not_the_items() {
    let (tx, rx) = ResultChannel::<u32>::bounded(3);
    tx.try_send(Ok(1)).unwrap();
    let s = format!("{tx:?} {rx:?}");
    assert!(s.contains("len: 1") && s.contains("capacity: 3"), "{s}");
    tx.try_send(Ok(2)).unwrap();
    tx.try_send(Ok(3)).unwrap();
    let full = tx.try_send(Ok(4)).unwrap_err();
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert_eq!(full.to_string(), "result channel full");
}

#[tokio::test]
async fn fail_fast_error_reaches_every_kind_of_receive() {
    // try_recv
    let (tx, rx) = ResultChannel::<u32>::builder(4).fail_fast().build();
    tx.try_send(Ok(1)).unwrap();
    tx.try_send(Err(err("stop"))).unwrap();
    assert_eq!(rx.try_recv().unwrap().unwrap(), 1);
    assert_eq!(rx.try_recv().unwrap().unwrap_err().message(), "stop");
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);

    // Stream
    let (tx, rx) = ResultChannel::<u32>::builder(4).fail_fast().build();
    tx.try_send(Ok(1)).unwrap();
    tx.try_send(Err(err("stop"))).unwrap();
    let items: Vec<_> = rx.collect().await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].as_ref().unwrap_err().message(), "stop");

    // blocking_recv, from a plain thread
    let (tx, rx) = ResultChannel::<u32>::builder(4).fail_fast().build();
    tx.try_send(Err(err("stop"))).unwrap();
    let got = std::thread::spawn(move || (rx.blocking_recv(), rx.blocking_recv())).join().unwrap();
    assert_eq!(got.0.unwrap().unwrap_err().message(), "stop");
    assert!(got.1.is_none());

    // recv_many
    let (tx, rx) = ResultChannel::<u32>::builder(4).fail_fast().build();
    tx.try_send(Ok(1)).unwrap();
    tx.try_send(Err(err("stop"))).unwrap();
    let mut buf = Vec::new();
    assert_eq!(rx.recv_many(&mut buf, 10).await, 2);
    assert!(buf[1].is_err());
    assert_eq!(rx.recv_many(&mut buf, 10).await, 0);
}

/// Every closed-channel error of a fail-fast channel carries the cause: its text, and the
/// chain of the error it was built from (here an `io::Error`), through `std::error::Error`
/// as reporters (anyhow, tracing) walk it.
#[tokio::test]
async fn send_errors_carry_the_cause_text_and_chain() {
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            out.push(s.to_string());
            next = s.source();
        }
        out
    }
    let disk = std::io::Error::other("disk on fire");
    let cause = TaskError::from(disk).context("flushing shard 3");
    let (tx, _rx) = ResultChannel::<u32>::builder(1).fail_fast().build();
    tx.send(Err(cause)).await.unwrap();

    let send = tx.send(Ok(1)).await.unwrap_err();
    let try_send = tx.try_send(Ok(2)).unwrap_err();
    let timeout = tx.send_timeout(Ok(3), Duration::from_millis(1)).await.unwrap_err();
    assert!(matches!(timeout, SendTimeoutError::Closed(_)));
    let views: [&dyn std::error::Error; 3] = [&send, &try_send, &timeout];
    for view in views {
        let chain = chain(view);
        assert!(chain[0].contains("flushing shard 3"), "the message is kept: {chain:?}");
        assert!(view.source().is_some(), "the cause is the source: {chain:?}");
        assert_eq!(chain.last().unwrap(), "disk on fire", "the root is reachable: {chain:?}");
    }

    // Without a cause there is nothing to chain.
    let (tx, rx) = ResultChannel::<u32>::bounded(1);
    rx.close();
    let plain = tx.try_send(Ok(1)).unwrap_err();
    assert!(std::error::Error::source(&plain).is_none());
    tx.close();
    let full = ResultChannel::<u32>::bounded(1);
    full.0.try_send(Ok(1)).unwrap();
    assert!(std::error::Error::source(&full.0.try_send(Ok(2)).unwrap_err()).is_none());
}
