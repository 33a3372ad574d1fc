//! [`PanicReport`]: what a captured panic said and where. It belongs to the error (an error
//! of kind `Panicked` carries one); the capture itself lives in [`crate::panic`], which
//! depends on this module and never the other way round.

use std::backtrace::Backtrace;
use std::fmt;
use std::sync::Arc;

/// What a captured panic said and where it happened.
#[derive(Clone)]
pub struct PanicReport {
    message: String,
    location: Option<String>,
    backtrace: Option<Arc<Backtrace>>,
}

impl PanicReport {
    /// A report from its parts (the panic capture builds these; tests and adapters may too).
    #[must_use]
    pub fn new(message: String, location: Option<String>) -> Self {
        Self { message, location, backtrace: None }
    }

    /// A report with a captured backtrace (what the panic hook builds).
    #[must_use]
    pub fn with_backtrace(mut self, backtrace: Backtrace) -> Self {
        self.backtrace = Some(Arc::new(backtrace));
        self
    }

    /// The payload as text: the `String` or `&str` it carried, otherwise
    /// `"non-string panic payload"`.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `file:line:column` of the panic, when the hook saw it.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The backtrace, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) enabled one.
    #[must_use]
    pub fn backtrace(&self) -> Option<&Backtrace> {
        self.backtrace.as_deref()
    }
}

impl fmt::Debug for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicReport")
            .field("message", &self.message)
            .field("location", &self.location)
            .field("backtrace", &self.backtrace.is_some())
            .finish()
    }
}
