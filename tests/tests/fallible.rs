//! Behaviour of `#[fallible_task]`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use result_runtime::context::Context;
use result_runtime::trace::TraceContext;
use result_runtime::{fallible_task, Classify, Code, ErrorKind, Result, TaskError};

#[derive(Debug, thiserror::Error)]
enum StockError {
    #[error("sku {0} is sold out")]
    SoldOut(u32),
    #[error("warehouse unreachable")]
    Unreachable,
}

impl Classify for StockError {
    fn code(&self) -> Code {
        match self {
            Self::SoldOut(_) => Code::FAILED_PRECONDITION,
            Self::Unreachable => Code::UNAVAILABLE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("plain failure")]
struct Plain;

fn check(sku: u32) -> std::result::Result<u32, StockError> {
    if sku == 0 {
        Err(StockError::SoldOut(sku))
    } else {
        Ok(sku * 2)
    }
}

#[fallible_task]
async fn reserve(sku: u32) -> std::result::Result<u32, StockError> {
    let doubled = check(sku)?;
    Ok(doubled + 1)
}

#[fallible_task]
async fn plain_error(fail: bool) -> std::result::Result<(), Plain> {
    if fail {
        return Err(Plain);
    }
    Ok(())
}

#[fallible_task]
async fn already_task_error() -> Result<u8> {
    Err(TaskError::new(Code::NOT_FOUND, "nothing here"))
}

#[fallible_task]
async fn infallible(x: u8) -> u8 {
    x + 1
}

#[fallible_task]
async fn no_return_type() {}

#[fallible_task]
async fn panics(x: u32) -> Result<u32> {
    if x > 0 {
        panic!("bad x {x}");
    }
    Ok(x)
}

#[fallible_task(name = "custom-name")]
async fn named() -> Result<()> {
    Err(TaskError::new(Code::UNAVAILABLE, "down"))
}

#[fallible_task]
async fn waits_forever() -> Result<()> {
    std::future::pending::<()>().await;
    Ok(())
}

#[fallible_task(timeout = "250ms")]
async fn slow() -> Result<()> {
    tokio::time::sleep(Duration::from_secs(10)).await;
    Ok(())
}

#[fallible_task(timeout = "2s")]
async fn fast_enough() -> Result<u8> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(1)
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[fallible_task(retry = 3)]
async fn flaky(succeed_on: u32, label: String) -> std::result::Result<String, StockError> {
    let n = FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n < succeed_on {
        Err(StockError::Unreachable)
    } else {
        Ok(format!("{label}#{n}"))
    }
}

static REFUSED_CALLS: AtomicU32 = AtomicU32::new(0);

#[fallible_task(retry = 3)]
async fn refused() -> std::result::Result<(), StockError> {
    REFUSED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(StockError::SoldOut(1))
}

#[tokio::test]
async fn ok_values_pass_through() {
    assert_eq!(reserve(4).await.unwrap(), 9);
    assert_eq!(infallible(1).await.unwrap(), 2);
    no_return_type().await.unwrap();
    plain_error(false).await.unwrap();
}

#[tokio::test]
async fn classification_survives_question_mark() {
    let err = reserve(0).await.unwrap_err();
    assert_eq!(err.code(), Code::FAILED_PRECONDITION);
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert!(err.downcast_ref::<StockError>().is_some());
    // An error without `Classify` converts through `Into<TaskError>`.
    assert_eq!(plain_error(true).await.unwrap_err().code(), Code::INTERNAL);
    assert_eq!(already_task_error().await.unwrap_err().code(), Code::NOT_FOUND);
}

#[tokio::test]
async fn errors_carry_the_task_name_and_trace_id() {
    let err = reserve(0).await.unwrap_err();
    assert_eq!(err.task(), Some("fallible::reserve"));
    assert_eq!(err.trace_id(), None);

    let root = TraceContext::new_root();
    let err = root.scope(named()).await.unwrap_err();
    assert_eq!(err.task(), Some("custom-name"));
    assert_eq!(err.trace_id(), Some(root.trace_id));
}

#[tokio::test]
async fn panics_become_panicked_with_the_fn_path() {
    let err = panics(3).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    assert_eq!(err.panic().unwrap().message(), "bad x 3");
    assert_eq!(err.task(), Some("fallible::panics"));
    assert_eq!(panics(0).await.unwrap(), 0);
}

#[tokio::test]
async fn stops_with_cancelled_when_the_ambient_context_is_cancelled() {
    let ctx = Context::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(ctx.clone().scope(async move {
        started_tx.send(()).unwrap();
        waits_forever().await
    }));
    started_rx.await.unwrap();
    ctx.cancel(TaskError::new(Code::UNAVAILABLE, "shutting down"));
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(err.cause().unwrap().code(), Code::UNAVAILABLE);
    assert_eq!(err.task(), Some("fallible::waits_forever"));

    // Already cancelled: the body never starts.
    let err = ctx.scope(reserve(4)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn timeout_ends_with_deadline_exceeded() {
    let err = slow().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(err.task(), Some("fallible::slow"));
    assert_eq!(fast_enough().await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_retries_retryable_errors_only() {
    let label = String::from("ok");
    assert_eq!(flaky(3, label.clone()).await.unwrap(), "ok#3");
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);

    let err = refused().await.unwrap_err();
    assert_eq!(REFUSED_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(err.code(), Code::FAILED_PRECONDITION);
}
