//! [`ResultExt`] and [`ClassifiedExt`]: what std's `Result` lacks for classified errors.

use std::borrow::Cow;
use std::error::Error as StdError;

use super::{Classify, Result, TaskError};
use crate::code::Code;
use crate::trace::TraceId;

/// What std's `Result` lacks for classified errors. (To convert an error without changing
/// it, std's `map_err(Into::into)` or `?` already do.) Implemented for every
/// `Result<T, E>` whose error converts into a [`TaskError`] (including `TaskError` itself).
///
/// ```
/// use result_runtime::{Code, ResultExt};
///
/// let r: Result<u8, std::num::ParseIntError> = "x".parse::<u8>();
/// let e = r.with_code(Code::INVALID_ARGUMENT).context("parsing the page size").unwrap_err();
/// assert_eq!(e.code(), Code::INVALID_ARGUMENT);
/// assert_eq!(e.to_string(), "INVALID_ARGUMENT: parsing the page size");
/// ```
pub trait ResultExt<T> {
    /// Gives the error a code, replacing the one it had ([`TaskError::with_code`]).
    ///
    /// # Errors
    /// The original error, converted and re-coded.
    fn with_code(self, code: Code) -> Result<T>;

    /// Adds a message on top of the error, keeping its chain.
    ///
    /// # Errors
    /// The original error, converted, with the message added.
    fn context(self, message: impl Into<Cow<'static, str>>) -> Result<T>;

    /// Adds a lazily built message on top of the error, keeping its chain.
    ///
    /// # Errors
    /// The original error, converted, with the message added.
    fn with_context<M, F>(self, f: F) -> Result<T>
    where
        M: Into<Cow<'static, str>>,
        F: FnOnce() -> M;

    /// Stamps the error with a trace id, replacing any it had.
    ///
    /// # Errors
    /// The original error, converted and stamped.
    fn with_trace_id(self, trace_id: TraceId) -> Result<T>;
}

impl<T, E: Into<TaskError>> ResultExt<T> for Result<T, E> {
    fn with_code(self, code: Code) -> Result<T> {
        self.map_err(|e| e.into().with_code(code))
    }

    fn context(self, message: impl Into<Cow<'static, str>>) -> Result<T> {
        self.map_err(|e| e.into().context(message))
    }

    fn with_context<M, F>(self, f: F) -> Result<T>
    where
        M: Into<Cow<'static, str>>,
        F: FnOnce() -> M,
    {
        self.map_err(|e| e.into().context(f()))
    }

    fn with_trace_id(self, trace_id: TraceId) -> Result<T> {
        self.map_err(|e| e.into().with_trace_id(trace_id))
    }
}

/// Keeps an error's own [`Code`] through conversion (what `?` cannot do).
///
/// ```
/// use result_runtime::{Classify, ClassifiedExt, Code, Result};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("out of stock")]
/// struct OutOfStock;
/// impl Classify for OutOfStock {
///     fn code(&self) -> Code { Code::FAILED_PRECONDITION }
/// }
///
/// fn reserve() -> Result<()> {
///     Err(OutOfStock).classified()?;
///     Ok(())
/// }
/// assert_eq!(reserve().unwrap_err().code(), Code::FAILED_PRECONDITION);
/// ```
pub trait ClassifiedExt<T> {
    /// Converts the error with [`TaskError::classified`].
    ///
    /// # Errors
    /// The original error, converted with its own code.
    fn classified(self) -> Result<T>;
}

impl<T, E> ClassifiedExt<T> for Result<T, E>
where
    E: Classify + StdError + Send + Sync + 'static,
{
    fn classified(self) -> Result<T> {
        self.map_err(TaskError::classified)
    }
}
