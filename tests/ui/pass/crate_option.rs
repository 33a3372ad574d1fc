//! `crate = ".."` for a renamed or re-exported runtime.
mod reexport {
    pub use result_runtime as rr;
}

use result_runtime::{fallible_task, traced};

#[fallible_task(crate = "reexport::rr")]
async fn via_alias() -> reexport::rr::Result<u8> {
    Ok(1)
}

#[traced(crate = "crate::reexport::rr")]
async fn traced_alias() -> u8 {
    2
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(via_alias().await.unwrap(), 1);
    assert_eq!(traced_alias().await, 2);
}
