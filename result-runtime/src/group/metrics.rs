//! What groups record through the `metrics` facade (feature `metrics`, which `tower`, `grpc`
//! and `http` turn on); without the feature nothing is recorded and nothing is paid.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `group_tasks_spawned_total` | counter | `group` (the group's name, `anonymous` without one) |
//! | `group_tasks_finished_total` | counter | `group`, `outcome` = `ok` / `failed` / `cancelled` / `panicked` / `deadline_exceeded` |
//!
//! A task aborted before it ends (its group was dropped, or cancelled it at an await) is
//! spawned but never finished. Name groups with a few fixed names: the name is a label.

use std::borrow::Cow;

use crate::Result;

#[cfg(feature = "metrics")]
#[inline]
pub(super) fn spawned(group: Option<&Cow<'static, str>>) {
    metrics::counter!("group_tasks_spawned_total", "group" => label(group)).increment(1);
}

#[cfg(feature = "metrics")]
#[inline]
pub(super) fn finished<T>(group: Option<&Cow<'static, str>>, result: &Result<T>) {
    use crate::ErrorKind;
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => match e.kind() {
            ErrorKind::Failed => "failed",
            ErrorKind::Panicked => "panicked",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
        },
    };
    metrics::counter!("group_tasks_finished_total", "group" => label(group), "outcome" => outcome)
        .increment(1);
}

#[cfg(feature = "metrics")]
fn label(group: Option<&Cow<'static, str>>) -> Cow<'static, str> {
    group.cloned().unwrap_or(Cow::Borrowed("anonymous"))
}

#[cfg(not(feature = "metrics"))]
#[inline]
pub(super) fn spawned(_: Option<&Cow<'static, str>>) {}

#[cfg(not(feature = "metrics"))]
#[inline]
pub(super) fn finished<T>(_: Option<&Cow<'static, str>>, _: &Result<T>) {}
