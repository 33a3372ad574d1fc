use result_runtime::{fallible_task, Result};

#[fallible_task(group = "startup")]
async fn connect(url: String) -> Result<()> {
    let _ = url;
    Ok(())
}

fn main() {}
