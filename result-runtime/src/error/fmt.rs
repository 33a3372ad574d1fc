//! Formatting, and the one `std::error::Error` view.
//!
//! `{}` is one line, `CODE: message`; `{:#}` and `{:?}` add the older context, the source
//! chain, the task, the trace id, the panic location and the cause. [`Inner`] carries the
//! whole implementation, so the `TaskError`, its borrowed std view ([`TaskError::as_std`])
//! and its boxed std view (`Box<dyn Error>::from`) always print the same thing, as anyhow's
//! one `ErrorImpl` does.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use super::repr::Inner;
use super::TaskError;

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message())?;
        if f.alternate() {
            self.write_details(f)?;
        }
        Ok(())
    }
}

impl Inner {
    fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        std::iter::successors(self.source(), |&e| e.source())
    }

    fn write_details(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The newest context is already on the first line; the rest follow, newest first.
        let mut older: Vec<Cow<'_, str>> =
            self.context().iter().rev().skip(1).map(|c| Cow::Borrowed(&**c)).collect();
        if !self.context().is_empty() {
            older.push(self.base_message());
        }
        for m in older {
            write!(f, ": {m}")?;
        }
        let mut chain = self.chain().peekable();
        // Skip the source's own text when it was the message shown above.
        if self.message.is_none() && self.panic().is_none() {
            chain.next();
        }
        for e in chain {
            write!(f, ": {e}")?;
        }
        if let Some(task) = self.task() {
            write!(f, " [task {task}]")?;
        }
        if let Some(id) = self.trace_id() {
            write!(f, " [trace {id}]")?;
        }
        if let Some(p) = self.panic() {
            if let Some(loc) = p.location() {
                write!(f, " [panicked at {loc}]")?;
            }
        }
        if let Some(cause) = self.cause() {
            write!(f, " [caused by {cause:#}]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TaskError");
        d.field("kind", &super::kind_of(self.code, self.panic().is_some()))
            .field("code", &self.code)
            .field("message", &self.message());
        if !self.context().is_empty() {
            d.field("context", &self.context());
        }
        if let Some(task) = self.task() {
            d.field("task", &task);
        }
        if let Some(id) = self.trace_id() {
            d.field("trace_id", &format_args!("{id}"));
        }
        if let Some(p) = self.panic() {
            d.field("panic", p);
        }
        if let Some(c) = self.cause() {
            d.field("cause", c);
        }
        if let Some(r) = self.extra.as_ref().and_then(|x| x.retry_after) {
            d.field("retry_after", &r);
        }
        let chain: Vec<String> = self.chain().map(ToString::to_string).collect();
        if !chain.is_empty() {
            d.field("source", &chain);
        }
        d.finish()
    }
}

impl StdError for Inner {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Inner::source(self)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<TaskError> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: TaskError) -> Self {
        Box::new(error.into_inner())
    }
}

impl From<TaskError> for Box<dyn StdError + 'static> {
    fn from(error: TaskError) -> Self {
        Box::new(error.into_inner())
    }
}

impl AsRef<dyn StdError + Send + Sync + 'static> for TaskError {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.as_std()
    }
}

impl TaskError {
    /// The error as a `std::error::Error`, for the grpc layer to carry inside a
    /// `tonic::Status` and find again ([`Inner::parent`]).
    #[cfg(feature = "grpc")]
    pub(crate) fn carried(&self) -> std::sync::Arc<dyn StdError + Send + Sync + 'static> {
        std::sync::Arc::new(self.detached_keeping_parent())
    }

    /// The error carried by [`TaskError::carried`], if `error` is one.
    #[cfg(feature = "grpc")]
    pub(crate) fn find_carried<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Self> {
        error.downcast_ref::<Inner>()?.parent()
    }
}
