//! The example services' spans, exported over OTLP/gRPC to a real receiver: an in-test trace
//! collector (`opentelemetry-proto`'s generated `TraceService` on tonic) that keeps every
//! span with the `service.name` of the resource it came with.
//!
//! Each service runs on its own thread, with its own runtime, its own [`Otlp`] exporter
//! (its own `service.name`) and its own thread-local `tracing` subscriber, as three
//! processes would. One gateway request succeeds, one fails in inventory with the custom
//! code `STORAGE_FULL`, one panics there; the test rebuilds each request's span tree from
//! what the collector received. The services stop and shut their exporters down from inside
//! their own runtime: on a current-thread runtime that is where the SDK's batch processor
//! deadlocks when the exporter shares the runtime, so the `current_thread` test fails (in
//! bounded time) if the examples are not immune.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;
use result_runtime::trace::TraceContext;
use result_runtime_examples::observe::Otlp;
use result_runtime_examples::{
    channel, http_client, serve_checkout, serve_inventory, spawn_gateway, Basket, BasketItem,
    Checkout, HttpClient, Inventory, Running, SECRET,
};
use tokio::sync::{oneshot, Notify};
use tracing_subscriber::layer::SubscriberExt as _;

/// How long anything may take before the test fails instead of hanging.
const BOUND: Duration = Duration::from_secs(30);

/// One received span and the `service.name` it was exported as.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

/// The collector's state: every span received, and the `Debug` text of every request (to
/// search for what must never leave a service).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    raw: Arc<Mutex<String>>,
    arrived: Arc<Notify>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        self.raw.lock().unwrap().push_str(&format!("{request:?}"));
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Received { service: service.clone(), span });
                }
            }
        }
        drop(spans);
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    /// Serves the collector on a loopback port; its URL.
    async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming),
        );
        format!("http://{addr}")
    }

    /// The spans received once `done` holds for them; fails the test after [`BOUND`].
    async fn wait_for(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            // Registered before the check, so an export landing in between still wakes us.
            let arrived = self.arrived.notified();
            {
                let spans = self.spans.lock().unwrap();
                if done(&spans) {
                    return spans.clone();
                }
            }
            let left = tokio::time::timeout_at(deadline, arrived).await;
            assert!(left.is_ok(), "the collector did not get the spans in time: {:#?}", {
                self.spans.lock().unwrap().iter().map(summary).collect::<Vec<_>>()
            });
        }
    }
}

fn summary(r: &Received) -> String {
    format!(
        "{} {} {:?} trace={} id={} parent={}",
        r.service,
        r.span.name,
        r.span.kind(),
        hex(&r.span.trace_id),
        hex(&r.span.span_id),
        hex(&r.span.parent_span_id)
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    Some(match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => s.clone(),
        AnyValue::IntValue(n) => n.to_string(),
        other => format!("{other:?}"),
    })
}

#[derive(Clone, Copy, Debug)]
enum Flavour {
    CurrentThread,
    MultiThread,
}

/// A service on its own thread, runtime, exporter and subscriber.
struct Service {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<()>>,
}

impl Service {
    /// Stops the server, then shuts its exporter down inside its runtime; fails the test if
    /// that does not end within [`BOUND`] (a deadlocked flush).
    async fn stop(mut self, name: &str) {
        let _ = self.stop.take().unwrap().send(());
        let done = tokio::time::timeout(BOUND, self.stopped.take().unwrap()).await;
        assert!(matches!(done, Ok(Ok(()))), "{name} did not stop and flush in time");
    }
}

type Start = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Running>>> + Send>;

fn service(flavour: Flavour, name: &'static str, collector: &str, start: Start) -> Service {
    let (ready, addr) = std::sync::mpsc::channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let (stopped_tx, stopped) = oneshot::channel::<()>();
    let collector = collector.to_owned();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let otlp = Otlp::start(&collector, name).unwrap();
            let dispatch = tracing::Dispatch::new(
                tracing_subscriber::registry()
                    .with(otlp.layer())
                    .with(tracing_subscriber::filter::LevelFilter::INFO),
            );
            let _default = tracing::dispatcher::set_default(&dispatch);
            let runtime = match flavour {
                Flavour::CurrentThread => tokio::runtime::Builder::new_current_thread(),
                Flavour::MultiThread => {
                    let mut b = tokio::runtime::Builder::new_multi_thread();
                    let dispatch = dispatch.clone();
                    b.worker_threads(2).on_thread_start(move || {
                        // The worker's subscriber for its whole life: the guard would only
                        // restore the previous (none) when the thread ends anyway.
                        std::mem::forget(tracing::dispatcher::set_default(&dispatch));
                    });
                    b
                }
            }
            .enable_all()
            .build()
            .unwrap();
            runtime.block_on(async move {
                let running = start().await;
                ready.send(running.addr).unwrap();
                let _ = stop_rx.await;
                running.shutdown().await;
                // Inside the service's runtime, on its thread: the deadlock-prone place.
                otlp.shutdown().unwrap();
            });
            let _ = stopped_tx.send(());
        })
        .unwrap();
    let addr = addr.recv_timeout(BOUND).expect("the service starts");
    Service { addr, stop: Some(stop), stopped: Some(stopped) }
}

/// What the caller's vendor put in `tracestate`: every exported span of the trace keeps it.
const TRACESTATE: &str = "rojo=00f067aa0ba902b7";

/// `POST /checkout` of one `sku` as a hop of `trace` (with [`TRACESTATE`]); the envelope's
/// code.
async fn post(client: &HttpClient, url: &str, sku: &str, trace: &TraceContext) -> String {
    use tower::ServiceExt as _;
    let basket = Basket { items: vec![BasketItem { sku: sku.to_owned(), qty: 1 }] };
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("traceparent", trace.to_string())
        .header("tracestate", TRACESTATE)
        .body(http_body_util::Full::new(bytes::Bytes::from(serde_json::to_vec(&basket).unwrap())))
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
    envelope["code"].as_str().unwrap().to_owned()
}

/// The spans of one request's trace, by span id.
struct Tree<'a> {
    spans: HashMap<Vec<u8>, &'a Received>,
}

impl<'a> Tree<'a> {
    fn of(all: &'a [Received], trace: &TraceContext) -> Self {
        let id = trace.trace_id.to_string();
        let spans = all
            .iter()
            .filter(|r| hex(&r.span.trace_id) == id)
            .map(|r| (r.span.span_id.clone(), r))
            .collect();
        Self { spans }
    }

    fn find(&self, service: &str, kind: SpanKind) -> Vec<&'a Received> {
        self.spans
            .values()
            .copied()
            .filter(|r| r.service == service && r.span.kind() == kind)
            .collect()
    }

    fn parent(&self, r: &Received) -> Option<&'a Received> {
        self.spans.get(&r.span.parent_span_id).copied()
    }

    /// The nearest SERVER or CLIENT ancestor of `r`, checking that everything in between is
    /// an INTERNAL span of the same service (a `#[traced]` step).
    fn hop_up(&self, r: &Received) -> &'a Received {
        let mut at = self.parent(r).unwrap_or_else(|| panic!("no parent for {}", summary(r)));
        while at.span.kind() == SpanKind::Internal {
            assert_eq!(at.service, r.service, "{} under {}", summary(r), summary(at));
            at = self.parent(at).unwrap_or_else(|| panic!("no parent for {}", summary(at)));
        }
        at
    }

    /// Every inventory SERVER span of this trace, checked hop by hop up to the gateway's
    /// SERVER span, whose parent is the span the test sent.
    fn check_chain(&self, sent: &TraceContext) -> usize {
        let inventory = self.find("inventory", SpanKind::Server);
        assert!(!inventory.is_empty(), "no inventory span in the trace");
        for span in &inventory {
            assert_eq!(span.span.name, "inventory.Inventory/Reserve");
            let client = self.parent(span).expect("inventory's parent was exported");
            assert_eq!(
                (client.service.as_str(), client.span.kind()),
                ("checkout", SpanKind::Client)
            );
            assert_eq!(attribute(&client.span, "rpc.method").as_deref(), Some("Reserve"));
            let server = self.hop_up(client);
            assert_eq!(
                (server.service.as_str(), server.span.kind()),
                ("checkout", SpanKind::Server)
            );
            let client = self.parent(server).expect("checkout's parent was exported");
            assert_eq!(
                (client.service.as_str(), client.span.kind()),
                ("gateway", SpanKind::Client)
            );
            let server = self.hop_up(client);
            assert_eq!(
                (server.service.as_str(), server.span.kind()),
                ("gateway", SpanKind::Server)
            );
            assert_eq!(server.span.name, "POST /checkout");
            assert_eq!(hex(&server.span.parent_span_id), sent.span_id.to_string());
        }
        // Nothing in the trace hangs in the air.
        for r in self.spans.values() {
            if r.service != "gateway" || r.span.kind() != SpanKind::Server {
                assert!(self.parent(r).is_some(), "orphan: {}", summary(r));
            }
        }
        inventory.len()
    }

    /// The status of every SERVER and CLIENT span: `code(span)` (`None`: OK) on each, by the
    /// semantic conventions: a failed CLIENT span is `ERROR` with the code's name as
    /// `error.type`; a SERVER span is `ERROR` only when `server_fault`, and unset for a
    /// caller's mistake; every SERVER span names its code in `code` and its protocol's status
    /// (`rpc.grpc.status_code`, `http.response.status_code`).
    fn check_status(&self, code: impl Fn(&Received) -> Option<&'static str>, server_fault: bool) {
        for r in self.spans.values() {
            let kind = r.span.kind();
            if !matches!(kind, SpanKind::Server | SpanKind::Client) {
                continue;
            }
            let code = code(r);
            let status = r.span.status.clone().unwrap_or_default();
            let error_type = attribute(&r.span, "error.type");
            if kind == SpanKind::Server {
                assert_eq!(attribute(&r.span, "code").as_deref(), Some(code.unwrap_or("OK")));
                let protocol = if r.service == "gateway" {
                    "http.response.status_code"
                } else {
                    "rpc.grpc.status_code"
                };
                assert!(attribute(&r.span, protocol).is_some(), "no {protocol}: {}", summary(r));
            }
            match code {
                None => {
                    assert_eq!(status.code(), StatusCode::Ok, "{}", summary(r));
                    assert_eq!(error_type, None, "{}", summary(r));
                }
                Some(_) if kind == SpanKind::Server && !server_fault => {
                    assert_eq!(status.code(), StatusCode::Unset, "{}", summary(r));
                    assert_eq!(error_type, None, "{}", summary(r));
                }
                Some(code) => {
                    assert_eq!(status.code(), StatusCode::Error, "{}", summary(r));
                    assert_eq!(error_type.as_deref(), Some(code), "{}", summary(r));
                }
            }
        }
    }

    /// Complete when the gateway's SERVER span (the last to end) and an inventory SERVER
    /// span are in.
    fn complete(all: &[Received], trace: &TraceContext) -> bool {
        let tree = Tree::of(all, trace);
        !tree.find("gateway", SpanKind::Server).is_empty()
            && !tree.find("inventory", SpanKind::Server).is_empty()
    }
}

async fn one_trace_per_request_across_the_three_services(flavour: Flavour) {
    let collector = Collector::default();
    let endpoint = collector.serve().await;
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));

    let inventory = service(
        flavour,
        "inventory",
        &endpoint,
        Box::new(move || {
            Box::pin(async move { serve_inventory(any, Inventory::new()).await.unwrap() })
        }),
    );
    let inventory_url = format!("http://{}", inventory.addr);
    let checkout = service(
        flavour,
        "checkout",
        &endpoint,
        Box::new(move || {
            Box::pin(async move {
                serve_checkout(any, Checkout::new(channel(&inventory_url).unwrap())).await.unwrap()
            })
        }),
    );
    let checkout_url = format!("http://{}", checkout.addr);
    let gateway = service(
        flavour,
        "gateway",
        &endpoint,
        Box::new(move || {
            Box::pin(async move {
                spawn_gateway(any, &checkout_url, Duration::from_secs(5)).await.unwrap()
            })
        }),
    );

    let client = http_client();
    let url = format!("http://{}/checkout", gateway.addr);
    let mut sent = Vec::new();
    for (sku, want) in [
        ("tea", "OK"),
        ("full-1", "STORAGE_FULL"),
        ("panic", "INTERNAL"),
        ("oos-1", "FAILED_PRECONDITION"),
    ] {
        let trace = TraceContext::new_root();
        let code = post(&client, &url, sku, &trace).await;
        assert_eq!(code, want, "{sku}");
        sent.push(trace);
    }
    drop(client);
    gateway.stop("gateway").await;
    checkout.stop("checkout").await;
    inventory.stop("inventory").await;

    let all = collector.wait_for(|all| sent.iter().all(|t| Tree::complete(all, t))).await;
    let ids: Vec<String> = sent.iter().map(|t| t.trace_id.to_string()).collect();
    for r in &all {
        assert!(
            ids.contains(&hex(&r.span.trace_id)),
            "a span outside the requests' traces: {}",
            summary(r)
        );
        assert!(r.span.events.is_empty(), "log events are not exported: {}", summary(r));
        assert_eq!(r.span.trace_state, TRACESTATE, "tracestate lost: {}", summary(r));
        // The ids the logs show are the exported span's own, so a log line's `span_id`
        // finds its span in the backend: the tracer exports the `trace_id` and `span_id`
        // fields as attributes only when the span's own ids differ from them. Every span
        // but the CLIENT ones (whose ids the SDK picks and the runtime then sends) has them.
        if r.span.kind() != SpanKind::Client {
            for key in ["span_id", "trace_id"] {
                assert_eq!(
                    attribute(&r.span, key),
                    None,
                    "{key} is not the span's: {}",
                    summary(r)
                );
            }
        }
    }

    let ok = Tree::of(&all, &sent[0]);
    assert_eq!(ok.check_chain(&sent[0]), 1);
    ok.check_status(|_| None, false);

    let full = Tree::of(&all, &sent[1]);
    // STORAGE_FULL is retryable: checkout tried more than once, each attempt its own hop.
    assert!(full.check_chain(&sent[1]) > 1);
    full.check_status(|_| Some("STORAGE_FULL"), true);

    let panicked = Tree::of(&all, &sent[2]);
    panicked.check_chain(&sent[2]);
    // Only inventory tells a panic apart; on the wire, and so for its callers, it is INTERNAL.
    panicked.check_status(
        |r| Some(if r.service == "inventory" { "PANICKED" } else { "INTERNAL" }),
        true,
    );

    // The caller's mistake: an error for every caller, not for the servers.
    let refused = Tree::of(&all, &sent[3]);
    assert_eq!(refused.check_chain(&sent[3]), 1, "not retried");
    refused.check_status(|_| Some("FAILED_PRECONDITION"), false);
    let raw = collector.raw.lock().unwrap();
    assert!(!raw.contains(SECRET), "a panic's message reached the exporter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_cross_services_on_current_thread_runtimes() {
    one_trace_per_request_across_the_three_services(Flavour::CurrentThread).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_cross_services_on_multi_thread_runtimes() {
    one_trace_per_request_across_the_three_services(Flavour::MultiThread).await;
}

/// Export and shutdown on a current-thread runtime, from inside it (the SDK's documented
/// deadlock when the exporter shares that runtime): bounded, so a deadlock fails the test.
#[test]
fn export_and_shutdown_complete_inside_a_current_thread_runtime() {
    let collector_rt = tokio::runtime::Runtime::new().unwrap();
    let collector = Collector::default();
    let endpoint = collector_rt.block_on(collector.serve());
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let otlp = Otlp::start(&endpoint, "solo").unwrap();
            let subscriber = tracing_subscriber::registry().with(otlp.layer());
            tracing::subscriber::with_default(subscriber, || {
                tracing::info_span!("work").in_scope(|| {});
            });
            otlp.shutdown().unwrap();
        });
        let _ = done.send(());
    });
    finished.recv_timeout(BOUND).expect("shutdown finished inside the current-thread runtime");
    let spans = collector_rt.block_on(collector.wait_for(|s| !s.is_empty()));
    assert_eq!(spans.len(), 1);
    assert_eq!((spans[0].service.as_str(), spans[0].span.name.as_str()), ("solo", "work"));
}
