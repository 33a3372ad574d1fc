//! The admin server's upkeep of its Prometheus recorder: histogram samples are drained on a
//! timer, not only when something scrapes (`metrics-exporter-prometheus` leaves that to
//! whoever builds a recorder by hand). Paused time: the runtime jumps to each tick.

use result_runtime_examples::observe::{run_upkeep_every, UPKEEP_INTERVAL};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The admin server's own period, so the test reads in its seconds.
const EVERY: std::time::Duration = UPKEEP_INTERVAL;

#[tokio::test(start_paused = true)]
async fn upkeep_runs_once_a_period_and_once_after_a_stall() {
    let start = Instant::now();
    let (ran, mut runs) = mpsc::unbounded_channel();
    let task = tokio::spawn(run_upkeep_every(EVERY, move || ran.send(Instant::now()).unwrap()));

    // Not at once (a scrape may just have drained), then one period apart.
    assert_eq!(next(&mut runs, start).await, EVERY);
    assert_eq!(next(&mut runs, start).await, 2 * EVERY);

    // A stall of more than three periods: one upkeep drains all there is, then the period
    // starts again from there (no burst of catch-up runs).
    let stall = 3 * EVERY + EVERY / 2;
    tokio::time::advance(stall).await;
    assert_eq!(next(&mut runs, start).await, 2 * EVERY + stall);
    assert_eq!(next(&mut runs, start).await, 3 * EVERY + stall);

    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(runs.try_recv().is_err(), "no upkeep after the task is gone");
}

/// How long after `start` the next upkeep ran.
async fn next(runs: &mut mpsc::UnboundedReceiver<Instant>, start: Instant) -> std::time::Duration {
    runs.recv().await.expect("upkeep runs") - start
}
