use result_runtime::{fallible_task, Result};

#[fallible_task(breaker = "inventory", breaker = "pricing")]
async fn reserve() -> Result<()> {
    Ok(())
}

fn main() {}
