//! Not a timing bench: one case of the 10k join (`Group` or `JoinSet`, current-thread or
//! 2-worker runtime) run a given number of times, for deterministic tools, plus the minor
//! page faults per join (fresh memory the kernel maps in: a cost instruction counts never
//! see) and the size of each side's spawned future.
//!
//! `RR_CASE` is `group_local`, `joinset_local`, `group_mt` or `joinset_mt`; `RR_ROUNDS` the
//! joins measured after 5 warm ones. Per task: run under the tool with `RR_ROUNDS=20` and
//! `RR_ROUNDS=0`, subtract, divide by 20 x 10,000:
//! - `valgrind --tool=cachegrind --cache-sim=yes target/release/deps/group_footprint-HASH`
//!   (D1 and LL misses);
//! - `valgrind --tool=dhat target/release/deps/group_footprint-HASH` (allocations, bytes).

use std::time::Instant;

use criterion::black_box;
use result_runtime::TaskError;

#[path = "support/join10k.rs"]
mod join10k;
use join10k::{group_join, joinset_join};

/// The process's minor page faults so far (field 10 of `/proc/self/stat`).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, s)| s);
    after.split_whitespace().nth(7).and_then(|f| f.parse().ok()).unwrap_or(0)
}

fn main() {
    let i = black_box(1_usize);
    println!(
        "SIZE user future: group {} B, joinset {} B",
        std::mem::size_of_val(&async move { Ok::<usize, TaskError>(i) }),
        std::mem::size_of_val(&async move { (i, Ok::<usize, TaskError>(i)) }),
    );
    let case = std::env::var("RR_CASE").unwrap_or_else(|_| "group_local".into());
    let rounds: u64 = std::env::var("RR_ROUNDS").map_or(20, |r| r.parse().unwrap());
    let rt = if case.ends_with("_mt") {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    }
    .unwrap();
    let group = case.starts_with("group");
    let one = || {
        rt.block_on(async {
            if group {
                group_join().await;
            } else {
                joinset_join().await;
            }
        });
    };
    // Warm: the runtime's queues and the allocator's caches at their steady size.
    for _ in 0..5 {
        one();
    }
    let (faults, start) = (minor_faults(), Instant::now());
    for _ in 0..rounds {
        one();
    }
    let (faults, elapsed) = (minor_faults() - faults, start.elapsed());
    println!(
        "CASE {case}: {rounds} joins, {} minor faults/join, {:?}/join (noisy)",
        faults / rounds.max(1),
        elapsed / u32::try_from(rounds.max(1)).unwrap()
    );
}
