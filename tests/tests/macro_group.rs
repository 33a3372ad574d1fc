//! The macros and groups together: registered groups, and a failing annotated fn awaited
//! directly inside a group task cancelling its siblings.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use result_runtime::group::Group;
use result_runtime::{fallible_task, Code, ErrorKind, Result, TaskError};

static WARMED: AtomicUsize = AtomicUsize::new(0);

#[fallible_task(group = "it-startup")]
async fn warm_cache() -> Result<()> {
    WARMED.fetch_add(1, SeqCst);
    Ok(())
}

#[fallible_task(group = "it-startup")]
async fn load_config() -> Result<u32> {
    WARMED.fetch_add(1, SeqCst);
    Ok(7)
}

#[fallible_task(group = "it-failing", name = "migrate")]
async fn migrate() -> Result<()> {
    Err(TaskError::new(Code::UNAVAILABLE, "db down"))
}

#[fallible_task(group = "it-failing")]
async fn wait_forever() -> Result<()> {
    std::future::pending().await
}

#[tokio::test]
async fn registered_groups_run_every_registered_fn() {
    let done = Group::registered("it-startup").join().await.unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(WARMED.load(SeqCst), 2);
}

#[tokio::test]
async fn registered_groups_fail_fast() {
    let err = Group::registered("it-failing").join().await.unwrap_err();
    assert_eq!(err.code(), Code::UNAVAILABLE);
    assert_eq!(err.task(), Some("migrate"));
}

#[tokio::test]
async fn an_unknown_group_name_runs_nothing() {
    assert!(Group::registered("no-such-group").join().await.unwrap().is_empty());
}

#[fallible_task]
async fn check_stock(ok: bool) -> Result<u32> {
    if ok {
        Ok(1)
    } else {
        Err(TaskError::new(Code::FAILED_PRECONDITION, "out of stock"))
    }
}

#[tokio::test]
async fn a_handled_failure_inside_a_group_task_still_cancels_the_group() {
    let g = Group::new();
    let sibling_dropped = Arc::new(AtomicBool::new(false));
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let guard = Guard(sibling_dropped.clone());
    g.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
        Ok(0)
    });
    g.spawn(async {
        // The task swallows the error; the annotated fn has already failed the group.
        let swallowed = check_stock(false).await.unwrap_or(0);
        Ok(swallowed)
    });
    let err = g.join().await.unwrap_err();
    assert_eq!(err.code(), Code::FAILED_PRECONDITION);
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert!(err.task().unwrap().ends_with("check_stock"), "{:?}", err.task());
    assert!(sibling_dropped.load(SeqCst));
}

#[tokio::test]
async fn a_successful_annotated_fn_leaves_the_group_alone() {
    let g = Group::new();
    g.spawn(check_stock(true));
    g.spawn(async { check_stock(true).await.map(|v| v + 1) });
    assert_eq!(g.join().await.unwrap(), [1, 2]);
}
