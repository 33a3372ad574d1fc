//! `group = ".."` registers the function; the registry is iterable.
use result_runtime::__private::{inventory, GroupTask};
use result_runtime::{fallible_task, Code, Result, TaskError};

#[fallible_task(group = "startup")]
async fn warm_cache() -> Result<()> {
    Ok(())
}

#[fallible_task(group = "startup", name = "migrate")]
async fn migrate() -> Result<()> {
    Err(TaskError::new(Code::UNAVAILABLE, "db down"))
}

#[fallible_task(group = "other")]
async fn unrelated() {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut startup: Vec<&GroupTask> =
        inventory::iter::<GroupTask>.into_iter().filter(|t| t.group == "startup").collect();
    // trybuild names the crate `trybuildNNN`: compare the last path segment.
    startup.sort_by_key(|t| t.name.rsplit("::").next());
    let names: Vec<&str> = startup.iter().map(|t| t.name.rsplit("::").next().unwrap()).collect();
    assert_eq!(names, ["migrate", "warm_cache"]);
    assert_eq!((startup[0].run)().await.unwrap_err().task(), Some("migrate"));
    assert!((startup[1].run)().await.is_ok());
    unrelated().await.unwrap();
}
