//! The client layer: every outgoing request carries the current trace (and, for gRPC, the
//! current deadline).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::meter::{Meter, Side};
use super::server::header_value;
use super::span::{wire_code, Answer, ClientSpan};
use super::{BAGGAGE, TRACEPARENT, TRACESTATE};
use crate::context::Context;
use crate::trace::{TraceContext, TraceState};
use crate::Code;

/// The gRPC request header that carries the caller's deadline.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// A tower layer for HTTP clients (a tonic `Channel`, hyper-util's legacy `Client`, any
/// `Service<http::Request<B>>`) that makes every call a hop of the current trace.
///
/// Per request:
/// - `traceparent`, unless the caller set one: a child span of [`TraceContext::current`] (a new root when there is
///   none), so the server's spans hang under the caller's;
/// - `grpc-timeout` (gRPC requests only, by `content-type`): the time left on the ambient
///   [`Context`]'s deadline, unless the caller set a shorter one, so a deadline set at the edge
///   holds on every hop.
///
/// Under the `otel` feature each call also opens a CLIENT span (see the [module
/// docs](crate::middleware)), and `traceparent` carries that span's id when an OpenTelemetry
/// layer records it.
///
/// ```
/// use result_runtime::middleware::ClientLayer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // An echo server: it answers with the traceparent it was sent.
/// let echo = service_fn(|req: http::Request<()>| async move {
///     let sent = req.headers()["traceparent"].clone();
///     Ok::<_, std::convert::Infallible>(http::Response::builder().header("traceparent", sent).body(()).unwrap())
/// });
/// let client = ClientLayer::new().layer(echo);
///
/// let root = result_runtime::trace::TraceContext::new_root();
/// let response = root.scope(client.oneshot(http::Request::new(()))).await.unwrap();
/// let sent = response.headers()["traceparent"].to_str().unwrap();
/// let sent: result_runtime::trace::TraceContext = sent.parse().unwrap();
/// assert_eq!(sent.trace_id, root.trace_id);
/// assert_ne!(sent.span_id, root.span_id);
/// # }
/// ```
///
/// With tonic: `InventoryClient::new(ServiceBuilder::new().layer(ClientLayer::new()).service(channel))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientLayer {
    _private: (),
}

impl ClientLayer {
    /// The layer.
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService { inner }
    }
}

/// The service made by [`ClientLayer`].
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
}

impl<S, B, RB> Service<Request<B>> for ClientService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<ClientBody<RB>>;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // `call` runs in the caller's task (tonic's generated clients and hyper's client call
        // it from the caller's future), so the task-local trace is the caller's.
        let is_grpc = req
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        // Under `otel`, the CLIENT span's own id is the one sent, so the server's span is its
        // child; without an OpenTelemetry layer (or without `otel`), the runtime's child span.
        let (span, sent) = ClientSpan::open(&req, is_grpc);
        let headers = req.headers_mut();
        if !headers.contains_key(TRACEPARENT) {
            let span = sent.unwrap_or_else(TraceContext::current_child_or_root);
            headers.insert(HeaderName::from_static(TRACEPARENT), header_value(span.to_string()));
            // The tracestate belongs to this traceparent: a caller's own traceparent keeps
            // whatever tracestate the caller set (or none).
            if !span.tracestate().is_empty() && !headers.contains_key(TRACESTATE) {
                let ts = span.tracestate().truncated(TraceState::MAX_HEADER_BYTES);
                if let Ok(v) = HeaderValue::try_from(ts.to_string()) {
                    headers.insert(HeaderName::from_static(TRACESTATE), v);
                }
            }
            if !span.baggage().is_empty() && !headers.contains_key(BAGGAGE) {
                if let Ok(v) = HeaderValue::try_from(span.baggage().to_string()) {
                    headers.insert(HeaderName::from_static(BAGGAGE), v);
                }
            }
        }
        let meter = if is_grpc {
            Meter::grpc(Side::GrpcClient, req.uri().path())
        } else {
            let peer = req.uri().authority().map_or("unknown", |a| a.as_str());
            Meter::http(Side::HttpClient, req.method().as_str(), "peer", peer)
        };
        let headers = req.headers_mut();
        if is_grpc {
            if let Some(left) = Context::current().and_then(|c| c.remaining()) {
                // The caller's own timeout stands only when it is the shorter one.
                let own = headers
                    .get(GRPC_TIMEOUT)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_grpc_timeout);
                if own.is_none_or(|own| own > left) {
                    headers.insert(
                        HeaderName::from_static(GRPC_TIMEOUT),
                        header_value(format_grpc_timeout(left)),
                    );
                }
            }
        }
        let track = Track { meter, start: Instant::now(), span };
        ClientFuture { inner: self.inner.call(req), call: Some((track, is_grpc)) }
    }
}

pin_project! {
    /// The future of [`ClientService`]: the response, and the call's metrics. Dropped before
    /// it finished (the caller gave up), the call is counted as `CANCELLED`.
    #[must_use = "futures do nothing unless polled"]
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        call: Option<(Track, bool)>,
    }

    impl<F> PinnedDrop for ClientFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some((track, _)) = this.project().call.take() {
                track.finish(Code::CANCELLED.name(), None);
            }
        }
    }
}

impl<F, RB, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<ClientBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        let (track, is_grpc) = this.call.take().expect("polled after completion");
        Poll::Ready(match out {
            // The connection failed: a transport fault, whatever the client wrapped it in.
            Err(e) => {
                track.finish(Code::UNAVAILABLE.name(), None);
                Err(e)
            }
            Ok(response) if !is_grpc => {
                let status = response.status().as_u16();
                let code = if status < 400 { "OK" } else { Code::from_http(status).name() };
                track.finish(code, Some(status));
                Ok(response.map(|inner| ClientBody::new(inner, None)))
            }
            Ok(response) => match grpc_status_code(response.headers()) {
                // Trailers-only: the status is in the head.
                Some(code) => {
                    track.finish_grpc(code, response.headers());
                    Ok(response.map(|inner| ClientBody::new(inner, None)))
                }
                None => {
                    let pending = Some(track);
                    Ok(response.map(|inner| ClientBody::new(inner, pending)))
                }
            },
        })
    }
}

pin_project! {
    /// The response body of [`ClientService`]: the inner body, watched for the gRPC
    /// `grpc-status` trailer that finishes the call's metrics. Dropped before its end, the
    /// call is counted as `CANCELLED`.
    pub struct ClientBody<B> {
        #[pin]
        inner: B,
        pending: Pending,
    }
}

/// One call in flight: its metrics, start and (under `otel`) CLIENT span.
struct Track {
    meter: Meter,
    start: Instant,
    span: ClientSpan,
}

impl Track {
    fn finish(self, code: &'static str, status: Option<u16>) {
        self.meter.finish(code, status, self.start.elapsed());
        self.span.finish(code, status.map(Answer::Http));
    }

    /// A gRPC outcome from `grpc-status` in `headers` (`code`: `None` for OK): the metric
    /// keeps the wire code's name (a bounded label set), the span gets the code the error
    /// details name (a custom code, say).
    fn finish_grpc(self, code: Option<Code>, headers: &http::HeaderMap) {
        let name = code.map_or("OK", |c| c.name());
        self.meter.finish(name, None, self.start.elapsed());
        let named = code.and_then(|_| wire_code(headers));
        self.span.finish(named.unwrap_or(name), Some(Answer::grpc(code)));
    }
}

/// A call whose outcome comes with the body's end; counted as `CANCELLED` if it never does.
struct Pending(Option<Track>);

impl Pending {
    fn finish(&mut self, code: &'static str) {
        if let Some(track) = self.0.take() {
            track.finish(code, None);
        }
    }

    fn finish_grpc(&mut self, code: Option<Code>, trailers: &http::HeaderMap) {
        if let Some(track) = self.0.take() {
            track.finish_grpc(code, trailers);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(Code::CANCELLED.name());
    }
}

impl<B> ClientBody<B> {
    fn new(inner: B, pending: Option<Track>) -> Self {
        Self { inner, pending: Pending(pending) }
    }

    /// The inner body. A gRPC call still waiting for its trailers is recorded as finished
    /// (`OK`): once the body is taken out, the layer cannot see how it ends.
    pub fn into_inner(self) -> B {
        let Self { inner, mut pending } = self;
        pending.finish("OK");
        inner
    }

    /// The inner body, by reference.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: http_body::Body> http_body::Body for ClientBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if this.pending.0.is_some() {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(t) = f.trailers_ref() {
                        this.pending.finish_grpc(grpc_status_code(t).flatten(), t);
                    }
                }
                // The peer vanished mid-body.
                Some(Err(_)) => this.pending.finish(Code::UNAVAILABLE.name()),
                None => this.pending.finish("OK"),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The code in a `grpc-status` header: `Some(None)` for OK, `None` when absent; a value that
/// is not a number is `INTERNAL` (the peer broke the protocol).
pub(crate) fn grpc_status_code(headers: &http::HeaderMap) -> Option<Option<Code>> {
    // This runs on every call's head and trailers, on both sides, and they hold a handful of
    // entries: comparing names is cheaper than hashing one for a lookup.
    let (_, status) = headers.iter().find(|(name, _)| name.as_str() == "grpc-status")?;
    if status.as_bytes() == b"0" {
        return Some(None);
    }
    Some(match status.to_str().ok().and_then(|s| s.parse::<i32>().ok()) {
        Some(0) => None,
        Some(n) => Some(Code::from_grpc(n)),
        None => Some(Code::INTERNAL),
    })
}

/// Parses a `grpc-timeout` value: at most 8 ASCII digits and a unit (`H`, `M`, `S`, `m`,
/// `u`, `n`). Anything else is `None` (the gRPC spec: treat as no deadline).
///
/// ```
/// use std::time::Duration;
/// use result_runtime::middleware::{format_grpc_timeout, parse_grpc_timeout};
/// assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_timeout("123456789S"), None); // 9 digits
/// assert_eq!(parse_grpc_timeout(&format_grpc_timeout(Duration::from_secs(3))), Some(Duration::from_secs(3)));
/// ```
#[must_use]
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a duration as a `grpc-timeout` value in the finest unit that fits in 8 digits,
/// truncated to that unit (a callee is never promised more time than the caller has).
#[must_use]
pub fn format_grpc_timeout(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    let units: [(u128, &str); 6] = [
        (1, "n"),
        (1_000, "u"),
        (1_000_000, "m"),
        (1_000_000_000, "S"),
        (60_000_000_000, "M"),
        (3_600_000_000_000, "H"),
    ];
    for (per, unit) in units {
        // Truncate: a callee must not be promised more time than the caller has.
        let n = nanos / per;
        if n <= MAX {
            return format!("{n}{unit}");
        }
    }
    format!("{MAX}H")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    #[test]
    fn grpc_timeout_parses_every_unit_and_rejects_bad_values() {
        let ok = [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("3S", Duration::from_secs(3)),
            ("4m", Duration::from_millis(4)),
            ("5u", Duration::from_micros(5)),
            ("6n", Duration::from_nanos(6)),
            ("99999999n", Duration::from_nanos(99_999_999)),
            ("0m", Duration::ZERO),
        ];
        for (text, d) in ok {
            assert_eq!(parse_grpc_timeout(text), Some(d), "{text}");
        }
        for bad in ["", "m", "123456789m", "10", "10x", "-1m", "1.5S", " 1S", "1s", "١m"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn grpc_timeout_formats_in_at_most_8_digits_without_rounding_up() {
        let cases = [
            (Duration::from_nanos(1), "1n"),
            (Duration::from_millis(50), "50000000n"),
            (Duration::from_millis(250), "250000u"),
            (Duration::from_secs(2), "2000000u"),
            (Duration::from_secs(200), "200000m"),
            (Duration::from_secs(86_400 * 365), "31536000S"),
            (Duration::from_secs(u64::MAX), "99999999H"),
        ];
        for (d, text) in cases {
            let s = format_grpc_timeout(d);
            assert_eq!(s, text);
            assert!(parse_grpc_timeout(&s).unwrap() <= d);
        }
    }

    async fn sent_headers(req: Request<()>) -> http::HeaderMap {
        // The echo answers with the headers it was sent.
        let svc = ClientLayer::new().layer(service_fn(|r: Request<()>| async move {
            let mut response = Response::new(());
            *response.headers_mut() = r.headers().clone();
            Ok::<_, Infallible>(response)
        }));
        svc.oneshot(req).await.unwrap().headers().clone()
    }

    fn grpc_request() -> Request<()> {
        let mut r = Request::new(());
        r.headers_mut().insert(CONTENT_TYPE, "application/grpc".parse().unwrap());
        r
    }

    #[tokio::test]
    async fn injects_a_child_of_the_current_trace_or_a_root() {
        let root = TraceContext::new_root();
        let h = root.scope(sent_headers(Request::new(()))).await;
        let sent: TraceContext = h[TRACEPARENT].to_str().unwrap().parse().unwrap();
        assert_eq!(sent.trace_id, root.trace_id);
        assert_ne!(sent.span_id, root.span_id);

        let h = sent_headers(Request::new(())).await;
        let sent: TraceContext = h[TRACEPARENT].to_str().unwrap().parse().unwrap();
        assert_ne!(sent.trace_id, root.trace_id);
    }

    #[tokio::test]
    async fn keeps_a_traceparent_the_caller_set() {
        let mut r = Request::new(());
        let mine = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        r.headers_mut().insert(TRACEPARENT, mine.parse().unwrap());
        let h = TraceContext::new_root().scope(sent_headers(r)).await;
        assert_eq!(h[TRACEPARENT], mine);
        assert_eq!(h.get_all(TRACEPARENT).iter().count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn propagates_the_ambient_deadline_to_grpc_requests_only() {
        let ctx = Context::new().with_timeout(Duration::from_millis(300));
        let h = ctx.scope(sent_headers(grpc_request())).await;
        let sent = parse_grpc_timeout(h[GRPC_TIMEOUT].to_str().unwrap()).unwrap();
        assert_eq!(sent, Duration::from_millis(300)); // the clock is paused

        let h = ctx.scope(sent_headers(Request::new(()))).await;
        assert!(!h.contains_key(GRPC_TIMEOUT), "not a gRPC request");

        let h = Context::new().scope(sent_headers(grpc_request())).await;
        assert!(!h.contains_key(GRPC_TIMEOUT), "no deadline");

        let mut r = grpc_request();
        r.headers_mut().insert(GRPC_TIMEOUT, "1S".parse().unwrap());
        let h = ctx.scope(sent_headers(r)).await;
        assert_eq!(h[GRPC_TIMEOUT], "300000u", "the ambient deadline is shorter");

        let mut r = grpc_request();
        r.headers_mut().insert(GRPC_TIMEOUT, "100m".parse().unwrap());
        let h = ctx.scope(sent_headers(r)).await;
        assert_eq!(h[GRPC_TIMEOUT], "100m", "the caller's own timeout is shorter");
    }

    #[test]
    fn client_calls_are_counted_by_service_method_and_code() {
        use http_body_util::BodyExt;
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                // gRPC: the status comes in the trailers.
                let svc = ClientLayer::new().layer(service_fn(|_r: Request<()>| async {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", "14".parse().unwrap());
                    let body = http_body_util::StreamBody::new(futures_util::stream::iter([
                        Ok::<_, Infallible>(http_body::Frame::data(bytes::Bytes::from_static(
                            b"x",
                        ))),
                        Ok(http_body::Frame::trailers(trailers)),
                    ]));
                    Ok::<_, Infallible>(Response::new(body))
                }));
                let mut req = grpc_request();
                *req.uri_mut() =
                    "http://inventory:50051/inventory.Inventory/Reserve".parse().unwrap();
                let response = svc.clone().oneshot(req).await.unwrap();
                response.into_body().collect().await.unwrap();
                // Dropped before the answer: the caller gave up.
                let stuck = ClientLayer::new().layer(service_fn(|_r: Request<()>| async {
                    std::future::pending::<Result<Response<()>, Infallible>>().await
                }));
                let mut req = grpc_request();
                *req.uri_mut() = "/inventory.Inventory/Reserve".parse().unwrap();
                let mut fut = std::pin::pin!(stuck.oneshot(req));
                assert!(futures_util::poll!(fut.as_mut()).is_pending());
            });
            rt.block_on(async {
                // HTTP: the status decides.
                let svc = ClientLayer::new().layer(service_fn(|_r: Request<()>| async {
                    let mut r = Response::new(());
                    *r.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
                    Ok::<_, Infallible>(r)
                }));
                let req = Request::post("http://checkout:8080/checkout").body(()).unwrap();
                svc.oneshot(req).await.unwrap();
            });
        });
        let mut counted = std::collections::BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            match value {
                DebugValue::Counter(n) => {
                    counted.insert(format!("{} {}", key.name(), labels.join(",")), n);
                }
                DebugValue::Gauge(v) => assert_eq!(v.into_inner(), 0.0, "{}", key.name()),
                DebugValue::Histogram(_) => {}
            }
        }
        let want: std::collections::BTreeMap<String, u64> = [
            ("grpc_client_handled_total service=inventory.Inventory,method=Reserve,code=CANCELLED", 1),
            ("grpc_client_handled_total service=inventory.Inventory,method=Reserve,code=UNAVAILABLE", 1),
            ("http_client_requests_total method=POST,peer=checkout:8080,code=RATE_LIMITED,status=429", 1),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
        assert_eq!(counted, want);
    }
}
