use result_runtime::traced;

#[traced(level = "verbose")]
fn work() {}

fn main() {
    work();
}
