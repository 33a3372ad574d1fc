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
//! - [`group`]: fail-fast task groups ([`group::Group`]): ordered results, limits, deadlines,
//!   panics as errors, nested cancellation, no task outliving its group.
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
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
pub mod panic;
pub mod pool;
pub mod retry;
pub mod trace;

#[doc(hidden)]
pub mod __private;

pub use code::{Category, CategoryRow, Code, GrpcCode, Severity};
pub use error::{ClassifiedExt, Classify, ErrorKind, Result, ResultExt, TaskError};
pub use result_macros::{fallible_task, traced};
pub use spawn::spawn;
