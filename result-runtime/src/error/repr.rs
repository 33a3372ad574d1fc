//! How a [`TaskError`] is laid out: one `triomphe::Arc` to an [`Inner`], rare fields out of
//! line, and copy-on-write for the `with_*` setters.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::io;
use std::time::Duration;
use triomphe::Arc;

use super::{PanicReport, TaskError};
use crate::code::Code;
use crate::trace::TraceId;

/// Where the original error lives. `io::Error` is stored inline so that the most common
/// conversion costs one allocation, like `anyhow`.
pub(super) enum Source {
    None,
    Io(io::Error),
    Boxed(Box<dyn StdError + Send + Sync + 'static>),
    /// The metadata of a shared error was changed: the original error (with its chain) is
    /// kept by reference instead of being copied.
    Parent(TaskError),
}

/// The error itself. It is also the crate's one `std::error::Error` view of a `TaskError`
/// (see `fmt.rs`): borrowed by [`TaskError::as_std`], boxed by the `From` conversions and
/// carried inside a `tonic::Status`, so every view formats and chains the same way.
pub(crate) struct Inner {
    pub(super) code: Code,
    /// Set when the message was written for clients (see [`TaskError::client_message`]).
    pub(super) public: bool,
    pub(super) message: Option<Cow<'static, str>>,
    /// The task name when it is a `&'static str` (what the macros pass); an owned name lives
    /// in `extra`. Together with `trace` stored as two words (no 16-byte alignment), this
    /// keeps the allocation small enough to be written in place instead of built on the
    /// stack and copied with a `memcpy` call.
    pub(super) task: Option<&'static str>,
    /// The trace id's value, high and low words; zero (never a valid id) for none.
    pub(super) trace: [u64; 2],
    pub(super) source: Source,
    /// What most errors never have, out of line so that building and dropping a plain error
    /// touches less memory.
    pub(super) extra: Option<Box<Extra>>,
}

#[derive(Clone, Default)]
pub(super) struct Extra {
    /// An owned task name (a `&'static str` one is kept inline).
    pub(super) task: Option<Box<str>>,
    /// Messages added by [`TaskError::context`], oldest first.
    pub(super) context: Vec<Cow<'static, str>>,
    pub(super) panic: Option<PanicReport>,
    pub(super) cause: Option<TaskError>,
    /// How long the caller should wait before trying again, when the failing side knows.
    pub(super) retry_after: Option<Duration>,
}

impl TaskError {
    #[inline]
    pub(super) fn build(
        code: Code,
        message: Option<Cow<'static, str>>,
        public: bool,
        source: Source,
    ) -> Self {
        Self(Arc::new(Inner {
            code,
            public,
            message,
            task: None,
            trace: [0; 2],
            source,
            extra: None,
        }))
    }

    /// Mutable access for the setters: in place when this is the only handle, otherwise a new
    /// error whose source is the shared one (nothing is deep-copied).
    pub(super) fn inner_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.0).is_none() {
            self.0 = Arc::new(self.detached());
        }
        Arc::get_mut(&mut self.0).expect("unique after copy-on-write")
    }

    /// A copy of the metadata whose source refers back to this error.
    pub(super) fn detached(&self) -> Inner {
        let shared = &*self.0;
        Inner {
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
        }
    }

    /// A copy of the metadata whose source is exactly this error, so that the copy leads back
    /// to it ([`Inner::parent`]).
    #[cfg(feature = "grpc")]
    pub(super) fn detached_keeping_parent(&self) -> Inner {
        let mut copy = self.detached();
        copy.source = Source::Parent(self.clone());
        copy
    }

    /// The error as an owned std error: the same `Inner`, moved out when this is the only
    /// handle.
    pub(super) fn into_inner(self) -> Inner {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => inner,
            Err(shared) => Self(shared).detached(),
        }
    }
}

impl Inner {
    pub(super) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    pub(super) fn task(&self) -> Option<&str> {
        self.task.or_else(|| self.extra.as_ref()?.task.as_deref())
    }

    pub(super) fn trace_id(&self) -> Option<TraceId> {
        let [hi, lo] = self.trace;
        TraceId::from_u128((u128::from(hi) << 64) | u128::from(lo))
    }

    pub(super) fn set_trace_id(&mut self, id: Option<TraceId>) {
        let v = id.map_or(0, TraceId::to_u128);
        #[allow(clippy::cast_possible_truncation)]
        let words = [(v >> 64) as u64, v as u64];
        self.trace = words;
    }

    pub(super) fn context(&self) -> &[Cow<'static, str>] {
        self.extra.as_ref().map_or(&[], |x| &x.context)
    }

    pub(super) fn panic(&self) -> Option<&PanicReport> {
        self.extra.as_ref()?.panic.as_ref()
    }

    pub(super) fn cause(&self) -> Option<&TaskError> {
        self.extra.as_ref()?.cause.as_ref()
    }

    /// The original error, whose `source()` continues the chain.
    pub(super) fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.source {
            Source::None => None,
            Source::Io(e) => Some(e),
            Source::Boxed(e) => Some(&**e),
            Source::Parent(p) => p.0.source(),
        }
    }

    /// The error this one was detached from, when it was (see [`TaskError::detached`]).
    #[cfg(feature = "grpc")]
    pub(crate) fn parent(&self) -> Option<&TaskError> {
        match &self.source {
            Source::Parent(p) => Some(p),
            _ => None,
        }
    }

    /// The newest message: the last context added, else the message, else the source's.
    pub(super) fn message(&self) -> Cow<'_, str> {
        if let Some(c) = self.context().last() {
            return Cow::Borrowed(c);
        }
        self.base_message()
    }

    pub(super) fn base_message(&self) -> Cow<'_, str> {
        if let Some(m) = &self.message {
            return Cow::Borrowed(m);
        }
        if let Some(p) = self.panic() {
            return Cow::Owned(format!("panicked: {}", p.message()));
        }
        match &self.source {
            Source::None => Cow::Borrowed(self.code.safe_message()),
            Source::Io(e) => Cow::Owned(e.to_string()),
            Source::Boxed(e) => Cow::Owned(e.to_string()),
            Source::Parent(p) => p.0.base_message(),
        }
    }
}
