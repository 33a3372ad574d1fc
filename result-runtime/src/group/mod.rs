//! [`Group`]: fail-fast task groups for tokio, Go's `errgroup` done right.
//!
//! Spawn futures into a group; the first real failure (`Failed`, `Panicked`,
//! `DeadlineExceeded`) is recorded, the group's [`Context`] is cancelled with it as the cause,
//! and every other task is stopped at its next `.await` (its future is dropped, which is what
//! an abort does). [`Group::join`] returns the values in spawn order, or that failure: never a
//! `Cancelled` it caused.
//!
//! What the group adds to tokio's `JoinSet` and to `errgroup`:
//! - results in spawn order ([`join`](Group::join)), or as they finish
//!   ([`join_stream`](Group::join_stream)) for long-lived groups that must not keep every
//!   output;
//! - a concurrency [`limit`](GroupBuilder::limit) that never blocks [`spawn`](Group::spawn) (work
//!   over the limit waits for a slot inside its task, and that wait ends when the group is
//!   cancelled: no deadlock when the failing task is queued behind the limit),
//!   [`try_spawn`](Group::try_spawn) for callers that shed load, and a lazy
//!   [`map`](Group::map);
//! - a [`timeout`](GroupBuilder::timeout) / [`deadline`](GroupBuilder::deadline);
//! - panics become `Panicked` errors with message, location and task name, and fail the group
//!   like any error (they never abort the process and never vanish);
//! - tasks run under a child of the ambient context and inherit the spawner's trace context,
//!   so a group created inside a task of another group is its child: cancelling the outer one
//!   cancels the inner one;
//! - no task outlives its group: dropping the group, or the future awaiting `join`, cancels
//!   and aborts its tasks;
//! - a collect-all mode ([`collect_all`](GroupBuilder::collect_all),
//!   [`join_all`](Group::join_all));
//! - named groups: [`Group::registered`] runs every function that
//!   `#[fallible_task(group = "...")]` registered under a name (the registry is the
//!   `inventory` crate).
//!
//! Options are set on a [`GroupBuilder`] ([`Group::builder`]) before the group exists, and
//! a bad one (a zero limit, a zero timeout) is refused there with a
//! [`ConfigError`](crate::ConfigError); [`Group::new`] is the defaults.
//!
//! ## How tasks are stopped
//! Every task runs inside [`Context::run`] on the group's context, so cancelling the context
//! wakes every waiting task at once and drops its future at that poll: the same effect as
//! `JoinHandle::abort`, and the task still reports its index (`Cancelled`, with the failure as
//! the cause) to `join_all`, the stream and its handle. Work queued behind the limit waits
//! for its slot inside that same race, so it stops too, without ever being polled. Dropping
//! the group cancels that context too, which is how it aborts its tasks. Neither can stop
//! code that blocks without awaiting: `join` waits for such a task to return.
//!
//! ## Which error wins
//! In fail-fast mode the group's error is the first failure *recorded*: tasks record their
//! failure atomically (a set-once store) the moment they end with it, or earlier when a
//! `#[fallible_task]` function below them fails. When several tasks fail "at once", the
//! first to reach that atomic wins, whatever their spawn order; the others' errors are still
//! in their own results ([`join_all`](Group::join_all), the stream, their handles).
//! `Cancelled` errors are never recorded. When no failure was recorded but some task ended
//! with an error (only `Cancelled` ones: the parent context was cancelled), `join` returns
//! the error of the lowest index. In collect-all mode nothing is recorded and `join` returns
//! the error of the lowest index too, deterministically.
//!
//! ```
//! use std::time::Duration;
//! use result_runtime::{group::Group, Code, ErrorKind, Result, TaskError};
//!
//! async fn fetch_user(id: u64) -> Result<String> {
//!     if id == 13 {
//!         return Err(TaskError::new(Code::NOT_FOUND, "user 13 not found"));
//!     }
//!     Ok(format!("user-{id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let g = Group::builder().limit(8).timeout(Duration::from_secs(2)).build()?;
//! for id in [1, 2, 3] {
//!     g.spawn(fetch_user(id));
//! }
//! assert_eq!(g.join().await?, ["user-1", "user-2", "user-3"]);
//!
//! let g = Group::builder().name("users").build()?;
//! for id in [1, 13, 3] {
//!     g.spawn(fetch_user(id));
//! }
//! let err = g.join().await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Failed);
//! assert_eq!(err.code(), Code::NOT_FOUND);
//! assert_eq!(err.task(), Some("users[1]"));
//! # Ok(()) }
//! ```

mod builder;
#[cfg(not(loom))]
mod dump;
mod error;
mod failure;
mod handle;
#[cfg(all(test, loom))]
mod loom;
mod metrics;
pub(crate) mod registry;
mod report;
mod set;
mod stream;
mod sync;
mod task;
mod watch;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::code::Code;
use crate::context::Context;
use crate::error::{Result, TaskError};

pub use builder::GroupBuilder;
#[cfg(not(loom))]
pub use dump::{dump, GroupSnapshot, TaskSnapshot, TaskState, TaskTree};
pub use error::AtLimit;
pub use handle::TaskHandle;
pub use report::{ShutdownReport, Supervised};
use set::TaskSet;
pub use stream::JoinStream;
pub(crate) use task::fail_ambient;
pub use task::shield;
use task::{spawn_task, Done, Shared};

/// A fail-fast group of tasks producing `T`s. See the [module docs](self).
///
/// Configure it with a [`GroupBuilder`] ([`Group::builder`]); spawn with `&self`
/// (`spawn` never waits); consume it with one of [`join`](Self::join),
/// [`join_all`](Self::join_all), [`join_stream`](Self::join_stream) or [`map`](Self::map).
/// Spawning needs a tokio runtime, as `tokio::spawn` does.
pub struct Group<T> {
    shared: Arc<Shared>,
    set: TaskSet<T>,
}

impl<T> fmt::Debug for Group<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.shared.name)
            .field("limit", &self.shared.limit.is_some())
            .field("collect_all", &self.shared.collect_all)
            .field("failure", &self.shared.failure.get())
            .finish_non_exhaustive()
    }
}

impl<T> Group<T> {
    fn from_shared(shared: Shared) -> Self {
        let shared = Arc::new(shared);
        #[cfg(not(loom))]
        dump::register(&shared);
        Self { shared, set: TaskSet::new() }
    }
}

impl<T: Send + 'static> Default for Group<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> Group<T> {
    /// A fail-fast group without limit or deadline, whose context is a child of the ambient
    /// one ([`Context::current`]) when there is one: a group created inside a task of another
    /// group is cancelled with it. The defaults of [`Group::builder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let g = Group::new();
    /// g.spawn(async { Ok("a") });
    /// g.spawn(async { Ok("b") });
    /// assert_eq!(g.join().await?, ["a", "b"]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build().expect("the default options are valid")
    }

    /// The options of a new group: limit, timeout or deadline, collect-all mode, name,
    /// parent context. See [`GroupBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let g = Group::builder().limit(4).timeout(Duration::from_secs(1)).build()?;
    /// g.spawn(async { Ok(1) });
    /// assert_eq!(g.join().await?, [1]);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> GroupBuilder<T> {
        GroupBuilder::new()
    }

    /// The group's context: cancelled with the winning failure as the cause, or by its
    /// parent; its deadline is the group's.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.shared.ctx
    }

    /// The winning failure, once one is recorded (always `None` in collect-all mode).
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::{group::Group, Code, ErrorKind, TaskError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let g = Group::<()>::new();
    /// let waiting = g.spawn(std::future::pending());
    /// assert!(g.failure().is_none());
    /// g.cancel(TaskError::new(Code::UNAVAILABLE, "shutting down"));
    /// assert_eq!(g.failure().unwrap().message(), "shutting down");
    /// assert_eq!(waiting.await.unwrap_err().kind(), ErrorKind::Cancelled);
    /// # }
    /// ```
    #[must_use]
    pub fn failure(&self) -> Option<TaskError> {
        self.shared.failure.get()
    }

    /// Cancels the group as a failure would: `error` becomes the group's error unless one is
    /// recorded already (a `Cancelled` error is not recorded, but still cancels). See
    /// [`failure`](Self::failure) for an example.
    pub fn cancel(&self, error: TaskError) {
        if error.is_cancelled() || self.shared.collect_all {
            self.shared.ctx.cancel(error);
        } else {
            self.shared.fail_own(&error);
        }
    }

    /// How many tasks were ever spawned into the group (finished ones included): the index
    /// the next spawn gets. Unlike `JoinSet::len`, it never goes down.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let g = Group::new();
    /// assert_eq!(g.spawned(), 0);
    /// let h = g.spawn(async { Ok(()) });
    /// h.await.unwrap();
    /// assert_eq!(g.spawned(), 1, "finished, still counted");
    /// # }
    /// ```
    #[must_use]
    pub fn spawned(&self) -> usize {
        sync::lock(&self.shared.spawns).next
    }

    /// How many tasks the group holds now: running, waiting for a slot, or finished and not
    /// yet collected by `join` (in [`discard_outputs`](GroupBuilder::discard_outputs) mode,
    /// finished tasks are dropped by every spawn and by this call). What the group's memory
    /// grows with.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let g = Group::<()>::new();
    /// g.spawn(std::future::pending());
    /// assert_eq!(g.held(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn held(&self) -> usize {
        self.reap();
        self.set.len()
    }

    /// In discarding mode, drops what finished since the last look: the outputs go, and
    /// the failures were recorded (or supervised) by the tasks themselves.
    fn reap(&self) {
        if self.shared.discard {
            while self.set.try_join_next().is_some() {}
        }
    }

    /// Spawns `fut` as the next task. Never waits: over the limit, the task waits for a slot
    /// itself (and stops waiting when the group is cancelled). Spawning into a cancelled
    /// group is allowed; the task ends `Cancelled` without being polled.
    ///
    /// The returned [`TaskHandle`] can be awaited for the task's outcome, or dropped: the
    /// task runs on either way (the group owns it).
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let g = Group::new();
    /// let first = g.spawn(async { Ok(10) });
    /// g.spawn(async { Ok(20) }); // handle dropped: the task still runs
    /// assert_eq!(first.index(), 0);
    /// assert_eq!(g.join().await?, [10, 20]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime, as `tokio::spawn`.
    pub fn spawn<F>(&self, fut: F) -> TaskHandle
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        self.spawn_inner(None, None, fut)
    }

    /// [`spawn`](Self::spawn) with a task name for errors (instead of `group[index]`).
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::{group::Group, Code, TaskError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let g = Group::<()>::new();
    /// g.spawn_named("load-config", async { Err(TaskError::new(Code::NOT_FOUND, "no file")) });
    /// assert_eq!(g.join().await.unwrap_err().task(), Some("load-config"));
    /// # }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime, as `tokio::spawn`.
    pub fn spawn_named<F>(&self, name: impl Into<Cow<'static, str>>, fut: F) -> TaskHandle
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        self.spawn_inner(Some(name.into()), None, fut)
    }

    fn spawn_inner<F>(
        &self,
        name: Option<Cow<'static, str>>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
        fut: F,
    ) -> TaskHandle
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        self.reap();
        let mut spawns = sync::lock(&self.shared.spawns);
        spawn_task(&self.set, &mut spawns, &self.shared, name, permit, fut)
    }

    /// Spawns `fut` only if a slot of the limit is free now (always, without a limit).
    ///
    /// # Errors
    /// [`AtLimit`] with the future, untouched, when every slot is busy.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let g = Group::builder().limit(1).build().unwrap();
    /// let (release, wait) = tokio::sync::oneshot::channel::<()>();
    /// g.try_spawn(async { wait.await.ok(); Ok(1) }).unwrap();
    /// let refused = g.try_spawn(async { Ok(2) }).unwrap_err();
    /// release.send(()).unwrap();
    /// g.spawn(refused.into_inner()); // nothing lost: run it later
    /// assert_eq!(g.join().await?, [1, 2]);
    /// # Ok(()) }
    /// ```
    pub fn try_spawn<F>(&self, fut: F) -> Result<TaskHandle, AtLimit<F>>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let permit = match &self.shared.limit {
            Some(limit) => match limit.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => return Err(AtLimit(fut)),
            },
            None => None,
        };
        Ok(self.spawn_inner(None, permit, fut))
    }

    /// Waits for every task and returns their values in spawn order, or the group's error
    /// (see [which error wins](self#which-error-wins)).
    ///
    /// After a failure it still waits for the cancelled tasks to be dropped (they are woken at
    /// once), so no task of the group runs once `join` has returned. Dropping the `join`
    /// future cancels and aborts the tasks.
    ///
    /// # Errors
    /// The group's winning failure; or, without one, the error of the lowest index.
    ///
    /// # Cancel safety
    /// Not cancel safe, by design: the group is consumed, and dropping the future before it
    /// completes cancels and aborts every task, discarding the values already produced.
    pub async fn join(mut self) -> Result<Vec<T>> {
        if self.shared.discard {
            return self.drain().await;
        }
        let mut out = Collector::new(self.spawned());
        for done in self.set.join_all().await {
            out.accept(done);
        }
        out.finish(&self.shared)
    }

    /// Waits for every task and returns every result in spawn order: the collect-all view
    /// (in fail-fast mode, the siblings a failure stopped show as `Cancelled`).
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::{group::Group, Code, TaskError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let g = Group::builder().collect_all().build()?;
    /// g.spawn(async { Err(TaskError::new(Code::NOT_FOUND, "a")) });
    /// g.spawn(async { Ok(2) });
    /// let all = g.join_all().await;
    /// assert_eq!(all[0].as_ref().unwrap_err().code(), Code::NOT_FOUND);
    /// assert_eq!(*all[1].as_ref().unwrap(), 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    /// As [`join`](Self::join): dropping the future cancels and aborts the tasks.
    pub async fn join_all(mut self) -> Vec<Result<T>> {
        if self.shared.discard {
            let _ = self.drain().await;
            return Vec::new();
        }
        let mut out = Collector::new(self.spawned());
        for done in self.set.join_all().await {
            out.accept(done);
        }
        out.all(&self.shared)
    }

    /// `join` for a discarding group: waits for every task and keeps nothing per task.
    async fn drain(&mut self) -> Result<Vec<T>> {
        let mut lowest: Option<(usize, TaskError)> = None;
        for done in self.set.join_all().await {
            if let Done { index, result: Err(e), .. } = done {
                if lowest.as_ref().is_none_or(|(i, _)| index < *i) {
                    lowest = Some((index, e));
                }
            }
        }
        if let Some(failure) = self.shared.failure.get() {
            return Err(failure);
        }
        match lowest {
            Some((_, e)) => Err(e),
            None => Ok(Vec::new()),
        }
    }

    /// Waits for every task and reports which succeeded (with their values) and which
    /// failed: the result of a [`supervise`](GroupBuilder::supervise) group, usable in every
    /// mode. See [`Supervised`].
    ///
    /// # Examples
    ///
    /// See [`GroupBuilder::supervise`].
    ///
    /// # Errors
    /// Only the group's own failure (see [which error wins](self#which-error-wins)): in
    /// supervisor mode, a handler that panicked or [`cancel`](Self::cancel) with a real
    /// error; in fail-fast mode, the winning failure. The tasks' own failures are in the
    /// report.
    ///
    /// # Cancel safety
    /// As [`join`](Self::join): dropping the future cancels and aborts the tasks.
    pub async fn join_supervised(self) -> Result<Supervised<T>> {
        let mut report =
            Supervised { values: Vec::new(), failed: Vec::new(), cancelled: Vec::new() };
        for done in self.set.join_all().await {
            match done {
                Done { index, result: Ok(v), .. } => report.values.push((index, v)),
                Done { index, result: Err(e), .. } if e.is_cancelled() => {
                    report.cancelled.push(index);
                }
                Done { index, result: Err(e), .. } => report.failed.push((index, e)),
            }
        }
        if let Some(failure) = self.shared.failure.get() {
            return Err(failure);
        }
        report.values.sort_unstable_by_key(|(i, _)| *i);
        report.failed.sort_unstable_by_key(|(i, _)| *i);
        report.cancelled.sort_unstable();
        Ok(report)
    }

    /// Shuts the group down gracefully: cancels the tasks' ambient context
    /// ([`Context::current`] inside them) with a `Cancelled` cause ("group shutting down"),
    /// so that work watching it stops and the tasks can clean up; waits up to `grace` for
    /// them to finish; then cancels the group's own context, which drops every task still
    /// running at its next `.await`. Cleanup in a [`shield`] is not interrupted by the first
    /// step, and is bounded by the second.
    ///
    /// Tasks end on their own during the grace are in [`ShutdownReport::finished`], with
    /// their results; the ones dropped (by the grace running out, or by a failure of the
    /// group that stopped them meanwhile) in [`ShutdownReport::aborted`]. Nested groups
    /// inside the tasks are children of the cancelled context: their tasks stop at once and
    /// their `join` returns `Cancelled` to the task, which gets the grace.
    ///
    /// As with [`join`](Self::join), a task that blocks without awaiting cannot be dropped:
    /// the shutdown waits for it to return.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use result_runtime::{context::Context, group::Group};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let g = Group::new();
    /// g.spawn(async {
    ///     Context::current().unwrap().cancelled().await;
    ///     Ok("flushed")
    /// });
    /// g.spawn(std::future::pending()); // ignores the shutdown
    /// let report = g.shutdown(Duration::from_secs(5)).await;
    /// assert_eq!(report.finished.len(), 1);
    /// assert_eq!(*report.finished[0].1.as_ref().unwrap(), "flushed");
    /// assert_eq!(report.aborted, [1]);
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// As [`join`](Self::join): dropping the future cancels and aborts the tasks at once.
    pub async fn shutdown(self, grace: std::time::Duration) -> ShutdownReport<T> {
        let cause = TaskError::new(Code::CANCELLED, "group shutting down");
        self.shared.soft.cancel(cause.clone());
        let until = tokio::time::Instant::now() + grace;
        let shared = self.shared.clone();
        let set = &self.set;
        let mut report = ShutdownReport { finished: Vec::new(), aborted: Vec::new() };
        let mut accept = |done: Done<T>| match done {
            Done { index, stopped: true, .. } => report.aborted.push(index),
            Done { index, result, .. } => report.finished.push((index, result)),
        };
        loop {
            match tokio::time::timeout_at(until, set.join_next()).await {
                Ok(Some(res)) => accept(res),
                Ok(None) => break,
                Err(_elapsed) => {
                    shared.ctx.cancel(cause.clone());
                    while let Some(res) = set.join_next().await {
                        accept(res);
                    }
                    break;
                }
            }
        }
        report.finished.sort_unstable_by_key(|(i, _)| *i);
        report.aborted.sort_unstable();
        report
    }

    /// The results as tasks finish, `(index, result)`, without keeping them: for long-lived
    /// groups. The stream owns the group (more work can be spawned through
    /// [`JoinStream::group`]) and ends when no task is left.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let g = Group::new();
    /// for i in 0..3_u64 {
    ///     g.spawn(async move { Ok(i * 10) });
    /// }
    /// let mut seen: Vec<(usize, u64)> =
    ///     g.join_stream().map(|(i, r)| (i, r.unwrap())).collect().await;
    /// seen.sort_unstable();
    /// assert_eq!(seen, [(0, 0), (1, 10), (2, 20)]);
    /// # }
    /// ```
    pub fn join_stream(self) -> JoinStream<T> {
        JoinStream { group: self }
    }

    /// Runs `f` over `inputs` in this group and returns the values in input order (after
    /// those of tasks spawned before), failing fast like [`join`](Self::join).
    ///
    /// The input is pulled lazily: with a [`limit`](GroupBuilder::limit) of `n`, the next input is
    /// taken (and `f` called) only when one of the `n` slots is free, so a million inputs
    /// never queue a million futures; once the group is cancelled (a failure, its deadline,
    /// its parent), no further input is taken. Without a limit every input is spawned at
    /// once.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let g = Group::builder().limit(4).build().unwrap();
    /// let squares = g.map(1..=1000_u64, |x| async move { Ok(x * x) }).await?;
    /// assert_eq!(squares.len(), 1000);
    /// assert_eq!(squares[9], 100);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`join`](Self::join).
    ///
    /// # Cancel safety
    /// As [`join`](Self::join): dropping the future cancels and aborts the tasks, and no
    /// further input is taken.
    pub async fn map<I, F, Fut>(self, inputs: I, mut f: F) -> Result<Vec<T>>
    where
        I: IntoIterator,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let Some(limit) = self.shared.limit.clone() else {
            for input in inputs {
                self.spawn(f(input));
            }
            return self.join().await;
        };
        let shared = self.shared.clone();
        let set = &self.set;
        let mut out = Collector::new(sync::lock(&shared.spawns).next);
        let mut inputs = inputs.into_iter();
        let mut more = true;
        // No semaphore waits here: the group's own tasks are the only holders of its
        // permits, so with tasks running a permit comes back when one of them ends, which
        // `join_next` reports anyway; with none running, every permit is free.
        loop {
            more = more && !shared.ctx.is_cancelled();
            if more {
                let permit = if set.is_empty() {
                    Some(limit.clone().acquire_owned().await.expect("never closed"))
                } else {
                    limit.clone().try_acquire_owned().ok()
                };
                if let Some(permit) = permit {
                    match inputs.next() {
                        Some(input) => {
                            let mut spawns = sync::lock(&shared.spawns);
                            spawn_task(set, &mut spawns, &shared, None, Some(permit), f(input));
                        }
                        None => more = false,
                    }
                    continue;
                }
            }
            match set.join_next().await {
                Some(done) => out.accept(done),
                None => break,
            }
        }
        out.finish(&shared)
    }
}

impl<T> Drop for Group<T> {
    /// Cancels the group's context, which stops every task at its next poll (each races its
    /// future against that context) and nested groups and cooperative work too: no task
    /// outlives its group.
    fn drop(&mut self) {
        if !self.set.is_empty() {
            self.shared.ctx.cancel(TaskError::new(Code::CANCELLED, "group dropped"));
        }
        // Outside the lock; dropping a handle neither waits nor aborts.
        let handles = sync::lock(&self.shared.spawns).take_handles();
        drop(handles);
    }
}

/// Gathers task results by index.
struct Collector<T> {
    results: Vec<Option<Result<T>>>,
}

impl<T> Collector<T> {
    fn new(capacity: usize) -> Self {
        let mut results = Vec::new();
        results.resize_with(capacity, || None);
        Self { results }
    }

    fn accept(&mut self, done: Done<T>) {
        let Done { index, result, .. } = done;
        if index >= self.results.len() {
            self.results.resize_with(index + 1, || None);
        }
        self.results[index] = Some(result);
    }

    fn missing(shared: &Shared) -> TaskError {
        TaskError::cancelled(shared.ctx.cause())
    }

    fn finish(self, shared: &Shared) -> Result<Vec<T>> {
        if let Some(failure) = shared.failure.get() {
            return Err(failure);
        }
        self.results.into_iter().map(|r| r.unwrap_or_else(|| Err(Self::missing(shared)))).collect()
    }

    fn all(self, shared: &Shared) -> Vec<Result<T>> {
        self.results.into_iter().map(|r| r.unwrap_or_else(|| Err(Self::missing(shared)))).collect()
    }
}
