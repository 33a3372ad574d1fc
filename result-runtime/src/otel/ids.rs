//! Exported spans with the ids the runtime gave them.
//!
//! The runtime chooses a span's ids itself (a server call's [`TraceContext`], a
//! `#[traced]` step's child context) and shows them in every log line of the span. The
//! OpenTelemetry SDK chooses ids of its own when it starts a span, and its span builder has
//! no way to be told otherwise: without this module a log line's `span_id` names no span a
//! backend knows, and a `#[traced]` root (a background job) exports under a trace id that
//! none of its logs or errors carry.
//!
//! The [`OtelLayer`](super::OtelLayer) hands the ids of the span it starts, on the starting
//! thread, to [`RuntimeIds`], the provider's id generator, which the SDK asks for the new
//! span's ids within that same call. Written here, not taken from a crate: it is the bridge
//! itself.
//!
//! [`TraceContext`]: crate::trace::TraceContext

use std::cell::Cell;

use opentelemetry::trace::{SpanId as OtelSpanId, TraceId as OtelTraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use crate::trace::{SpanId, TraceId};

thread_local! {
    /// The ids of the span this thread is starting, between the layer handing them over and
    /// the SDK asking [`RuntimeIds`] for them, inside one `build_with_context`.
    static STARTING: Cell<Option<Starting>> = const { Cell::new(None) };
}

/// The ids a span is to start with; `None`: the generator's own.
#[derive(Clone, Copy, Debug)]
pub(super) struct Starting {
    pub(super) span_id: Option<SpanId>,
    pub(super) trace_id: Option<TraceId>,
}

/// The provider's id generator: the ids the runtime chose for the span being started (as
/// the [`OtelLayer`](super::OtelLayer) hands them over), else random ones, as the SDK's
/// default generator.
///
/// The SDK asks for a trace id only for a span without a parent, so a span with one keeps
/// its parent's trace id; its span id is still the runtime's.
///
/// # Examples
///
/// ```
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use result_runtime::otel::{self, RuntimeIds};
/// use result_runtime::trace::TraceContext;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder()
///     .with_id_generator(RuntimeIds::default())
///     .with_simple_exporter(exporter.clone())
///     .build();
/// let subscriber = tracing_subscriber::registry().with(otel::layer(provider.tracer("app")));
///
/// // A span the runtime did not open takes the ids of its `trace_id` and `span_id` fields.
/// let tc = TraceContext::new_root();
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("job", trace_id = %tc.trace_id, span_id = %tc.span_id).in_scope(|| {});
/// });
/// let spans = exporter.get_finished_spans().unwrap();
/// assert_eq!(spans[0].span_context.trace_id().to_string(), tc.trace_id.to_string());
/// assert_eq!(spans[0].span_context.span_id().to_string(), tc.span_id.to_string());
/// ```
#[derive(Clone, Debug, Default)]
pub struct RuntimeIds {
    random: RandomIdGenerator,
}

impl IdGenerator for RuntimeIds {
    fn new_trace_id(&self) -> OtelTraceId {
        match take(|s| s.trace_id.take()) {
            Some(id) => OtelTraceId::from_bytes(id.to_bytes()),
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> OtelSpanId {
        match take(|s| s.span_id.take()) {
            Some(id) => OtelSpanId::from_bytes(id.to_u64().to_be_bytes()),
            None => self.random.new_span_id(),
        }
    }
}

/// Takes one id out of this thread's starting span, leaving the other.
fn take<T>(part: impl FnOnce(&mut Starting) -> Option<T>) -> Option<T> {
    STARTING.with(|cell| {
        let mut starting = cell.get()?;
        let id = part(&mut starting);
        cell.set(Some(starting));
        id
    })
}

/// Runs `build` (one `build_with_context`) with `ids` handed to [`RuntimeIds`] for the span
/// it starts, and puts back what was there after, whatever happens: a generator that was
/// never asked (another generator, a span the SDK does not record) must not hand them to
/// the next span, and a span started inside `build` (by a sampler or a processor) must
/// neither take nor lose the outer span's ids.
pub(super) fn starting<R>(ids: Starting, build: impl FnOnce() -> R) -> R {
    struct Restore(Option<Starting>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            let _ = STARTING.try_with(|cell| cell.set(outer));
        }
    }
    let ids = (ids.span_id.is_some() || ids.trace_id.is_some()).then_some(ids);
    // During the thread's teardown the SDK picks the ids.
    let Ok(outer) = STARTING.try_with(|cell| cell.replace(ids)) else { return build() };
    let _restore = Restore(outer);
    build()
}

/// What [`find`] found: the ids to hand to the generator, the trace id field's value,
/// and the indices of the fields the span's own ids will repeat.
pub(super) struct Found {
    pub(super) starting: Starting,
    trace_id: Option<TraceId>,
    pub(super) taken: [Option<usize>; 2],
}

/// The runtime's ids among a span's attributes, each when it is a valid id: the span id
/// unless it is the `parent`'s own (code that records the current context's ids on a span of
/// its own must not export a second span under the parent's id), the trace id for the
/// generator only for a span without a parent (one with a parent keeps the parent's; its
/// field is dropped when it says the same). The runtime's fields come first, so the scan
/// stops early.
pub(super) fn find(
    attributes: &[opentelemetry::KeyValue],
    parent: Option<(OtelTraceId, OtelSpanId)>,
) -> Option<Found> {
    let mut found = Found {
        starting: Starting { span_id: None, trace_id: None },
        trace_id: None,
        taken: [None, None],
    };
    let (mut span_seen, mut trace_seen) = (false, false);
    for (i, kv) in attributes.iter().enumerate() {
        let Value::String(value) = &kv.value else { continue };
        match kv.key.as_str() {
            "span_id" if !span_seen => {
                span_seen = true;
                found.starting.span_id = value.as_str().parse::<SpanId>().ok().filter(|id| {
                    parent.is_none_or(|(_, p)| p.to_bytes() != id.to_u64().to_be_bytes())
                });
                if found.starting.span_id.is_some() {
                    found.taken[1] = Some(i);
                }
            }
            "trace_id" if !trace_seen => {
                trace_seen = true;
                found.trace_id = value.as_str().parse().ok();
                let repeated = match parent {
                    None => {
                        found.starting.trace_id = found.trace_id;
                        found.trace_id.is_some()
                    }
                    Some((trace, _)) => {
                        found.trace_id.is_some_and(|t| t.to_bytes() == trace.to_bytes())
                    }
                };
                if repeated {
                    found.taken[0] = Some(i);
                }
            }
            _ => continue,
        }
        if span_seen && trace_seen {
            break;
        }
    }
    let any = found.starting.span_id.is_some() || found.starting.trace_id.is_some();
    any.then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceContext;

    #[test]
    fn a_span_started_within_another_neither_takes_nor_loses_its_ids() {
        let generator = RuntimeIds::default();
        let (outer, inner) = (TraceContext::new_root(), TraceContext::new_root());
        let ids = |tc: &TraceContext| Starting { span_id: Some(tc.span_id), trace_id: None };
        let (nested_default, nested_given, outer_got) = starting(ids(&outer), || {
            // A sampler or a processor starting a span of its own while the outer one starts.
            let nested_default =
                starting(Starting { span_id: None, trace_id: None }, || generator.new_span_id());
            let nested_given = starting(ids(&inner), || generator.new_span_id());
            (nested_default, nested_given, generator.new_span_id())
        });
        let want = |tc: &TraceContext| OtelSpanId::from_bytes(tc.span_id.to_u64().to_be_bytes());
        assert_ne!(nested_default, want(&outer));
        assert_eq!(nested_given, want(&inner));
        assert_eq!(outer_got, want(&outer));
        // And nothing is left for the next span.
        assert_ne!(generator.new_span_id(), want(&outer));
    }
}
