//! What crosses the wire keeps its class, its trace and its cause: custom codes with their
//! retry delay over two gRPC hops and one HTTP hop, tracestate and baggage end to end, the
//! gateway's limits at the edge, and transport faults (a downstream killed mid-call, a
//! downstream stalled past the caller's deadline) that only ever yield UNAVAILABLE or
//! DEADLINE_EXCEEDED, never INTERNAL.
//!
//! Faults are injected with a loopback TCP proxy in front of inventory: killing it drops
//! every connection at once (what a SIGKILL of the downstream does to its sockets);
//! stalling it stops every byte in both directions (what a SIGSTOP does).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use metrics_util::debugging::DebuggingRecorder;
use result_runtime::middleware::grpc::StatusExt;
use result_runtime::middleware::{BAGGAGE, GRPC_CLIENT_CALLS, TRACEPARENT, TRACESTATE, X_TRACE_ID};
use result_runtime::trace::TraceContext;
use result_runtime::Code;
use result_runtime_examples::pb::checkout::checkout_client::CheckoutClient;
use result_runtime_examples::pb::checkout::{CheckoutRequest, Item};
use result_runtime_examples::pb::inventory::inventory_client::InventoryClient;
use result_runtime_examples::pb::inventory::ReserveRequest;
use result_runtime_examples::{
    channel, http_client, post_json, serve_checkout, serve_inventory, spawn_gateway, Answer,
    Basket, BasketItem, Checkout, HttpClient, Inventory, Receipt, Stack, STORAGE_FULL,
    STORAGE_FULL_RETRY,
};
use result_runtime_tests::{bounded, counters, Logs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Level;

const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);

fn basket(items: &[(&str, u32)]) -> Basket {
    Basket {
        items: items.iter().map(|&(sku, qty)| BasketItem { sku: sku.to_owned(), qty }).collect(),
    }
}

async fn post(client: &HttpClient, stack: &Stack, basket: &Basket) -> Answer<Receipt> {
    let url = format!("{}/checkout", stack.gateway.url());
    post_json(client, &url, basket, None).await.expect("the gateway answered")
}

/// A raw request to the gateway: status, headers and the body as JSON.
async fn raw(
    client: &HttpClient,
    request: http::Request<Full<Bytes>>,
) -> (u16, http::HeaderMap, serde_json::Value) {
    use tower::ServiceExt;
    let response = client.clone().oneshot(request).await.expect("the gateway answered");
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, parts.headers, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_code_and_its_retry_delay_cross_every_hop() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        // One gRPC hop: checkout's view of inventory's failure.
        let mut inventory = InventoryClient::new(channel(&stack.inventory.url()).unwrap());
        let trace = TraceContext::new_root();
        let status = trace
            .scope(inventory.reserve(ReserveRequest { sku: "full-vol1".into(), qty: 1 }))
            .await
            .unwrap_err();
        let e = status.into_task_error();
        assert_eq!(e.code(), STORAGE_FULL);
        assert_eq!(e.code().name(), "STORAGE_FULL");
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(STORAGE_FULL_RETRY));
        assert_eq!(e.trace_id(), Some(trace.trace_id));

        // Two hops: the gateway's view of checkout's failure (after checkout's own retries).
        let mut checkout = CheckoutClient::new(channel(&stack.checkout.url()).unwrap());
        let request = CheckoutRequest { items: vec![Item { sku: "full-vol2".into(), qty: 1 }] };
        let e = trace.scope(checkout.checkout(request)).await.unwrap_err().into_task_error();
        assert_eq!(e.code(), STORAGE_FULL);
        assert_eq!(e.retry_after(), Some(STORAGE_FULL_RETRY));
        assert_eq!(e.trace_id(), Some(trace.trace_id));
        assert_eq!(
            stack.inventory_service.calls("full-vol2"),
            3,
            "retried twice, honouring the delay"
        );

        // Three hops: the HTTP client sees its name, its status and its delay.
        let client = http_client();
        let answer = post(&client, &stack, &basket(&[("full-vol3", 1)])).await;
        assert_eq!(answer.status, 503);
        assert_eq!(answer.envelope.code, "STORAGE_FULL");
        assert_eq!(answer.envelope.message, "storage unavailable", "never the internal text");
        assert_eq!(answer.headers[http::header::RETRY_AFTER], "1", "rounded up to a second");
        let id = answer.headers[X_TRACE_ID].to_str().unwrap();
        assert_eq!(answer.envelope.trace_id.as_deref(), Some(id));
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracestate_and_baggage_are_kept_end_to_end() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let sent = TraceContext::new_root();
        let body = serde_json::to_vec(&basket(&[("tea", 1)])).unwrap();
        let request = http::Request::post(format!("{}/checkout", stack.gateway.url()))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(TRACEPARENT, sent.to_string())
            .header(TRACESTATE, "gateway=g1,rojo=00f067aa0ba902b7")
            .header(BAGGAGE, "tenant=acme, bad key=1, user=J%C3%B6rg")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let (status, _, json) = raw(&client, request).await;
        assert_eq!(status, 200, "{json}");
        let line = &json["data"]["lines"][0];
        assert_eq!(line["inventory_trace_id"], sent.trace_id.to_string());
        assert_eq!(line["inventory_tracestate"], "gateway=g1,rojo=00f067aa0ba902b7");
        assert_eq!(
            line["inventory_baggage"], "tenant=acme,user=J%C3%B6rg",
            "the bad member dropped"
        );

        // An invalid traceparent restarts the trace and drops its tracestate.
        let body = serde_json::to_vec(&basket(&[("tea", 1)])).unwrap();
        let request = http::Request::post(format!("{}/checkout", stack.gateway.url()))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(TRACEPARENT, "00-zz-00f067aa0ba902b7-01")
            .header(TRACESTATE, "rojo=1")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let (status, _, json) = raw(&client, request).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["data"]["lines"][0]["inventory_tracestate"], "");
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refuses_oversized_input_and_answers_every_refusal_as_an_envelope() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let url = format!("{}/checkout", stack.gateway.url());
        // Too many lines: refused before any line's work is built.
        let many: Vec<(String, u32)> = (0..=200).map(|i| (format!("sku{i}"), 1)).collect();
        let many =
            Basket { items: many.into_iter().map(|(sku, qty)| BasketItem { sku, qty }).collect() };
        let answer = post(&client, &stack, &many).await;
        assert_eq!((answer.status, answer.envelope.code.as_str()), (400, "INVALID_ARGUMENT"));
        assert!(
            answer.envelope.message.contains("at most 200 lines"),
            "{}",
            answer.envelope.message
        );
        // Too large a body: 413 in the envelope.
        let huge = vec![b' '; 100 * 1024];
        let request = http::Request::post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(huge)))
            .unwrap();
        let (status, headers, json) = raw(&client, request).await;
        assert_eq!((status, json["code"].as_str()), (413, Some("INVALID_ARGUMENT")));
        assert!(headers.contains_key(X_TRACE_ID));
        // No such route, wrong method: envelopes too.
        let request = http::Request::get(format!("{}/nope", stack.gateway.url()))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (status, _, json) = raw(&client, request).await;
        assert_eq!((status, json["code"].as_str()), (404, Some("NOT_FOUND")));
        let request = http::Request::get(&url).body(Full::new(Bytes::new())).unwrap();
        let (status, _, json) = raw(&client, request).await;
        assert_eq!((status, json["code"].as_str()), (405, Some("INVALID_ARGUMENT")));
        assert!(json["trace_id"].is_string());
        stack.shutdown().await;
    })
    .await;
}

/// A loopback TCP proxy that can drop every connection at once or stop every byte.
struct Proxy {
    addr: SocketAddr,
    stalled: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stalled, gate) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else { continue };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                conns.spawn(pipe(cr, sw, gate.clone()));
                conns.spawn(pipe(sr, cw, gate.clone()));
            }
            // Dropping `conns` (when this task is aborted) drops every socket at once.
        });
        Self { addr, stalled, tasks }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every connection dropped and the port closed, as when the process behind dies.
    fn kill(&mut self) {
        self.tasks.abort_all();
    }

    fn stall(&self, on: bool) {
        self.stalled.send_replace(on);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: watch::Receiver<bool>,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        // Stalled: no byte moves either way until released.
        if gate.wait_for(|stalled| !stalled).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if gate.wait_for(|stalled| !stalled).await.is_err()
            || to.write_all(&buf[..n]).await.is_err()
        {
            return;
        }
    }
}

/// Waits (bounded) until `cond` holds, re-checking as the services make progress.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never happened: {what}");
}

/// On the test's thread (a current-thread runtime): what every server in the process logged
/// and counted.
#[tokio::test]
async fn a_downstream_killed_mid_call_is_unavailable_retried_and_a_503_never_a_500() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let (logs, _logs) = Logs::capture();
    bounded(async {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let inventory_service = Inventory::new();
        let inventory = serve_inventory(any, inventory_service.clone()).await.unwrap();
        let mut proxy = Proxy::start(inventory.addr).await;
        let checkout =
            serve_checkout(any, Checkout::new(channel(&proxy.url()).unwrap())).await.unwrap();
        let gateway = spawn_gateway(any, &checkout.url(), GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let url = format!("{}/checkout", gateway.url());

        // Calls in flight at inventory (its handler waits), then the downstream dies.
        const CALLS: u32 = 8;
        let mut calls = JoinSet::new();
        for _ in 0..CALLS {
            let (client, url) = (client.clone(), url.clone());
            calls.spawn(async move {
                post_json::<Receipt>(&client, &url, &basket(&[("slow", 1)]), None).await.unwrap()
            });
        }
        until("every call reached inventory", || inventory_service.calls("slow") >= CALLS).await;
        proxy.kill();

        let mut traces = BTreeSet::new();
        while let Some(answer) = calls.join_next().await {
            let answer = answer.unwrap();
            assert_eq!(answer.status, 503, "{:?}", answer.envelope);
            // UNAVAILABLE, or CIRCUIT_OPEN once checkout's inventory breaker has seen enough.
            assert!(
                ["UNAVAILABLE", "CIRCUIT_OPEN"].contains(&answer.envelope.code.as_str()),
                "{:?}",
                answer.envelope
            );
            traces.insert(answer.envelope.trace_id.clone().expect("a trace id"));
        }
        // The retries went out (and found the port closed): nothing new reached inventory.
        assert_eq!(inventory_service.calls("slow"), CALLS);
        // Checkout's attempts at inventory, as its client layer counted them: the first ones
        // broke with the connection, and retry = 2 sent more (until the breaker, which judges
        // only a window of 20 calls or more, opened). Without a retry there would be 8.
        let counted = counters(&snapshotter);
        let attempts = counted
            .get(&format!(
                "{GRPC_CLIENT_CALLS} service=inventory.Inventory,method=Reserve,code=UNAVAILABLE"
            ))
            .copied()
            .unwrap_or(0);
        assert!(attempts >= 2 * u64::from(CALLS), "{attempts} attempts: {counted:#?}");

        // Each call's line at the gateway (and at checkout) is a warning, never an error.
        let lines = logs.events(|e| e.field("call") == Some("/checkout"));
        let logged: BTreeSet<String> =
            lines.iter().filter_map(|e| e.field("trace_id").map(str::to_owned)).collect();
        assert_eq!(logged, traces, "one line per call, in its trace:\n{}", logs.dump());
        for line in &lines {
            assert_eq!(line.level, Level::WARN, "{line:?}");
        }
        let lines = logs.events(|e| e.field("call") == Some("/checkout.Checkout/Checkout"));
        assert_eq!(lines.len(), traces.len(), "{}", logs.dump());
        assert!(lines.iter().all(|e| e.level == Level::WARN), "{lines:#?}");
        let errors = logs.events(|e| e.level == Level::ERROR);
        assert!(errors.is_empty(), "nothing logged at error: {errors:#?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downstream_stalled_past_the_deadline_yields_only_deadline_or_unavailable() {
    bounded(async {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let inventory = serve_inventory(any, Inventory::new()).await.unwrap();
        let proxy = Proxy::start(inventory.addr).await;
        let inventory_client = InventoryClient::new(channel(&proxy.url()).unwrap());
        // Warm the connection up so every call shares it.
        inventory_client
            .clone()
            .reserve(ReserveRequest { sku: "tea".into(), qty: 1 })
            .await
            .unwrap();

        proxy.stall(true);
        let mut short = JoinSet::new();
        for _ in 0..40 {
            let mut c = inventory_client.clone();
            short.spawn(async move {
                let mut r = tonic::Request::new(ReserveRequest { sku: "tea".into(), qty: 1 });
                r.set_timeout(Duration::from_millis(100));
                c.reserve(r).await
            });
        }
        let mut long = JoinSet::new();
        for _ in 0..5 {
            let mut c = inventory_client.clone();
            long.spawn(async move {
                let mut r = tonic::Request::new(ReserveRequest { sku: "tea".into(), qty: 1 });
                r.set_timeout(Duration::from_secs(20));
                c.reserve(r).await
            });
        }
        // Every short call gives up while the downstream is stalled (resetting its stream).
        while let Some(r) = short.join_next().await {
            let e = r.unwrap().unwrap_err().into_task_error();
            assert_eq!(e.code(), Code::DEADLINE_EXCEEDED, "{e:#}");
        }
        proxy.stall(false);
        // The burst of resets must not take the connection (and the long calls) down.
        while let Some(r) = long.join_next().await {
            match r.unwrap() {
                Ok(_) => {}
                Err(status) => {
                    let e = status.into_task_error();
                    assert!(
                        matches!(e.code(), c if c == Code::DEADLINE_EXCEEDED || c == Code::UNAVAILABLE),
                        "a stall yielded {e:#}"
                    );
                    panic!("the reset burst dropped a call still in its deadline: {e:#}");
                }
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holding_a_half_sent_request_is_disconnected() {
    bounded(async {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let app = result_runtime_examples::gateway_router(
            channel(&stack.checkout.url()).unwrap(),
            GATEWAY_TIMEOUT,
        );
        let gateway = result_runtime_examples::serve_gateway(any, app, Duration::from_millis(200))
            .await
            .unwrap();
        let mut tcp = TcpStream::connect(gateway.addr).await.unwrap();
        tcp.write_all(b"POST /checkout HTTP/1.1\r\nhost: gateway\r\ncontent-type: appl")
            .await
            .unwrap();
        // The server gives up on the headers and closes: the read ends (EOF or a reset).
        let mut buf = [0; 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {} // a 408, if the server says why, before closing
            }
        }
        // A complete request on a new connection is still served.
        let client = http_client();
        let url = format!("http://{}/checkout", gateway.addr);
        let answer =
            post_json::<Receipt>(&client, &url, &basket(&[("tea", 1)]), None).await.unwrap();
        assert_eq!(answer.status, 200);
        stack.shutdown().await;
    })
    .await;
}
