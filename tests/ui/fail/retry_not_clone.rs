use result_runtime::{fallible_task, Result};

struct Request {
    id: u32,
}

#[fallible_task(retry = 2)]
async fn send(req: Request, attempt_label: String) -> Result<u32> {
    let _ = attempt_label;
    Ok(req.id)
}

fn main() {}
