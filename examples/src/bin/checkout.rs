//! `cargo run --bin checkout [ADDR] [INVENTORY_URL] [--redis URL[,URL...]] [--metrics ADDR]
//! [--log-format text|json]`
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME` export its spans over OTLP/gRPC) (defaults `127.0.0.1:50052`, `http://127.0.0.1:50051`;
//! `REDIS_URLS`, `METRICS_ADDR` and `LOG_FORMAT` work too). With `--redis` its price cache is
//! tiered on those Redis nodes, shared with every replica that lists the same ones; without,
//! it is in-process only.

use std::net::SocketAddr;
use std::sync::Arc;

use result_runtime_examples::observe::Options;
use result_runtime_examples::Pricing;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let redis = redis_urls(&mut args)?;
    let options = Options::parse(args)?;
    let otlp = options.init_telemetry("checkout")?;
    let pricing = match &redis {
        Some(urls) => Pricing::tiered(urls).await?,
        None => Pricing::new(),
    };
    let published = pricing.clone();
    let admin = options.serve_metrics(vec![Arc::new(move || published.record_metrics())]).await?;
    let addr: SocketAddr =
        options.positional.first().map_or("127.0.0.1:50052", String::as_str).parse()?;
    let inventory =
        options.positional.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let server = result_runtime_examples::spawn_checkout_with(addr, &inventory, pricing).await?;
    println!("checkout listening on {}, inventory at {inventory}", server.url());
    if let Some(urls) = &redis {
        println!("  price cache tiered on {} Redis node(s)", urls.len());
    }
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

/// Takes `--redis URL[,URL...]` (or `--redis=...`) out of `args`; else `REDIS_URLS`.
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
