//! `cargo run`: a tour of what result-runtime does, with readable output.

use std::time::Duration;

use result_runtime::context::Context;
use result_runtime::trace::TraceContext;
use result_runtime::{Code, ResultExt, TaskError};

#[tokio::main]
async fn main() {
    println!("result-runtime tour\n");

    let trace = TraceContext::new_root();
    println!("trace context   {trace}");
    let bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
    match bad.parse::<TraceContext>() {
        Ok(_) => println!("unexpected: uppercase traceparent accepted"),
        Err(e) => println!("strict W3C      rejected {bad:.20}...: {e}"),
    }

    let io = std::fs::read("/nonexistent/config.toml").context("loading config");
    if let Err(e) = io {
        println!("error           {e}");
        println!("  details       {e:#}");
        println!(
            "  to a client   {} / http {} / grpc {:?}",
            e.client_message(),
            e.code().http_status(),
            e.code().grpc()
        );
    }

    let ctx = Context::new().with_timeout(Duration::from_millis(50));
    let slow = ctx.run(async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, TaskError>(())
    });
    if let Err(e) = trace.scope(slow).await {
        println!("deadline        {e}");
    }

    let parent = Context::new();
    let child = parent.child();
    parent.cancel(TaskError::new(Code::UNAVAILABLE, "inventory down"));
    if let Err(e) = child.run(async { Ok::<_, TaskError>(()) }).await {
        println!("cancellation    {e:#}");
    }

    let panicked =
        result_runtime::panic::catch_unwind(async { panic!("secret token abc123") }).await;
    if let Err(e) = panicked {
        println!("captured panic  {e} (client sees: {:?})", e.client_message());
    }
    println!("\ndone");
}
