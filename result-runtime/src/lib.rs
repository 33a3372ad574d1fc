//! # result-runtime
//!
//! Concurrent work for tokio services that fails fast, never loses a panic, carries a trace id
//! everywhere, and hands clients one consistent result shape.
//!
//! - [`Result`] / [`TaskError`]: one classified error, one pointer wide: [`ErrorKind`]
//!   (failed, panicked, cancelled, deadline), a [`Code`] with a stable name, category,
//!   retryability and severity, the task name, the trace id and the original chain.
//! - [`trace`]: W3C trace context, strict `traceparent` parsing, a task-local current context
//!   and [`spawn`], which carries it across `tokio::spawn`.
//! - [`context`]: cancellation with a cause, deadlines, [`context::Context::run`].
//! - [`mod@panic`]: panics become `Panicked` errors with message and location.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use result_runtime::{context::Context, trace::TraceContext, Code, ErrorKind, Result, TaskError};
//!
//! async fn fetch_price(sku: &str) -> Result<u64> {
//!     if sku.is_empty() {
//!         return Err(TaskError::new(Code::INVALID_ARGUMENT, "empty sku"));
//!     }
//!     Ok(42)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<()> {
//! let trace = TraceContext::new_root();
//! let ctx = Context::new().with_timeout(Duration::from_secs(2));
//! let price = trace.scope(ctx.run(fetch_price("sku-1"))).await?;
//! assert_eq!(price, 42);
//!
//! let err = ctx.run(fetch_price("")).await.unwrap_err();
//! assert_eq!(err.code().http_status(), 400);
//! assert_eq!(err.kind(), ErrorKind::Failed);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod code;
mod error;
mod spawn;

pub mod cache;
pub mod channel;
pub mod context;
pub mod group;
pub mod middleware;
pub mod panic;
pub mod pool;
pub mod retry;
pub mod trace;

#[doc(hidden)]
pub mod __private;

pub use code::{Category, CategoryRow, Code, GrpcCode, Severity};
pub use error::{ClassifiedExt, Classify, ErrorKind, Result, ResultExt, TaskError};
/// ```
/// use result_runtime::{fallible_task, Classify, Code, ErrorKind};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("sku {0} is sold out")]
/// struct SoldOut(u32);
/// impl Classify for SoldOut {
///     fn code(&self) -> Code { Code::FAILED_PRECONDITION }
/// }
///
/// /// Reserves one item.
/// #[fallible_task(timeout = "2s")]
/// async fn reserve(sku: u32) -> Result<u32, SoldOut> {
///     if sku == 0 {
///         return Err(SoldOut(sku));
///     }
///     Ok(sku)
/// }
///
/// #[fallible_task]
/// async fn explode() -> u8 {
///     panic!("boom")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(reserve(7).await.unwrap(), 7);
/// let err = reserve(0).await.unwrap_err();
/// assert_eq!(err.code(), Code::FAILED_PRECONDITION); // kept through the conversion
/// assert!(err.task().unwrap().ends_with("::reserve"));
/// assert_eq!(explode().await.unwrap_err().kind(), ErrorKind::Panicked);
/// # }
/// ```
#[doc(inline)]
pub use result_macros::fallible_task;
/// ```
/// use result_runtime::{traced, trace::TraceContext, Code, Result, TaskError};
///
/// #[traced(level = "debug", skip(password), err)]
/// async fn login(user: &str, password: &str) -> Result<TraceContext> {
///     if password.is_empty() {
///         return Err(TaskError::new(Code::UNAUTHENTICATED, "no password"));
///     }
///     Ok(TraceContext::current().unwrap())
/// }
///
/// #[traced]
/// fn checksum(data: &[u8]) -> u32 {
///     data.iter().map(|b| u32::from(*b)).sum()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let root = TraceContext::new_root();
/// let inside = root.scope(login("ann", "pw")).await.unwrap();
/// assert_eq!(inside.trace_id, root.trace_id); // a child span of the same trace
/// let err = root.scope(login("ann", "")).await.unwrap_err();
/// assert_eq!(err.trace_id(), Some(root.trace_id));
/// assert_eq!(checksum(&[1, 2]), 3);
/// # }
/// ```
#[doc(inline)]
pub use result_macros::traced;
pub use spawn::spawn;
