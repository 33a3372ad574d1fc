//! The group modes beyond fail-fast: supervisor, graceful shutdown (with shielded cleanup),
//! discarding. Deterministic: paused time, signals, drop guards that prove no task outlives
//! its group.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use result_runtime::context::Context;
use result_runtime::group::{self, Group};
use result_runtime::{Code, ErrorKind, TaskError};
use tokio::time::{sleep, Instant};

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

fn unavailable(message: &'static str) -> TaskError {
    TaskError::new(Code::UNAVAILABLE, message)
}

/// The handler's log: how many times each task (by name) was handed over.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<HashMap<String, usize>>>);

impl Seen {
    fn handler(&self) -> impl Fn(&TaskError) + Send + Sync + 'static {
        let seen = self.0.clone();
        move |e: &TaskError| {
            *seen.lock().unwrap().entry(e.task().unwrap_or("?").to_owned()).or_default() += 1;
        }
    }
    fn get(&self) -> HashMap<String, usize> {
        self.0.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------
// supervisor

#[tokio::test(start_paused = true)]
async fn a_supervisor_sees_each_failure_once_and_the_siblings_run_on() {
    let seen = Seen::default();
    let drops = Drops::default();
    let g = Group::builder().name("sup").supervise(seen.handler()).build().unwrap();
    for i in 0..6_u64 {
        let guard = drops.guard();
        g.spawn(async move {
            let _guard = guard;
            sleep(Duration::from_millis(10 * i)).await;
            if i % 2 == 1 {
                return Err(unavailable("odd"));
            }
            Ok(i)
        });
    }
    let started = Instant::now();
    let report = g.join_supervised().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(50), "no sibling was cut short");
    assert_eq!(report.values, [(0, 0), (2, 2), (4, 4)]);
    assert_eq!(report.failed_indices().collect::<Vec<_>>(), [1, 3, 5]);
    assert!(report.cancelled.is_empty());
    assert_eq!(report.failed[0].1.task(), Some("sup[1]"));
    let expected: HashMap<String, usize> =
        ["sup[1]", "sup[3]", "sup[5]"].into_iter().map(|n| (n.to_owned(), 1)).collect();
    assert_eq!(seen.get(), expected, "each failure handed over exactly once");
    assert_eq!(drops.count(), 6);
}

#[tokio::test]
async fn a_supervisor_join_returns_the_lowest_index_error_as_collect_all() {
    let g = Group::builder().supervise(|_: &TaskError| {}).build().unwrap();
    g.spawn(async { Ok(1) });
    g.spawn(async { Err(unavailable("b")) });
    g.spawn(async { Err(unavailable("c")) });
    assert_eq!(g.join().await.unwrap_err().message(), "b");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_fails_the_supervisor_and_stops_its_tasks() {
    let drops = Drops::default();
    let g = Group::<()>::builder()
        .supervise(|e: &TaskError| panic!("handler broke on {}", e.message()))
        .build()
        .unwrap();
    let guard = drops.guard();
    let sibling = g.spawn(async move {
        let _guard = guard;
        std::future::pending().await
    });
    g.spawn(async { Err(unavailable("first")) });
    let err = g.join_supervised().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert!(err.message().contains("handler broke on first"), "{err}");
    assert_eq!(drops.count(), 1, "the sibling was stopped");
    assert_eq!(sibling.await.unwrap_err().kind(), ErrorKind::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_supervisor_nested_in_a_fail_fast_group() {
    // The supervised failure stays inside: the outer sibling is not cancelled.
    let seen = Seen::default();
    let outer = Group::builder().name("outer").build().unwrap();
    let handler = seen.handler();
    outer.spawn(async move {
        let sup = Group::builder().name("sup").supervise(handler).build()?;
        sup.spawn(async { Err::<u8, _>(unavailable("inner")) });
        sup.spawn(async { Ok(7) });
        let report = sup.join_supervised().await?;
        Ok(report.values.len())
    });
    outer.spawn(async {
        sleep(Duration::from_secs(1)).await;
        Ok(10)
    });
    assert_eq!(outer.join().await.unwrap(), [1, 10]);
    assert_eq!(seen.get().get("sup[0]"), Some(&1));

    // The outer group's failure stops the supervisor's tasks: `Cancelled`, not handed over.
    let seen = Seen::default();
    let drops = Drops::default();
    let outer = Group::builder().name("outer").build().unwrap();
    let (handler, guard) = (seen.handler(), drops.guard());
    let (report_tx, report_rx) = tokio::sync::oneshot::channel();
    outer.spawn(async move {
        let sup = Group::<()>::builder().supervise(handler).build()?;
        sup.spawn(async move {
            let _guard = guard;
            std::future::pending().await
        });
        // Shielded so the outer task outlives the cancellation long enough to report.
        let report = group::shield(sup.join_supervised()).await;
        let _ = report_tx.send(report.map(|r| r.cancelled));
        Ok(0)
    });
    outer.spawn(async {
        sleep(Duration::from_millis(5)).await;
        Err(unavailable("outer sibling"))
    });
    let err = outer.join().await.unwrap_err();
    assert_eq!(err.message(), "outer sibling");
    assert_eq!(drops.count(), 1, "the supervised task did not outlive the outer group");
    assert!(seen.get().is_empty(), "a cancellation is not a failure");
    // Either the supervisor reported its task cancelled, or the outer task was dropped
    // first: never a failure.
    if let Ok(report) = report_rx.await {
        assert_eq!(report.unwrap(), [0]);
    }
}

#[tokio::test]
async fn a_supervisor_also_sees_a_panic_once() {
    let seen = Seen::default();
    let g = Group::<()>::builder().name("p").supervise(seen.handler()).build().unwrap();
    g.spawn(async { panic!("boom") });
    g.spawn(async { Ok(()) });
    let report = g.join_supervised().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].1.kind(), ErrorKind::Panicked);
    assert_eq!(seen.get().get("p[0]"), Some(&1));
}

// ---------------------------------------------------------------------------------------
// shutdown

#[tokio::test(start_paused = true)]
async fn shutdown_lets_cooperative_tasks_clean_up_and_aborts_the_rest_at_the_grace() {
    let drops = Drops::default();
    let g = Group::new();
    let (cleaned, stubborn) = (drops.guard(), drops.guard());
    g.spawn(async move {
        let _guard = cleaned;
        let ctx = Context::current().unwrap();
        ctx.cancelled().await;
        assert_eq!(ctx.cause().unwrap().message(), "group shutting down");
        sleep(Duration::from_millis(200)).await; // cleanup, not interrupted
        Ok("clean")
    });
    g.spawn(async move {
        let _guard = stubborn;
        std::future::pending().await
    });
    g.spawn(async { Ok("done before") });
    let started = Instant::now();
    let report = g.shutdown(Duration::from_secs(2)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(2), "waited the whole grace, no more");
    let finished: Vec<_> =
        report.finished.iter().map(|(i, r)| (*i, *r.as_ref().unwrap())).collect();
    assert_eq!(finished, [(0, "clean"), (2, "done before")]);
    assert_eq!(report.aborted, [1]);
    assert!(!report.is_clean());
    assert_eq!(drops.count(), 2, "no task outlived the shutdown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_as_soon_as_every_task_is_done() {
    let g = Group::new();
    for i in 0..3_u64 {
        g.spawn(async move {
            Context::current().unwrap().cancelled().await;
            sleep(Duration::from_millis(10 * i)).await;
            Ok(i)
        });
    }
    let started = Instant::now();
    let report = g.shutdown(Duration::from_secs(30)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(20));
    assert!(report.is_clean());
    assert_eq!(report.finished.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn work_raced_against_the_ambient_context_is_stopped_unless_shielded() {
    let g = Group::new();
    // Unshielded: the cleanup's `run` ends at once with the shutdown's cause.
    g.spawn(async {
        Context::current().unwrap().cancelled().await;
        let ctx = Context::current().unwrap();
        ctx.run(async {
            sleep(Duration::from_millis(100)).await;
            Ok("flushed")
        })
        .await
    });
    // Shielded: the same cleanup runs to its end inside the grace.
    g.spawn(async {
        Context::current().unwrap().cancelled().await;
        group::shield(async {
            let ctx = Context::current().unwrap();
            assert!(!ctx.is_cancelled(), "the shield's context is not the cancelled one");
            ctx.run(async {
                sleep(Duration::from_millis(100)).await;
                Ok("flushed")
            })
            .await
        })
        .await
    });
    let report = g.shutdown(Duration::from_secs(1)).await;
    assert!(report.is_clean());
    let e = report.finished[0].1.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(e.cause().unwrap().message(), "group shutting down");
    assert_eq!(*report.finished[1].1.as_ref().unwrap(), "flushed");
}

#[tokio::test(start_paused = true)]
async fn a_shielded_cleanup_is_still_bounded_by_the_grace() {
    let drops = Drops::default();
    let g = Group::<()>::new();
    let guard = drops.guard();
    g.spawn(async move {
        Context::current().unwrap().cancelled().await;
        group::shield(async move {
            let _guard = guard;
            sleep(Duration::from_secs(3600)).await; // a cleanup that would never end
            Ok(())
        })
        .await
    });
    let started = Instant::now();
    let report = g.shutdown(Duration::from_millis(500)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    assert_eq!(report.aborted, [0]);
    assert_eq!(drops.count(), 1, "the shielded cleanup was dropped at the grace");
}

#[tokio::test(start_paused = true)]
async fn a_failure_during_the_grace_still_stops_the_siblings() {
    let g = Group::<()>::new();
    g.spawn(async {
        Context::current().unwrap().cancelled().await;
        Err(unavailable("cleanup failed"))
    });
    g.spawn(std::future::pending());
    let started = Instant::now();
    let report = g.shutdown(Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(10), "the failure cut the grace short");
    assert_eq!(report.finished[0].1.as_ref().unwrap_err().message(), "cleanup failed");
    assert_eq!(report.aborted, [1]);
}

#[tokio::test(start_paused = true)]
async fn a_nested_group_stops_at_once_and_its_parent_task_gets_the_grace() {
    let drops = Drops::default();
    let g = Group::new();
    let guard = drops.guard();
    g.spawn(async move {
        let inner = Group::<()>::new();
        inner.spawn(async move {
            let _guard = guard;
            std::future::pending().await
        });
        let err = inner.join().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        sleep(Duration::from_millis(10)).await; // the outer task's own cleanup
        Ok("outer cleaned")
    });
    let report = g.shutdown(Duration::from_secs(1)).await;
    assert!(report.is_clean());
    assert_eq!(*report.finished[0].1.as_ref().unwrap(), "outer cleaned");
    assert_eq!(drops.count(), 1);
}

// ---------------------------------------------------------------------------------------
// discarding

#[tokio::test]
async fn a_discarding_group_fails_fast() {
    let drops = Drops::default();
    let g = Group::<u64>::builder().discard_outputs().build().unwrap();
    for _ in 0..100 {
        let guard = drops.guard();
        g.spawn(async move {
            let _guard = guard;
            std::future::pending().await
        });
    }
    g.spawn(async { Err(unavailable("one of many")) });
    let err = g.join().await.unwrap_err();
    assert_eq!(err.message(), "one of many");
    assert_eq!(drops.count(), 100);
}

#[tokio::test]
async fn a_discarding_supervisor_hands_over_failures_and_keeps_nothing() {
    let seen = Seen::default();
    let g = Group::<u64>::builder()
        .name("d")
        .discard_outputs()
        .supervise(seen.handler())
        .build()
        .unwrap();
    for i in 0..1000_u64 {
        g.spawn(async move {
            if i % 100 == 0 {
                Err(unavailable("every hundredth"))
            } else {
                Ok(i)
            }
        });
        if i % 10 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert!(g.held() <= 20, "held {}", g.held());
    assert!(g.join_all().await.is_empty());
    let seen = seen.get();
    assert_eq!(seen.len(), 10);
    assert!(seen.values().all(|n| *n == 1));
}
