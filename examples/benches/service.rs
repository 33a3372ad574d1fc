//! `service`: one loopback unary gRPC call to inventory (carrying traceparent, tracestate and
//! baggage), served with the runtime's `ResultLayer` against the same service without it
//! (goal: <= 1.05x; both serve [`Inventory::without_echo`], whose handler does the same work
//! on either side); the same call from a client behind a closed
//! [`BreakerLayer`](result_runtime::breaker::BreakerLayer) against a client without it
//! (goal: <= 1.02x); the error path, a failing loopback call answered with classification
//! details in the status against the same failure answered with a plain status (goal:
//! <= 1.10x; the details' codec alone, in process, is printed beside it); and one gateway
//! request through the whole stack
//! (gateway, checkout, inventory) with the Prometheus recorder installed and every span
//! exported over OTLP/gRPC to a loopback collector, against the same stack with neither, both
//! with the examples' log subscriber (goal: <= 1.10x); and, beside it, the exporting stack
//! against one with no subscriber at all.
//!
//! Each batch interleaves calls to the two servers, alternating which goes first, so the
//! machine's noise (and the warmth one call leaves for the next) hits both alike;
//! both routines record both timings, and the RATIO line compares them in this run.

mod sink;
#[path = "../../result-runtime/benches/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use metrics_exporter_prometheus::PrometheusRecorder;
use result_runtime::breaker::{BreakerLayer, BreakerService, CircuitBreaker};
use result_runtime_examples::observe::{
    prometheus_recorder, run_upkeep_every, Otlp, UPKEEP_INTERVAL,
};
use result_runtime_examples::pb::inventory::inventory_client::InventoryClient;
use result_runtime_examples::pb::inventory::ReserveRequest;
use result_runtime_examples::{
    http_client, post_json, serve_inventory, serve_inventory_without_layer,
    spawn_inventory_with_plain_errors, Basket, BasketItem, HttpClient, Inventory, Receipt, Stack,
};
use tonic::transport::{Channel, Endpoint};

const WITH: &str = "unary/with_layer";
const WITHOUT: &str = "unary/without_layer";
const LAYER_ONLY: &str = "in_process/with_layer";
const BARE: &str = "in_process/without_layer";
const BREAKER: &str = "unary/client_with_breaker";
const NO_BREAKER: &str = "unary/client_without_breaker";

/// The layer's own cost, without a network: one call through it to a service that answers
/// at once, against the same service called directly.
fn in_process(criterion: &mut Criterion, rt: &tokio::runtime::Runtime) {
    use result_runtime::middleware::grpc::ResultLayer;
    use tower::{service_fn, Layer, Service, ServiceExt};

    let answer = |_req: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
    };
    let request = || {
        let mut r = http::Request::post("/inventory.Inventory/Reserve").body(()).unwrap();
        r.headers_mut().insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
        );
        r
    };
    criterion.bench_function(LAYER_ONLY, |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut svc = ResultLayer::new().layer(service_fn(answer));
            let start = Instant::now();
            for _ in 0..iters {
                let svc = svc.ready().await.unwrap();
                std::hint::black_box(svc.call(request()).await.unwrap());
            }
            support::record_elapsed(LAYER_ONLY, iters, start.elapsed())
        });
    });
    criterion.bench_function(BARE, |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut svc = service_fn(answer);
            let start = Instant::now();
            for _ in 0..iters {
                let svc = svc.ready().await.unwrap();
                std::hint::black_box(svc.call(request()).await.unwrap());
            }
            support::record_elapsed(BARE, iters, start.elapsed())
        });
    });
}

const DETAILS: &str = "error_path/codec_with_details";
const PLAIN: &str = "error_path/codec_plain_status";
const WIRE_DETAILS: &str = "error_path/with_details";
const WIRE_PLAIN: &str = "error_path/plain_status";

/// One failing loopback call (a `full-*` SKU: inventory's custom `STORAGE_FULL` with a
/// retry delay), read back into a `TaskError` as a caller does; the call's time.
async fn failing_call(client: &mut InventoryClient<Channel>) -> Duration {
    use result_runtime::middleware::grpc::StatusExt;
    let start = Instant::now();
    let mut request = tonic::Request::new(ReserveRequest { sku: "full-1".into(), qty: 1 });
    request.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
    );
    let status = client.reserve(request).await.expect_err("the call fails");
    let error = std::hint::black_box(status.into_task_error());
    let elapsed = start.elapsed();
    assert_eq!(error.trace_id().map(|t| t.to_string()).as_deref(), Some(TRACE_ID));
    elapsed
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The error path as a caller sees it: one failing loopback call answered with the
/// classification in `grpc-status-details-bin`, against the same failure answered with a
/// plain status (code, message, `x-trace-id`), both servers behind the layer, interleaved.
fn wire_error_path(
    criterion: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    details: InventoryClient<Channel>,
    plain: InventoryClient<Channel>,
) {
    interleaved(
        criterion,
        rt,
        [WIRE_DETAILS, WIRE_PLAIN],
        move || {
            let mut client = details.clone();
            async move { failing_call(&mut client).await }
        },
        move || {
            let mut client = plain.clone();
            async move { failing_call(&mut client).await }
        },
    );
}

/// The error details' codec alone, in process: a `TaskError` sent as a status with its
/// classification in `grpc-status-details-bin` and read back on the other side, against a
/// plain status (code, message, trace id header) read back from its gRPC code, as before the
/// details existed.
fn error_path(criterion: &mut Criterion) {
    use result_runtime::middleware::grpc::StatusExt;
    use result_runtime::{Category, Code, TaskError};
    use tonic::metadata::MetadataValue;
    const FULL: Code = Code::new("STORAGE_FULL", Category::Storage);
    let error = || {
        TaskError::new(FULL, "disk full")
            .with_retry_after(Duration::from_millis(20))
            .with_trace_id("4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap())
    };
    // Only what crosses the wire: the status's headers.
    let over_the_wire = |status: tonic::Status| {
        let (parts, ..) = status.into_http::<()>().into_parts();
        tonic::Status::from_header_map(&parts.headers).unwrap()
    };
    criterion.bench_function(DETAILS, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let status = tonic::Status::from(error());
                std::hint::black_box(over_the_wire(status).into_task_error());
            }
            support::record_elapsed(DETAILS, iters, start.elapsed())
        });
    });
    criterion.bench_function(PLAIN, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let e = error();
                let mut status = tonic::Status::new(tonic::Code::Unavailable, e.client_message());
                let id = MetadataValue::try_from(e.trace_id().unwrap().to_string()).unwrap();
                status.metadata_mut().insert("x-trace-id", id);
                std::hint::black_box(over_the_wire(status).into_task_error());
            }
            support::record_elapsed(PLAIN, iters, start.elapsed())
        });
    });
}

const OBSERVED: &str = "stack/prometheus_and_otlp";
const UNOBSERVED: &str = "stack/no_exporters";
const ALL_ON: &str = "stack/logs_prometheus_and_otlp";
const NO_SUBSCRIBER: &str = "stack/no_subscriber";

/// What a stack's thread has installed.
#[derive(Clone, Copy, PartialEq)]
enum Observed {
    /// No subscriber and no recorder: every span is disabled at its call site.
    Nothing,
    /// The examples' log subscriber (a `fmt` layer at `INFO`, into a sink): what a service
    /// runs without exporters.
    Logs,
    /// The same logs, every span exported over OTLP, and a Prometheus recorder.
    Exported,
}

/// The three services on a thread of their own (a current-thread runtime), with a
/// thread-local subscriber and recorder as `observed` says: the stacks run side by side in
/// one process.
struct IsolatedStack {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IsolatedStack {
    fn start(observed: Observed, otlp: &str) -> Self {
        use tracing_subscriber::layer::SubscriberExt as _;
        let (ready, url) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let otlp = otlp.to_owned();
        let thread = std::thread::spawn(move || {
            let exporter = (observed == Observed::Exported)
                .then(|| Otlp::start(&otlp, "stack").expect("exporter"));
            let _subscriber = (observed != Observed::Nothing).then(|| {
                let logs =
                    tracing_subscriber::fmt::layer().with_ansi(false).with_writer(std::io::sink);
                tracing::subscriber::set_default(
                    tracing_subscriber::registry()
                        .with(logs)
                        .with(exporter.as_ref().map(Otlp::layer))
                        .with(tracing_subscriber::filter::LevelFilter::INFO),
                )
            });
            let recorder = exporter.as_ref().map(|_| prometheus_recorder());
            let _recorder = recorder.as_ref().map(|r| metrics::set_default_local_recorder(r));
            let upkeep = recorder.as_ref().map(PrometheusRecorder::handle);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                // What the admin server does in a service: the recorder's histograms are
                // drained on a timer (nothing scrapes here).
                if let Some(handle) = upkeep {
                    tokio::spawn(run_upkeep_every(UPKEEP_INTERVAL, move || handle.run_upkeep()));
                }
                let stack = Stack::start(Duration::from_secs(5)).await.expect("the stack starts");
                ready.send(format!("{}/checkout", stack.gateway.url())).unwrap();
                let _ = stopped.await;
                stack.shutdown().await;
                if let Some(e) = exporter {
                    e.shutdown().expect("the last export");
                }
            });
        });
        let url = url.recv().expect("the stack starts");
        Self { url, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for IsolatedStack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn gateway_call(client: &HttpClient, url: &str, basket: &Basket) -> Duration {
    let start = Instant::now();
    let answer = post_json::<Receipt>(client, url, basket, None).await.expect("the call");
    let elapsed = start.elapsed();
    assert_eq!(answer.envelope.code, "OK");
    elapsed
}

/// One gateway request through a stack exporting its metrics and spans against one through
/// the same stack with its logs only (the goal's pair: the exporters' cost), and against one
/// with no subscriber at all (what observing costs in all), interleaved.
fn observed_stack(criterion: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let collector = sink::collector();
    let exported = IsolatedStack::start(Observed::Exported, &collector);
    let logged = IsolatedStack::start(Observed::Logs, &collector);
    let bare = IsolatedStack::start(Observed::Nothing, &collector);
    let client = http_client();
    let basket = Basket { items: vec![BasketItem { sku: "tea".into(), qty: 1 }] };
    let to = |stack: &IsolatedStack| {
        let (client, url, basket) = (client.clone(), stack.url.clone(), basket.clone());
        move || {
            let (client, url, basket) = (client.clone(), url.clone(), basket.clone());
            async move { gateway_call(&client, &url, &basket).await }
        }
    };
    interleaved(criterion, rt, [OBSERVED, UNOBSERVED], to(&exported), to(&logged));
    interleaved(criterion, rt, [ALL_ON, NO_SUBSCRIBER], to(&exported), to(&bare));
    drop(client);
    drop((exported, logged, bare));
}

/// [`support::interleaved`] in the criterion group the ids name (`group/name`).
fn interleaved<FA, FB, A, B>(
    criterion: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    ids: [&'static str; 2],
    a: FA,
    b: FB,
) where
    FA: Fn() -> A + Clone,
    FB: Fn() -> B + Clone,
    A: std::future::Future<Output = Duration>,
    B: std::future::Future<Output = Duration>,
{
    let [(group, a_name), (_, b_name)] = ids.map(|id| id.split_once('/').expect("group/name"));
    let mut g = criterion.benchmark_group(group);
    support::interleaved(&mut g, rt, [a_name, b_name], ids, a, b);
    g.finish();
}

async fn call(client: &mut InventoryClient<Channel>) -> Duration {
    let start = Instant::now();
    // What a traced caller sends: traceparent, tracestate and baggage.
    let mut request = tonic::Request::new(ReserveRequest { sku: "tea".into(), qty: 1 });
    let md = request.metadata_mut();
    md.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
    );
    md.insert("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".parse().unwrap());
    md.insert("baggage", "tenant=acme,user=J%C3%B6rg".parse().unwrap());
    let reply = client.reserve(request).await;
    let elapsed = start.elapsed();
    assert_eq!(reply.expect("the call succeeds").into_inner().reserved, 1);
    elapsed
}

async fn call_through_breaker(client: &mut InventoryClient<BreakerService<Channel>>) -> Duration {
    let start = Instant::now();
    let reply = client.reserve(ReserveRequest { sku: "tea".into(), qty: 1 }).await;
    let elapsed = start.elapsed();
    assert_eq!(reply.expect("the call succeeds").into_inner().reserved, 1);
    elapsed
}

/// A client behind a closed breaker against the same client without it, to the same server
/// over one channel, interleaved.
fn client_breaker(criterion: &mut Criterion, rt: &tokio::runtime::Runtime, channel: &Channel) {
    let breaker = CircuitBreaker::builder().name("bench-inventory").build().expect("defaults");
    let guarded = InventoryClient::new(tower::Layer::layer(
        &BreakerLayer::new(breaker.clone()),
        channel.clone(),
    ));
    let plain = InventoryClient::new(channel.clone());
    interleaved(
        criterion,
        rt,
        [BREAKER, NO_BREAKER],
        move || {
            let mut client = guarded.clone();
            async move { call_through_breaker(&mut client).await }
        },
        move || {
            let mut client = plain.clone();
            async move { call(&mut client).await }
        },
    );
    assert_eq!(breaker.state(), result_runtime::breaker::State::Closed);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (with_server, without_server, plain_server, with, without, without_channel, plain) = rt
        .block_on(async {
            // The same handler on both sides, one that echoes nothing: with the layer it
            // would copy the carried trace context into a bigger reply, which is the
            // example's work, not the layer's.
            let a = serve_inventory(any, Inventory::without_echo()).await.expect("bind");
            let b =
                serve_inventory_without_layer(any, Inventory::without_echo()).await.expect("bind");
            let c = spawn_inventory_with_plain_errors(any).await.expect("bind");
            let connect = |url: String| async move {
                Endpoint::from_shared(url).unwrap().connect().await.expect("connect")
            };
            let with = InventoryClient::new(connect(a.url()).await);
            let without_channel = connect(b.url()).await;
            let without = InventoryClient::new(without_channel.clone());
            let plain = InventoryClient::new(connect(c.url()).await);
            (a, b, c, with, without, without_channel, plain)
        });

    let mut criterion = Criterion::default().configure_from_args();
    let (a, b) = (with.clone(), without.clone());
    interleaved(
        &mut criterion,
        &rt,
        [WITH, WITHOUT],
        move || {
            let mut client = a.clone();
            async move { call(&mut client).await }
        },
        move || {
            let mut client = b.clone();
            async move { call(&mut client).await }
        },
    );
    in_process(&mut criterion, &rt);
    error_path(&mut criterion);
    wire_error_path(&mut criterion, &rt, with.clone(), plain);
    client_breaker(&mut criterion, &rt, &without_channel);
    observed_stack(&mut criterion, &rt);
    criterion.final_summary();
    support::ratio(
        "grpc server layer (traceparent + tracestate + baggage), loopback unary call",
        WITH,
        WITHOUT,
        "<= 1.05x",
    );
    support::ratio(
        "error path, a failing loopback call: status details vs plain status",
        WIRE_DETAILS,
        WIRE_PLAIN,
        "<= 1.10x",
    );
    if let (Some(a), Some(b)) = (support::mean_ns(DETAILS), support::mean_ns(PLAIN)) {
        println!(
            "CODEC error details' own cost: {:.0} ns per error ({:.2}x a plain status's, \
             encode and decode in process)",
            a - b,
            a / b
        );
    }
    support::ratio(
        "breaker layer on the client, loopback unary call",
        BREAKER,
        NO_BREAKER,
        "<= 1.02x",
    );
    support::ratio(
        "service: gateway request through the stack, Prometheus recorder and OTLP export on vs \
         off (logs on in both)",
        OBSERVED,
        UNOBSERVED,
        "<= 1.10x",
    );
    support::ratio(
        "service: gateway request, logs, Prometheus and OTLP vs no subscriber at all",
        ALL_ON,
        NO_SUBSCRIBER,
        "none: what observing costs in all",
    );
    if let (Some(a), Some(b)) = (support::mean_ns(LAYER_ONLY), support::mean_ns(BARE)) {
        println!("LAYER grpc server layer's own cost: {:.0} ns per call (in process)", a - b);
    }
    drop((with, without));
    rt.block_on(async {
        with_server.shutdown().await;
        without_server.shutdown().await;
        plain_server.shutdown().await;
    });
}
