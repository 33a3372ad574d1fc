//! OpenTelemetry bridge (feature `otel`): the same trace and span ids in `tracing` spans,
//! in errors, and in Jaeger or any OTLP backend.
//!
//! The runtime's [`TraceContext`] is the source of truth (it is parsed strictly, where
//! `opentelemetry_sdk`'s propagator is lenient). To make a `tracing` span exported through
//! `tracing-opentelemetry` join a trace, give it the context as its remote parent *right after
//! creating it, before it is entered*: since tracing-opentelemetry 0.32 a late `set_parent`
//! fails and the span silently starts a new trace.
//!
//! ```
//! use result_runtime::{otel, trace::TraceContext};
//!
//! let tc: TraceContext = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
//! let sc = otel::span_context(&tc);
//! assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(sc.is_remote() && sc.is_sampled());
//! assert_eq!(otel::from_span_context(&sc).as_ref(), Some(&tc));
//!
//! let span = tracing::info_span!("handle");
//! let _ = otel::set_parent(&span, &tc); // a no-op without an OpenTelemetry layer
//! ```
//!
//! A span the SDK starts gets ids of the SDK's choosing; for the exported span to carry the
//! ids the runtime gave it (those its logs show), build the provider with [`RuntimeIds`] and
//! give the layer a [`RuntimeIdsTracer`].

mod ids;

pub use ids::{RuntimeIds, RuntimeIdsTracer};

use opentelemetry::trace::{
    SpanContext, SpanId as OtelSpanId, TraceContextExt, TraceFlags as OtelFlags,
    TraceId as OtelTraceId, TraceState,
};
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};

use opentelemetry::baggage::BaggageExt as _;

use crate::trace::{Baggage, SpanId, TraceContext, TraceFlags, TraceId};

/// The OpenTelemetry span context of `tc`, marked remote (it came from, or goes to, another
/// hop), with `tc`'s tracestate.
#[must_use]
pub fn span_context(tc: &TraceContext) -> SpanContext {
    // Our tracestate is already valid W3C; OpenTelemetry's own check can only agree.
    let state = TraceState::from_key_value(tc.tracestate().iter()).unwrap_or_default();
    SpanContext::new(
        OtelTraceId::from_bytes(tc.trace_id.to_bytes()),
        OtelSpanId::from_bytes(tc.span_id.to_u64().to_be_bytes()),
        OtelFlags::new(tc.flags.bits()),
        true,
        state,
    )
}

/// An OpenTelemetry context whose remote parent is `tc`, carrying `tc`'s baggage as
/// OpenTelemetry baggage.
#[must_use]
pub fn otel_context(tc: &TraceContext) -> opentelemetry::Context {
    let context = opentelemetry::Context::new().with_remote_span_context(span_context(tc));
    if tc.baggage().is_empty() {
        context
    } else {
        context.with_baggage(otel_baggage(tc.baggage()))
    }
}

/// The runtime's baggage as OpenTelemetry's (values decoded, properties as metadata).
#[must_use]
pub fn otel_baggage(baggage: &Baggage) -> opentelemetry::baggage::Baggage {
    baggage
        .iter()
        .map(|e| {
            opentelemetry::baggage::KeyValueMetadata::new(
                e.key().to_owned(),
                e.value().to_owned(),
                e.properties().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The runtime's context for an OpenTelemetry span context (with its tracestate, when that
/// is valid W3C); `None` when the span context is invalid.
#[must_use]
pub fn from_span_context(sc: &SpanContext) -> Option<TraceContext> {
    let tc = TraceContext::new(
        TraceId::from_u128(u128::from_be_bytes(sc.trace_id().to_bytes()))?,
        SpanId::from_u64(u64::from_be_bytes(sc.span_id().to_bytes()))?,
        TraceFlags::from_bits(sc.trace_flags().to_u8()),
    );
    let header = sc.trace_state().header();
    Some(match header.parse::<crate::trace::TraceState>() {
        Ok(state) if !state.is_empty() => tc.with_tracestate(state),
        _ => tc,
    })
}

/// Makes `tc` the remote parent of `span`. Call it before the span is first entered.
///
/// # Errors
/// What tracing-opentelemetry reports, e.g. when the span was already started.
pub fn set_parent(span: &tracing::Span, tc: &TraceContext) -> Result<(), SetParentError> {
    // tracing-opentelemetry answers a disabled span with this very error, but only after
    // the context (and a copy of the baggage) was built for nothing: that is every call of a
    // server whose spans no subscriber records.
    if span.is_disabled() {
        return Err(SetParentError::SpanDisabled);
    }
    span.set_parent(otel_context(tc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn exported_spans_carry_the_runtime_trace_id() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let tc = TraceContext::new_root();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("handle");
            set_parent(&span, &tc).unwrap();
            let _entered = span.enter();
        });
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        let exported = &spans[0];
        assert_eq!(exported.span_context.trace_id().to_bytes(), tc.trace_id.to_bytes());
        assert_eq!(exported.parent_span_id.to_bytes(), tc.span_id.to_u64().to_be_bytes());
    }

    #[test]
    fn tracestate_and_baggage_cross_the_bridge() {
        let tc = TraceContext::new_root()
            .with_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".parse().unwrap())
            .with_baggage(Baggage::from_header("tenant=acme,user=J%C3%B6rg;pii"));
        let sc = span_context(&tc);
        assert_eq!(sc.trace_state().get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(from_span_context(&sc).unwrap().tracestate(), tc.tracestate());
        let cx = otel_context(&tc);
        assert_eq!(
            cx.baggage().get("user").map(|v| v.as_str().to_owned()),
            Some("Jörg".to_owned())
        );
        let (_, meta) = cx.baggage().get_with_metadata("user").unwrap();
        assert_eq!(meta.as_str(), "pii");
    }

    #[test]
    fn invalid_span_contexts_do_not_convert() {
        assert_eq!(from_span_context(&SpanContext::NONE), None);
    }
}
