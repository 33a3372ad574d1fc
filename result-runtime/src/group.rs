//! (work in progress)

use crate::error::TaskError;

/// Records `error` as the failure of the group the current task runs in, and cancels it.
pub(crate) fn fail_ambient(_error: &TaskError) {}
