//! Generics with where clauses, `impl Trait` arguments and return values.
use std::fmt::Display;

use result_runtime::{fallible_task, traced, Result};

#[fallible_task]
async fn describe<T, U>(a: T, b: impl Display + Send) -> Result<String>
where
    T: Display + Send,
    U: Default,
{
    let _ = U::default();
    Ok(format!("{a}-{b}"))
}

#[fallible_task(retry = 1)]
async fn generic_retry<T: Clone + Display + Send>(value: T) -> Result<String> {
    Ok(value.to_string())
}

#[fallible_task]
async fn returns_impl(n: u32) -> Result<impl Display> {
    Ok(n * 2)
}

#[traced]
async fn traced_impl(n: u32) -> impl Display {
    n + 1
}

#[traced]
fn traced_generic<T: std::fmt::Debug>(value: T) -> T {
    value
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(describe::<_, u8>(1, "x").await.unwrap(), "1-x");
    assert_eq!(generic_retry(5).await.unwrap(), "5");
    assert_eq!(returns_impl(2).await.unwrap().to_string(), "4");
    assert_eq!(traced_impl(2).await.to_string(), "3");
    assert_eq!(traced_generic("v"), "v");
}
