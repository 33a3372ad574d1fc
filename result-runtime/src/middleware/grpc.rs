//! tonic: the server [`ResultLayer`], [`TaskError`] to [`tonic::Status`] and back.
//!
//! Handlers keep tonic's signature and write their logic against [`crate::Result`]; `?`
//! turns a [`TaskError`] into a `Status` through the code table, with the client-safe
//! message ([`TaskError::client_message`]) and the trace id in `x-trace-id`:
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
//! On the client side, [`StatusExt::into_task_error`] and [`GrpcResultExt::into_result`]
//! turn a received `Status` back into a `TaskError` with the same code
//! ([`Code::from_grpc`]), so retryability survives the hop.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::Instant;

use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;
use tracing::instrument::Instrumented;
use tracing::Instrument;

use super::server::{trace_from_headers, Call};
use super::{parse_grpc_timeout, wire_code, GRPC_DURATION, GRPC_REQUESTS, GRPC_TIMEOUT, X_TRACE_ID};
use crate::context::{Context, Run};
use crate::panic::CatchUnwind;
use crate::trace::{TraceContext, TraceId};
use crate::{Code, Result, TaskError};

/// The `tonic::Code` for a runtime code, through the code table.
#[must_use]
pub fn grpc_code(code: Code) -> tonic::Code {
    tonic::Code::from_i32(code.grpc().as_i32())
}

/// Carries the full [`TaskError`] inside a `Status` (as its `source`) from the handler to the
/// server layer, which logs it. tonic never puts a source on the wire.
struct Carried(TaskError);

impl fmt::Debug for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for Carried {}

/// The status a client sees: code from the table, the client-safe message, `x-trace-id`
/// (the error's trace, else the current one). The whole error stays attached as the
/// status's source for the server's log; tonic never sends it.
impl From<TaskError> for Status {
    fn from(error: TaskError) -> Self {
        let mut metadata = MetadataMap::new();
        if let Some(id) = error.trace_id().or_else(TraceContext::current_trace_id) {
            let value = MetadataValue::try_from(id.to_string()).expect("hex is ASCII");
            metadata.insert(X_TRACE_ID, value);
        }
        let mut status =
            Self::with_metadata(grpc_code(error.code()), error.client_message(), metadata);
        status.set_source(Arc::new(Carried(error)));
        status
    }
}

/// The [`TaskError`] a handler returned, when this status was made from one in this process.
#[must_use]
pub fn task_error_of(status: &Status) -> Option<&TaskError> {
    status.source()?.downcast_ref::<Carried>().map(|c| &c.0)
}

/// Turns a received [`Status`] into a [`TaskError`].
pub trait StatusExt {
    /// The same failure as a `TaskError`: the code from [`Code::from_grpc`], the trace id from
    /// `x-trace-id`.
    ///
    /// tonic's own client-side timeout (CANCELLED "Timeout expired") becomes
    /// `DEADLINE_EXCEEDED`.
    ///
    /// A status sent by a remote server keeps its message as client-safe (the server chose
    /// it). A status tonic made locally (a transport error: it has a `source`) is kept as
    /// the source, and clients further up see only the code's safe message, not socket
    /// addresses.
    ///
    /// ```
    /// use result_runtime::middleware::grpc::StatusExt;
    /// use result_runtime::Code;
    ///
    /// let e = tonic::Status::unavailable("inventory draining").into_task_error();
    /// assert_eq!(e.code(), Code::UNAVAILABLE);
    /// assert!(e.is_retryable());
    /// assert_eq!(e.client_message(), "inventory draining");
    /// ```
    fn into_task_error(self) -> TaskError;
}

impl StatusExt for Status {
    fn into_task_error(self) -> TaskError {
        if let Some(e) = task_error_of(&self) {
            return e.clone();
        }
        let mut code = Code::from_grpc(self.code() as i32);
        // tonic's client enforces `grpc-timeout` itself and reports its own expiry as
        // CANCELLED "Timeout expired"; for the caller that is a passed deadline.
        if local_timeout(&self) {
            code = Code::DEADLINE_EXCEEDED;
        }
        let trace_id = self
            .metadata()
            .get(X_TRACE_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<TraceId>().ok());
        let error = if self.source().is_some() {
            TaskError::from_error(self).with_code(code)
        } else {
            TaskError::new(code, self.message().to_owned())
        };
        error.or_trace_id(trace_id)
    }
}

fn local_timeout(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(e) = source {
        if e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Turns a tonic client call's result into a [`crate::Result`].
pub trait GrpcResultExt<T> {
    /// The response's message, or the status as a `TaskError` ([`StatusExt::into_task_error`]).
    ///
    /// # Errors
    /// The call's status, converted.
    fn into_result(self) -> Result<T>;
}

impl<T> GrpcResultExt<T> for std::result::Result<tonic::Response<T>, Status> {
    fn into_result(self) -> Result<T> {
        self.map(tonic::Response::into_inner).map_err(StatusExt::into_task_error)
    }
}

/// The tonic server layer. See [the module docs](super) for what it does per call.
///
/// ```no_run
/// # async fn serve<S>(svc: S) -> Result<(), Box<dyn std::error::Error>>
/// # where S: tower_service::Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>, Error = std::convert::Infallible>
/// #     + tonic::server::NamedService + Clone + Send + Sync + 'static, S::Future: Send + 'static {
/// use result_runtime::middleware::grpc::ResultLayer;
/// tonic::transport::Server::builder()
///     .layer(ResultLayer::new())
///     .add_service(svc)
///     .serve("127.0.0.1:50051".parse()?)
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ResultLayer {
    _private: (),
}

impl ResultLayer {
    /// The layer.
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl<S> Layer<S> for ResultLayer {
    type Service = ResultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResultService { inner }
    }
}

/// The service made by [`ResultLayer`].
#[derive(Clone, Debug)]
pub struct ResultService<S> {
    inner: S,
}

type Guarded<F> = Instrumented<TaskLocalFuture<TraceContext, Run<CatchUnwind<F>>>>;

impl<S, B, ResBody> Service<Request<B>> for ResultService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResultFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let trace = trace_from_headers(req.headers());
        let ctx = match req
            .headers()
            .get(GRPC_TIMEOUT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
        {
            Some(timeout) => Context::new().with_timeout(timeout),
            None => Context::new(),
        };
        let method = req.uri().path().to_owned();
        let span = tracing::info_span!(
            "grpc",
            method = %method,
            trace_id = %trace.trace_id,
            span_id = %trace.span_id,
            code = tracing::field::Empty,
        );
        // tonic's generated services only build the handler's future in `call`; it runs,
        // and may panic, when polled below, inside every guard.
        let inner = span.in_scope(|| trace.sync_scope(|| self.inner.call(req)));
        let fut = trace.scope(ctx.run(crate::panic::catch_unwind(inner))).instrument(span.clone());
        ResultFuture { fut, call: Some((Call { trace, start, span }, method)) }
    }
}

pin_project! {
    /// The future of [`ResultService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResultFuture<F> {
        #[pin]
        fut: Guarded<F>,
        call: Option<(Call, String)>,
    }
}

impl<F, ResBody, E> Future for ResultFuture<F>
where
    F: Future<Output = std::result::Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = std::result::Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.fut.poll(cx));
        let (call, method) = this.call.take().expect("polled after completion");
        let (mut response, code, error) = match out {
            Ok(Ok(response)) => {
                let (code, error) = outcome(&response);
                (response, code, error)
            }
            Ok(Err(e)) => {
                // A transport-level error from the inner service: tonic turns it into a
                // status; pass it on untouched.
                call.log(Some(Code::INTERNAL), None);
                record(method, "INTERNAL", &call);
                return Poll::Ready(Err(e));
            }
            // A panic, the deadline or a cancellation: the handler never answered.
            Err(error) => {
                let error = error.or_trace_id(Some(call.trace.trace_id));
                let response = Status::from(error.clone()).into_http();
                (response, Some(error.code()), Some(error))
            }
        };
        call.stamp(response.headers_mut());
        call.log(code, error.as_ref());
        record(method, code.map_or("OK", |c| wire_code(c).name()), &call);
        Poll::Ready(Ok(response))
    }
}

/// The code of a response and the error behind it: trailers-only error responses carry
/// `grpc-status` in the headers and the `Status` in the extensions; a response without it
/// is a success (its status comes in the trailers).
fn outcome<B>(response: &Response<B>) -> (Option<Code>, Option<TaskError>) {
    if let Some(status) = response.extensions().get::<Status>() {
        if let Some(e) = task_error_of(status) {
            return (Some(e.code()), Some(e.clone()));
        }
    }
    let Some(status) = response.headers().get("grpc-status") else { return (None, None) };
    match status.to_str().ok().and_then(|s| s.parse::<i32>().ok()) {
        Some(0) => (None, None),
        Some(n) => (Some(Code::from_grpc(n)), None),
        None => (Some(Code::INTERNAL), None),
    }
}

fn record(method: String, code: &'static str, call: &Call) {
    let elapsed = call.start.elapsed();
    metrics::histogram!(GRPC_DURATION, "method" => method.clone()).record(elapsed.as_secs_f64());
    metrics::counter!(GRPC_REQUESTS, "method" => method, "code" => code).increment(1);
}
