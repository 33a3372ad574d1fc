//! [`ConfigError`]: the one error every builder returns for a setting it refuses.
//!
//! The rule is the same everywhere in the crate: a builder's `build()` validates every setting
//! and returns `Err(ConfigError)` naming the first bad one. Nothing is clamped silently: a
//! zero limit, capacity or TTL is refused, never turned into one. Constructors that take a
//! single literal (`ResultChannel::bounded(0)`, `Pool::new(0, ..)`) panic with the same
//! message instead, as `tokio::sync::mpsc::channel(0)` does, and say so under `# Panics`.

use std::borrow::Cow;
use std::fmt;

/// A builder setting that was refused, and why.
///
/// # Examples
///
/// ```
/// use result_runtime::ConfigError;
///
/// let e = ConfigError::new("limit", "must be at least 1, got 0");
/// assert_eq!(e.setting(), "limit");
/// assert_eq!(e.to_string(), "invalid setting `limit`: must be at least 1, got 0");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    reason: Cow<'static, str>,
}

impl ConfigError {
    /// A refusal of `setting` (the builder method's name) for `reason`.
    pub fn new(setting: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self { setting, reason: reason.into() }
    }

    /// The refusal of a zero where at least one is needed.
    #[must_use]
    pub fn zero(setting: &'static str) -> Self {
        Self::new(setting, "must be greater than zero, got 0")
    }

    /// The name of the refused setting.
    #[must_use]
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// Why it was refused.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting `{}`: {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl crate::Classify for ConfigError {
    fn code(&self) -> crate::Code {
        crate::Code::INVALID_ARGUMENT
    }
}
