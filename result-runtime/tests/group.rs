//! Behaviour of `result_runtime::group::Group`: fail-fast, ordering, limits, deadlines,
//! panics, nesting, lifetimes. Deterministic: signals, drop guards, paused time.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use result_runtime::context::Context;
use result_runtime::group::Group;
use result_runtime::trace::TraceContext;
use result_runtime::{Code, ConfigError, ErrorKind, Result, TaskError};
use tokio::sync::{mpsc, oneshot, Notify};

/// Counts drops; a task holding one shows whether its future was dropped.
#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

impl Drops {
    fn guard(&self) -> Guard {
        Guard(self.0.clone())
    }
    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Tracks how many tasks are inside a section at once, and the most ever seen.
#[derive(Clone, Default)]
struct HighWater {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl HighWater {
    fn enter(&self) -> Inside {
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(n, SeqCst);
        Inside(self.now.clone())
    }
    fn max(&self) -> usize {
        self.max.load(SeqCst)
    }
}

struct Inside(Arc<AtomicUsize>);

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

fn unavailable(msg: &'static str) -> TaskError {
    TaskError::new(Code::UNAVAILABLE, msg)
}

/// A task that reports it started, then waits forever holding `guard`.
async fn park(started: mpsc::UnboundedSender<()>, guard: Guard) -> Result<u32> {
    let _guard = guard;
    started.send(()).unwrap();
    std::future::pending().await
}

#[tokio::test]
async fn first_error_cancels_and_drops_the_siblings() {
    let drops = Drops::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (fail_tx, fail_rx) = oneshot::channel::<()>();
    let g = Group::new();
    let siblings: Vec<_> =
        (0..10).map(|_| g.spawn(park(started_tx.clone(), drops.guard()))).collect();
    // A sibling that watches the group's context itself and reports its own `Cancelled`
    // in the same poll the failure cancels it: it must not win.
    g.spawn(async {
        Context::current().unwrap().child().run(std::future::pending::<Result<u32>>()).await
    });
    let failing = g.spawn(async {
        fail_rx.await.unwrap();
        Err(unavailable("inventory down"))
    });
    for _ in 0..10 {
        started.recv().await.unwrap();
    }
    assert_eq!(drops.count(), 0);
    let ctx = g.context().clone();
    fail_tx.send(()).unwrap();

    let err = g.join().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert_eq!(err.code(), Code::UNAVAILABLE);
    assert_eq!(err.task(), Some("group[11]"));
    assert_eq!(drops.count(), 10, "every sibling's future was dropped before join returned");
    assert_eq!(ctx.cause().unwrap().code(), Code::UNAVAILABLE, "cancelled with the failure");
    assert_eq!(failing.await.unwrap_err().code(), Code::UNAVAILABLE);
    for sibling in siblings {
        let e = sibling.await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert_eq!(e.cause().unwrap().code(), Code::UNAVAILABLE);
    }
}

#[tokio::test]
async fn a_cancelled_result_before_the_failure_does_not_win_either() {
    let (fail_tx, fail_rx) = oneshot::channel::<()>();
    let g = Group::<()>::new();
    let early = g.spawn(async { Err(TaskError::cancelled(None)) });
    g.spawn(async {
        fail_rx.await.unwrap();
        Err(unavailable("late but real"))
    });
    early.await.unwrap_err();
    assert!(g.failure().is_none(), "a Cancelled is never recorded");
    assert!(!g.context().is_cancelled());
    fail_tx.send(()).unwrap();
    let err = g.join().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert_eq!(err.message(), "late but real");
}

#[tokio::test(start_paused = true)]
async fn results_keep_spawn_order_under_random_completion_order() {
    let mut rng = fastrand::Rng::with_seed(7);
    let finished = Arc::new(Mutex::new(Vec::new()));
    let g = Group::new();
    for i in 0..300_u64 {
        let delay = Duration::from_millis(rng.u64(0..1_000));
        let finished = finished.clone();
        g.spawn(async move {
            tokio::time::sleep(delay).await;
            finished.lock().unwrap().push(i);
            Ok(i * 3)
        });
    }
    let values = g.join().await.unwrap();
    assert_eq!(values, (0..300).map(|i| i * 3).collect::<Vec<_>>());
    let finished = finished.lock().unwrap();
    assert_eq!(finished.len(), 300);
    assert!(!finished.is_sorted(), "the tasks really finished out of order");
}

#[tokio::test(start_paused = true)]
async fn the_limit_is_never_exceeded_and_is_used() {
    let inside = HighWater::default();
    let g = Group::builder().limit(4).build().unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    for i in 0..100_usize {
        let inside = inside.clone();
        let delay = Duration::from_millis(rng.u64(1..50));
        g.spawn(async move {
            let _in = inside.enter();
            tokio::time::sleep(delay).await;
            Ok(i)
        });
    }
    assert_eq!(g.join().await.unwrap(), (0..100).collect::<Vec<_>>());
    assert_eq!(inside.max(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_fails_the_group_and_drops_the_slow_tasks() {
    let drops = Drops::default();
    let g = Group::builder().name("slow").timeout(Duration::from_secs(1)).build().unwrap();
    g.spawn(async { Ok(1) });
    for _ in 0..3 {
        let guard = drops.guard();
        g.spawn(async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(2)
        });
    }
    let start = tokio::time::Instant::now();
    let err = g.join().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.task().unwrap().starts_with("slow["), "{:?}", err.task());
    assert_eq!(drops.count(), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(1), "ended at the deadline, not at 10s");
}

#[tokio::test]
async fn a_panic_among_1000_tasks_becomes_the_error_and_cancels_the_rest() {
    let drops = Drops::default();
    let go = Arc::new(Notify::new());
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let g = Group::builder().name("batch").build().unwrap();
    for i in 0..1_000_u32 {
        let go = go.clone();
        let started = started_tx.clone();
        let guard = drops.guard();
        g.spawn(async move {
            let _guard = guard;
            started.send(()).unwrap();
            go.notified().await;
            assert!(i != 537, "task {i} is broken");
            std::future::pending::<()>().await;
            Ok(i)
        });
    }
    for _ in 0..1_000 {
        started.recv().await.unwrap();
    }
    go.notify_waiters();
    let err = g.join().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.code(), Code::PANICKED);
    assert_eq!(err.task(), Some("batch[537]"));
    let report = err.panic().unwrap();
    assert_eq!(report.message(), "task 537 is broken");
    assert!(report.location().unwrap().contains("group.rs"), "{:?}", report.location());
    assert_eq!(err.client_message(), Code::PANICKED.safe_message(), "no payload for clients");
    assert_eq!(drops.count(), 1_000);
}

#[tokio::test]
async fn an_outer_failure_cancels_a_nested_group() {
    let drops = Drops::default();
    let (inner_ctx_tx, inner_ctx_rx) = oneshot::channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let outer = Group::<Vec<u32>>::new();
    let inner_drops = drops.clone();
    let nested = outer.spawn(async move {
        let inner = Group::new();
        for _ in 0..3 {
            inner.spawn(park(started_tx.clone(), inner_drops.guard()));
        }
        inner_ctx_tx.send(inner.context().clone()).unwrap();
        inner.join().await
    });
    let inner_ctx = inner_ctx_rx.await.unwrap();
    for _ in 0..3 {
        started.recv().await.unwrap();
    }
    outer.spawn(async { Err(unavailable("outer fails")) });
    let err = outer.join().await.unwrap_err();
    assert_eq!(err.message(), "outer fails");
    assert_eq!(drops.count(), 3, "the nested group's tasks were dropped");
    assert!(inner_ctx.is_cancelled());
    assert_eq!(inner_ctx.cause().unwrap().message(), "outer fails");
    assert_eq!(nested.await.unwrap_err().kind(), ErrorKind::Cancelled);
}

#[tokio::test]
async fn a_nested_failure_reaches_the_outer_join() {
    let outer = Group::<()>::new();
    outer.spawn(async {
        let inner = Group::builder().name("inner").build().unwrap();
        inner.spawn(async { Ok(()) });
        inner.spawn(async { Err(TaskError::new(Code::NOT_FOUND, "deep")) });
        inner.join().await.map(drop)
    });
    outer.spawn(std::future::pending());
    let err = outer.join().await.unwrap_err();
    assert_eq!(err.code(), Code::NOT_FOUND);
    assert_eq!(err.task(), Some("inner[1]"), "the innermost task's name stays");
}

#[tokio::test]
async fn a_cancelled_parent_context_ends_the_group_with_its_cause() {
    let parent = Context::new();
    let g = parent.scope(async { Group::<u32>::new() }).await;
    g.spawn(std::future::pending());
    parent.cancel(unavailable("shutting down"));
    let err = g.join().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(err.cause().unwrap().message(), "shutting down");

    let g = Group::<u32>::builder().parent(&parent).build().unwrap();
    let polled = Arc::new(AtomicUsize::new(0));
    let p = polled.clone();
    g.spawn(async move {
        p.fetch_add(1, SeqCst);
        Ok(1)
    });
    assert_eq!(g.join().await.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(polled.load(SeqCst), 0, "work spawned into a cancelled group never starts");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_group_aborts_its_tasks() {
    let drops = Drops::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let g = Group::new();
    let handles: Vec<_> =
        (0..5).map(|_| g.spawn(park(started_tx.clone(), drops.guard()))).collect();
    for _ in 0..5 {
        started.recv().await.unwrap();
    }
    let ctx = g.context().clone();
    drop(g);
    assert!(ctx.is_cancelled());
    for h in handles {
        // The handle resolves once the aborted task's future is dropped.
        let e = tokio::time::timeout(Duration::from_secs(60), h).await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
    }
    assert_eq!(drops.count(), 5);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_join_future_aborts_its_tasks() {
    let drops = Drops::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let g = Group::new();
    let handles: Vec<_> =
        (0..5).map(|_| g.spawn(park(started_tx.clone(), drops.guard()))).collect();
    for _ in 0..5 {
        started.recv().await.unwrap();
    }
    let timed_out = tokio::time::timeout(Duration::from_secs(1), g.join()).await;
    assert!(timed_out.is_err());
    for h in handles {
        tokio::time::timeout(Duration::from_secs(60), h).await.unwrap().unwrap_err();
    }
    assert_eq!(drops.count(), 5);
}

#[tokio::test]
async fn try_spawn_refuses_at_the_limit_and_gives_the_future_back() {
    let g = Group::builder().limit(2).build().unwrap();
    let (a_tx, a_rx) = oneshot::channel::<()>();
    let (b_tx, b_rx) = oneshot::channel::<()>();
    let a = g.try_spawn(async { a_rx.await.map(|()| 1).map_err(TaskError::from) }).unwrap();
    g.try_spawn(async { b_rx.await.map(|()| 2).map_err(TaskError::from) }).unwrap();
    let refused = g.try_spawn(async { Ok(3) }).unwrap_err();
    assert_eq!(refused.to_string(), "every slot of the group's limit is busy");
    a_tx.send(()).unwrap();
    a.await.unwrap();
    // A slot is free again: the refused future runs now, nothing was lost.
    let c = g.try_spawn(refused.into_inner()).unwrap();
    assert_eq!(c.index(), 2);
    b_tx.send(()).unwrap();
    assert_eq!(g.join().await.unwrap(), [1, 2, 3]);

    let unlimited = Group::new();
    for i in 0..100 {
        unlimited.try_spawn(async move { Ok(i) }).unwrap();
    }
    assert_eq!(unlimited.join().await.unwrap().len(), 100);
}

#[tokio::test(start_paused = true)]
async fn spawn_never_blocks_and_a_failure_frees_the_work_queued_behind_the_limit() {
    let polled = Arc::new(AtomicUsize::new(0));
    let drops = Drops::default();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let g = Group::builder().limit(1).build().unwrap();
    g.spawn(async {
        go_rx.await.unwrap();
        Ok(())
    });
    g.spawn(async { Err(unavailable("queued, then fails")) });
    // 100 more behind the limit: `spawn` returns at once (this is a current-thread runtime,
    // so a blocking spawn would hang right here).
    for _ in 0..100 {
        let polled = polled.clone();
        let guard = drops.guard();
        g.spawn(async move {
            let _guard = guard;
            polled.fetch_add(1, SeqCst);
            std::future::pending().await
        });
    }
    go_tx.send(()).unwrap();
    let err = g.join().await.unwrap_err();
    assert_eq!(err.message(), "queued, then fails");
    assert_eq!(polled.load(SeqCst), 0, "the queued tasks stopped waiting for a slot");
    assert_eq!(drops.count(), 100);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_frees_the_work_queued_behind_the_limit() {
    let g = Group::<()>::builder().limit(2).timeout(Duration::from_secs(5)).build().unwrap();
    for _ in 0..50 {
        g.spawn(std::future::pending());
    }
    assert_eq!(g.join().await.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
}

#[test]
fn limit_zero_is_refused_by_the_builder_with_a_clear_error() {
    let err = Group::<()>::builder().limit(0).build().unwrap_err();
    assert_eq!(err, ConfigError::zero("limit"));
    assert_eq!(err.setting(), "limit");
    assert_eq!(err.to_string(), "invalid setting `limit`: must be greater than zero, got 0");
    assert_eq!(TaskError::classified(err).code(), Code::INVALID_ARGUMENT);
}

async fn deep_helper(fail: bool) -> u32 {
    if fail {
        result_runtime::__private::fail_ambient_group(&unavailable("failed deep down"));
    }
    7
}

#[tokio::test]
async fn fail_ambient_fails_the_group_from_a_nested_async_fn() {
    let drops = Drops::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let trace = TraceContext::new_root();
    let g = trace.scope(async { Group::new() }).await;
    g.spawn(park(started_tx.clone(), drops.guard()));
    started.recv().await.unwrap();
    trace
        .scope(async {
            g.spawn_named("checker", async {
                // The helper reports the failure; the task itself carries on and returns Ok.
                let v = deep_helper(true).await;
                Ok(v)
            });
        })
        .await;
    let err = g.join().await.unwrap_err();
    assert_eq!(err.message(), "failed deep down");
    assert_eq!(err.task(), Some("checker"));
    assert_eq!(err.trace_id(), Some(trace.trace_id));
    assert_eq!(drops.count(), 1);

    // Outside a group it does nothing; a Cancelled is never recorded.
    assert_eq!(deep_helper(true).await, 7);
    let g = Group::new();
    g.spawn(async {
        result_runtime::__private::fail_ambient_group(&TaskError::cancelled(None));
        Ok(deep_helper(false).await)
    });
    assert_eq!(g.join().await.unwrap(), [7]);
}

#[tokio::test]
async fn tasks_inherit_the_spawners_trace_and_errors_are_stamped_with_it() {
    let root = TraceContext::new_root();
    let elsewhere = TraceContext::new_root();
    let g = Group::new();
    root.scope(async {
        g.spawn(async { Ok(TraceContext::current()) });
        g.spawn(async { Err(unavailable("stamped")) });
    })
    .await;
    let all = g.join_all().await;
    assert_eq!(*all[0].as_ref().unwrap(), Some(root.clone()));
    assert_eq!(all[1].as_ref().unwrap_err().trace_id(), Some(root.trace_id));

    // An error that already knows its trace keeps it.
    let g = Group::<()>::new();
    root.scope(async {
        g.spawn(async move { Err(unavailable("mine").with_trace_id(elsewhere.trace_id)) });
    })
    .await;
    assert_eq!(g.join().await.unwrap_err().trace_id(), Some(elsewhere.trace_id));

    // No trace at spawn: none invented.
    let g = Group::<()>::new();
    g.spawn(async { Err(unavailable("untraced")) });
    assert_eq!(g.join().await.unwrap_err().trace_id(), None);
}

#[tokio::test]
async fn join_stream_reports_every_index_once_and_serves_a_long_lived_group() {
    let g = Group::new();
    for i in 0..10_usize {
        g.spawn(async move { Ok(i) });
    }
    let mut stream = g.join_stream();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (i, r) = stream.next().await.unwrap();
        assert_eq!(r.unwrap(), i);
        seen.push(i);
    }
    // More work into the same group while streaming.
    for i in 10..20_usize {
        stream.group().spawn(async move { Ok(i) });
    }
    while let Some((i, r)) = stream.next().await {
        assert_eq!(r.unwrap(), i);
        seen.push(i);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    assert!(stream.group().failure().is_none());
}

#[tokio::test]
async fn join_stream_after_a_failure_reports_the_cancelled_siblings_too() {
    let drops = Drops::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let g = Group::new();
    for _ in 0..4 {
        g.spawn(park(started_tx.clone(), drops.guard()));
    }
    for _ in 0..4 {
        started.recv().await.unwrap();
    }
    g.spawn(async { Err(unavailable("boom")) });
    let mut items: Vec<_> = g.join_stream().collect().await;
    items.sort_by_key(|(i, _)| *i);
    assert_eq!(items.len(), 5);
    assert_eq!(items[4].1.as_ref().unwrap_err().message(), "boom");
    for (_, r) in &items[..4] {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert_eq!(e.cause().unwrap().message(), "boom");
    }
    assert_eq!(drops.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn map_pulls_its_input_lazily_and_keeps_input_order() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let inside = HighWater::default();
    let inputs = {
        let pulled = pulled.clone();
        (0..500_u64).inspect(move |_| {
            pulled.fetch_add(1, SeqCst);
        })
    };
    let mut rng = fastrand::Rng::with_seed(11);
    let (d, p) = (done.clone(), pulled.clone());
    let out = Group::builder()
        .limit(3)
        .build()
        .unwrap()
        .map(inputs, |x| {
            // Only as many inputs out as the limit allows beyond what has finished.
            assert!(p.load(SeqCst) <= d.load(SeqCst) + 3);
            let (done, inside) = (d.clone(), inside.clone());
            let delay = Duration::from_millis(rng.u64(0..20));
            async move {
                let _in = inside.enter();
                tokio::time::sleep(delay).await;
                done.fetch_add(1, SeqCst);
                Ok(x * 2)
            }
        })
        .await
        .unwrap();
    assert_eq!(out, (0..500).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(inside.max(), 3);
}

#[tokio::test]
async fn map_stops_pulling_after_a_failure() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let err = Group::builder()
        .limit(2)
        .build()
        .unwrap()
        .map(
            (0..1_000_000_u64).inspect(move |_| {
                p.fetch_add(1, SeqCst);
            }),
            |x| async move {
                if x == 5 {
                    return Err(unavailable("five"));
                }
                Ok(x)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.message(), "five");
    assert!(pulled.load(SeqCst) < 10, "pulled {}", pulled.load(SeqCst));

    // Without a limit every input is spawned, still in order.
    let out = Group::new().map(0..100_u32, |x| async move { Ok(x + 1) }).await.unwrap();
    assert_eq!(out, (1..=100).collect::<Vec<_>>());
}

#[tokio::test]
async fn collect_all_cancels_nothing_and_returns_every_error() {
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let g = Group::builder().collect_all().build().unwrap();
    for i in 0..10_u32 {
        let mut go = go_rx.clone();
        g.spawn(async move {
            if i % 4 == 1 {
                return Err(TaskError::new(Code::NOT_FOUND, format!("missing {i}")));
            }
            // The others only finish after the failures happened: nothing cancels them.
            go.wait_for(|v| *v).await.unwrap();
            Ok(i)
        });
    }
    let ctx = g.context().clone();
    let h = g.spawn(async { Ok(99) });
    h.await.unwrap();
    assert!(!ctx.is_cancelled());
    go_tx.send(true).unwrap();
    let all = g.join_all().await;
    assert_eq!(all.len(), 11);
    for (i, r) in all.iter().enumerate() {
        match i {
            1 | 5 | 9 => assert_eq!(r.as_ref().unwrap_err().message(), format!("missing {i}")),
            10 => assert_eq!(*r.as_ref().unwrap(), 99),
            _ => assert_eq!(*r.as_ref().unwrap(), u32::try_from(i).unwrap()),
        }
    }
    assert!(!ctx.is_cancelled());

    // join in collect-all mode: the lowest index's error.
    let g = Group::<u32>::builder().collect_all().build().unwrap();
    g.spawn(async { Ok(0) });
    g.spawn(async { Err(TaskError::new(Code::NOT_FOUND, "first")) });
    g.spawn(async { Err(TaskError::new(Code::NOT_FOUND, "second")) });
    assert_eq!(g.join().await.unwrap_err().message(), "first");
}

#[tokio::test]
async fn cancel_fails_the_group_like_a_task_would() {
    let g = Group::<u32>::new();
    let h = g.spawn(std::future::pending());
    g.cancel(unavailable("operator said stop"));
    assert_eq!(h.await.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(g.failure().unwrap().message(), "operator said stop");
    assert_eq!(g.join().await.unwrap_err().message(), "operator said stop");
}

#[tokio::test]
async fn an_empty_group_joins_to_nothing() {
    let g = Group::<u8>::new();
    assert_eq!(g.spawned(), 0);
    assert_eq!(g.join().await.unwrap(), Vec::<u8>::new());
}

#[tokio::test]
async fn dropping_a_handle_does_not_cancel_its_task() {
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let g = Group::new();
    let h = g.spawn(async {
        go_rx.await.unwrap();
        Ok(5)
    });
    assert_eq!(h.index(), 0);
    assert!(!h.is_finished());
    let watcher = h.clone();
    drop(h);
    go_tx.send(()).unwrap();
    watcher.clone().await.unwrap();
    assert!(watcher.is_finished());
    assert_eq!(g.join().await.unwrap(), [5]);
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("dropped badly");
    }
}

/// Ready at once; panics when it is dropped.
struct Bomb(#[allow(dead_code)] PanicOnDrop);

impl std::future::Future for Bomb {
    type Output = Result<u32>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<u32>> {
        std::task::Poll::Ready(Ok(1))
    }
}

#[tokio::test]
async fn a_panic_while_a_finished_future_is_dropped_is_that_tasks_error() {
    let g = Group::new();
    g.spawn(Bomb(PanicOnDrop));
    let err = g.join().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.panic().unwrap().message(), "dropped badly");
    assert_eq!(err.task(), Some("group[0]"));

    let g = Group::new();
    g.spawn(Bomb(PanicOnDrop));
    let (index, result) = g.join_stream().next().await.unwrap();
    assert_eq!(index, 0);
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Panicked);
}

#[tokio::test]
async fn a_panic_while_a_cancelled_future_is_dropped_does_not_vanish() {
    // A cancelled future is dropped by the race that stopped it, inside the task's own
    // capture: the panic becomes that task's error, at its index.
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let g = Group::<u32>::builder().collect_all().build().unwrap();
    g.spawn(async move {
        let _bomb = PanicOnDrop;
        started_tx.send(()).unwrap();
        std::future::pending().await
    });
    started.recv().await.unwrap();
    g.cancel(TaskError::cancelled(None));
    let all = g.join_all().await;
    let err = all[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.panic().unwrap().message(), "dropped badly");
}

#[tokio::test]
async fn fail_ambient_in_collect_all_mode_cancels_nothing() {
    let g = Group::builder().collect_all().build().unwrap();
    g.spawn(async {
        result_runtime::__private::fail_ambient_group(&unavailable("reported"));
        Ok(deep_helper(false).await)
    });
    g.spawn(async { Ok(8) });
    assert!(g.failure().is_none());
    assert_eq!(g.join().await.unwrap(), [7, 8]);
}

#[tokio::test]
async fn tasks_run_under_the_groups_context() {
    let g = Group::new();
    g.spawn(async { Ok(Context::current().unwrap()) });
    let ctx = g.context().clone();
    let seen = g.join().await.unwrap().pop().unwrap();
    assert!(!seen.is_cancelled());
    ctx.cancel(unavailable("x"));
    assert!(seen.is_cancelled(), "the task's context is the group's");
}

#[test]
fn a_spawn_outside_a_runtime_panics_and_leaves_no_hole() {
    let g = Group::<u8>::new();
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(g.spawn(async { Ok(1) }));
    }));
    assert!(spawned.is_err());
    assert_eq!(g.spawned(), 0);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let index = rt.block_on(async { g.spawn(async { Ok(2) }).index() });
    assert_eq!(index, 0);
    assert_eq!(rt.block_on(g.join()).unwrap(), [2]);
}
