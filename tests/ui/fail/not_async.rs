use result_runtime::{fallible_task, Result};

#[fallible_task]
fn load() -> Result<u8> {
    Ok(1)
}

fn main() {
    // The original fn is still emitted: no cascade of "cannot find function" errors.
    let _ = load();
}
