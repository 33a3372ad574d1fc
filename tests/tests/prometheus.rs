//! The example services' metrics, scraped by a real Prometheus server (Debian's
//! `prometheus`), queried through its HTTP API after traffic with known outcomes.
//!
//! Each service runs on its own thread with a current-thread runtime and its own Prometheus
//! recorder (`metrics::set_default_local_recorder`), so the three admin servers expose three
//! registries, as three processes would. The test skips (prints `skipped: prometheus not
//! found`) without `prometheus` on `PATH`, unless `RESULT_RUNTIME_REQUIRE_PROMETHEUS=1`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use result_runtime_examples::observe::{prometheus_recorder, serve_admin, Collect};
use result_runtime_examples::{
    channel, http_client, post_json, serve_checkout, serve_inventory, spawn_gateway, Basket,
    BasketItem, Checkout, Inventory, Pricing, Receipt, Running,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn prometheus_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("prometheus")).find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Prometheus server on a free port with its own storage; killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "result-runtime-prom-{}-{}",
            std::process::id(),
            fastrand_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_u64() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

impl Prometheus {
    fn start(binary: &PathBuf, targets: &[(&str, SocketAddr)]) -> Self {
        let dir = TempDir::new();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for (job, addr) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n"
            ));
        }
        let file = dir.0.join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        Self { child, addr, _dir: dir }
    }

    /// `GET path` on the Prometheus API, as JSON.
    async fn get(&self, path_and_query: &str) -> Option<Value> {
        let mut tcp = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let req = format!(
            "GET {path_and_query} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        tcp.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        tcp.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        let body = text.split_once("\r\n\r\n")?.1;
        serde_json::from_str(body).ok()
    }

    /// The result vector of an instant query (empty while there is no data).
    async fn query(&self, promql: &str) -> Vec<Value> {
        self.result(promql, &format!("/api/v1/query?query={}", encode(promql))).await
    }

    /// The result vector of an instant query evaluated at `time` (Unix seconds).
    async fn query_at(&self, promql: &str, time: f64) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}&time={time:.3}", encode(promql));
        self.result(promql, &path).await
    }

    async fn result(&self, promql: &str, path: &str) -> Vec<Value> {
        match self.get(path).await {
            Some(v) if v["status"] == "success" => {
                v["data"]["result"].as_array().cloned().unwrap_or_default()
            }
            Some(v) => panic!("query {promql} failed: {v}"),
            None => Vec::new(),
        }
    }

    /// Polls `promql` (every 250 ms, at most `within`) until `done` accepts its result.
    async fn wait_for(
        &self,
        promql: &str,
        within: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let r = self.query(promql).await;
            if done(&r) {
                return r;
            }
            assert!(Instant::now() < deadline, "no acceptable answer to {promql} in time: {r:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

fn by_label<'a>(samples: &'a [Value], label: &str, want: &str) -> Option<&'a Value> {
    samples.iter().find(|s| s["metric"][label] == want)
}

/// One service on its own thread: a current-thread runtime and its own recorder, with an
/// admin server. Dropping it stops the thread's runtime.
struct Isolated {
    service: SocketAddr,
    admin: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Isolated {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Start = Box<
    dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = (Running, Vec<Collect>)>>>
        + Send,
>;

fn isolated(start: Start) -> Isolated {
    let (tx, rx) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let recorder = prometheus_recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let (service, collect) = start().await;
            let admin = serve_admin(([127, 0, 0, 1], 0).into(), handle, collect).await.unwrap();
            tx.send((service.addr, admin.addr)).unwrap();
            let _ = stopped.await;
            drop(admin);
            drop(service);
        });
    });
    let (service, admin) = rx.recv().expect("the service starts");
    Isolated { service, admin, stop: Some(stop), thread: Some(thread) }
}

fn basket(sku: &str) -> Basket {
    Basket { items: vec![BasketItem { sku: sku.to_owned(), qty: 1 }] }
}

/// The services a request passes, each a Prometheus job.
const JOBS: [&str; 3] = ["gateway", "checkout", "inventory"];

/// A job's server-side request counter and the labels that name a method in it.
fn calls_metric(job: &str) -> (&'static str, &'static str) {
    if job == "gateway" {
        ("http_server_requests_total", "method, route")
    } else {
        ("grpc_server_handled_total", "method")
    }
}

/// The method a sample of [`calls_metric`] counts: `POST /checkout`, `Checkout`, `Reserve`.
fn method_of(sample: &Value) -> String {
    let m = &sample["metric"];
    match m["route"].as_str() {
        Some(route) => format!("{} {route}", m["method"].as_str().unwrap()),
        None => m["method"].as_str().unwrap().to_owned(),
    }
}

/// A query's samples by (method, code), for [`calls_metric`] summed by those labels.
fn by_method_and_code(samples: &[Value]) -> BTreeMap<(String, String), f64> {
    samples
        .iter()
        .map(|s| ((method_of(s), s["metric"]["code"].as_str().unwrap().to_owned()), value(s)))
        .collect()
}

/// What `job` answers to one single-line basket of `sku`, by method and code, when that
/// does not depend on timing: a `slow` call ends at the gateway's deadline, which the
/// gateway answers `DEADLINE_EXCEEDED`, but which checkout and inventory may see as
/// `DEADLINE_EXCEEDED` or `CANCELLED`, whichever notices first.
fn answered(job: &str, sku: &str) -> Option<(String, String)> {
    let code = match sku {
        "tea" | "cups" => "OK",
        "slow" if job == "gateway" => "DEADLINE_EXCEEDED",
        "slow" => return None,
        oos if oos.starts_with("oos-") => "FAILED_PRECONDITION",
        other => panic!("no outcome known for {other}"),
    };
    let method = match job {
        "gateway" => "POST /checkout",
        "checkout" => "Checkout",
        _ => "Reserve",
    };
    Some((method.to_owned(), code.to_owned()))
}

/// How many calls `job` answers by method and code for `skus` (the codes [`answered`]
/// knows), every known (method, code) of the test present, at zero when `skus` has none.
fn expected(job: &str, skus: &[String]) -> BTreeMap<(String, String), f64> {
    let all = ["tea", "oos-0", "slow"];
    let mut want: BTreeMap<_, f64> =
        all.iter().filter_map(|sku| answered(job, sku)).map(|k| (k, 0.0)).collect();
    for key in skus.iter().filter_map(|sku| answered(job, sku)) {
        *want.get_mut(&key).unwrap() += 1.0;
    }
    want
}

const OK: usize = 20;
const OUT_OF_STOCK: usize = 5;
const SLOW: usize = 2;
/// The gateway's deadline, so the `slow` requests take this long, and no longer.
const GATEWAY_TIMEOUT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_three_services() {
    let Some(binary) = prometheus_binary() else {
        assert!(
            std::env::var("RESULT_RUNTIME_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "prometheus not found on PATH and RESULT_RUNTIME_REQUIRE_PROMETHEUS=1"
        );
        println!("skipped: prometheus not found");
        return;
    };

    let inventory = isolated(Box::new(|| {
        Box::pin(async {
            let s = serve_inventory(([127, 0, 0, 1], 0).into(), Inventory::new()).await.unwrap();
            (s, Vec::new())
        })
    }));
    let inventory_url = format!("http://{}", inventory.service);
    let checkout = isolated(Box::new(move || {
        Box::pin(async move {
            let pricing = Pricing::new();
            let published = pricing.clone();
            // Checkout guards inventory with its own breaker named `inventory`, built here,
            // so it records into this thread's recorder: the dashboard's breaker panel reads it.
            let service = Checkout::with_pricing(channel(&inventory_url).unwrap(), pricing);
            let s = serve_checkout(([127, 0, 0, 1], 0).into(), service).await.unwrap();
            let collect: Collect = Arc::new(move || published.record_metrics());
            (s, vec![collect])
        })
    }));
    let checkout_url = format!("http://{}", checkout.service);
    let gateway = isolated(Box::new(move || {
        Box::pin(async move {
            let s = spawn_gateway(([127, 0, 0, 1], 0).into(), &checkout_url, GATEWAY_TIMEOUT)
                .await
                .unwrap();
            (s, Vec::new())
        })
    }));

    let prom = Prometheus::start(
        &binary,
        &[("inventory", inventory.admin), ("checkout", checkout.admin), ("gateway", gateway.admin)],
    );

    prom.wait_for("up", Duration::from_secs(30), |r| {
        r.len() == 3 && r.iter().all(|s| value(s) == 1.0)
    })
    .await;

    // Traffic with known outcomes, through the gateway, in two rounds with a scrape between
    // them: a series first scraped at its final value has no rate.
    let client = http_client();
    let url = format!("http://{}/checkout", gateway.service);
    let mut sent = 0;
    let mut statuses = Vec::new();
    let mut sent_skus: Vec<String> = Vec::new();
    let (mut round_sent, mut round_errors) = (Vec::new(), Vec::new());
    // Per job, the time of a scrape holding each round's final values, and what the second
    // round added by method and code.
    let mut scraped: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut second_round: BTreeMap<&str, BTreeMap<(String, String), f64>> = BTreeMap::new();
    for round in 0..2 {
        let mut skus = Vec::new();
        for i in (round..OK).step_by(2) {
            skus.push(if i % 4 < 2 { "tea" } else { "cups" }.to_owned());
        }
        for i in (round..OUT_OF_STOCK).step_by(2) {
            skus.push(format!("oos-{i}"));
        }
        for _ in (round..SLOW).step_by(2) {
            skus.push("slow".to_owned());
        }
        for sku in &skus {
            let a = post_json::<Receipt>(&client, &url, &basket(sku), None).await.unwrap();
            statuses.push((sku.clone(), a.status, a.envelope.code.clone()));
        }
        sent += skus.len();
        sent_skus.extend(skus.iter().cloned());
        let seen = sent as f64;
        prom.wait_for(
            r#"sum(http_server_requests_total{job="gateway"})"#,
            Duration::from_secs(30),
            |r| r.first().is_some_and(|s| value(s) == seen),
        )
        .await;
        let this_round = &statuses[sent - skus.len()..];
        round_errors.push(this_round.iter().filter(|s| s.2 != "OK").count());
        round_sent.push(this_round.len());
        // Every service's counters of this round are scraped at their final values before
        // the next round starts, so each series has a sample before and after the second
        // round's increase (a rate over exactly that round, below). A series first scraped
        // at its final value would have no rate.
        for job in JOBS {
            let (metric, labels) = calls_metric(job);
            let want = expected(job, &sent_skus);
            let slow_sent = sent_skus.iter().filter(|s| *s == "slow").count() as f64;
            let q = format!(r#"sum by ({labels}, code) ({metric}{{job="{job}"}})"#);
            let r = prom
                .wait_for(&q, Duration::from_secs(30), |r| {
                    let got = by_method_and_code(r);
                    want.iter().all(|(k, n)| got.get(k).copied().unwrap_or(0.0) == *n)
                })
                .await;
            // The raw counters by method and code: exactly what was sent, and nothing else
            // but the timing-dependent codes of the `slow` calls.
            let got = by_method_and_code(&r);
            let others: f64 =
                got.iter().filter(|(k, _)| !want.contains_key(*k)).map(|(_, n)| n).sum();
            assert!(
                got.keys().all(|(m, _)| want.keys().any(|(w, _)| w == m)) && others <= slow_sent,
                "{job} round {round}: {got:?}, want {want:?} and at most {slow_sent} others"
            );
            // The time of a scrape holding these final values (each job's targets are
            // scraped at their own times).
            let q = format!(r#"max(timestamp({metric}{{job="{job}"}}))"#);
            scraped.entry(job).or_default().push(value(&prom.query(&q).await[0]));
            if round == 1 {
                second_round.insert(job, expected(job, &skus));
            }
        }
    }
    let total = sent;
    assert_eq!(total, OK + OUT_OF_STOCK + SLOW);
    let oks = statuses.iter().filter(|s| s.2 == "OK").count();
    assert_eq!(oks, OK, "{statuses:?}");

    // The gateway's requests by code: exactly what was sent.
    let q = r#"sum by (code) (http_server_requests_total{job="gateway",route="/checkout"})"#;
    let want_total = total as f64;
    let r = prom
        .wait_for(q, Duration::from_secs(30), |r| r.iter().map(value).sum::<f64>() == want_total)
        .await;
    assert_eq!(value(by_label(&r, "code", "OK").unwrap()), OK as f64, "{r:?}");
    assert_eq!(
        value(by_label(&r, "code", "FAILED_PRECONDITION").unwrap()),
        OUT_OF_STOCK as f64,
        "{r:?}"
    );
    assert_eq!(value(by_label(&r, "code", "DEADLINE_EXCEEDED").unwrap()), SLOW as f64, "{r:?}");

    // Inventory's ReserveStock by code.
    let q = r#"sum by (method, code) (grpc_server_handled_total{job="inventory"})"#;
    let r = prom
        .wait_for(q, Duration::from_secs(30), |r| {
            by_label(r, "code", "OK").is_some_and(|s| value(s) == OK as f64)
                && by_label(r, "code", "FAILED_PRECONDITION").is_some()
        })
        .await;
    assert_eq!(r[0]["metric"]["method"], "Reserve", "{r:?}");
    assert_eq!(value(by_label(&r, "code", "FAILED_PRECONDITION").unwrap()), OUT_OF_STOCK as f64);

    // Per-method request rate by code, against what the second round sent. Evaluated at
    // the job's scrape after the second round, over a window that starts 1 ms before its
    // scrape after the first round, `rate` extrapolates each series by that 1 ms only (its
    // first sample lies 1 ms after the window's start, its last at the end), so rate times
    // the span between the two scrapes is exactly the series' increase over the round.
    for job in JOBS {
        let (metric, labels) = calls_metric(job);
        let at = &scraped[job];
        let window_ms = ((at[1] - at[0]) * 1000.0).round() as u64 + 1;
        let span = (window_ms - 1) as f64 / 1000.0;
        let q =
            format!(r#"sum by ({labels}, code) (rate({metric}{{job="{job}"}}[{window_ms}ms]))"#);
        let got = by_method_and_code(&prom.query_at(&q, at[1]).await);
        for ((method, code), n) in &second_round[job] {
            let rate = got.get(&(method.clone(), code.clone())).copied();
            let rate = rate.unwrap_or_else(|| panic!("{job}: no rate of {method} {code}: {got:?}"));
            assert!(
                (rate * span - n).abs() < 1e-6,
                "{job}: {method} {code} at {rate}/s over {span} s, sent {n} in the second round"
            );
        }
    }

    // The error ratio, from the counters (exact) and from rates. `rate` extrapolates each
    // series to its window's edges by how far its own first sample lies from them, so over a
    // loose window series first scraped at different times get different factors and the
    // ratio drifts (a 1m window once read 0.36 for 0.26 sent). Evaluated at the scrape after
    // the second round, over a window that starts 1 ms before the scrape after the first
    // round, every gateway series (each code occurs in both rounds) has the same samples,
    // so the ratio of rates is the second round's error ratio.
    let errors = (OUT_OF_STOCK + SLOW) as f64 / total as f64;
    let q = r#"sum(http_server_requests_total{job="gateway",code!="OK"}) / sum(http_server_requests_total{job="gateway"})"#;
    let r = prom.query(q).await;
    assert!((value(&r[0]) - errors).abs() < 1e-9, "error ratio {r:?}, sent {errors}");
    let scraped_at = &scraped["gateway"];
    let window_ms = ((scraped_at[1] - scraped_at[0]) * 1000.0).round() as u64 + 1;
    let rate = |code: &str| {
        format!(r#"sum(rate(http_server_requests_total{{job="gateway"{code}}}[{window_ms}ms]))"#)
    };
    let q = format!("{} / {}", rate(r#",code!="OK""#), rate(""));
    let r = prom.query_at(&q, scraped_at[1]).await;
    assert!(!r.is_empty(), "no rate over the second round: {q}");
    let ratio = value(&r[0]);
    let second = round_errors[1] as f64 / round_sent[1] as f64;
    assert!((ratio - second).abs() < 0.01, "rate error ratio {ratio}, second round sent {second}");

    // p99 of the gateway's latency: more than 1% of the requests ran into the 300 ms
    // deadline, so p99 lies in the bucket holding 300 ms (0.25 s to 0.5 s); the median is
    // one of the fast ones, below 0.1 s.
    let q = r#"histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{job="gateway"}[1m])))"#;
    let r = prom.wait_for(q, Duration::from_secs(30), |r| !r.is_empty()).await;
    let p99 = value(&r[0]);
    assert!((0.25..=0.5).contains(&p99), "p99 {p99}");
    let q = r#"histogram_quantile(0.5, sum by (le) (rate(http_server_request_duration_seconds_bucket{job="gateway"}[1m])))"#;
    let p50 = value(&prom.query(q).await[0]);
    assert!(p50 < 0.1, "p50 {p50}");

    // Every panel of the Grafana dashboard returns data.
    let dashboard: Value =
        serde_json::from_str(include_str!("../../examples/grafana/dashboard.json"))
            .expect("the dashboard is JSON");
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let r = prom.wait_for(expr, Duration::from_secs(30), |r| !r.is_empty()).await;
            println!("panel {:?}: {} series", panel["title"], r.len());
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} panel queries");
    drop(prom);
    drop(gateway);
    drop(checkout);
    drop(inventory);
}
