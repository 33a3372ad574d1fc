//! A discarding group's memory stays flat however many tasks pass through it: 1M short
//! tasks, with the group's held tasks and the process's resident set sampled along the
//! way. Its own test binary, so no other test shares the process.

use std::time::{Duration, Instant};

use result_runtime::group::Group;

/// The process's resident set, in bytes (Linux; `None` elsewhere). The workspace forbids
/// `unsafe`, so no counting allocator: the resident set is the coarser, honest measure.
fn resident() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

const TASKS: u64 = 1_000_000;
const BATCH: u64 = 1_000;

#[test]
fn a_million_tasks_through_a_discarding_group_keep_its_memory_flat() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let started = Instant::now();
        let g = Group::<u64>::builder().discard_outputs().build().unwrap();
        let mut max_held = 0;
        let mut after_warmup = 0;
        let mut max_live = 0;
        for i in 0..TASKS {
            // Each task carries a 1 KiB output that a keeping group would hold on to.
            g.spawn(async move { Ok(std::hint::black_box([i; 128])[0]) });
            if i % BATCH == BATCH - 1 {
                // Right after a batch of spawns: what the group holds is this batch (the
                // previous ones were dropped as they were reaped), never the history.
                max_held = max_held.max(g.held());
                // Let the batch run (the runtime polls the spawner again after ~61 tasks).
                while g.held() > BATCH as usize / 10 {
                    tokio::task::yield_now().await;
                }
                let live = resident().unwrap_or(0);
                if i == 10 * BATCH - 1 {
                    after_warmup = live;
                }
                max_live = max_live.max(live);
            }
        }
        assert!(max_held <= 2 * BATCH as usize, "the group held {max_held} tasks at once");
        assert_eq!(g.spawned(), TASKS as usize);
        // After the first 10k tasks the resident set stays flat (a group keeping the
        // outputs would grow by about 1 GiB here: 1M outputs of 1 KiB, plus results).
        let growth = max_live.saturating_sub(after_warmup);
        assert!(growth < 16 << 20, "resident set grew by {growth} bytes after warm-up");
        assert!(g.join().await.unwrap().is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "1M tasks took {:?}",
            started.elapsed()
        );
    });
}
