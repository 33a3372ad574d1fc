//! `service`: one loopback unary gRPC call to inventory (carrying traceparent, tracestate and
//! baggage), served with the runtime's `ResultLayer` against the same service without it
//! (goal: <= 1.05x); the same call from a client behind a closed
//! [`BreakerLayer`](result_runtime::breaker::BreakerLayer) against a client without it
//! (goal: <= 1.02x); and the error path with classification details in the status against a
//! plain status (goal: <= 1.10x); and one gateway request through the whole stack
//! (gateway, checkout, inventory) with the Prometheus recorder installed and every span
//! exported over OTLP/gRPC to a loopback collector, against the same stack with neither
//! (goal: <= 1.10x).
//!
//! Each batch interleaves calls to the two servers, alternating which goes first, so the
//! machine's noise (and the warmth one call leaves for the next) hits both alike;
//! both routines record both timings, and the RATIO line compares them in this run.

#[path = "../../result-runtime/benches/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use result_runtime::breaker::{BreakerLayer, BreakerService, CircuitBreaker};
use result_runtime_examples::observe::{prometheus_recorder, Otlp};
use result_runtime_examples::pb::inventory::inventory_client::InventoryClient;
use result_runtime_examples::pb::inventory::ReserveRequest;
use result_runtime_examples::{
    http_client, post_json, spawn_inventory, spawn_inventory_without_layer, Basket, BasketItem,
    HttpClient, Receipt, Stack,
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

const DETAILS: &str = "error_path/with_details";
const PLAIN: &str = "error_path/plain_status";

/// The error path's wire cost: a `TaskError` sent as a status with its classification in
/// `grpc-status-details-bin` and read back on the other side, against a plain status (code,
/// message, trace id header) read back from its gRPC code, as before the details existed.
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

/// An OTLP/gRPC trace collector that accepts and drops everything.
struct Sink;

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        std::hint::black_box(request);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// The three services on a thread of their own (a current-thread runtime), observed (a
/// thread-local Prometheus recorder, and a thread-local subscriber exporting every span to
/// `otlp`) or not: the two stacks run side by side in one process.
struct IsolatedStack {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IsolatedStack {
    fn start(otlp: Option<String>) -> Self {
        use tracing_subscriber::layer::SubscriberExt as _;
        let (ready, url) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let exporter = otlp.map(|url| Otlp::start(&url, "stack").expect("exporter"));
            let _subscriber = exporter.as_ref().map(|e| {
                tracing::subscriber::set_default(
                    tracing_subscriber::registry()
                        .with(e.layer())
                        .with(tracing_subscriber::filter::LevelFilter::INFO),
                )
            });
            let recorder = exporter.as_ref().map(|_| prometheus_recorder());
            let _recorder = recorder.as_ref().map(|r| metrics::set_default_local_recorder(r));
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
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

/// One gateway request through an observed stack against one through a bare stack,
/// interleaved.
fn observed_stack(criterion: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let sink = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Sink))
                .serve_with_incoming(incoming),
        );
        url
    });
    let observed = IsolatedStack::start(Some(sink));
    let bare = IsolatedStack::start(None);
    let client = http_client();
    let basket = Basket { items: vec![BasketItem { sku: "tea".into(), qty: 1 }] };
    for (id, ours) in [(OBSERVED, true), (UNOBSERVED, false)] {
        criterion.bench_function(id, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let (client, basket) = (client.clone(), basket.clone());
                let (observed, bare) = (observed.url.clone(), bare.url.clone());
                async move {
                    let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
                    for i in 0..iters {
                        // Alternate which goes first, so neither always finds the threads
                        // warm from the other's call.
                        if i % 2 == 0 {
                            a += gateway_call(&client, &observed, &basket).await;
                            b += gateway_call(&client, &bare, &basket).await;
                        } else {
                            b += gateway_call(&client, &bare, &basket).await;
                            a += gateway_call(&client, &observed, &basket).await;
                        }
                    }
                    support::record_elapsed(OBSERVED, iters, a);
                    support::record_elapsed(UNOBSERVED, iters, b);
                    if ours {
                        a
                    } else {
                        b
                    }
                }
            });
        });
    }
    drop(client);
    drop((observed, bare));
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
    for (id, ours) in [(BREAKER, true), (NO_BREAKER, false)] {
        criterion.bench_function(id, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let (mut guarded, mut plain) = (guarded.clone(), plain.clone());
                async move {
                    let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
                    for i in 0..iters {
                        if i % 2 == 0 {
                            a += call_through_breaker(&mut guarded).await;
                            b += call(&mut plain).await;
                        } else {
                            b += call(&mut plain).await;
                            a += call_through_breaker(&mut guarded).await;
                        }
                    }
                    support::record_elapsed(BREAKER, iters, a);
                    support::record_elapsed(NO_BREAKER, iters, b);
                    if ours {
                        a
                    } else {
                        b
                    }
                }
            });
        });
    }
    assert_eq!(breaker.state(), result_runtime::breaker::State::Closed);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (with_server, without_server, with, without, without_channel) = rt.block_on(async {
        let a = spawn_inventory(any).await.expect("bind");
        let b = spawn_inventory_without_layer(any).await.expect("bind");
        let connect = |url: String| async move {
            Endpoint::from_shared(url).unwrap().connect().await.expect("connect")
        };
        let with = InventoryClient::new(connect(a.url()).await);
        let without_channel = connect(b.url()).await;
        let without = InventoryClient::new(without_channel.clone());
        (a, b, with, without, without_channel)
    });

    let mut criterion = Criterion::default().configure_from_args();
    for (id, ours) in [(WITH, true), (WITHOUT, false)] {
        let (with, without) = (with.clone(), without.clone());
        criterion.bench_function(id, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (mut with, mut without) = (with.clone(), without.clone());
                async move {
                    let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
                    for i in 0..iters {
                        if i % 2 == 0 {
                            a += call(&mut with).await;
                            b += call(&mut without).await;
                        } else {
                            b += call(&mut without).await;
                            a += call(&mut with).await;
                        }
                    }
                    support::record_elapsed(WITH, iters, a);
                    support::record_elapsed(WITHOUT, iters, b);
                    if ours {
                        a
                    } else {
                        b
                    }
                }
            });
        });
    }
    in_process(&mut criterion, &rt);
    error_path(&mut criterion);
    client_breaker(&mut criterion, &rt, &without_channel);
    observed_stack(&mut criterion, &rt);
    criterion.final_summary();
    support::ratio(
        "grpc server layer (traceparent + tracestate + baggage), loopback unary call",
        WITH,
        WITHOUT,
        "<= 1.05x",
    );
    support::ratio("error path, status details vs plain status", DETAILS, PLAIN, "<= 1.10x");
    support::ratio(
        "breaker layer on the client, loopback unary call",
        BREAKER,
        NO_BREAKER,
        "<= 1.02x",
    );
    support::ratio(
        "service: gateway request through the stack, Prometheus recorder and OTLP export on vs off",
        OBSERVED,
        UNOBSERVED,
        "<= 1.10x",
    );
    if let (Some(a), Some(b)) = (support::mean_ns(LAYER_ONLY), support::mean_ns(BARE)) {
        println!("LAYER grpc server layer's own cost: {:.0} ns per call (in process)", a - b);
    }
    drop((with, without));
    rt.block_on(async {
        with_server.shutdown().await;
        without_server.shutdown().await;
    });
}
