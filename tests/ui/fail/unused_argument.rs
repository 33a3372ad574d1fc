//! The expansion does not touch parameters: the user's `unused_variables` still fires.
#![deny(unused_variables)]

use result_runtime::{fallible_task, Result};

#[fallible_task]
async fn load(id: u32) -> Result<()> {
    Ok(())
}

fn main() {
    let _ = load(1);
}
