//! [`Baggage`]: the W3C `baggage` header, application key-value pairs that travel with the
//! trace context to every hop.
//!
//! Parsing follows W3C Baggage: `key=value` list-members separated by `,`, each optionally
//! followed by `;`-separated properties; keys are RFC 9110 tokens; values are percent-encoded
//! and read as UTF-8. Unlike `tracestate`, one bad member does not void the header: a
//! malformed member is dropped (and counted, see [`Baggage::dropped`]), the others kept. The
//! limits are the spec's: at most 64 members and 8,192 bytes; what does not fit is dropped
//! whole, from the end.
//!
//! # Examples
//!
//! ```
//! use result_runtime::trace::Baggage;
//!
//! let b = Baggage::from_header("tenant=acme, user=J%C3%B6rg;pii, bad key=1");
//! assert_eq!(b.get("tenant"), Some("acme"));
//! assert_eq!(b.get("user"), Some("Jörg"));   // percent-decoded
//! assert_eq!(b.dropped(), 1);                 // the malformed member, not the header
//!
//! let b = b.with("region", "eu west")?;
//! assert_eq!(b.to_string(), "region=eu%20west,tenant=acme,user=J%C3%B6rg;pii");
//! # Ok::<(), result_runtime::trace::BaggageError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::text;

const MAX_MEMBERS: usize = Baggage::MAX_MEMBERS;
const MAX_BYTES: usize = Baggage::MAX_BYTES;

/// One baggage member: a key, its decoded value, and its properties as sent (`;`-separated).
// The three back to back in one allocation (a parse made one for each), cut at `key_len`
// and `value_end`; the properties are the rest, never empty when present (an empty one is
// malformed), so an empty rest is `None`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BaggageEntry {
    text: Box<str>,
    key_len: usize,
    value_end: usize,
}

impl BaggageEntry {
    fn new(key: &str, value: &str, properties: Option<&str>) -> Self {
        let properties = properties.unwrap_or("");
        let mut text = String::with_capacity(key.len() + value.len() + properties.len());
        text.push_str(key);
        text.push_str(value);
        text.push_str(properties);
        Self { text: text.into(), key_len: key.len(), value_end: key.len() + value.len() }
    }

    /// The key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.text[..self.key_len]
    }

    /// The value, percent-decoded.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.text[self.key_len..self.value_end]
    }

    /// The properties after the value (`;pii;ttl=30`), as sent, without the first `;`.
    #[must_use]
    pub fn properties(&self) -> Option<&str> {
        Some(&self.text[self.value_end..]).filter(|p| !p.is_empty())
    }

    /// The length of the member as [`Display`](fmt::Display) writes it, without writing it:
    /// every parse measures each member against the size limit.
    fn encoded_len(&self) -> usize {
        let value: usize = self.value().bytes().map(|b| if plain_octet(b) { 1 } else { 3 }).sum();
        self.key_len + 1 + value + self.properties().map_or(0, |p| 1 + p.len())
    }
}

impl fmt::Debug for BaggageEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaggageEntry")
            .field("key", &self.key())
            .field("value", &self.value())
            .field("properties", &self.properties())
            .finish()
    }
}

impl fmt::Display for BaggageEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Piece by piece: `write!` goes through the formatting machinery per member.
        f.write_str(self.key())?;
        f.write_str("=")?;
        f.write_str(&encode(self.value()))?;
        if let Some(p) = self.properties() {
            f.write_str(";")?;
            f.write_str(p)?;
        }
        Ok(())
    }
}

/// The W3C `baggage`: ordered members with unique keys. Cheap to clone (one reference count)
/// and empty by default; it travels inside the [`TraceContext`](super::TraceContext) and is
/// read with [`Baggage::current`].
#[derive(Clone, Default)]
pub struct Baggage {
    entries: Option<Arc<[BaggageEntry]>>,
    /// What the parse dropped; not part of the value (two baggages with the same members
    /// are equal).
    dropped: u16,
}

impl PartialEq for Baggage {
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

impl Eq for Baggage {}

impl std::hash::Hash for Baggage {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.entries().hash(state);
    }
}

/// Why baggage could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaggageError {
    /// A key is not an RFC 9110 token.
    #[error("baggage key {0:?} is not a token")]
    Key(String),
    /// Adding the member would pass [`Baggage::MAX_MEMBERS`] or [`Baggage::MAX_BYTES`].
    #[error("baggage would pass its limits ({MAX_MEMBERS} members, {MAX_BYTES} bytes)")]
    TooLarge,
}

impl Baggage {
    /// At most this many members.
    pub const MAX_MEMBERS: usize = 64;
    /// At most this many bytes in the header.
    pub const MAX_BYTES: usize = 8_192;

    /// No baggage.
    #[must_use]
    pub const fn new() -> Self {
        Self { entries: None, dropped: 0 }
    }

    /// The baggage of the current trace context (empty outside one).
    #[must_use]
    pub fn current() -> Self {
        super::TraceContext::current().map(|tc| tc.baggage().clone()).unwrap_or_default()
    }

    /// Parses a `baggage` header value, keeping every well-formed member. Never fails: a
    /// malformed member (a character outside its grammar, non-ASCII text included) is
    /// dropped and counted in [`dropped`](Self::dropped), and the others are kept.
    #[must_use]
    pub fn from_header(value: &str) -> Self {
        Self::from_headers([value])
    }

    /// Parses the `baggage` header values of one request as one list, as
    /// [`from_header`](Self::from_header).
    #[must_use]
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut entries: Vec<BaggageEntry> = Vec::new();
        let mut dropped = 0_u16;
        let mut bytes = 0;
        for value in values {
            for raw in text::split(value, b',') {
                let member = text::trim_ows(raw);
                if member.is_empty() {
                    continue;
                }
                match parse_member(member) {
                    Some(entry) if !entries.iter().any(|e| e.key() == entry.key()) => {
                        let len = entry.encoded_len() + usize::from(!entries.is_empty());
                        if entries.len() < MAX_MEMBERS && bytes + len <= MAX_BYTES {
                            bytes += len;
                            entries.push(entry);
                        } else {
                            dropped = dropped.saturating_add(1);
                        }
                    }
                    // A repeated key: the first one wins.
                    _ => dropped = dropped.saturating_add(1),
                }
            }
        }
        Self { entries: (!entries.is_empty()).then(|| entries.into()), dropped }
    }

    fn entries(&self) -> &[BaggageEntry] {
        self.entries.as_deref().unwrap_or(&[])
    }

    /// The value of `key`, decoded.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries().iter().find(|e| e.key() == key).map(BaggageEntry::value)
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = &BaggageEntry> {
        self.entries().iter()
    }

    /// How many members there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_none()
    }

    /// How many members the parse dropped: malformed, repeated, or past the limits.
    #[must_use]
    pub fn dropped(&self) -> usize {
        usize::from(self.dropped)
    }

    /// The same baggage with `key` set to `value` (first, replacing an older member of that
    /// key). The value is any text; it is percent-encoded on the wire.
    ///
    /// # Errors
    /// [`BaggageError::Key`] when `key` is not a token, [`BaggageError::TooLarge`] when the
    /// result would pass the limits; the baggage is unchanged.
    pub fn with(&self, key: &str, value: &str) -> Result<Self, BaggageError> {
        if key.is_empty() || !key.bytes().all(is_tchar) {
            return Err(BaggageError::Key(key.to_owned()));
        }
        let entry = BaggageEntry::new(key, value, None);
        let mut entries = vec![entry];
        entries.extend(self.entries().iter().filter(|e| e.key() != key).cloned());
        let bytes: usize = entries.iter().map(|e| e.encoded_len() + 1).sum::<usize>() - 1;
        if entries.len() > MAX_MEMBERS || bytes > MAX_BYTES {
            return Err(BaggageError::TooLarge);
        }
        Ok(Self { entries: Some(entries.into()), dropped: 0 })
    }

    /// The same baggage without `key`.
    #[must_use]
    pub fn without(&self, key: &str) -> Self {
        let entries: Vec<_> = self.entries().iter().filter(|e| e.key() != key).cloned().collect();
        Self { entries: (!entries.is_empty()).then(|| entries.into()), dropped: 0 }
    }
}

/// RFC 9110 `tchar`.
const fn is_tchar(b: u8) -> bool {
    matches!(b, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~')
        || b.is_ascii_alphanumeric()
}

/// W3C `baggage-octet`: visible ASCII except `"`, `,`, `;` and `\`.
const fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn parse_member(member: &str) -> Option<BaggageEntry> {
    let (pair, properties) = match text::split_once(member, b';') {
        Some((pair, props)) => (pair, Some(props)),
        None => (member, None),
    };
    let (key, value) = text::split_once(pair, b'=')?;
    let key = text::trim_ows(key);
    let value = text::trim_ows(value);
    if key.is_empty() || !key.bytes().all(is_tchar) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let properties = match properties {
        Some(p) => valid_properties(p)?,
        None => "",
    };
    // The key, the decoded value and the properties into the entry's one buffer, sized
    // exactly so that it becomes a `Box<str>` without a shrinking copy.
    let escapes = value.bytes().filter(|&b| b == b'%').count();
    let decoded = value.len().saturating_sub(2 * escapes);
    let mut text = Vec::with_capacity(key.len() + decoded + properties.len());
    text.extend_from_slice(key.as_bytes());
    decode_into(value, &mut text)?;
    let value_end = text.len();
    text.extend_from_slice(properties.as_bytes());
    // The key and properties are ASCII: this checks that the decoded value is UTF-8.
    let text = String::from_utf8(text).ok()?;
    Some(BaggageEntry { text: text.into(), key_len: key.len(), value_end })
}

/// Properties: `key` or `key=value`, `;`-separated, each with a token key.
fn valid_properties(props: &str) -> Option<&str> {
    let props = text::trim_ows(props);
    for property in text::split(props, b';') {
        let property = text::trim_ows(property);
        let (key, value) = text::split_once(property, b'=').unwrap_or((property, ""));
        let key = text::trim_ows(key);
        let value = text::trim_ows(value);
        if key.is_empty() || !key.bytes().all(is_tchar) || !value.bytes().all(is_baggage_octet) {
            return None;
        }
    }
    Some(props)
}

/// Percent-decodes a value onto `out`; `None` for a broken escape.
fn decode_into(value: &str, out: &mut Vec<u8>) -> Option<()> {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(())
}

/// Percent-encodes what is not a `baggage-octet` (and `%` itself).
fn encode(value: &str) -> Cow<'_, str> {
    if value.bytes().all(plain_octet) {
        return Cow::Borrowed(value);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len() + 8);
    for b in value.bytes() {
        if plain_octet(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    Cow::Owned(out)
}

/// A byte that [`encode`] keeps as it is.
fn plain_octet(b: u8) -> bool {
    is_baggage_octet(b) && b != b'%'
}

impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(e, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Baggage({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_limit_measures_what_display_writes() {
        let header = "k=v,user=J%C3%B6rg;p1;p2=x,pct=50%25%20off,sp=a%20b;q=1,e=";
        let baggage = Baggage::from_header(header);
        assert_eq!(baggage.len(), 5);
        for entry in baggage.iter() {
            assert_eq!(entry.encoded_len(), entry.to_string().len(), "{entry}");
        }
    }

    /// One case per rule: the header, the members kept (re-serialised), how many dropped.
    #[test]
    fn the_w3c_rules_case_by_case() {
        let max_members: Vec<String> = (0..64).map(|i| format!("k{i}=v")).collect();
        let over_members: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let big = format!("big={}", "x".repeat(8_000));
        let cases: Vec<(String, String, usize)> = vec![
            ("k=v".into(), "k=v".into(), 0),
            ("k1=v1,k2=v2".into(), "k1=v1,k2=v2".into(), 0),
            (" k1 = v1 , k2=v2 ".into(), "k1=v1,k2=v2".into(), 0),
            ("".into(), "".into(), 0),
            ("k=".into(), "k=".into(), 0),
            ("k=v;p".into(), "k=v;p".into(), 0),
            ("k=v;p=1".into(), "k=v;p=1".into(), 0),
            ("k=v;p=1;q".into(), "k=v;p=1;q".into(), 0),
            ("k=v ; p = 1".into(), "k=v;p = 1".into(), 0),
            ("k=%20x%2C".into(), "k=%20x%2C".into(), 0),
            ("k=J%C3%B6rg".into(), "k=J%C3%B6rg".into(), 0),
            ("!#$&'*+-.^_`|~09AZaz=v".into(), "!#$&'*+-.^_`|~09AZaz=v".into(), 0),
            ("k,v".into(), "".into(), 2),
            ("=v".into(), "".into(), 1),
            ("k k=v".into(), "".into(), 1),
            ("k(=v".into(), "".into(), 1),
            ("k=a\"b".into(), "".into(), 1),
            ("k=a\\b".into(), "".into(), 1),
            ("k=a b".into(), "".into(), 1),
            ("k=%zz".into(), "".into(), 1),
            ("k=%4".into(), "".into(), 1),
            ("k=%C3".into(), "".into(), 1),
            ("k=v;".into(), "".into(), 1),
            ("k=v;p p".into(), "".into(), 1),
            ("k=v;=1".into(), "".into(), 1),
            ("good=1,bad key=2,also=3".into(), "good=1,also=3".into(), 1),
            ("a=1,a=2".into(), "a=1".into(), 1),
            (",,a=1,,".into(), "a=1".into(), 0),
            // Non-ASCII text and control characters void their member, not the header.
            ("k=vé".into(), "".into(), 1),
            ("good=1,k=vé,also=2".into(), "good=1,also=2".into(), 1),
            ("ké=1,b=2".into(), "b=2".into(), 1),
            ("a=1;pé,b=2".into(), "b=2".into(), 1),
            ("a=1,k=v\n,b=\u{7f}".into(), "a=1".into(), 2),
            ("a=1\t,\tb=2".into(), "a=1,b=2".into(), 0),
            (max_members.join(","), max_members.join(","), 0),
            (over_members.join(","), max_members.join(","), 1),
            (format!("{big},small=1,b2={}", "y".repeat(300)), format!("{big},small=1"), 1),
        ];
        assert!(cases.len() >= 30);
        for (input, kept, dropped) in cases {
            let b = Baggage::from_header(&input);
            assert_eq!(b.to_string(), kept, "{input:?}");
            assert_eq!(b.dropped(), dropped, "{input:?}");
            assert!(b.len() <= MAX_MEMBERS && b.to_string().len() <= MAX_BYTES, "{input:?}");
        }
    }

    #[test]
    fn values_decode_and_encode() {
        let b = Baggage::from_header("user=J%C3%B6rg,pct=100%25");
        assert_eq!(b.get("user"), Some("Jörg"));
        assert_eq!(b.get("pct"), Some("100%"));
        assert_eq!(b.to_string(), "user=J%C3%B6rg,pct=100%25");
        let b = Baggage::new().with("note", "a, b; \"c\"").unwrap();
        assert_eq!(b.to_string(), "note=a%2C%20b%3B%20%22c%22");
        assert_eq!(Baggage::from_header(&b.to_string()), b);
    }

    #[test]
    fn setting_validates_and_keeps_limits() {
        let b = Baggage::from_header("a=1,b=2");
        assert_eq!(b.with("b", "3").unwrap().to_string(), "b=3,a=1");
        assert_eq!(b.with("bad key", "1"), Err(BaggageError::Key("bad key".into())));
        assert_eq!(b.with("", "1"), Err(BaggageError::Key(String::new())));
        let full =
            Baggage::from_header(&(0..64).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(","));
        assert_eq!(full.with("one_more", "v"), Err(BaggageError::TooLarge));
        assert_eq!(full.with("k3", "w").unwrap().len(), 64, "replacing stays within the limit");
        assert_eq!(Baggage::new().with("big", &"x".repeat(MAX_BYTES)), Err(BaggageError::TooLarge));
        assert_eq!(b.without("a").to_string(), "b=2");
        assert!(b.without("a").without("b").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn set_values_round_trip_through_the_header(
            members in proptest::collection::btree_map("[a-zA-Z0-9_.-]{1,12}", "\\PC{0,20}", 0..20)
        ) {
            let mut b = Baggage::new();
            for (k, v) in &members {
                b = b.with(k, v).unwrap();
            }
            let parsed = Baggage::from_header(&b.to_string());
            proptest::prop_assert_eq!(parsed.dropped(), 0);
            for (k, v) in &members {
                proptest::prop_assert_eq!(parsed.get(k), Some(v.as_str()));
            }
            proptest::prop_assert_eq!(parsed, b);
        }

        #[test]
        fn the_parser_never_panics(input in "[ -~]{0,120}") {
            let b = Baggage::from_header(&input);
            proptest::prop_assert!(b.len() <= MAX_MEMBERS);
            let again = Baggage::from_header(&b.to_string());
            proptest::prop_assert_eq!(again.dropped(), 0);
        }
    }
}
