//! The sliding window a closed breaker judges by: the last N calls, or the last T seconds in
//! buckets. Plain data, always used under the breaker's lock.

use std::time::Duration;

use tokio::time::Instant;

/// Which calls a breaker's failure and slow-call rates are computed over.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use result_runtime::breaker::{CircuitBreaker, Window};
///
/// let by_count = CircuitBreaker::builder().window(Window::Count(50)).build().unwrap();
/// let by_time = CircuitBreaker::builder()
///     .window(Window::Time { span: Duration::from_secs(10), buckets: 10 })
///     .build()
///     .unwrap();
/// # drop((by_count, by_time));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last `n` finished calls (resilience4j's count-based window). The default, with
    /// `n = 100`. The cheapest: while the window holds no failure, a success costs two
    /// relaxed loads (see [`CircuitBreaker`](super::CircuitBreaker)'s cost notes).
    Count(u32),
    /// The calls finished in the last `span`, kept in `buckets` buckets of `span / buckets`
    /// each, so old calls leave the window a bucket at a time. Every call reads the clock
    /// and takes the breaker's (short, uncontended) lock.
    Time {
        /// How far back the window reaches.
        span: Duration,
        /// How many buckets it is divided into (at least 1).
        buckets: u32,
    },
}

impl Default for Window {
    fn default() -> Self {
        Self::Count(100)
    }
}

/// Totals over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub calls: u32,
    pub failures: u32,
    pub slow: u32,
}

impl Totals {
    pub(crate) const fn bad(&self) -> bool {
        self.failures > 0 || self.slow > 0
    }
}

const EMPTY: u8 = 0;
const OK: u8 = 1;
const FAIL: u8 = 2;
const SLOW: u8 = 4;

/// One finished call as the window stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub failure: bool,
    pub slow: bool,
}

impl Sample {
    const fn bits(self) -> u8 {
        OK | if self.failure { FAIL } else { 0 } | if self.slow { SLOW } else { 0 }
    }
}

pub(crate) enum SlidingWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl SlidingWindow {
    pub(crate) fn new(window: Window, origin: Instant) -> Self {
        match window {
            Window::Count(n) => Self::Count(CountWindow::new(n as usize)),
            Window::Time { span, buckets } => Self::Time(TimeWindow::new(span, buckets, origin)),
        }
    }

    pub(crate) fn record(&mut self, sample: Sample, now: Instant) -> Totals {
        match self {
            Self::Count(w) => w.record(sample),
            Self::Time(w) => w.record(sample, now),
        }
    }

    pub(crate) fn clear(&mut self) {
        match self {
            Self::Count(w) => w.clear(),
            Self::Time(w) => w.clear(),
        }
    }
}

/// A ring of the last `n` samples and their running totals.
pub(crate) struct CountWindow {
    slots: Box<[u8]>,
    head: usize,
    totals: Totals,
}

impl CountWindow {
    fn new(n: usize) -> Self {
        Self { slots: vec![EMPTY; n].into_boxed_slice(), head: 0, totals: Totals::default() }
    }

    pub(crate) fn capacity(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    /// Makes the ring hold `calls` successes and nothing else: what the lock-free fast path
    /// counted while the window was clean (where the order of successes does not matter).
    pub(crate) fn reset_to_successes(&mut self, calls: u32) {
        let calls = (calls as usize).min(self.slots.len());
        self.slots[..calls].fill(OK);
        self.slots[calls..].fill(EMPTY);
        self.head = calls % self.slots.len();
        self.totals =
            Totals { calls: u32::try_from(calls).unwrap_or(u32::MAX), ..Totals::default() };
    }

    fn record(&mut self, sample: Sample) -> Totals {
        let old = std::mem::replace(&mut self.slots[self.head], sample.bits());
        self.head = (self.head + 1) % self.slots.len();
        let t = &mut self.totals;
        if old == EMPTY {
            t.calls += 1;
        }
        t.failures -= u32::from(old & FAIL != 0);
        t.slow -= u32::from(old & SLOW != 0);
        t.failures += u32::from(sample.failure);
        t.slow += u32::from(sample.slow);
        *t
    }

    fn clear(&mut self) {
        self.reset_to_successes(0);
    }
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    /// Which bucket-width interval since the origin this bucket holds.
    epoch: u64,
    totals: Totals,
}

/// Buckets of `width` each; a bucket whose epoch is older than the window reads as empty.
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    width: Duration,
    origin: Instant,
}

impl TimeWindow {
    fn new(span: Duration, buckets: u32, origin: Instant) -> Self {
        let width = span / buckets;
        Self {
            buckets: vec![Bucket::default(); buckets as usize].into_boxed_slice(),
            width,
            origin,
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since / self.width.as_nanos()).unwrap_or(u64::MAX)
    }

    fn record(&mut self, sample: Sample, now: Instant) -> Totals {
        let epoch = self.epoch(now);
        let n = self.buckets.len() as u64;
        let b = &mut self.buckets[usize::try_from(epoch % n).unwrap_or(0)];
        if b.epoch != epoch {
            *b = Bucket { epoch, totals: Totals::default() };
        }
        b.totals.calls += 1;
        b.totals.failures += u32::from(sample.failure);
        b.totals.slow += u32::from(sample.slow);
        // Epoch 0 buckets that were never written hold zero totals, so they add nothing.
        let oldest = epoch.saturating_sub(n - 1);
        self.buckets.iter().filter(|b| b.epoch >= oldest).fold(Totals::default(), |a, b| Totals {
            calls: a.calls + b.totals.calls,
            failures: a.failures + b.totals.failures,
            slow: a.slow + b.totals.slow,
        })
    }

    fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OKS: Sample = Sample { failure: false, slow: false };
    const BAD: Sample = Sample { failure: true, slow: false };
    const SLOWS: Sample = Sample { failure: false, slow: true };

    #[test]
    fn count_window_keeps_exactly_the_last_n() {
        let mut w = CountWindow::new(3);
        assert_eq!(w.record(BAD), Totals { calls: 1, failures: 1, slow: 0 });
        assert_eq!(w.record(SLOWS), Totals { calls: 2, failures: 1, slow: 1 });
        assert_eq!(w.record(OKS), Totals { calls: 3, failures: 1, slow: 1 });
        // The failure leaves, then the slow call.
        assert_eq!(w.record(OKS), Totals { calls: 3, failures: 0, slow: 1 });
        assert_eq!(w.record(OKS), Totals { calls: 3, failures: 0, slow: 0 });
        w.reset_to_successes(2);
        assert_eq!(w.record(BAD), Totals { calls: 3, failures: 1, slow: 0 });
        assert_eq!(w.record(OKS), Totals { calls: 3, failures: 1, slow: 0 });
        w.reset_to_successes(10);
        assert_eq!(w.record(BAD), Totals { calls: 3, failures: 1, slow: 0 });
    }

    #[test]
    fn time_window_forgets_buckets_older_than_the_span() {
        let origin = Instant::now();
        let mut w = TimeWindow::new(Duration::from_secs(10), 10, origin);
        let at = |ms: u64| origin + Duration::from_millis(ms);
        assert_eq!(w.record(BAD, at(0)).calls, 1);
        assert_eq!(w.record(OKS, at(5_500)), Totals { calls: 2, failures: 1, slow: 0 });
        // At 10.0 s the first bucket (0-1 s) has left the window; the 5 s one has not.
        assert_eq!(w.record(OKS, at(10_000)), Totals { calls: 2, failures: 0, slow: 0 });
        assert_eq!(w.record(OKS, at(15_999)), Totals { calls: 2, failures: 0, slow: 0 });
        assert_eq!(w.record(OKS, at(40_000)), Totals { calls: 1, failures: 0, slow: 0 });
        w.clear();
        assert_eq!(w.record(SLOWS, at(40_000)), Totals { calls: 1, failures: 0, slow: 1 });
    }
}
