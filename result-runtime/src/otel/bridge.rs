//! The `tracing` layer that exports spans as OpenTelemetry spans, with the ids the runtime
//! gave them.
//!
//! Written here rather than taken from `tracing-opentelemetry` because the bridge is this
//! crate's product (the same ids in the logs, in errors and in the backend) and because the
//! general bridge cost what the goal of exporting every call could not pay. Measured on one
//! gateway request of the examples' stack (11 spans, 32 enters; `notes/observe-cost.md`),
//! the general layer spent most of its work where this one does none:
//! - **Nothing per enter or exit.** It looked the span up, took a lock and read the clock
//!   on every exit, to end the span at its last exit. This layer ends a span when it
//!   closes.
//! - **No per-layer filter.** It exported events as span events, so the export had to be
//!   filtered to keep log events (which carry what only the service's own log may show) out.
//!   A filter looks the span up again for every callback. This layer ignores events.
//! - **No ids formatted and parsed back.** The runtime hands the ids it chose straight to
//!   this layer when it opens a span ([`with_ids`]). Before, they went through the span's
//!   `trace_id` and `span_id` fields: formatted to text, then parsed back by a wrapping
//!   tracer.
//! - **The span starts when it is created.** The general layer kept a builder and started
//!   the span on first need, under a lock.
//!
//! What it does not do: span events, `follows_from` links, and making a span's
//! OpenTelemetry context current while it is entered (nothing in the runtime reads it; it
//! carries its own [`TraceContext`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId as OtelSpanId, SpanKind, Status,
    TraceContextExt as _, TraceId as OtelTraceId, Tracer,
};
use opentelemetry::{Context, Key, KeyValue, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

use super::ids::{find, Starting};
use crate::trace::{SpanId, TraceContext};

/// The parent the runtime gives a span it opens, when no exported `tracing` span of the same
/// trace encloses it.
#[derive(Clone, Copy, Debug)]
// The middleware opens the spans with a caller; `#[traced]` alone (otel without the
// middleware features) only ever says `None`.
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) enum Parent {
    /// The span begins its trace here (or continues it under its enclosing span).
    None,
    /// The caller's span in another process: a SERVER span's parent.
    Remote(SpanId),
    /// A span of this process that no `tracing` span stands for (a CLIENT span's caller
    /// scoped a [`TraceContext`] without a span).
    Local(SpanId),
}

/// What the runtime hands to the layer for the span it is opening.
struct Handoff {
    context: TraceContext,
    parent: Parent,
}

thread_local! {
    /// Set by [`with_ids`] around the creation of one span; the layer's `on_new_span`, which
    /// runs within that creation on this thread, takes it.
    static HANDOFF: RefCell<Option<Handoff>> = const { RefCell::new(None) };
}

/// Creates a span with `make` (a `span!` macro) whose exported span gets `context`'s trace
/// and span ids, under `parent` when no enclosing exported span of the same trace is there.
/// Without an [`OtelLayer`] in the subscriber, the handoff is dropped unread.
///
/// The span `make` creates must have a `span_id` or an `otel.kind` field ([`is_runtimes`]):
/// `tracing` evaluates a span's fields before it creates the span, so a span made while they
/// are evaluated (an instrumented function called in a field's expression) comes first and
/// must not take the ids. A `with_ids` nested that way restores the outer handoff. (A user's
/// span made there with an `otel.kind` field of its own still takes them.)
pub(crate) fn with_ids(
    context: &TraceContext,
    parent: Parent,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    struct Restore(Option<Handoff>);
    impl Drop for Restore {
        fn drop(&mut self) {
            // Also when `make` panics: the next span must not take these ids.
            let outer = self.0.take();
            let _ = HANDOFF.try_with(|h| *h.borrow_mut() = outer);
        }
    }
    let handoff = Handoff { context: context.clone(), parent };
    // During the thread's teardown there is no handoff: the span is exported under the ids
    // of the SDK's choosing rather than panic in a destructor.
    let outer = HANDOFF.try_with(|h| h.borrow_mut().replace(handoff)).ok().flatten();
    let _restore = Restore(outer);
    make()
}

/// Whether a span is one the runtime opens under [`with_ids`]: its SERVER, CLIENT and
/// `#[traced]` spans all have one of these fields; a span its fields' expressions make need
/// not.
fn is_runtimes(metadata: &tracing::Metadata<'_>) -> bool {
    let fields = metadata.fields();
    fields.field("span_id").is_some() || fields.field("otel.kind").is_some()
}

/// Takes this thread's handoff for the span being created, when it is the runtime's.
fn take_handoff(metadata: &tracing::Metadata<'_>) -> Option<Handoff> {
    HANDOFF
        .try_with(|h| {
            let mut h = h.borrow_mut();
            if h.is_some() && is_runtimes(metadata) {
                h.take()
            } else {
                None
            }
        })
        .ok()
        .flatten()
}

/// A `tracing` layer exporting every span through an OpenTelemetry tracer: the runtime's
/// SERVER and CLIENT spans, every `#[traced]` step, and any other span, nested as the
/// `tracing` spans are. A span starts when it is created and ends when it closes.
///
/// Not exported: events (log lines carry what only the service's own log may show, such as
/// the server layers' internal error detail), `follows_from` links. A span's OpenTelemetry
/// context is not made current while it is entered: the runtime carries its own
/// [`TraceContext`].
///
/// Hand-written, not `tracing-opentelemetry`'s layer: the bridge is this crate's product,
/// and the general layer cost about 60k instructions more per request of the examples'
/// stack (11 spans): a lookup, a lock and a clock read on every exit, a per-layer filter to
/// keep events out, and the runtime's ids formatted into fields and parsed back.
///
/// Build the tracer's provider with [`RuntimeIds`](super::RuntimeIds): the exported spans
/// then carry the ids the runtime gave them, those its logs and errors show. Under another
/// id generator the spans still nest and join the caller's trace, under ids of the SDK's
/// choosing.
///
/// A span other than the runtime's takes its ids from its own `trace_id` and `span_id`
/// fields when they are valid ids (see [`RuntimeIds`](super::RuntimeIds)); those fields then
/// leave its attributes.
///
/// The fields `otel.name`, `otel.kind`, `otel.status_code` (`ok` or `error`) and
/// `otel.status_message` (as with `tracing-opentelemetry`; `otel.status_description`, the
/// OpenTelemetry name, is taken too) name the span, choose its kind and set its status;
/// every other field is an attribute. A status message counts when it comes with its code
/// or before it (at the span's creation or in an earlier `record`); one recorded after the
/// code is not seen.
///
/// One `OtelLayer` per subscriber: a second one in the same subscriber exports nothing.
///
/// # Examples
///
/// ```
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use result_runtime::otel::{self, RuntimeIds};
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder()
///     .with_id_generator(RuntimeIds::default())
///     .with_simple_exporter(exporter.clone())
///     .build();
/// let subscriber = tracing_subscriber::registry().with(otel::layer(provider.tracer("app")));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("job", otel.kind = "internal").in_scope(|| {});
/// });
/// assert_eq!(exporter.get_finished_spans().unwrap()[0].name, "job");
/// ```
#[derive(Debug)]
pub struct OtelLayer<T> {
    tracer: T,
    /// Which layer started a span: with two in one subscriber, the second leaves the
    /// first's spans alone.
    id: usize,
}

/// An [`OtelLayer`] exporting through `tracer`.
#[must_use]
pub fn layer<T>(tracer: T) -> OtelLayer<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    OtelLayer { tracer, id: NEXT.fetch_add(1, Ordering::Relaxed) }
}

/// A layer of its own, exporting through a clone of the tracer.
impl<T: Clone> Clone for OtelLayer<T> {
    fn clone(&self) -> Self {
        layer(self.tracer.clone())
    }
}

impl<T> OtelLayer<T> {
    /// The tracer the spans go to.
    #[must_use]
    pub fn tracer(&self) -> &T {
        &self.tracer
    }
}

/// A started span, kept in the `tracing` span's extensions until it closes.
struct Exported {
    /// The span, in the context its children start from.
    cx: Context,
    /// The trace the runtime put it in (the SDK's may differ under another id generator):
    /// a span the runtime opens nests under it only in the same trace.
    trace_id: OtelTraceId,
    /// A status message that came before its code.
    message: Option<String>,
    /// The [`OtelLayer`] that started it.
    owner: usize,
}

impl<S, T> tracing_subscriber::Layer<S> for OtelLayer<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<Exported>().is_some() {
            // Another `OtelLayer` of this subscriber exports it already.
            return;
        }
        let handoff = take_handoff(attrs.metadata());
        let mut fields = Fields::new(attrs.fields().len(), handoff.is_none());
        attrs.record(&mut fields);

        // A SERVER span's parent is its caller, whatever span encloses it here.
        let remote = matches!(&handoff, Some(Handoff { parent: Parent::Remote(_), .. }));
        let enclosing = (!remote)
            .then(|| {
                attrs.parent().and_then(|p| ctx.span(p)).or_else(|| {
                    if attrs.is_contextual() {
                        ctx.lookup_current()
                    } else {
                        None
                    }
                })
            })
            .flatten()
            .and_then(|p| p.extensions().get::<Exported>().map(|e| (e.cx.clone(), e.trace_id)));
        let (parent_cx, starting) = match &handoff {
            Some(h) => given(h, enclosing),
            None => {
                let parent_cx = enclosing.map_or_else(Context::current, |(cx, _)| cx);
                let starting = fields.adopt_ids(&parent_cx);
                (parent_cx, starting)
            }
        };

        let mut builder = SpanBuilder::from_name(
            fields.name.take().unwrap_or(Cow::Borrowed(attrs.metadata().name())),
        );
        builder.span_kind = fields.kind.take();
        builder.attributes = Some(std::mem::take(&mut fields.attributes));
        let mut otel_span =
            super::ids::starting(starting, || self.tracer.build_with_context(builder, &parent_cx));
        if let Some(h) = &handoff {
            if !carries_runtime_ids(h, otel_span.span_context()) {
                // The log lines name the runtime's ids: keep them findable in the backend.
                otel_span.set_attributes([
                    KeyValue::new("trace_id", h.context.trace_id.to_string()),
                    KeyValue::new("span_id", h.context.span_id.to_string()),
                ]);
            }
        }
        let trace_id = match &handoff {
            Some(h) => OtelTraceId::from_bytes(h.context.trace_id.to_bytes()),
            None => otel_span.span_context().trace_id(),
        };
        let cx = parent_cx.with_span(otel_span);
        if let Some(status) = fields.status() {
            cx.span().set_status(status);
        }
        let message = fields.status_description.take();
        span.extensions_mut().insert(Exported { cx, trace_id, message, owner: self.id });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // Most records set one or two fields of a span: no room reserved up front. A span
        // has its ids by now, so `trace_id` and `span_id` recorded later are attributes.
        let mut fields = Fields::new(0, true);
        // Formatted before the extensions are locked: a value's `Debug` may open a span.
        values.record(&mut fields);
        let mut extensions = span.extensions_mut();
        let Some(exported) = extensions.get_mut::<Exported>() else { return };
        if exported.owner != self.id {
            return;
        }
        // A status message and its code may come in different records, the message first.
        match (fields.status_code.is_some(), fields.status_description.is_some()) {
            (true, false) => fields.status_description = exported.message.take(),
            (false, true) => exported.message = fields.status_description.take(),
            _ => {}
        }
        fields.apply(&exported.cx);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<Exported>().is_some_and(|e| e.owner == self.id) {
            if let Some(exported) = extensions.remove::<Exported>() {
                drop(extensions);
                exported.cx.span().end();
            }
        }
    }
}

/// Whether the span the SDK started carries the ids the runtime gave it (or is not
/// recorded at all). The first time it does not, says so once on stderr: the provider is
/// not built with [`RuntimeIds`], and as the runtime sends its own span ids in
/// `traceparent`, a callee's SERVER span names a parent the backend never receives.
///
/// [`RuntimeIds`]: super::RuntimeIds
fn carries_runtime_ids(h: &Handoff, got: &SpanContext) -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    let wanted = OtelSpanId::from_bytes(h.context.span_id.to_u64().to_be_bytes());
    if !got.is_sampled() || got.span_id() == wanted {
        return true;
    }
    if !WARNED.swap(true, Ordering::Relaxed) {
        // Not a `tracing` event: this runs inside the subscriber.
        eprintln!(
            "result_runtime::otel: exported spans do not carry the runtime's ids; build the \
             tracer provider with `.with_id_generator(result_runtime::otel::RuntimeIds::default())`"
        );
    }
    false
}

/// The parent context and the ids for a span the runtime opened: a SERVER span under its
/// remote caller; any other under its enclosing span when that is of the same trace, else
/// under the handoff's parent.
fn given(h: &Handoff, enclosing: Option<(Context, OtelTraceId)>) -> (Context, Starting) {
    let trace = &h.context;
    let ours = OtelTraceId::from_bytes(trace.trace_id.to_bytes());
    let starting = Starting { span_id: Some(trace.span_id), trace_id: Some(trace.trace_id) };
    if let Some((cx, _)) = enclosing.filter(|(_, trace_id)| *trace_id == ours) {
        return (cx, starting);
    }
    let remote = |span_id: SpanId, is_remote: bool| {
        let base = super::span_context(trace);
        let sc = SpanContext::new(
            base.trace_id(),
            OtelSpanId::from_bytes(span_id.to_u64().to_be_bytes()),
            base.trace_flags(),
            is_remote,
            base.trace_state().clone(),
        );
        Context::current().with_remote_span_context(sc)
    };
    let parent_cx = match h.parent {
        Parent::None => without_span(Context::current()),
        Parent::Remote(id) => remote(id, true),
        Parent::Local(id) => remote(id, false),
    };
    (parent_cx, starting)
}

/// `cx`, unless a span some other code made current is in it: that span would put a
/// runtime span in its trace, not the one the runtime's logs and errors name. Then a bare
/// context (its baggage, for the SDK's processors, goes with it: `Baggage` cannot be
/// copied out of a context).
fn without_span(cx: Context) -> Context {
    if cx.has_active_span() {
        Context::new()
    } else {
        cx
    }
}

/// A span's fields as OpenTelemetry sees them.
struct Fields {
    name: Option<Cow<'static, str>>,
    kind: Option<SpanKind>,
    status_code: Option<bool>,
    status_description: Option<String>,
    attributes: Vec<KeyValue>,
    /// Whether `trace_id` and `span_id` may give the span its ids (a span the runtime did
    /// not open): they are kept as attributes until [`adopt_ids`](Self::adopt_ids).
    look_for_ids: bool,
}

impl Fields {
    fn new(len: usize, look_for_ids: bool) -> Self {
        Self {
            name: None,
            kind: None,
            status_code: None,
            status_description: None,
            attributes: Vec::with_capacity(len),
            look_for_ids,
        }
    }

    /// Sets what a `record` carried on the started span.
    fn apply(&mut self, cx: &Context) {
        let otel = cx.span();
        if let Some(name) = self.name.take() {
            otel.update_name(name);
        }
        if let Some(status) = self.status() {
            otel.set_status(status);
        }
        if !self.attributes.is_empty() {
            otel.set_attributes(std::mem::take(&mut self.attributes));
        }
    }

    fn status(&mut self) -> Option<Status> {
        match self.status_code? {
            true => Some(Status::Ok),
            false => Some(Status::error(self.status_description.take().unwrap_or_default())),
        }
    }

    /// The ids among the attributes (the rules of [`find`]), which then leave them.
    fn adopt_ids(&mut self, parent_cx: &Context) -> Starting {
        let parent = parent_cx.span();
        let parent = parent.span_context();
        let parent = parent.is_valid().then(|| (parent.trace_id(), parent.span_id()));
        let Some(found) = find(&self.attributes, parent) else {
            return Starting { span_id: None, trace_id: None };
        };
        let mut at = found.taken;
        at.sort_unstable_by(|a, b| b.cmp(a)); // the later index first: removal shifts
        for i in at.into_iter().flatten() {
            self.attributes.remove(i);
        }
        found.starting
    }

    fn special(&mut self, field: &Field, value: Text<'_>) -> bool {
        let name = field.name();
        // Most fields are plain attributes: one look at the first byte says so.
        if !matches!(name.as_bytes().first(), Some(b'o' | b't' | b's')) {
            return false;
        }
        match name {
            "otel.name" => self.name = Some(Cow::Owned(value.owned())),
            "otel.kind" => self.kind = value.with(kind),
            "otel.status_code" => {
                self.status_code = value.with(|v| {
                    if v.eq_ignore_ascii_case("ok") {
                        Some(true)
                    } else if v.eq_ignore_ascii_case("error") {
                        Some(false)
                    } else {
                        None
                    }
                });
            }
            "otel.status_message" | "otel.status_description" => {
                self.status_description = Some(value.owned());
            }
            // The runtime gave the span these ids already.
            "trace_id" | "span_id" if !self.look_for_ids => {}
            _ => return false,
        }
        true
    }

    fn push(&mut self, field: &Field, value: impl Into<Value>) {
        self.attributes.push(KeyValue::new(Key::from_static_str(field.name()), value));
    }
}

/// A field's value as text, made only when a special field needs it, and not copied when
/// it is text already.
#[derive(Clone, Copy)]
enum Text<'a> {
    Str(&'a str),
    Made(&'a dyn Fn() -> String),
}

impl Text<'_> {
    fn with<R>(self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Text::Str(s) => f(s),
            Text::Made(make) => f(&make()),
        }
    }

    fn owned(self) -> String {
        match self {
            Text::Str(s) => s.to_owned(),
            Text::Made(make) => make(),
        }
    }
}

fn kind(name: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find_map(|(n, k)| n.eq_ignore_ascii_case(name).then_some(k))
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.special(field, Text::Made(&|| value.to_string())) {
            self.push(field, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.special(field, Text::Made(&|| value.to_string())) {
            self.push(field, value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.special(field, Text::Made(&|| value.to_string())) {
            match i64::try_from(value) {
                Ok(v) => self.push(field, v),
                Err(_) => self.push(field, value.to_string()),
            }
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.special(field, Text::Made(&|| value.to_string())) {
            self.push(field, value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.special(field, Text::Str(value)) {
            self.push(field, value.to_owned());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.special(field, Text::Made(&|| value.to_string())) {
            self.push(field, value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.special(field, Text::Made(&|| format!("{value:?}"))) {
            self.push(field, format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests;
