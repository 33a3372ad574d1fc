//! The tonic server layer: [`ResultLayer`], its service and its future.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;
use tracing::instrument::Instrumented;
use tracing::Instrument;

use super::body::{ResultBody, WatchBody};
use super::status::{status_code, task_error_of};
use crate::context::{Context, Run};
use crate::middleware::meter::{Meter, Side};
use crate::middleware::parse_grpc_timeout;
use crate::middleware::server::{Call, Found, Received};
use crate::middleware::span::Answer;
use crate::panic::CatchUnwind;
use crate::trace::TraceScope;
use crate::{Code, TaskError};

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
#[derive(Clone, Copy, Debug)]
pub struct ResultLayer {
    max_deadline: Duration,
}

/// The deadline of a call whose caller sends none, and the ceiling of any caller's.
pub const DEFAULT_MAX_DEADLINE: Duration = Duration::from_secs(30);

impl Default for ResultLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ResultLayer {
    /// The layer, with the [`DEFAULT_MAX_DEADLINE`] of 30 s.
    #[must_use]
    pub const fn new() -> Self {
        Self { max_deadline: DEFAULT_MAX_DEADLINE }
    }

    /// The longest a handler may run: the deadline of a call whose caller sends no
    /// `grpc-timeout`, and the ceiling of the deadline of one that does. A slow handler
    /// never runs unbounded because a client forgot (or sent a huge) timeout.
    ///
    /// # Panics
    /// When `max_deadline` is zero, with [`ConfigError`](crate::ConfigError)'s message.
    #[must_use]
    pub fn max_deadline(mut self, max_deadline: Duration) -> Self {
        assert!(!max_deadline.is_zero(), "{}", crate::ConfigError::zero("max_deadline"));
        self.max_deadline = max_deadline;
        self
    }
}

impl<S> Layer<S> for ResultLayer {
    type Service = ResultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResultService { inner, max_deadline: self.max_deadline }
    }
}

/// The service made by [`ResultLayer`].
#[derive(Clone, Debug)]
pub struct ResultService<S> {
    inner: S,
    max_deadline: Duration,
}

type Guarded<F> = Instrumented<TraceScope<Run<CatchUnwind<F>>>>;

impl<S, B, ResBody> Service<Request<B>> for ResultService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: WatchBody,
    ResBody: Default,
{
    type Response = Response<ResultBody<ResBody>>;
    type Error = S::Error;
    type Future = ResultFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let received = Received::scan(req.headers());
        let (trace, caller) = received.trace();
        let timeout = deadline_of(&received, self.max_deadline);
        let meter = Meter::grpc(Side::GrpcServer, req.uri().path());
        let method = meter.path().cloned().unwrap_or_else(|| Arc::from(req.uri().path()));
        let span = crate::middleware::span::server_grpc(&method, &trace, caller);
        // tonic's generated services only build the handler's future in `call`; it runs,
        // and may panic, when polled below, inside every guard.
        let call = Call::new(trace.clone(), start, span);
        let timeout = match timeout {
            Ok(timeout) => timeout,
            Err(error) => {
                // Caller input, not a server problem: the handler never runs.
                tracing::debug!(parent: &call.span, %error, "refused before the handler");
                let error = error.with_trace_id(trace.trace_id);
                return ResultFuture {
                    state: State::Refused { error: Some(error) },
                    call: Some(Pending { call, method, meter }),
                    gone: Arc::new(AtomicBool::new(false)),
                };
            }
        };
        let ctx = Context::root_with_deadline(start + timeout);
        let gone = Arc::new(AtomicBool::new(false));
        let req = req.map(|body| body.watch(gone.clone()));
        let inner = call.span.in_scope(|| trace.sync_scope(|| self.inner.call(req)));
        let fut =
            trace.scope(ctx.run(crate::panic::catch_unwind(inner))).instrument(call.span.clone());
        ResultFuture {
            state: State::Run { fut },
            call: Some(Pending { call, method, meter }),
            gone,
        }
    }
}

/// The handler's deadline: the caller's `grpc-timeout` capped at `max`, or `max` when the
/// caller sent none. A malformed value is refused (`INVALID_ARGUMENT`), not read as "no
/// deadline".
fn deadline_of(received: &Received<'_>, max: Duration) -> Result<Duration, TaskError> {
    let message = match received.grpc_timeout {
        Found::Absent => return Ok(max),
        Found::One(value) => match value.to_str().ok().and_then(parse_grpc_timeout) {
            Some(timeout) => return Ok(timeout.min(max)),
            None => format!(
                "malformed grpc-timeout {:?}: expected 1 to 8 digits and a unit (H, M, S, m, u, n)",
                String::from_utf8_lossy(value.as_bytes())
            ),
        },
        Found::Many => "more than one grpc-timeout: a call has one deadline".to_owned(),
    };
    Err(TaskError::new(Code::INVALID_ARGUMENT, message))
}

pin_project! {
    /// The future of [`ResultService`].
    ///
    /// Dropped before it finished (the client went away, or the connection broke), the call
    /// is logged once at info and counted with code `CANCELLED`: a cancellation is visible
    /// at every hop.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResultFuture<F> {
        #[pin]
        state: State<F>,
        call: Option<Pending>,
        // Set when the request body ended in a reset: the client cancelled.
        gone: Arc<AtomicBool>,
    }

    impl<F> PinnedDrop for ResultFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(pending) = this.project().call.take() {
                pending.finish(Some(Code::CANCELLED), None);
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Run { #[pin] fut: Guarded<F> },
        // Refused before the handler ran (a malformed `grpc-timeout`).
        Refused { error: Option<TaskError> },
    }
}

impl<F, ResBody, E> Future for ResultFuture<F>
where
    F: Future<Output = std::result::Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = std::result::Result<Response<ResultBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = match this.state.project() {
            StateProj::Run { fut } => std::task::ready!(fut.poll(cx)),
            StateProj::Refused { error } => Err(error.take().expect("polled after completion")),
        };
        let pending = this.call.take().expect("polled after completion");
        let (mut response, code, error) = match out {
            Ok(Ok(mut response)) => match outcome(&response) {
                // tonic's own INTERNAL for a body cut short by the client's reset.
                Some((Code::INTERNAL, None)) if this.gone.load(Ordering::Relaxed) => {
                    (response, Some(Code::CANCELLED), None)
                }
                Some((code, error)) => (response, Some(code), error),
                None => {
                    // The head of a success: the status comes in the trailers, so the body
                    // finishes the call.
                    pending.call.stamp_trace_id(response.headers_mut());
                    let pending = Some(pending);
                    return Poll::Ready(Ok(response.map(|inner| ResultBody::new(inner, pending))));
                }
            },
            Ok(Err(e)) => {
                // A transport-level error from the inner service: tonic turns it into a
                // status; pass it on untouched.
                pending.finish(Some(Code::INTERNAL), None);
                return Poll::Ready(Err(e));
            }
            // A panic, the deadline or a cancellation: the handler never answered.
            Err(error) => {
                let error = error.or_trace_id(Some(pending.call.trace.trace_id));
                let response = Status::from(error.clone()).into_http();
                (response, Some(error.code()), Some(error))
            }
        };
        pending.call.stamp_trace_id(response.headers_mut());
        pending.finish(code, error.as_ref());
        Poll::Ready(Ok(response.map(|inner| ResultBody::new(inner, None))))
    }
}

/// A call whose outcome is not known yet.
pub(super) struct Pending {
    call: Call,
    method: Arc<str>,
    meter: Meter,
}

impl Pending {
    /// Logs the call's end and records it, once.
    pub(super) fn finish(self, code: Option<Code>, error: Option<&TaskError>) {
        let elapsed = self.call.start.elapsed();
        self.call.log(&self.method, code, error, Answer::grpc(code), elapsed);
        self.meter.finish(code.map_or("OK", |c| c.name()), None, elapsed);
    }
}

/// The outcome of a response known from its head: a trailers-only error response carries
/// `grpc-status` in the headers and the `Status` in the extensions (with the handler's
/// `TaskError`, when it made one). `None`: the status comes in the trailers.
fn outcome<B>(response: &Response<B>) -> Option<(Code, Option<TaskError>)> {
    if let Some(e) = response.extensions().get::<Status>().and_then(task_error_of) {
        return Some((e.code(), Some(e.clone())));
    }
    // `grpc-status: 0` in the head (an empty success) is finished by the body too.
    status_code(response.headers())?.map(|code| (code, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::{GRPC_TIMEOUT, TRACEPARENT, X_TRACE_ID};
    use crate::trace::TraceContext;
    use crate::ErrorKind;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use std::convert::Infallible;
    use std::fmt;
    use std::time::Duration;
    use tower::{service_fn, ServiceExt};

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn request(timeout: Option<&str>) -> Request<()> {
        let mut r = Request::post("/inventory.Inventory/Reserve").body(()).unwrap();
        r.headers_mut().insert(TRACEPARENT, PARENT.parse().unwrap());
        if let Some(t) = timeout {
            r.headers_mut().insert(GRPC_TIMEOUT, t.parse().unwrap());
        }
        r
    }

    /// Runs one call through the layer around a handler that answers like tonic does, and
    /// reads the body to its end as hyper would.
    async fn call<F, Fut>(req: Request<()>, handler: F) -> Response<String>
    where
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = std::result::Result<Response<String>, Status>> + Send,
    {
        let svc = ResultLayer::new().layer(service_fn(move |_req: Request<()>| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler().await.unwrap_or_else(Status::into_http)) }
        }));
        let (parts, body) = svc.oneshot(req).await.unwrap().into_parts();
        let (text, _) = drain(body).await;
        Response::from_parts(parts, text)
    }

    /// Polls a body to its end: its data as text, and its trailers.
    async fn drain<B>(body: B) -> (String, Option<http::HeaderMap>)
    where
        B: http_body::Body<Data = bytes::Bytes>,
        B::Error: fmt::Debug,
    {
        let mut body = std::pin::pin!(body);
        let (mut text, mut trailers) = (String::new(), None);
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            match frame.unwrap().into_data() {
                Ok(data) => text.push_str(std::str::from_utf8(&data).unwrap()),
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        (text, trailers)
    }

    /// A streaming body whose failure only shows in its trailers.
    #[derive(Default)]
    struct FailsInTrailers(bool);

    impl http_body::Body for FailsInTrailers {
        type Data = bytes::Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut TaskCx<'_>,
        ) -> Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
            if self.0 {
                return Poll::Ready(None);
            }
            self.0 = true;
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "8".parse().unwrap());
            Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))))
        }
    }

    fn header<'a, B>(r: &'a Response<B>, name: &str) -> &'a str {
        r.headers().get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
    }

    #[tokio::test]
    async fn success_runs_in_a_child_span_and_is_stamped() {
        let r = call(request(None), || async {
            let tc = TraceContext::current().expect("a current trace");
            assert_eq!(tc.trace_id.to_string(), TRACE);
            assert_ne!(tc.span_id.to_string(), "00f067aa0ba902b7");
            let ctx = Context::current().expect("an ambient context");
            assert!(ctx.deadline().is_some(), "the layer's maximum deadline");
            Ok(Response::new(tc.to_string()))
        })
        .await;
        assert!(r.headers().get("grpc-status").is_none());
        assert_eq!(header(&r, X_TRACE_ID), TRACE);
        assert!(r.headers().get(TRACEPARENT).is_none(), "x-trace-id alone");
    }

    #[tokio::test]
    async fn a_panic_answers_internal_with_a_safe_message_and_keeps_the_details() {
        let r = call(request(None), || async { panic!("password=hunter2") }).await;
        assert_eq!(header(&r, "grpc-status"), "13");
        assert_eq!(header(&r, "grpc-message"), "internal%20error");
        assert_eq!(header(&r, X_TRACE_ID), TRACE);
        assert!(!format!("{:?}", r.headers()).contains("hunter2"));
        let status = r.extensions().get::<Status>().unwrap();
        let error = task_error_of(status).expect("the error stays attached for the log");
        assert_eq!(error.kind(), ErrorKind::Panicked);
        assert_eq!(error.panic().unwrap().message(), "password=hunter2");
        assert_eq!(error.trace_id().unwrap().to_string(), TRACE);
    }

    #[tokio::test]
    async fn a_task_error_goes_through_the_code_table() {
        let r = call(request(None), || async {
            Err(TaskError::new(Code::RATE_LIMITED, "slow down").into())
        })
        .await;
        assert_eq!(header(&r, "grpc-status"), "8");
        assert_eq!(header(&r, "grpc-message"), "slow%20down");
        assert_eq!(header(&r, X_TRACE_ID), TRACE);
        assert_eq!(r.headers().get_all(X_TRACE_ID).iter().count(), 1);

        let r = call(request(None), || async {
            let io = std::io::Error::other("disk /dev/sda1 on fire");
            Err(TaskError::from_error(io).with_code(Code::STORAGE).into())
        })
        .await;
        assert_eq!(header(&r, "grpc-status"), "14");
        assert_eq!(header(&r, "grpc-message"), "storage%20unavailable");
    }

    #[tokio::test(start_paused = true)]
    async fn grpc_timeout_is_the_handlers_deadline() {
        let sent_at = tokio::time::Instant::now();
        let r = call(request(Some("250m")), move || async move {
            let deadline = Context::current().unwrap().deadline().unwrap();
            assert_eq!(deadline, sent_at + Duration::from_millis(250));
            Ok(Response::new(String::new()))
        })
        .await;
        assert!(r.headers().get("grpc-status").is_none());

        let r = call(request(Some("250m")), || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(Response::new(String::new()))
        })
        .await;
        assert_eq!(header(&r, "grpc-status"), "4");
        assert_eq!(header(&r, X_TRACE_ID), TRACE);

        // No grpc-timeout: the layer's maximum deadline, never "no deadline".
        let sent_at = tokio::time::Instant::now();
        let r = call(request(None), move || async move {
            let deadline = Context::current().unwrap().deadline().unwrap();
            assert_eq!(deadline, sent_at + DEFAULT_MAX_DEADLINE);
            Ok(Response::new(String::new()))
        })
        .await;
        assert!(r.headers().get("grpc-status").is_none());
        // ...which also caps a caller's longer one.
        let sent_at = tokio::time::Instant::now();
        let r = call(request(Some("1000H")), move || async move {
            let deadline = Context::current().unwrap().deadline().unwrap();
            assert_eq!(deadline, sent_at + DEFAULT_MAX_DEADLINE);
            Ok(Response::new(String::new()))
        })
        .await;
        assert!(r.headers().get("grpc-status").is_none());
        // A slow handler is ended by it.
        let r = call(request(None), || async {
            std::future::pending::<()>().await;
            Ok(Response::new(String::new()))
        })
        .await;
        assert_eq!(header(&r, "grpc-status"), "4");
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_grpc_timeout_is_refused_before_the_handler_runs() {
        for bad in ["abc", "-1S", "1000000000000H", "1.5S", "", "10", "5s"] {
            let ran = Arc::new(AtomicBool::new(false));
            let seen = ran.clone();
            let r = call(request(Some(bad)), move || async move {
                seen.store(true, Ordering::SeqCst);
                Ok(Response::new(String::new()))
            })
            .await;
            assert_eq!(header(&r, "grpc-status"), "3", "{bad:?}");
            assert!(header(&r, "grpc-message").contains("grpc-timeout"), "{bad:?}");
            assert_eq!(header(&r, X_TRACE_ID), TRACE);
            assert!(!ran.load(Ordering::SeqCst), "the handler ran for {bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_grpc_timeouts_are_refused_before_the_handler_runs() {
        let ran = Arc::new(AtomicBool::new(false));
        let seen = ran.clone();
        let mut req = request(Some("1S"));
        req.headers_mut().append(GRPC_TIMEOUT, "1S".parse().unwrap());
        let r = call(req, move || async move {
            seen.store(true, Ordering::SeqCst);
            Ok(Response::new(String::new()))
        })
        .await;
        assert_eq!(header(&r, "grpc-status"), "3");
        assert_eq!(
            header(&r, "grpc-message"),
            "more%20than%20one%20grpc-timeout:%20a%20call%20has%20one%20deadline"
        );
        assert!(!ran.load(Ordering::SeqCst), "the handler ran with two deadlines");
    }

    #[tokio::test]
    #[should_panic(expected = "invalid setting `max_deadline`")]
    async fn a_zero_max_deadline_is_refused() {
        let _ = ResultLayer::new().max_deadline(Duration::ZERO);
    }

    /// A request body that ends in a reset, as hyper reports a client's RST_STREAM.
    struct ResetBody;

    impl http_body::Body for ResetBody {
        type Data = bytes::Bytes;
        type Error = Status;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut TaskCx<'_>,
        ) -> Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, Status>>> {
            Poll::Ready(Some(Err(Status::cancelled("stream reset"))))
        }
    }

    #[test]
    fn a_request_cut_short_by_the_client_counts_as_cancelled_not_internal() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // What tonic's unary path does: read the body (a reset reads as its end), then
        // answer INTERNAL because no message came.
        let handler = |mut req: Request<tonic::body::Body>| async move {
            let body = req.body_mut();
            let _ =
                std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut *body), cx))
                    .await;
            Ok::<_, Infallible>(Status::internal("Missing request message.").into_http::<String>())
        };
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                for body in [tonic::body::Body::new(ResetBody), tonic::body::Body::empty()] {
                    let svc = ResultLayer::new().layer(service_fn(handler));
                    let mut req = Request::post("/inventory.Inventory/Reserve").body(body).unwrap();
                    req.headers_mut().insert(TRACEPARENT, PARENT.parse().unwrap());
                    let response = svc.oneshot(req).await.unwrap();
                    assert_eq!(header(&response, "grpc-status"), "13", "the answer is tonic's");
                }
            });
        });
        let mut counts = std::collections::BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            if let DebugValue::Counter(n) = value {
                let code =
                    key.key().labels().find(|l| l.key() == "code").unwrap().value().to_owned();
                counts.insert(code, n);
            }
        }
        // The reset call is CANCELLED; a genuine INTERNAL with an intact body stays INTERNAL.
        let want = [("CANCELLED".to_owned(), 1), ("INTERNAL".to_owned(), 1)];
        assert_eq!(counts, want.into_iter().collect());
    }

    #[test]
    fn metrics_count_by_method_and_code() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                call(request(None), || async { Ok(Response::new(String::new())) }).await;
                call(request(None), || async { panic!("boom") }).await;
                call(request(None), || async { Err(TaskError::new(Code::NOT_FOUND, "no").into()) })
                    .await;
                let stream = |_req: Request<()>| async {
                    Ok::<_, Infallible>(Response::new(FailsInTrailers::default()))
                };
                let svc = ResultLayer::new().layer(service_fn(stream));
                let response = svc.clone().oneshot(request(None)).await.unwrap();
                let (_, trailers) = drain(response.into_body()).await;
                assert_eq!(trailers.unwrap()["grpc-status"], "8", "trailers pass unchanged");
                // A body dropped before its end: the client went away.
                drop(svc.oneshot(request(None)).await.unwrap());
                // A call dropped mid-handler: the client disconnected before any answer.
                let stuck = ResultLayer::new().layer(service_fn(|_req: Request<()>| async {
                    std::future::pending::<std::result::Result<Response<String>, Infallible>>()
                        .await
                }));
                let mut fut = std::pin::pin!(stuck.oneshot(request(None)));
                assert!(futures::poll!(fut.as_mut()).is_pending());
                // Refused before the handler: counted too.
                call(request(Some("abc")), || async { Ok(Response::new(String::new())) }).await;
            });
        });
        let mut counts = std::collections::BTreeMap::new();
        let mut latencies = 0;
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let label =
                |name: &str| key.labels().find(|l| l.key() == name).map(|l| l.value().to_owned());
            assert_eq!(label("service").as_deref(), Some("inventory.Inventory"));
            assert_eq!(label("method").as_deref(), Some("Reserve"));
            match value {
                DebugValue::Counter(n) => {
                    assert_eq!(key.name(), crate::middleware::GRPC_SERVER_CALLS);
                    counts.insert(label("code").unwrap(), n);
                }
                DebugValue::Histogram(v) => {
                    assert_eq!(key.name(), crate::middleware::GRPC_SERVER_DURATION);
                    latencies += v.len();
                }
                DebugValue::Gauge(v) => {
                    assert_eq!(key.name(), crate::middleware::GRPC_SERVER_IN_FLIGHT);
                    assert_eq!(v.into_inner(), 0.0, "every call left the in-flight gauge");
                }
            }
        }
        let want = [
            ("CANCELLED", 2),
            ("INVALID_ARGUMENT", 1),
            ("NOT_FOUND", 1),
            ("OK", 1),
            ("PANICKED", 1),
            ("RATE_LIMITED", 1),
        ]
        .map(|(c, n)| (c.to_owned(), n));
        assert_eq!(counts, want.into_iter().collect());
        assert_eq!(latencies, 7);
    }
}
