use result_runtime::fallible_task;

// 5124095576031 hours is more than 2^64-1 milliseconds.
#[fallible_task(timeout = "5124095576031h")]
async fn load() {}

fn main() {}
