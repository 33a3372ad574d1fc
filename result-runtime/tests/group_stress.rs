//! Bounded stress: 200 rounds of 1,000 tasks with random failures and panics, on a
//! multi-threaded runtime. Every round returns a real error or every value, and no task is
//! left running once `join` has returned.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use result_runtime::group::Group;
use result_runtime::{Code, ErrorKind, TaskError};

struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, SeqCst);
        Self(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[derive(Clone, Copy)]
enum Plan {
    Ok,
    Fail,
    Panic,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_rounds_of_a_thousand_tasks() {
    const ROUNDS: u64 = 200;
    const TASKS: usize = 1_000;
    let live = Arc::new(AtomicUsize::new(0));
    let (mut ok_rounds, mut failed_rounds) = (0, 0);
    for round in 0..ROUNDS {
        let mut rng = fastrand::Rng::with_seed(round);
        // About half the rounds have no failure at all; the others have a few.
        let faulty = rng.bool();
        let plans: Vec<Plan> = (0..TASKS)
            .map(|_| match rng.u32(0..2_000) {
                0 | 1 if faulty => Plan::Fail,
                2 if faulty => Plan::Panic,
                _ => Plan::Ok,
            })
            .collect();
        let limited = round % 3 == 0;
        let g = if limited { Group::builder().limit(64).build().unwrap() } else { Group::new() };
        for (i, &plan) in plans.iter().enumerate() {
            let guard = Live::new(&live);
            let yields = rng.u8(0..3);
            g.spawn(async move {
                let _guard = guard;
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                match plan {
                    Plan::Ok => Ok(i),
                    Plan::Fail => Err(TaskError::new(Code::UNAVAILABLE, "planned failure")),
                    Plan::Panic => panic!("planned panic in task {i}"),
                }
            });
        }
        let planned_faults = plans.iter().filter(|p| !matches!(p, Plan::Ok)).count();
        match g.join().await {
            Ok(values) => {
                assert_eq!(planned_faults, 0, "round {round}: a fault went unreported");
                assert_eq!(values, (0..TASKS).collect::<Vec<_>>(), "round {round}");
                ok_rounds += 1;
            }
            Err(e) => {
                assert!(planned_faults > 0, "round {round}: error without a fault: {e:#}");
                match e.kind() {
                    ErrorKind::Failed => assert_eq!(e.message(), "planned failure"),
                    ErrorKind::Panicked => {
                        assert!(e.panic().unwrap().message().starts_with("planned panic"));
                    }
                    other => panic!("round {round}: {other:?} won: {e:#}"),
                }
                assert!(e.task().unwrap().starts_with("group["));
                failed_rounds += 1;
            }
        }
        assert_eq!(live.load(SeqCst), 0, "round {round}: a task outlived join");
    }
    assert!(ok_rounds > 20 && failed_rounds > 20, "{ok_rounds} ok, {failed_rounds} failed");
}
