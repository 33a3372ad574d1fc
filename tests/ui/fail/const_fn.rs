use result_runtime::fallible_task;

#[fallible_task]
const fn answer() -> u8 {
    42
}

fn main() {
    let _ = answer();
}
