//! [`Classify`]: how an error type gives its [`Code`], and the classification of `io::Error`
//! by its kind.

use std::io;

use crate::code::Code;

/// Gives an error type its [`Code`].
///
/// Implement it in one line to take the default (`INTERNAL`), or per variant:
///
/// ```
/// use result_runtime::{Classify, Code};
///
/// #[derive(Debug, thiserror::Error)]
/// enum UserError {
///     #[error("user {0} not found")]
///     Missing(u64),
///     #[error("database: {0}")]
///     Db(String),
/// }
///
/// impl Classify for UserError {
///     fn code(&self) -> Code {
///         match self {
///             Self::Missing(_) => Code::NOT_FOUND,
///             Self::Db(_) => Code::STORAGE,
///         }
///     }
/// }
///
/// let e = result_runtime::TaskError::classified(UserError::Missing(7));
/// assert_eq!(e.code(), Code::NOT_FOUND);
/// ```
///
/// `?` into a `TaskError` cannot see this trait (Rust has no specialisation), so a plain `?`
/// gives `INTERNAL`. Keep the code by converting with [`TaskError::classified`](crate::TaskError::classified) or
/// [`ClassifiedExt::classified`](crate::ClassifiedExt::classified), or let `#[fallible_task]` do it: a function annotated with it
/// that returns `Result<T, YourError>` keeps the classification.
pub trait Classify {
    /// The code of this error.
    fn code(&self) -> Code {
        Code::INTERNAL
    }
}

impl Classify for io::Error {
    fn code(&self) -> Code {
        use io::ErrorKind as K;
        match self.kind() {
            K::NotFound => Code::NOT_FOUND,
            K::PermissionDenied => Code::PERMISSION_DENIED,
            K::AlreadyExists => Code::ALREADY_EXISTS,
            K::InvalidInput | K::InvalidData => Code::INVALID_ARGUMENT,
            K::TimedOut => Code::DEADLINE_EXCEEDED,
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::AddrNotAvailable
            | K::Interrupted
            | K::WouldBlock
            | K::UnexpectedEof => Code::UNAVAILABLE,
            K::Unsupported => Code::UNIMPLEMENTED,
            _ => Code::INTERNAL,
        }
    }
}
