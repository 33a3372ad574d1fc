//! The rewritten fn is still an `async fn`: forgetting to await it is still reported, and
//! the user's own `#[must_use]` message is kept.
#![deny(unused_must_use)]

use result_runtime::{fallible_task, Result};

#[fallible_task]
#[must_use = "the reservation must be awaited"]
async fn reserve() -> Result<()> {
    Ok(())
}

fn main() {
    reserve();
}
