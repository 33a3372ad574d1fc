//! Bodies with `return`, `?`, inner attributes, `use` items and labelled blocks; doc
//! comments and other attributes are kept.
use result_runtime::{fallible_task, traced, Result};

/// Parses a number.
#[fallible_task]
#[must_use = "the parse result says whether it worked"]
async fn parse(text: &str) -> std::result::Result<u64, std::num::ParseIntError> {
    #![allow(clippy::needless_return)]
    use std::str::FromStr;
    if text.is_empty() {
        return Ok(0);
    }
    let n = u64::from_str(text)?;
    return Ok(n);
}

#[traced]
fn early(flag: bool) -> Result<u8> {
    #![allow(unused_labels)]
    'outer: {
        if flag {
            return Ok(1);
        }
    }
    let v: u8 = "2".parse()?;
    Ok(v)
}

/// `use` inside the body does not leak into the generated code: this `Result` shadows the
/// prelude's only inside the body.
#[fallible_task]
async fn shadowing() -> Result<u8> {
    #[allow(dead_code)]
    type Context = ();
    Ok(3)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(parse("").await.unwrap(), 0);
    assert_eq!(parse("12").await.unwrap(), 12);
    assert!(parse("x").await.is_err());
    assert_eq!(early(true).unwrap(), 1);
    assert_eq!(early(false).unwrap(), 2);
    assert_eq!(shadowing().await.unwrap(), 3);
}
