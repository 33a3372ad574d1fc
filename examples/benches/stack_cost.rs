//! `stack_cost`: `N` gateway requests through the three services on one current-thread
//! runtime, observed as `MODE` says, and nothing else: run it under callgrind for two values
//! of `N`, and the difference over the difference in `N` is the instructions one request
//! costs in that mode, on every thread (the exporter's included), whatever else the machine
//! is doing. The `service` bench's wall-clock ratio dilutes that CPU cost with the network's
//! waits; this gives the CPU cost alone.
//!
//! `MODE`: `nothing` (no subscriber, no recorder), `logs` (the examples' log subscriber at
//! `INFO`, into a sink), `prometheus` (a Prometheus recorder only), `exported` (the logs,
//! every span exported over OTLP/gRPC to a collector that drops the bytes undecoded, and a
//! Prometheus recorder).
//!
//! ```text
//! cargo bench -p result-runtime-examples --bench stack_cost --no-run
//! for n in 50 150; do MODE=exported N=$n valgrind --tool=callgrind \
//!     --callgrind-out-file=/tmp/exported-$n.cg target/release/deps/stack_cost-<hash>; done
//! ```
//!
//! Without `N` (as `cargo bench` runs it) it makes 10 requests in each mode and exits.

mod sink;

use std::time::Duration;

use result_runtime_examples::observe::{prometheus_recorder, Otlp};
use result_runtime_examples::{http_client, post_json, Basket, BasketItem, Receipt, Stack};
use tracing_subscriber::layer::SubscriberExt as _;

fn main() {
    let n: usize = std::env::var("N").map_or(10, |n| n.parse().expect("N is a number"));
    let modes = match std::env::var("MODE") {
        Ok(mode) => vec![mode],
        Err(_) => ["nothing", "logs", "prometheus", "exported"].map(String::from).to_vec(),
    };
    let collector = sink::collector();
    for mode in modes {
        run(&mode, n, &collector);
    }
}

fn run(mode: &str, n: usize, collector: &str) {
    let exported = mode == "exported";
    assert!(
        ["nothing", "logs", "prometheus", "exported"].contains(&mode),
        "MODE: nothing, logs, prometheus or exported, not {mode:?}"
    );
    let exporter = exported.then(|| Otlp::start(collector, "stack").expect("exporter"));
    let _subscriber = (mode == "logs" || exported).then(|| {
        let logs = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(std::io::sink);
        tracing::subscriber::set_default(
            tracing_subscriber::registry()
                .with(logs)
                .with(exporter.as_ref().map(Otlp::layer))
                .with(tracing_subscriber::filter::LevelFilter::INFO),
        )
    });
    let recorder = (mode == "prometheus" || exported).then(prometheus_recorder);
    let _recorder = recorder.as_ref().map(|r| metrics::set_default_local_recorder(r));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let stack = Stack::start(Duration::from_secs(5)).await.expect("the stack starts");
        let url = format!("{}/checkout", stack.gateway.url());
        let client = http_client();
        let basket = Basket { items: vec![BasketItem { sku: "tea".into(), qty: 1 }] };
        for _ in 0..n {
            let answer = post_json::<Receipt>(&client, &url, &basket, None).await.expect("a call");
            assert_eq!(answer.envelope.code, "OK");
        }
        stack.shutdown().await;
    });
    if let Some(e) = exporter {
        e.shutdown().expect("the last export");
    }
    println!("stack_cost: {n} requests, {mode}");
}
