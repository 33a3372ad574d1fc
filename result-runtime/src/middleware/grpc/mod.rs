//! tonic: the server [`ResultLayer`], [`TaskError`](crate::TaskError) to [`tonic::Status`] and back.
//!
//! Handlers keep tonic's signature and write their logic against [`crate::Result`]; `?`
//! turns a [`TaskError`](crate::TaskError) into a `Status` through the code table, with the client-safe
//! message ([`TaskError::client_message`](crate::TaskError::client_message)) and the trace id in `x-trace-id`:
//!
//! ```
//! use result_runtime::{Code, Result, TaskError};
//! use tonic::{Request, Response, Status};
//!
//! async fn find(sku: &str) -> Result<u32> {
//!     Err(TaskError::new(Code::NOT_FOUND, format!("no sku {sku}")))
//! }
//!
//! // The body of a tonic handler:
//! async fn get_stock(req: Request<String>) -> std::result::Result<Response<u32>, Status> {
//!     let stock = find(req.get_ref()).await?; // TaskError -> Status
//!     Ok(Response::new(stock))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let status = get_stock(Request::new("x".into())).await.unwrap_err();
//! assert_eq!(status.code(), tonic::Code::NotFound);
//! assert_eq!(status.message(), "no sku x");
//! # }
//! ```
//!
//! Serve with `Server::builder().layer(ResultLayer::new())`: every service of the server
//! then gets trace context, the deadline, panic recovery, response headers, metrics and logs
//! (see [the module above](super)).
//!
//! **One server setting the layer cannot make for you.** When a server stalls (a GC pause, a
//! saturated runtime, a SIGSTOP) longer than its callers' deadlines, every caller resets its
//! pending streams at once. h2 allows only 20 streams per connection to be reset by the
//! client before the server accepted them (`max_pending_accept_reset_streams`); past that it
//! takes the burst for an attack and drops the whole connection, so every other call on it
//! fails too, as `INTERNAL` at the caller. A server whose callers send deadlines should raise
//! the limit (the examples use 1,000, which still bounds the work a reset flood can cause):
//!
//! ```no_run
//! let server = tonic::transport::Server::builder()
//!     .http2_max_pending_accept_reset_streams(Some(1_000))
//!     .layer(result_runtime::middleware::grpc::ResultLayer::new());
//! # drop(server);
//! ```
//!
//! On the client side, [`StatusExt::into_task_error`] and [`GrpcResultExt::into_result`]
//! turn a received `Status` back into a `TaskError` with the same code
//! ([`Code::from_grpc`](crate::Code::from_grpc)), so retryability survives the hop.

mod body;
mod details;
mod layer;
mod status;

pub use body::{ResultBody, WatchBody};
pub use details::ERROR_DOMAIN;
pub use layer::{ResultFuture, ResultLayer, ResultService, DEFAULT_MAX_DEADLINE};
pub use status::{grpc_code, task_error_of, GrpcResultExt, StatusExt};
