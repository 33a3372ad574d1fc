//! The inventory gRPC service on its own:
//! `cargo run --bin inventory [ADDR] [--metrics ADDR] [--log-format text|json]`
//! (default `127.0.0.1:50051`; `METRICS_ADDR` and `LOG_FORMAT` work too).

use std::net::SocketAddr;

use result_runtime_examples::observe::Options;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse(std::env::args().skip(1))?;
    options.init_logs();
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
    Ok(())
}
