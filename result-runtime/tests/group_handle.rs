//! `TaskHandle` is `Clone`: every clone awaited at the same time must be woken when the task
//! ends. Deterministic: each awaiter reports its first poll (its registration) before the
//! task is released, and a hang shows up as a paused-time timeout, not a stuck test.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use result_runtime::group::{Group, TaskHandle};
use result_runtime::{Code, Result, TaskError};
use tokio::sync::{mpsc, oneshot};

/// Awaits `handle`, reporting on `registered` right after its first poll.
async fn await_reporting(
    mut handle: TaskHandle,
    registered: mpsc::UnboundedSender<()>,
) -> Result<()> {
    let mut reported = false;
    std::future::poll_fn(move |cx| {
        let poll = Pin::new(&mut handle).poll(cx);
        if !reported {
            reported = true;
            registered.send(()).unwrap();
        }
        poll
    })
    .await
}

/// A group task that ends with `outcome` once `release` fires.
fn gated(g: &Group<u32>, outcome: Result<u32>) -> (TaskHandle, oneshot::Sender<()>) {
    let (release, gate) = oneshot::channel::<()>();
    let handle = g.spawn(async move {
        gate.await.ok();
        outcome
    });
    (handle, release)
}

#[tokio::test(start_paused = true)]
async fn clones_awaited_at_once_all_wake() {
    const CLONES: usize = 8;
    let g = Group::new();
    let (handle, release) = gated(&g, Ok(7));
    let (registered, mut polls) = mpsc::unbounded_channel();
    let awaiters: Vec<_> = (0..CLONES)
        .map(|_| tokio::spawn(await_reporting(handle.clone(), registered.clone())))
        .collect();
    for _ in 0..CLONES {
        polls.recv().await.unwrap();
    }
    assert!(!handle.is_finished(), "every awaiter registered while the task was still running");
    release.send(()).unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(awaiters))
        .await
        .expect("an awaiting clone of the handle was never woken");
    for outcome in woken {
        outcome.unwrap().unwrap();
    }
    assert!(handle.await.is_ok());
    assert_eq!(g.join().await.unwrap(), [7]);
}

#[tokio::test(start_paused = true)]
async fn clones_awaited_at_once_all_see_the_failure() {
    let g = Group::new();
    let (handle, release) = gated(&g, Err(TaskError::new(Code::NOT_FOUND, "gone")));
    let (registered, mut polls) = mpsc::unbounded_channel();
    let awaiters: Vec<_> =
        (0..3).map(|_| tokio::spawn(await_reporting(handle.clone(), registered.clone()))).collect();
    for _ in 0..3 {
        polls.recv().await.unwrap();
    }
    release.send(()).unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(awaiters))
        .await
        .expect("an awaiting clone of the handle was never woken");
    for outcome in woken {
        assert_eq!(outcome.unwrap().unwrap_err().code(), Code::NOT_FOUND);
    }
    assert_eq!(g.join().await.unwrap_err().code(), Code::NOT_FOUND);
}

/// Counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[tokio::test]
async fn every_registered_waker_is_woken_once() {
    let g = Group::new();
    let (handle, release) = gated(&g, Ok(1));
    let mut clones: Vec<TaskHandle> = (0..4).map(|_| handle.clone()).collect();
    let wakers: Vec<Arc<CountingWaker>> = (0..4).map(|_| Arc::default()).collect();
    for (clone, counter) in clones.iter_mut().zip(&wakers) {
        let waker = Waker::from(counter.clone());
        let poll = Pin::new(clone).poll(&mut Context::from_waker(&waker));
        assert!(poll.is_pending());
    }
    release.send(()).unwrap();
    g.join().await.unwrap(); // the task has ended and told its handle
    let woken: Vec<usize> = wakers.iter().map(|w| w.0.load(SeqCst)).collect();
    assert_eq!(woken, [1, 1, 1, 1], "each awaiting clone is woken exactly once");
    for clone in clones {
        assert!(clone.await.is_ok());
    }
}

#[tokio::test]
async fn a_dropped_awaiter_does_not_take_the_others_wake_with_it() {
    let g = Group::new();
    let (handle, release) = gated(&g, Ok(1));
    let counters: Vec<Arc<CountingWaker>> = (0..3).map(|_| Arc::default()).collect();
    let mut clones: Vec<TaskHandle> = (0..3).map(|_| handle.clone()).collect();
    for (clone, counter) in clones.iter_mut().zip(&counters) {
        let waker = Waker::from(counter.clone());
        assert!(Pin::new(clone).poll(&mut Context::from_waker(&waker)).is_pending());
    }
    // The middle awaiter gives up (a `select!` that took another branch).
    drop(clones.remove(1));
    // The last one is polled again, with another waker: only that one must be woken.
    let replacement = Arc::<CountingWaker>::default();
    let waker = Waker::from(replacement.clone());
    assert!(Pin::new(&mut clones[1]).poll(&mut Context::from_waker(&waker)).is_pending());
    release.send(()).unwrap();
    g.join().await.unwrap();
    let woken: Vec<usize> = counters.iter().map(|w| w.0.load(SeqCst)).collect();
    assert_eq!(woken, [1, 0, 0]);
    assert_eq!(replacement.0.load(SeqCst), 1);
}
