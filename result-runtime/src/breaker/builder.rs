//! [`CircuitBreakerBuilder`]: every setting of a breaker, validated in `build()`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::classify::{Classifier, Verdict};
use super::state::Core;
use super::window::Window;
use super::CircuitBreaker;
use crate::{ConfigError, TaskError};

/// Settings of a [`CircuitBreaker`]; start from [`CircuitBreaker::builder`].
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`failure_rate`](Self::failure_rate) | 0.5 | open when at least this share of the window's calls failed |
/// | [`slow_call`](Self::slow_call) | off | a call that takes at least this long counts as slow |
/// | [`slow_call_rate`](Self::slow_call_rate) | 1.0 | open when at least this share of the window's calls were slow (needs `slow_call`) |
/// | [`min_calls`](Self::min_calls) | 20 | judge only a window holding at least this many calls |
/// | [`window`](Self::window) | last 100 calls | which calls the rates are computed over |
/// | [`open_for`](Self::open_for) | 5 s | the first wait before probing |
/// | [`max_open_for`](Self::max_open_for) | 12 × `open_for` | the cap of the doubling wait while probes keep failing |
/// | [`jitter`](Self::jitter) | 0.1 | each wait is drawn from `[w·(1−j), w]` |
/// | [`half_open_calls`](Self::half_open_calls) | 3 | probes admitted at once in half-open; that many successes close it |
/// | [`classify`](Self::classify) | [`default_verdict`](super::default_verdict) | what counts as a failure |
/// | [`name`](Self::name) | none | for logs, metrics and the rejection's message |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use result_runtime::breaker::{CircuitBreaker, Window};
///
/// let breaker = CircuitBreaker::builder()
///     .name("inventory")
///     .failure_rate(0.5)
///     .slow_call(Duration::from_millis(500))
///     .slow_call_rate(0.8)
///     .min_calls(20)
///     .window(Window::Count(100))
///     .open_for(Duration::from_secs(5))
///     .max_open_for(Duration::from_secs(60))
///     .half_open_calls(3)
///     .build()?;
/// assert_eq!(breaker.name(), Some("inventory"));
/// # Ok::<(), result_runtime::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct CircuitBreakerBuilder {
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) failure_rate: f64,
    pub(crate) slow_call_rate: f64,
    pub(crate) slow_call: Option<Duration>,
    pub(crate) min_calls: u32,
    pub(crate) window: Window,
    pub(crate) open_for: Duration,
    pub(crate) max_open_for: Option<Duration>,
    pub(crate) jitter: f64,
    pub(crate) half_open_calls: u32,
    pub(crate) classifier: Option<Classifier>,
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        Self {
            name: None,
            failure_rate: 0.5,
            slow_call_rate: 1.0,
            slow_call: None,
            min_calls: 20,
            window: Window::default(),
            open_for: Duration::from_secs(5),
            max_open_for: None,
            jitter: 0.1,
            half_open_calls: 3,
            classifier: None,
        }
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("failure_rate", &self.failure_rate)
            .field("slow_call_rate", &self.slow_call_rate)
            .field("slow_call", &self.slow_call)
            .field("min_calls", &self.min_calls)
            .field("window", &self.window)
            .field("open_for", &self.open_for)
            .field("max_open_for", &self.max_open_for)
            .field("jitter", &self.jitter)
            .field("half_open_calls", &self.half_open_calls)
            .field("classify", &self.classifier.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl CircuitBreakerBuilder {
    /// Names the breaker: the name appears in its state-change logs, as the `breaker` label of
    /// its metrics (unnamed breakers record none), and in the rejection's message.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Opens when `failures / calls >= rate` over the window. In `(0, 1]`.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = rate;
        self
    }

    /// Opens when `slow calls / calls >= rate` over the window. In `(0, 1]`; only with
    /// [`slow_call`](Self::slow_call) set.
    pub fn slow_call_rate(mut self, rate: f64) -> Self {
        self.slow_call_rate = rate;
        self
    }

    /// A call that takes at least `duration` counts as slow, whatever its verdict (a slow
    /// success says the dependency is struggling). Turns on timing: two clock reads per call.
    pub fn slow_call(mut self, duration: Duration) -> Self {
        self.slow_call = Some(duration);
        self
    }

    /// The window must hold at least `n` calls before the rates are judged, so that the
    /// first failure after a restart does not open it. At least 1, at most a count window's
    /// size.
    pub fn min_calls(mut self, n: u32) -> Self {
        self.min_calls = n;
        self
    }

    /// Which calls the rates are computed over; see [`Window`].
    pub fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// The wait after the breaker opens before it admits probes. Doubles each time the probes
    /// fail, up to [`max_open_for`](Self::max_open_for); back to this once it closes.
    pub fn open_for(mut self, wait: Duration) -> Self {
        self.open_for = wait;
        self
    }

    /// The longest open wait. At least `open_for`.
    pub fn max_open_for(mut self, wait: Duration) -> Self {
        self.max_open_for = Some(wait);
        self
    }

    /// Shortens each wait by a random share of up to `fraction` (in `[0, 1)`), so that
    /// replicas whose breakers opened together do not probe together. `0.0` for exact waits.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// How many probe calls half-open admits at once (`k`, 1 to 65 535); calls beyond them
    /// are refused at once. `k` successful probes close the breaker; one failed probe opens it
    /// again with a longer wait; a cancelled probe frees its place for another.
    pub fn half_open_calls(mut self, k: u32) -> Self {
        self.half_open_calls = k;
        self
    }

    /// Replaces the [default policy](super::default_verdict) for errors (`Ok` is always a
    /// success). Delegate to `default_verdict` for what you do not change.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::breaker::{default_verdict, CircuitBreaker, Verdict};
    /// use result_runtime::Code;
    ///
    /// // This dependency answers NOT_FOUND when its index is not loaded yet: unhealthy.
    /// let b = CircuitBreaker::builder()
    ///     .classify(|e| if e.code() == Code::NOT_FOUND { Verdict::Failure } else { default_verdict(e) })
    ///     .build()
    ///     .unwrap();
    /// # drop(b);
    /// ```
    pub fn classify(mut self, f: impl Fn(&TaskError) -> Verdict + Send + Sync + 'static) -> Self {
        self.classifier = Some(Arc::new(f));
        self
    }

    /// Validates the settings and builds the breaker, closed.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first refused setting: a rate outside `(0, 1]`, a zero
    /// `min_calls`, `window`, `open_for`, `slow_call` or `half_open_calls`, a `min_calls` larger
    /// than a count window, a `max_open_for` shorter than `open_for`, a jitter outside `[0, 1)`.
    /// Nothing is clamped.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.validate()?;
        Ok(CircuitBreaker(Arc::new(Core::new(self))))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn rate(setting: &'static str, r: f64) -> Result<(), ConfigError> {
            if r > 0.0 && r <= 1.0 {
                Ok(())
            } else {
                Err(ConfigError::new(setting, format!("must be in (0, 1], got {r}")))
            }
        }
        if self.name.as_deref() == Some("") {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        rate("failure_rate", self.failure_rate)?;
        rate("slow_call_rate", self.slow_call_rate)?;
        if self.slow_call == Some(Duration::ZERO) {
            return Err(ConfigError::zero("slow_call"));
        }
        if self.min_calls == 0 {
            return Err(ConfigError::zero("min_calls"));
        }
        match self.window {
            Window::Count(0) => return Err(ConfigError::zero("window")),
            Window::Count(n) if self.min_calls > n => {
                return Err(ConfigError::new(
                    "min_calls",
                    format!(
                        "must not exceed the window's {n} calls (got {}): it would never judge",
                        self.min_calls
                    ),
                ))
            }
            Window::Time { buckets: 0, .. } => {
                return Err(ConfigError::new("window", "a time window needs at least 1 bucket"))
            }
            Window::Time { span, buckets } if (span / buckets).is_zero() => {
                return Err(ConfigError::new(
                    "window",
                    format!("span {span:?} is too short for {buckets} buckets"),
                ))
            }
            _ => {}
        }
        if self.open_for.is_zero() {
            return Err(ConfigError::zero("open_for"));
        }
        if self.max_open_for.is_some_and(|m| m < self.open_for) {
            return Err(ConfigError::new(
                "max_open_for",
                format!(
                    "must be at least open_for ({:?}), got {:?}",
                    self.open_for,
                    self.max_open_for.unwrap_or_default()
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ConfigError::new(
                "jitter",
                format!("must be in [0, 1), got {}", self.jitter),
            ));
        }
        if self.half_open_calls == 0 {
            return Err(ConfigError::zero("half_open_calls"));
        }
        if self.half_open_calls > super::state::MAX_PROBES {
            return Err(ConfigError::new(
                "half_open_calls",
                format!(
                    "must be at most {}, got {}",
                    super::state::MAX_PROBES,
                    self.half_open_calls
                ),
            ));
        }
        Ok(())
    }

    /// The cap of the open wait, resolved.
    pub(crate) fn resolved_max_open_for(&self) -> Duration {
        self.max_open_for.unwrap_or_else(|| self.open_for.saturating_mul(12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_setting_is_refused_by_name() {
        let b = CircuitBreaker::builder;
        let refused = |r: Result<CircuitBreaker, ConfigError>| r.err().map(|e| e.setting());
        assert_eq!(refused(b().failure_rate(0.0).build()), Some("failure_rate"));
        assert_eq!(refused(b().failure_rate(1.5).build()), Some("failure_rate"));
        assert_eq!(refused(b().failure_rate(f64::NAN).build()), Some("failure_rate"));
        assert_eq!(refused(b().slow_call_rate(0.0).build()), Some("slow_call_rate"));
        assert_eq!(refused(b().slow_call(Duration::ZERO).build()), Some("slow_call"));
        assert_eq!(refused(b().min_calls(0).build()), Some("min_calls"));
        assert_eq!(refused(b().window(Window::Count(0)).build()), Some("window"));
        assert_eq!(refused(b().window(Window::Count(10)).build()), Some("min_calls"));
        let t = |span, buckets| Window::Time { span, buckets };
        assert_eq!(refused(b().window(t(Duration::from_secs(1), 0)).build()), Some("window"));
        assert_eq!(refused(b().window(t(Duration::from_nanos(5), 10)).build()), Some("window"));
        assert_eq!(refused(b().open_for(Duration::ZERO).build()), Some("open_for"));
        let short = b().open_for(Duration::from_secs(5)).max_open_for(Duration::from_secs(1));
        assert_eq!(refused(short.build()), Some("max_open_for"));
        assert_eq!(refused(b().jitter(1.0).build()), Some("jitter"));
        assert_eq!(refused(b().jitter(-0.1).build()), Some("jitter"));
        assert_eq!(refused(b().half_open_calls(0).build()), Some("half_open_calls"));
        assert_eq!(refused(b().half_open_calls(70_000).build()), Some("half_open_calls"));
        assert_eq!(refused(b().name("").build()), Some("name"));
        assert!(b().window(Window::Count(10)).min_calls(10).build().is_ok());
        assert_eq!(
            b().build().err(),
            None,
            "the defaults are valid: {:?}",
            CircuitBreakerBuilder::default()
        );
    }
}
