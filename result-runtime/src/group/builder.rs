//! [`GroupBuilder`]: a group's options, set before it exists.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::failure::FirstFailure;
use super::task::{Shared, Supervisor};
use super::Group;
use crate::config::ConfigError;
use crate::context::Context;
use crate::error::TaskError;

/// The options of a [`Group`], returned by [`Group::builder`]: every option is set here, so
/// none can change once tasks run, and [`build`](Self::build) refuses a bad setting with a
/// [`ConfigError`] naming it instead of building a group that would hang or panic later.
///
/// The defaults are [`Group::new`]'s: fail-fast, no limit, no deadline, unnamed, a child of
/// the ambient context. A builder is cheap to clone: one configured builder can make many
/// groups (a timeout counts from each `build`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use result_runtime::group::Group;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let g = Group::builder()
///     .name("fetch")
///     .limit(8)
///     .timeout(Duration::from_secs(2))
///     .build()?;
/// for id in 0..20_u64 {
///     g.spawn(async move { Ok(id * 2) });
/// }
/// assert_eq!(g.join().await?.len(), 20);
///
/// let refused = Group::<()>::builder().limit(0).build().unwrap_err();
/// assert_eq!(refused.setting(), "limit");
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct GroupBuilder<T> {
    name: Option<Cow<'static, str>>,
    limit: Option<usize>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    collect_all: bool,
    supervisor: Option<Supervisor>,
    discard: bool,
    parent: Option<Context>,
    /// `fn() -> T`: the builder makes `Group<T>`s and holds no `T` (always `Send + Sync`).
    output: PhantomData<fn() -> T>,
}

impl<T> Clone for GroupBuilder<T> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            limit: self.limit,
            timeout: self.timeout,
            deadline: self.deadline,
            collect_all: self.collect_all,
            supervisor: self.supervisor.clone(),
            discard: self.discard,
            parent: self.parent.clone(),
            output: PhantomData,
        }
    }
}

impl<T> fmt::Debug for GroupBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupBuilder")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("collect_all", &self.collect_all)
            .field("supervisor", &self.supervisor.is_some())
            .field("discard", &self.discard)
            .field("parent", &self.parent)
            .finish()
    }
}

impl<T> GroupBuilder<T> {
    pub(super) fn new() -> Self {
        Self {
            name: None,
            limit: None,
            timeout: None,
            deadline: None,
            collect_all: false,
            supervisor: None,
            discard: false,
            parent: None,
            output: PhantomData,
        }
    }

    /// Names the group: unnamed tasks are called `name[index]` in errors (`group[index]`
    /// without a name).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// At most `n` tasks run at once; the others wait for a slot, in spawn order, inside
    /// their task ([`Group::spawn`] never waits), and stop waiting when the group is
    /// cancelled. [`Group::try_spawn`] refuses work when every slot is busy, and
    /// [`Group::map`] takes its next input only when a slot is free.
    ///
    /// `0` is refused by [`build`](Self::build): such a group could never run a task (Go's
    /// `errgroup.SetLimit(0)` blocks forever).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Every task must finish within `timeout` of [`build`](Self::build); once it passes,
    /// the running tasks are stopped and the group fails with `DeadlineExceeded`. With a
    /// [`deadline`](Self::deadline) too, or a parent context's, the earliest applies.
    ///
    /// A zero timeout is refused by `build` (the group would be over before it started), and
    /// so is one too long to be added to the current instant.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Every task must finish by `deadline` (see [`timeout`](Self::timeout)). A deadline
    /// that has already passed is accepted: the group starts expired, as the request whose
    /// deadline it is.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Collect-all mode: a failure does not cancel the other tasks, and no error is recorded
    /// as the winner. [`Group::join_all`] returns every result; [`Group::join`] returns the
    /// values or the error of the lowest index.
    pub fn collect_all(mut self) -> Self {
        self.collect_all = true;
        self
    }

    /// Supervisor mode (Kotlin's `supervisorScope`): a task's failure does not cancel its
    /// siblings; instead `handler` is called with it, exactly once per failed task, from the
    /// task that failed, as it ends (after the error is named and stamped). `Cancelled`
    /// results are not failures and are not handed over. [`Group::join_supervised`] says
    /// which tasks failed; [`Group::join`] returns the values or the error of the lowest
    /// index, as in collect-all mode.
    ///
    /// The supervisor's own failure policy: its tasks' failures never fail it (nor, through
    /// it, a fail-fast group it runs in: `#[fallible_task]` failures below a supervised task
    /// are ignored, as in collect-all mode). It fails, and stops every task, only when
    /// `handler` panics (the panic becomes the group's `Panicked` failure),
    /// [`Group::cancel`] is called with a non-`Cancelled` error, or its deadline passes.
    /// Nested in a fail-fast group, a supervisor is a child like any group: when the outer
    /// group fails, the supervisor's tasks are stopped (`Cancelled`, not handed to
    /// `handler`); and the outer group fails because of the supervisor only if the task
    /// running it returns an error, e.g. `join_supervised()?` after a handler panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use result_runtime::{group::Group, Code, TaskError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let g = Group::builder()
    ///     .supervise(move |e: &TaskError| log.lock().unwrap().push(e.message().to_string()))
    ///     .build()?;
    /// g.spawn(async { Err(TaskError::new(Code::UNAVAILABLE, "replica down")) });
    /// g.spawn(async { Ok(2) });
    /// let report = g.join_supervised().await?;
    /// assert_eq!(report.values, [(1, 2)]);
    /// assert_eq!(report.failed[0].0, 0);
    /// assert_eq!(*seen.lock().unwrap(), ["replica down"]);
    /// # Ok(()) }
    /// ```
    pub fn supervise(mut self, handler: impl Fn(&TaskError) + Send + Sync + 'static) -> Self {
        self.supervisor = Some(Arc::new(handler));
        self
    }

    /// Discarding mode (Swift's `DiscardingTaskGroup`), for long-lived groups: each task's
    /// output is dropped as the task is reaped, and finished tasks are reaped at every
    /// spawn, so the group holds only the tasks still running (plus those that finished
    /// since the last spawn), however many pass through. Failures still fail the group
    /// fast (or go to the [`supervise`](Self::supervise) handler). [`Group::join`] then
    /// waits for the tasks and returns an empty `Vec` or the group's error, keeping nothing
    /// per task; [`Group::join_all`] returns an empty `Vec`. [`Group::map`] still
    /// collects its values (it returns them), and a [`Group::join_stream`] only sees the
    /// results no spawn has reaped yet: use neither on a discarding group.
    ///
    /// # Examples
    ///
    /// ```
    /// use result_runtime::group::Group;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> result_runtime::Result<()> {
    /// let g = Group::builder().discard_outputs().build()?;
    /// for i in 0..10_000_u64 {
    ///     g.spawn(async move { Ok(i) });
    ///     if i % 100 == 0 {
    ///         tokio::task::yield_now().await;
    ///     }
    /// }
    /// assert!(g.held() < 10_000);
    /// assert!(g.join().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn discard_outputs(mut self) -> Self {
        self.discard = true;
        self
    }

    /// Makes the group's context a child of `parent` instead of the ambient context
    /// ([`Context::current`] when `build` runs): cancelling `parent` cancels the group, and
    /// its deadline bounds the group's.
    pub fn parent(mut self, parent: &Context) -> Self {
        self.parent = Some(parent.clone());
        self
    }

    /// The group, if every setting is valid. Its context is created here: a timeout counts
    /// from now, and the ambient context is read now.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first refused setting:
    /// - `limit`: `0`, or more than tokio's semaphore can count
    ///   ([`Semaphore::MAX_PERMITS`]);
    /// - `timeout`: zero, or so long that now plus it overflows.
    pub fn build(self) -> Result<Group<T>, ConfigError> {
        let limit = match self.limit {
            None => None,
            Some(0) => return Err(ConfigError::zero("limit")),
            Some(n) if n > Semaphore::MAX_PERMITS => {
                return Err(ConfigError::new(
                    "limit",
                    format!("must be at most {}, got {n}", Semaphore::MAX_PERMITS),
                ))
            }
            Some(n) => Some(Arc::new(Semaphore::new(n))),
        };
        let timeout_deadline = match self.timeout {
            None => None,
            Some(Duration::ZERO) => return Err(ConfigError::zero("timeout")),
            Some(timeout) => match Instant::now().checked_add(timeout) {
                Some(deadline) => Some(deadline),
                None => {
                    return Err(ConfigError::new(
                        "timeout",
                        format!("{timeout:?} from now is past the end of time"),
                    ))
                }
            },
        };
        let deadline = match (timeout_deadline, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let parent = self.parent.or_else(Context::current);
        let ctx = match (parent, deadline) {
            (Some(parent), Some(deadline)) => parent.with_deadline(deadline),
            (Some(parent), None) => parent.child(),
            (None, Some(deadline)) => Context::new().with_deadline(deadline),
            (None, None) => Context::new(),
        };
        let shared = Shared {
            soft: ctx.child(),
            ctx,
            failure: FirstFailure::default(),
            limit,
            collect_all: self.collect_all,
            supervisor: self.supervisor,
            discard: self.discard,
            name: self.name,
            created: Instant::now(),
            spawns: super::sync::Mutex::new(super::task::Spawns::default()),
            #[cfg(not(loom))]
            parent_task: super::task::current_task(),
            watch: super::watch::Watch::default(),
        };
        Ok(Group::from_shared(shared))
    }
}
