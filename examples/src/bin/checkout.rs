//! The checkout gRPC service on its own:
//! `cargo run --bin checkout [ADDR] [INVENTORY_URL] [--metrics ADDR] [--log-format text|json]`
//! (defaults `127.0.0.1:50052`, `http://127.0.0.1:50051`; `METRICS_ADDR` and `LOG_FORMAT`
//! work too).

use std::net::SocketAddr;
use std::sync::Arc;

use result_runtime_examples::observe::Options;
use result_runtime_examples::{channel, serve_checkout, Checkout, Pricing};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse(std::env::args().skip(1))?;
    options.init_logs();
    let pricing = Pricing::new();
    let published = pricing.clone();
    let admin = options.serve_metrics(vec![Arc::new(move || published.record_metrics())]).await?;
    let addr: SocketAddr =
        options.positional.first().map_or("127.0.0.1:50052", String::as_str).parse()?;
    let inventory =
        options.positional.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let server =
        serve_checkout(addr, Checkout::with_pricing(channel(&inventory)?, pricing)).await?;
    println!("checkout listening on {}, inventory at {inventory}", server.url());
    if let Some(admin) = &admin {
        println!("metrics at {}/metrics", admin.url());
    }
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
