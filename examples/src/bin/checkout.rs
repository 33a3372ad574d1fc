//! The checkout gRPC service on its own:
//! `cargo run --bin checkout [ADDR] [INVENTORY_URL] [--redis URL[,URL...]]`
//! (defaults `127.0.0.1:50052`, `http://127.0.0.1:50051`). With `--redis` (or `REDIS_URLS`)
//! its price cache is tiered on those Redis nodes, shared with every replica that lists the
//! same ones; without, it is in-process only.

use std::net::SocketAddr;

use result_runtime_examples::Pricing;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(env_filter()).init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let redis = redis_urls(&mut args)?;
    let mut args = args.into_iter();
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:50052").parse()?;
    let inventory = args.next().unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let pricing = match &redis {
        Some(urls) => Pricing::tiered(urls).await?,
        None => Pricing::new(),
    };
    let server = result_runtime_examples::spawn_checkout_with(addr, &inventory, pricing).await?;
    println!("checkout listening on {}, inventory at {inventory}", server.url());
    if let Some(urls) = &redis {
        println!("  price cache tiered on {} Redis node(s)", urls.len());
    }
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

/// Takes `--redis URL[,URL...]` (or `--redis=...`) out of `args`, else reads `REDIS_URLS`.
fn redis_urls(args: &mut Vec<String>) -> Result<Option<Vec<String>>, String> {
    let mut list = None;
    if let Some(i) = args.iter().position(|a| a == "--redis" || a.starts_with("--redis=")) {
        let flag = args.remove(i);
        list = Some(match flag.strip_prefix("--redis=") {
            Some(v) => v.to_owned(),
            None if i < args.len() => args.remove(i),
            None => return Err("--redis needs URL[,URL...]".into()),
        });
    }
    let list = list.or_else(|| std::env::var("REDIS_URLS").ok().filter(|v| !v.is_empty()));
    Ok(list.map(|l| {
        l.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
    }))
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}
