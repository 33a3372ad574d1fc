//! What breakers and budgets record through the `metrics` facade (feature `metrics`, which
//! `tower`, `grpc` and `http` turn on): handles resolved once, when the breaker is built, so
//! a call costs one counter increment; without the feature, or for an unnamed breaker,
//! nothing is recorded and nothing is paid.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `breaker_state` | gauge: 0 closed, 1 open, 2 half-open | `breaker` |
//! | `breaker_calls_total` | counter | `breaker`, `outcome` = `success` / `failure` / `ignored` |
//! | `breaker_slow_calls_total` | counter | `breaker` |
//! | `breaker_rejections_total` | counter (calls refused with `CIRCUIT_OPEN`) | `breaker` |
//! | `retry_budget_exhausted_total` | counter (retries refused by a budget) | `budget` |
//!
//! Install the recorder before building named breakers: a handle resolved earlier records
//! nowhere (the facade's rule for every handle).

use super::{State, Verdict};

/// The breaker's handles; `None` for an unnamed breaker, so its calls skip the facade
/// entirely (a no-op handle's `increment` is still an out-of-line call, a tenth of the closed
/// path's cost).
#[cfg(feature = "metrics")]
pub(crate) struct Instruments(Option<Handles>);

#[cfg(feature = "metrics")]
struct Handles {
    success: metrics::Counter,
    failure: metrics::Counter,
    ignored: metrics::Counter,
    slow: metrics::Counter,
    rejected: metrics::Counter,
    state: metrics::Gauge,
}

#[cfg(feature = "metrics")]
impl Instruments {
    pub(crate) fn new(name: Option<&str>) -> Self {
        let Some(name) = name else { return Self(None) };
        let calls = |outcome: &'static str| metrics::counter!("breaker_calls_total", "breaker" => name.to_owned(), "outcome" => outcome);
        let state = metrics::gauge!("breaker_state", "breaker" => name.to_owned());
        state.set(0.0);
        Self(Some(Handles {
            success: calls("success"),
            failure: calls("failure"),
            ignored: calls("ignored"),
            slow: metrics::counter!("breaker_slow_calls_total", "breaker" => name.to_owned()),
            rejected: metrics::counter!("breaker_rejections_total", "breaker" => name.to_owned()),
            state,
        }))
    }

    #[inline]
    pub(crate) fn outcome(&self, verdict: Verdict, slow: bool) {
        let Some(h) = &self.0 else { return };
        match verdict {
            Verdict::Success => h.success.increment(1),
            Verdict::Failure => h.failure.increment(1),
            Verdict::Ignored => h.ignored.increment(1),
        }
        if slow {
            h.slow.increment(1);
        }
    }

    pub(crate) fn rejected(&self) {
        if let Some(h) = &self.0 {
            h.rejected.increment(1);
        }
    }

    pub(crate) fn state(&self, state: State) {
        if let Some(h) = &self.0 {
            h.state.set(f64::from(state as u8));
        }
    }
}

#[cfg(feature = "metrics")]
pub(crate) fn budget_exhausted(name: Option<&str>) {
    if let Some(name) = name {
        metrics::counter!("retry_budget_exhausted_total", "budget" => name.to_owned()).increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
pub(crate) struct Instruments;

#[cfg(not(feature = "metrics"))]
impl Instruments {
    pub(crate) fn new(_: Option<&str>) -> Self {
        Self
    }
    #[inline]
    pub(crate) fn outcome(&self, _: Verdict, _: bool) {}
    pub(crate) fn rejected(&self) {}
    pub(crate) fn state(&self, _: State) {}
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn budget_exhausted(_: Option<&str>) {}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use metrics_util::debugging::DebuggingRecorder;

    use crate::breaker::RetryBudget;
    use crate::recorded::series;

    #[test]
    fn a_named_budget_counts_each_refused_retry_and_an_unnamed_one_records_nothing() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            // No floor: only first attempts earn retries, two per retry at a ratio of 0.5.
            let named = RetryBudget::builder().name("inventory").ratio(0.5).min_per_sec(0);
            let budget = named.build().unwrap();
            assert!(!budget.try_withdraw(), "nothing deposited yet");
            budget.deposit();
            budget.deposit();
            assert!(budget.try_withdraw(), "two first attempts earn one retry");
            assert!(!budget.try_withdraw());
            assert!(!budget.try_withdraw());
            assert_eq!(budget.exhausted(), 3);

            let unnamed = RetryBudget::builder().ratio(0.5).min_per_sec(0).build().unwrap();
            assert!(!unnamed.try_withdraw());
            assert_eq!(unnamed.exhausted(), 1);
        });
        assert_eq!(
            series(&recorder.snapshotter()).into_iter().collect::<Vec<_>>(),
            [("retry_budget_exhausted_total{budget=inventory}".to_owned(), 3)],
            "granted retries are not counted; the unnamed budget's refusal is not recorded"
        );
    }
}
