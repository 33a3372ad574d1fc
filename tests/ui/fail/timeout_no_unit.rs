use result_runtime::fallible_task;

#[fallible_task(timeout = "30")]
async fn load() {}

fn main() {}
