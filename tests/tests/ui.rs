//! trybuild: every supported shape compiles and runs (`ui/pass`), every misuse is a clear
//! error at the offending token (`ui/fail`, one per file with its `.stderr`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
