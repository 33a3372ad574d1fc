//! The OpenTelemetry face of a call's `tracing` span (feature `otel`): its kind, its name and
//! semantic-convention attributes, its status, and the CLIENT span whose id goes out in
//! `traceparent` so that the callee's SERVER span hangs under it.
//!
//! Without `otel` every function here is an empty inline no-op and a client call opens no
//! span: the layers cost what they did before.
//!
//! Exported attributes carry only code names (`error.type`), never a message: a span leaves
//! the process, so it is held to the same rule as an error shown to a remote party.
// Each protocol's layer uses its own half: with one of them off, the other half is unused.
#![cfg_attr(not(all(feature = "grpc", feature = "http")), allow(dead_code))]

#[cfg(feature = "otel")]
pub(crate) use with_otel::*;
#[cfg(not(feature = "otel"))]
pub(crate) use without_otel::*;

/// A call's answer in its protocol's terms: recorded on its span, and for a SERVER span it
/// decides the status.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) enum Answer {
    /// The gRPC status.
    Grpc(crate::GrpcCode),
    /// The HTTP status.
    Http(u16),
}

impl Answer {
    /// The gRPC status of `code` (`OK` for none).
    pub(crate) fn grpc(code: Option<crate::Code>) -> Self {
        Self::Grpc(code.map_or(crate::GrpcCode::Ok, |c| c.grpc()))
    }
}

/// `service` and `method` of a gRPC path `/package.Service/Method`.
#[cfg(feature = "otel")]
fn grpc_parts(path: &str) -> (&str, &str) {
    match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((s, m)) if !s.is_empty() && !m.is_empty() && !m.contains('/') => (s, m),
        _ => ("unknown", "unknown"),
    }
}

/// Whether no subscriber takes INFO spans, so the span a layer is about to open would be
/// disabled. `info_span!` evaluates its fields only for a span someone records, but the
/// layers compute some of them (the gRPC path's split) before the macro: they ask first.
#[cfg(feature = "otel")]
fn no_info_spans() -> bool {
    !tracing::level_enabled!(tracing::Level::INFO)
}

#[cfg(feature = "otel")]
mod with_otel {
    use http::{HeaderMap, Request};
    use tracing::field::Empty;

    use super::{grpc_parts, no_info_spans, Answer};
    use crate::otel::{with_ids, Parent};
    use crate::trace::{SpanId, TraceContext};
    use crate::{Code, GrpcCode};

    /// A SERVER span's parent: the caller's span, or none for a trace that begins here.
    fn caller_parent(caller: Option<SpanId>) -> Parent {
        caller.map_or(Parent::None, Parent::Remote)
    }

    /// The SERVER span of a gRPC call to `path`, named `service/method` (the semantic
    /// conventions' span name) with its `rpc.*` attributes. They are given at creation, not
    /// recorded after: each `record` is a dispatch to every layer (and, for the log layer, a
    /// reformatting of the span's fields). Exported, it has `trace`'s ids, under `caller`.
    pub(crate) fn server_grpc(
        path: &str,
        trace: &TraceContext,
        caller: Option<SpanId>,
    ) -> tracing::Span {
        if no_info_spans() {
            return tracing::Span::none();
        }
        let (service, method) = grpc_parts(path);
        with_ids(trace, caller_parent(caller), || {
            tracing::info_span!(
                "grpc",
                method = %path,
                trace_id = %trace.trace_id,
                span_id = %trace.span_id,
                code = Empty,
                otel.name = %format_args!("{service}/{method}"),
                otel.kind = "server",
                otel.status_code = Empty,
                rpc.system = "grpc",
                rpc.service = service,
                rpc.method = method,
                rpc.grpc.status_code = Empty,
                error.type = Empty,
            )
        })
    }

    /// The SERVER span of an HTTP request, named `METHOD route`, with its `http.*`
    /// attributes given at creation. Exported, it has `trace`'s ids, under `caller`.
    pub(crate) fn server_http(
        method: &str,
        route: &str,
        trace: &TraceContext,
        caller: Option<SpanId>,
    ) -> tracing::Span {
        with_ids(trace, caller_parent(caller), || {
            tracing::info_span!(
                "http",
                method = %method,
                route = %route,
                trace_id = %trace.trace_id,
                span_id = %trace.span_id,
                code = Empty,
                otel.name = %format_args!("{method} {route}"),
                otel.kind = "server",
                otel.status_code = Empty,
                http.request.method = method,
                http.route = route,
                http.response.status_code = Empty,
                error.type = Empty,
            )
        })
    }

    /// Records a CLIENT call's outcome: its protocol's status when one came, and status
    /// `OK`, or `ERROR` with the code's name as `error.type` (a name only: no message reaches
    /// the exporter). For a caller every failed call is an error.
    fn client_outcome(span: &tracing::Span, code: &str, answer: Option<Answer>) {
        let error = (code != "OK").then_some(code);
        record_outcome(span, None, answer, Some(error));
    }

    /// Records a SERVER call's outcome: its `code` name, and by the semantic conventions the
    /// protocol's status (`rpc.grpc.status_code` or `http.response.status_code`), and status
    /// `ERROR` with the code's name as `error.type` only when the server is at fault (gRPC
    /// `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`,
    /// `DATA_LOSS`; HTTP 5xx). A caller's mistake (`NOT_FOUND`, a 400) leaves the status
    /// unset, so a flood of bad requests does not read as server errors in a backend's span
    /// metrics; the span's `code` attribute names it either way.
    pub(crate) fn server_outcome(span: &tracing::Span, code: Option<Code>, answer: Answer) {
        let fault = match answer {
            Answer::Grpc(grpc) => matches!(
                grpc,
                GrpcCode::Unknown
                    | GrpcCode::DeadlineExceeded
                    | GrpcCode::Unimplemented
                    | GrpcCode::Internal
                    | GrpcCode::Unavailable
                    | GrpcCode::DataLoss
            ),
            Answer::Http(status) => status >= 500,
        };
        let name = code.map_or("OK", |c| c.name());
        let status = match code {
            None => Some(None),
            Some(code) if fault => Some(Some(code.name())),
            // The caller's mistake: unset.
            Some(_) => None,
        };
        record_outcome(span, Some(name), Some(answer), status);
    }

    /// Records an outcome in one [`record_all`](tracing::Span::record_all): `code`, the
    /// protocol's status attribute, and the span status (`Some(None)`: `OK`,
    /// `Some(Some(name))`: `ERROR` with `error.type`, `None`: left unset).
    ///
    /// One dispatch, where a `Span::record` per field was one call into every layer each
    /// (and, for the log layer, one reformatting of the span's fields each).
    fn record_outcome(
        span: &tracing::Span,
        code: Option<&str>,
        answer: Option<Answer>,
        status: Option<Option<&str>>,
    ) {
        use tracing::field::Value;

        // No subscriber wants the span: matching five names against its fields was the
        // larger part of a call's outcome for nothing.
        if span.is_disabled() {
            return;
        }
        let Some(meta) = span.metadata() else { return };
        let fields = meta.fields();
        let (grpc, http) = match answer {
            Some(Answer::Grpc(grpc)) => (Some(grpc as i64), None),
            Some(Answer::Http(status)) => (None, Some(i64::from(status))),
            None => (None, None),
        };
        let otel_status = status.map(|error| if error.is_some() { "ERROR" } else { "OK" });
        let error = status.flatten();
        let values: [(&str, Option<&dyn Value>); 5] = [
            ("code", code.as_ref().map(|v| v as &dyn Value)),
            ("rpc.grpc.status_code", grpc.as_ref().map(|v| v as &dyn Value)),
            ("http.response.status_code", http.as_ref().map(|v| v as &dyn Value)),
            ("otel.status_code", otel_status.as_ref().map(|v| v as &dyn Value)),
            ("error.type", error.as_ref().map(|v| v as &dyn Value)),
        ];
        // A name the span lacks records nothing: its entry carries no value, on any field.
        let Some(any) = fields.iter().next() else { return };
        let found = values.map(|(name, value)| match fields.field(name) {
            Some(field) => (field, value),
            None => (any.clone(), None),
        });
        let [a, b, c, d, e] = &found;
        let set = [(&a.0, a.1), (&b.0, b.1), (&c.0, c.1), (&d.0, d.1), (&e.0, e.1)];
        span.record_all(&fields.value_set(&set));
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
        /// Opens the span of `req` and returns it with the trace context to send: a child of
        /// the caller's (a new root without one), whose span id the exported CLIENT span
        /// has, so the callee's SERVER span hangs under it. `None` when no subscriber records
        /// the span: the caller sends the runtime's child span id all the same.
        ///
        /// When the caller's trace context is not the one its `tracing` span belongs to
        /// (code that scoped a [`TraceContext`] without a span), the exported span joins the
        /// trace context: `x-trace-id` and the backend must agree.
        pub(crate) fn open<B>(req: &Request<B>, is_grpc: bool) -> (Self, Option<TraceContext>) {
            if no_info_spans() {
                return (Self(None), None);
            }
            let ambient = TraceContext::current();
            let sent = ambient.as_ref().map_or_else(TraceContext::new_root, TraceContext::child);
            let parent = ambient.as_ref().map_or(Parent::None, |a| Parent::Local(a.span_id));
            let host = req.uri().host().unwrap_or("");
            let span = with_ids(&sent, parent, || {
                if is_grpc {
                    let (service, method) = grpc_parts(req.uri().path());
                    tracing::info_span!(
                        "grpc.client",
                        otel.name = %format_args!("{service}/{method}"),
                        otel.kind = "client",
                        otel.status_code = Empty,
                        rpc.system = "grpc",
                        rpc.service = service,
                        rpc.method = method,
                        rpc.grpc.status_code = Empty,
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
                }
            });
            if span.is_disabled() {
                return (Self(None), None);
            }
            (Self(Some(span)), Some(sent))
        }

        /// Records the outcome (and the protocol's status, when one came) and ends the span.
        pub(crate) fn finish(self, code: &str, answer: Option<Answer>) {
            if let Some(span) = self.0 {
                client_outcome(&span, code, answer);
            }
        }
    }
}

#[cfg(not(feature = "otel"))]
mod without_otel {
    use http::{HeaderMap, Request};

    use crate::trace::{SpanId, TraceContext};

    /// The server span of a gRPC call: the method, the trace and, once known, the code.
    pub(crate) fn server_grpc(
        path: &str,
        trace: &TraceContext,
        _caller: Option<SpanId>,
    ) -> tracing::Span {
        tracing::info_span!(
            "grpc",
            method = %path,
            trace_id = %trace.trace_id,
            span_id = %trace.span_id,
            code = tracing::field::Empty,
        )
    }

    /// The server span of an HTTP request: the method, the route, the trace and, once known,
    /// the code.
    pub(crate) fn server_http(
        method: &str,
        route: &str,
        trace: &TraceContext,
        _caller: Option<SpanId>,
    ) -> tracing::Span {
        tracing::info_span!(
            "http",
            method = %method,
            route = %route,
            trace_id = %trace.trace_id,
            span_id = %trace.span_id,
            code = tracing::field::Empty,
        )
    }

    /// The code name: the one outcome field a span has without `otel`.
    #[inline]
    pub(crate) fn server_outcome(
        span: &tracing::Span,
        code: Option<crate::Code>,
        _: super::Answer,
    ) {
        span.record("code", code.map_or("OK", |c| c.name()));
    }

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
        pub(crate) fn finish(self, _: &str, _: Option<super::Answer>) {}
    }
}

#[cfg(all(test, feature = "otel"))]
mod tests {
    use std::convert::Infallible;

    use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
    use opentelemetry::Value;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use tower::{service_fn, Layer as _, ServiceExt as _};
    use tracing::Instrument as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use crate::middleware::{ClientLayer, TRACEPARENT};
    use crate::trace::TraceContext;

    #[test]
    fn a_grpc_path_splits_into_service_and_method_or_is_unknown() {
        let unknown = ("unknown", "unknown");
        for (path, parts) in [
            ("", unknown),
            ("/", unknown),
            ("//", unknown),
            ("inventory.Inventory/Reserve", unknown),
            ("/inventory.Inventory", unknown),
            ("/inventory.Inventory/", unknown),
            ("//Reserve", unknown),
            ("/a/b/c", unknown),
            ("/inventory.Inventory/Reserve/", unknown),
            ("/a/b", ("a", "b")),
            ("/inventory.Inventory/Reserve", ("inventory.Inventory", "Reserve")),
            ("/caf\u{e9}.S/r\u{e9}serve", ("caf\u{e9}.S", "r\u{e9}serve")),
        ] {
            assert_eq!(super::grpc_parts(path), parts, "{path:?}");
        }
    }

    fn attribute(span: &SpanData, key: &str) -> Option<Value> {
        span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
    }

    #[test]
    fn the_traceparent_sent_is_the_client_span_and_its_status_is_the_outcome() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(crate::otel::RuntimeIds::default())
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber =
            tracing_subscriber::registry().with(crate::otel::layer(provider.tracer("test")));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let sent = tracing::subscriber::with_default(subscriber, || {
            rt.block_on(async {
                // The server answers 503 with the traceparent it was sent.
                let svc = ClientLayer::new().layer(service_fn(|r: http::Request<()>| async move {
                    let mut response = http::Response::new(());
                    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                    response.headers_mut().insert(TRACEPARENT, r.headers()[TRACEPARENT].clone());
                    Ok::<_, Infallible>(response)
                }));
                let req = http::Request::post("http://checkout:8080/checkout").body(()).unwrap();
                let root = TraceContext::new_root();
                let parent = crate::otel::with_ids(&root, crate::otel::Parent::None, || {
                    tracing::info_span!("handler", otel.kind = "internal")
                });
                let response = root.scope(svc.oneshot(req).instrument(parent)).await.unwrap();
                let sent: TraceContext =
                    response.headers()[TRACEPARENT].to_str().unwrap().parse().unwrap();
                assert_eq!(sent.trace_id, root.trace_id);
                sent
            })
        });
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        let client = spans.iter().find(|s| s.span_kind == SpanKind::Client).expect("a CLIENT span");
        let handler = spans.iter().find(|s| s.name == "handler").unwrap();
        assert_eq!(client.span_context.span_id().to_bytes(), sent.span_id.to_u64().to_be_bytes());
        assert_eq!(client.parent_span_id, handler.span_context.span_id());
        assert_eq!(client.name, "POST");
        assert!(matches!(client.status, Status::Error { .. }), "{:?}", client.status);
        assert_eq!(attribute(client, "error.type"), Some(Value::from("UNAVAILABLE")));
        assert_eq!(attribute(client, "http.response.status_code"), Some(Value::I64(503)));
    }
}
