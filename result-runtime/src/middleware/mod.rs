//! tower middleware for services: one response shape, a trace id on every hop, panics that
//! never reach the wire.
//!
//! tonic and axum already speak tower, so everything here is a tower `Layer`:
//!
//! | piece | feature | what it does |
//! | --- | --- | --- |
//! | `grpc::ResultLayer` | `grpc` | server layer for tonic: trace context from `traceparent`, the ambient [`Context`](crate::context::Context) with the request's `grpc-timeout` as deadline, panic recovery, [`TaskError`](crate::TaskError) to `tonic::Status` through the code table, `x-trace-id` in the response, metrics, one span per call |
//! | `http::ResultLayer`, `http::Reply` | `http` | the same for axum; handlers answer with the JSON envelope `{code, message, data, trace_id, duration_ms}` |
//! | `ClientLayer` | `tower` | client layer for any `http::Request` service (a tonic `Channel`, hyper-util's legacy `Client`): injects the current trace context as a child span, and for gRPC the ambient deadline as `grpc-timeout` |
//!
//! What peers leave to you and this does not: tonic's `Interceptor` is synchronous and never
//! sees the response; tonic does not recover panics (a unary panic reaches the client as a
//! reset stream); tower-http's `TraceLayer`, `CatchPanic` and request-id layers each do one
//! part, and none gives the client one response shape with the code, a safe message and the
//! trace id.
//!
//! ## What every server layer does, per call
//!
//! 1. Reads `traceparent` strictly ([`TraceContext::from_header_or_root`]): an absent,
//!    repeated or invalid value starts a new trace; a rejected value is logged at `debug` and
//!    never trusted. The handler runs in a child span of the caller's. `tracestate` (only
//!    with a valid `traceparent`) and `baggage` are kept as the text received and parsed on
//!    first read, by the handler, a client layer forwarding them or the OpenTelemetry
//!    bridge; what that parse rejects is logged at `debug` then.
//! 2. Runs the handler inside [`TraceContext::scope`] and [`Context::run`](crate::context::Context::run)
//!    under [`crate::panic::catch_unwind`]: a panic becomes `PANICKED`, which clients see as
//!    an internal error with a safe message; the payload only goes to the log.
//! 3. Answers with `x-trace-id` on success and failure; the HTTP layer also with
//!    `traceparent` (the server's span). gRPC responses carry no `traceparent`: it is no
//!    W3C response header, and over HTTP/2 its value, new on every call, was Huffman-coded
//!    on both sides of every call, where `x-trace-id` repeats for the whole trace and HPACK
//!    indexes it. The HTTP `traceparent` is marked sensitive, so HTTP/2 never indexes it.
//! 4. Records, through the `metrics` facade, a counter by method and code and a latency
//!    histogram (names below), and emits one event at the end of the call's span at the
//!    level of the code's [`Severity`](crate::Severity) (`DEBUG` for success): a client's
//!    mistake is not logged as a server error.
//!
//! Metric names (server and client, calls, latency, in flight): [`GRPC_SERVER_CALLS`],
//! [`GRPC_SERVER_DURATION`], [`GRPC_SERVER_IN_FLIGHT`], [`GRPC_CLIENT_CALLS`],
//! [`GRPC_CLIENT_DURATION`], [`GRPC_CLIENT_IN_FLIGHT`], [`HTTP_SERVER_REQUESTS`],
//! [`HTTP_SERVER_DURATION`], [`HTTP_SERVER_IN_FLIGHT`], [`HTTP_CLIENT_REQUESTS`],
//! [`HTTP_CLIENT_DURATION`], [`HTTP_CLIENT_IN_FLIGHT`].
//!
//! ## Every metric the runtime records
//!
//! Through the `metrics` facade (install any recorder; the examples install
//! `metrics-exporter-prometheus` behind `--metrics ADDR`), Prometheus conventions: base
//! units, `_total` counters, `_seconds` histograms, bounded labels (never a trace id, a key
//! or a raw path). `code` is `OK` or a [`Code`](crate::Code) name. An HTTP `route` is axum's
//! `MatchedPath` (apply the layer with `Router::layer`, so the router has matched first); a
//! request no route matched is `route="unknown"`, as is a gRPC call answered `UNIMPLEMENTED`.
//!
//! | metric | kind | labels | recorded by |
//! |---|---|---|---|
//! | `grpc_server_handled_total` | counter | `service`, `method`, `code` | gRPC server layer, per call |
//! | `grpc_server_handling_seconds` | histogram | `service`, `method` | gRPC server layer |
//! | `grpc_server_in_flight` | gauge | `service`, `method` | gRPC server layer |
//! | `grpc_client_handled_total` | counter | `service`, `method`, `code` | `ClientLayer`, gRPC calls |
//! | `grpc_client_handling_seconds` | histogram | `service`, `method` | `ClientLayer` |
//! | `grpc_client_in_flight` | gauge | `service`, `method` | `ClientLayer` |
//! | `http_server_requests_total` | counter | `method`, `route`, `code`, `status` | HTTP server layer |
//! | `http_server_request_duration_seconds` | histogram | `method`, `route` | HTTP server layer |
//! | `http_server_requests_in_flight` | gauge | `method`, `route` | HTTP server layer |
//! | `http_client_requests_total` | counter | `method`, `peer`, `code`, `status` | `ClientLayer`, HTTP calls |
//! | `http_client_request_duration_seconds` | histogram | `method`, `peer` | `ClientLayer` |
//! | `http_client_requests_in_flight` | gauge | `method`, `peer` | `ClientLayer` |
//! | `group_tasks_spawned_total` | counter | `group` (name, or `anonymous`) | [`Group`](crate::group::Group) spawns |
//! | `group_tasks_finished_total` | counter | `group`, `outcome` = `ok` / `failed` / `cancelled` / `panicked` / `deadline_exceeded` | a group task's end (aborted tasks never finish) |
//! | `cache_hits_total`, `cache_misses_total`, `cache_negative_hits_total`, `cache_loads_total`, `cache_load_errors_total`, `cache_evictions_total`, `cache_expirations_total` | counter | `cache` | `ResultCache::record_metrics`, a snapshot of its striped counters (call it before a scrape) |
//! | `cache_lease_waits_total` | counter: loads that waited for another replica's lease on their key instead of loading it | `cache` | the same, for a cache with a Redis tier (feature `redis`) |
//! | `result_channel_depth` | gauge: items sent, not received yet | `channel` | named [`ResultChannel`](crate::channel::ResultChannel)s |
//! | `result_channel_sent_total` | counter | `channel`, `outcome` = `ok` / `err` | named channels, per item accepted |
//! | `result_channel_closed_with_error_total` | counter | `channel` | named fail-fast channels closed by their first `Err` |
//! | `breaker_state` | gauge: 0 closed, 1 open, 2 half-open | `breaker` | named [`CircuitBreaker`](crate::breaker::CircuitBreaker)s |
//! | `breaker_calls_total` | counter | `breaker`, `outcome` = `success` / `failure` / `ignored` | named breakers |
//! | `breaker_slow_calls_total`, `breaker_rejections_total` | counter | `breaker` | named breakers |
//! | `retry_budget_exhausted_total` | counter | `budget` | named retry budgets |
//! | `pool_gets_total` | counter | `pool`, `outcome` = `hit` / `miss` | `Pool::record_metrics` of a named pool, a snapshot of its per-thread counters (call it before a scrape) |
//! | `pool_returns_total` | counter | `pool`, `outcome` = `kept` / `dropped` | the same |
//! | `pool_idle` | gauge | `pool` | the same: objects pooled now |
//!
//! Group, cache, channel, breaker and pool metrics need the `metrics` feature (on with `tower`).
//!
//! Features: `tower` (the client layer and shared parts), `grpc` (tonic), `http` (axum); the
//! module is empty without them. With `otel` too, each call's span, exported through
//! [`otel::layer`](crate::otel::layer), has the ids of the request's trace context, so an
//! OpenTelemetry backend shows the trace id of `x-trace-id`, and the spans follow the
//! OpenTelemetry conventions:
//!
//! - the server layers' span is a SERVER span named `package.Service/Method` (gRPC:
//!   `rpc.system`, `rpc.service`, `rpc.method`) or `METHOD route` (HTTP:
//!   `http.request.method`, `http.route`), whose parent is the caller's span from
//!   `traceparent` (its tracestate in the span context);
//! - `ClientLayer` opens a CLIENT span per call (a child of the current `tracing` span) and
//!   sends *its* id in `traceparent` (the runtime's child span id, as without `otel`), so the
//!   callee's SERVER span hangs under it;
//! - a CLIENT span ends with `otel.status_code` `OK`, or `ERROR` and the code's name in
//!   `error.type` (a custom code's own name, read from the error details): a name, never a
//!   message, since spans leave the process;
//! - a SERVER span names its code in `code` and its protocol's status in
//!   `rpc.grpc.status_code` or `http.response.status_code`, and is `ERROR` (with
//!   `error.type`) only when the server is at fault, as the conventions ask: HTTP 5xx; gRPC
//!   `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`.
//!   A caller's mistake leaves it unset, so bad requests do not read as server errors in a
//!   backend's span metrics;
//! - group tasks, [`spawn`](crate::spawn()) and cache loads run inside the spawner's span, so
//!   `#[traced]` steps in them stay in the request's tree.
//!
//! Without `otel` none of this runs: the client layer opens no span.
//!
//! The server layers' end-of-call *event* is a log line: on failure it carries the error's
//! internal detail (`{e:#}`: sources, panic message and location), for the service's own
//! logs. [`otel::layer`](crate::otel::layer) exports no events, so that detail never
//! reaches the tracing backend. (`tracing-opentelemetry`'s layer exports events as span
//! events: under it, give it a filter that keeps spans only.)
//!
//! [`TraceContext::from_header_or_root`]: crate::trace::TraceContext::from_header_or_root
//! [`TraceContext::scope`]: crate::trace::TraceContext::scope

#[cfg(feature = "tower")]
mod client;
#[cfg(feature = "tower")]
mod meter;
#[cfg(feature = "tower")]
mod server;
#[cfg(feature = "tower")]
mod span;

#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;

#[cfg(feature = "tower")]
pub use client::{
    format_grpc_timeout, parse_grpc_timeout, ClientBody, ClientFuture, ClientLayer, ClientService,
    GRPC_TIMEOUT,
};
#[cfg(feature = "tower")]
pub use server::trace_from_headers;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header of vendor trace data that travels with `traceparent`.
pub const TRACESTATE: &str = "tracestate";
/// The W3C header of application key-value pairs that travel with the trace.
pub const BAGGAGE: &str = "baggage";
/// The response header that carries the trace id alone, for people and log searches.
pub const X_TRACE_ID: &str = "x-trace-id";
/// Counter of gRPC calls served, labelled `service` (the full service name), `method` and
/// `code` (`OK` or the [`Code`](crate::Code) name; `PANICKED` is kept apart from `INTERNAL`
/// here, unlike on the wire). A call to an unknown method is labelled `unknown`.
pub const GRPC_SERVER_CALLS: &str = "grpc_server_handled_total";
/// Histogram of gRPC call latency in seconds, labelled `service` and `method`.
pub const GRPC_SERVER_DURATION: &str = "grpc_server_handling_seconds";
/// Gauge of gRPC calls being served, labelled `service` and `method`.
pub const GRPC_SERVER_IN_FLIGHT: &str = "grpc_server_in_flight";
/// Counter of gRPC calls made through `ClientLayer`, labelled `service`, `method`, `code`.
pub const GRPC_CLIENT_CALLS: &str = "grpc_client_handled_total";
/// Histogram of gRPC client call latency in seconds, labelled `service` and `method`.
pub const GRPC_CLIENT_DURATION: &str = "grpc_client_handling_seconds";
/// Gauge of gRPC client calls in flight, labelled `service` and `method`.
pub const GRPC_CLIENT_IN_FLIGHT: &str = "grpc_client_in_flight";
/// Counter of HTTP requests served, labelled `method`, `route` (the matched route; `unknown`
/// for a 404), `code` and `status`.
pub const HTTP_SERVER_REQUESTS: &str = "http_server_requests_total";
/// Histogram of HTTP request latency in seconds, labelled `method` and `route`.
pub const HTTP_SERVER_DURATION: &str = "http_server_request_duration_seconds";
/// Gauge of HTTP requests being served, labelled `method` and `route`.
pub const HTTP_SERVER_IN_FLIGHT: &str = "http_server_requests_in_flight";
/// Counter of HTTP requests made through `ClientLayer`, labelled `method`, `peer` (the
/// authority), `code` (`OK`, or the code of the status) and `status`.
pub const HTTP_CLIENT_REQUESTS: &str = "http_client_requests_total";
/// Histogram of HTTP client request latency in seconds, labelled `method` and `peer`.
pub const HTTP_CLIENT_DURATION: &str = "http_client_request_duration_seconds";
/// Gauge of HTTP client requests in flight, labelled `method` and `peer`.
pub const HTTP_CLIENT_IN_FLIGHT: &str = "http_client_requests_in_flight";
