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

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::num::{NonZeroU128, NonZeroU64};
use std::str::FromStr;

thread_local! {
    /// The trace context of the task being polled on this thread. A hand-made task-local:
    /// [`TraceScope`] sets it for the duration of each poll and puts the previous value
    /// back, as tokio's `task_local!` does, but a `TraceContext` is `Copy`, so a plain
    /// `Cell` without a borrow flag or a destructor is enough.
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

/// Makes `ctx` current until dropped (also when a poll unwinds), then restores the
/// previous one.
struct Entered(Option<TraceContext>);

impl Entered {
    #[inline]
    fn enter(ctx: TraceContext) -> Self {
        Self(CURRENT.with(|c| c.replace(Some(ctx))))
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`TraceContext::scope`].
    #[must_use = "futures do nothing unless polled"]
    pub struct TraceScope<F> {
        // Fused: a finished future is dropped inside the poll that finished it, still in
        // this context.
        #[pin]
        fut: futures_util::future::Fuse<F>,
        ctx: TraceContext,
    }
}

impl<F: Future> Future for TraceScope<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let _entered = Entered::enter(*this.ctx);
        this.fut.poll(cx)
    }
}

thread_local! {
    /// Per-thread generator state for ids (wyrand, as `fastrand` uses); `0` until seeded.
    /// Kept here rather than calling `fastrand` per id so that a new root (three words)
    /// costs one thread-local access instead of two.
    static ID_RNG: Cell<u64> = const { Cell::new(0) };
}

/// `N` random words from this thread's id generator.
#[inline]
fn random_words<const N: usize>() -> [u64; N] {
    ID_RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        let words = std::array::from_fn(|_| {
            s = s.wrapping_add(0xa076_1d64_78bd_642f);
            let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
            #[allow(clippy::cast_possible_truncation)]
            let w = (t as u64) ^ ((t >> 64) as u64);
            w
        });
        state.set(s);
        words
    })
}

/// Seeds a thread's generator from `fastrand`'s (itself seeded from the OS hasher's random
/// keys and the thread id), never with the "unseeded" zero.
#[cold]
fn seed() -> u64 {
    fastrand::u64(1..)
}

/// A 16-byte trace id, never zero. Displayed as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// An 8-byte span id (the W3C "parent-id"), never zero. Displayed as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// A random trace id. Uses a fast thread-local generator (not cryptographic: trace ids
    /// are identifiers, not secrets), and never returns zero.
    #[must_use]
    pub fn random() -> Self {
        loop {
            let [hi, lo] = random_words();
            if let Some(id) = Self::from_words(hi, lo) {
                return id;
            }
        }
    }

    fn from_words(hi: u64, lo: u64) -> Option<Self> {
        NonZeroU128::new((u128::from(hi) << 64) | u128::from(lo)).map(Self)
    }

    /// The id from its numeric value; `None` for zero, which W3C forbids.
    #[must_use]
    pub const fn from_u128(value: u128) -> Option<Self> {
        match NonZeroU128::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The numeric value.
    #[must_use]
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// The 16 bytes, big-endian as on the wire.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }
}

impl SpanId {
    /// A random span id; never zero.
    #[must_use]
    pub fn random() -> Self {
        loop {
            if let Some(v) = NonZeroU64::new(random_words::<1>()[0]) {
                return Self(v);
            }
        }
    }

    /// The id from its numeric value; `None` for zero, which W3C forbids.
    #[must_use]
    pub const fn from_u64(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The numeric value.
    #[must_use]
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Why a traceparent (or an id) was rejected: the W3C rule it broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceparentError {
    /// Shorter than 55 characters, or (version 00) not exactly 55.
    #[error("traceparent has the wrong length: {0} characters, version 00 needs exactly 55")]
    Length(usize),
    /// The version is not two lowercase hex digits.
    #[error("traceparent version is not two lowercase hex digits")]
    VersionNotLowerHex,
    /// Version `ff` is forbidden.
    #[error("traceparent version ff is forbidden")]
    ForbiddenVersion,
    /// A `-` is missing between the fields.
    #[error("traceparent fields must be separated by '-' at positions 2, 35 and 52")]
    Separator,
    /// The trace id is not 32 lowercase hex digits.
    #[error("trace-id is not 32 lowercase hex digits")]
    TraceIdNotLowerHex,
    /// The trace id is all zeros.
    #[error("trace-id is all zeros")]
    ZeroTraceId,
    /// The parent (span) id is not 16 lowercase hex digits.
    #[error("parent-id is not 16 lowercase hex digits")]
    SpanIdNotLowerHex,
    /// The parent (span) id is all zeros.
    #[error("parent-id is all zeros")]
    ZeroSpanId,
    /// The flags are not two lowercase hex digits.
    #[error("trace-flags are not two lowercase hex digits")]
    FlagsNotLowerHex,
    /// A future version has something other than `-` right after the flags.
    #[error("a future-version traceparent must continue with '-' after the flags")]
    TrailingData,
}

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

/// Where a piece of work sits in a distributed trace: the trace, this span, and the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace every hop shares.
    pub trace_id: TraceId,
    /// This unit of work's span.
    pub span_id: SpanId,
    /// Sampling and randomness flags.
    pub flags: TraceFlags,
}

impl TraceContext {
    /// A new trace: random ids, sampled, with the random-trace-id flag.
    #[must_use]
    pub fn new_root() -> Self {
        // One generator access for both ids; a zero id (odds 2^-64 per draw) draws again.
        let [hi, lo, span] = random_words();
        match (TraceId::from_words(hi, lo), NonZeroU64::new(span)) {
            (Some(trace_id), Some(span)) => Self {
                trace_id,
                span_id: SpanId(span),
                flags: TraceFlags::SAMPLED.union(TraceFlags::RANDOM_TRACE_ID),
            },
            _ => Self::new_root(),
        }
    }

    /// The same trace with a new span id, for a unit of work inside this one.
    #[must_use]
    pub fn child(&self) -> Self {
        Self { trace_id: self.trace_id, span_id: SpanId::random(), flags: self.flags }
    }

    /// The context of the running task, if it runs inside [`scope`](Self::scope).
    #[must_use]
    pub fn current() -> Option<Self> {
        CURRENT.with(Cell::get)
    }

    /// The current trace id, if any: what errors get stamped with.
    #[must_use]
    pub fn current_trace_id() -> Option<TraceId> {
        CURRENT.with(|c| c.get().map(|t| t.trace_id))
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
    pub fn scope<F: Future>(self, fut: F) -> TraceScope<F> {
        use futures_util::FutureExt as _;
        TraceScope { fut: fut.fuse(), ctx: self }
    }

    /// Runs the closure with this context as the current one (for synchronous code).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _entered = Entered::enter(self);
        f()
    }

    /// The `traceparent` header value (always version 00).
    #[must_use]
    pub fn to_traceparent(&self) -> String {
        self.to_string()
    }

    /// Parses a `traceparent` header value (same as `str::parse`).
    ///
    /// # Errors
    /// The W3C rule the value breaks.
    pub fn parse_traceparent(value: &str) -> Result<Self, TraceparentError> {
        value.parse()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags.0)
    }
}

/// Lowercase hex only: W3C forbids uppercase, and `u128::from_str_radix` would accept it
/// along with a leading `+`.
fn lower_hex(s: &[u8]) -> Option<u128> {
    let mut v: u128 = 0;
    for &b in s {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

impl FromStr for TraceContext {
    type Err = TraceparentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use TraceparentError as E;
        let s = s.trim_matches(|c| c == ' ' || c == '\t');
        let b = s.as_bytes();
        if b.len() < 55 {
            return Err(E::Length(b.len()));
        }
        let version = lower_hex(&b[0..2]).ok_or(E::VersionNotLowerHex)?;
        if version == 0xff {
            return Err(E::ForbiddenVersion);
        }
        if version == 0 && b.len() != 55 {
            return Err(E::Length(b.len()));
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(E::Separator);
        }
        let trace = lower_hex(&b[3..35]).ok_or(E::TraceIdNotLowerHex)?;
        let trace_id = TraceId::from_u128(trace).ok_or(E::ZeroTraceId)?;
        let span = lower_hex(&b[36..52]).ok_or(E::SpanIdNotLowerHex)?;
        #[allow(clippy::cast_possible_truncation)] // 16 hex digits fit in 64 bits
        let span_id = SpanId::from_u64(span as u64).ok_or(E::ZeroSpanId)?;
        let flags = lower_hex(&b[53..55]).ok_or(E::FlagsNotLowerHex)?;
        if b.len() > 55 && b[55] != b'-' {
            return Err(E::TrailingData);
        }
        #[allow(clippy::cast_possible_truncation)] // 2 hex digits fit in 8 bits
        let flags = TraceFlags::from_bits(flags as u8);
        Ok(Self { trace_id, span_id, flags })
    }
}

impl FromStr for TraceId {
    type Err = TraceparentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(TraceparentError::TraceIdNotLowerHex);
        }
        let v = lower_hex(s.as_bytes()).ok_or(TraceparentError::TraceIdNotLowerHex)?;
        Self::from_u128(v).ok_or(TraceparentError::ZeroTraceId)
    }
}

impl FromStr for SpanId {
    type Err = TraceparentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(TraceparentError::SpanIdNotLowerHex);
        }
        let v = lower_hex(s.as_bytes()).ok_or(TraceparentError::SpanIdNotLowerHex)?;
        #[allow(clippy::cast_possible_truncation)] // 16 hex digits fit in 64 bits
        Self::from_u64(v as u64).ok_or(TraceparentError::ZeroSpanId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats_the_spec_example() {
        let tc: TraceContext = VALID.parse().unwrap();
        assert_eq!(tc.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tc.span_id.to_string(), "00f067aa0ba902b7");
        assert!(tc.flags.sampled());
        assert!(!tc.flags.random_trace_id());
        assert_eq!(tc.to_string(), VALID);
    }

    #[test]
    fn accepts_what_the_spec_allows() {
        let cases = [
            (" \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t ", VALID),
            // higher version: more fields after '-', re-emitted as 00
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future", VALID),
            ("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", VALID),
            // unknown flag bits are accepted and zeroed on output; the random bit is kept
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
        ];
        for (input, output) in cases {
            let tc: TraceContext = input.parse().unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(tc.to_string(), output, "{input:?}");
        }
    }

    #[test]
    fn rejects_malformed_values_with_the_rule_they_break() {
        use TraceparentError as E;
        let cases: &[(&str, E)] = &[
            ("", E::Length(0)),
            ("00", E::Length(2)),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", E::Length(54)),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", E::Length(56)),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx", E::Length(58)),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010", E::Length(56)),
            ("00-4bf92f3577b34da6a3ce929d0e0e47366-0f067aa0ba902b7-01", E::Separator),
            ("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::Separator),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", E::Separator),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", E::Separator),
            ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::ForbiddenVersion),
            ("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::VersionNotLowerHex),
            ("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::VersionNotLowerHex),
            ("+0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::VersionNotLowerHex),
            ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", E::TraceIdNotLowerHex),
            ("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", E::TraceIdNotLowerHex),
            ("00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::TraceIdNotLowerHex),
            ("00- bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::TraceIdNotLowerHex),
            ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", E::ZeroTraceId),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", E::SpanIdNotLowerHex),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01", E::SpanIdNotLowerHex),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", E::ZeroSpanId),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G", E::FlagsNotLowerHex),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-AB", E::FlagsNotLowerHex),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-+1", E::FlagsNotLowerHex),
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", E::TrailingData),
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0100", E::TrailingData),
            ("\n00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", E::VersionNotLowerHex),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n", E::Length(56)),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", E::Length(52)),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736", E::Length(35)),
        ];
        assert!(cases.len() >= 25);
        for (input, want) in cases {
            assert_eq!(input.parse::<TraceContext>(), Err(*want), "{input:?}");
        }
    }

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

    #[test]
    fn ids_parse_strictly() {
        assert!("4bf92f3577b34da6a3ce929d0e0e4736".parse::<TraceId>().is_ok());
        assert!("4bf92f3577b34da6a3ce929d0e0e473".parse::<TraceId>().is_err());
        assert_eq!(
            "00000000000000000000000000000000".parse::<TraceId>(),
            Err(TraceparentError::ZeroTraceId)
        );
        assert_eq!("0000000000000000".parse::<SpanId>(), Err(TraceparentError::ZeroSpanId));
        assert!("00F067AA0BA902B7".parse::<SpanId>().is_err());
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

    proptest! {
        #[test]
        fn round_trips_valid_values(trace in 1u128.., span in 1u64.., flags in 0u8..4) {
            let tc = TraceContext {
                trace_id: TraceId::from_u128(trace).unwrap(),
                span_id: SpanId::from_u64(span).unwrap(),
                flags: TraceFlags::from_bits(flags),
            };
            let text = tc.to_traceparent();
            prop_assert_eq!(text.len(), 55);
            prop_assert_eq!(TraceContext::parse_traceparent(&text), Ok(tc));
        }

        #[test]
        fn never_panics_and_accepts_only_55_char_v00(s in "[0-9a-f-]{0,70}") {
            if let Ok(tc) = s.parse::<TraceContext>() {
                prop_assert!(s.len() >= 55);
                prop_assert_eq!(tc.to_string().len(), 55);
            }
        }
    }
}
