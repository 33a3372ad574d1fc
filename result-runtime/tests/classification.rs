//! A failure's kind follows its code wherever the error was built: a cancellation or a
//! deadline that arrived from elsewhere (a remote status, an HTTP reply, or a user's
//! `TaskError::new`) behaves as one in groups and caches too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use result_runtime::cache::ResultCache;
use result_runtime::group::Group;
use result_runtime::{Code, ErrorKind, TaskError};

/// What a cancellation relayed from another service looks like once received.
fn remote_cancelled() -> TaskError {
    TaskError::new(Code::CANCELLED, "the caller went away")
}

#[tokio::test(start_paused = true)]
async fn a_relayed_cancellation_never_wins_a_groups_first_failure() {
    let g = Group::<()>::new();
    g.spawn(async { Err(remote_cancelled()) });
    g.spawn(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err(TaskError::new(Code::NOT_FOUND, "no sku 9"))
    });
    let err = g.join().await.unwrap_err();
    assert_eq!(err.code(), Code::NOT_FOUND, "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_relayed_cancellation_is_never_negatively_cached() {
    let cache = ResultCache::<u32, u32>::builder()
        .ttl(Duration::from_secs(60))
        .negative_ttl(Duration::from_secs(60))
        .build()
        .expect("valid settings");
    let loads = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let loads = loads.clone();
        let e = cache
            .get_or_load(1, move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Err(remote_cancelled())
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 2, "the second caller loads again");
    // A real non-retryable failure still is.
    for _ in 0..2 {
        let loads = loads.clone();
        cache
            .get_or_load(2, move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Err(TaskError::new(Code::NOT_FOUND, "no sku 2"))
            })
            .await
            .unwrap_err();
    }
    assert_eq!(loads.load(Ordering::SeqCst), 3);
}
