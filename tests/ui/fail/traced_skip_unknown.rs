use result_runtime::traced;

#[traced(skip(pasword))]
fn login(user: &str, password: &str) -> bool {
    user == password
}

fn main() {
    let _ = login("a", "b");
}
