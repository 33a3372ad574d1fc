use result_runtime::fallible_task;

#[fallible_task(retries = 3)]
async fn load() {}

fn main() {}
