use result_runtime::fallible_task;

#[fallible_task(timeout = "+1s")]
async fn load() {}

fn main() {}
