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

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use triomphe::Arc;

use crate::code::{Category, Code};
use crate::panic::PanicReport;
use crate::trace::TraceId;

/// `std::result::Result` with [`TaskError`] as the default error.
///
/// No new container: `map`, `and_then`, `?` and `futures::TryFutureExt` all apply.
pub type Result<T, E = TaskError> = std::result::Result<T, E>;

/// How a piece of work ended, beyond "it failed".
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
/// gives `INTERNAL`. Keep the code by converting with [`TaskError::classified`] or
/// [`ClassifiedExt::classified`], or let `#[fallible_task]` do it: a function annotated with it
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

/// Where the original error lives. `io::Error` is stored inline so that the most common
/// conversion costs one allocation, like `anyhow`.
enum Source {
    None,
    Io(io::Error),
    Boxed(Box<dyn StdError + Send + Sync + 'static>),
    /// The metadata of a shared error was changed: the original error (with its chain) is
    /// kept by reference instead of being copied.
    Parent(TaskError),
}

struct Inner {
    kind: ErrorKind,
    code: Code,
    /// Set when the message was written for clients (see [`TaskError::client_message`]).
    public: bool,
    message: Option<Cow<'static, str>>,
    /// The task name when it is a `&'static str` (what the macros pass); an owned name lives
    /// in `extra`. Together with `trace` stored as two words (no 16-byte alignment), this
    /// keeps the allocation at 128 bytes, small enough to be written in place instead of
    /// built on the stack and copied with a `memcpy` call.
    task: Option<&'static str>,
    /// The trace id's value, high and low words; zero (never a valid id) for none.
    trace: [u64; 2],
    source: Source,
    /// What most errors never have, out of line so that building and dropping a plain error
    /// touches less memory.
    extra: Option<Box<Extra>>,
}

#[derive(Clone, Default)]
struct Extra {
    /// An owned task name (a `&'static str` one is kept inline).
    task: Option<Box<str>>,
    /// Messages added by [`TaskError::context`], oldest first.
    context: Vec<Cow<'static, str>>,
    panic: Option<PanicReport>,
    cause: Option<TaskError>,
    /// How long the caller should wait before trying again, when the failing side knows.
    retry_after: Option<std::time::Duration>,
}

/// The runtime's error: classified, traceable, one pointer wide, cheap to clone.
///
/// `TaskError` does not implement `std::error::Error` itself (like `anyhow::Error`, that is
/// what lets `?` convert every std error into it); use [`TaskError::as_std`] or
/// `Box<dyn Error>::from` where a std error is needed.
///
/// Formatting: `{}` is one line, `CODE: message`. `{:#}` and `{:?}` add the context, the
/// source chain, the task name, the trace id and, for panics, the location.
#[derive(Clone)]
pub struct TaskError(Arc<Inner>);

impl TaskError {
    /// A failure with a code and a message written for clients.
    ///
    /// The message is shown to remote clients unless the code's category is internal
    /// (`Internal`, `Panic`, `Storage`, `Unimplemented`), where clients see the code's safe
    /// message instead.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        let public = !is_internal(code.category());
        Self::build(ErrorKind::Failed, code, Some(message.into()), public, Source::None)
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
            return Self::build(ErrorKind::Failed, code, None, false, Source::Io(io));
        }
        let Some(error) = slot else { unreachable!("taken only for io::Error") };
        Self::build(ErrorKind::Failed, Code::INTERNAL, None, false, Source::Boxed(Box::new(error)))
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
        let mut e = Self::build(ErrorKind::Panicked, Code::PANICKED, None, false, Source::None);
        e.inner_mut().extra_mut().panic = Some(report);
        e
    }

    /// Work that was cancelled, with the error that caused the cancellation if there was one.
    #[must_use]
    pub fn cancelled(cause: Option<Self>) -> Self {
        let mut e = Self::build(
            ErrorKind::Cancelled,
            Code::CANCELLED,
            Some(Cow::Borrowed("cancelled")),
            true,
            Source::None,
        );
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
            ErrorKind::DeadlineExceeded,
            Code::DEADLINE_EXCEEDED,
            Some(Cow::Borrowed("deadline exceeded")),
            true,
            Source::None,
        )
    }

    #[inline]
    fn build(
        kind: ErrorKind,
        code: Code,
        message: Option<Cow<'static, str>>,
        public: bool,
        source: Source,
    ) -> Self {
        Self(Arc::new(Inner {
            kind,
            code,
            public,
            message,
            task: None,
            trace: [0; 2],
            source,
            extra: None,
        }))
    }

    /// Mutable access for the `with_*` builders: in place when this is the only handle,
    /// otherwise a new error whose source is the shared one (nothing is deep-copied).
    fn inner_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.0).is_none() {
            let shared = &*self.0;
            let copy = Inner {
                kind: shared.kind,
                code: shared.code,
                public: shared.public,
                message: shared.message.clone(),
                task: shared.task,
                trace: shared.trace,
                extra: shared.extra.clone(),
                source: match &shared.source {
                    Source::None => Source::None,
                    Source::Parent(p) => Source::Parent(p.clone()),
                    Source::Io(_) | Source::Boxed(_) => Source::Parent(self.clone()),
                },
            };
            self.0 = Arc::new(copy);
        }
        Arc::get_mut(&mut self.0).expect("unique after copy-on-write")
    }

    /// How the work ended.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
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
        matches!(self.0.kind, ErrorKind::Failed | ErrorKind::DeadlineExceeded)
            && self.0.code.retryable()
    }

    /// Whether this error is a cancellation (which never wins over the failure that caused it).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.kind == ErrorKind::Cancelled
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
        self.0.extra.as_ref()?.panic.as_ref()
    }

    /// For a cancellation: the error that caused it.
    #[must_use]
    pub fn cause(&self) -> Option<&Self> {
        self.0.extra.as_ref()?.cause.as_ref()
    }

    /// The newest message: the last context added, else the message, else the source's.
    #[must_use]
    pub fn message(&self) -> Cow<'_, str> {
        if let Some(c) = self.0.context().last() {
            return Cow::Borrowed(c);
        }
        self.base_message()
    }

    fn base_message(&self) -> Cow<'_, str> {
        if let Some(m) = &self.0.message {
            return Cow::Borrowed(m);
        }
        if let Some(p) = self.panic() {
            return Cow::Owned(format!("panicked: {}", p.message()));
        }
        match &self.0.source {
            Source::None => Cow::Borrowed(self.0.code.safe_message()),
            Source::Io(e) => Cow::Owned(e.to_string()),
            Source::Boxed(e) => Cow::Owned(e.to_string()),
            Source::Parent(p) => p.base_message(),
        }
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
        match &self.0.source {
            Source::None => None,
            Source::Io(e) => Some(e),
            Source::Boxed(e) => Some(&**e),
            Source::Parent(p) => p.source(),
        }
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

    /// The same error with another code.
    #[must_use]
    pub fn with_code(mut self, code: Code) -> Self {
        if self.0.code != code {
            let inner = self.inner_mut();
            inner.code = code;
            if is_internal(code.category()) {
                inner.public = false;
            }
        }
        self
    }

    /// The same error stamped with a trace id.
    #[must_use]
    pub fn with_trace_id(mut self, trace_id: TraceId) -> Self {
        if self.0.trace_id() != Some(trace_id) {
            self.inner_mut().set_trace_id(Some(trace_id));
        }
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
    pub fn with_task(mut self, task: impl Into<Cow<'static, str>>) -> Self {
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

    /// The same error with a retry delay: how long a caller should wait before trying again
    /// (a circuit breaker's remaining open time, a server's `RetryInfo`). Retries honour it.
    #[must_use]
    pub fn with_retry_after(mut self, delay: std::time::Duration) -> Self {
        self.inner_mut().extra_mut().retry_after = Some(delay);
        self
    }

    /// The retry delay, if the failing side set one.
    #[must_use]
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.0.extra.as_ref().and_then(|x| x.retry_after)
    }

    /// A `std::error::Error` view of this error, for APIs that need one.
    #[must_use]
    pub fn as_std(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

const fn is_internal(category: Category) -> bool {
    matches!(
        category,
        Category::Internal | Category::Panic | Category::Storage | Category::Unimplemented
    )
}

impl<E> From<E> for TaskError
where
    E: StdError + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self::from_error(error)
    }
}

impl From<TaskError> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: TaskError) -> Self {
        Box::new(StdView(error))
    }
}

impl From<TaskError> for Box<dyn StdError + 'static> {
    fn from(error: TaskError) -> Self {
        Box::new(StdView(error))
    }
}

/// An owned `std::error::Error` over a [`TaskError`].
struct StdView(TaskError);

impl fmt::Debug for StdView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for StdView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for StdView {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

impl Inner {
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    fn task(&self) -> Option<&str> {
        self.task.or_else(|| self.extra.as_ref()?.task.as_deref())
    }

    fn trace_id(&self) -> Option<TraceId> {
        let [hi, lo] = self.trace;
        TraceId::from_u128((u128::from(hi) << 64) | u128::from(lo))
    }

    fn set_trace_id(&mut self, id: Option<TraceId>) {
        let v = id.map_or(0, TraceId::to_u128);
        #[allow(clippy::cast_possible_truncation)]
        let words = [(v >> 64) as u64, v as u64];
        self.trace = words;
    }

    fn context(&self) -> &[Cow<'static, str>] {
        self.extra.as_ref().map_or(&[], |x| &x.context)
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskError")
    }
}

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.name())
    }
}

impl StdError for Inner {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.source {
            Source::None => None,
            Source::Io(e) => Some(e),
            Source::Boxed(e) => Some(&**e),
            Source::Parent(p) => p.source(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.code, self.message())?;
        if f.alternate() {
            self.write_details(f)?;
        }
        Ok(())
    }
}

impl TaskError {
    fn write_details(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        // The newest context is already on the first line; the rest follow, newest first.
        let mut older: Vec<Cow<'_, str>> =
            inner.context().iter().rev().skip(1).map(|c| Cow::Borrowed(&**c)).collect();
        if !inner.context().is_empty() {
            older.push(self.base_message());
        }
        for m in older {
            write!(f, ": {m}")?;
        }
        let mut chain = self.chain().peekable();
        // Skip the source's own text when it was the message shown above.
        if inner.message.is_none() && self.panic().is_none() {
            chain.next();
        }
        for e in chain {
            write!(f, ": {e}")?;
        }
        if let Some(task) = inner.task() {
            write!(f, " [task {task}]")?;
        }
        if let Some(id) = inner.trace_id() {
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

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        let mut d = f.debug_struct("TaskError");
        d.field("kind", &inner.kind).field("code", &inner.code).field("message", &self.message());
        if !inner.context().is_empty() {
            d.field("context", &inner.context());
        }
        if let Some(task) = inner.task() {
            d.field("task", &task);
        }
        if let Some(id) = inner.trace_id() {
            d.field("trace_id", &format_args!("{id}"));
        }
        if let Some(p) = self.panic() {
            d.field("panic", p);
        }
        if let Some(c) = self.cause() {
            d.field("cause", c);
        }
        let chain: Vec<String> = self.chain().map(ToString::to_string).collect();
        if !chain.is_empty() {
            d.field("source", &chain);
        }
        d.finish()
    }
}

/// What std's `Result` lacks for classified errors. Implemented for every
/// `Result<T, E>` whose error converts into a [`TaskError`] (including `TaskError` itself).
///
/// ```
/// use result_runtime::{Code, ResultExt};
///
/// let r: Result<u8, std::num::ParseIntError> = "x".parse::<u8>();
/// let e = r.code(Code::INVALID_ARGUMENT).context("parsing the page size").unwrap_err();
/// assert_eq!(e.code(), Code::INVALID_ARGUMENT);
/// assert_eq!(e.to_string(), "INVALID_ARGUMENT: parsing the page size");
/// ```
pub trait ResultExt<T> {
    /// Gives the error a code.
    ///
    /// # Errors
    /// The original error, converted and re-coded.
    fn code(self, code: Code) -> Result<T>;

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

    /// Stamps the error with a trace id.
    ///
    /// # Errors
    /// The original error, converted and stamped.
    fn with_trace_id(self, trace_id: TraceId) -> Result<T>;

    /// Converts the error into a [`TaskError`] without changing it.
    ///
    /// # Errors
    /// The original error, converted.
    fn task_err(self) -> Result<T>;
}

impl<T, E: Into<TaskError>> ResultExt<T> for Result<T, E> {
    fn code(self, code: Code) -> Result<T> {
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

    fn task_err(self) -> Result<T> {
        self.map_err(Into::into)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panic::PanicReport;

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
            .with_task("load_user")
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
        let b = a.clone().with_code(Code::STORAGE).with_task("t");
        assert_eq!(a.code(), Code::INTERNAL);
        assert_eq!(a.task(), None);
        assert_eq!(b.code(), Code::STORAGE);
        assert_eq!(b.source().unwrap().to_string(), "disk");
        assert_eq!(b.to_string(), "STORAGE: disk");
        // unique handles are changed in place
        let c = TaskError::new(Code::INTERNAL, "x");
        let p = Arc::as_ptr(&c.0);
        let c = c.with_task("t");
        assert_eq!(Arc::as_ptr(&c.0), p);
    }

    #[test]
    fn first_task_name_and_trace_win() {
        let t1 = TraceId::random();
        let t2 = TraceId::random();
        let e = TaskError::new(Code::INTERNAL, "x")
            .with_task("inner")
            .with_task("outer")
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
        assert_eq!(r.task_err().unwrap_err().code(), Code::INTERNAL);
        let id = TraceId::random();
        let r: Result<(), TaskError> = Err(TaskError::deadline_exceeded());
        let e = r.with_context(|| format!("step {}", 2)).with_trace_id(id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DeadlineExceeded);
        assert_eq!(e.trace_id(), Some(id));
        assert_eq!(e.message(), "step 2");
    }
}
