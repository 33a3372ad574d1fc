//! loom models of the group's own synchronisation: the handle slot (every awaiting clone is
//! woken, a handle that gives up leaves no waker behind), the first-failure store (one
//! winner, stored before the context is cancelled), the task set's joiner (no outcome
//! missed by a poller going to sleep) and the cancellation sweep (no parked task missed).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom
//! cargo test -p result-runtime --lib --release loom`

use std::future::Future;
use std::pin::Pin;
use std::task::Context as TaskCx;

use loom::thread;

use super::failure::FirstFailure;
use super::handle::{Slots, TaskHandle};
use super::set::TaskSet;
use super::sync::Arc;
use super::task::{Done, Shared};
use crate::code::Code;
use crate::context::Context;
use crate::error::{ErrorKind, TaskError};

fn failure(message: &'static str) -> TaskError {
    TaskError::new(Code::UNAVAILABLE, message)
}

/// A task parks its waker in its slot and then reads the context's flag, while the context
/// raises its flag and then sweeps the slot (`watch.rs`): the task is woken or sees the
/// flag, in every interleaving. Read the flag before parking, and loom finds the one where
/// the sweep ran between the two: the task sleeps forever (a deadlock).
#[test]
fn loom_sweep_never_misses_a_parked_task() {
    use super::sync::{AtomicBool, Ordering};
    loom::model(|| {
        let slots = Arc::new(Slots::new(0));
        let cancelled = Arc::new(AtomicBool::new(false));
        let task = {
            let (slots, cancelled) = (slots.clone(), cancelled.clone());
            thread::spawn(move || {
                loom::future::block_on(std::future::poll_fn(|cx| {
                    slots.slot(0).park(cx.waker());
                    if cancelled.load(Ordering::Acquire) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                }));
            })
        };
        cancelled.store(true, Ordering::Release);
        if let Some(waker) = slots.slot(0).unpark() {
            waker.wake();
        }
        task.join().unwrap();
    });
}

/// Two clones awaited on two threads while the task ends on a third: both are woken, with
/// the same outcome. With one waker slot, loom finds the interleaving where the second
/// registration replaces the first and that awaiter is never woken (a deadlock).
#[test]
fn loom_slot_wakes_every_awaiting_clone() {
    loom::model(|| {
        let slots = Arc::new(Slots::new(0));
        slots.slot(0).expect_handle();
        let a = TaskHandle::new(0, slots.clone());
        let b = a.clone();
        let ta = thread::spawn(move || loom::future::block_on(a));
        let tb = thread::spawn(move || loom::future::block_on(b));
        let slot = slots.slot(0);
        assert!(slot.has_handle());
        slot.set(Err(failure("done")));
        for awaiter in [ta, tb] {
            assert_eq!(awaiter.join().unwrap().unwrap_err().message(), "done");
        }
        assert!(slot.is_set());
        assert_eq!(slot.waiters(), 0);
        assert!(!slot.has_handle(), "every handle was dropped");
    });
}

/// One awaiter registers and gives up (dropped mid-await) while another waits and the task
/// ends: the one still waiting is woken, and no waker is left behind.
#[test]
fn loom_slot_a_handle_that_gives_up_leaves_no_waker() {
    loom::model(|| {
        let slots = Arc::new(Slots::new(0));
        slots.slot(0).expect_handle();
        let mut quitter = TaskHandle::new(0, slots.clone());
        let waiter = quitter.clone();
        let tq = thread::spawn(move || {
            let mut cx = TaskCx::from_waker(futures_util::task::noop_waker_ref());
            let _ = Pin::new(&mut quitter).poll(&mut cx);
            drop(quitter);
        });
        let tw = thread::spawn(move || loom::future::block_on(waiter));
        let slot = slots.slot(0);
        slot.set(Ok(()));
        tq.join().unwrap();
        assert!(tw.join().unwrap().is_ok());
        assert_eq!(slot.waiters(), 0);
        assert!(!slot.has_handle(), "every handle was dropped");
    });
}

/// The task ends (storing its outcome only when a handle exists, as `settle` does) while
/// its one handle is cloned on another thread, the original dropped and the clone awaited:
/// the count of handles never reads zero while one lives, so the clone is always woken with
/// the outcome (a count decremented before the clone's increment would let the task skip
/// the store, and the clone would wait forever).
#[test]
fn loom_slot_a_task_never_skips_the_store_a_live_clone_waits_for() {
    loom::model(|| {
        let slots = Arc::new(Slots::new(0));
        slots.slot(0).expect_handle();
        let original = TaskHandle::new(0, slots.clone());
        let awaiter = thread::spawn(move || {
            let clone = original.clone();
            drop(original);
            loom::future::block_on(clone)
        });
        let slot = slots.slot(0);
        if slot.has_handle() {
            slot.set(Err(failure("done")));
        }
        assert_eq!(awaiter.join().unwrap().unwrap_err().message(), "done");
        assert!(!slot.has_handle());
    });
}

/// Two real failures race for the store: exactly one wins, and every later read sees it.
#[test]
fn loom_first_failure_has_exactly_one_winner() {
    loom::model(|| {
        let store = Arc::new(FirstFailure::default());
        let racers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|message| {
                let store = store.clone();
                thread::spawn(move || store.record(&failure(message)).then_some(message))
            })
            .collect();
        let winners: Vec<&str> = racers.into_iter().filter_map(|t| t.join().unwrap()).collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert_eq!(store.get().unwrap().message(), winners[0]);
    });
}

/// The fail-fast path itself: two tasks fail while a sibling, stopped by the cancellation,
/// reports its `Cancelled`. Whoever sees the context cancelled also sees the winning failure
/// stored (it is stored first), the context's cause is that failure, and a `Cancelled` never
/// wins.
#[test]
fn loom_a_cancelled_sibling_never_wins_the_failure() {
    loom::model(|| {
        let shared = std::sync::Arc::new(Shared {
            soft: Context::new(),
            ctx: Context::new(),
            failure: FirstFailure::default(),
            limit: None,
            collect_all: false,
            supervisor: None,
            discard: false,
            name: None,
            created: tokio::time::Instant::now(),
            spawns: super::sync::Mutex::new(super::task::Spawns::default()),
            watch: super::watch::Watch::default(),
        });
        let failing: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|message| {
                let shared = shared.clone();
                thread::spawn(move || shared.fail(&failure(message)))
            })
            .collect();
        let sibling = {
            let shared = shared.clone();
            thread::spawn(move || {
                // Stopped by the group's cancellation, if it came already.
                if let Some(stopped) = shared.ctx.error() {
                    assert_eq!(stopped.kind(), ErrorKind::Cancelled);
                    let winner = shared.failure.get().expect("stored before the cancel");
                    assert_eq!(stopped.cause().unwrap().message(), winner.message());
                    shared.fail(&stopped);
                }
            })
        };
        for t in failing {
            t.join().unwrap();
        }
        sibling.join().unwrap();
        let winner = shared.failure.get().expect("a real failure was recorded");
        assert_eq!(winner.kind(), ErrorKind::Failed);
        assert!(["a", "b"].contains(&winner.message().as_ref()));
        assert_eq!(shared.ctx.cause().unwrap().message(), winner.message());
    });
}

/// Two tasks deliver their outcomes on two threads while the group's poller drains the set
/// and goes to sleep in between: it sees both, and ends. Here the queue's lock orders a
/// push against the poller's last look too; the fences in `Joiner` are what the next
/// model, whose count of deliveries is outside that lock, needs.
#[test]
fn loom_task_set_poller_never_misses_an_outcome() {
    loom::model(|| {
        let set = TaskSet::<usize>::new();
        let tasks: Vec<_> = (0..2)
            .map(|index| {
                set.hold();
                let core = set.core().clone();
                thread::spawn(move || {
                    core.deliver(Done { index, result: Ok(index), stopped: false });
                })
            })
            .collect();
        let mut seen = loom::future::block_on(async {
            let mut seen = Vec::new();
            while let Some(done) = set.join_next().await {
                seen.push(done.index);
            }
            seen
        });
        for t in tasks {
            t.join().unwrap();
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1]);
        assert!(set.is_empty());
    });
}

/// The same with the collect-everything wait (`join`): the poller sleeps until the last
/// task delivers, woken once; it never sleeps through that last delivery, and the first
/// one does not pass for it. The count of deliveries and the target the poller stores are
/// outside the queue's lock: the fences in `Joiner` and `Core::deliver` keep the last
/// delivery (which reads the target) and the poller's last look (which reads the count)
/// from missing each other.
#[test]
fn loom_task_set_join_all_is_woken_by_the_last_delivery() {
    loom::model(|| {
        let set = TaskSet::<usize>::new();
        let tasks: Vec<_> = (0..2)
            .map(|index| {
                set.hold();
                let core = set.core().clone();
                thread::spawn(move || {
                    core.deliver(Done { index, result: Ok(index), stopped: false });
                })
            })
            .collect();
        let mut seen: Vec<usize> =
            loom::future::block_on(async { set.join_all().await.map(|d| d.index).collect() });
        for t in tasks {
            t.join().unwrap();
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1]);
        assert!(set.is_empty());
    });
}
