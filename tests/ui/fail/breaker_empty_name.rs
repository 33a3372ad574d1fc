use result_runtime::{fallible_task, Result};

#[fallible_task(breaker = "", retry = 2)]
async fn reserve() -> Result<()> {
    Ok(())
}

fn main() {}
