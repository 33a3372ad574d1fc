//! Named groups: the static registry that `#[fallible_task(group = "...")]` feeds and
//! [`Group::registered`] runs. The registry is the `inventory` crate: entries are collected
//! at link time from every crate of the binary.

use std::future::Future;
use std::pin::Pin;

use super::Group;
use crate::error::Result;

/// The boxed future a registered group task returns.
pub type BoxTaskFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// A zero-argument task function registered in a named group by
/// `#[fallible_task(group = "...")]`; [`Group::registered`] runs all of a name's entries.
/// Reached by generated code through `__private`; not public API.
pub struct GroupTask {
    /// The group name given to the macro.
    pub group: &'static str,
    /// The function's path, used as the task name.
    pub name: &'static str,
    /// Starts the function.
    pub run: fn() -> BoxTaskFuture,
}

inventory::collect!(GroupTask);

/// Boxes a registered group task's future. A registered fn may return a value; the group
/// only needs to know whether it failed.
pub fn boxed_group_task<T, F>(fut: F) -> BoxTaskFuture
where
    F: Future<Output = Result<T>> + Send + 'static,
{
    Box::pin(async move { fut.await.map(drop) })
}

/// The entries registered under `name`.
fn entries(name: &str) -> impl Iterator<Item = &'static GroupTask> + '_ {
    inventory::iter::<GroupTask>.into_iter().filter(move |t| t.group == name)
}

impl Group<()> {
    /// A fail-fast group named `name` running every task registered under `name` with
    /// `#[fallible_task(group = "name")]`, each task named after its function.
    ///
    /// The registry is static: it holds what was linked into the binary. A name nobody
    /// registered gives an empty group, whose `join` is `Ok(vec![])`;
    /// [`Group::registered_count`] tells the two apart. The group's context is a child of the
    /// ambient one, as with [`Group::new`]: to give the whole batch a deadline, create it
    /// inside a context that has one ([`Context::scope`](crate::context::Context::scope)).
    /// More work can be spawned into it before `join`.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let all: Vec<()> = Group::registered("nothing-registered-here").join().await?;
    /// assert!(all.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime when something is registered under `name` (as `tokio::spawn`).
    #[must_use]
    pub fn registered(name: &str) -> Self {
        let group = Self::builder()
            .name(name.to_owned())
            .build()
            .expect("a group with only a name is a valid configuration");
        for task in entries(name) {
            group.spawn_named(task.name, (task.run)());
        }
        group
    }

    /// How many tasks are registered under `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// assert_eq!(Group::registered_count("nothing-registered-here"), 0);
    /// ```
    #[must_use]
    pub fn registered_count(name: &str) -> usize {
        entries(name).count()
    }
}
