//! The channel's errors. Every send error gives the item back.

use std::fmt;

use crate::error::{Result, TaskError};

/// A send to a closed channel. Carries the item back, and, when a fail-fast channel was
/// closed by an error, that error as [`cause`](Self::cause).
pub struct SendError<T> {
    pub(super) item: Result<T>,
    pub(super) cause: Option<TaskError>,
}

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_item(self) -> Result<T> {
        self.item
    }

    /// The item that was not sent.
    pub fn item(&self) -> &Result<T> {
        &self.item
    }

    /// The first error of a fail-fast channel, when that is what closed it.
    pub fn cause(&self) -> Option<&TaskError> {
        self.cause.as_ref()
    }

    /// The item and the cause.
    pub fn into_parts(self) -> (Result<T>, Option<TaskError>) {
        (self.item, self.cause)
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The item is not printed: `T` need not be `Debug`, and it may be large.
        f.debug_struct("SendError").field("cause", &self.cause).finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "result channel closed by an earlier error: {cause}"),
            None => f.write_str("result channel closed"),
        }
    }
}

/// The source is the fail-fast cause, with its own chain (the error it was built from).
impl<T> std::error::Error for SendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|c| c.as_std() as _)
    }
}

/// Why [`try_send`](super::ResultSender::try_send) did not send; both variants give the
/// item back.
pub enum TrySendError<T> {
    /// The channel is full; the item is returned.
    Full(Result<T>),
    /// The channel is closed; the item (and a fail-fast cause) is returned.
    Closed(SendError<T>),
}

impl<T> TrySendError<T> {
    /// The item that was not sent.
    pub fn into_item(self) -> Result<T> {
        match self {
            Self::Full(item) => item,
            Self::Closed(e) => e.item,
        }
    }

    /// Whether the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the channel was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(e) => f.debug_tuple("Closed").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("result channel full"),
            Self::Closed(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// `Closed` has the [`SendError`]'s source (the fail-fast cause); `Full` has none.
impl<T> std::error::Error for TrySendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Full(_) => None,
            Self::Closed(e) => std::error::Error::source(e),
        }
    }
}

/// Why [`send_timeout`](super::ResultSender::send_timeout) did not send; both variants give
/// the item back.
pub enum SendTimeoutError<T> {
    /// No room came within the timeout; the item is returned.
    Timeout(Result<T>),
    /// The channel is closed; the item (and a fail-fast cause) is returned.
    Closed(SendError<T>),
}

impl<T> SendTimeoutError<T> {
    /// The item that was not sent.
    pub fn into_item(self) -> Result<T> {
        match self {
            Self::Timeout(item) => item,
            Self::Closed(e) => e.item,
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Closed(e) => f.debug_tuple("Closed").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("timed out waiting for room in the result channel"),
            Self::Closed(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// `Closed` has the [`SendError`]'s source (the fail-fast cause); `Timeout` has none.
impl<T> std::error::Error for SendTimeoutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Timeout(_) => None,
            Self::Closed(e) => std::error::Error::source(e),
        }
    }
}

/// Why [`try_recv`](super::ResultReceiver::try_recv) returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing to receive right now.
    #[error("result channel empty")]
    Empty,
    /// Closed and drained: nothing will ever arrive.
    #[error("result channel closed")]
    Closed,
}

/// Why [`recv_timeout`](super::ResultReceiver::recv_timeout) returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// Nothing arrived within the timeout.
    #[error("timed out waiting for a result")]
    Timeout,
    /// Closed and drained: nothing will ever arrive.
    #[error("result channel closed")]
    Closed,
}
