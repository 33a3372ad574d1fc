use result_runtime::fallible_task;

#[fallible_task]
struct Job {
    id: u32,
}

fn main() {
    let _ = Job { id: 1 }.id;
}
