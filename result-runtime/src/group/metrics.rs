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
    increment(group, SPAWNED);
}

#[cfg(feature = "metrics")]
#[inline]
pub(super) fn finished<T>(group: Option<&Cow<'static, str>>, result: &Result<T>) {
    use crate::ErrorKind;
    let outcome = match result {
        Ok(_) => Outcome::Ok,
        Err(e) => match e.kind() {
            ErrorKind::Failed => Outcome::Failed,
            ErrorKind::Panicked => Outcome::Panicked,
            ErrorKind::Cancelled => Outcome::Cancelled,
            ErrorKind::DeadlineExceeded => Outcome::DeadlineExceeded,
        },
    };
    increment(group, outcome.key());
}

/// The `outcome` label of `group_tasks_finished_total`.
#[cfg(feature = "metrics")]
#[derive(Clone, Copy)]
enum Outcome {
    Ok,
    Failed,
    Panicked,
    Cancelled,
    DeadlineExceeded,
}

/// A group's keys: `group_tasks_spawned_total` first, then the finished ones by outcome.
#[cfg(feature = "metrics")]
const SPAWNED: usize = 0;

#[cfg(feature = "metrics")]
impl Outcome {
    const ALL: [Self; 5] =
        [Self::Ok, Self::Failed, Self::Panicked, Self::Cancelled, Self::DeadlineExceeded];

    const fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Panicked => "panicked",
            Self::Cancelled => "cancelled",
            Self::DeadlineExceeded => "deadline_exceeded",
        }
    }

    /// Its key's index among a group's keys.
    const fn key(self) -> usize {
        1 + self as usize
    }
}

/// Group names whose keys a thread keeps: services use a handful; past this many, a name's
/// keys are built on each call, as the `metrics` macros would.
#[cfg(feature = "metrics")]
const NAMES_PER_THREAD: usize = 64;

/// Counts one event for `group`, with the keys this thread keeps for its name.
///
/// Each key is built once per thread and name, with its labels in one shared allocation: the
/// `metrics` macros build a key on every call, and a recorder that retains it (the Prometheus
/// exporter does, in every `register_*`) copied its labels into a new allocation, twice per
/// task (spawned, finished). Only keys are kept, never handles: every call still asks the
/// current recorder, so a local recorder (or a global one installed later) sees every event.
#[cfg(feature = "metrics")]
fn increment(group: Option<&Cow<'static, str>>, which: usize) {
    use std::cell::RefCell;

    use metrics::Key;

    type Keys = [Key; 6];
    thread_local! {
        static KEYS: RefCell<Vec<(Cow<'static, str>, Keys)>> = const { RefCell::new(Vec::new()) };
    }
    static METADATA: metrics::Metadata<'static> =
        metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

    let name = group.map_or("anonymous", |g| g.as_ref());
    let keys = |name: &str| -> Keys {
        let key = |metric: &'static str, outcome: Option<&'static str>| {
            let mut labels = vec![metrics::Label::new("group", name.to_owned())];
            labels.extend(outcome.map(|o| metrics::Label::new("outcome", o)));
            Key::from_parts(metric, labels).to_retained()
        };
        // `ALL` is in declaration order, so each lands at its `Outcome::key`.
        let [ok, failed, panicked, cancelled, deadline] =
            Outcome::ALL.map(|o| key("group_tasks_finished_total", Some(o.label())));
        [key("group_tasks_spawned_total", None), ok, failed, panicked, cancelled, deadline]
    };
    let count = |key: &Key| {
        metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(1));
    };
    KEYS.with(|kept| {
        let mut kept = kept.borrow_mut();
        if let Some((_, keys)) = kept.iter().find(|(n, _)| n == name) {
            return count(&keys[which]);
        }
        let made = keys(name);
        count(&made[which]);
        if kept.len() < NAMES_PER_THREAD {
            let name = group.cloned().unwrap_or(Cow::Borrowed("anonymous"));
            kept.push((name, made));
        }
    });
}

#[cfg(not(feature = "metrics"))]
#[inline]
pub(super) fn spawned(_: Option<&Cow<'static, str>>) {}

#[cfg(not(feature = "metrics"))]
#[inline]
pub(super) fn finished<T>(_: Option<&Cow<'static, str>>, _: &Result<T>) {}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use metrics_util::debugging::DebuggingRecorder;

    use crate::group::Group;
    use crate::recorded::series;
    use crate::{Code, TaskError};

    /// Runs a group named `name` (none: anonymous) whose tasks end ok, failed and panicked,
    /// under a local recorder; the series it recorded.
    fn outcomes(name: Option<String>) -> std::collections::BTreeMap<String, u64> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                let mut group = Group::<u32>::builder().collect_all();
                if let Some(name) = name {
                    group = group.name(name);
                }
                let group = group.build().unwrap();
                group.spawn(async { Ok(1) });
                group.spawn(async { Ok(2) });
                group.spawn(async { Err(TaskError::new(Code::UNAVAILABLE, "down")) });
                group.spawn(async { panic!("boom") });
                drop(group.join_all().await);
            });
        });
        series(&snapshotter)
    }

    #[test]
    fn every_task_is_counted_once_spawned_and_once_by_its_outcome() {
        // Twice on one thread: the second run reads the keys the first one kept.
        for _ in 0..2 {
            let got = outcomes(Some("lines".into()));
            let want = [
                ("group_tasks_finished_total{group=lines,outcome=failed}", 1),
                ("group_tasks_finished_total{group=lines,outcome=ok}", 2),
                ("group_tasks_finished_total{group=lines,outcome=panicked}", 1),
                ("group_tasks_spawned_total{group=lines}", 4),
            ];
            assert_eq!(got.into_iter().collect::<Vec<_>>(), want.map(|(k, v)| (k.to_owned(), v)));
        }
        let anonymous = outcomes(None);
        assert_eq!(anonymous.get("group_tasks_spawned_total{group=anonymous}"), Some(&4));
    }

    #[test]
    fn names_past_the_kept_ones_are_still_counted_right() {
        std::thread::spawn(|| {
            for i in 0..super::NAMES_PER_THREAD + 3 {
                let name = format!("g{i}");
                let got = outcomes(Some(name.clone()));
                assert_eq!(
                    got.get(&format!("group_tasks_spawned_total{{group={name}}}")),
                    Some(&4)
                );
                let ok = format!("group_tasks_finished_total{{group={name},outcome=ok}}");
                assert_eq!(got.get(&ok), Some(&2), "{name}");
            }
        })
        .join()
        .unwrap();
    }
}
