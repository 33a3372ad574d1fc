//! Lifetimes in the arguments and in the returned value.
use result_runtime::{fallible_task, traced, Result};

struct Store {
    items: Vec<String>,
}

impl Store {
    #[fallible_task]
    async fn first(&self) -> Result<&str> {
        Ok(self.items.first().map(String::as_str).unwrap_or_default())
    }
}

#[fallible_task]
async fn longest<'a>(a: &'a str, b: &'a str) -> Result<&'a str> {
    Ok(if a.len() >= b.len() { a } else { b })
}

#[fallible_task]
async fn split_first(text: &str) -> std::result::Result<&str, std::io::Error> {
    Ok(text.split(' ').next().unwrap_or(text))
}

#[traced]
fn traced_borrow<'a>(text: &'a str, _other: &str) -> &'a str {
    text.trim()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let store = Store { items: vec!["a".into()] };
    assert_eq!(store.first().await.unwrap(), "a");
    assert_eq!(longest("ab", "c").await.unwrap(), "ab");
    assert_eq!(split_first("x y").await.unwrap(), "x");
    assert_eq!(traced_borrow(" t ", "o"), "t");
}
