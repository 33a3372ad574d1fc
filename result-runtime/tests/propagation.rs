//! `tracestate` and `baggage` travel with the trace context everywhere the runtime carries
//! it: spawns, group tasks, channels, cache loads, retries, and across a client-layer →
//! server-layer hop.

use std::time::Duration;

use result_runtime::cache::ResultCache;
use result_runtime::channel::ResultChannel;
use result_runtime::group::Group;
use result_runtime::retry::RetryPolicy;
use result_runtime::trace::{Baggage, TraceContext, TraceState};
use result_runtime::{Code, TaskError};

fn carrying() -> TraceContext {
    TraceContext::new_root()
        .with_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".parse::<TraceState>().unwrap())
        .with_baggage(Baggage::from_header("tenant=acme,user=J%C3%B6rg"))
}

/// What a piece of work sees of the carried data.
fn seen() -> (String, String) {
    let tc = TraceContext::current().expect("a current trace");
    (tc.tracestate().to_string(), tc.baggage().to_string())
}

fn expected(tc: &TraceContext) -> (String, String) {
    (tc.tracestate().to_string(), tc.baggage().to_string())
}

#[tokio::test]
async fn spawns_and_group_tasks_carry_them() {
    let tc = carrying();
    let spawned = tc.scope(async { result_runtime::spawn(async { seen() }).await.unwrap() }).await;
    assert_eq!(spawned, expected(&tc));
    let from_group = tc
        .scope(async {
            let g = Group::new();
            g.spawn(async { Ok(seen()) });
            g.join().await.unwrap()
        })
        .await;
    assert_eq!(from_group, vec![expected(&tc)]);
    // A child span keeps them; `Baggage::current` reads them.
    let child = tc.child();
    assert_eq!(child.tracestate(), tc.tracestate());
    assert_eq!(child.scope(async { Baggage::current() }).await.get("user"), Some("Jörg"));
}

#[tokio::test]
async fn channels_carry_them_per_item() {
    let tc = carrying();
    let (tx, rx) = ResultChannel::<u8>::bounded(4);
    tc.scope(tx.send(Ok(1))).await.unwrap();
    let item = rx.recv_traced().await.unwrap();
    assert_eq!(item.scope(async { seen() }).await, expected(&tc));
}

#[tokio::test]
async fn cache_loads_and_retries_carry_them() {
    let tc = carrying();
    let cache = ResultCache::<u8, (String, String)>::builder()
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let loaded = tc.scope(cache.get_or_load(1, || async { Ok(seen()) })).await.unwrap();
    assert_eq!(loaded, expected(&tc));

    let attempts = std::sync::Mutex::new(Vec::new());
    let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(1));
    let out = tc
        .scope(policy.run(|| {
            attempts.lock().unwrap().push(seen());
            async {
                if attempts.lock().unwrap().len() < 3 {
                    Err(TaskError::new(Code::UNAVAILABLE, "flaky"))
                } else {
                    Ok(())
                }
            }
        }))
        .await;
    out.unwrap();
    assert_eq!(*attempts.lock().unwrap(), vec![expected(&tc); 3]);
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn a_client_layer_hop_carries_them_to_the_server() {
    use result_runtime::middleware::{trace_from_headers, ClientLayer, BAGGAGE, TRACESTATE};
    use tower::{service_fn, Layer, ServiceExt};

    // The "server": reads the request as a server layer would.
    let server = service_fn(|req: http::Request<()>| async move {
        let tc = trace_from_headers(req.headers());
        let raw = (
            req.headers().get(TRACESTATE).map(|v| v.to_str().unwrap().to_owned()),
            req.headers().get(BAGGAGE).map(|v| v.to_str().unwrap().to_owned()),
        );
        Ok::<_, std::convert::Infallible>(http::Response::new((tc, raw)))
    });
    let client = ClientLayer::new().layer(server);
    let tc = carrying();
    let response = tc.scope(client.clone().oneshot(http::Request::new(()))).await.unwrap();
    let (server_tc, (tracestate, baggage)) = response.into_body().into_inner();
    assert_eq!(tracestate.as_deref(), Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    assert_eq!(baggage.as_deref(), Some("tenant=acme,user=J%C3%B6rg"));
    assert_eq!(server_tc.trace_id, tc.trace_id);
    assert_eq!(server_tc.tracestate(), tc.tracestate());
    assert_eq!(server_tc.baggage().get("user"), Some("Jörg"));

    // Without tracestate or baggage, nothing extra is sent.
    let plain = TraceContext::new_root();
    let response = plain.scope(client.oneshot(http::Request::new(()))).await.unwrap();
    let (_, (tracestate, baggage)) = response.into_body().into_inner();
    assert_eq!((tracestate, baggage), (None, None));
}

#[cfg(feature = "tower")]
#[test]
fn the_server_drops_tracestate_with_an_invalid_traceparent_and_bad_tracestate_whole() {
    use result_runtime::middleware::trace_from_headers;
    let mut h = http::HeaderMap::new();
    h.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
    );
    h.insert("tracestate", "rojo=1".parse().unwrap());
    h.insert("baggage", "ok=1,bad key=2".parse().unwrap());
    let tc = trace_from_headers(&h);
    assert_eq!(tc.tracestate().get("rojo"), Some("1"));
    assert_eq!(tc.baggage().len(), 1, "the malformed member is dropped, not the header");

    // A restarted trace drops the tracestate, keeps the baggage.
    h.insert("traceparent", "garbage".parse().unwrap());
    let tc = trace_from_headers(&h);
    assert!(tc.tracestate().is_empty());
    assert_eq!(tc.baggage().get("ok"), Some("1"));

    // An invalid tracestate is dropped whole, never half-accepted.
    h.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
    );
    h.insert("tracestate", "rojo=1,Bad=2".parse().unwrap());
    assert!(trace_from_headers(&h).tracestate().is_empty());
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn an_oversized_tracestate_is_truncated_by_whole_entries_when_sent() {
    use result_runtime::middleware::{ClientLayer, TRACESTATE};
    use tower::{service_fn, Layer, ServiceExt};
    let long = format!("long={}", "x".repeat(200));
    let mut members = vec![long];
    members.extend((0..10).map(|i| format!("k{i}={}", "y".repeat(40))));
    let ts: TraceState = members.join(",").parse().unwrap();
    let tc = TraceContext::new_root().with_tracestate(ts);
    let echo = service_fn(|req: http::Request<()>| async move {
        Ok::<_, std::convert::Infallible>(http::Response::new(
            req.headers()[TRACESTATE].to_str().unwrap().to_owned(),
        ))
    });
    let sent = tc.scope(ClientLayer::new().layer(echo).oneshot(http::Request::new(()))).await;
    let sent = sent.unwrap().into_body().into_inner();
    assert!(sent.len() <= TraceState::MAX_HEADER_BYTES, "{}", sent.len());
    assert!(!sent.contains("long="), "the long entry went first");
    assert!(sent.parse::<TraceState>().is_ok(), "only whole entries");
}
