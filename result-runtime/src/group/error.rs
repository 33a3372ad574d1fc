//! The errors of configuring and feeding a group.

use std::fmt;

use crate::code::Code;
use crate::error::Classify;

/// [`Group::limit`](super::Group::limit) was given `0`.
///
/// A limit of zero could never run a task: a group that accepted it would wait forever (Go's
/// `errgroup.SetLimit(0)` does exactly that). Converted into a `TaskError` with
/// [`TaskError::classified`](crate::TaskError::classified) it is `INVALID_ARGUMENT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a group limit must be at least 1: `limit(0)` could never run a task")]
pub struct ZeroLimit;

impl Classify for ZeroLimit {
    fn code(&self) -> Code {
        Code::INVALID_ARGUMENT
    }
}

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
