//! End to end, with real servers on loopback: checkout's inventory breaker opens when
//! inventory is down, answers fast `CIRCUIT_OPEN`s (503 at the gateway, with the trace id)
//! without a single connection attempt until the half-open probe, and closes once inventory
//! is back.
//!
//! Real sockets, so no paused clock: the breaker's open wait is short (configured), and the
//! test waits on signals (the breaker's state, the connector's count) in bounded loops; the
//! only time reasoning is a lower bound (a request that ended before `open_for` had passed
//! since the opening began cannot have probed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use result_runtime::breaker::{CircuitBreaker, RetryBudget, State};
use result_runtime::middleware::{ClientLayer, X_TRACE_ID};
use result_runtime::trace::TraceContext;
use result_runtime::{Code, Result, ResultExt};
use result_runtime_examples::{
    http_client, post_json, serve_inventory, Answer, Basket, BasketItem, HttpClient,
    InventoryGuard, Receipt, Stack, TracedChannel,
};
use result_runtime_tests::bounded;
use tokio::time::Instant;
use tonic::transport::Endpoint;

const OPEN_FOR: Duration = Duration::from_millis(500);

/// A lazily connected channel whose connector counts every connection attempt.
fn counting_channel(url: &str, attempts: Arc<AtomicUsize>) -> Result<TracedChannel> {
    let endpoint = Endpoint::from_shared(url.to_owned()).with_code(Code::INVALID_ARGUMENT)?;
    let connector = tower::service_fn(move |uri: http::Uri| {
        attempts.fetch_add(1, Ordering::SeqCst);
        async move {
            let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
            let tcp = tokio::net::TcpStream::connect(authority).await?;
            tcp.set_nodelay(true)?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tcp))
        }
    });
    Ok(tower::Layer::layer(&ClientLayer::new(), endpoint.connect_with_connector_lazy(connector)))
}

async fn post(client: &HttpClient, gateway: &str, traceparent: &str) -> Answer<Receipt> {
    let basket = Basket { items: vec![BasketItem { sku: "tea".to_owned(), qty: 1 }] };
    post_json(client, &format!("{gateway}/checkout"), &basket, Some(traceparent))
        .await
        .expect("the gateway answered")
}

fn x_trace_id(answer: &Answer<Receipt>) -> &str {
    answer.headers.get(X_TRACE_ID).expect("x-trace-id").to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_on_a_dead_inventory_stops_connecting_and_closes_when_it_is_back() {
    bounded(async {
        let breaker = CircuitBreaker::builder()
            .name("inventory")
            .min_calls(2)
            .failure_rate(0.5)
            .open_for(OPEN_FOR)
            .max_open_for(OPEN_FOR * 2)
            .half_open_calls(1)
            .jitter(0.0)
            .build()
            .unwrap();
        let budget = RetryBudget::builder().name("inventory").build().unwrap();
        let guard = InventoryGuard::new(breaker.clone(), budget);
        let connects = Arc::new(AtomicUsize::new(0));
        let counter = connects.clone();
        let stack = Stack::start_guarded(Duration::from_secs(10), guard, |url| {
            counting_channel(url, counter)
        })
        .await
        .unwrap();
        let Stack { inventory, checkout, gateway, inventory_service, .. } = stack;
        let client = http_client();
        let gw = gateway.url();

        // Healthy: a checkout goes through, over one connection.
        let ok = post(&client, &gw, &TraceContext::new_root().to_string()).await;
        assert_eq!(ok.status, 200, "{:?}", ok.envelope);
        assert!(connects.load(Ordering::SeqCst) >= 1);
        assert_eq!(breaker.state(), State::Closed);

        // Inventory goes down; requests fail until the breaker has seen enough of it.
        let inventory_addr = inventory.addr;
        inventory.shutdown().await;
        let mut opening_began = Instant::now();
        for _ in 0..20 {
            if breaker.state() == State::Open {
                break;
            }
            opening_began = Instant::now();
            let answer = post(&client, &gw, &TraceContext::new_root().to_string()).await;
            assert_eq!(answer.status, 503, "{:?}", answer.envelope);
        }
        assert_eq!(breaker.state(), State::Open, "the breaker never opened");

        // Open: fast 503 CIRCUIT_OPEN with the request's trace id, and no connection attempt.
        let before = connects.load(Ordering::SeqCst);
        let mut refused_while_surely_open = 0;
        loop {
            let sent = TraceContext::new_root();
            let answer = post(&client, &gw, &sent.to_string()).await;
            if opening_began.elapsed() >= OPEN_FOR {
                break; // this one may have been the probe
            }
            assert_eq!(answer.status, 503, "{:?}", answer.envelope);
            assert_eq!(answer.envelope.code, Code::CIRCUIT_OPEN.wire_name());
            let id = sent.trace_id.to_string();
            assert_eq!(answer.envelope.trace_id.as_deref(), Some(id.as_str()));
            assert_eq!(x_trace_id(&answer), id);
            assert_eq!(connects.load(Ordering::SeqCst), before, "a connection while open");
            refused_while_surely_open += 1;
        }
        assert!(refused_while_surely_open >= 1, "no request finished inside the open wait");

        // The wait over, the next call is the half-open probe: the first new connection attempt.
        for _ in 0..200 {
            if connects.load(Ordering::SeqCst) > before {
                break;
            }
            let _ = post(&client, &gw, &TraceContext::new_root().to_string()).await;
            tokio::time::sleep(Duration::from_millis(10)).await; // poll interval
        }
        assert!(connects.load(Ordering::SeqCst) > before, "no probe ever came");
        assert!(opening_began.elapsed() >= OPEN_FOR);

        // Inventory is back on the same address: the next probe closes the breaker.
        let inventory = serve_inventory(inventory_addr, inventory_service).await.unwrap();
        let mut answer = None;
        for _ in 0..500 {
            let a = post(&client, &gw, &TraceContext::new_root().to_string()).await;
            if a.status == 200 {
                answer = Some(a);
                break;
            }
            assert_eq!(a.status, 503, "{:?}", a.envelope);
            tokio::time::sleep(Duration::from_millis(10)).await; // poll interval
        }
        let answer = answer.expect("inventory came back but checkouts kept failing");
        assert_eq!(answer.envelope.data.unwrap().lines.len(), 1);
        assert_eq!(breaker.state(), State::Closed);
        for _ in 0..3 {
            let a = post(&client, &gw, &TraceContext::new_root().to_string()).await;
            assert_eq!(a.status, 200, "{:?}", a.envelope);
        }
        assert_eq!(breaker.state(), State::Closed);

        gateway.shutdown().await;
        checkout.shutdown().await;
        inventory.shutdown().await;
    })
    .await;
}
