//! Splitting and trimming header text at ASCII bytes, for the `tracestate` and `baggage`
//! parsers. `str`'s `char` patterns (`split(',')`, `trim_matches([' ', '\t'])`) go through
//! `memchr` and UTF-8 decoding, which is slow to start for the few bytes a header member has:
//! they were a quarter of each parse. The separators are ASCII, so every cut is on a `char`
//! boundary.

/// `text` split at each `sep`, as `str::split` does.
pub(super) fn split(text: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.bytes().position(|b| b == sep) {
            Some(i) => {
                rest = Some(&t[i + 1..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// `text` around its first `sep`, as `str::split_once` does.
pub(super) fn split_once(text: &str, sep: u8) -> Option<(&str, &str)> {
    let i = text.bytes().position(|b| b == sep)?;
    Some((&text[..i], &text[i + 1..]))
}

/// `text` without the spaces and tabs around it (the headers' optional white space).
pub(super) fn trim_ows(text: &str) -> &str {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let b = text.as_bytes();
    let Some(start) = b.iter().position(|c| !ows(c)) else { return "" };
    let end = b.iter().rposition(|c| !ows(c)).map_or(start, |i| i + 1);
    &text[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_as_str_s_own() {
        for text in ["", ",", "a", "a,b", ",a,,b,", " \t a b \t", "\t", "k=v=w", "é,ü= x"] {
            assert_eq!(split(text, b',').collect::<Vec<_>>(), text.split(',').collect::<Vec<_>>());
            assert_eq!(split_once(text, b'='), text.split_once('='));
            assert_eq!(trim_ows(text), text.trim_matches([' ', '\t']), "{text:?}");
        }
    }
}
