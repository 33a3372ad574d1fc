//! Annotated user code compiled under `#![deny(warnings)]` and clippy pedantic + nursery
//! (CI runs clippy with `-D warnings`): the expansion must add no warning of its own.
#![deny(warnings)]
#![warn(clippy::pedantic, clippy::nursery)]

use std::fmt::Display;

use result_runtime::{fallible_task, traced, Classify, Code, Result, TaskError};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("missing {0}")]
    Missing(u32),
}

impl Classify for AppError {
    fn code(&self) -> Code {
        match self {
            Self::Missing(_) => Code::NOT_FOUND,
        }
    }
}

/// A service.
#[derive(Debug, Clone, Default)]
pub struct Service {
    base: u32,
}

impl Service {
    /// Reads.
    ///
    /// # Errors
    /// When `id` is zero.
    #[fallible_task(name = "service.get", timeout = "2s")]
    #[traced(level = "debug", err)]
    pub async fn get(&self, id: u32) -> std::result::Result<u32, AppError> {
        if id == 0 {
            return Err(AppError::Missing(id));
        }
        Ok(self.base + id)
    }

    /// Writes.
    ///
    /// # Errors
    /// Never.
    #[traced(skip(self), ret)]
    #[fallible_task(retry = 2)]
    pub async fn put(&self, key: String, value: u64) -> Result<u64> {
        Ok(value + u64::try_from(key.len()).unwrap_or_default() + u64::from(self.base))
    }

    /// Mutates.
    ///
    /// # Errors
    /// Never.
    #[fallible_task]
    pub async fn bump(&mut self) -> Result<u32> {
        self.base += 1;
        Ok(self.base)
    }

    /// Synchronous work.
    #[traced(skip_all, fields(kind = "sync"))]
    #[must_use]
    pub fn sync(&self, factor: u32) -> u32 {
        self.base * factor
    }
}

/// Generic.
///
/// # Errors
/// Never.
#[fallible_task]
pub async fn show<T>(value: T, extra: impl Display + Send) -> Result<String>
where
    T: Display + Send,
{
    Ok(format!("{value}{extra}"))
}

/// Infallible as written; as a task it still fails when it panics or is cancelled, so
/// clippy's `missing_errors_doc` rightly asks for this section.
///
/// # Errors
/// `Panicked` or `Cancelled`.
#[fallible_task]
pub async fn infallible() {}

/// Lifetimes.
///
/// # Errors
/// On empty input.
#[traced]
pub fn first_word(text: &str) -> Result<&str> {
    text.split_whitespace().next().ok_or_else(|| TaskError::new(Code::INVALID_ARGUMENT, "empty"))
}

/// Registered.
///
/// # Errors
/// Never.
#[fallible_task(group = "lints")]
pub async fn registered() -> Result<()> {
    Ok(())
}

#[tokio::test]
async fn annotated_code_works_and_compiles_clean() {
    let mut s = Service::default();
    assert_eq!(s.get(2).await.unwrap(), 2);
    assert_eq!(s.get(0).await.unwrap_err().code(), Code::NOT_FOUND);
    assert_eq!(s.put("ab".to_owned(), 1).await.unwrap(), 3);
    assert_eq!(s.bump().await.unwrap(), 1);
    assert_eq!(s.sync(3), 3);
    assert_eq!(show(1, 'x').await.unwrap(), "1x");
    infallible().await.unwrap();
    assert_eq!(first_word(" a b").unwrap(), "a");
    registered().await.unwrap();
}
