//! The original spans are kept: `dead_code` still points at the unused function.
#![deny(dead_code)]

use result_runtime::{fallible_task, Result};

#[fallible_task]
async fn never_called() -> Result<()> {
    Ok(())
}

fn main() {}
