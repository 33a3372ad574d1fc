//! The HTTP gateway on its own:
//! `cargo run --bin gateway [ADDR] [CHECKOUT_URL] [--metrics ADDR] [--log-format text|json]`
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME` export its spans over OTLP/gRPC)
//! (defaults `127.0.0.1:8080`, `http://127.0.0.1:50052`; `METRICS_ADDR` and `LOG_FORMAT`
//! work too). Try:
//!
//! ```text
//! curl -s localhost:8080/checkout -H 'content-type: application/json' \
//!      -d '{"items":[{"sku":"tea","qty":2}]}'
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use result_runtime_examples::observe::Options;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse(std::env::args().skip(1))?;
    let otlp = options.init_telemetry("gateway")?;
    let admin = options.serve_metrics(Vec::new()).await?;
    let addr: SocketAddr =
        options.positional.first().map_or("127.0.0.1:8080", String::as_str).parse()?;
    let checkout =
        options.positional.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:50052".to_owned());
    let server =
        result_runtime_examples::spawn_gateway(addr, &checkout, Duration::from_secs(5)).await?;
    println!("gateway listening on {}, checkout at {checkout}", server.url());
    if let Some(admin) = &admin {
        println!("metrics at {}/metrics", admin.url());
    }
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    if let Some(otlp) = otlp {
        otlp.shutdown()?;
    }
    Ok(())
}
