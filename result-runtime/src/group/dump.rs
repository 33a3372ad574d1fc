//! [`dump`]: a snapshot of every live group and task in the process, as a tree.
//!
//! Cheap when nobody asks: a group registers a weak reference to itself once, when it is
//! built; each new chunk of task slots (one per `CHUNK` spawns) adds a weak reference to
//! itself to its group's list under the spawn lock the spawn takes anyway (for the task's
//! index), so the list adds no lock and no atomic read-modify-write of its own to the spawn
//! path; the tasks never touch it, and only `dump` reads it. The
//! walk, the locks it takes and every allocation of the snapshot happen in `dump`.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::handle::{Slot, Slots};
use super::task::Shared;
use crate::trace::TraceId;

/// Every group built in the process and not yet dropped, in build order.
static GROUPS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Registers a new group (at `build`), pruning the dropped ones once the list has doubled.
pub(super) fn register(shared: &Arc<Shared>) {
    let mut groups = GROUPS.lock().unwrap_or_else(PoisonError::into_inner);
    if groups.len() == groups.capacity() && groups.len() >= 16 {
        groups.retain(|g| g.strong_count() > 0);
    }
    groups.push(Arc::downgrade(shared));
}

/// What a live task is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Its future is being run.
    Running,
    /// Queued behind the group's [`limit`](super::GroupBuilder::limit).
    WaitingForSlot,
    /// Its group was cancelled or is shutting down, and it has not ended yet (cleaning up,
    /// or about to be dropped at its next `.await`).
    Cancelling,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::WaitingForSlot => "waiting for a slot",
            Self::Cancelling => "cancelling",
        })
    }
}

/// One live group in a [`TaskTree`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GroupSnapshot {
    /// The group's [`name`](super::GroupBuilder::name).
    pub name: Option<String>,
    /// `fail-fast`, `collect-all`, `supervisor`, with `, discarding` when it discards.
    pub mode: String,
    /// Time since the group was built.
    pub age: Duration,
    /// Whether the group's context is cancelled (a failure, its parent, a deadline).
    pub cancelled: bool,
    /// Its live tasks, in spawn order.
    pub tasks: Vec<TaskSnapshot>,
}

/// One live task in a [`TaskTree`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskSnapshot {
    /// Its index in its group.
    pub index: usize,
    /// Its name: the one given to `spawn_named`, or `group[index]`.
    pub name: String,
    /// What it is doing.
    pub state: TaskState,
    /// Time since it was spawned.
    pub age: Duration,
    /// The trace it was spawned in.
    pub trace_id: Option<TraceId>,
    /// The live groups built inside it.
    pub groups: Vec<GroupSnapshot>,
}

/// A snapshot of every live group and task in the process, returned by [`dump`]: the root
/// groups (built outside any group task), each with its tasks and the groups built inside
/// them. `Display` renders an indented tree, one line per group and task:
///
/// ```text
/// group checkout (fail-fast, age 2s)
///   checkout[0] running, age 2s, trace 4bf92f3577b34da6a3ce929d0e0e4736
///     group fan-out (fail-fast, age 1.5s)
///       fan-out[0] waiting for a slot, age 1.5s
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TaskTree {
    /// The root groups, in build order.
    pub groups: Vec<GroupSnapshot>,
}

impl TaskTree {
    /// How many live tasks the snapshot holds, at every depth.
    #[must_use]
    pub fn task_count(&self) -> usize {
        fn count(groups: &[GroupSnapshot]) -> usize {
            groups.iter().flat_map(|g| &g.tasks).map(|t| 1 + count(&t.groups)).sum()
        }
        count(&self.groups)
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn group(f: &mut fmt::Formatter<'_>, g: &GroupSnapshot, depth: usize) -> fmt::Result {
            let pad = "  ".repeat(depth);
            let name = g.name.as_deref().unwrap_or("(unnamed)");
            let cancelled = if g.cancelled { ", cancelled" } else { "" };
            writeln!(f, "{pad}group {name} ({}{cancelled}, age {:?})", g.mode, g.age)?;
            for t in &g.tasks {
                write!(f, "{pad}  {} {}, age {:?}", t.name, t.state, t.age)?;
                if let Some(trace) = t.trace_id {
                    write!(f, ", trace {trace}")?;
                }
                writeln!(f)?;
                for inner in &t.groups {
                    group(f, inner, depth + 2)?;
                }
            }
            Ok(())
        }
        if self.groups.is_empty() {
            return writeln!(f, "(no live groups)");
        }
        for g in &self.groups {
            group(f, g, 0)?;
        }
        Ok(())
    }
}

/// A snapshot of every live [`Group`](super::Group) and task in the process, as a tree of
/// nested groups: names, trace ids, states (running, waiting for a slot, cancelling) and
/// ages. Print it (`Display` is an indented tree) or walk it.
///
/// To serve it (the examples' `/debug/tasks`), answer `GET /debug/tasks` with
/// `result_runtime::group::dump().to_string()` as `text/plain; charset=utf-8`.
///
/// It costs nothing until called: a call locks the registry and each group's spawn lock
/// briefly (a spawn into that group waits meanwhile), and allocates the snapshot. A task
/// that ended between two reads may be missing; a group is listed under the task it was
/// built in while that task lives, and as a root otherwise.
///
/// # Examples
///
/// ```
/// use result_runtime::group::{self, Group};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> result_runtime::Result<()> {
/// let g = Group::<()>::builder().name("doc-dump").build()?;
/// g.spawn_named("forever", std::future::pending());
/// let tree = group::dump();
/// assert!(tree.to_string().contains("group doc-dump (fail-fast, age 0ns)\n  forever running, age 0ns\n"));
/// # Ok(()) }
/// ```
#[must_use]
pub fn dump() -> TaskTree {
    let groups: Vec<Arc<Shared>> = GROUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let now = Instant::now();
    // Every group with the task it was built in (if that task is still alive).
    let parents: Vec<Option<(Arc<Slots>, usize)>> = groups
        .iter()
        .map(|g| {
            let (chunk, index) = g.parent_task.as_ref()?;
            Some((chunk.upgrade()?, *index)).filter(|(c, i)| !ended(c.slot(*i)))
        })
        .collect();
    let roots = (0..groups.len()).filter(|&i| parents[i].is_none());
    TaskTree { groups: roots.map(|i| snapshot(i, &groups, &parents, now)).collect() }
}

/// Ended, or never taken.
fn ended(slot: &Slot) -> bool {
    !slot.taken() || slot.ended()
}

fn snapshot(
    at: usize,
    groups: &[Arc<Shared>],
    parents: &[Option<(Arc<Slots>, usize)>],
    now: Instant,
) -> GroupSnapshot {
    let g = &groups[at];
    let cancelled = g.ctx.is_cancelled();
    let stopping = g.soft.is_cancelled();
    let chunks: Vec<Arc<Slots>> = g
        .spawns
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .live
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let tasks = chunks
        .iter()
        .flat_map(|chunk| chunk.iter().map(move |(index, slot)| (chunk, index, slot)))
        .filter(|(_, _, slot)| !ended(slot))
        .map(|(chunk, index, slot)| {
            let name = slot.name().as_deref().map(str::to_owned);
            let spawned = g.created + Duration::from_nanos(slot.spawned());
            let trace_id = slot.trace().map(|t| t.trace_id);
            let state = if stopping {
                TaskState::Cancelling
            } else if slot.waiting.load(Ordering::Relaxed) {
                TaskState::WaitingForSlot
            } else {
                TaskState::Running
            };
            let name = name
                .unwrap_or_else(|| format!("{}[{index}]", g.name.as_deref().unwrap_or("group")));
            let children = (0..groups.len())
                .filter(|&i| {
                    parents[i].as_ref().is_some_and(|(c, at)| Arc::ptr_eq(c, chunk) && *at == index)
                })
                .map(|i| snapshot(i, groups, parents, now))
                .collect();
            TaskSnapshot {
                index,
                name,
                state,
                age: now.saturating_duration_since(spawned),
                trace_id,
                groups: children,
            }
        })
        .collect();
    let mode = if g.supervisor.is_some() {
        "supervisor"
    } else if g.collect_all {
        "collect-all"
    } else {
        "fail-fast"
    };
    GroupSnapshot {
        name: g.name.as_deref().map(str::to_owned),
        mode: if g.discard { format!("{mode}, discarding") } else { mode.to_owned() },
        age: now.saturating_duration_since(g.created),
        cancelled,
        tasks,
    }
}
