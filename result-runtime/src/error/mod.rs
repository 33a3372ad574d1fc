//! [`TaskError`]: the one error type of the runtime, and the [`Result`] alias over it.
//!
//! A `TaskError` is one pointer wide and cheap to clone (a reference count), so many waiters
//! can share one failure. It knows *how* the work ended ([`ErrorKind`]), *what* failed
//! ([`Code`]: stable name, category, retryability, severity), which task produced it and in
//! which trace, and it keeps the original error chain.
//!
//! ```
//! use result_runtime::{Code, ErrorKind, Result, ResultExt, TaskError};
//!
//! fn read_config() -> Result<String> {
//!     // `?` converts any std error; io errors are classified by their kind.
//!     let text = std::fs::read_to_string("/definitely/not/here.toml").context("reading config")?;
//!     Ok(text)
//! }
//!
//! let err = read_config().unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Failed);
//! assert_eq!(err.code(), Code::NOT_FOUND);
//! assert_eq!(err.to_string(), "NOT_FOUND: reading config");
//! assert!(err.source().is_some()); // the io::Error is still there
//!
//! let e = TaskError::new(Code::UNAVAILABLE, "inventory down");
//! assert!(e.is_retryable());
//! ```

mod classify;
mod ext;
mod fmt;
mod panic;
mod repr;

use std::borrow::Cow;
use std::error::Error as StdError;
use std::io;
use std::time::Duration;
use triomphe::Arc;

pub use classify::Classify;
pub use ext::{ClassifiedExt, ResultExt};
pub use panic::PanicReport;
pub(crate) use repr::Inner;
use repr::Source;

use crate::code::{Category, Code};
use crate::trace::TraceId;

/// `std::result::Result` with [`TaskError`] as the default error.
///
/// No new container: `map`, `and_then`, `?` and `futures::TryFutureExt` all apply.
pub type Result<T, E = TaskError> = std::result::Result<T, E>;

/// How a piece of work ended, beyond "it failed".
///
/// The kind is never stored beside the code: it is read off the code's [`Category`] (and
/// the panic report), so the two cannot disagree wherever the error was built, in this
/// process or from a remote status. A `CANCELLED` that arrived over gRPC is a cancellation
/// here too: it never wins a group's first-failure slot and is never negatively cached.
///
/// | category | kind |
/// | --- | --- |
/// | `Cancelled` | `Cancelled` |
/// | `Timeout` | `DeadlineExceeded` |
/// | `Panic`, or any error with a [`PanicReport`] | `Panicked` |
/// | every other | `Failed` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The work returned an error.
    Failed,
    /// The work panicked; [`TaskError::panic`] has the message and location.
    Panicked,
    /// The work was cancelled before it finished; [`TaskError::cause`] says why.
    Cancelled,
    /// The work's deadline passed before it finished.
    DeadlineExceeded,
}

impl ErrorKind {
    /// The kind every error of `category` has (unless it carries a panic report).
    #[must_use]
    pub const fn of(category: Category) -> Self {
        match category {
            Category::Cancelled => Self::Cancelled,
            Category::Timeout => Self::DeadlineExceeded,
            Category::Panic => Self::Panicked,
            _ => Self::Failed,
        }
    }
}

#[inline]
fn kind_of(code: Code, panicked: bool) -> ErrorKind {
    if panicked {
        ErrorKind::Panicked
    } else {
        ErrorKind::of(code.category())
    }
}

/// The runtime's error: classified, traceable, one pointer wide, cheap to clone.
///
/// `TaskError` does not implement `std::error::Error` itself (like `anyhow::Error`, that is
/// what lets `?` convert every std error into it). Where a std error is needed, use
/// [`TaskError::as_std`] (borrowed) or `Box<dyn Error>::from` (owned): both are the same
/// one view, formatting and chaining exactly as the `TaskError` does.
///
/// Formatting: `{}` is one line, `CODE: message`. `{:#}` and `{:?}` add the context, the
/// source chain, the task name, the trace id and, for panics, the location.
///
/// # Setters
///
/// `with_*` always overwrites (`with_code`, `with_trace_id`, `with_retry_after`); `or_*`
/// sets only what is not set yet (`or_trace_id`, `or_task`: the innermost task and the trace
/// where an error happened win over those it passes through).
#[derive(Clone)]
pub struct TaskError(Arc<Inner>);

impl TaskError {
    /// A failure with a code and a message written for clients.
    ///
    /// The kind follows the code ([`ErrorKind::of`]): `TaskError::new(Code::CANCELLED, ..)`
    /// is a cancellation. The message is shown to remote clients when the code's category is
    /// public ([`CategoryRow::public`](crate::CategoryRow::public)); for internal categories
    /// (`Internal`, `Panic`, `Storage`, `Unimplemented`) clients see the code's safe message.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::{Code, ErrorKind, TaskError};
    ///
    /// let e = TaskError::new(Code::NOT_FOUND, "no user 7");
    /// assert_eq!(e.kind(), ErrorKind::Failed);
    /// assert_eq!(e.client_message(), "no user 7");
    /// assert!(TaskError::new(Code::CANCELLED, "caller left").is_cancelled());
    /// ```
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self::build(code, Some(message.into()), code.category().row().public, Source::None)
    }

    /// Converts any std error, keeping it as the source; `io::Error`s are classified by kind,
    /// everything else is `INTERNAL`. This is what `?` calls.
    pub fn from_error<E>(error: E) -> Self
    where
        E: StdError + Send + Sync + 'static,
    {
        // A runtime type check instead of specialisation: the branch is resolved at compile
        // time for each `E`, and `io::Error` avoids a second allocation.
        let mut slot = Some(error);
        let any: &mut dyn std::any::Any = &mut slot;
        if let Some(io) = any.downcast_mut::<Option<io::Error>>().and_then(Option::take) {
            let code = io.code();
            return Self::build(code, None, false, Source::Io(io));
        }
        let Some(error) = slot else { unreachable!("taken only for io::Error") };
        Self::build(Code::INTERNAL, None, false, Source::Boxed(Box::new(error)))
    }

    /// Converts an error that knows its [`Code`].
    pub fn classified<E>(error: E) -> Self
    where
        E: Classify + StdError + Send + Sync + 'static,
    {
        let code = error.code();
        Self::from_error(error).with_code(code)
    }

    /// A panic, from the report the panic capture made.
    #[must_use]
    pub fn panicked(report: PanicReport) -> Self {
        let mut e = Self::build(Code::PANICKED, None, false, Source::None);
        e.inner_mut().extra_mut().panic = Some(report);
        e
    }

    /// Work that was cancelled, with the error that caused the cancellation if there was one.
    #[must_use]
    pub fn cancelled(cause: Option<Self>) -> Self {
        let mut e =
            Self::build(Code::CANCELLED, Some(Cow::Borrowed("cancelled")), true, Source::None);
        if let Some(cause) = cause {
            let inner = e.inner_mut();
            inner.set_trace_id(cause.trace_id());
            inner.extra_mut().cause = Some(cause);
        }
        e
    }

    /// Work whose deadline passed.
    #[must_use]
    pub fn deadline_exceeded() -> Self {
        Self::build(
            Code::DEADLINE_EXCEEDED,
            Some(Cow::Borrowed("deadline exceeded")),
            true,
            Source::None,
        )
    }

    /// How the work ended, read off the code's category ([`ErrorKind::of`]) and the panic
    /// report.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        kind_of(self.0.code, self.0.extra.as_ref().is_some_and(|x| x.panic.is_some()))
    }

    /// The classification.
    #[must_use]
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// Whether retrying may succeed: the code is retryable and the work neither panicked nor
    /// was cancelled.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Failed | ErrorKind::DeadlineExceeded)
            && self.0.code.retryable()
    }

    /// Whether this error is a cancellation (which never wins over the failure that caused it).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// The name of the task that produced the error, if known.
    #[must_use]
    pub fn task(&self) -> Option<&str> {
        self.0.task()
    }

    /// The trace the error happened in, if known.
    #[must_use]
    pub fn trace_id(&self) -> Option<TraceId> {
        self.0.trace_id()
    }

    /// For a panic: its message, location and backtrace.
    #[must_use]
    pub fn panic(&self) -> Option<&PanicReport> {
        self.0.panic()
    }

    /// For a cancellation: the error that caused it.
    #[must_use]
    pub fn cause(&self) -> Option<&Self> {
        self.0.cause()
    }

    /// How long a caller should wait before trying again, if the failing side said
    /// ([`TaskError::with_retry_after`]).
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.extra.as_ref().and_then(|x| x.retry_after)
    }

    /// The newest message: the last context added, else the message, else the source's.
    #[must_use]
    pub fn message(&self) -> Cow<'_, str> {
        self.0.message()
    }

    /// What a remote client may see: the message when it was written for clients, otherwise
    /// the code's safe message. Never a panic payload or a converted error's text.
    #[must_use]
    pub fn client_message(&self) -> &str {
        if self.0.public {
            if let Some(m) = &self.0.message {
                return m;
            }
        }
        self.0.code.safe_message()
    }

    /// The original error, whose `source()` continues the chain.
    #[must_use]
    pub fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }

    /// The source chain, starting at the original error.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        std::iter::successors(self.source(), |&e| e.source())
    }

    /// Finds an error of type `E` in the source chain.
    #[must_use]
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.chain().find_map(|e| e.downcast_ref::<E>())
    }

    /// The same error with another code (and so, perhaps, another [`kind`](Self::kind)).
    /// A message stays public only while the new code's category is public.
    #[must_use]
    pub fn with_code(mut self, code: Code) -> Self {
        if self.0.code != code {
            let inner = self.inner_mut();
            inner.code = code;
            if !code.category().row().public {
                inner.public = false;
            }
        }
        self
    }

    /// The same error stamped with a trace id, replacing any it had.
    #[must_use]
    pub fn with_trace_id(mut self, trace_id: TraceId) -> Self {
        if self.0.trace_id() != Some(trace_id) {
            self.inner_mut().set_trace_id(Some(trace_id));
        }
        self
    }

    /// The same error with a retry delay, replacing any it had: how long a caller should wait
    /// before trying again (a circuit breaker's remaining open time, a server's `RetryInfo`).
    /// Retries honour it.
    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.inner_mut().extra_mut().retry_after = Some(delay);
        self
    }

    /// The same error stamped with a trace id unless it already has one (the trace where an
    /// error happened wins over the traces it passes through).
    #[must_use]
    pub fn or_trace_id(self, trace_id: Option<TraceId>) -> Self {
        match trace_id {
            Some(id) if self.0.trace_id().is_none() => self.with_trace_id(id),
            _ => self,
        }
    }

    /// The same error with the name of the task that produced it, unless it has one already
    /// (the innermost task is the one that failed).
    #[must_use]
    pub fn or_task(mut self, task: impl Into<Cow<'static, str>>) -> Self {
        if self.0.task().is_none() {
            match task.into() {
                Cow::Borrowed(name) => self.inner_mut().task = Some(name),
                Cow::Owned(name) => self.inner_mut().extra_mut().task = Some(name.into()),
            }
        }
        self
    }

    /// The same error with a message on top; the older messages and the source chain stay.
    /// Context is internal detail: it is logged, never shown to remote clients.
    #[must_use]
    pub fn context(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.inner_mut().extra_mut().context.push(message.into());
        self
    }

    /// The `std::error::Error` view of this error, for APIs that need one. It formats and
    /// chains exactly like the `TaskError` (`{}` is `CODE: message`, `source()` is the
    /// original error).
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::{Code, TaskError};
    ///
    /// let e = TaskError::new(Code::UNAVAILABLE, "inventory down");
    /// assert_eq!(e.as_std().to_string(), "UNAVAILABLE: inventory down");
    /// let boxed: Box<dyn std::error::Error> = e.clone().into();
    /// assert_eq!(boxed.to_string(), e.as_std().to_string());
    /// ```
    #[must_use]
    pub fn as_std(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E> From<E> for TaskError
where
    E: StdError + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self::from_error(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    #[test]
    fn is_one_pointer_and_shareable() {
        assert_eq!(std::mem::size_of::<TaskError>(), std::mem::size_of::<usize>());
        assert!(std::mem::size_of::<Result<u64>>() <= 16);
        fn assert_bounds<T: Clone + Send + Sync + 'static>() {}
        assert_bounds::<TaskError>();
    }

    #[test]
    fn clone_is_a_pointer_copy() {
        let a = TaskError::new(Code::UNAVAILABLE, "down");
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
    }

    #[test]
    fn question_mark_converts_and_keeps_the_chain() {
        fn f() -> Result<()> {
            Err(Outer(io::Error::new(io::ErrorKind::ConnectionRefused, "refused")))?;
            Ok(())
        }
        let e = f().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Failed);
        assert_eq!(e.code(), Code::INTERNAL);
        let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
        assert_eq!(chain, ["outer", "refused"]);
        assert!(e.downcast_ref::<io::Error>().is_some());
        assert_eq!(e.to_string(), "INTERNAL: outer");
        assert_eq!(e.client_message(), "internal error");
    }

    #[test]
    fn io_errors_are_classified_inline() {
        let e = TaskError::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(e.code(), Code::UNAVAILABLE);
        assert!(e.is_retryable());
        assert!(e.source().unwrap().downcast_ref::<io::Error>().is_some());
    }

    #[test]
    fn context_adds_messages_and_keeps_the_source() {
        let e = TaskError::from(io::Error::new(io::ErrorKind::NotFound, "no such file"))
            .context("reading config")
            .context("starting up");
        assert_eq!(e.to_string(), "NOT_FOUND: starting up");
        assert_eq!(format!("{e:#}"), "NOT_FOUND: starting up: reading config: no such file");
        assert_eq!(e.source().unwrap().to_string(), "no such file");
        assert_eq!(e.client_message(), "not found");
    }

    #[test]
    fn alternate_display_and_debug_carry_task_trace_and_panic_location() {
        let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
        let e = TaskError::panicked(PanicReport::new("boom".into(), Some("src/x.rs:1:2".into())))
            .or_task("load_user")
            .with_trace_id(id);
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert_eq!(e.to_string(), "PANICKED: panicked: boom");
        let alt = format!("{e:#}");
        assert!(alt.contains("[task load_user]"), "{alt}");
        assert!(alt.contains("[trace 4bf92f3577b34da6a3ce929d0e0e4736]"), "{alt}");
        assert!(alt.contains("[panicked at src/x.rs:1:2]"), "{alt}");
        let dbg = format!("{e:?}");
        assert!(dbg.contains("load_user") && dbg.contains("src/x.rs:1:2"), "{dbg}");
        // Clients never see the payload.
        assert_eq!(e.client_message(), "internal error");
    }

    #[test]
    fn public_messages_reach_clients_only_for_client_categories() {
        assert_eq!(TaskError::new(Code::NOT_FOUND, "user 7").client_message(), "user 7");
        assert_eq!(
            TaskError::new(Code::INTERNAL, "db password wrong").client_message(),
            "internal error"
        );
        assert_eq!(
            TaskError::new(Code::NOT_FOUND, "user 7").with_code(Code::INTERNAL).client_message(),
            "internal error"
        );
    }

    #[test]
    fn builders_copy_on_write_and_leave_shared_clones_alone() {
        let a = TaskError::from(io::Error::other("disk"));
        let b = a.clone().with_code(Code::STORAGE).or_task("t");
        assert_eq!(a.code(), Code::INTERNAL);
        assert_eq!(a.task(), None);
        assert_eq!(b.code(), Code::STORAGE);
        assert_eq!(b.source().unwrap().to_string(), "disk");
        assert_eq!(b.to_string(), "STORAGE: disk");
        // unique handles are changed in place
        let c = TaskError::new(Code::INTERNAL, "x");
        let p = Arc::as_ptr(&c.0);
        let c = c.or_task("t");
        assert_eq!(Arc::as_ptr(&c.0), p);
    }

    #[test]
    fn first_task_name_and_trace_win() {
        let t1 = TraceId::random();
        let t2 = TraceId::random();
        let e = TaskError::new(Code::INTERNAL, "x")
            .or_task("inner")
            .or_task("outer")
            .or_trace_id(Some(t1))
            .or_trace_id(Some(t2));
        assert_eq!(e.task(), Some("inner"));
        assert_eq!(e.trace_id(), Some(t1));
    }

    #[test]
    fn cancelled_carries_its_cause() {
        let cause = TaskError::new(Code::UNAVAILABLE, "inventory down");
        let e = TaskError::cancelled(Some(cause));
        assert!(e.is_cancelled());
        assert!(!e.is_retryable());
        assert_eq!(e.cause().unwrap().code(), Code::UNAVAILABLE);
        assert!(format!("{e:#}").contains("caused by UNAVAILABLE: inventory down"));
    }

    #[test]
    fn the_kind_follows_the_code_wherever_the_error_is_built() {
        assert_eq!(TaskError::new(Code::CANCELLED, "caller left").kind(), ErrorKind::Cancelled);
        assert!(TaskError::new(Code::CANCELLED, "caller left").is_cancelled());
        let late = TaskError::new(Code::DEADLINE_EXCEEDED, "too slow");
        assert_eq!(late.kind(), ErrorKind::DeadlineExceeded);
        assert!(late.is_retryable());
        assert_eq!(TaskError::new(Code::PANICKED, "remote bug").kind(), ErrorKind::Panicked);
        assert_eq!(TaskError::new(Code::UNAVAILABLE, "down").kind(), ErrorKind::Failed);
        const GONE: Code = Code::new("CLIENT_GONE", Category::Cancelled);
        assert!(TaskError::new(GONE, "custom cancellation").is_cancelled());
        // Re-coding re-classifies: a code and a kind never disagree.
        let e = TaskError::new(Code::INTERNAL, "x").with_code(Code::CANCELLED);
        assert!(e.is_cancelled());
        let e = TaskError::cancelled(None).with_code(Code::UNAVAILABLE);
        assert_eq!(e.kind(), ErrorKind::Failed);
        // A panic stays a panic whatever it is re-coded to: it is never lost.
        let p =
            TaskError::panicked(PanicReport::new("boom".into(), None)).with_code(Code::UNAVAILABLE);
        assert_eq!(p.kind(), ErrorKind::Panicked);
        assert!(!p.is_retryable());
    }

    #[test]
    fn every_std_view_formats_and_chains_like_the_error() {
        let e = TaskError::from(Outer(io::Error::other("inner")))
            .with_code(Code::STORAGE)
            .context("saving order")
            .or_task("save");
        let shared = e.clone(); // a shared handle: the owned view must not move it out
        let borrowed = e.as_std();
        let boxed: Box<dyn StdError + Send + Sync> = shared.into();
        let local: Box<dyn StdError> = e.clone().into();
        for view in [borrowed.to_string(), boxed.to_string(), local.to_string()] {
            assert_eq!(view, e.to_string());
            assert_eq!(view, "STORAGE: saving order");
        }
        for alt in [format!("{borrowed:#}"), format!("{boxed:#}"), format!("{local:#}")] {
            assert_eq!(alt, format!("{e:#}"));
        }
        for source in [borrowed.source(), boxed.source(), local.source()] {
            assert_eq!(source.unwrap().to_string(), "outer");
            assert_eq!(source.unwrap().source().unwrap().to_string(), "inner");
        }
        let only: Box<dyn StdError + Send + Sync> =
            TaskError::new(Code::NOT_FOUND, "no user").into();
        assert_eq!(only.to_string(), "NOT_FOUND: no user");
        assert!(only.source().is_none());
    }

    #[test]
    fn retry_after_is_kept_and_overwritten() {
        let e = TaskError::new(Code::CIRCUIT_OPEN, "open");
        assert_eq!(e.retry_after(), None);
        let e = e.with_retry_after(std::time::Duration::from_secs(2));
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(2)));
        let e = e.with_retry_after(std::time::Duration::from_secs(1));
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(1)));
    }

    #[test]
    fn converts_into_boxed_std_error() {
        let e = TaskError::from(Outer(io::Error::other("inner")));
        let b: Box<dyn StdError + Send + Sync> = e.into();
        assert_eq!(b.to_string(), "INTERNAL: outer");
        assert_eq!(b.source().unwrap().to_string(), "outer");
    }

    #[test]
    fn result_ext_and_classified_ext() {
        #[derive(Debug, thiserror::Error)]
        #[error("nope")]
        struct Nope;
        impl Classify for Nope {
            fn code(&self) -> Code {
                Code::PERMISSION_DENIED
            }
        }
        let r: Result<(), Nope> = Err(Nope);
        assert_eq!(r.classified().unwrap_err().code(), Code::PERMISSION_DENIED);
        let r: Result<(), Nope> = Err(Nope);
        assert_eq!(r.map_err(TaskError::from).unwrap_err().code(), Code::INTERNAL);
        let id = TraceId::random();
        let r: Result<(), TaskError> = Err(TaskError::deadline_exceeded());
        let e = r.with_context(|| format!("step {}", 2)).with_trace_id(id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DeadlineExceeded);
        assert_eq!(e.trace_id(), Some(id));
        assert_eq!(e.message(), "step 2");
    }
}
