//! W3C Trace Context: [`TraceId`], [`SpanId`], [`TraceContext`] and the task-local current
//! context.
//!
//! Parsing follows [W3C Trace Context level 1](https://www.w3.org/TR/trace-context/) exactly,
//! with level 2's random-trace-id flag: surrounding spaces and tabs are trimmed; version `ff`
//! is forbidden; version `00` must be exactly 55 characters; higher versions are parsed by the
//! same positions and must have nothing or a `-` after the flags; only lowercase hex is
//! accepted; all-zero ids are rejected. Invalid input is rejected with the rule it broke,
//! never half-accepted: the caller starts a new trace (see
//! [`TraceContext::from_header_or_root`]).
//!
//! ```
//! use result_runtime::trace::{TraceContext, TraceparentError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), TraceparentError> {
//! let tc: TraceContext = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
//! assert_eq!(tc.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//!
//! // The current context is task-local; `child` keeps the trace and makes a new span.
//! let seen = tc.child().scope(async { TraceContext::current() }).await.unwrap();
//! assert_eq!(seen.trace_id, tc.trace_id);
//! assert_ne!(seen.span_id, tc.span_id);
//! assert_eq!(TraceContext::current(), None); // outside any scope
//!
//! assert_eq!(
//!     "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".parse::<TraceContext>(),
//!     Err(TraceparentError::TraceIdNotLowerHex)
//! );
//! # Ok(()) }
//! ```
//!
//! Layout: `id` (the ids and their generator), `traceparent` (the header's strict grammar),
//! `scope` (the current context), `state` (tracestate) and `baggage`. What `#[traced]` expands
//! to lives with the other macro futures in the crate's private `task` module: this module
//! depends on nothing else in the crate.

mod baggage;
mod carried;
mod id;
mod scope;
mod state;
mod text;
mod traceparent;

/// For futures that carry a trace context without a [`TraceScope`] layer (a group task).
pub(crate) use scope::{Entered, Swapped};

use std::fmt;
use std::future::Future;

pub use baggage::{Baggage, BaggageEntry, BaggageError};
use carried::Carried;
pub use id::{SpanId, TraceId};
pub use scope::TraceScope;
pub use state::{TraceState, TraceStateError};
pub use traceparent::TraceparentError;

/// Trace flags. Only the bits this level of the spec defines survive output.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// Bit 0: the caller may have recorded this trace.
    pub const SAMPLED: Self = Self(0x01);
    /// Bit 1 (level 2): the trace id's right 7 bytes are random.
    pub const RANDOM_TRACE_ID: Self = Self(0x02);
    const KNOWN: u8 = 0x03;

    /// Flags from their byte; unknown bits are dropped.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & Self::KNOWN)
    }

    /// The byte.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the sampled bit is set.
    #[must_use]
    pub const fn sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the random-trace-id bit is set.
    #[must_use]
    pub const fn random_trace_id(self) -> bool {
        self.0 & Self::RANDOM_TRACE_ID.0 != 0
    }

    /// Both sets of bits.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// Where a piece of work sits in a distributed trace: the trace, this span, the flags, and
/// what travels with them: the W3C [`TraceState`] and [`Baggage`].
///
/// The `traceparent` header is its text form: `Display` writes it (always version `00`),
/// `FromStr` parses it strictly (see the [module docs](self)). `tracestate` and `baggage` are
/// carried wherever the context goes (spawns, channels, cache loads, retries, both client
/// layers) at the cost of one pointer: empty, they cost nothing to clone.
#[derive(Clone)]
pub struct TraceContext {
    /// The trace every hop shares.
    pub trace_id: TraceId,
    /// This unit of work's span.
    pub span_id: SpanId,
    /// Sampling and randomness flags.
    pub flags: TraceFlags,
    /// `tracestate` and `baggage`, out of line: most traces carry neither.
    carried: Option<triomphe::Arc<Carried>>,
}

static EMPTY_TRACESTATE: TraceState = TraceState::new();
static EMPTY_BAGGAGE: Baggage = Baggage::new();

// By value: received text that reads as empty equals nothing received.
impl PartialEq for TraceContext {
    fn eq(&self, other: &Self) -> bool {
        self.trace_id == other.trace_id
            && self.span_id == other.span_id
            && self.flags == other.flags
            && self.tracestate() == other.tracestate()
            && self.baggage() == other.baggage()
    }
}

impl Eq for TraceContext {}

impl std::hash::Hash for TraceContext {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.trace_id.hash(state);
        self.span_id.hash(state);
        self.flags.hash(state);
        self.tracestate().hash(state);
        self.baggage().hash(state);
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("flags", &self.flags)
            .field("tracestate", self.tracestate())
            .field("baggage", self.baggage())
            .finish()
    }
}

impl TraceContext {
    /// A context from its parts, with no tracestate or baggage.
    #[must_use]
    pub const fn new(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> Self {
        Self { trace_id, span_id, flags, carried: None }
    }

    /// A new trace: random ids, sampled, with the random-trace-id flag.
    #[must_use]
    pub fn new_root() -> Self {
        let (trace_id, span_id) = id::random_pair();
        Self::new(trace_id, span_id, TraceFlags::SAMPLED.union(TraceFlags::RANDOM_TRACE_ID))
    }

    /// The same trace with a new span id, for a unit of work inside this one; the tracestate
    /// and baggage go along.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            span_id: SpanId::random(),
            flags: self.flags,
            carried: self.carried.clone(),
        }
    }

    /// The same context with the `tracestate` and `baggage` header text a server received
    /// (empty when absent), parsed on first read (see `carried`).
    #[cfg(feature = "tower")]
    pub(crate) fn with_received(mut self, tracestate: &str, baggage: &str) -> Self {
        self.carried = Carried::received(tracestate, baggage).map(triomphe::Arc::new);
        self
    }

    fn with_values(mut self, tracestate: TraceState, baggage: Baggage) -> Self {
        self.carried = Carried::values(tracestate, baggage).map(triomphe::Arc::new);
        self
    }

    /// The `tracestate` that travels with this trace (empty when none was received or set).
    ///
    /// What a server layer received is parsed on the first read, once per request; a
    /// rejected value reads as empty and is logged at `debug` then.
    #[must_use]
    pub fn tracestate(&self) -> &TraceState {
        self.carried.as_deref().map_or(&EMPTY_TRACESTATE, Carried::tracestate)
    }

    /// The same context with this `tracestate`.
    #[must_use]
    pub fn with_tracestate(self, tracestate: TraceState) -> Self {
        let baggage = self.baggage().clone();
        self.with_values(tracestate, baggage)
    }

    /// The `baggage` that travels with this trace.
    ///
    /// What a server layer received is parsed on the first read, once per request;
    /// malformed members are dropped and logged at `debug` then.
    #[must_use]
    pub fn baggage(&self) -> &Baggage {
        self.carried.as_deref().map_or(&EMPTY_BAGGAGE, Carried::baggage)
    }

    /// The same context with this `baggage`: what a handler sets here reaches every later
    /// hop of the request.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::trace::{Baggage, TraceContext};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), result_runtime::trace::BaggageError> {
    /// let tc = TraceContext::new_root().with_baggage(Baggage::new().with("tenant", "acme")?);
    /// let seen = tc.child().scope(async { Baggage::current() }).await;
    /// assert_eq!(seen.get("tenant"), Some("acme"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_baggage(self, baggage: Baggage) -> Self {
        let tracestate = self.tracestate().clone();
        self.with_values(tracestate, baggage)
    }

    /// The context of the running task, if it runs inside [`scope`](Self::scope).
    #[must_use]
    pub fn current() -> Option<Self> {
        scope::current()
    }

    /// The current trace id, if any: what errors get stamped with.
    #[must_use]
    pub fn current_trace_id() -> Option<TraceId> {
        scope::current_trace_id()
    }

    /// The current context's trace and span ids, if any.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn current_ids() -> Option<(TraceId, SpanId)> {
        scope::current_ids()
    }

    /// A child of the current context, or a new root when there is none.
    #[must_use]
    pub fn current_child_or_root() -> Self {
        Self::current().map_or_else(Self::new_root, |c| c.child())
    }

    /// Parses a header value strictly; on any failure starts a new trace, as W3C requires,
    /// and returns the rejection so the caller can log it.
    #[must_use]
    pub fn from_header_or_root(value: Option<&str>) -> (Self, Option<TraceparentError>) {
        match value.map(str::parse::<Self>) {
            Some(Ok(tc)) => (tc, None),
            Some(Err(e)) => (Self::new_root(), Some(e)),
            None => (Self::new_root(), None),
        }
    }

    /// Runs `fut` with this context as the current one. The context does not cross
    /// `tokio::spawn` by itself: use [`crate::spawn`], which carries it.
    pub fn scope<F: Future>(&self, fut: F) -> TraceScope<F> {
        scope::scope(self.clone(), fut)
    }

    /// Runs the closure with this context as the current one (for synchronous code).
    pub fn sync_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        scope::sync_scope(self.clone(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn invalid_header_starts_a_new_trace() {
        let (tc, err) = TraceContext::from_header_or_root(Some("garbage"));
        assert_eq!(err, Some(TraceparentError::Length(7)));
        assert!(tc.flags.random_trace_id());
        let (tc2, err) = TraceContext::from_header_or_root(Some(VALID));
        assert_eq!(err, None);
        assert_eq!(tc2.to_string(), VALID);
        assert_ne!(tc.trace_id, tc2.trace_id);
    }

    #[tokio::test]
    async fn scope_child_and_current() {
        assert!(TraceContext::current().is_none());
        let root = TraceContext::new_root();
        let (outer, inner) = root
            .scope(async {
                let outer = TraceContext::current().unwrap();
                let inner = TraceContext::current_child_or_root()
                    .scope(async { TraceContext::current().unwrap() })
                    .await;
                (outer, inner)
            })
            .await;
        assert_eq!(outer, root);
        assert_eq!(inner.trace_id, root.trace_id);
        assert_ne!(inner.span_id, root.span_id);
        assert_eq!(root.sync_scope(TraceContext::current_trace_id), Some(root.trace_id));
    }
}
