//! [`TraceId`] and [`SpanId`]: non-zero ids, random ones drawn from a per-thread `fastrand`
//! generator.

use std::cell::Cell;
use std::fmt;
use std::num::{NonZeroU128, NonZeroU64};

thread_local! {
    /// The state of this thread's id generator (a `fastrand::Rng`, kept as its seed so the
    /// slot needs no lazy initialisation); `0` until seeded.
    static ID_RNG: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` with this thread's id generator: one thread-local access for all the words a
/// new root needs.
#[inline]
fn with_rng<R>(f: impl FnOnce(&mut fastrand::Rng) -> R) -> R {
    ID_RNG.with(|state| {
        let mut seed = state.get();
        if seed == 0 {
            seed = new_seed();
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        let out = f(&mut rng);
        state.set(rng.get_seed());
        out
    })
}

/// Seeds a thread's generator from `fastrand`'s own per-thread one (itself seeded from the
/// OS hasher's random keys and the thread id), never with the "unseeded" zero.
#[cold]
fn new_seed() -> u64 {
    fastrand::u64(1..)
}

/// A random non-zero `u128` (a zero, odds 2^-128, draws again).
#[inline]
fn nonzero_u128(rng: &mut fastrand::Rng) -> NonZeroU128 {
    loop {
        if let Some(v) = NonZeroU128::new(rng.u128(..)) {
            return v;
        }
    }
}

/// A random non-zero `u64` (a zero, odds 2^-64, draws again).
#[inline]
fn nonzero_u64(rng: &mut fastrand::Rng) -> NonZeroU64 {
    loop {
        if let Some(v) = NonZeroU64::new(rng.u64(..)) {
            return v;
        }
    }
}

/// A random trace id and span id with one generator access (for a new root).
#[inline]
pub(super) fn random_pair() -> (TraceId, SpanId) {
    with_rng(|rng| (TraceId(nonzero_u128(rng)), SpanId(nonzero_u64(rng))))
}

/// A 16-byte trace id, never zero. Displayed as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// An 8-byte span id (the W3C "parent-id"), never zero. Displayed as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// A random trace id. Uses a fast per-thread generator (`fastrand`; not cryptographic:
    /// trace ids are identifiers, not secrets), and never returns zero.
    #[must_use]
    pub fn random() -> Self {
        Self(with_rng(nonzero_u128))
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
        Self(with_rng(nonzero_u64))
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

/// Writes `bytes` as lowercase hex into `out` (twice as long). By table, not through
/// `{:032x}`: every response header and log line formats ids, and `core::fmt`'s integer
/// padding was a tenth of the server layer's cost.
#[inline]
pub(super) fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// `buf` as text: hex digits and dashes only, so always valid.
#[inline]
pub(super) fn ascii(buf: &[u8]) -> &str {
    std::str::from_utf8(buf).unwrap_or_default()
}

impl TraceId {
    /// The 32 hex digits, on the stack.
    #[inline]
    pub(crate) fn hex(self) -> [u8; 32] {
        let mut out = [0; 32];
        write_hex(&self.to_bytes(), &mut out);
        out
    }
}

impl SpanId {
    /// The 16 hex digits, on the stack.
    #[inline]
    pub(super) fn hex(self) -> [u8; 16] {
        let mut out = [0; 16];
        write_hex(&self.to_u64().to_be_bytes(), &mut out);
        out
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii(&self.hex()))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii(&self.hex()))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn random_ids_are_distinct_within_and_across_threads() {
        let ids = || (0..1_000).map(|_| random_pair()).collect::<Vec<_>>();
        let here = ids();
        let there = std::thread::spawn(ids).join().unwrap();
        let traces: HashSet<TraceId> = here.iter().chain(&there).map(|p| p.0).collect();
        let spans: HashSet<SpanId> = here.iter().chain(&there).map(|p| p.1).collect();
        assert_eq!((traces.len(), spans.len()), (2_000, 2_000));
        let more: HashSet<SpanId> = (0..1_000).map(|_| SpanId::random()).collect();
        assert_eq!(more.len(), 1_000);
        assert_ne!(TraceId::random(), TraceId::random());
    }
}
