//! Option parsing: `#[fallible_task(..)]` and `#[traced(..)]` arguments into structs.
//!
//! Each option is a custom keyword; an unknown option, a duplicate or a malformed value is an
//! error at the offending token that lists what is accepted.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitInt, LitStr, Token};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(retry);
    syn::custom_keyword!(group);
    syn::custom_keyword!(breaker);
    syn::custom_keyword!(level);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(fields);
    syn::custom_keyword!(err);
    syn::custom_keyword!(ret);
}

/// The runtime's path in generated code: `::result_runtime` unless `crate = ".."` says
/// otherwise.
#[derive(Clone)]
pub struct CratePath(pub TokenStream);

impl Default for CratePath {
    fn default() -> Self {
        Self(quote!(::result_runtime))
    }
}

impl CratePath {
    fn parse_value(input: ParseStream<'_>) -> syn::Result<Self> {
        let lit: LitStr = input.parse()?;
        let path: syn::Path = lit.parse().map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!(
                    "`crate` must be a path to the result-runtime crate, like \
                     \"::result_runtime\" or \"my_alias\"; {:?} is not a path",
                    lit.value()
                ),
            )
        })?;
        Ok(Self(quote!(#path)))
    }
}

/// Stores `value` in `slot`, or fails at `span` if the option was given already.
fn set<T>(slot: &mut Option<T>, value: T, span: Span, key: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("duplicate option `{key}`: give it once")));
    }
    *slot = Some(value);
    Ok(())
}

fn eq_value<T: Parse>(input: ParseStream<'_>) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// `#[fallible_task(name = "..", timeout = "2s", retry = 3, group = "..", breaker = "..",
/// crate = "..")]`.
#[derive(Default)]
pub struct FallibleArgs {
    pub name: Option<LitStr>,
    /// The literal and its value in milliseconds.
    pub timeout: Option<(LitStr, u64)>,
    /// The literal and the number of retries.
    pub retry: Option<(LitInt, u32)>,
    pub group: Option<LitStr>,
    /// The name of the registered circuit breaker each attempt runs through.
    pub breaker: Option<LitStr>,
    pub krate: Option<CratePath>,
}

impl Parse for FallibleArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Self::default();
        while !input.is_empty() {
            let look = input.lookahead1();
            if look.peek(kw::name) {
                let key: kw::name = input.parse()?;
                let v = eq_value(input)?;
                set(&mut args.name, v, key.span, "name")?;
            } else if look.peek(kw::timeout) {
                let key: kw::timeout = input.parse()?;
                input.parse::<Token![=]>()?;
                let timeout = parse_timeout(input)?;
                set(&mut args.timeout, timeout, key.span, "timeout")?;
            } else if look.peek(kw::retry) {
                let key: kw::retry = input.parse()?;
                let lit: LitInt = eq_value(input)?;
                let n =
                    lit.base10_parse::<u32>().ok().filter(|n| *n < u32::MAX).ok_or_else(|| {
                        syn::Error::new(
                            lit.span(),
                            "`retry` takes the number of retries, e.g. retry = 3",
                        )
                    })?;
                set(&mut args.retry, (lit, n), key.span, "retry")?;
            } else if look.peek(kw::group) {
                let key: kw::group = input.parse()?;
                input.parse::<Token![=]>()?;
                if !input.peek(LitStr) {
                    return Err(input.error(
                        "the group name must be a string literal, e.g. group = \"startup\"",
                    ));
                }
                let v = input.parse()?;
                set(&mut args.group, v, key.span, "group")?;
            } else if look.peek(kw::breaker) {
                let key: kw::breaker = input.parse()?;
                input.parse::<Token![=]>()?;
                if !input.peek(LitStr) {
                    return Err(input.error(
                        "the breaker name must be a string literal, e.g. breaker = \"inventory\"",
                    ));
                }
                let v = input.parse()?;
                set(&mut args.breaker, v, key.span, "breaker")?;
            } else if look.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = CratePath::parse_value(input)?;
                set(&mut args.krate, v, key.span, "crate")?;
            } else {
                return Err(look.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// The one message for every rejected `timeout` value, whatever is wrong with it.
fn bad_timeout(span: Span, shown: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "bad timeout {shown}: write a string holding a whole number above zero and a unit \
             (ms, s, m or h), with no sign, spaces or fraction, up to 2^64-1 milliseconds: \
             e.g. \"250ms\", \"2s\", \"1m\" or \"1h\""
        ),
    )
}

/// The value of `timeout = ..`: a string literal in the grammar of [`timeout_millis`].
fn parse_timeout(input: ParseStream<'_>) -> syn::Result<(LitStr, u64)> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        let text = lit.value();
        let ms =
            timeout_millis(&text).ok_or_else(|| bad_timeout(lit.span(), &format!("{text:?}")))?;
        Ok((lit, ms))
    } else if input.is_empty() || input.peek(Token![,]) {
        Err(bad_timeout(input.span(), "(nothing)"))
    } else {
        let tt: proc_macro2::TokenTree = input.parse()?;
        Err(bad_timeout(tt.span(), &format!("`{tt}`")))
    }
}

/// Milliseconds from the strict grammar `[0-9]+ ("ms" | "s" | "m" | "h")`: ASCII digits
/// (no sign, no spaces, no fraction), then the unit; `None` for zero, anything else, or a
/// value above `u64::MAX` milliseconds.
fn timeout_millis(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let factor: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    if digits.is_empty() {
        return None;
    }
    let value = digits
        .bytes()
        .try_fold(0u64, |v, d| v.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
    value.checked_mul(factor).filter(|ms| *ms > 0)
}

/// `#[traced(name = "..", level = "..", skip(..), skip_all, fields(..), err, ret, crate = "..")]`.
#[derive(Default)]
pub struct TracedArgs {
    pub name: Option<LitStr>,
    pub level: Option<Level>,
    pub skip: Option<Vec<Ident>>,
    pub skip_all: Option<Span>,
    pub fields: Option<TokenStream>,
    pub err: Option<Span>,
    pub ret: Option<Span>,
    pub krate: Option<CratePath>,
}

/// A `tracing` level, from `"info"` (any case) or `info` / `INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn from_text(text: &str, span: Span) -> syn::Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" => Ok(Self::Warn),
            "error" => Ok(Self::Error),
            _ => Err(syn::Error::new(
                span,
                format!(
                    "unknown level {text:?}: use \"trace\", \"debug\", \"info\", \"warn\" or \
                     \"error\""
                ),
            )),
        }
    }

    /// The `tracing::Level` constant's name.
    pub const fn constant(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }
}

impl Parse for TracedArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Self::default();
        while !input.is_empty() {
            let look = input.lookahead1();
            if look.peek(kw::name) {
                let key: kw::name = input.parse()?;
                let v = eq_value(input)?;
                set(&mut args.name, v, key.span, "name")?;
            } else if look.peek(kw::level) {
                let key: kw::level = input.parse()?;
                input.parse::<Token![=]>()?;
                let level = if input.peek(LitStr) {
                    let lit: LitStr = input.parse()?;
                    Level::from_text(&lit.value(), lit.span())?
                } else if input.peek(Ident) {
                    let id: Ident = input.parse()?;
                    Level::from_text(&id.to_string(), id.span())?
                } else {
                    return Err(input.error("expected a level, e.g. level = \"debug\""));
                };
                set(&mut args.level, level, key.span, "level")?;
            } else if look.peek(kw::skip_all) {
                let key: kw::skip_all = input.parse()?;
                set(&mut args.skip_all, key.span, key.span, "skip_all")?;
            } else if look.peek(kw::skip) {
                let key: kw::skip = input.parse()?;
                let content;
                syn::parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    syn::ext::IdentExt::parse_any,
                )?;
                set(&mut args.skip, names.into_iter().collect(), key.span, "skip")?;
            } else if look.peek(kw::fields) {
                let key: kw::fields = input.parse()?;
                let content;
                syn::parenthesized!(content in input);
                set(&mut args.fields, content.parse()?, key.span, "fields")?;
            } else if look.peek(kw::err) {
                let key: kw::err = input.parse()?;
                set(&mut args.err, key.span, key.span, "err")?;
            } else if look.peek(kw::ret) {
                let key: kw::ret = input.parse()?;
                set(&mut args.ret, key.span, key.span, "ret")?;
            } else if look.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                input.parse::<Token![=]>()?;
                let v = CratePath::parse_value(input)?;
                set(&mut args.krate, v, key.span, "crate")?;
            } else {
                return Err(look.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fallible(s: &str) -> syn::Result<FallibleArgs> {
        syn::parse_str(s)
    }

    #[test]
    fn durations() {
        let ms = |s: &str| fallible(&format!("timeout = {s:?}")).map(|a| a.timeout.unwrap().1);
        assert_eq!(ms("250ms").unwrap(), 250);
        assert_eq!(ms("2s").unwrap(), 2_000);
        assert_eq!(ms("1m").unwrap(), 60_000);
        assert_eq!(ms("1h").unwrap(), 3_600_000);
        assert_eq!(ms("007s").unwrap(), 7_000);
        assert_eq!(ms("18446744073709551615ms").unwrap(), u64::MAX);
        assert_eq!(ms("5124095576030h").unwrap(), 5_124_095_576_030 * 3_600_000);
        let message = |bad: &str| ms(bad).err().unwrap().to_string();
        let one = message("+1s").replace("\"+1s\"", "");
        for bad in [
            "",
            "2",
            "s",
            "ms",
            "0s",
            "0ms",
            "00h",
            "2 s",
            " 2s",
            "2s ",
            "1.5s",
            "1_000ms",
            "2days",
            "2S",
            "2MS",
            "-1s",
            "+1s",
            "1e3ms",
            "١s",
            "2sec",
            "2ns",
            "2us",
            // overflow: of the number itself, and of the number times its unit
            "18446744073709551616ms",
            "99999999999999999999999s",
            "18446744073709552s",
            "5124095576031h",
        ] {
            let e = message(bad);
            assert_eq!(e.replace(&format!("{bad:?}"), ""), one, "{bad}");
            assert!(e.starts_with(&format!("bad timeout {bad:?}: ")), "{bad}: {e}");
        }
        for (bad, shown) in
            [("timeout = 2", "`2`"), ("timeout = two", "`two`"), ("timeout = ", "(nothing)")]
        {
            let e = fallible(bad).err().unwrap().to_string();
            assert_eq!(e.replace(shown, ""), one, "{bad}");
        }
    }

    #[test]
    fn fallible_errors() {
        let err = |s: &str| fallible(s).err().unwrap().to_string();
        assert!(err("name = \"a\", name = \"b\"").contains("duplicate option `name`"));
        assert!(err("retries = 3").starts_with("expected one of"), "{}", err("retries = 3"));
        assert!(err("group = startup").contains("must be a string literal"));
        assert!(err("crate = \"not a path\"").contains("must be a path"));
        assert!(err("retry = -1").contains("number of retries"));
        assert!(err("breaker = inventory").contains("must be a string literal"));
        assert!(err("breaker = \"a\", breaker = \"b\"").contains("duplicate option `breaker`"));
        let ok = fallible(
            "name = \"x\", timeout = \"1s\", retry = 2, group = \"g\", breaker = \"b\", \
             crate = \"rr\",",
        )
        .unwrap();
        assert_eq!(ok.retry.unwrap().1, 2);
        assert_eq!(ok.breaker.unwrap().value(), "b");
    }

    #[test]
    fn traced_options() {
        let a: TracedArgs =
            syn::parse_str("level = \"DEBUG\", skip(a, self), fields(x = 1), err, ret").unwrap();
        assert_eq!(a.level, Some(Level::Debug));
        assert_eq!(a.skip.unwrap().len(), 2);
        assert!(a.err.is_some() && a.ret.is_some());
        let e = syn::parse_str::<TracedArgs>("level = \"loud\"").err().unwrap().to_string();
        assert!(e.contains("unknown level"), "{e}");
        let e = syn::parse_str::<TracedArgs>("err, err").err().unwrap().to_string();
        assert!(e.contains("duplicate option `err`"), "{e}");
    }
}
