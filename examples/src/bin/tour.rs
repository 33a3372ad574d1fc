//! `cargo run`: a tour of what result-runtime does, with readable output.
//!
//! The first part shows the core (errors, trace context, deadlines, cancellation, panics);
//! the second starts inventory, checkout and the gateway in this process on loopback
//! ephemeral ports and drives requests through real clients: one trace across every hop,
//! failures, fail-fast cancellation, a captured panic, a deadline, checkout's price cache
//! (a hit and a negative hit), a retried retryable error, inventory going down (checkout's
//! circuit breaker opens: fast 503s that never reach the dead address, and closes again once
//! inventory is back) and, when `redis-server` is on PATH, two checkout replicas sharing a
//! price cache on two Redis nodes. Server logs at ERROR go to stderr (`RUST_LOG` to see
//! more): that is where a panic's message ends up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use result_runtime::breaker::{CircuitBreaker, RetryBudget, State};
use result_runtime::context::Context;
use result_runtime::middleware::ClientLayer;
use result_runtime::trace::TraceContext;
use result_runtime::{Code, Result, ResultExt, TaskError};
use result_runtime_examples::{
    http_client, post_json, serve_inventory, spawn_gateway, Answer, Basket, BasketItem, HttpClient,
    InventoryGuard, Receipt, Stack, TracedChannel, SECRET,
};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .without_time()
        .init();

    if let Ok(handle) = result_runtime_examples::observe::install_prometheus() {
        let _ = METRICS.set(handle);
    }

    println!("result-runtime tour\n");

    let trace = TraceContext::new_root();
    println!("trace context   {trace}");
    let bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
    match bad.parse::<TraceContext>() {
        Ok(_) => println!("unexpected: uppercase traceparent accepted"),
        Err(e) => println!("strict W3C      rejected {bad:.20}...: {e}"),
    }

    let io = std::fs::read("/nonexistent/config.toml").context("loading config");
    if let Err(e) = io {
        println!("error           {e}");
        println!("  details       {e:#}");
        println!(
            "  to a client   {} / http {} / grpc {:?}",
            e.client_message(),
            e.code().http_status(),
            e.code().grpc()
        );
    }

    let ctx = Context::new().with_timeout(Duration::from_millis(50));
    let slow = ctx.run(async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, TaskError>(())
    });
    if let Err(e) = trace.scope(slow).await {
        println!("deadline        {e}");
    }

    let parent = Context::new();
    let child = parent.child();
    parent.cancel(TaskError::new(Code::UNAVAILABLE, "inventory down"));
    if let Err(e) = child.run(async { Ok::<_, TaskError>(()) }).await {
        println!("cancellation    {e:#}");
    }

    let panicked =
        result_runtime::panic::catch_unwind(async { panic!("secret token abc123") }).await;
    if let Err(e) = panicked {
        println!("captured panic  {e} (client sees: {:?})", e.client_message());
    }

    println!("\nservices (in this process, on loopback)\n");
    let ok = services().await;
    println!("\n{}", if ok { "done" } else { "done, with unexpected answers (see above)" });
    if !ok {
        std::process::exit(1);
    }
}

/// What crosses the wire keeps its class and its trace: inventory's own STORAGE_FULL code
/// (with a retry delay) reaches the HTTP client by name after two gRPC hops, and a
/// `tracestate` and `baggage` sent to the gateway reach inventory's handler.
async fn wire_scene(client: &HttpClient, gateway: &str) -> bool {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let t = Instant::now();
    let a = post(client, gateway, &[("full-archive", 1)]).await;
    let ok_code = failure("custom code", &a, 503, "STORAGE_FULL", t.elapsed());
    let retry_after = a.headers.get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or("-");
    println!(
        "  raised in inventory, 2 gRPC hops + 1 HTTP hop: same name, Retry-After {retry_after} s"
    );

    let sent = TraceContext::new_root();
    let body = serde_json::to_vec(&basket(&[("tea", 1)])).expect("a basket serialises");
    let request = http::Request::post(format!("{gateway}/checkout"))
        .header("content-type", "application/json")
        .header("traceparent", sent.to_string())
        .header("tracestate", "tour=t1,rojo=00f067aa0ba902b7")
        .header("baggage", "tenant=acme")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("a valid request");
    let Ok(response) = client.clone().oneshot(request).await else {
        println!("tracestate      unexpected: the gateway did not answer");
        return false;
    };
    let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let line = &json["data"]["lines"][0];
    println!(
        "tracestate      sent \"tour=t1,rojo=00f067aa0ba902b7\" -> inventory saw {}, baggage {}",
        line["inventory_tracestate"], line["inventory_baggage"]
    );
    ok_code
        && retry_after == "1"
        && line["inventory_tracestate"] == "tour=t1,rojo=00f067aa0ba902b7"
        && line["inventory_baggage"] == "tenant=acme"
}

fn basket(items: &[(&str, u32)]) -> Basket {
    Basket {
        items: items.iter().map(|&(sku, qty)| BasketItem { sku: sku.to_owned(), qty }).collect(),
    }
}

async fn post(client: &HttpClient, gateway: &str, items: &[(&str, u32)]) -> Answer<Receipt> {
    post_json(client, &format!("{gateway}/checkout"), &basket(items), None)
        .await
        .expect("the gateway answers")
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// One failure line: status, code, message, trace id, and whether it is what we expected.
fn failure(label: &str, a: &Answer<Receipt>, status: u16, code: &str, elapsed: Duration) -> bool {
    let e = &a.envelope;
    let trace = e.trace_id.as_deref().unwrap_or("-");
    println!(
        "{label:<15} -> {} {} {:?} trace {}.. in {} ms",
        a.status,
        e.code,
        e.message,
        short(trace),
        elapsed.as_millis()
    );
    let expected = a.status == status && e.code == code;
    if !expected {
        println!("  unexpected: wanted {status} {code}");
    }
    expected
}

async fn services() -> bool {
    let stack = Stack::start(Duration::from_secs(5)).await.expect("the services start");
    let gateway = stack.gateway.url();
    println!(
        "started         inventory {}  checkout {}  gateway {}",
        stack.inventory.addr, stack.checkout.addr, stack.gateway.addr
    );
    let client = http_client();
    let mut ok = true;

    // Success, with one trace across every hop.
    let sent = TraceContext::new_root();
    let answer = post_json::<Receipt>(
        &client,
        &format!("{gateway}/checkout"),
        &basket(&[("tea", 2), ("cups", 3)]),
        Some(&sent.to_string()),
    )
    .await
    .expect("the gateway answers");
    let header = |name: &str| {
        answer.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned()
    };
    match &answer.envelope.data {
        Some(receipt) => {
            println!(
                "success         [tea x2, cups x3] -> {} {} total {} cents in {:.1} ms",
                answer.status,
                answer.envelope.code,
                receipt.total_cents,
                answer.envelope.duration_ms
            );
            let sent_id = sent.trace_id.to_string();
            let mut hops = vec![
                ("sent", sent_id.clone()),
                ("gateway", header("x-trace-id")),
                ("checkout", receipt.checkout_trace_id.clone()),
            ];
            for line in &receipt.lines {
                hops.push(("inventory", line.inventory_trace_id.clone()));
            }
            for (hop, id) in &hops {
                println!("  trace id      {hop:<10} {id}");
            }
            let same = hops.iter().all(|(_, id)| *id == sent_id);
            println!("  same trace id on every hop: {}", if same { "yes" } else { "NO" });
            println!("  traceparent   gateway answered {}", header("traceparent"));
            ok &= same;
        }
        None => {
            println!("success         unexpected answer {:?}", answer.envelope);
            ok = false;
        }
    }

    // The same basket again: checkout prices it from its cache.
    let before = stack.pricing.stats();
    let a = post(&client, &gateway, &[("tea", 2), ("cups", 3)]).await;
    let after = stack.pricing.stats();
    let same_total = a.envelope.data.as_ref().map(|r| r.total_cents)
        == answer.envelope.data.as_ref().map(|r| r.total_cents);
    println!(
        "cache hit       [tea x2, cups x3] again -> {} {}, same total: {}",
        a.status,
        a.envelope.code,
        if same_total { "yes" } else { "NO" }
    );
    println!(
        "  pricing cache loads {} -> {}, hits {} -> {}: priced from the cache",
        before.loads, after.loads, before.hits, after.hits
    );
    ok &= a.status == 200
        && same_total
        && after.loads == before.loads
        && after.hits == before.hits + 2;

    // A business failure: a code, a safe message, the status from the table.
    let t = Instant::now();
    let a = post(&client, &gateway, &[("oos-kettle", 1)]).await;
    ok &= failure("failure", &a, 422, "FAILED_PRECONDITION", t.elapsed());

    // Fail-fast: the first failing line cancels the other, whose 30 s inventory call is
    // dropped. The tour holds the failing line's price load (the cache's single flight: the
    // line joins the load the tour started) until it has printed the live task tree, so the
    // tree shows both lines of checkout's fail-fast group in flight, on every run.
    let (started, load_started) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let held = {
        let pricing = stack.pricing.clone();
        tokio::spawn(async move {
            let hold = async move {
                let _ = started.send(());
                let _ = released.await;
            };
            pricing.price_after("unpriced-x", hold).await
        })
    };
    let held_load = load_started.await.is_ok();
    let t = Instant::now();
    let (a, tree) =
        tokio::join!(post(&client, &gateway, &[("slow", 1), ("unpriced-x", 1)]), async {
            let tree = if held_load { live_tree(2).await } else { None };
            // Only now may the line fail: NOT_FOUND, once the tree is taken.
            let _ = release.send(());
            tree
        });
    ok &= failure("fail-fast", &a, 404, "NOT_FOUND", t.elapsed());
    let held = held.await.ok().map(|r| r.map_err(|e| e.code()));
    ok &= held_load && held == Some(Err(Code::NOT_FOUND));
    match tree {
        Some(tree) => {
            println!(
                "  live tasks while it was in flight (group::dump(), served at /debug/tasks):"
            );
            for line in tree.lines() {
                println!("    {line}");
            }
        }
        None => {
            println!("  live tasks: checkout's two lines never showed in group::dump()");
            ok = false;
        }
    }
    println!("  the other line's 30 s inventory call was cancelled, not waited for");

    // A panic three hops down: INTERNAL with a safe message; the secret stays in the log.
    let t = Instant::now();
    let a = post(&client, &gateway, &[("panic", 1)]).await;
    ok &= failure("captured panic", &a, 500, "INTERNAL", t.elapsed());
    let leaked = format!("{:?} {:?}", a.headers, a.envelope).contains(SECRET);
    println!("  secret in the answer: {}", if leaked { "YES" } else { "no" });
    ok &= !leaked;

    // A deadline set at the edge ends every hop (it travels as grpc-timeout).
    let edge = Duration::from_millis(300);
    let short_gateway = spawn_gateway(([127, 0, 0, 1], 0).into(), &stack.checkout.url(), edge)
        .await
        .expect("the gateway starts");
    let t = Instant::now();
    let short_url = short_gateway.url();
    let a = post(&client, &short_url, &[("slow", 1), ("tea", 1)]).await;
    ok &= failure("deadline", &a, 504, "DEADLINE_EXCEEDED", t.elapsed());
    println!(
        "  gateway deadline {} ms -> checkout -> inventory, each ended on time",
        edge.as_millis()
    );

    // No price: NOT_FOUND is not retryable, so the cache keeps the error (negative caching).
    let before = stack.pricing.stats();
    let mut codes = Vec::new();
    for _ in 0..2 {
        let a = post(&client, &gateway, &[("unpriced-gift-card", 1)]).await;
        ok &= a.status == 404;
        codes.push(format!("{} {}", a.status, a.envelope.code));
    }
    let after = stack.pricing.stats();
    let (loads, negative_hits) =
        (after.loads - before.loads, after.negative_hits - before.negative_hits);
    println!("negative cache  [unpriced-gift-card] twice -> {}", codes.join(", "));
    println!(
        "  pricing loads {loads}, negative hits {negative_hits}: the second ask loaded nothing"
    );
    ok &= loads == 1 && negative_hits == 1;

    // A retryable error: inventory answers UNAVAILABLE the first time it sees a flaky-* SKU;
    // checkout's retry policy (two retries, within its retry budget) tries again after a
    // backoff.
    let sent = TraceContext::new_root();
    let t = Instant::now();
    let a = post_json::<Receipt>(
        &client,
        &format!("{gateway}/checkout"),
        &basket(&[("flaky-teapot", 1)]),
        Some(&sent.to_string()),
    )
    .await
    .expect("the gateway answers");
    let line = a.envelope.data.as_ref().and_then(|r| r.lines.first());
    let attempts = line.map_or(0, |l| l.inventory_attempts);
    println!(
        "retry           [flaky-teapot] -> {} {} in {} ms, inventory attempts {attempts}",
        a.status,
        a.envelope.code,
        t.elapsed().as_millis()
    );
    let id = sent.trace_id.to_string();
    let same = line.is_some_and(|l| l.inventory_trace_id == id)
        && a.envelope.data.as_ref().is_some_and(|r| r.checkout_trace_id == id);
    let calls = stack.inventory_service.calls("flaky-teapot");
    println!(
        "  inventory: UNAVAILABLE, then OK ({calls} calls); trace {}.. on every hop: {}",
        short(&id),
        if same { "yes" } else { "NO" }
    );
    println!("  succeeded after a retry (checkout's RetryPolicy, within its RetryBudget)");
    ok &= a.status == 200 && attempts == 2 && calls == 2 && same;

    ok &= wire_scene(&client, &gateway).await;

    ok &= redis_scene(&stack.inventory.url()).await;

    ok &= metrics_scene(&stack);

    short_gateway.shutdown().await;
    stack.shutdown().await;
    ok &= breaker_scene(&client).await;
    ok
}

/// A few lines of what `--metrics ADDR` serves at `/metrics`: everything above, counted by
/// method and code in the Prometheus text format.
fn metrics_scene(stack: &Stack) -> bool {
    let Some(handle) = METRICS.get() else {
        println!("metrics         another recorder was installed first; skipped");
        return true;
    };
    stack.pricing.record_metrics();
    let text = handle.render();
    // (metric, a label it must carry): one line of each.
    let wanted = [
        ("grpc_server_handled_total{", "code=\"OK\""),
        ("grpc_server_handled_total{", "code=\"STORAGE_FULL\""),
        ("grpc_client_handled_total{", "code=\"UNAVAILABLE\""),
        ("http_server_requests_total{", "code=\"NOT_FOUND\""),
        ("cache_negative_hits_total{", "cache=\"prices\""),
        ("group_tasks_finished_total{", "group=\"checkout.lines\""),
    ];
    println!("metrics         Prometheus text, as --metrics ADDR serves it at /metrics:");
    let mut shown = 0;
    for (name, label) in wanted {
        if let Some(line) = text.lines().find(|l| l.starts_with(name) && l.contains(label)) {
            println!("  {line}");
            shown += 1;
        }
    }
    shown == wanted.len()
}

/// The recorder the tour installs, so the metrics scene can render what was counted.
static METRICS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// The process's live task tree once checkout's line group is in flight with `lines` lines
/// running, rendered by `group::dump()`. A bounded poll (up to about 2 s): nothing signals
/// that another service's handler has built its group; the tree is a snapshot with nothing
/// to wait on. The caller holds the lines' failure until this returns, so there is no
/// deadline to race.
async fn live_tree(lines: usize) -> Option<String> {
    for _ in 0..2000 {
        let tree = result_runtime::group::dump();
        let in_flight = tree.groups.iter().any(|g| {
            g.name.as_deref() == Some("checkout.lines")
                && g.tasks
                    .iter()
                    .filter(|t| t.state == result_runtime::group::TaskState::Running)
                    .count()
                    == lines
        });
        if in_flight {
            return Some(tree.to_string());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// A channel whose connector counts its connection attempts: how the tour shows that an open
/// breaker never reaches the dead address.
fn counting_channel(url: &str, attempts: Arc<AtomicUsize>) -> Result<TracedChannel> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .with_code(Code::INVALID_ARGUMENT)?;
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

/// Inventory goes down: checkout's breaker opens after a few failures, answers fast 503
/// `CIRCUIT_OPEN`s without a connection attempt, probes after its open wait, and closes once
/// inventory is back.
async fn breaker_scene(client: &HttpClient) -> bool {
    let open_for = Duration::from_millis(400);
    let breaker = CircuitBreaker::builder()
        .name(InventoryGuard::NAME)
        .min_calls(4)
        .open_for(open_for)
        .max_open_for(open_for * 2)
        .half_open_calls(1)
        .jitter(0.0)
        .build()
        .expect("valid settings");
    let budget = RetryBudget::builder().name(InventoryGuard::NAME).build().expect("the defaults");
    let guard = InventoryGuard::new(breaker.clone(), budget);
    let connects = Arc::new(AtomicUsize::new(0));
    let counter = connects.clone();
    let stack =
        Stack::start_guarded(Duration::from_secs(5), guard, |url| counting_channel(url, counter))
            .await
            .expect("the services start");
    let Stack { inventory, checkout, gateway, inventory_service, .. } = stack;
    let gw = gateway.url();
    let mut ok = true;
    println!(
        "\ncircuit breaker (checkout -> inventory: min 4 calls, 50% failures, open {} ms)",
        open_for.as_millis()
    );

    let addr = inventory.addr;
    inventory.shutdown().await;
    let mut tries = Vec::new();
    while breaker.state() != State::Open && tries.len() < 20 {
        let t = Instant::now();
        let a = post(client, &gw, &[("tea", 1)]).await;
        tries.push(format!("{} {} {} ms", a.status, a.envelope.code, t.elapsed().as_millis()));
    }
    println!("inventory down  {} requests: {}", tries.len(), tries.join(", "));
    println!("  breaker {}", breaker.state());
    ok &= breaker.state() == State::Open;

    let before = connects.load(Ordering::SeqCst);
    let t = Instant::now();
    let mut fast = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let a = post(client, &gw, &[("tea", 1)]).await;
        ok &= a.status == 503 && a.envelope.code == "CIRCUIT_OPEN";
        fast.push(format!("{} {} {} us", a.status, a.envelope.code, t.elapsed().as_micros()));
    }
    let reached = connects.load(Ordering::SeqCst) - before;
    println!("while open      {}", fast.join(", "));
    println!(
        "  connection attempts to the dead address: {reached} (5 requests in {} ms)",
        t.elapsed().as_millis()
    );
    ok &= reached == 0 || t.elapsed() >= open_for;

    let inventory = serve_inventory(addr, inventory_service).await.expect("inventory restarts");
    println!("inventory back  on {addr}");
    let t = Instant::now();
    let mut answer = None;
    for _ in 0..300 {
        let a = post(client, &gw, &[("tea", 1)]).await;
        if a.status == 200 {
            answer = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match answer {
        Some(a) => println!(
            "  after {} ms: {} {} (the half-open probe succeeded), breaker {}",
            t.elapsed().as_millis(),
            a.status,
            a.envelope.code,
            breaker.state()
        ),
        None => println!("  unexpected: still failing after {} ms", t.elapsed().as_millis()),
    }
    ok &= breaker.state() == State::Closed;

    gateway.shutdown().await;
    checkout.shutdown().await;
    inventory.shutdown().await;
    ok
}

/// A `redis-server` on a free loopback port, no persistence, killed on drop.
struct LocalRedis {
    child: std::process::Child,
    port: u16,
}

impl LocalRedis {
    fn start(bin: &std::path::Path) -> Option<Self> {
        use std::io::BufRead;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut child = std::process::Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        // Ready when it says so (or not at all if it exits first).
        let mut lines = std::io::BufReader::new(child.stdout.take()?).lines();
        let ready = lines
            .by_ref()
            .map_while(std::result::Result::ok)
            .any(|l| l.contains("Ready to accept"));
        // Keep draining its log, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Redis tier: two `redis-server` nodes and two checkout replicas sharing them (skipped
/// without `redis-server` on PATH).
async fn redis_scene(inventory_url: &str) -> bool {
    use result_runtime::middleware::grpc::StatusExt;
    use result_runtime_examples::pb::checkout::checkout_client::CheckoutClient;
    use result_runtime_examples::pb::checkout::{CheckoutRequest, Item};
    use result_runtime_examples::{channel, spawn_checkout_with, Pricing};

    let bin = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|d| d.join("redis-server")).find(|p| p.is_file())
    });
    let Some(bin) = bin else {
        println!("redis tier      skipped: redis-server not on PATH");
        return true;
    };
    let (Some(n0), Some(n1)) = (LocalRedis::start(&bin), LocalRedis::start(&bin)) else {
        println!("redis tier      unexpected: redis-server did not start");
        return false;
    };
    let mut nodes = [n0, n1];
    let urls: Vec<String> = nodes.iter().map(LocalRedis::url).collect();
    let any = ([127, 0, 0, 1], 0).into();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let pricing = Pricing::tiered(&urls).await.expect("valid Redis URLs");
        let server = spawn_checkout_with(any, inventory_url, pricing.clone())
            .await
            .expect("a checkout replica starts");
        let client = CheckoutClient::new(channel(&server.url()).expect("a valid url"));
        replicas.push((server, pricing, client));
    }
    println!(
        "redis tier      2 redis-server nodes (:{} :{}), 2 checkout replicas sharing them",
        nodes[0].port, nodes[1].port
    );
    let ask = |replica: usize, sku: String| {
        let mut client = replicas[replica].2.clone();
        async move {
            let request = CheckoutRequest { items: vec![Item { sku, qty: 1 }] };
            client.checkout(request).await.map(|r| r.into_inner().total_cents)
        }
    };
    let remote = |replica: usize| replicas[replica].1.remote_stats().unwrap_or_default();
    let mut ok = true;

    // A burst on one cold SKU over both replicas: one load in the fleet.
    let burst = (0..40).map(|i| ask(i % 2, "kettle".to_owned()));
    let answers = futures::future::join_all(burst).await;
    let answered = answers.iter().filter(|a| a.is_ok()).count();
    let (a, b) = (remote(0), remote(1));
    println!(
        "  burst         40 checkouts of [kettle], alternating replicas -> {answered} answered"
    );
    println!(
        "                pricing loads in the fleet {} (replica a {}, b {}), the rest waited or read Redis",
        a.loads + b.loads,
        a.loads,
        b.loads
    );
    ok &= answered == 40 && a.loads + b.loads == 1;

    // A negative entry learned by one replica, served by the other.
    let first = ask(0, "unpriced-voucher".to_owned()).await;
    let before = remote(1);
    let second = ask(1, "unpriced-voucher".to_owned()).await;
    let after = remote(1);
    let code = |r: &std::result::Result<u64, tonic::Status>| match r {
        Ok(_) => "OK".to_owned(),
        Err(s) => s.clone().into_task_error().code().name().to_owned(),
    };
    println!(
        "  negative      [unpriced-voucher] on a -> {}, then on b -> {}: b loaded {}, read it from Redis",
        code(&first),
        code(&second),
        after.loads - before.loads
    );
    ok &= code(&first) == "NOT_FOUND"
        && code(&second) == "NOT_FOUND"
        && after.loads == before.loads
        && after.l2_hits == before.l2_hits + 1;

    // A node killed mid-run: its SKUs are loaded locally meanwhile; every request answered.
    let mut answered = 0;
    for i in 0..24 {
        if i == 8 {
            nodes[0].kill();
        }
        answered += usize::from(ask(i % 2, format!("mug-{i}")).await.is_ok());
    }
    let fallback = remote(0).fallback_loads + remote(1).fallback_loads;
    println!(
        "  node killed   node :{} killed after 8 of 24 checkouts -> {answered}/24 answered ({fallback} priced locally while it was down)",
        nodes[0].port
    );
    ok &= answered == 24;

    for (server, _, _) in replicas {
        server.shutdown().await;
    }
    ok
}
