//! [`RetryBudget`]: retries limited to a share of recent first attempts plus a floor.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::ConfigError;

/// Tokens are counted in thousandths, so that a ratio of 0.2 deposits 200 per first attempt.
const SCALE: i64 = 1000;
const BUCKETS: usize = 10;

/// A budget of retries shared by every caller of one dependency (Finagle's `RetryBudget`,
/// gRPC's retry throttling): over the last `ttl`, retries may be at most `ratio` × first
/// attempts, plus `min_per_sec` × `ttl` retries that are always allowed (so that a caller
/// with little traffic can still retry). When a dependency fails every call, retries then
/// add at most `ratio` to its load instead of multiplying it by the attempt count.
///
/// Cloning shares the budget. [`RetryPolicy::budget`](crate::retry::RetryPolicy::budget)
/// uses one: each `run` deposits its first attempt, each retry withdraws; a retry the budget
/// refuses is not made, and the last error is returned (and counted, in
/// [`exhausted`](Self::exhausted) and the `retry_budget_exhausted_total` metric).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use result_runtime::breaker::RetryBudget;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), result_runtime::ConfigError> {
/// let budget = RetryBudget::builder().ratio(0.1).min_per_sec(0).build()?;
/// for _ in 0..20 {
///     budget.deposit(); // twenty first attempts...
/// }
/// assert!(budget.try_withdraw()); // ...allow two retries
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// assert_eq!(budget.exhausted(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RetryBudget(Arc<Shared>);

struct Shared {
    name: Option<Cow<'static, str>>,
    deposit: i64,
    reserve: i64,
    width: Duration,
    origin: Instant,
    window: Mutex<[Bucket; BUCKETS]>,
    exhausted: AtomicU64,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    /// Deposits minus withdrawals, in thousandths.
    balance: i64,
}

/// Settings of a [`RetryBudget`]; start from [`RetryBudget::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RetryBudgetBuilder {
    name: Option<Cow<'static, str>>,
    ratio: f64,
    min_per_sec: u32,
    ttl: Duration,
}

impl RetryBudgetBuilder {
    /// Names the budget, for its metrics.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Retries allowed per first attempt (default 0.2; 0 to 1000).
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries always allowed per second, averaged over `ttl` (default 10).
    pub fn min_per_sec(mut self, n: u32) -> Self {
        self.min_per_sec = n;
        self
    }

    /// How long a first attempt or a retry stays in the budget (default 10 s; 1 s to 60 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Validates and builds the budget.
    ///
    /// # Errors
    /// A [`ConfigError`] for a ratio outside `[0, 1000]` (or not a number), a ttl outside
    /// `[1 s, 60 s]`, or a zero ratio with a zero floor (a budget that never allows a retry).
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        if !(0.0..=1000.0).contains(&self.ratio) {
            return Err(ConfigError::new(
                "ratio",
                format!("must be in [0, 1000], got {}", self.ratio),
            ));
        }
        if self.ratio == 0.0 && self.min_per_sec == 0 {
            return Err(ConfigError::new(
                "ratio",
                "with min_per_sec 0, a zero ratio never allows a retry",
            ));
        }
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "ttl",
                format!("must be in [1s, 60s], got {:?}", self.ttl),
            ));
        }
        #[allow(clippy::cast_possible_truncation)] // at most 1000 * 1000
        let deposit = (self.ratio * SCALE as f64).round() as i64;
        let reserve =
            i64::from(self.min_per_sec) * SCALE * i64::try_from(self.ttl.as_secs()).unwrap_or(60);
        Ok(RetryBudget(Arc::new(Shared {
            name: self.name,
            deposit,
            reserve,
            width: self.ttl / BUCKETS as u32,
            origin: Instant::now(),
            window: Mutex::new([Bucket::default(); BUCKETS]),
            exhausted: AtomicU64::new(0),
        })))
    }
}

impl RetryBudget {
    /// The settings, with their defaults (ratio 0.2, 10 per second, ttl 10 s).
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder { name: None, ratio: 0.2, min_per_sec: 10, ttl: Duration::from_secs(10) }
    }

    /// The name given to the builder or the registry.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Records a first attempt, earning `ratio` of a retry.
    pub fn deposit(&self) {
        self.0.add(self.0.deposit);
    }

    /// Takes one retry from the budget; `false` (and counted as exhausted) if none is left.
    #[must_use]
    pub fn try_withdraw(&self) -> bool {
        let s = &*self.0;
        let mut w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
        let epoch = s.epoch(Instant::now());
        if s.reserve + s.sum(&mut w, epoch) >= SCALE {
            s.bucket(&mut w, epoch).balance -= SCALE;
            true
        } else {
            drop(w);
            s.exhausted.fetch_add(1, Ordering::Relaxed);
            super::metrics::budget_exhausted(s.name.as_deref());
            false
        }
    }

    /// Whole retries the budget would allow now.
    #[must_use]
    pub fn available(&self) -> u64 {
        let s = &*self.0;
        let mut w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
        let epoch = s.epoch(Instant::now());
        u64::try_from((s.reserve + s.sum(&mut w, epoch)) / SCALE).unwrap_or(0)
    }

    /// How many retries this budget has refused since it was built.
    #[must_use]
    pub fn exhausted(&self) -> u64 {
        self.0.exhausted.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn epoch(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since / self.width.as_nanos()).unwrap_or(u64::MAX)
    }

    fn bucket<'a>(&self, w: &'a mut [Bucket; BUCKETS], epoch: u64) -> &'a mut Bucket {
        let b = &mut w[usize::try_from(epoch % BUCKETS as u64).unwrap_or(0)];
        if b.epoch != epoch {
            *b = Bucket { epoch, balance: 0 };
        }
        b
    }

    fn sum(&self, w: &mut [Bucket; BUCKETS], epoch: u64) -> i64 {
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        w.iter().filter(|b| b.epoch >= oldest && b.epoch <= epoch).map(|b| b.balance).sum()
    }

    fn add(&self, amount: i64) {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let epoch = self.epoch(Instant::now());
        self.bucket(&mut w, epoch).balance += amount;
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("name", &self.name())
            .field("available", &self.available())
            .field("exhausted", &self.exhausted())
            .finish()
    }
}

/// Two handles are equal when they share one budget.
impl PartialEq for RetryBudget {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RetryBudget {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ratio_of_first_attempts_plus_the_floor_and_both_expire() {
        // Floor: 1 per second over 10 s = 10 retries with no traffic at all.
        let b = RetryBudget::builder().ratio(0.5).min_per_sec(1).build().unwrap();
        assert_eq!(b.available(), 10);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.available(), 15);
        let granted = (0..20).filter(|_| b.try_withdraw()).count();
        assert_eq!((granted, b.exhausted()), (15, 5));
        // A ttl later, the deposits and the withdrawals have both left the window.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.available(), 10);
        let shared = b.clone();
        assert!(shared.try_withdraw());
        assert_eq!((b.available(), b == shared), (9, true));
    }

    #[test]
    fn bad_settings_are_refused() {
        let b = RetryBudget::builder;
        assert_eq!(b().ratio(-1.0).build().unwrap_err().setting(), "ratio");
        assert_eq!(b().ratio(f64::NAN).build().unwrap_err().setting(), "ratio");
        assert_eq!(b().ratio(0.0).min_per_sec(0).build().unwrap_err().setting(), "ratio");
        assert_eq!(b().ttl(Duration::from_millis(10)).build().unwrap_err().setting(), "ttl");
        assert_eq!(b().ttl(Duration::from_secs(61)).build().unwrap_err().setting(), "ttl");
        assert!(b().ratio(0.0).min_per_sec(1).build().is_ok());
    }
}
