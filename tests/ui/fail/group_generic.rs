use result_runtime::{fallible_task, Result};

#[fallible_task(group = "startup")]
async fn warm<T: Default>() -> Result<()> {
    let _ = T::default();
    Ok(())
}

fn main() {}
