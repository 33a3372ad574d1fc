//! The 10k join workload both the `group` bench (timed) and `group_footprint` (counted by
//! valgrind) run, so the two always measure the same thing.

use std::time::{Duration, Instant};

use criterion::black_box;
use result_runtime::group::Group;
use result_runtime::TaskError;
use tokio::task::JoinSet;

/// Tasks per join.
pub const N: usize = 10_000;

/// One join of 10k trivial tasks in a `Group`: its time.
pub async fn group_join() -> Duration {
    let start = Instant::now();
    let group = Group::new();
    for i in 0..N {
        group.spawn(async move { Ok(i) });
    }
    black_box(group.join().await.unwrap());
    start.elapsed()
}

/// The same with a `JoinSet`, results in spawn order as `join` gives them.
pub async fn joinset_join() -> Duration {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..N {
        set.spawn(async move { (i, Ok::<_, TaskError>(i)) });
    }
    // Ordered results, as `join` gives: the index travels with the value.
    let mut out = vec![0; N];
    while let Some(r) = set.join_next().await {
        let (i, v) = r.unwrap();
        out[i] = v.unwrap();
    }
    black_box(out);
    start.elapsed()
}
