//! axum: the server [`ResultLayer`], the [`Reply`] response and the JSON [`Envelope`].
//!
//! A handler's logic returns [`crate::Result<T>`]; wrapping it in [`Reply`] answers with
//! one shape for success and failure:
//!
//! ```json
//! {"code":"OK","message":"ok","data":{"total":42},"trace_id":"4bf9…","duration_ms":1.7}
//! {"code":"NOT_FOUND","message":"no sku x","data":null,"trace_id":"4bf9…","duration_ms":0.4}
//! ```
//!
//! The HTTP status comes from the code table ([`Code::http_status`]); the message is
//! [`TaskError::client_message`], never an internal message or a panic payload.
//!
//! ```
//! use axum::{routing::get, Router};
//! use result_runtime::middleware::http::{Reply, ResultLayer};
//! use result_runtime::{Code, Result, TaskError};
//!
//! async fn stock(sku: &str) -> Result<u32> {
//!     if sku == "x" { Err(TaskError::new(Code::NOT_FOUND, "no sku x")) } else { Ok(7) }
//! }
//!
//! let app: Router = Router::new()
//!     .route("/stock/{sku}", get(|axum::extract::Path(sku): axum::extract::Path<String>| async move {
//!         Reply::from(stock(&sku).await)
//!     }))
//!     .layer(ResultLayer::new());
//! ```
//!
//! [`ResultLayer`] adds trace context from `traceparent`, panic recovery (a panicking handler
//! answers `500` with code `INTERNAL` and the trace id), a deadline (30 s unless set), an
//! optional body limit, the
//! `traceparent`/`x-trace-id` response headers, metrics and one span per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::trace::TraceScope;
use ::http::{Request, StatusCode};
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::task::futures::TaskLocalFuture;
use tower_layer::Layer;
use tower_service::Service;
use tracing::instrument::Instrumented;
use tracing::Instrument;

use super::meter::{Meter, Side};

/// The `route` label of a request no route matched (no axum `MatchedPath`): a raw path is
/// made up by the client and would make the label set unbounded.
const UNROUTED: &str = "unknown";
use super::server::{extract, Call};
use super::span::Answer;
use crate::context::{Context, Run};
use crate::panic::CatchUnwind;
use crate::trace::{TraceContext, TraceId};
use crate::{Code, Result, TaskError};

tokio::task_local! {
    /// When the current request started, for the envelope's `duration_ms`.
    static STARTED: Instant;
}

/// The response body of every [`Reply`]: `{code, message, data, trace_id, duration_ms}`.
///
/// `code` is `"OK"` or a [`Code`] name (a panic shows as `INTERNAL`); `data` is `null` on
/// failure; `trace_id` is the request's trace; `duration_ms` is the time since the
/// [`ResultLayer`] received the request (`0` without the layer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// `"OK"` or the stable name of the failure's code.
    pub code: String,
    /// `"ok"` or the client-safe message.
    pub message: String,
    /// The result on success, `null` on failure.
    pub data: Option<T>,
    /// The trace id of the request, when it ran in one.
    pub trace_id: Option<String>,
    /// Milliseconds from the request's arrival to the answer.
    pub duration_ms: f64,
}

impl<T: DeserializeOwned> Envelope<T> {
    /// The result this envelope carries, for clients: a failure becomes a [`TaskError`] with
    /// the built-in code of that name (else the code of `http_status`), the message and the
    /// trace id.
    ///
    /// # Errors
    /// The failure the envelope describes, or `INTERNAL` for an `OK` envelope without data.
    ///
    /// ```
    /// use result_runtime::middleware::http::Envelope;
    /// use result_runtime::Code;
    /// let env: Envelope<u32> = serde_json::from_str(
    ///     r#"{"code":"RATE_LIMITED","message":"slow down","data":null,"trace_id":null,"duration_ms":0.1}"#,
    /// ).unwrap();
    /// let err = env.into_result(429).unwrap_err();
    /// assert_eq!(err.code(), Code::RATE_LIMITED);
    /// assert!(err.is_retryable());
    /// ```
    pub fn into_result(self, http_status: u16) -> Result<T> {
        let trace_id = self.trace_id.as_deref().and_then(|t| t.parse::<TraceId>().ok());
        if self.code == "OK" {
            return match self.data {
                Some(data) => Ok(data),
                // `()` and other unit-like data serialise as `null`.
                None => serde_json::from_value(serde_json::Value::Null)
                    .map_err(|e| TaskError::from_error(e).context("OK envelope without data")),
            };
        }
        let code = Code::from_name(&self.code).unwrap_or_else(|| Code::from_http(http_status));
        Err(TaskError::new(code, self.message).or_trace_id(trace_id))
    }
}

/// Reads a response written by a [`Reply`] (from any HTTP client) back into a result.
///
/// A `Retry-After` header (in seconds) becomes the error's
/// [`retry_after`](TaskError::retry_after).
///
/// # Errors
/// The envelope's failure; `UNAVAILABLE` when the body cannot be read; for a body that is
/// not an envelope, the code of the HTTP status (`INTERNAL` for a 2xx).
pub async fn read_reply<T, B>(response: ::http::Response<B>) -> Result<T>
where
    T: DeserializeOwned,
    B: http_body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let with_delay = |e: TaskError| match retry_after {
        Some(delay) => e.with_retry_after(delay),
        None => e,
    };
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| TaskError::from_error(e).with_code(Code::UNAVAILABLE))?
        .to_bytes();
    match serde_json::from_slice::<Envelope<T>>(&bytes) {
        Ok(envelope) => envelope.into_result(status).map_err(with_delay),
        Err(e) => Err(with_delay(
            TaskError::from_error(e)
                .with_code(if status < 300 { Code::INTERNAL } else { Code::from_http(status) })
                .context(format!("HTTP {status}: not a result envelope")),
        )),
    }
}

/// A handler's answer: a [`crate::Result`] rendered as an [`Envelope`] with the status of its
/// code.
///
/// ```
/// use axum::response::IntoResponse;
/// use result_runtime::middleware::http::Reply;
/// use result_runtime::{Code, TaskError};
///
/// let ok = Reply::from(Ok::<_, TaskError>(5)).into_response();
/// assert_eq!(ok.status(), 200);
/// let err = Reply::<u32>::from(Err(TaskError::new(Code::INVALID_ARGUMENT, "qty must be > 0")));
/// assert_eq!(err.into_response().status(), 400);
/// ```
#[derive(Debug)]
pub struct Reply<T>(pub Result<T>);

impl<T> From<Result<T>> for Reply<T> {
    fn from(result: Result<T>) -> Self {
        Self(result)
    }
}

/// What a [`Reply`] leaves in the response's extensions for the layer to log.
#[derive(Clone)]
struct Outcome {
    code: Option<Code>,
    error: Option<TaskError>,
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(data) => {
                let envelope = Envelope {
                    code: "OK".to_owned(),
                    message: "ok".to_owned(),
                    data: Some(data),
                    trace_id: TraceContext::current_trace_id().map(|t| t.to_string()),
                    duration_ms: elapsed_ms(),
                };
                match serde_json::to_vec(&envelope) {
                    Ok(body) => {
                        json_response(StatusCode::OK, body, Outcome { code: None, error: None })
                    }
                    Err(e) => {
                        error_response(TaskError::from_error(e).context("serialising the response"))
                    }
                }
            }
            Err(error) => error_response(error),
        }
    }
}

/// A `TaskError` answers with its failure envelope, so handlers may also return
/// `Result<Reply<T>, TaskError>` or use `?` on it.
impl IntoResponse for TaskError {
    fn into_response(self) -> Response {
        error_response(self)
    }
}

fn elapsed_ms() -> f64 {
    STARTED.try_with(|s| s.elapsed().as_secs_f64() * 1e3).unwrap_or(0.0)
}

fn error_response(error: TaskError) -> Response {
    let error = error.or_trace_id(TraceContext::current_trace_id());
    let code = error.code();
    let envelope = Envelope::<()> {
        code: code.wire_name().to_owned(),
        message: error.client_message().to_owned(),
        data: None,
        trace_id: error.trace_id().map(|t| t.to_string()),
        duration_ms: elapsed_ms(),
    };
    let body = serde_json::to_vec(&envelope).expect("an error envelope always serialises");
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry_after = error.retry_after();
    let mut response =
        json_response(status, body, Outcome { code: Some(error.code()), error: Some(error) });
    if let Some(delay) = retry_after {
        // HTTP's Retry-After counts whole seconds: round up, never tell a client "now".
        let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        response.headers_mut().insert(::http::header::RETRY_AFTER, secs.max(1).into());
    }
    response
}

fn json_response(status: StatusCode, body: Vec<u8>, outcome: Outcome) -> Response {
    let mut response = (
        status,
        [(::http::header::CONTENT_TYPE, ::http::HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    response.extensions_mut().insert(outcome);
    response
}

/// The axum server layer. See [the module docs](super) for what it does per request.
///
/// Apply it with `Router::layer` (every request, `route` label = the path) or
/// `Router::route_layer` (matched routes only, `route` label = the route pattern, which
/// keeps the metrics' cardinality low). With `Router::layer`, the router's own answers
/// (404 for no route, 405 for a wrong method) and every extractor rejection (413, 415, 422)
/// become envelopes too: a client sees one shape whatever refused it.
#[derive(Clone, Copy, Debug)]
pub struct ResultLayer {
    max_deadline: Duration,
    body_limit: Option<usize>,
}

/// The deadline of every request unless [`ResultLayer::max_deadline`] sets another.
pub const DEFAULT_MAX_DEADLINE: Duration = Duration::from_secs(30);

impl Default for ResultLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ResultLayer {
    /// The layer, with the [`DEFAULT_MAX_DEADLINE`] of 30 s and no body limit of its own
    /// (axum's extractors keep their default of 2 MB).
    #[must_use]
    pub const fn new() -> Self {
        Self { max_deadline: DEFAULT_MAX_DEADLINE, body_limit: None }
    }

    /// Gives every request this deadline: the ambient [`Context`] ends after it, the handler
    /// is dropped and the client gets `504 DEADLINE_EXCEEDED`. The deadline travels on as
    /// `grpc-timeout` through [`ClientLayer`](super::ClientLayer).
    ///
    /// # Panics
    /// When `max_deadline` is zero, with [`ConfigError`](crate::ConfigError)'s message.
    #[must_use]
    pub fn max_deadline(mut self, max_deadline: Duration) -> Self {
        assert!(!max_deadline.is_zero(), "{}", crate::ConfigError::zero("max_deadline"));
        self.max_deadline = max_deadline;
        self
    }

    /// Refuses request bodies over `bytes` with `413` in the envelope: at once when the
    /// `content-length` says so (the handler never runs), else when a body extractor reads
    /// past the limit.
    ///
    /// # Panics
    /// When `bytes` is zero, with [`ConfigError`](crate::ConfigError)'s message.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        assert!(bytes > 0, "{}", crate::ConfigError::zero("body_limit"));
        self.body_limit = Some(bytes);
        self
    }
}

impl<S> Layer<S> for ResultLayer {
    type Service = ResultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResultService { inner, layer: *self }
    }
}

/// The service made by [`ResultLayer`].
#[derive(Clone, Debug)]
pub struct ResultService<S> {
    inner: S,
    layer: ResultLayer,
}

type Guarded<F> = Instrumented<TraceScope<Run<CatchUnwind<TaskLocalFuture<Instant, F>>>>>;

impl<S> Service<Request<Body>> for ResultService<S>
where
    S: Service<Request<Body>>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResultFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let start = Instant::now();
        let (trace, caller) = extract(req.headers());
        let ctx = Context::root_with_deadline(start + self.layer.max_deadline);
        let method = req.method().as_str().to_owned();
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| UNROUTED.to_owned(), |p| p.as_str().to_owned());
        let span = crate::middleware::span::server_http(&method, &route, &trace, caller);
        let call = Call::new(trace.clone(), start, span);
        let meter = Meter::http(Side::HttpServer, &method, "route", &route);
        let req = match self.layer.body_limit {
            Some(limit) if content_length(&req).is_some_and(|n| n > limit) => {
                let error = TaskError::new(
                    Code::from_http(413),
                    format!("the request body is over the limit of {limit} bytes"),
                )
                .with_trace_id(trace.trace_id);
                return ResultFuture {
                    state: State::Refused { error: Some(error) },
                    call: Some((call, route, meter)),
                };
            }
            Some(limit) => req.map(|body| Body::new(http_body_util::Limited::new(body, limit))),
            None => req,
        };
        let inner = call.span.in_scope(|| trace.sync_scope(|| self.inner.call(req)));
        let fut = trace
            .scope(ctx.run(crate::panic::catch_unwind(STARTED.scope(start, inner))))
            .instrument(call.span.clone());
        ResultFuture { state: State::Run { fut }, call: Some((call, route, meter)) }
    }
}

fn content_length<B>(req: &Request<B>) -> Option<usize> {
    req.headers().get(::http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

pin_project! {
    /// The future of [`ResultService`].
    ///
    /// Dropped before it finished (the client disconnected), the request is logged once at
    /// info and counted with code `CANCELLED`.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResultFuture<F> {
        #[pin]
        state: State<F>,
        call: Option<(Call, String, Meter)>,
    }

    impl<F> PinnedDrop for ResultFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some((call, route, meter)) = this.project().call.take() {
                finish(&call, &route, meter, Some(Code::CANCELLED), None, 499);
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Run { #[pin] fut: Guarded<F> },
        // Refused before the handler ran (a body over the limit).
        Refused { error: Option<TaskError> },
    }
}

impl<F, R, E> Future for ResultFuture<F>
where
    F: Future<Output = std::result::Result<R, E>>,
    R: IntoResponse,
{
    type Output = std::result::Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (out, refused) = match this.state.project() {
            StateProj::Run { fut } => (std::task::ready!(fut.poll(cx)), false),
            StateProj::Refused { error } => {
                (Err(error.take().expect("polled after completion")), true)
            }
        };
        let (call, route, meter) = this.call.take().expect("polled after completion");
        let mut response = match out {
            Ok(Ok(response)) => response.into_response(),
            Ok(Err(e)) => {
                finish(&call, &route, meter, Some(Code::INTERNAL), None, 500);
                return Poll::Ready(Err(e));
            }
            // A panic, the deadline or a refusal: the handler never answered. Answer for it,
            // in its trace and with its start time.
            Err(error) => {
                let error = error.or_trace_id(Some(call.trace.trace_id));
                let mut response = STARTED.sync_scope(call.start, || error_response(error));
                if refused {
                    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                }
                response
            }
        };
        let (code, error) = match response.extensions_mut().remove::<Outcome>() {
            Some(o) => (o.code, o.error),
            None if response.status().is_success() || response.status().is_redirection() => {
                (None, None)
            }
            // An answer that is not an envelope (the router's 404 or 405, an extractor's
            // rejection, a plain error response): the client still gets the one shape, with
            // the status (and headers, such as `Allow`) it had.
            None => {
                let status = response.status();
                let code = Code::from_http(status.as_u16());
                let reason = status.canonical_reason().unwrap_or("error").to_ascii_lowercase();
                let error = TaskError::new(code, reason).with_trace_id(call.trace.trace_id);
                let mut envelope = STARTED.sync_scope(call.start, || error_response(error));
                *envelope.status_mut() = status;
                let (parts, _) = response.into_parts();
                for (name, value) in &parts.headers {
                    if name != ::http::header::CONTENT_TYPE
                        && name != ::http::header::CONTENT_LENGTH
                    {
                        envelope.headers_mut().insert(name, value.clone());
                    }
                }
                let outcome = envelope.extensions_mut().remove::<Outcome>();
                response = envelope;
                outcome.map_or((Some(code), None), |o| (o.code, o.error))
            }
        };
        call.stamp(response.headers_mut());
        finish(&call, &route, meter, code, error.as_ref(), response.status().as_u16());
        Poll::Ready(Ok(response))
    }
}

/// Logs the request's end and records it, with one reading of the clock for both. Metrics
/// are the operator's: they keep `PANICKED` apart from `INTERNAL`.
fn finish(
    call: &Call,
    route: &str,
    meter: Meter,
    code: Option<Code>,
    error: Option<&TaskError>,
    status: u16,
) {
    let elapsed = call.start.elapsed();
    call.log(route, code, error, Answer::Http(status), elapsed);
    meter.finish(code.map_or("OK", |c| c.name()), Some(status), elapsed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::{TRACEPARENT, X_TRACE_ID};
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn app(layer: ResultLayer) -> Router {
        Router::new()
            .route("/ok", get(|| async { Reply::from(Ok::<_, TaskError>(vec![1, 2])) }))
            .route(
                "/trace",
                get(|| async {
                    let tc = TraceContext::current().unwrap();
                    assert!(Context::current().is_some(), "an ambient context");
                    Reply(Ok::<_, TaskError>(tc.to_string()))
                }),
            )
            .route("/unit", get(|| async { Reply::from(Ok::<_, TaskError>(())) }))
            .route(
                "/missing",
                get(|| async { Reply::<u8>(Err(TaskError::new(Code::NOT_FOUND, "no sku 9"))) }),
            )
            .route(
                "/storage",
                get(|| async {
                    let io = std::io::Error::other("disk /dev/sda1 on fire");
                    Reply::<u8>(Err(TaskError::from_error(io).with_code(Code::STORAGE)))
                }),
            )
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("password=hunter2");
                    }
                    Reply(Ok::<_, TaskError>(0))
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Reply(Ok::<_, TaskError>(0))
                }),
            )
            .route(
                "/echo",
                axum::routing::post(|body: axum::body::Bytes| async move {
                    Reply(Ok::<_, TaskError>(body.len()))
                }),
            )
            .layer(layer)
    }

    async fn send(
        layer: ResultLayer,
        req: Request<Body>,
    ) -> (u16, ::http::HeaderMap, Envelope<serde_json::Value>) {
        let response = app(layer).oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let envelope = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("not an envelope ({e}): {}", String::from_utf8_lossy(&bytes))
        });
        (status, headers, envelope)
    }

    #[tokio::test]
    async fn the_routers_own_answers_are_envelopes_too() {
        let req =
            Request::get("/no/such/route").header(TRACEPARENT, PARENT).body(Body::empty()).unwrap();
        let (status, headers, env) = send(ResultLayer::new(), req).await;
        assert_eq!(
            (status, env.code.as_str(), env.message.as_str()),
            (404, "NOT_FOUND", "not found")
        );
        assert_eq!(env.trace_id.as_deref(), Some(TRACE));
        assert_eq!(headers[X_TRACE_ID], TRACE);

        let req = Request::delete("/ok").body(Body::empty()).unwrap();
        let (status, headers, env) = send(ResultLayer::new(), req).await;
        assert_eq!((status, env.code.as_str()), (405, "INVALID_ARGUMENT"));
        assert_eq!(headers[::http::header::CONTENT_TYPE], "application/json");
        assert!(headers.contains_key(::http::header::ALLOW), "405 keeps its Allow header");
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused_with_413_in_the_envelope() {
        let layer = ResultLayer::new().body_limit(8);
        // Announced by content-length: refused before the handler.
        let req = Request::post("/echo")
            .header(::http::header::CONTENT_LENGTH, "10")
            .body(Body::from("0123456789"))
            .unwrap();
        let (status, _, env) = send(layer, req).await;
        assert_eq!((status, env.code.as_str()), (413, "INVALID_ARGUMENT"));
        assert!(env.message.contains("limit of 8 bytes"), "{}", env.message);
        // Streamed without a length: the extractor hits the limit.
        let chunks = futures_util::stream::iter(
            ["0123", "4567", "89"].map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c))),
        );
        let req = Request::post("/echo").body(Body::from_stream(chunks)).unwrap();
        let (status, _, env) = send(layer, req).await;
        assert_eq!((status, env.code.as_str()), (413, "INVALID_ARGUMENT"));
        // Within the limit: answered.
        let req = Request::post("/echo").body(Body::from("01234567")).unwrap();
        let (status, _, env) = send(layer, req).await;
        assert_eq!((status, env.data), (200, Some(serde_json::json!(8))));
    }

    #[tokio::test]
    #[should_panic(expected = "invalid setting `body_limit`")]
    async fn a_zero_body_limit_is_refused() {
        let _ = ResultLayer::new().body_limit(0);
    }

    #[test]
    fn a_request_dropped_mid_handler_is_counted_as_cancelled() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                let req = Request::get("/slow").body(Body::empty()).unwrap();
                let mut fut = std::pin::pin!(app(ResultLayer::new()).oneshot(req));
                assert!(futures_util::poll!(fut.as_mut()).is_pending());
            });
        });
        let counted: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => Some((
                    key.key().labels().find(|l| l.key() == "code").unwrap().value().to_owned(),
                    n,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(counted, [("CANCELLED".to_owned(), 1)]);
    }

    #[test]
    fn the_route_label_is_the_matched_route_and_unrouted_paths_are_unknown() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                // A routed handler's own NOT_FOUND, and a path the client made up.
                for path in ["/missing", "/no-such-route/42"] {
                    let req = Request::get(path).body(Body::empty()).unwrap();
                    let _ = app(ResultLayer::new()).oneshot(req).await.unwrap();
                }
            });
        });
        let mut counted: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n)
                    if key.key().name() == crate::middleware::HTTP_SERVER_REQUESTS =>
                {
                    let label = |k: &str| {
                        key.key().labels().find(|l| l.key() == k).unwrap().value().to_owned()
                    };
                    Some((label("route"), label("code"), n))
                }
                _ => None,
            })
            .collect();
        counted.sort();
        assert_eq!(
            counted,
            [
                ("/missing".to_owned(), "NOT_FOUND".to_owned(), 1),
                ("unknown".to_owned(), "NOT_FOUND".to_owned(), 1),
            ]
        );
    }

    async fn get_path<T: DeserializeOwned>(
        layer: ResultLayer,
        path: &str,
    ) -> (u16, ::http::HeaderMap, Envelope<T>) {
        let req = Request::get(path).header(TRACEPARENT, PARENT).body(Body::empty()).unwrap();
        let response = app(layer).oneshot(req).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let envelope = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&bytes)));
        (status, headers, envelope)
    }

    #[tokio::test]
    async fn success_answers_the_envelope_with_trace_headers() {
        let (status, headers, env) = get_path::<Vec<u8>>(ResultLayer::new(), "/ok").await;
        assert_eq!(status, 200);
        assert_eq!((env.code.as_str(), env.message.as_str()), ("OK", "ok"));
        assert_eq!(env.data, Some(vec![1, 2]));
        assert_eq!(env.trace_id.as_deref(), Some(TRACE));
        assert!(env.duration_ms >= 0.0);
        assert_eq!(headers[X_TRACE_ID], TRACE);
        let back: TraceContext = headers[TRACEPARENT].to_str().unwrap().parse().unwrap();
        assert_eq!(back.trace_id.to_string(), TRACE);

        let (_, headers, env) = get_path::<String>(ResultLayer::new(), "/trace").await;
        assert_eq!(env.data.as_deref(), headers[TRACEPARENT].to_str().ok(), "handler's span");

        let (status, _, env) = get_path::<()>(ResultLayer::new(), "/unit").await;
        assert_eq!(status, 200);
        env.into_result(status).expect("a null `data` is `()`");
    }

    #[tokio::test]
    async fn failures_take_status_and_message_from_the_table() {
        let (status, headers, env) = get_path::<u8>(ResultLayer::new(), "/missing").await;
        assert_eq!(status, 404);
        assert_eq!((env.code.as_str(), env.message.as_str()), ("NOT_FOUND", "no sku 9"));
        assert_eq!(env.data, None);
        assert_eq!(env.trace_id.as_deref(), Some(TRACE));
        assert_eq!(headers[X_TRACE_ID], TRACE);
        let e = env.into_result(status).unwrap_err();
        assert_eq!(e.code(), Code::NOT_FOUND);
        assert_eq!(e.trace_id().unwrap().to_string(), TRACE);

        let (status, _, env) = get_path::<u8>(ResultLayer::new(), "/storage").await;
        assert_eq!(status, 503);
        assert_eq!((env.code.as_str(), env.message.as_str()), ("STORAGE", "storage unavailable"));
    }

    #[tokio::test]
    async fn a_panic_answers_internal_without_the_payload() {
        let req = Request::get("/panic").header(TRACEPARENT, PARENT).body(Body::empty()).unwrap();
        let response = app(ResultLayer::new()).oneshot(req).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[X_TRACE_ID], TRACE);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let env: Envelope<u8> = serde_json::from_str(&text).unwrap();
        assert_eq!((env.code.as_str(), env.message.as_str()), ("INTERNAL", "internal error"));
        assert_eq!(env.trace_id.as_deref(), Some(TRACE));
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_deadline_ends_the_handler() {
        let layer = ResultLayer::new().max_deadline(Duration::from_millis(100));
        let (status, headers, env) = get_path::<u8>(layer, "/slow").await;
        assert_eq!(status, 504);
        assert_eq!(env.code, "DEADLINE_EXCEEDED");
        assert_eq!(headers[X_TRACE_ID], TRACE);
        assert!(env.duration_ms >= 100.0, "measured from the request's arrival");
    }

    #[tokio::test]
    async fn responses_that_are_not_replies_are_still_stamped() {
        let req = Request::get("/nowhere").header(TRACEPARENT, PARENT).body(Body::empty()).unwrap();
        let response = app(ResultLayer::new()).oneshot(req).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[X_TRACE_ID], TRACE);
    }

    #[tokio::test]
    async fn read_reply_turns_any_response_back_into_a_result() {
        let ok = Reply::from(Ok::<_, TaskError>(5_u32)).into_response();
        assert_eq!(read_reply::<u32, _>(ok).await.unwrap(), 5);
        let err = Reply::<u32>(Err(TaskError::new(Code::RATE_LIMITED, "later"))).into_response();
        let e = read_reply::<u32, _>(err).await.unwrap_err();
        assert_eq!((e.code(), e.client_message()), (Code::RATE_LIMITED, "later"));
        let plain = (StatusCode::BAD_GATEWAY, "upstream died").into_response();
        let e = read_reply::<u32, _>(plain).await.unwrap_err();
        assert_eq!(e.code(), Code::UNAVAILABLE);
        assert_eq!(e.client_message(), "service unavailable", "the body is not shown");
        let unknown: Envelope<u8> = Envelope {
            code: "TEAPOT".into(),
            message: "short and stout".into(),
            data: None,
            trace_id: Some("not-a-trace".into()),
            duration_ms: 0.0,
        };
        let e = unknown.into_result(429).unwrap_err();
        assert_eq!(e.code(), Code::RATE_LIMITED, "unknown names fall back to the status");
        assert_eq!(e.trace_id(), None);

        // A remote cancellation is a cancellation here too.
        let gone = Reply::<u32>(Err(TaskError::cancelled(None))).into_response();
        assert_eq!(gone.status(), 499);
        assert!(read_reply::<u32, _>(gone).await.unwrap_err().is_cancelled());
        let late = Reply::<u32>(Err(TaskError::deadline_exceeded())).into_response();
        let e = read_reply::<u32, _>(late).await.unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::DeadlineExceeded);
        // A client's mistake answered by a proxy or a framework (no envelope) stays one.
        for status in [
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::METHOD_NOT_ALLOWED,
        ] {
            let e = read_reply::<u32, _>((status, "nope").into_response()).await.unwrap_err();
            assert_eq!(e.code(), Code::INVALID_ARGUMENT, "{status}");
        }
        // A retry delay becomes Retry-After, rounded up to whole seconds, and back.
        let later = TaskError::new(Code::RATE_LIMITED, "later")
            .with_retry_after(Duration::from_millis(1500));
        let r = Reply::<u32>(Err(later)).into_response();
        assert_eq!(r.headers()[::http::header::RETRY_AFTER], "2");
        let e = read_reply::<u32, _>(r).await.unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        // A panic keeps its name out of the envelope.
        let p = Reply::<u32>(Err(TaskError::new(Code::PANICKED, "secret"))).into_response();
        let e = read_reply::<u32, _>(p).await.unwrap_err();
        assert_eq!(e.code(), Code::INTERNAL);
        assert_eq!(e.client_message(), "internal error");
    }
}
