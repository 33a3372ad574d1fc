//! What a call's outcome says about the dependency's health: [`Verdict`] and the default policy.
//!
//! A breaker exists to stop calling a dependency that is *unhealthy*, so it counts only the
//! failures that say so. An answer the dependency gave on purpose (this sku does not exist,
//! you may not do this, that order is already paid) proves it is up and deciding: it counts
//! as a success. A call the caller itself gave up on says nothing about the dependency: it
//! counts as neither.
//!
//! | outcome | verdict | why |
//! |---|---|---|
//! | `Ok(_)` | success | |
//! | `Unavailable`, `Storage` (incl. `CIRCUIT_OPEN` from a breaker further down) | failure | unreachable, refusing connections, or its own store is down |
//! | `Timeout` (`DEADLINE_EXCEEDED`) | failure | too slow to answer in time |
//! | `RateLimited` (resource exhausted) | failure | overloaded: backing off is exactly what helps it |
//! | `Internal`, `Panic` | failure | a 500 or an unclassified error (what `?` gives a transport error) |
//! | `Validation`, `NotFound`, `Conflict`, `PermissionDenied`, `Unauthenticated`, `Business`, `Unimplemented` | success | it answered: the request, not the dependency, is the problem |
//! | `Cancelled` (the caller gave up, or dropped the call) | ignored | says nothing about the dependency |
//!
//! So a burst of `NOT_FOUND` never opens a breaker, where a naive one (failsafe-rs, or any
//! breaker that counts every `Err`) would cut off a healthy service. Override the policy with
//! [`CircuitBreakerBuilder::classify`](super::CircuitBreakerBuilder::classify); delegate to
//! [`default_verdict`] for the cases you do not change.

use crate::{Category, Code, ErrorKind, TaskError};

/// How one finished call counts in a breaker's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The dependency answered: counts as a healthy call.
    Success,
    /// The dependency is unhealthy: counts towards the failure rate.
    Failure,
    /// Says nothing about the dependency (a cancellation): not counted at all.
    Ignored,
}

/// The default verdict for an error; see the [module docs](self) for the table and the why.
///
/// # Examples
///
/// ```
/// use result_runtime::breaker::{default_verdict, Verdict};
/// use result_runtime::{Code, TaskError};
///
/// assert_eq!(default_verdict(&TaskError::new(Code::UNAVAILABLE, "down")), Verdict::Failure);
/// assert_eq!(default_verdict(&TaskError::new(Code::NOT_FOUND, "no sku")), Verdict::Success);
/// assert_eq!(default_verdict(&TaskError::cancelled(None)), Verdict::Ignored);
/// ```
#[must_use]
pub fn default_verdict(error: &TaskError) -> Verdict {
    match error.kind() {
        ErrorKind::Cancelled => Verdict::Ignored,
        ErrorKind::Panicked | ErrorKind::DeadlineExceeded => Verdict::Failure,
        ErrorKind::Failed => code_verdict(error.code()),
    }
}

/// The default verdict for a code alone (what the tower layer uses for a response status).
///
/// # Examples
///
/// ```
/// use result_runtime::breaker::{code_verdict, Verdict};
/// use result_runtime::Code;
///
/// assert_eq!(code_verdict(Code::RATE_LIMITED), Verdict::Failure);
/// assert_eq!(code_verdict(Code::FAILED_PRECONDITION), Verdict::Success);
/// ```
#[must_use]
pub const fn code_verdict(code: Code) -> Verdict {
    match code.category() {
        Category::Unavailable
        | Category::Storage
        | Category::Timeout
        | Category::RateLimited
        | Category::Internal
        | Category::Panic => Verdict::Failure,
        Category::Cancelled => Verdict::Ignored,
        _ => Verdict::Success,
    }
}

/// A user's override of the default policy.
pub(crate) type Classifier = std::sync::Arc<dyn Fn(&TaskError) -> Verdict + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_the_documented_verdict() {
        use Verdict::{Failure as F, Ignored as I, Success as S};
        let want = [
            (Category::Validation, S),
            (Category::NotFound, S),
            (Category::Conflict, S),
            (Category::Unauthenticated, S),
            (Category::PermissionDenied, S),
            (Category::RateLimited, F),
            (Category::Unavailable, F),
            (Category::Storage, F),
            (Category::Business, S),
            (Category::Timeout, F),
            (Category::Cancelled, I),
            (Category::Panic, F),
            (Category::Unimplemented, S),
            (Category::Internal, F),
        ];
        assert_eq!(want.len(), Category::table().len());
        for (category, verdict) in want {
            assert_eq!(code_verdict(Code::new("X", category)), verdict, "{category:?}");
        }
        assert_eq!(code_verdict(Code::CIRCUIT_OPEN), F);
        assert_eq!(default_verdict(&TaskError::deadline_exceeded()), F);
        let cancelled = TaskError::cancelled(Some(TaskError::new(Code::UNAVAILABLE, "x")));
        assert_eq!(default_verdict(&cancelled), I);
    }
}
