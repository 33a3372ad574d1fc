//! `group::dump()`: the exact tree for a fixed scenario of nested groups, with paused time.
//! Its own test binary: the dump is process-wide, and no other test may add groups to it.

use std::time::Duration;

use result_runtime::group::{self, Group, TaskState};
use result_runtime::trace::TraceContext;
use tokio::time::sleep;

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test(start_paused = true)]
async fn the_dump_shows_nested_groups_states_ages_and_traces() {
    assert_eq!(group::dump().to_string(), "(no live groups)\n");

    let checkout = Group::<&str>::builder().name("checkout").build().unwrap();
    let trace: TraceContext = TRACE.parse().unwrap();
    trace
        .scope(async {
            checkout.spawn_named("reserve", async {
                sleep(Duration::from_millis(500)).await;
                let lines = Group::<()>::builder().name("lines").limit(1).build()?;
                lines.spawn(std::future::pending());
                lines.spawn(std::future::pending());
                lines.join().await?;
                Ok("reserved")
            });
        })
        .await;
    checkout.spawn(std::future::pending());
    let metrics =
        Group::<()>::builder().name("metrics").supervise(|_| {}).discard_outputs().build().unwrap();
    metrics.spawn(std::future::pending());

    sleep(Duration::from_millis(1500)).await;
    let tree = group::dump();
    assert_eq!(
        tree.to_string(),
        "\
group checkout (fail-fast, age 1.5s)
  reserve running, age 1.5s, trace 4bf92f3577b34da6a3ce929d0e0e4736
    group lines (fail-fast, age 1s)
      lines[0] running, age 1s, trace 4bf92f3577b34da6a3ce929d0e0e4736
      lines[1] waiting for a slot, age 1s, trace 4bf92f3577b34da6a3ce929d0e0e4736
  checkout[1] running, age 1.5s
group metrics (supervisor, discarding, age 1.5s)
  metrics[0] running, age 1.5s
"
    );
    assert_eq!(tree.task_count(), 5);
    assert_eq!(tree.groups[0].tasks[0].groups[0].tasks[1].state, TaskState::WaitingForSlot);

    // A shutdown in flight: the nested group is stopped at once (its task finishes), the
    // task that ignores the cancellation shows as cancelling until the grace runs out.
    let shutdown = tokio::spawn(checkout.shutdown(Duration::from_secs(10)));
    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        group::dump().to_string(),
        "\
group checkout (fail-fast, age 2.5s)
  checkout[1] cancelling, age 2.5s
group metrics (supervisor, discarding, age 2.5s)
  metrics[0] running, age 2.5s
"
    );
    let report = shutdown.await.unwrap();
    assert_eq!(report.aborted, [1]);
    assert_eq!(report.finished.len(), 1);
    // Dropping a group aborts its tasks: they are torn down the next time the runtime
    // runs them, and take their group's entry with them.
    drop(metrics);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(group::dump().to_string(), "(no live groups)\n", "nothing outlives its group");
}
