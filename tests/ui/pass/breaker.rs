//! `breaker = ".."` on every supported shape, alone and with `retry`, `timeout`, `name`.
use std::fmt::Display;

use result_runtime::breaker::{registry, State};
use result_runtime::{fallible_task, Code, Result, TaskError};

#[fallible_task(breaker = "pass-inventory")]
async fn free() -> Result<u32> {
    Ok(1)
}

#[fallible_task(breaker = "pass-inventory", retry = 2, timeout = "1s", name = "reserve")]
async fn reserve(sku: String, qty: u32) -> Result<String> {
    Ok(format!("{sku}x{qty}"))
}

#[fallible_task(breaker = "pass-generic", retry = 1)]
async fn generic<T: Display + Clone + Send>(v: T) -> Result<String> {
    Ok(v.to_string())
}

#[fallible_task(breaker = "pass-down")]
async fn down() -> Result<()> {
    Err(TaskError::new(Code::UNAVAILABLE, "down"))
}

struct Client(u32);

impl Client {
    #[fallible_task(breaker = "pass-inventory", retry = 1)]
    async fn get(&self) -> Result<u32> {
        Ok(self.0)
    }

    #[fallible_task(breaker = "pass-inventory")]
    async fn take(self) -> u32 {
        self.0
    }
}

trait Inventory {
    async fn stock(&self) -> Result<u32>;
}

impl Inventory for Client {
    #[fallible_task(breaker = "pass-inventory")]
    async fn stock(&self) -> Result<u32> {
        Ok(self.0)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(free().await.unwrap(), 1);
    assert_eq!(reserve("a".into(), 2).await.unwrap(), "ax2");
    assert_eq!(generic(7_u8).await.unwrap(), "7");
    assert_eq!(generic("s").await.unwrap(), "s");
    assert_eq!(Client(3).get().await.unwrap(), 3);
    assert_eq!(Client(4).stock().await.unwrap(), 4);
    assert_eq!(Client(5).take().await.unwrap(), 5);
    assert_eq!(down().await.unwrap_err().code(), Code::UNAVAILABLE);
    // Every call site shares the registry's breaker of that name.
    assert_eq!(registry().breaker("pass-inventory").state(), State::Closed);
    assert!(registry().breakers().iter().any(|b| b.name() == Some("pass-down")));
}
