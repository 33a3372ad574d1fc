//! Exported spans with the ids the runtime gave them.
//!
//! The runtime chooses a span's ids itself (a server call's [`TraceContext`], a
//! `#[traced]` step's child context) and records them on the `tracing` span as its
//! `trace_id` and `span_id` fields, which every log line in the span shows. The OpenTelemetry
//! SDK chooses ids of its own when tracing-opentelemetry starts the span, and its span
//! builder has no way to be told otherwise: without this module a log line's `span_id` names
//! no span a backend knows, and a `#[traced]` root (a background job) exports under a trace
//! id that none of its logs or errors carry.
//!
//! [`RuntimeIdsTracer`] reads the two fields off the span being started and hands them, on
//! the starting thread, to [`RuntimeIds`], the provider's id generator, which the SDK asks
//! for the new span's ids within that same call. Written here, not taken from a crate: it is
//! the bridge itself.
//!
//! [`TraceContext`]: crate::trace::TraceContext

use std::cell::Cell;

use opentelemetry::trace::{
    SpanBuilder, SpanId as OtelSpanId, TraceContextExt as _, TraceId as OtelTraceId,
};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use crate::trace::{SpanId, TraceId};

thread_local! {
    /// The ids of the span this thread is starting, between [`RuntimeIdsTracer`] reading
    /// them and the SDK asking [`RuntimeIds`] for them, inside one `build_with_context`.
    static STARTING: Cell<Option<Starting>> = const { Cell::new(None) };
}

#[derive(Clone, Copy)]
struct Starting {
    span_id: Option<SpanId>,
    trace_id: Option<TraceId>,
}

/// The provider's id generator: the ids the runtime chose for the span being started (as
/// [`RuntimeIdsTracer`] found them), else random ones, as the SDK's default generator.
///
/// The SDK asks for a trace id only for a span without a parent, so a span with one keeps
/// its parent's trace id; its span id is still the runtime's.
///
/// # Examples
///
/// ```
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use result_runtime::otel::{RuntimeIds, RuntimeIdsTracer};
/// use result_runtime::trace::TraceContext;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder()
///     .with_id_generator(RuntimeIds::default())
///     .with_simple_exporter(exporter.clone())
///     .build();
/// let tracer = RuntimeIdsTracer::new(provider.tracer("app"));
/// let subscriber =
///     tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
///
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

/// A tracer for tracing-opentelemetry's layer that starts each span with the `trace_id` and
/// `span_id` its `tracing` span carries (the runtime's server spans and `#[traced]` steps
/// do), through a provider built with [`RuntimeIds`]; see there for an example.
///
/// Each field is taken when it is a valid id (32 or 16 lowercase hex digits, not zero); a
/// span without them gets the generator's random ids, as with the plain tracer. A field the
/// exported span's own id now repeats is not exported again as an attribute; one that
/// differs (under a provider with another id generator, a trace id that is not the
/// parent's) stays. Give every span its own `span_id` (a
/// [child](crate::trace::TraceContext::child) context's): a span stamped with its parent's
/// id gets a random one, but one stamped with an id some other span already has would share
/// it.
#[derive(Clone, Debug)]
pub struct RuntimeIdsTracer<T> {
    inner: T,
}

impl<T> RuntimeIdsTracer<T> {
    /// Wraps the tracer of a provider built with [`RuntimeIds`].
    #[must_use]
    pub const fn new(inner: T) -> Self {
        Self { inner }
    }

    /// The wrapped tracer.
    #[must_use]
    pub const fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: opentelemetry::trace::Tracer> opentelemetry::trace::Tracer for RuntimeIdsTracer<T> {
    type Span = T::Span;

    fn build_with_context(&self, mut builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        use opentelemetry::trace::Span as _;

        let parent = parent_cx.span();
        let parent = parent.span_context();
        let parent = parent.is_valid().then(|| (parent.trace_id(), parent.span_id()));
        let Some(found) = builder.attributes.as_deref().and_then(|a| find(a, parent)) else {
            return self.inner.build_with_context(builder, parent_cx);
        };
        // The fields the span's own ids will repeat leave the attributes.
        let attributes = builder.attributes.as_mut().expect("found among the attributes");
        let mut at = found.taken;
        at.sort_unstable_by(|a, b| b.cmp(a)); // the later index first: removal shifts
        let taken = at.map(|i| i.map(|i| attributes.remove(i)));
        // Cleared whatever happens: a generator that was never asked (another generator,
        // a span the SDK does not record) must not hand these ids to the next span.
        struct Clear;
        impl Drop for Clear {
            fn drop(&mut self) {
                STARTING.with(|cell| cell.set(None));
            }
        }
        let clear = Clear;
        STARTING.with(|cell| cell.set(Some(found.starting)));
        let mut span = self.inner.build_with_context(builder, parent_cx);
        drop(clear);
        // Under another id generator the span's ids are not the fields': they go back.
        let sc = span.span_context();
        let own_span = found.starting.span_id.map(|id| id.to_u64().to_be_bytes())
            == Some(sc.span_id().to_bytes());
        let own_trace = found.trace_id.map(TraceId::to_bytes) == Some(sc.trace_id().to_bytes());
        for kv in taken.into_iter().flatten() {
            let own = if kv.key.as_str() == "span_id" { own_span } else { own_trace };
            if !own {
                span.set_attribute(kv);
            }
        }
        span
    }
}

/// What [`find`] found: the ids to hand to the generator, the trace id field's value,
/// and the indices of the fields the span's own ids will repeat.
struct Found {
    starting: Starting,
    trace_id: Option<TraceId>,
    taken: [Option<usize>; 2],
}

/// The runtime's ids among a span's attributes, each when it is a valid id: the span id
/// unless it is the `parent`'s own (code that records the current context's ids on a span of
/// its own must not export a second span under the parent's id), the trace id for the
/// generator only for a span without a parent (one with a parent keeps the parent's; its
/// field is dropped when it says the same). The runtime's fields come first, so the scan
/// stops early.
fn find(
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
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Runs `f` under a layer exporting through `RuntimeIdsTracer`, with the provider's
    /// generator `RuntimeIds` when `runtime_ids`, and returns the finished spans by name.
    fn exported(
        runtime_ids: bool,
        f: impl FnOnce(),
    ) -> std::collections::HashMap<String, SpanData> {
        let exporter = InMemorySpanExporter::default();
        let builder = SdkTracerProvider::builder().with_simple_exporter(exporter.clone());
        let builder =
            if runtime_ids { builder.with_id_generator(RuntimeIds::default()) } else { builder };
        let provider = builder.build();
        let tracer = RuntimeIdsTracer::new(provider.tracer("test"));
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, f);
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        spans.into_iter().map(|s| (s.name.to_string(), s)).collect()
    }

    fn hex(span: &SpanData) -> (String, String) {
        (span.span_context.trace_id().to_string(), span.span_context.span_id().to_string())
    }

    fn attribute(span: &SpanData, key: &str) -> Option<String> {
        span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
    }

    #[test]
    fn invalid_ids_are_not_taken_and_stay_as_attributes() {
        let spans = exported(true, || {
            tracing::info_span!(
                "upper",
                trace_id = "4BF92F3577B34DA6A3CE929D0E0E4736",
                span_id = "00F067AA0BA902B7"
            )
            .in_scope(|| {});
            tracing::info_span!("zero", trace_id = %"0".repeat(32), span_id = "0000000000000000")
                .in_scope(|| {});
            tracing::info_span!("short", span_id = "00f067aa").in_scope(|| {});
            tracing::info_span!("number", span_id = 7_u64).in_scope(|| {});
        });
        for (name, span) in &spans {
            let (trace, id) = hex(span);
            assert!(
                !["00f067aa0ba902b7", "00f067aa", "0000000000000000"].contains(&id.as_str()),
                "{name}: {id}"
            );
            assert_ne!(trace, "4bf92f3577b34da6a3ce929d0e0e4736", "{name}");
            assert!(attribute(span, "span_id").is_some(), "{name}: the field stays an attribute");
        }
        assert_eq!(spans.len(), 4);
    }

    #[test]
    fn ids_the_sdk_never_asked_for_do_not_reach_the_next_span() {
        let tc = TraceContext::new_root();
        let spans = exported(true, || {
            {
                // A suppressed context: the SDK starts a non-recording span, asking for no id.
                let _suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
                tracing::info_span!("suppressed", trace_id = %tc.trace_id, span_id = %tc.span_id)
                    .in_scope(|| {});
            }
            tracing::info_span!("fresh").in_scope(|| {});
        });
        assert!(!spans.contains_key("suppressed"));
        let (trace, id) = hex(&spans["fresh"]);
        assert_ne!(trace, tc.trace_id.to_string());
        assert_ne!(id, tc.span_id.to_string());
    }

    #[test]
    fn a_root_takes_both_ids_and_exports_each_once() {
        let tc = TraceContext::new_root();
        let spans = exported(true, || {
            tracing::info_span!("job", trace_id = %tc.trace_id, span_id = %tc.span_id, sku = "tea")
                .in_scope(|| {});
        });
        let job = &spans["job"];
        assert_eq!(hex(job), (tc.trace_id.to_string(), tc.span_id.to_string()));
        assert_eq!(job.parent_span_id, OtelSpanId::INVALID);
        assert_eq!(attribute(job, "sku").as_deref(), Some("tea"));
        assert_eq!((attribute(job, "trace_id"), attribute(job, "span_id")), (None, None));
    }

    #[test]
    fn a_span_stamped_with_its_parents_id_does_not_take_it() {
        let tc = TraceContext::new_root();
        let spans = exported(true, || {
            let parent =
                tracing::info_span!("parent", trace_id = %tc.trace_id, span_id = %tc.span_id);
            parent.in_scope(|| {
                tracing::info_span!("again", trace_id = %tc.trace_id, span_id = %tc.span_id)
                    .in_scope(|| {});
            });
        });
        assert_eq!(hex(&spans["parent"]), (tc.trace_id.to_string(), tc.span_id.to_string()));
        let (trace, id) = hex(&spans["again"]);
        assert_eq!(trace, tc.trace_id.to_string());
        assert_ne!(id, tc.span_id.to_string(), "two spans under one id");
        assert_eq!(attribute(&spans["again"], "span_id"), Some(tc.span_id.to_string()));
        assert_eq!(spans["again"].parent_span_id, spans["parent"].span_context.span_id());
    }

    #[test]
    fn under_another_id_generator_nothing_changes() {
        let tc = TraceContext::new_root();
        let spans = exported(false, || {
            tracing::info_span!("job", trace_id = %tc.trace_id, span_id = %tc.span_id)
                .in_scope(|| {});
        });
        let (trace, id) = hex(&spans["job"]);
        assert_ne!((trace, id), (tc.trace_id.to_string(), tc.span_id.to_string()));
        // Not the span's own ids: they stay as attributes.
        assert_eq!(attribute(&spans["job"], "span_id"), Some(tc.span_id.to_string()));
        assert_eq!(attribute(&spans["job"], "trace_id"), Some(tc.trace_id.to_string()));
    }

    #[test]
    fn a_child_keeps_its_parents_trace_id_and_takes_its_own_span_id() {
        let tc = TraceContext::new_root();
        let child = tc.child();
        let other = TraceContext::new_root();
        let spans = exported(true, || {
            let parent =
                tracing::info_span!("parent", trace_id = %tc.trace_id, span_id = %tc.span_id);
            parent.in_scope(|| {
                // Has a parent: the SDK never asks for its trace id.
                tracing::info_span!("child", trace_id = %other.trace_id, span_id = %child.span_id)
                    .in_scope(|| {});
            });
            tracing::info_span!("fresh").in_scope(|| {});
        });
        assert_eq!(hex(&spans["parent"]), (tc.trace_id.to_string(), tc.span_id.to_string()));
        assert_eq!(hex(&spans["child"]), (tc.trace_id.to_string(), child.span_id.to_string()));
        assert_eq!(spans["child"].parent_span_id, spans["parent"].span_context.span_id());
        assert_eq!(attribute(&spans["parent"], "trace_id"), None);
        assert_eq!(attribute(&spans["child"], "span_id"), None);
        // A trace id other than the trace's stays: it is news.
        assert_eq!(attribute(&spans["child"], "trace_id"), Some(other.trace_id.to_string()));
        let (trace, id) = hex(&spans["fresh"]);
        assert_ne!(trace, other.trace_id.to_string(), "the child's unused trace id");
        assert_ne!(trace, tc.trace_id.to_string());
        assert_ne!(id, child.span_id.to_string());
        assert_ne!(id, tc.span_id.to_string());
    }

    #[test]
    fn a_span_with_a_remote_parent_keeps_its_trace_and_takes_its_own_span_id() {
        let remote = TraceContext::new_root();
        let ours = remote.child();
        let spans = exported(true, || {
            let span =
                tracing::info_span!("server", trace_id = %ours.trace_id, span_id = %ours.span_id);
            crate::otel::set_parent(&span, &remote).unwrap();
            span.in_scope(|| {});
        });
        let server = &spans["server"];
        assert_eq!(hex(server), (remote.trace_id.to_string(), ours.span_id.to_string()));
        assert_eq!(server.parent_span_id.to_string(), remote.span_id.to_string());
        // The span's own ids say what the fields said: not exported twice.
        assert_eq!(attribute(server, "span_id"), None);
        assert_eq!(attribute(server, "trace_id"), None);
    }
}
