//! What the gRPC and HTTP server layers share: reading the caller's trace context, the
//! response headers, and the end-of-call log event.
#![cfg_attr(not(any(feature = "grpc", feature = "http")), allow(dead_code))] // the client layer alone uses little of it

use std::borrow::Cow;
use std::time::Duration;

use tokio::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue};
use tracing::Level;

use super::span::Answer;
use super::{BAGGAGE, GRPC_TIMEOUT, TRACEPARENT, TRACESTATE, X_TRACE_ID};

// Parsed once: a `&str` name is parsed (and hashed) again by every `HeaderMap` lookup.
static TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT);
static TRACESTATE_NAME: HeaderName = HeaderName::from_static(TRACESTATE);
static BAGGAGE_NAME: HeaderName = HeaderName::from_static(BAGGAGE);
static X_TRACE_ID_NAME: HeaderName = HeaderName::from_static(X_TRACE_ID);
use crate::trace::{SpanId, TraceContext};
use crate::{Code, TaskError};

/// `tracing` macros need a constant level; this picks one at run time.
macro_rules! at_level {
    ($level:expr, $($args:tt)*) => {
        match $level {
            Level::ERROR => tracing::error!($($args)*),
            Level::WARN => tracing::warn!($($args)*),
            Level::INFO => tracing::info!($($args)*),
            Level::DEBUG => tracing::debug!($($args)*),
            _ => tracing::trace!($($args)*),
        }
    };
}

/// The server's trace context for a request with these headers: a child span of the caller's
/// `traceparent`, or a new root when the header is absent, repeated or invalid.
///
/// Parsing is strict ([`TraceContext::from_header_or_root`]); a rejected value is logged at
/// `debug` (it is caller input, not a server problem) and never trusted, not even its trace
/// id: W3C says a malformed header restarts the trace.
///
/// ```
/// use http::HeaderMap;
/// use result_runtime::middleware::trace_from_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let tc = trace_from_headers(&headers);
/// assert_eq!(tc.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_ne!(tc.span_id.to_string(), "00f067aa0ba902b7"); // our own span
///
/// headers.insert("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".parse().unwrap());
/// assert_ne!(trace_from_headers(&headers).trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
#[must_use]
pub fn trace_from_headers(headers: &HeaderMap) -> TraceContext {
    extract(headers).0
}

/// The server's trace context and the caller's span id, when the caller sent a valid one.
///
/// The caller's `tracestate` is kept only with a valid `traceparent` (W3C: a restarted trace
/// drops it); `baggage` is independent of the trace. Both are kept as text and parsed on
/// first read ([`TraceContext::tracestate`], [`TraceContext::baggage`]): the tracestate only
/// when valid as a whole, the baggage keeping every well-formed member. Rejections are
/// caller input: logged at `debug`.
pub(crate) fn extract(headers: &HeaderMap) -> (TraceContext, Option<SpanId>) {
    Received::scan(headers).trace()
}

/// One request header as found by [`Received::scan`].
#[derive(Clone, Copy)]
pub(crate) enum Found<'a> {
    Absent,
    One(&'a HeaderValue),
    /// Repeated: read again with `get_all`, which is rare enough to pay a lookup.
    Many,
}

/// The request headers the server layers read, found in one pass over the map.
///
/// A request carries few headers (a tonic call six or seven), and each `HeaderMap` lookup
/// hashes the name and probes: one pass comparing names is a quarter of four lookups.
pub(crate) struct Received<'a> {
    headers: &'a HeaderMap,
    traceparent: Found<'a>,
    tracestate: Found<'a>,
    baggage: Found<'a>,
    /// gRPC's deadline header, for the gRPC layer.
    pub(crate) grpc_timeout: Found<'a>,
}

impl<'a> Received<'a> {
    pub(crate) fn scan(headers: &'a HeaderMap) -> Self {
        let mut received = Self {
            headers,
            traceparent: Found::Absent,
            tracestate: Found::Absent,
            baggage: Found::Absent,
            grpc_timeout: Found::Absent,
        };
        for (name, value) in headers {
            let found = match name.as_str() {
                TRACEPARENT => &mut received.traceparent,
                TRACESTATE => &mut received.tracestate,
                BAGGAGE => &mut received.baggage,
                GRPC_TIMEOUT => &mut received.grpc_timeout,
                _ => continue,
            };
            *found = match found {
                Found::Absent => Found::One(value),
                Found::One(_) | Found::Many => Found::Many,
            };
        }
        received
    }

    /// [`extract`] from the scanned headers.
    pub(crate) fn trace(&self) -> (TraceContext, Option<SpanId>) {
        let (trace, caller) = self.parent();
        let tracestate = match caller {
            Some(_) => self
                .joined(self.tracestate, &TRACESTATE_NAME, |v| v.to_str().ok().map(Cow::Borrowed))
                .unwrap_or_else(|| {
                    tracing::debug!("tracestate is not ASCII: dropped");
                    Cow::Borrowed("")
                }),
            None => Cow::Borrowed(""),
        };
        // Read as UTF-8 (invalid bytes replaced), not as visible ASCII: a member with other
        // characters is malformed and dropped by the parse, and only it, where `to_str` would
        // void the whole header.
        let baggage = self
            .joined(self.baggage, &BAGGAGE_NAME, |v| {
                // `from_utf8` first: its ASCII path is several times faster than the lossy one.
                Some(
                    std::str::from_utf8(v.as_bytes())
                        .map_or_else(|_| String::from_utf8_lossy(v.as_bytes()), Cow::Borrowed),
                )
            })
            .unwrap_or_default();
        (trace.with_received(&tracestate, &baggage), caller)
    }

    /// Every value of a header as one list (RFC 9110 field combination: joined by `,`), as
    /// `text` reads each: empty when the header is absent, `None` when a value could not be
    /// read. One value, the usual case, is borrowed.
    fn joined(
        &self,
        found: Found<'a>,
        name: &HeaderName,
        text: impl Fn(&'a HeaderValue) -> Option<Cow<'a, str>>,
    ) -> Option<Cow<'a, str>> {
        match found {
            Found::Absent => Some(Cow::Borrowed("")),
            Found::One(value) => text(value),
            Found::Many => {
                let mut list = String::new();
                for value in self.headers.get_all(name) {
                    if !list.is_empty() {
                        list.push(',');
                    }
                    list.push_str(&text(value)?);
                }
                Some(Cow::Owned(list))
            }
        }
    }

    fn parent(&self) -> (TraceContext, Option<SpanId>) {
        let first = match self.traceparent {
            Found::One(first) => first,
            Found::Absent => return (TraceContext::new_root(), None),
            Found::Many => {
                tracing::debug!("more than one traceparent header: starting a new trace");
                return (TraceContext::new_root(), None);
            }
        };
        let Ok(text) = first.to_str() else {
            tracing::debug!(traceparent = ?first, "traceparent is not ASCII: starting a new trace");
            return (TraceContext::new_root(), None);
        };
        match TraceContext::from_header_or_root(Some(text)) {
            (parent, None) => {
                let caller = parent.span_id;
                (parent.child(), Some(caller))
            }
            (root, Some(error)) => {
                tracing::debug!(traceparent = text, %error, "rejected traceparent: starting a new trace");
                (root, None)
            }
        }
    }
}

/// One server call in progress: its trace context, start time and span.
pub(crate) struct Call {
    pub(crate) trace: TraceContext,
    pub(crate) start: Instant,
    pub(crate) span: tracing::Span,
}

impl Call {
    /// Sets `traceparent` (this server's span) and `x-trace-id` on a response.
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP layer's
    pub(crate) fn stamp(&self, headers: &mut HeaderMap) {
        stamp(&self.trace, headers);
    }

    /// Sets `x-trace-id` alone on a response: what the gRPC layer answers with.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))] // the gRPC layer's
    pub(crate) fn stamp_trace_id(&self, headers: &mut HeaderMap) {
        stamp_trace_id(&self.trace, headers);
    }

    /// A call of `trace` that started at `start`, in `span` (exported under the caller's
    /// span: see [`server_grpc`](super::span::server_grpc)).
    pub(crate) fn new(trace: TraceContext, start: Instant, span: tracing::Span) -> Self {
        Self { trace, start, span }
    }

    /// Records the outcome on the span (`answer`: what the client was told) and emits the
    /// one end-of-call event, at the level of the code's severity (`DEBUG` for success).
    ///
    /// The event repeats `call` (the gRPC method or HTTP route) and `trace_id`, so it stays
    /// useful where a filter drops the `INFO` span. `elapsed` is the one reading of the
    /// clock the call's metrics get too.
    pub(crate) fn log(
        &self,
        call: &str,
        code: Option<Code>,
        error: Option<&TaskError>,
        answer: Answer,
        elapsed: Duration,
    ) {
        let name = code.map_or("OK", |c| c.name());
        super::span::server_outcome(&self.span, code, answer);
        let level = code.map_or(Level::DEBUG, |c| c.severity().level());
        let ms = format_args!("{:.3}", elapsed.as_secs_f64() * 1e3);
        let trace_id = self.trace.trace_id;
        // The span as the event's parent, not entered around it: entering and leaving it is
        // a call into every layer each (an OpenTelemetry layer reads the clock and takes a
        // lock on every exit), and a success's `DEBUG` event is off under the usual `INFO`.
        let span = &self.span;
        match error {
            // `{:#}` has the internal detail (sources, panic message and location): for the
            // log only, never for the client.
            Some(e) => {
                at_level!(level, parent: span, call, code = name, duration_ms = %ms, %trace_id, error = %format_args!("{e:#}"), "call failed")
            }
            None if code.is_some() => {
                at_level!(level, parent: span, call, code = name, duration_ms = %ms, %trace_id, "call failed")
            }
            None => {
                at_level!(level, parent: span, call, code = name, duration_ms = %ms, %trace_id, "call done")
            }
        }
    }
}

/// Sets `traceparent` and `x-trace-id` for this trace context, replacing earlier values.
#[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP layer's
pub(crate) fn stamp(trace: &TraceContext, headers: &mut HeaderMap) {
    // One copy from a stack buffer, no `String` in between; `x-trace-id` is the trace id's
    // slice of the same bytes, so both values share one allocation.
    let bytes = bytes::Bytes::copy_from_slice(&trace.traceparent_bytes());
    let trace_id = HeaderValue::from_maybe_shared(bytes.slice(3..35));
    let mut traceparent = HeaderValue::from_maybe_shared(bytes).expect("hex and '-' are valid");
    // The span id is new on every call, so HPACK indexing it (over HTTP/2) is pure waste:
    // each response's value went into the encoder's and the peer's dynamic tables, evicting
    // what does repeat (x-trace-id, content-type), and the encoder compared every new value
    // against each earlier `traceparent` it still held. `sensitive` is h2's only way to send
    // a literal that is never indexed; the value on the wire is the same.
    traceparent.set_sensitive(true);
    headers.insert(TRACEPARENT_NAME.clone(), traceparent);
    headers.insert(X_TRACE_ID_NAME.clone(), trace_id.expect("hex is valid"));
}

/// Sets `x-trace-id` for this trace context, replacing an earlier value.
///
/// The gRPC layer sends this alone. A response `traceparent` is no W3C header (Trace Context
/// defines the request's), nothing reads it, and over HTTP/2 it was the one response header
/// whose value is new on every call: HPACK Huffman-codes it on both sides every time, which
/// was a fifth of the layer's cost per call. `x-trace-id` is the same for the whole trace,
/// so HPACK indexes it once per connection and trace.
#[cfg_attr(not(feature = "grpc"), allow(dead_code))] // the gRPC layer's
pub(crate) fn stamp_trace_id(trace: &TraceContext, headers: &mut HeaderMap) {
    let value = HeaderValue::from_bytes(&trace.trace_id.hex()).expect("hex is valid");
    headers.insert(X_TRACE_ID_NAME.clone(), value);
}

/// Hex digits and dashes are always a valid header value.
pub(crate) fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("hex and '-' are valid header characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(TRACEPARENT, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_valid_parent_is_continued_in_a_child_span() {
        let tc = trace_from_headers(&headers(&[VALID]));
        let parent: TraceContext = VALID.parse().unwrap();
        assert_eq!(tc.trace_id, parent.trace_id);
        assert_ne!(tc.span_id, parent.span_id);
        assert_eq!(tc.flags, parent.flags);
    }

    #[test]
    fn absent_invalid_or_repeated_headers_start_a_new_trace() {
        let parent: TraceContext = VALID.parse().unwrap();
        let upper = VALID.to_uppercase();
        let cases: Vec<HeaderMap> = vec![
            HeaderMap::new(),
            headers(&[&upper]),
            headers(&["garbage"]),
            headers(&[&format!("{VALID}-extra")]),
            headers(&[VALID, VALID]),
        ];
        for h in cases {
            let tc = trace_from_headers(&h);
            assert_ne!(tc.trace_id, parent.trace_id, "{h:?}");
            assert!(tc.flags.random_trace_id(), "a new root: {h:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, HeaderValue::from_bytes(b"00-\xff").unwrap());
        assert_ne!(trace_from_headers(&h).trace_id, parent.trace_id);
    }

    #[test]
    fn a_baggage_member_with_bytes_outside_ascii_is_dropped_alone() {
        let mut h = HeaderMap::new();
        // UTF-8 text, then a byte that is not UTF-8 at all: both legal in a header value.
        h.append(BAGGAGE, HeaderValue::from_bytes(b"good=1,bad=\xc3\xa9,x=\xff").unwrap());
        h.append(BAGGAGE, HeaderValue::from_static("also=2"));
        let baggage = trace_from_headers(&h).baggage().clone();
        assert_eq!(baggage.to_string(), "good=1,also=2");
        assert_eq!(baggage.dropped(), 2);
        // One value alone takes the borrowed path: the same rule.
        let mut h = HeaderMap::new();
        h.insert(BAGGAGE, HeaderValue::from_bytes(b"k=\xff,ok=1").unwrap());
        assert_eq!(trace_from_headers(&h).baggage().to_string(), "ok=1");
    }

    #[test]
    fn tracestate_headers_are_one_list_kept_only_whole_and_only_with_a_valid_traceparent() {
        let tracestate = |values: &[&[u8]], traceparent: &str| {
            let mut h = headers(&[traceparent]);
            for v in values {
                h.append(TRACESTATE, HeaderValue::from_bytes(v).unwrap());
            }
            trace_from_headers(&h).tracestate().to_string()
        };
        assert_eq!(tracestate(&[b"rojo=1", b"congo=2"], VALID), "rojo=1,congo=2");
        assert_eq!(tracestate(&[b"rojo=1", b""], VALID), "rojo=1");
        // A key repeated across headers, a bad member in the second, a non-ASCII value:
        // the whole list goes.
        assert_eq!(tracestate(&[b"rojo=1", b"rojo=2"], VALID), "");
        assert_eq!(tracestate(&[b"rojo=1", b"Congo=2"], VALID), "");
        assert_eq!(tracestate(&[b"rojo=1", b"congo=\xc3\xa9"], VALID), "");
        // A restarted trace drops it (W3C), valid or not.
        assert_eq!(tracestate(&[b"rojo=1"], "garbage"), "");
    }

    #[cfg(all(feature = "otel", feature = "grpc"))]
    #[test]
    fn the_exported_server_span_continues_the_trace_under_its_caller() {
        use opentelemetry::trace::{SpanId as OtelSpanId, TracerProvider as _};
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
        use tracing_subscriber::layer::SubscriberExt;

        for h in [headers(&[VALID]), HeaderMap::new()] {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_id_generator(crate::otel::RuntimeIds::default())
                .with_simple_exporter(exporter.clone())
                .build();
            let subscriber =
                tracing_subscriber::registry().with(crate::otel::layer(provider.tracer("t")));
            let (trace, caller) = extract(&h);
            tracing::subscriber::with_default(subscriber, || {
                let span = crate::middleware::span::server_grpc("/a.B/C", &trace, caller);
                drop(Call::new(trace.clone(), Instant::now(), span));
            });
            let spans = exporter.get_finished_spans().unwrap();
            assert_eq!(spans.len(), 1, "{h:?}");
            let sc = &spans[0].span_context;
            assert_eq!(sc.trace_id().to_bytes(), trace.trace_id.to_bytes(), "{h:?}");
            assert_eq!(sc.span_id().to_bytes(), trace.span_id.to_u64().to_be_bytes(), "{h:?}");
            let parent = caller
                .map_or(OtelSpanId::INVALID, |c| OtelSpanId::from_bytes(c.to_u64().to_be_bytes()));
            assert_eq!(spans[0].parent_span_id, parent, "{h:?}");
        }
    }

    #[test]
    fn stamp_replaces_both_headers() {
        let tc: TraceContext = VALID.parse().unwrap();
        let mut h = headers(&["00-11111111111111111111111111111111-1111111111111111-01"]);
        stamp(&tc, &mut h);
        assert_eq!(h.get_all(TRACEPARENT).iter().count(), 1);
        assert_eq!(h[TRACEPARENT], VALID);
        assert_eq!(h[X_TRACE_ID], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(h[TRACEPARENT].is_sensitive(), "a per-call value: never HPACK-indexed");
        assert!(!h[X_TRACE_ID].is_sensitive(), "the same for the whole trace: worth indexing");
    }

    #[test]
    fn stamp_trace_id_replaces_it_and_leaves_traceparent_alone() {
        let tc: TraceContext = VALID.parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(X_TRACE_ID, HeaderValue::from_static("11111111111111111111111111111111"));
        stamp_trace_id(&tc, &mut h);
        assert_eq!(h.get_all(X_TRACE_ID).iter().count(), 1);
        assert_eq!(h[X_TRACE_ID], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(h.get(TRACEPARENT).is_none());
    }
}
