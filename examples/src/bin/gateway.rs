//! The HTTP gateway on its own: `cargo run --bin gateway [ADDR] [CHECKOUT_URL]`
//! (defaults `127.0.0.1:8080`, `http://127.0.0.1:50052`). Try:
//!
//! ```text
//! curl -s localhost:8080/checkout -H 'content-type: application/json' \
//!      -d '{"items":[{"sku":"tea","qty":2}]}'
//! ```

use std::net::SocketAddr;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(env_filter()).init();
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:8080").parse()?;
    let checkout = args.next().unwrap_or_else(|| "http://127.0.0.1:50052".to_owned());
    let server =
        result_runtime_examples::spawn_gateway(addr, &checkout, Duration::from_secs(5)).await?;
    println!("gateway listening on {}, checkout at {checkout}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}
