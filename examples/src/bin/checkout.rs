//! The checkout gRPC service on its own:
//! `cargo run --bin checkout [ADDR] [INVENTORY_URL]`
//! (defaults `127.0.0.1:50052`, `http://127.0.0.1:50051`).

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(env_filter()).init();
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:50052").parse()?;
    let inventory = args.next().unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let server = result_runtime_examples::spawn_checkout(addr, &inventory).await?;
    println!("checkout listening on {}, inventory at {inventory}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}
