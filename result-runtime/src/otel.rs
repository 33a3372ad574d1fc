//! OpenTelemetry bridge (feature `otel`): the same trace and span ids in `tracing` spans,
//! in errors, and in Jaeger or any OTLP backend.
//!
//! The runtime's [`TraceContext`] is the source of truth (it is parsed strictly, where
//! `opentelemetry_sdk`'s propagator is lenient). [`layer`] exports `tracing` spans through an
//! OpenTelemetry tracer; the spans the runtime opens (SERVER, CLIENT, `#[traced]` steps) are
//! exported with the ids the runtime gave them when the provider is built with
//! [`RuntimeIds`], and a SERVER span hangs under its caller's CLIENT span.
//!
//! To continue a trace that arrived another way (a queue message's `traceparent`), parse
//! it into a [`TraceContext`] and run a `#[traced]` step in its scope
//! ([`TraceContext::scope`]): the step is exported as that context's child.
//!
//! ```
//! use result_runtime::{otel, trace::TraceContext};
//!
//! let tc: TraceContext = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
//! let sc = otel::span_context(&tc);
//! assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(sc.is_remote() && sc.is_sampled());
//! assert_eq!(otel::from_span_context(&sc).as_ref(), Some(&tc));
//! ```

mod bridge;
mod ids;

pub use bridge::{layer, OtelLayer};
pub(crate) use bridge::{with_ids, Parent};
pub use ids::RuntimeIds;

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{
    SpanContext, SpanId as OtelSpanId, TraceContextExt, TraceFlags as OtelFlags,
    TraceId as OtelTraceId, TraceState,
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
