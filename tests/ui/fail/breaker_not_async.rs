use result_runtime::{fallible_task, Result};

#[fallible_task(breaker = "inventory")]
fn reserve() -> Result<()> {
    Ok(())
}

fn main() {
    let _ = reserve();
}
