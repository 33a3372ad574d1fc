//! The panic hook chains to the one installed before it and stays silent for captured panics.
//! Its own test binary: hooks are process-wide.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use result_runtime::panic::{catch_unwind, catch_unwind_sync};
use result_runtime::ErrorKind;

#[test]
fn captured_panics_skip_the_users_hook_and_others_reach_it() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));

    let err = catch_unwind_sync(|| panic!("captured")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panicked);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let err = rt.block_on(catch_unwind(async { panic!("captured async") })).unwrap_err();
    assert_eq!(err.panic().unwrap().message(), "captured async");
    assert_eq!(seen.load(Ordering::SeqCst), 0, "a captured panic reached the user's hook");

    // An ordinary panic on another thread still goes to the user's hook.
    let joined = std::thread::spawn(|| panic!("not captured")).join();
    assert!(joined.is_err());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}
