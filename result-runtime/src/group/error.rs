//! The error of feeding a group (its settings are refused with
//! [`ConfigError`](crate::ConfigError)).

use std::fmt;

use crate::code::Code;
use crate::error::Classify;

/// [`Group::try_spawn`](super::Group::try_spawn) refused: every slot of the limit is busy.
/// The future is handed back, not lost. Classified as `RATE_LIMITED` (load shed).
pub struct AtLimit<F>(pub F);

impl<F> AtLimit<F> {
    /// The future that was not spawned.
    pub fn into_inner(self) -> F {
        self.0
    }
}

impl<F> fmt::Debug for AtLimit<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AtLimit(..)")
    }
}

impl<F> fmt::Display for AtLimit<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every slot of the group's limit is busy")
    }
}

impl<F> std::error::Error for AtLimit<F> {}

impl<F> Classify for AtLimit<F> {
    fn code(&self) -> Code {
        Code::RATE_LIMITED
    }
}
