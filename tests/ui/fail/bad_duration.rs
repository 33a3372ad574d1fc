use result_runtime::fallible_task;

#[fallible_task(timeout = "2 seconds")]
async fn load() {}

fn main() {}
