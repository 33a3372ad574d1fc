//! End to end: the example services on loopback, driven through real clients (hyper-util's
//! HTTP/2 client to the gateway, tonic clients to inventory and checkout).

use std::time::Duration;

use result_runtime::breaker::{CircuitBreaker, RetryBudget, Verdict};
use result_runtime::middleware::grpc::{grpc_code, StatusExt};
use result_runtime::middleware::{TRACEPARENT, X_TRACE_ID};
use result_runtime::trace::{TraceContext, TraceId};
use result_runtime::Code;
use result_runtime_examples::pb::checkout::checkout_client::CheckoutClient;
use result_runtime_examples::pb::checkout::{CheckoutRequest, Item};
use result_runtime_examples::pb::inventory::inventory_client::InventoryClient;
use result_runtime_examples::pb::inventory::ReserveRequest;
use result_runtime_examples::{
    channel, http_client, post_json, Answer, Basket, BasketItem, HttpClient, InventoryGuard,
    Receipt, Stack, TracedChannel, SECRET,
};
use result_runtime_tests::{bounded, grpc_answer, grpc_frame};

const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);

/// A stack whose inventory breaker never opens, for the tests that send every code through
/// checkout on purpose (a run of failures that would open the real one; e2e_breaker.rs tests
/// the breaker).
async fn stack_without_breaking() -> Stack {
    let breaker =
        CircuitBreaker::builder().name("inventory").classify(|_| Verdict::Success).build().unwrap();
    let guard = InventoryGuard::new(breaker, RetryBudget::builder().build().unwrap());
    Stack::start_guarded(GATEWAY_TIMEOUT, guard, channel).await.unwrap()
}

fn basket(items: &[(&str, u32)]) -> Basket {
    Basket {
        items: items.iter().map(|&(sku, qty)| BasketItem { sku: sku.to_owned(), qty }).collect(),
    }
}

async fn post(
    client: &HttpClient,
    stack: &Stack,
    basket: &Basket,
    traceparent: Option<&str>,
) -> Answer<Receipt> {
    let url = format!("{}/checkout", stack.gateway.url());
    post_json(client, &url, basket, traceparent).await.expect("the gateway answered")
}

fn header<'a>(answer: &'a Answer<Receipt>, name: &str) -> &'a str {
    answer.headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
}

fn inventory(stack: &Stack) -> InventoryClient<TracedChannel> {
    InventoryClient::new(channel(&stack.inventory.url()).unwrap())
}

fn reserve(sku: &str, qty: u32, timeout: Option<Duration>) -> tonic::Request<ReserveRequest> {
    let mut r = tonic::Request::new(ReserveRequest { sku: sku.to_owned(), qty });
    if let Some(t) = timeout {
        r.set_timeout(t);
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_id_sent_to_the_gateway_is_seen_on_every_hop() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let sent = TraceContext::new_root();
        let answer =
            post(&client, &stack, &basket(&[("tea", 2), ("cups", 3)]), Some(&sent.to_string()))
                .await;
        assert_eq!(answer.status, 200, "{:?}", answer.envelope);
        assert_eq!(answer.envelope.code, "OK");
        let id = sent.trace_id.to_string();
        assert_eq!(answer.envelope.trace_id.as_deref(), Some(id.as_str()));
        assert_eq!(header(&answer, X_TRACE_ID), id);
        let back: TraceContext = header(&answer, TRACEPARENT).parse().unwrap();
        assert_eq!(back.trace_id, sent.trace_id);
        assert_ne!(back.span_id, sent.span_id, "the gateway answers with its own span");

        let receipt = answer.envelope.data.unwrap();
        assert_eq!(receipt.checkout_trace_id, id);
        assert_eq!(receipt.lines.len(), 2);
        for line in &receipt.lines {
            assert_eq!(line.inventory_trace_id, id, "{}", line.sku);
        }

        // Without an explicit header, the HTTP client layer sends the caller's current trace.
        let ambient = TraceContext::new_root();
        let answer = ambient.scope(post(&client, &stack, &basket(&[("tea", 1)]), None)).await;
        let id = ambient.trace_id.to_string();
        assert_eq!(header(&answer, X_TRACE_ID), id);
        assert_eq!(answer.envelope.data.unwrap().lines[0].inventory_trace_id, id);
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_traceparent_starts_one_new_trace_across_all_hops() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"; // uppercase
        let answer = post(&client, &stack, &basket(&[("tea", 1)]), Some(bad)).await;
        assert_eq!(answer.status, 200);
        let id = header(&answer, X_TRACE_ID).to_owned();
        assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736", "a rejected value is never trusted");
        id.parse::<TraceId>().unwrap();
        let receipt = answer.envelope.data.unwrap();
        assert_eq!(receipt.checkout_trace_id, id);
        assert_eq!(receipt.lines[0].inventory_trace_id, id);
        stack.shutdown().await;
    })
    .await;
}

/// The message a client sees for a `code-<NAME>` SKU.
fn client_message(code: Code) -> String {
    let internal = matches!(
        code.category(),
        result_runtime::Category::Internal
            | result_runtime::Category::Panic
            | result_runtime::Category::Storage
            | result_runtime::Category::Unimplemented
    );
    if internal {
        code.safe_message().to_owned()
    } else {
        format!("forced {}", code.name())
    }
}

fn expected_kind(code: Code) -> result_runtime::ErrorKind {
    result_runtime::ErrorKind::of(code.category())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_code_crosses_grpc_through_the_table() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let mut inventory = inventory(&stack);
        for code in Code::ALL {
            let sku = format!("code-{}", code.name());
            let trace = TraceContext::new_root();
            let status = trace.scope(inventory.reserve(reserve(&sku, 1, None))).await.unwrap_err();
            assert_eq!(status.code(), grpc_code(code), "{code}");
            assert_eq!(status.message(), client_message(code), "{code}");
            let id = status.metadata().get(X_TRACE_ID).expect("x-trace-id on failure");
            assert_eq!(id.to_str().unwrap(), trace.trace_id.to_string(), "{code}");
            assert!(status.metadata().get(TRACEPARENT).is_none(), "x-trace-id alone: {code}");

            // The code survives the hop in the status details (a panic is INTERNAL to clients).
            let back = status.into_task_error();
            let expected = Code::from_name(code.wire_name()).unwrap();
            assert_eq!(back.code(), expected, "{code}");
            assert_eq!(back.kind(), expected_kind(expected), "{code}");
            assert_eq!(back.trace_id(), Some(trace.trace_id));
            assert_eq!(back.is_retryable(), back.code().retryable());
        }
        // Success carries the headers too (in the initial metadata).
        let trace = TraceContext::new_root();
        let ok = trace.scope(inventory.reserve(reserve("tea", 1, None))).await.unwrap();
        let id = ok.metadata().get(X_TRACE_ID).unwrap().to_str().unwrap();
        assert_eq!(id, trace.trace_id.to_string());
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_code_crosses_http_through_the_table() {
    bounded(async {
        let stack = stack_without_breaking().await;
        let client = http_client();
        for code in Code::ALL {
            let sku = format!("code-{}", code.name());
            let answer = post(&client, &stack, &basket(&[(&sku, 1)]), None).await;
            // Two gRPC hops and one HTTP hop: the code survives every one (a panic is INTERNAL
            // to clients).
            let seen = Code::from_name(code.wire_name()).unwrap();
            assert_eq!(answer.status, seen.http_status(), "{code}");
            assert_eq!(answer.envelope.code, seen.name(), "{code}");
            assert_eq!(answer.envelope.data, None);
            assert_eq!(answer.envelope.message, client_message(code), "{code} via {seen}");
            let id = header(&answer, X_TRACE_ID).to_owned();
            assert_eq!(answer.envelope.trace_id.as_deref(), Some(id.as_str()), "{code}");
        }

        // The gateway's own failures answer with the envelope too.
        let empty = post(&client, &stack, &basket(&[]), None).await;
        assert_eq!((empty.status, empty.envelope.code.as_str()), (400, "INVALID_ARGUMENT"));
        assert_eq!(empty.envelope.message, "the basket is empty");
        let url = format!("{}/checkout", stack.gateway.url());
        let garbage: Answer<Receipt> =
            post_json(&client, &url, &serde_json::json!({"items": "nope"}), None).await.unwrap();
        assert_eq!((garbage.status, garbage.envelope.code.as_str()), (400, "INVALID_ARGUMENT"));
        let oos = post(&client, &stack, &basket(&[("oos-kettle", 1)]), None).await;
        assert_eq!((oos.status, oos.envelope.code.as_str()), (422, "FAILED_PRECONDITION"));
        assert_eq!(oos.envelope.message, "out of stock: oos-kettle");
        stack.shutdown().await;
    })
    .await;
}

/// A unary gRPC call by hand (5-byte frame header + protobuf), with `grpc-timeout` set and
/// no client-side timer; returns the response headers of the trailers-only answer.
async fn raw_unary(
    client: &HttpClient,
    url: &str,
    message: &impl prost::Message,
    timeout: &str,
    trace: &TraceContext,
) -> http::HeaderMap {
    use tower::ServiceExt;
    let frame = grpc_frame(message);
    let request = http::Request::post(url)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .header(TRACEPARENT, trace.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    grpc_answer(client.clone().oneshot(request).await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_timeout_becomes_the_handlers_deadline() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let mut inventory = inventory(&stack);

        let sent = Duration::from_secs(30);
        let reply = inventory.reserve(reserve("tea", 1, Some(sent))).await.unwrap().into_inner();
        assert!(reply.deadline_ms > 0, "the handler saw a deadline");
        assert!(u128::from(reply.deadline_ms) <= sent.as_millis(), "{}", reply.deadline_ms);

        // No grpc-timeout: the server's maximum deadline, never none.
        let reply = inventory.reserve(reserve("tea", 1, None)).await.unwrap().into_inner();
        let max = result_runtime::middleware::grpc::DEFAULT_MAX_DEADLINE.as_millis();
        assert!(reply.deadline_ms > 0, "no grpc-timeout still has a deadline");
        assert!(u128::from(reply.deadline_ms) <= max, "{}", reply.deadline_ms);

        // tonic's client enforces grpc-timeout itself and would race the server: send the
        // header from a plain HTTP/2 client to see the server's own answer.
        let client = http_client();
        let trace = TraceContext::new_root();
        let url = format!("{}/inventory.Inventory/Reserve", stack.inventory.url());
        let slow = ReserveRequest { sku: "slow".into(), qty: 1 };
        let raw = raw_unary(&client, &url, &slow, "50m", &trace).await;
        assert_eq!(raw.get("grpc-status").unwrap(), "4", "DEADLINE_EXCEEDED: {raw:?}");
        assert_eq!(raw.get("grpc-message").unwrap(), "deadline%20exceeded"); // percent-encoded
        assert_eq!(raw.get(X_TRACE_ID).unwrap().to_str().unwrap(), trace.trace_id.to_string());

        // Through checkout: its deadline ends its own call to inventory.
        let url = format!("{}/checkout.Checkout/Checkout", stack.checkout.url());
        let basket = CheckoutRequest { items: vec![Item { sku: "slow".into(), qty: 1 }] };
        let raw = raw_unary(&client, &url, &basket, "50m", &trace).await;
        assert_eq!(raw.get("grpc-status").unwrap(), "4", "DEADLINE_EXCEEDED: {raw:?}");

        // tonic's client-side expiry reads as a deadline too, once converted.
        let mut checkout = CheckoutClient::new(channel(&stack.checkout.url()).unwrap());
        let mut request = tonic::Request::new(basket);
        request.set_timeout(Duration::from_millis(50));
        let error = checkout.checkout(request).await.unwrap_err().into_task_error();
        assert_eq!(error.code(), Code::DEADLINE_EXCEEDED, "{error:#}");
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_deadline_ends_every_hop() {
    bounded(async {
        let stack = Stack::start(Duration::from_millis(100)).await.unwrap();
        let client = http_client();
        let answer = post(&client, &stack, &basket(&[("slow", 1)]), None).await;
        assert_eq!(answer.status, 504, "{:?}", answer.envelope);
        assert_eq!(answer.envelope.code, "DEADLINE_EXCEEDED");
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_line_fails_the_checkout_at_once() {
    bounded(async {
        // `slow` would take 30 s; `unpriced-x` fails at once and the slow call is dropped.
        // Waiting for it instead would hit the gateway's 10 s deadline: 504, not 404.
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let answer = post(&client, &stack, &basket(&[("slow", 1), ("unpriced-x", 1)]), None).await;
        assert_eq!(answer.status, 404, "{:?}", answer.envelope);
        assert_eq!(answer.envelope.message, "no price for unpriced-x");
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_recovered_and_no_secret_leaks() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let mut inventory = inventory(&stack);
        let trace = TraceContext::new_root();
        let status = trace.scope(inventory.reserve(reserve("panic", 1, None))).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert!(!format!("{status:?}").contains("hunter2"), "{status:?}");
        let id = status.metadata().get(X_TRACE_ID).unwrap().to_str().unwrap();
        assert_eq!(id, trace.trace_id.to_string());

        let client = http_client();
        let url = format!("{}/checkout", stack.gateway.url());
        let raw: Answer<serde_json::Value> =
            post_json(&client, &url, &basket(&[("panic", 1)]), None).await.unwrap();
        assert_eq!(raw.status, 500);
        assert_eq!(raw.envelope.code, "INTERNAL");
        assert_eq!(raw.envelope.message, "internal error");
        let everything = format!("{:?} {:?}", raw.headers, raw.envelope);
        assert!(!everything.contains(SECRET) && !everything.contains("hunter2"), "{everything}");
        assert!(raw.envelope.trace_id.is_some());

        // The servers are still up and answer the next request.
        let ok = post(&client, &stack, &basket(&[("tea", 1)]), None).await;
        assert_eq!(ok.status, 200);
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_through_the_gateway_each_get_their_own_answer() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let url = format!("{}/checkout", stack.gateway.url());
        let n = 1_000_u32;
        let requests = (0..n).map(|i| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let trace = TraceContext::new_root();
                let sku = format!("sku-{i}");
                let qty = i % 7 + 1;
                let answer: Answer<Receipt> =
                    post_json(&client, &url, &basket(&[(&sku, qty)]), Some(&trace.to_string()))
                        .await
                        .unwrap();
                (i, trace, sku, qty, answer)
            })
        });
        let answers = futures::future::join_all(requests).await;
        assert_eq!(answers.len(), n as usize);
        let mut seen = std::collections::HashSet::new();
        for joined in answers {
            let (i, trace, sku, qty, answer) = joined.expect("no request task panicked");
            assert!(seen.insert(i));
            assert_eq!(answer.status, 200, "{i}: {:?}", answer.envelope);
            let id = trace.trace_id.to_string();
            assert_eq!(header(&answer, X_TRACE_ID), id, "{i}");
            let receipt = answer.envelope.data.unwrap();
            assert_eq!(receipt.checkout_trace_id, id, "{i}");
            assert_eq!(receipt.lines.len(), 1);
            let line = &receipt.lines[0];
            assert_eq!((line.sku.as_str(), line.qty), (sku.as_str(), qty), "{i}");
            assert_eq!(line.inventory_trace_id, id, "{i}");
            assert_eq!(receipt.total_cents, line.unit_cents * u64::from(qty));
        }
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_request_is_priced_from_the_cache() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let items = basket(&[("tea", 2), ("cups", 3)]);
        let first = post(&client, &stack, &items, None).await;
        assert_eq!(first.status, 200, "{:?}", first.envelope);
        let after_first = stack.pricing.stats();
        assert_eq!((after_first.loads, after_first.misses, after_first.hits), (2, 2, 0));

        let second = post(&client, &stack, &items, None).await;
        assert_eq!(second.status, 200, "{:?}", second.envelope);
        let stats = stack.pricing.stats();
        assert_eq!(stats.loads, 2, "each SKU priced once for both requests: {stats:?}");
        assert_eq!(stats.hits, 2, "{stats:?}");
        let (first, second) = (first.envelope.data.unwrap(), second.envelope.data.unwrap());
        assert_eq!(first.total_cents, second.total_cents);
        for (a, b) in first.lines.iter().zip(&second.lines) {
            assert_eq!((a.sku.as_str(), a.unit_cents), (b.sku.as_str(), b.unit_cents));
            let loaded = result_runtime_examples::price_cents(&a.sku).await.unwrap();
            assert_eq!(a.unit_cents, loaded, "the cached price is the loaded one");
        }
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpriced_sku_is_negatively_cached_and_each_answer_keeps_its_trace_id() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();
        let items = basket(&[("unpriced-gift-card", 1)]);
        let mut messages = Vec::new();
        for _ in 0..2 {
            let sent = TraceContext::new_root();
            let answer = post(&client, &stack, &items, Some(&sent.to_string())).await;
            assert_eq!(answer.status, 404, "{:?}", answer.envelope);
            assert_eq!(answer.envelope.code, "NOT_FOUND");
            let id = sent.trace_id.to_string();
            // The cached error was loaded under the first request's trace: the second
            // answer must still carry its own.
            assert_eq!(answer.envelope.trace_id.as_deref(), Some(id.as_str()));
            assert_eq!(header(&answer, X_TRACE_ID), id);
            messages.push(answer.envelope.message);
        }
        assert_eq!(messages, ["no price for unpriced-gift-card"; 2]);
        let stats = stack.pricing.stats();
        assert_eq!((stats.loads, stats.load_errors), (1, 1), "one load for two asks: {stats:?}");
        assert_eq!(stats.negative_hits, 1, "{stats:?}");
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_sku_is_retried_and_succeeds_with_one_trace_id_on_every_hop() {
    bounded(async {
        let stack = Stack::start(GATEWAY_TIMEOUT).await.unwrap();
        let client = http_client();

        // Inventory on its own, without checkout's retry: UNAVAILABLE once, then fine.
        let mut inventory = inventory(&stack);
        let status = inventory.reserve(reserve("flaky-direct", 1, None)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.into_task_error().is_retryable());
        inventory.reserve(reserve("flaky-direct", 1, None)).await.unwrap();

        let sent = TraceContext::new_root();
        let items = basket(&[("flaky-teapot", 1), ("tea", 2)]);
        let answer = post(&client, &stack, &items, Some(&sent.to_string())).await;
        assert_eq!(answer.status, 200, "{:?}", answer.envelope);
        let id = sent.trace_id.to_string();
        assert_eq!(header(&answer, X_TRACE_ID), id);
        let receipt = answer.envelope.data.unwrap();
        assert_eq!(receipt.checkout_trace_id, id);
        let attempts: Vec<_> =
            receipt.lines.iter().map(|l| (l.sku.as_str(), l.inventory_attempts)).collect();
        assert_eq!(attempts, [("flaky-teapot", 2), ("tea", 1)], "only the flaky line retried");
        assert_eq!(stack.inventory_service.calls("flaky-teapot"), 2);
        for line in &receipt.lines {
            assert_eq!(line.inventory_trace_id, id, "{}", line.sku);
        }

        // Inventory has seen the SKU now: no failure, no retry.
        let again = post(&client, &stack, &basket(&[("flaky-teapot", 1)]), None).await;
        assert_eq!(again.envelope.data.unwrap().lines[0].inventory_attempts, 1);

        stack.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_negatively_cached_price_answers_under_the_askers_trace_id() {
    let pricing = result_runtime_examples::Pricing::new();
    for _ in 0..2 {
        let trace = TraceContext::new_root();
        let error = trace.scope(pricing.price("unpriced-x")).await.unwrap_err();
        assert_eq!(error.code(), Code::NOT_FOUND);
        assert_eq!(error.trace_id(), Some(trace.trace_id));
    }
    assert_eq!((pricing.stats().loads, pricing.stats().negative_hits), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_retries_exactly_the_failures_that_are_retryable() {
    bounded(async {
        let stack = stack_without_breaking().await;
        let client = http_client();
        let mut inventory = inventory(&stack);
        let (mut retried, mut not_retried) = (0, 0);
        for code in Code::ALL {
            let sku = format!("code-{}", code.name());
            // What checkout sees from inventory: the same conversion, one call.
            let status = inventory.reserve(reserve(&sku, 1, None)).await.unwrap_err();
            let error = status.into_task_error();
            // A CIRCUIT_OPEN that does not say when to come back is never retried (RetryPolicy:
            // nothing says when that breaker will admit calls again).
            let retryable = error.is_retryable()
                && !(error.code() == Code::CIRCUIT_OPEN && error.retry_after().is_none());
            assert_eq!(stack.inventory_service.calls(&sku), 1);

            let answer = post(&client, &stack, &basket(&[(&sku, 1)]), None).await;
            assert_ne!(answer.status, 200);
            let through_checkout = stack.inventory_service.calls(&sku) - 1;
            if retryable {
                assert_eq!(through_checkout, 3, "{code}: one call and two retries");
                retried += 1;
            } else {
                assert_eq!(through_checkout, 1, "{code}: not retryable, not retried");
                not_retried += 1;
            }
        }
        assert!(retried > 0 && not_retried > 0, "{retried} retried, {not_retried} not");

        let oos = post(&client, &stack, &basket(&[("oos-kettle", 1)]), None).await;
        assert_eq!(oos.envelope.code, "FAILED_PRECONDITION");
        assert_eq!(stack.inventory_service.calls("oos-kettle"), 1);
        stack.shutdown().await;
    })
    .await;
}
