//! `Group::builder()`: every option is set before the group exists, and every refused
//! setting is a `ConfigError` naming it (never a panic, never a group that hangs).

use std::time::Duration;

use result_runtime::context::Context;
use result_runtime::group::{Group, GroupBuilder};
use result_runtime::{Code, ConfigError, ErrorKind, TaskError};
use tokio::sync::Semaphore;
use tokio::time::Instant;

fn refused(builder: GroupBuilder<()>) -> ConfigError {
    builder.build().expect_err("the setting should be refused")
}

#[test]
fn every_refused_setting_is_a_config_error_naming_it() {
    let cases: [(GroupBuilder<()>, &str); 4] = [
        (Group::builder().limit(0), "limit"),
        (Group::builder().limit(Semaphore::MAX_PERMITS + 1), "limit"),
        (Group::builder().timeout(Duration::ZERO), "timeout"),
        (Group::builder().timeout(Duration::MAX), "timeout"),
    ];
    for (builder, setting) in cases {
        let debug = format!("{builder:?}");
        let err = refused(builder);
        assert_eq!(err.setting(), setting, "{debug}: {err}");
        assert!(err.to_string().starts_with(&format!("invalid setting `{setting}`")), "{err}");
        assert_eq!(TaskError::classified(err).code(), Code::INVALID_ARGUMENT);
    }
    assert_eq!(refused(Group::builder().limit(0)), ConfigError::zero("limit"));
    assert_eq!(refused(Group::builder().timeout(Duration::ZERO)), ConfigError::zero("timeout"));
}

#[test]
fn the_first_refused_setting_is_named_whatever_the_call_order() {
    let err = refused(Group::builder().timeout(Duration::ZERO).name("x").limit(0));
    assert_eq!(err.setting(), "limit");
}

#[test]
fn limits_that_can_run_work_are_accepted() {
    for n in [1, 64, Semaphore::MAX_PERMITS] {
        Group::<()>::builder().limit(n).build().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn timeout_and_deadline_the_earliest_applies() {
    let now = Instant::now();
    let g = Group::<()>::builder()
        .timeout(Duration::from_secs(5))
        .deadline(now + Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(g.context().deadline(), Some(now + Duration::from_secs(2)));
    let g = Group::<()>::builder()
        .deadline(now + Duration::from_secs(9))
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    assert_eq!(g.context().deadline(), Some(now + Duration::from_secs(3)));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_counts_from_build_and_a_past_deadline_starts_expired() {
    let template = Group::<()>::builder().timeout(Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(10)).await;
    let g = template.clone().build().unwrap();
    assert_eq!(g.context().deadline(), Some(Instant::now() + Duration::from_secs(1)));

    let g = Group::<()>::builder().deadline(Instant::now()).build().unwrap();
    g.spawn(std::future::pending());
    assert_eq!(g.join().await.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
}

#[tokio::test]
async fn a_parent_given_to_the_builder_bounds_the_group() {
    let parent = Context::new();
    let g = Group::<()>::builder().parent(&parent).name("child").build().unwrap();
    let h = g.spawn(std::future::pending());
    parent.cancel(TaskError::new(Code::UNAVAILABLE, "parent stopped"));
    let err = h.await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(g.context().is_cancelled());
}

#[tokio::test]
async fn collect_all_and_name_take_effect() {
    let g = Group::<u8>::builder().collect_all().name("batch").build().unwrap();
    g.spawn(async { Err(TaskError::new(Code::NOT_FOUND, "a")) });
    g.spawn(async { Ok(2) });
    let all = g.join_all().await;
    assert_eq!(all[0].as_ref().unwrap_err().task(), Some("batch[0]"));
    assert_eq!(*all[1].as_ref().unwrap(), 2, "a failure does not cancel the others");
}

#[tokio::test]
async fn spawned_counts_every_task_ever_spawned() {
    use futures::StreamExt;
    let g = Group::<u8>::new();
    assert_eq!(g.spawned(), 0);
    g.spawn(async { Ok(1) });
    g.spawn(async { Ok(2) });
    let mut stream = g.join_stream();
    assert!(stream.next().await.is_some());
    assert_eq!(stream.group().spawned(), 2, "finished tasks still count");
}
