//! ResultCache against a model: without capacity pressure or expiry, it behaves exactly like
//! a map under any sequence of inserts, invalidations and reads.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use result_runtime::cache::ResultCache;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u32),
    Invalidate(u8),
    Get(u8),
    InvalidateAll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => any::<u8>().prop_map(Op::Invalidate),
        4 => any::<u8>().prop_map(Op::Get),
        1 => Just(Op::InvalidateAll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn behaves_like_a_map(ops in proptest::collection::vec(op(), 1..200)) {
        let cache = ResultCache::<u8, u32>::builder()
            .max_capacity(1_024)
            .ttl(Duration::from_secs(3_600))
            .build().expect("valid cache settings");
        let mut model = HashMap::new();
        let (mut hits, mut misses) = (0, 0);
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    cache.insert(k, v);
                    model.insert(k, v);
                }
                Op::Invalidate(k) => {
                    cache.invalidate(&k);
                    model.remove(&k);
                }
                Op::Get(k) => {
                    let got = cache.get(&k).map(Result::unwrap);
                    prop_assert_eq!(got, model.get(&k).copied());
                    if got.is_some() { hits += 1 } else { misses += 1 }
                }
                Op::InvalidateAll => {
                    cache.invalidate_all();
                    model.clear();
                }
            }
            prop_assert_eq!(cache.len(), model.len());
        }
        let s = cache.stats();
        prop_assert_eq!((s.hits, s.misses, s.evictions), (hits, misses, 0));
    }
}
