//! HashRing placement: movement on add, balance, and removal that moves only the removed
//! node's keys.

use proptest::prelude::*;
use result_runtime::cache::HashRing;

const KEYS: u64 = 100_000;

fn ring(nodes: impl IntoIterator<Item = u32>) -> HashRing<String> {
    nodes.into_iter().map(|i| format!("10.0.0.{i}:6379")).collect()
}

fn placement(r: &HashRing<String>) -> Vec<String> {
    (0..KEYS).map(|k| r.get(&format!("user:{k}")).unwrap().clone()).collect()
}

#[test]
fn adding_an_eleventh_node_moves_about_one_in_eleven_keys_all_to_it() {
    let mut r = ring(0..10);
    let before = placement(&r);
    r.add("10.0.0.10:6379".into());
    let after = placement(&r);
    let moved: Vec<_> = (0..before.len()).filter(|&i| before[i] != after[i]).collect();
    #[allow(clippy::cast_precision_loss)]
    let share = moved.len() as f64 / KEYS as f64;
    assert!((0.08..=0.10).contains(&share), "moved {share:.4} of keys (expected ~1/11)");
    // Every moved key moved to the new node: no churn between old nodes.
    assert!(moved.iter().all(|&i| after[i] == "10.0.0.10:6379"));
}

#[test]
fn worst_node_is_within_three_percent_of_the_mean() {
    let r = ring(0..10);
    let mut counts = std::collections::HashMap::<String, u64>::new();
    for n in placement(&r) {
        *counts.entry(n).or_default() += 1;
    }
    assert_eq!(counts.len(), 10);
    let mean = KEYS / 10;
    let worst = counts.values().map(|&c| c.abs_diff(mean)).max().unwrap();
    assert!(worst * 100 <= mean * 3, "worst node is {worst} keys off a mean of {mean}: {counts:?}");
}

#[test]
fn removing_a_node_moves_exactly_its_keys() {
    let mut r = ring(0..10);
    let before = placement(&r);
    let gone = "10.0.0.3:6379".to_string();
    assert_eq!(r.remove(&gone), Some(gone.clone()));
    let after = placement(&r);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if *b == gone {
            assert_ne!(*a, gone);
            moved += 1;
        } else {
            assert_eq!(a, b, "a key of a remaining node moved");
        }
    }
    assert!(moved > 9_000, "node 3 held {moved} keys");
}

#[test]
fn removal_then_re_adding_restores_the_original_placement() {
    let mut r = ring(0..10);
    let before = placement(&r);
    r.remove(&"10.0.0.0:6379".to_string());
    r.add("10.0.0.0:6379".into());
    assert_eq!(placement(&r), before);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn removing_any_node_moves_only_its_keys(
        nodes in proptest::collection::hash_set(any::<u32>(), 2..20),
        victim in any::<prop::sample::Index>(),
        keys in proptest::collection::vec(any::<u64>(), 1..200),
    ) {
        let nodes: Vec<u32> = nodes.into_iter().collect();
        let victim = nodes[victim.index(nodes.len())];
        let mut r: HashRing<u32> = nodes.iter().copied().collect();
        let before: Vec<u32> = keys.iter().map(|k| *r.get(k).unwrap()).collect();
        r.remove(&victim);
        for (k, b) in keys.iter().zip(before) {
            let a = *r.get(k).unwrap();
            if b == victim {
                prop_assert_ne!(a, victim);
            } else {
                prop_assert_eq!(a, b);
            }
        }
    }
}
