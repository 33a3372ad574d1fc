//! [`TraceState`]: the W3C `tracestate` header, vendor-specific trace data that travels with
//! `traceparent`.
//!
//! The grammar is W3C Trace Context level 2's, enforced strictly: a header that breaks any
//! rule is rejected whole, with the rule it broke ([`TraceStateError`]), never half-accepted.
//!
//! - at most 32 list-members, separated by `,` with optional spaces or tabs around; empty
//!   members are allowed and ignored;
//! - a key is a simple key (`a-z` then up to 255 of `a-z 0-9 _ - * /`) or a multi-tenant key
//!   (`tenant@system`: a tenant of `a-z 0-9` then up to 240 of those characters, a system of
//!   `a-z` then up to 13);
//! - a value is 1 to 256 printable ASCII characters other than `,` and `=`, spaces allowed
//!   inside but not at the end;
//! - keys are unique.
//!
//! Whoever sends it on keeps it under 512 bytes by dropping whole entries, the longest over
//! 128 characters first, then from the end ([`TraceState::truncated`]); the client layers do
//! that on every outgoing call.
//!
//! # Examples
//!
//! ```
//! use result_runtime::trace::{TraceState, TraceStateError};
//!
//! let ts: TraceState = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".parse()?;
//! assert_eq!(ts.get("congo"), Some("t61rcWkgMzE"));
//! assert_eq!(ts.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
//!
//! // A service puts its own member first (replacing an older one of the same key).
//! let ts = ts.with_member("congo", "ucfJifl5GOE")?;
//! assert_eq!(ts.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
//!
//! assert!(matches!("Rojo=1".parse::<TraceState>(), Err(TraceStateError::Key { .. })));
//! # Ok::<(), TraceStateError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::text;

const MAX_MEMBERS: usize = TraceState::MAX_MEMBERS;
const LONG_ENTRY: usize = TraceState::LONG_ENTRY;
#[cfg(test)]
const MAX_HEADER_BYTES: usize = TraceState::MAX_HEADER_BYTES;

/// The W3C `tracestate`: ordered, unique vendor keys with opaque values.
///
/// Cheap to clone (one reference count) and empty by default; it travels inside the
/// [`TraceContext`](super::TraceContext).
// Kept as its canonical text (`key=value` members joined by `,`, no white space): keys and
// values never hold `,` or `=`, so the members are read back by splitting. One allocation
// per list (none more when the header is already canonical, as senders write it), where a
// member each for its key and value made a server's every parse and drop cost a dozen.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<str>>);

/// One `key=value` list-member, borrowed from the text it was read from.
type Member<'a> = (&'a str, &'a str);

/// Why a `tracestate` was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceStateError {
    /// More than [`TraceState::MAX_MEMBERS`] list-members.
    #[error("tracestate has more than {MAX_MEMBERS} members")]
    TooManyMembers,
    /// A list-member is not `key=value`.
    #[error("tracestate member {index} is not key=value")]
    Member {
        /// Its position, from 0, among the non-empty members.
        index: usize,
    },
    /// A key breaks the key grammar.
    #[error("tracestate member {index} has an invalid key")]
    Key {
        /// Its position, from 0, among the non-empty members.
        index: usize,
    },
    /// A value breaks the value grammar.
    #[error("tracestate member {index} has an invalid value")]
    Value {
        /// Its position, from 0, among the non-empty members.
        index: usize,
    },
    /// The same key twice.
    #[error("tracestate member {index} repeats an earlier key")]
    DuplicateKey {
        /// Its position, from 0, among the non-empty members.
        index: usize,
    },
}

impl TraceState {
    /// At most this many list-members.
    pub const MAX_MEMBERS: usize = 32;
    /// What a sender keeps the header under, by dropping whole entries.
    pub const MAX_HEADER_BYTES: usize = 512;
    /// Entries longer than this are the first dropped when the header is over
    /// [`TraceState::MAX_HEADER_BYTES`](Self::MAX_HEADER_BYTES).
    pub const LONG_ENTRY: usize = 128;

    /// The empty tracestate.
    #[must_use]
    pub const fn new() -> Self {
        Self(None)
    }

    /// Parses the `tracestate` header values of one request: several headers are one list,
    /// joined in order (RFC 9110 field combination).
    ///
    /// # Errors
    /// The first rule the combined list breaks.
    pub fn from_headers<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, TraceStateError> {
        let mut members: [Member<'a>; MAX_MEMBERS] = [("", ""); MAX_MEMBERS];
        let (mut count, mut headers, mut canonical) = (0, 0, true);
        let mut only = "";
        for value in values {
            headers += 1;
            only = value;
            canonical &= parse_into(value, &mut members, &mut count)?;
        }
        if headers == 1 && canonical && count > 0 {
            // As it came: no list to build.
            return Ok(Self(Some(Arc::from(only))));
        }
        Ok(Self::from_members(members[..count].iter().copied()))
    }

    fn from_members<'a>(members: impl Iterator<Item = Member<'a>>) -> Self {
        let mut text = String::new();
        for (key, value) in members {
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(key);
            text.push('=');
            text.push_str(value);
        }
        Self((!text.is_empty()).then(|| Arc::from(text)))
    }

    fn members(&self) -> impl Iterator<Item = Member<'_>> {
        let text = self.0.as_deref().unwrap_or("");
        text::split(text, b',')
            .filter(|m| !m.is_empty())
            .map(|m| text::split_once(m, b'=').unwrap_or((m, "")))
    }

    /// The value of `key`, if it is present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members()
    }

    /// How many members there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members().count()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The same list with `key=value` first, as W3C asks of a vendor that updates its own
    /// entry: an older member of that key is removed, and when the list is full the last
    /// member is dropped.
    ///
    /// # Errors
    /// [`TraceStateError::Key`] or [`TraceStateError::Value`] (index 0) when `key` or `value`
    /// breaks the grammar; the list is unchanged.
    pub fn with_member(&self, key: &str, value: &str) -> Result<Self, TraceStateError> {
        if !valid_key(key) {
            return Err(TraceStateError::Key { index: 0 });
        }
        if !valid_value(value) {
            return Err(TraceStateError::Value { index: 0 });
        }
        let others = self.members().filter(|(k, _)| *k != key);
        Ok(Self::from_members(std::iter::once((key, value)).chain(others).take(MAX_MEMBERS)))
    }

    /// The same list without `key`.
    #[must_use]
    pub fn without(&self, key: &str) -> Self {
        Self::from_members(self.members().filter(|(k, _)| *k != key))
    }

    /// The list as it may be sent: at most `max_bytes` long as a header value, by dropping
    /// whole entries: first those longer than [`TraceState::LONG_ENTRY`] characters, the
    /// longest first (of equal ones, the later), then from the end. Never a cut entry.
    ///
    /// Longest first because W3C Trace Context asks that long entries go before any other,
    /// and the longest frees the most room for the fewest vendors lost.
    #[must_use]
    pub fn truncated(&self, max_bytes: usize) -> Self {
        let entry_len = |(k, v): &Member<'_>| k.len() + 1 + v.len();
        let header_len =
            |m: &[Member<'_>]| m.iter().map(entry_len).sum::<usize>() + m.len().saturating_sub(1);
        if self.0.as_deref().map_or(0, str::len) <= max_bytes {
            return self.clone();
        }
        let mut members: Vec<Member<'_>> = self.members().collect();
        while header_len(&members) > max_bytes {
            // `max_by_key` keeps the last of equal maxima: the later of two equal entries.
            let longest = members
                .iter()
                .enumerate()
                .map(|(i, e)| (i, entry_len(e)))
                .filter(|&(_, len)| len > LONG_ENTRY)
                .max_by_key(|&(_, len)| len);
            match longest {
                Some((long, _)) => {
                    members.remove(long);
                }
                None => {
                    members.pop();
                }
            }
        }
        Self::from_members(members.into_iter())
    }
}

/// Checks one header value's members and appends them to `members[*count..]`; whether the
/// value was already canonical (no white space, no empty member).
fn parse_into<'a>(
    header: &'a str,
    members: &mut [Member<'a>; MAX_MEMBERS],
    count: &mut usize,
) -> Result<bool, TraceStateError> {
    let mut canonical = true;
    for raw in text::split(header, b',') {
        let member = text::trim_ows(raw);
        canonical &= !member.is_empty() && member.len() == raw.len();
        if member.is_empty() {
            continue;
        }
        let i = *count;
        if i >= MAX_MEMBERS {
            return Err(TraceStateError::TooManyMembers);
        }
        let Some((key, value)) = text::split_once(member, b'=') else {
            return Err(TraceStateError::Member { index: i });
        };
        if !valid_key(key) {
            return Err(TraceStateError::Key { index: i });
        }
        if !valid_value(value) {
            return Err(TraceStateError::Value { index: i });
        }
        if members[..i].iter().any(|(k, _)| *k == key) {
            return Err(TraceStateError::DuplicateKey { index: i });
        }
        members[i] = (key, value);
        *count += 1;
    }
    Ok(canonical)
}

const fn key_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    match text::split_once(key, b'@') {
        None => {
            (1..=256).contains(&b.len())
                && b[0].is_ascii_lowercase()
                && b.iter().all(|&c| key_char(c))
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&t.len())
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t.iter().all(|&c| key_char(c))
                && (1..=14).contains(&s.len())
                && s[0].is_ascii_lowercase()
                && s.iter().all(|&c| key_char(c))
        }
    }
}

fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    // chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E; the last is nblk-chr.
    let nblk = |c: u8| matches!(c, 0x21..=0x2B | 0x2D..=0x3C | 0x3E..=0x7E);
    (1..=256).contains(&b.len()) && b.iter().all(|&c| c == b' ' || nblk(c)) && nblk(b[b.len() - 1])
}

impl FromStr for TraceState {
    type Err = TraceStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_headers([s])
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or(""))
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        s.parse::<TraceState>().unwrap_or_else(|e| panic!("{s:?}: {e}")).to_string()
    }

    fn err(s: &str) -> TraceStateError {
        s.parse::<TraceState>().expect_err(s)
    }

    /// The W3C rules, one case each; `Ok` gives the re-serialised list.
    #[test]
    fn the_w3c_rules_case_by_case() {
        let long_key = format!("a{}", "b".repeat(255));
        let too_long_key = format!("a{}", "b".repeat(256));
        let long_value = "v".repeat(256);
        let too_long_value = "v".repeat(257);
        let tenant = format!("t{}@s", "0".repeat(240));
        let too_long_tenant = format!("t{}@s", "0".repeat(241));
        let thirty_two: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let thirty_three: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let cases: Vec<(String, Result<String, TraceStateError>)> = vec![
            ("rojo=00f067aa0ba902b7".into(), Ok("rojo=00f067aa0ba902b7".into())),
            ("rojo=1,congo=2".into(), Ok("rojo=1,congo=2".into())),
            (" rojo=1 ,\tcongo=2\t".into(), Ok("rojo=1,congo=2".into())),
            ("".into(), Ok(String::new())),
            ("  ".into(), Ok(String::new())),
            ("rojo=1,,congo=2".into(), Ok("rojo=1,congo=2".into())),
            (",rojo=1,".into(), Ok("rojo=1".into())),
            ("a=b".into(), Ok("a=b".into())),
            ("a_-*/9=x".into(), Ok("a_-*/9=x".into())),
            ("tenant@system=x".into(), Ok("tenant@system=x".into())),
            ("0tenant@sys=x".into(), Ok("0tenant@sys=x".into())),
            ("k=v v".into(), Ok("k=v v".into())),
            (
                "k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~".into(),
                Ok("k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~".into()),
            ),
            (format!("{long_key}=v"), Ok(format!("{long_key}=v"))),
            (format!("k={long_value}"), Ok(format!("k={long_value}"))),
            (format!("{tenant}=v"), Ok(format!("{tenant}=v"))),
            (format!("t@{}=v", "a".repeat(14)), Ok(format!("t@{}=v", "a".repeat(14)))),
            (thirty_two.join(","), Ok(thirty_two.join(","))),
            (thirty_three.join(","), Err(TraceStateError::TooManyMembers)),
            ("Rojo=1".into(), Err(TraceStateError::Key { index: 0 })),
            ("1rojo=1".into(), Err(TraceStateError::Key { index: 0 })),
            ("ro jo=1".into(), Err(TraceStateError::Key { index: 0 })),
            ("ro.jo=1".into(), Err(TraceStateError::Key { index: 0 })),
            ("=1".into(), Err(TraceStateError::Key { index: 0 })),
            (format!("{too_long_key}=v"), Err(TraceStateError::Key { index: 0 })),
            (format!("{too_long_tenant}=v"), Err(TraceStateError::Key { index: 0 })),
            (format!("t@{}=v", "a".repeat(15)), Err(TraceStateError::Key { index: 0 })),
            ("t@0sys=v".into(), Err(TraceStateError::Key { index: 0 })),
            ("@sys=v".into(), Err(TraceStateError::Key { index: 0 })),
            ("t@=v".into(), Err(TraceStateError::Key { index: 0 })),
            ("a@b@c=v".into(), Err(TraceStateError::Key { index: 0 })),
            ("rojo".into(), Err(TraceStateError::Member { index: 0 })),
            ("rojo=1,congo".into(), Err(TraceStateError::Member { index: 1 })),
            ("k=".into(), Err(TraceStateError::Value { index: 0 })),
            ("k= v".into(), Ok("k= v".into())),
            ("k=v\u{0}".into(), Err(TraceStateError::Value { index: 0 })),
            ("k=a=b".into(), Err(TraceStateError::Value { index: 0 })),
            ("k=é".into(), Err(TraceStateError::Value { index: 0 })),
            ("k=\u{7f}".into(), Err(TraceStateError::Value { index: 0 })),
            (format!("k={too_long_value}"), Err(TraceStateError::Value { index: 0 })),
            ("rojo=1,rojo=2".into(), Err(TraceStateError::DuplicateKey { index: 1 })),
        ];
        assert!(cases.len() >= 30);
        for (input, want) in cases {
            match want {
                Ok(text) => assert_eq!(ok(&input), text, "{input:?}"),
                Err(e) => assert_eq!(err(&input), e, "{input:?}"),
            }
        }
    }

    #[test]
    fn several_headers_are_one_list() {
        let ts = TraceState::from_headers(["rojo=1", "congo=2,x=3"]).unwrap();
        assert_eq!(ts.to_string(), "rojo=1,congo=2,x=3");
        assert_eq!(
            TraceState::from_headers(["rojo=1", "rojo=2"]),
            Err(TraceStateError::DuplicateKey { index: 1 })
        );
        let many: Vec<String> = (0..20).map(|i| format!("k{i}=v")).collect();
        let more: Vec<String> = (20..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            TraceState::from_headers([many.join(",").as_str(), more.join(",").as_str()]),
            Err(TraceStateError::TooManyMembers)
        );
    }

    #[test]
    fn a_vendor_updates_its_member_at_the_front() {
        let ts: TraceState = "a=1,b=2,c=3".parse().unwrap();
        assert_eq!(ts.with_member("b", "9").unwrap().to_string(), "b=9,a=1,c=3");
        assert_eq!(ts.with_member("z", "0").unwrap().to_string(), "z=0,a=1,b=2,c=3");
        assert_eq!(ts.with_member("Bad", "0"), Err(TraceStateError::Key { index: 0 }));
        assert_eq!(ts.with_member("ok", "bad,"), Err(TraceStateError::Value { index: 0 }));
        let full: TraceState =
            (0..32).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",").parse().unwrap();
        let added = full.with_member("new", "v").unwrap();
        assert_eq!(added.len(), 32);
        assert_eq!(added.iter().next(), Some(("new", "v")));
        assert_eq!(added.get("k31"), None, "the last member made room");
        assert_eq!(ts.without("b").to_string(), "a=1,c=3");
        assert!(ts.without("a").without("b").without("c").is_empty());
    }

    #[test]
    fn truncation_drops_whole_entries_long_ones_first() {
        let long = format!("long={}", "x".repeat(200));
        let mut members = vec!["first=1".to_owned(), long.clone()];
        members.extend((0..10).map(|i| format!("k{i}={}", "y".repeat(40))));
        let ts: TraceState = members.join(",").parse().unwrap();
        assert!(ts.to_string().len() > MAX_HEADER_BYTES);
        let cut = ts.truncated(MAX_HEADER_BYTES);
        let text = cut.to_string();
        assert!(text.len() <= MAX_HEADER_BYTES, "{}", text.len());
        assert_eq!(cut.get("long"), None, "the long entry goes first");
        assert_eq!(cut.get("first"), Some("1"));
        assert_eq!(cut.len(), 11, "no other entry had to go");
        // Every remaining entry is whole.
        assert_eq!(text.parse::<TraceState>().unwrap(), cut);
        // Of two long entries, the longest goes, wherever it is: removing it is enough here.
        let longest = format!("longest={}", "x".repeat(250));
        let later = format!("later={}", "w".repeat(140));
        let mut members = vec!["first=1".to_owned(), longest, "mid=2".to_owned()];
        members.extend((0..2).map(|i| format!("k{i}={}", "y".repeat(50))));
        members.push(later.clone());
        let ts: TraceState = members.join(",").parse().unwrap();
        assert!(ts.to_string().len() > MAX_HEADER_BYTES);
        let cut = ts.truncated(MAX_HEADER_BYTES);
        assert_eq!(cut.get("longest"), None, "the longest long entry goes first");
        assert_eq!(cut.get("later"), Some(&later["later=".len()..]), "one removal was enough");
        assert_eq!(cut.len(), 5);
        // Of two equally long entries, the later goes.
        let twin = |k: &str| format!("{k}={}", "t".repeat(200));
        let mut members = vec![twin("aa"), twin("bb")];
        members.extend((0..3).map(|i| format!("k{i}={}", "y".repeat(40))));
        let ts: TraceState = members.join(",").parse().unwrap();
        let cut = ts.truncated(MAX_HEADER_BYTES);
        assert!(cut.get("aa").is_some() && cut.get("bb").is_none(), "{cut}");
        // Without long entries, from the end.
        let plain: TraceState = (0..20)
            .map(|i| format!("k{i:02}={}", "z".repeat(40)))
            .collect::<Vec<_>>()
            .join(",")
            .parse()
            .unwrap();
        let cut = plain.truncated(MAX_HEADER_BYTES);
        assert!(cut.to_string().len() <= MAX_HEADER_BYTES);
        assert_eq!(cut.iter().next().unwrap().0, "k00");
        assert!(cut.get("k19").is_none());
        // Short enough already: the same list.
        assert_eq!(ts.truncated(10_000), ts);
    }

    proptest::proptest! {
        #[test]
        fn valid_lists_round_trip(
            members in proptest::collection::btree_map("[a-z][a-z0-9_*/-]{0,20}", "[!-+--<>-~][ -+--<>-~]{0,20}[!-+--<>-~]", 0..32)
        ) {
            let text: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let text = text.join(",");
            let ts: TraceState = text.parse().unwrap();
            proptest::prop_assert_eq!(ts.to_string(), text.clone());
            proptest::prop_assert_eq!(ts.len(), members.len());
            proptest::prop_assert_eq!(ts.to_string().parse::<TraceState>().unwrap(), ts);
        }

        #[test]
        fn the_parser_never_panics_and_never_half_accepts(input in "\\PC{0,80}") {
            if let Ok(ts) = input.parse::<TraceState>() {
                // Whatever was accepted re-parses to itself.
                proptest::prop_assert_eq!(ts.to_string().parse::<TraceState>().unwrap(), ts);
            }
        }
    }
}
