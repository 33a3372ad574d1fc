//! What a supervisor group and a shutdown report.

use crate::error::{Result, TaskError};

/// The result of [`Group::join_supervised`](super::Group::join_supervised): every task is
/// in exactly one of the three lists, each sorted by task index (spawn order).
///
/// # Examples
///
/// See [`GroupBuilder::supervise`](super::GroupBuilder::supervise).
#[derive(Debug)]
#[non_exhaustive]
pub struct Supervised<T> {
    /// The tasks that produced a value: `(index, value)`.
    pub values: Vec<(usize, T)>,
    /// The tasks that failed: `(index, error)`, the error as the handler saw it (named
    /// after the task, stamped with its trace id).
    pub failed: Vec<(usize, TaskError)>,
    /// The tasks stopped by the group's cancellation (its parent, [`Group::cancel`] with a
    /// `Cancelled` error, a shutdown) or that returned `Cancelled`: not failures.
    ///
    /// [`Group::cancel`]: super::Group::cancel
    pub cancelled: Vec<usize>,
}

impl<T> Supervised<T> {
    /// Whether no task failed.
    #[must_use]
    pub fn all_ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// The indices of the tasks that failed.
    pub fn failed_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.failed.iter().map(|(i, _)| *i)
    }
}

/// What [`Group::shutdown`](super::Group::shutdown) did: every task is in exactly one of the
/// two lists, each sorted by task index.
///
/// # Examples
///
/// See [`Group::shutdown`](super::Group::shutdown).
#[derive(Debug)]
#[non_exhaustive]
pub struct ShutdownReport<T> {
    /// The tasks that ended by themselves (before the shutdown, or during the grace, e.g.
    /// after their cleanup): `(index, result)`.
    pub finished: Vec<(usize, Result<T>)>,
    /// The tasks dropped by the group's context: still running when the grace ran out, or
    /// stopped meanwhile by a failure of the group.
    pub aborted: Vec<usize>,
}

impl<T> ShutdownReport<T> {
    /// Whether every task ended by itself within the grace.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.aborted.is_empty()
    }
}
