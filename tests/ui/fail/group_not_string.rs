use result_runtime::fallible_task;

#[fallible_task(group = startup)]
async fn warm() {}

fn main() {}
