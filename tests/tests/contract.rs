//! The API sketch of DESIGN.md, written as a user would, end to end: if a name or shape of
//! the contract changes, this stops compiling.

use std::time::Duration;

use result_runtime::cache::{HashRing, ResultCache};
use result_runtime::channel::{ResultChannel, TryRecvError, TrySendError};
use result_runtime::context::Context;
use result_runtime::group::Group;
use result_runtime::pool::{Pool, Reset};
use result_runtime::trace::TraceContext;
use result_runtime::{
    fallible_task, traced, Classify, Code, ErrorKind, Result, ResultExt, TaskError,
};

#[derive(Clone, Debug, PartialEq)]
struct User(u64);

#[derive(Debug, thiserror::Error)]
#[error("user store down")]
struct StoreDown;

impl Classify for StoreDown {
    fn code(&self) -> Code {
        Code::STORAGE
    }
}

#[fallible_task(timeout = "2s")]
#[traced]
async fn fetch_user(id: u64) -> Result<User, StoreDown> {
    if id == 0 {
        return Err(StoreDown);
    }
    Ok(User(id))
}

#[fallible_task(group = "contract-startup")]
async fn warm_up() -> Result<()> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_design_sketch_works_as_written() -> Result<()> {
    // errors: `?` from any std error; explicit codes; inspection
    let e = TaskError::new(Code::UNAVAILABLE, "inventory down");
    assert_eq!(e.kind(), ErrorKind::Failed);
    assert!(e.code().retryable());
    assert_eq!((e.task(), e.trace_id()), (None, None));
    let parsed: Result<u8> = "x".parse::<u8>().with_code(Code::INVALID_ARGUMENT);
    assert_eq!(parsed.unwrap_err().code(), Code::INVALID_ARGUMENT);

    // trace context
    let tc: TraceContext = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        .parse()
        .map_err(TaskError::from)?;
    assert_eq!(tc.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let seen = tc.child().scope(async { TraceContext::current() }).await.unwrap();
    assert_eq!(seen.trace_id, tc.trace_id);

    // context
    let ctx = Context::new().with_timeout(Duration::from_secs(2));
    let _child = ctx.child();
    let v: Result<u64> = ctx.run(async { Ok(1) }).await;
    assert_eq!(v?, 1);
    ctx.cancel(e.clone());
    assert_eq!(ctx.cause().unwrap().code(), Code::UNAVAILABLE);
    assert_eq!(ctx.run(async { Ok(1) }).await.unwrap_err().kind(), ErrorKind::Cancelled);

    // fail-fast group, under one trace
    let users = tc
        .scope(async {
            let g = Group::builder().limit(8).timeout(Duration::from_secs(2)).build()?;
            for id in [3, 1, 2] {
                g.spawn(fetch_user(id));
            }
            g.join().await
        })
        .await?;
    assert_eq!(users, [User(3), User(1), User(2)]);
    let err = tc
        .scope(async {
            let g = Group::new();
            g.spawn(fetch_user(1));
            g.spawn(fetch_user(0));
            g.join().await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::STORAGE); // classification survived `?` and the group
    assert_eq!(err.trace_id(), Some(tc.trace_id));
    assert!(err.task().unwrap().ends_with("fetch_user"));
    let all: Vec<()> = Group::registered("contract-startup").join().await?;
    assert_eq!(all.len(), 1);

    // result channel
    let (tx, rx) = ResultChannel::<u64>::bounded(1);
    tx.send(Ok(1)).await?;
    let Err(TrySendError::Full(item)) = tx.try_send(Ok(2)) else {
        panic!("room in a full channel")
    };
    assert_eq!(item?, 2); // the item came back
    assert_eq!(rx.recv().await.unwrap()?, 1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    drop(tx);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));

    // result cache
    let cache = ResultCache::<String, User>::builder()
        .max_capacity(100_000)
        .ttl(Duration::from_secs(60))
        .negative_ttl(Duration::from_secs(5))
        .build()?;
    let user = cache.get_or_load("7".to_owned(), || async { Ok(User(7)) }).await?;
    assert_eq!(user, User(7));
    let ring: HashRing<&str> = ["a", "b", "c"].into_iter().collect();
    assert!(ring.get(&"key").is_some());

    // pool
    let pool = Pool::new(64, || Vec::<u8>::with_capacity(4096));
    {
        let mut buf = pool.get();
        buf.extend_from_slice(b"x");
    }
    assert!(pool.get().is_empty()); // reset on return
    let mut v = vec![1u8];
    v.reset();
    assert!(v.is_empty());
    Ok(())
}
