use result_runtime::fallible_task;

#[fallible_task(timeout = "1s", timeout = "2s")]
async fn load() {}

fn main() {}
