//! The `traceparent` header: [`TraceContext`]'s `Display` and strict `FromStr`, and the
//! ids' `FromStr`.

use std::fmt;
use std::str::FromStr;

use super::{SpanId, TraceContext, TraceFlags, TraceId};

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

impl TraceContext {
    /// The `traceparent` text, on the stack: "00-" trace "-" span "-" flags.
    #[inline]
    pub(crate) fn traceparent_bytes(&self) -> [u8; 55] {
        let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
        buf[3..35].copy_from_slice(&self.trace_id.hex());
        buf[36..52].copy_from_slice(&self.span_id.hex());
        super::id::write_hex(&[self.flags.0], &mut buf[53..55]);
        buf
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(super::id::ascii(&self.traceparent_bytes()))
    }
}

/// Lowercase hex only: W3C forbids uppercase, and `u128::from_str_radix` would accept it
/// along with a leading `+`. At most 32 digits.
fn lower_hex(s: &[u8]) -> Option<u128> {
    // Two 64-bit halves: a 128-bit shift per digit was most of a traceparent's parse.
    let (high, low) = s.split_at(s.len().saturating_sub(16));
    Some((u128::from(lower_hex_u64(high)?) << 64) | u128::from(lower_hex_u64(low)?))
}

/// [`lower_hex`] of at most 16 digits, without a branch per digit: a bad digit sets a high
/// bit that is checked once at the end.
fn lower_hex_u64(s: &[u8]) -> Option<u64> {
    const BAD: u8 = 0x80;
    const TABLE: [u8; 256] = {
        let mut t = [BAD; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    let (mut v, mut bad) = (0_u64, 0_u8);
    for &b in s {
        let d = TABLE[usize::from(b)];
        bad |= d;
        v = (v << 4) | u64::from(d & 0xf);
    }
    (bad & BAD == 0).then_some(v)
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
        Ok(Self::new(trace_id, span_id, flags))
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

    proptest! {
        #[test]
        fn lower_hex_agrees_with_the_standard_parser_on_lowercase_and_refuses_the_rest(
            digits in "[0-9a-f]{1,32}",
            other in "[0-9a-f]{0,31}[^0-9a-f][0-9a-f]{0,31}",
        ) {
            let expected = u128::from_str_radix(&digits, 16).unwrap();
            prop_assert_eq!(lower_hex(digits.as_bytes()), Some(expected));
            prop_assert_eq!(lower_hex(other.as_bytes()), None);
        }

        #[test]
        fn round_trips_valid_values(trace in 1u128.., span in 1u64.., flags in 0u8..4) {
            let tc = TraceContext::new(
                TraceId::from_u128(trace).unwrap(),
                SpanId::from_u64(span).unwrap(),
                TraceFlags::from_bits(flags),
            );
            let text = tc.to_string();
            prop_assert_eq!(&text, &format!("00-{trace:032x}-{span:016x}-{flags:02x}"));
            prop_assert_eq!(text.parse::<TraceContext>(), Ok(tc));
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
