//! # result-runtime
//!
//! Concurrent work for tokio services that fails fast, never loses a panic, carries a trace id
//! everywhere, and hands clients one consistent result shape.
//!
//! | part | what it gives you |
//! |---|---|
//! | [`Result`] / [`TaskError`] | one classified error, one pointer wide: [`ErrorKind`] (failed, panicked, cancelled, deadline), a [`Code`] with a stable name, [`Category`], retryability and [`Severity`], mapped to gRPC and HTTP statuses in one table; the task name, the trace id and the original error chain |
//! | [`fallible_task`], [`traced`] | attribute macros: panics become errors, the ambient context can cancel the call, a failure cancels the ambient group, errors carry task name and trace id; `timeout`, `retry`, `group` options; spans with `trace_id`/`span_id` |
//! | [`trace`] | W3C trace context: strict `traceparent` parsing, a task-local current context, and [`spawn`], which carries it across `tokio::spawn` |
//! | [`context`] | cancellation with a cause, deadlines, children, [`context::Context::run`] |
//! | [`group`] | fail-fast task groups: results in order, limits, deadlines, collect-all, nested cancellation, registered groups, no task outliving its group |
//! | [`channel`] | bounded MPMC result channels with backpressure, cancel-safe send and receive, per-item trace context, fail-fast mode, collectors |
//! | [`cache`] | a result cache: single-flight loads, TTL, negative caching of non-retryable errors, refresh-ahead, and a consistent-hash [`cache::HashRing`] |
//! | [`pool`] | an object pool that resets on return, bounded, per-thread fast path |
//! | [`retry`] | retry driven by the error's classification, exponential backoff with jitter, an optional retry budget |
//! | [`breaker`] | circuit breakers that count failures by class (a burst of `NOT_FOUND` never opens one), retry budgets, a registry of named ones, a tower layer |
//! | [`middleware`] | tower layers for tonic and axum (features `grpc`, `http`): trace extraction and injection, deadlines, panic recovery, one response shape, metrics |
//! | [`mod@panic`] | panic capture: message, location and backtrace, without printing captured panics |
//!
//! Features: `grpc` (tonic layers), `http` (axum layers and the JSON envelope), `otel`
//! (OpenTelemetry bridge), `redis` (the result cache's shared tier on Redis nodes,
//! `cache::remote`); all off by default, so a user of groups and macros compiles
//! neither tonic nor axum.
//!
//! What is built on other crates, and what is written here: groups spawn tokio tasks,
//! collect their outcomes through a `concurrent-queue` queue and cancel through tokio-util's
//! `CancellationToken`; the cache stores in `quick_cache`; the registry of named groups is
//! `inventory`. Written here, because it is the product: the error type and its code table,
//! the W3C parser, the fail-fast and ordering logic, the channel's queue (its guarantees
//! need items and waiters under one lock), single-flight with negative caching, the pool's
//! per-thread slots, the rendezvous hash ring, and the middleware.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use result_runtime::{fallible_task, group::Group, trace::TraceContext, Code, Result, TaskError};
//!
//! #[fallible_task(timeout = "2s")]
//! async fn fetch_price(sku: String) -> Result<u64> {
//!     if sku.is_empty() {
//!         return Err(TaskError::new(Code::INVALID_ARGUMENT, "empty sku"));
//!     }
//!     Ok(42)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<()> {
//! let trace = TraceContext::new_root();
//! let prices = trace
//!     .scope(async {
//!         let g = Group::builder().limit(8).timeout(Duration::from_secs(5)).build()?;
//!         for sku in ["a", "b"] {
//!             g.spawn(fetch_price(sku.to_owned()));
//!         }
//!         g.join().await
//!     })
//!     .await?;
//! assert_eq!(prices, [42, 42]);
//!
//! // The first failure wins, carries its task name and the trace id, and maps to one code.
//! let err = trace.scope(fetch_price(String::new())).await.unwrap_err();
//! assert_eq!(err.code().http_status(), 400);
//! assert_eq!(err.trace_id(), Some(trace.trace_id));
//! assert!(err.task().unwrap().ends_with("fetch_price"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod code;
mod config;
mod error;
#[cfg(all(test, feature = "metrics"))]
mod recorded;
mod spawn;
mod sync;
mod task;

pub mod breaker;
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

/// The README's examples compile.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use code::{Category, CategoryRow, Code, GrpcCode, Severity};
pub use config::ConfigError;
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
