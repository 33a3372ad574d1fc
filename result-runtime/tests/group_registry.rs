//! `Group::registered`: the static registry of named group tasks, fed here directly through
//! the hook `#[fallible_task(group = "...")]` expands to.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use result_runtime::__private::{BoxTaskFuture, GroupTask};
use result_runtime::context::Context;
use result_runtime::group::Group;
use result_runtime::{Code, ErrorKind, TaskError};

/// Runs of the "solo" group's tasks: only one test runs that group.
static SOLO_RAN: AtomicUsize = AtomicUsize::new(0);

fn solo_a() -> BoxTaskFuture {
    Box::pin(async {
        SOLO_RAN.fetch_add(1, SeqCst);
        Ok(())
    })
}

fn solo_b() -> BoxTaskFuture {
    Box::pin(async {
        SOLO_RAN.fetch_add(10, SeqCst);
        Ok(())
    })
}

fn warm_cache() -> BoxTaskFuture {
    Box::pin(async { Ok(()) })
}

fn open_pool() -> BoxTaskFuture {
    Box::pin(async { Ok(()) })
}

fn check_schema() -> BoxTaskFuture {
    Box::pin(async { Err(TaskError::new(Code::FAILED_PRECONDITION, "schema is behind")) })
}

fn wait_forever() -> BoxTaskFuture {
    Box::pin(std::future::pending())
}

fn explode() -> BoxTaskFuture {
    Box::pin(async { panic!("registered task exploded") })
}

inventory::submit! { GroupTask { group: "solo", name: "app::solo_a", run: solo_a } }
inventory::submit! { GroupTask { group: "solo", name: "app::solo_b", run: solo_b } }
inventory::submit! { GroupTask { group: "startup", name: "app::warm_cache", run: warm_cache } }
inventory::submit! { GroupTask { group: "startup", name: "app::open_pool", run: open_pool } }
inventory::submit! { GroupTask { group: "migrate", name: "app::check_schema", run: check_schema } }
inventory::submit! { GroupTask { group: "migrate", name: "app::wait_forever", run: wait_forever } }
inventory::submit! { GroupTask { group: "boom", name: "app::explode", run: explode } }
inventory::submit! { GroupTask { group: "boom", name: "app::wait_forever", run: wait_forever } }

#[tokio::test]
async fn registered_runs_every_task_of_the_name_and_only_those() {
    assert_eq!(Group::registered_count("solo"), 2);
    let all = Group::registered("solo").join().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(SOLO_RAN.load(SeqCst), 11, "each ran exactly once");
}

#[tokio::test]
async fn a_registered_failure_is_fail_fast_and_names_the_function() {
    let err = Group::registered("migrate").join().await.unwrap_err();
    assert_eq!(err.code(), Code::FAILED_PRECONDITION);
    assert_eq!(err.task(), Some("app::check_schema"));

    let err = Group::registered("boom").join().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.task(), Some("app::explode"));
    assert_eq!(err.panic().unwrap().message(), "registered task exploded");
}

#[tokio::test]
async fn a_registered_group_can_take_more_work() {
    let g = Group::registered("startup");
    assert_eq!(g.spawned(), 2);
    g.spawn(async { Ok(()) });
    assert_eq!(g.join().await.unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_registered_group_takes_its_deadline_from_the_ambient_context() {
    let ctx = Context::new().with_timeout(Duration::from_secs(1));
    let g = ctx.scope(async { Group::registered("no-such-group") }).await;
    assert_eq!(g.context().deadline(), ctx.deadline());
    ctx.cancel(TaskError::new(Code::UNAVAILABLE, "shutting down"));
    assert!(g.context().is_cancelled(), "a child of the ambient context");
}

#[tokio::test]
async fn an_unknown_name_is_an_empty_group() {
    assert_eq!(Group::registered_count("no-such-group"), 0);
    assert!(Group::registered("no-such-group").join().await.unwrap().is_empty());
}
