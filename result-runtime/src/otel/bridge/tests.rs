use super::*;
use crate::otel::RuntimeIds;
use crate::trace::TraceContext;
use opentelemetry::trace::{SpanId as OtelSpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use std::collections::HashMap;
use tracing_subscriber::layer::SubscriberExt as _;

/// Runs `f` under the layer, with the provider's generator `RuntimeIds` when
/// `runtime_ids`, and returns the finished spans by name.
fn exported(runtime_ids: bool, f: impl FnOnce()) -> HashMap<String, SpanData> {
    let exporter = InMemorySpanExporter::default();
    let builder = SdkTracerProvider::builder().with_simple_exporter(exporter.clone());
    let builder =
        if runtime_ids { builder.with_id_generator(RuntimeIds::default()) } else { builder };
    let provider = builder.build();
    let subscriber = tracing_subscriber::registry().with(layer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, f);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let n = spans.len();
    let by_name: HashMap<_, _> = spans.into_iter().map(|s| (s.name.to_string(), s)).collect();
    assert_eq!(by_name.len(), n, "span names are unique in these tests");
    by_name
}

fn hex(span: &SpanData) -> (String, String) {
    (span.span_context.trace_id().to_string(), span.span_context.span_id().to_string())
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

fn runtime_span(name: &'static str, tc: &TraceContext, parent: Parent) -> tracing::Span {
    with_ids(tc, parent, || match name {
        "server" => tracing::info_span!("server", trace_id = %tc.trace_id, span_id = %tc.span_id),
        "step" => tracing::info_span!("step", trace_id = %tc.trace_id, span_id = %tc.span_id),
        "client" => tracing::info_span!("client", otel.kind = "client"),
        _ => unreachable!(),
    })
}

#[test]
fn events_are_not_exported() {
    let spans = exported(true, || {
        tracing::info_span!("job").in_scope(|| tracing::error!(secret = "internal", "boom"));
    });
    assert!(spans["job"].events.is_empty(), "{:?}", spans["job"].events);
}

#[test]
fn a_handoff_left_unread_does_not_reach_the_next_span() {
    let tc = TraceContext::new_root();
    let spans = exported(true, || {
        // Disabled: no layer reads the handoff.
        with_ids(&tc, Parent::None, || tracing::trace_span!(target: "nobody", "off"));
        tracing::info_span!("fresh").in_scope(|| {});
    });
    let (trace, id) = hex(&spans["fresh"]);
    assert_ne!(trace, tc.trace_id.to_string());
    assert_ne!(id, tc.span_id.to_string());
}

#[test]
fn a_server_span_has_the_runtimes_ids_under_its_remote_caller() {
    let caller = TraceContext::new_root().with_tracestate("rojo=00f067aa0ba902b7".parse().unwrap());
    let ours = caller.child();
    let spans = exported(true, || {
        runtime_span("server", &ours, Parent::Remote(caller.span_id)).in_scope(|| {});
    });
    let server = &spans["server"];
    assert_eq!(hex(server), (caller.trace_id.to_string(), ours.span_id.to_string()));
    assert_eq!(server.parent_span_id.to_string(), caller.span_id.to_string());
    assert!(server.parent_span_is_remote);
    assert_eq!(server.span_context.trace_state().get("rojo"), Some("00f067aa0ba902b7"));
    // The span's own ids say what the fields said: not exported twice.
    assert_eq!((attribute(server, "trace_id"), attribute(server, "span_id")), (None, None));
}

#[test]
fn a_remote_parent_that_is_not_sampled_exports_nothing() {
    let caller: TraceContext =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".parse().unwrap();
    let ours = caller.child();
    let spans = exported(true, || {
        runtime_span("server", &ours, Parent::Remote(caller.span_id)).in_scope(|| {
            runtime_span("step", &ours.child(), Parent::None).in_scope(|| {});
        });
    });
    assert!(spans.is_empty(), "{:?}", spans.keys());
}

#[test]
fn a_step_nests_under_its_enclosing_span_of_the_same_trace() {
    let caller = TraceContext::new_root();
    let server = caller.child();
    let step = server.child();
    let spans = exported(true, || {
        runtime_span("server", &server, Parent::Remote(caller.span_id)).in_scope(|| {
            runtime_span("step", &step, Parent::None).in_scope(|| {});
        });
    });
    assert_eq!(hex(&spans["step"]), (caller.trace_id.to_string(), step.span_id.to_string()));
    assert_eq!(spans["step"].parent_span_id, spans["server"].span_context.span_id());
    assert!(!spans["step"].parent_span_is_remote);
}

#[test]
fn a_step_of_another_trace_begins_its_own_instead_of_nesting() {
    let other = TraceContext::new_root();
    let job = TraceContext::new_root();
    let spans = exported(true, || {
        runtime_span("server", &other, Parent::None).in_scope(|| {
            runtime_span("step", &job, Parent::None).in_scope(|| {});
        });
    });
    assert_eq!(hex(&spans["step"]), (job.trace_id.to_string(), job.span_id.to_string()));
    assert_eq!(spans["step"].parent_span_id, OtelSpanId::INVALID);
}

#[test]
fn a_client_span_joins_the_callers_context_when_no_span_of_its_trace_encloses_it() {
    let ambient = TraceContext::new_root();
    let sent = ambient.child();
    let unrelated = TraceContext::new_root();
    let spans = exported(true, || {
        runtime_span("server", &unrelated, Parent::None).in_scope(|| {
            runtime_span("client", &sent, Parent::Local(ambient.span_id)).in_scope(|| {});
        });
    });
    let client = &spans["client"];
    assert_eq!(hex(client), (ambient.trace_id.to_string(), sent.span_id.to_string()));
    assert_eq!(client.parent_span_id.to_string(), ambient.span_id.to_string());
    assert!(!client.parent_span_is_remote);
}

#[test]
fn under_another_id_generator_spans_still_nest() {
    let caller = TraceContext::new_root();
    let server = caller.child();
    let spans = exported(false, || {
        runtime_span("server", &server, Parent::Remote(caller.span_id)).in_scope(|| {
            runtime_span("step", &server.child(), Parent::None).in_scope(|| {});
        });
    });
    assert_eq!(spans["server"].span_context.trace_id().to_string(), caller.trace_id.to_string());
    assert_ne!(spans["server"].span_context.span_id().to_string(), server.span_id.to_string());
    assert_eq!(spans["step"].parent_span_id, spans["server"].span_context.span_id());
    // The ids the log lines show stay findable in the backend.
    assert_eq!(attribute(&spans["server"], "span_id"), Some(server.span_id.to_string()));
    assert_eq!(attribute(&spans["server"], "trace_id"), Some(server.trace_id.to_string()));
}

#[test]
fn under_another_id_generator_steps_of_a_trace_begun_here_still_nest() {
    let outer = TraceContext::new_root();
    let inner = outer.child();
    let spans = exported(false, || {
        runtime_span("server", &outer, Parent::None).in_scope(|| {
            runtime_span("step", &inner, Parent::Local(outer.span_id)).in_scope(|| {});
        });
    });
    let (server, step) = (&spans["server"], &spans["step"]);
    assert_eq!(step.span_context.trace_id(), server.span_context.trace_id());
    assert_eq!(step.parent_span_id, server.span_context.span_id());
}

#[test]
fn otel_fields_name_the_span_set_its_kind_and_status_and_the_rest_are_attributes() {
    let spans = exported(true, || {
        let span = tracing::info_span!(
            "grpc",
            otel.name = %format_args!("{}/{}", "inventory.Inventory", "Reserve"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            rpc.system = "grpc",
            qty = 3_u64,
            big = u64::MAX,
            ok = true,
        );
        span.record("otel.status_code", "ERROR");
        span.record("error.type", "STORAGE_FULL");
        span.in_scope(|| {});
        tracing::info_span!("fine", otel.status_code = "ok", otel.kind = "Client").in_scope(|| {});
        tracing::info_span!("odd", otel.status_code = "maybe", otel.kind = "sideways")
            .in_scope(|| {});
    });
    let grpc = &spans["inventory.Inventory/Reserve"];
    assert_eq!(grpc.span_kind, SpanKind::Server);
    assert!(matches!(grpc.status, Status::Error { .. }), "{:?}", grpc.status);
    assert_eq!(attribute(grpc, "error.type").as_deref(), Some("STORAGE_FULL"));
    assert_eq!(attribute(grpc, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(attribute(grpc, "qty").as_deref(), Some("3"));
    assert_eq!(attribute(grpc, "big").as_deref(), Some("18446744073709551615"));
    assert_eq!(attribute(grpc, "ok").as_deref(), Some("true"));
    assert_eq!(attribute(grpc, "otel.kind"), None);
    assert_eq!(spans["fine"].status, Status::Ok);
    assert_eq!(spans["fine"].span_kind, SpanKind::Client);
    assert_eq!(spans["odd"].status, Status::Unset);
    assert_eq!(spans["odd"].span_kind, SpanKind::Internal);
}

#[test]
fn a_span_closed_on_another_thread_is_exported_once() {
    let spans = exported(true, || {
        let span = tracing::info_span!("moved");
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || drop(span));
        })
        .join()
        .unwrap();
    });
    assert!(spans.contains_key("moved"));
}

// What a span the runtime did not open takes from its own `trace_id` and `span_id` fields.

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
        let parent = tracing::info_span!("parent", trace_id = %tc.trace_id, span_id = %tc.span_id);
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
fn a_child_keeps_its_parents_trace_id_and_takes_its_own_span_id() {
    let tc = TraceContext::new_root();
    let child = tc.child();
    let other = TraceContext::new_root();
    let spans = exported(true, || {
        let parent = tracing::info_span!("parent", trace_id = %tc.trace_id, span_id = %tc.span_id);
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
fn a_server_span_hangs_under_its_caller_even_inside_a_span_of_the_same_trace() {
    // An in-process call: the callee's SERVER span opens inside the caller's own span.
    let caller = TraceContext::new_root();
    let client = caller.child();
    let server = client.child();
    let spans = exported(true, || {
        runtime_span("step", &caller, Parent::None).in_scope(|| {
            runtime_span("server", &server, Parent::Remote(client.span_id)).in_scope(|| {});
        });
    });
    assert_eq!(spans["server"].parent_span_id.to_string(), client.span_id.to_string());
    assert!(spans["server"].parent_span_is_remote);
}

#[test]
fn a_second_layer_in_the_same_subscriber_exports_nothing_and_does_not_panic() {
    let (first, second) = (InMemorySpanExporter::default(), InMemorySpanExporter::default());
    let provider = |e: &InMemorySpanExporter| {
        SdkTracerProvider::builder()
            .with_id_generator(RuntimeIds::default())
            .with_simple_exporter(e.clone())
            .build()
    };
    let (p1, p2) = (provider(&first), provider(&second));
    let subscriber = tracing_subscriber::registry()
        .with(layer(p1.tracer("first")))
        .with(layer(p2.tracer("second")));
    let tc = TraceContext::new_root();
    tracing::subscriber::with_default(subscriber, || {
        let span = with_ids(
            &tc,
            Parent::None,
            || tracing::info_span!("step", span_id = %tc.span_id, sku = tracing::field::Empty),
        );
        span.record("sku", "tea");
        span.in_scope(|| {});
    });
    let spans = first.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(hex(&spans[0]), (tc.trace_id.to_string(), tc.span_id.to_string()));
    let skus = spans[0].attributes.iter().filter(|kv| kv.key.as_str() == "sku").count();
    assert_eq!(skus, 1, "recorded once, by the layer that started it");
    assert!(second.get_finished_spans().unwrap().is_empty());
}

#[test]
fn a_span_made_while_the_fields_are_evaluated_does_not_take_the_handoff() {
    let tc = TraceContext::new_root();
    let inner = TraceContext::new_root();
    let spans = exported(true, || {
        // `tracing` evaluates the fields first, so these spans are created before "step".
        let tenant = || {
            tracing::info_span!("lookup").in_scope(|| {});
            runtime_span("server", &inner, Parent::None).in_scope(|| {});
            "acme"
        };
        with_ids(
            &tc,
            Parent::None,
            || tracing::info_span!("step", span_id = %tc.span_id, tenant = tenant()),
        )
        .in_scope(|| {});
    });
    assert_eq!(hex(&spans["step"]), (tc.trace_id.to_string(), tc.span_id.to_string()));
    assert_eq!(hex(&spans["server"]), (inner.trace_id.to_string(), inner.span_id.to_string()));
    let (trace, id) = hex(&spans["lookup"]);
    assert_ne!(trace, tc.trace_id.to_string());
    assert_ne!(id, tc.span_id.to_string());
}

#[test]
fn an_opentelemetry_context_attached_elsewhere_does_not_move_a_runtime_span() {
    use opentelemetry::trace::TraceContextExt as _;
    let foreign = SpanContext::new(
        OtelTraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        OtelSpanId::from_hex("00f067aa0ba902b7").unwrap(),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    let tc = TraceContext::new_root();
    let spans = exported(true, || {
        let _attached = opentelemetry::Context::new().with_remote_span_context(foreign).attach();
        runtime_span("step", &tc, Parent::None).in_scope(|| {});
        tracing::info_span!("user").in_scope(|| {});
    });
    assert_eq!(hex(&spans["step"]), (tc.trace_id.to_string(), tc.span_id.to_string()));
    assert_eq!(spans["step"].parent_span_id, OtelSpanId::INVALID);
    // A span of the user's own still joins the context the user attached.
    assert_eq!(hex(&spans["user"]).0, "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[test]
fn a_status_message_is_taken_under_either_name() {
    let spans = exported(true, || {
        tracing::info_span!("a", otel.status_code = "error", otel.status_message = "no stock")
            .in_scope(|| {});
        let b = tracing::info_span!(
            "b",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty
        );
        b.record("otel.status_description", "declined");
        b.record("otel.status_code", "error");
        drop(b);
        let c = tracing::info_span!(
            "c",
            otel.status_code = tracing::field::Empty,
            otel.status_message = "no route"
        );
        c.record("otel.status_code", "error");
        drop(c);
    });
    assert_eq!(spans["a"].status, Status::error("no stock"));
    assert_eq!(attribute(&spans["a"], "otel.status_message"), None);
    // A message before its code, in its own record or at the span's creation.
    assert_eq!(spans["b"].status, Status::error("declined"));
    assert_eq!(spans["c"].status, Status::error("no route"));
}

#[test]
fn ids_recorded_after_the_span_started_are_attributes() {
    let tc = TraceContext::new_root();
    let spans = exported(true, || {
        let span = tracing::info_span!(
            "late",
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        );
        span.record("trace_id", tracing::field::display(tc.trace_id));
        span.record("span_id", tracing::field::display(tc.span_id));
        drop(span);
    });
    let late = &spans["late"];
    assert_ne!(hex(late).1, tc.span_id.to_string(), "a started span keeps its ids");
    assert_eq!(attribute(late, "trace_id"), Some(tc.trace_id.to_string()));
    assert_eq!(attribute(late, "span_id"), Some(tc.span_id.to_string()));
}

#[test]
fn a_step_under_a_context_no_span_stands_for_is_its_child() {
    // A consumer scoped the context of a message's `traceparent` and runs a step in it.
    let received: TraceContext =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
    let step = received.child();
    let spans = exported(true, || {
        received.sync_scope(|| {
            crate::__private::traced_span(
                &step,
                || tracing::info_span!("step", span_id = %step.span_id),
            )
            .in_scope(|| {});
        });
    });
    assert_eq!(hex(&spans["step"]), (received.trace_id.to_string(), step.span_id.to_string()));
    assert_eq!(spans["step"].parent_span_id.to_string(), "00f067aa0ba902b7");
}
