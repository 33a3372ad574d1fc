//! The inventory gRPC service on its own:
//! `cargo run --bin inventory [ADDR] [--metrics ADDR] [--log-format text|json]`
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME` export its spans over OTLP/gRPC)
//! (default `127.0.0.1:50051`; `METRICS_ADDR` and `LOG_FORMAT` work too).

use std::net::SocketAddr;

use result_runtime_examples::observe::Options;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse(std::env::args().skip(1))?;
    let otlp = options.init_telemetry("inventory")?;
    let admin = options.serve_metrics(Vec::new()).await?;
    let addr: SocketAddr =
        options.positional.first().map_or("127.0.0.1:50051", String::as_str).parse()?;
    let server = result_runtime_examples::spawn_inventory(addr).await?;
    println!("inventory listening on {}", server.url());
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
