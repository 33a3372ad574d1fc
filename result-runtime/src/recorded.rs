//! Test support: what a `metrics-util` debugging recorder holds, one line per series, so
//! that the unit tests of every module that records metrics read it the same way.

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, Snapshotter};

/// Every recorded series as `name{label=value,...}` (labels sorted) to its value: a
/// counter's count, a gauge as an integer.
///
/// # Panics
/// On a histogram: the modules that use this record none.
pub(crate) fn series(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<_> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            let value = match value {
                DebugValue::Counter(n) => n,
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                DebugValue::Gauge(g) => g.into_inner() as u64,
                DebugValue::Histogram(_) => panic!("no histogram is read through `series`"),
            };
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}
