use result_runtime::fallible_task;

#[fallible_task(crate = "result runtime")]
async fn load() {}

fn main() {}
