//! The OpenTelemetry face of a call's `tracing` span (feature `otel`): its kind, its name and
//! semantic-convention attributes, its status, and the CLIENT span whose id goes out in
//! `traceparent` so that the callee's SERVER span hangs under it.
//!
//! Without `otel` every function here is an empty inline no-op and a client call opens no
//! span: the layers cost what they did before.
//!
//! Exported attributes carry only code names (`error.type`), never a message: a span leaves
//! the process, so it is held to the same rule as an error shown to a remote party.
#![cfg_attr(not(any(feature = "grpc", feature = "http")), allow(dead_code))]

#[cfg(feature = "otel")]
pub(crate) use with_otel::*;
#[cfg(not(feature = "otel"))]
pub(crate) use without_otel::*;

/// `service` and `method` of a gRPC path `/package.Service/Method`.
#[cfg(feature = "otel")]
fn grpc_parts(path: &str) -> (&str, &str) {
    let mut parts = path.strip_prefix('/').unwrap_or("").splitn(2, '/');
    match (parts.next(), parts.next()) {
        (Some(s), Some(m)) if !s.is_empty() && !m.is_empty() && !m.contains('/') => (s, m),
        _ => ("unknown", "unknown"),
    }
}

#[cfg(feature = "otel")]
mod with_otel {
    use http::{HeaderMap, Request};
    use opentelemetry::trace::TraceContextExt as _;
    use tracing::field::Empty;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use super::grpc_parts;
    use crate::trace::TraceContext;

    /// Names a gRPC server span `service/method` (the semantic conventions' span name) and
    /// marks it SERVER. Call it before the span is first entered: the OpenTelemetry span is
    /// built then.
    pub(crate) fn server_grpc(span: &tracing::Span, path: &str) {
        let (service, method) = grpc_parts(path);
        span.record("otel.name", format_args!("{service}/{method}"));
        span.record("otel.kind", "server");
        span.record("rpc.system", "grpc");
        span.record("rpc.service", service);
        span.record("rpc.method", method);
    }

    /// Names an HTTP server span `METHOD route` and marks it SERVER (before it is entered).
    pub(crate) fn server_http(span: &tracing::Span, method: &str, route: &str) {
        span.record("otel.name", format_args!("{method} {route}"));
        span.record("otel.kind", "server");
        span.record("http.request.method", method);
        span.record("http.route", route);
    }

    /// Records a call's outcome: status `OK`, or `ERROR` with the code's name as
    /// `error.type` (a name only: no message reaches the exporter).
    pub(crate) fn outcome(span: &tracing::Span, code: &str) {
        if code == "OK" {
            span.record("otel.status_code", "OK");
        } else {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", code);
        }
    }

    /// The code name a gRPC error response carries in its trailers (a custom code
    /// included, from the runtime's error details), when there is one.
    #[cfg(feature = "grpc")]
    pub(crate) fn wire_code(trailers: &HeaderMap) -> Option<&'static str> {
        use crate::middleware::grpc::StatusExt as _;
        let status = tonic::Status::from_header_map(trailers)?;
        (status.code() != tonic::Code::Ok).then(|| status.into_task_error().code().name())
    }

    /// Without the gRPC layer there is no code table to read trailers with.
    #[cfg(not(feature = "grpc"))]
    pub(crate) fn wire_code(_: &HeaderMap) -> Option<&'static str> {
        None
    }

    /// The CLIENT span of one outgoing call (a child of the current `tracing` span), open
    /// until the call is finished.
    #[derive(Debug)]
    pub(crate) struct ClientSpan(Option<tracing::Span>);

    impl ClientSpan {
        /// Opens the span of `req` and returns it with the trace context to send: the span's
        /// own OpenTelemetry context (tracestate included), with the caller's baggage.
        /// `None` when no OpenTelemetry layer records the span: the caller falls back to
        /// the runtime's own child span id.
        ///
        /// When the caller's trace context is not the one its `tracing` span belongs to
        /// (code that scoped a [`TraceContext`] without a span), the call joins the trace
        /// context: `x-trace-id` and the backend must agree.
        pub(crate) fn open<B>(req: &Request<B>, is_grpc: bool) -> (Self, Option<TraceContext>) {
            let host = req.uri().host().unwrap_or("");
            let span = if is_grpc {
                let (service, method) = grpc_parts(req.uri().path());
                tracing::info_span!(
                    "grpc.client",
                    otel.name = %format_args!("{service}/{method}"),
                    otel.kind = "client",
                    otel.status_code = Empty,
                    rpc.system = "grpc",
                    rpc.service = service,
                    rpc.method = method,
                    server.address = host,
                    error.type = Empty,
                )
            } else {
                let method = req.method().as_str();
                tracing::info_span!(
                    "http.client",
                    otel.name = method,
                    otel.kind = "client",
                    otel.status_code = Empty,
                    http.request.method = method,
                    server.address = host,
                    url.path = req.uri().path(),
                    http.response.status_code = Empty,
                    error.type = Empty,
                )
            };
            if span.is_disabled() {
                return (Self(None), None);
            }
            let ambient = TraceContext::current();
            if let Some(tc) = &ambient {
                let parent = tracing::Span::current().context();
                if parent.span().span_context().trace_id().to_bytes() != tc.trace_id.to_bytes() {
                    let _ = crate::otel::set_parent(&span, tc);
                }
            }
            let cx = span.context();
            let sent = crate::otel::from_span_context(cx.span().span_context()).map(|tc| {
                match ambient {
                    Some(a) if !a.baggage().is_empty() => tc.with_baggage(a.baggage().clone()),
                    _ => tc,
                }
            });
            (Self(Some(span)), sent)
        }

        /// Records the outcome (and the HTTP status) and ends the span.
        pub(crate) fn finish(self, code: &str, status: Option<u16>) {
            if let Some(span) = self.0 {
                if let Some(status) = status {
                    span.record("http.response.status_code", status);
                }
                outcome(&span, code);
            }
        }
    }
}

#[cfg(not(feature = "otel"))]
mod without_otel {
    use http::{HeaderMap, Request};

    use crate::trace::TraceContext;

    #[inline(always)]
    pub(crate) fn server_grpc(_: &tracing::Span, _: &str) {}

    #[inline(always)]
    pub(crate) fn server_http(_: &tracing::Span, _: &str, _: &str) {}

    #[inline(always)]
    pub(crate) fn outcome(_: &tracing::Span, _: &str) {}

    #[inline(always)]
    pub(crate) fn wire_code(_: &HeaderMap) -> Option<&'static str> {
        None
    }

    /// No span without `otel`: zero-sized.
    #[derive(Debug)]
    pub(crate) struct ClientSpan;

    impl ClientSpan {
        #[inline(always)]
        pub(crate) fn open<B>(_: &Request<B>, _: bool) -> (Self, Option<TraceContext>) {
            (Self, None)
        }

        #[inline(always)]
        pub(crate) fn finish(self, _: &str, _: Option<u16>) {}
    }
}
