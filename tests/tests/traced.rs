//! Behaviour of `#[traced]`, alone and combined with `#[fallible_task]`.

use std::sync::{Arc, Mutex};

use result_runtime::trace::TraceContext;
use result_runtime::{fallible_task, traced, Code, Result, TaskError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records span names with their fields, and events' fields, as text.
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    max_level: Option<tracing::Level>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.max_level.is_none_or(|max| *metadata.level() <= max)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut f = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut f);
        let mut lines = self.lines.lock().unwrap();
        lines.push(f.0);
        Id::from_u64(lines.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(format!("event {}", event.metadata().level()));
        event.record(&mut f);
        self.lines.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

#[traced]
async fn lookup(user: u32, #[allow(unused)] secret: &str) -> Result<Option<TraceContext>> {
    if user == 0 {
        return Err(TaskError::new(Code::NOT_FOUND, "no user 0"));
    }
    Ok(TraceContext::current())
}

#[traced(name = "sync-work", level = "debug", skip(password), fields(kind = "sync"))]
fn sync_work(user: u32, password: &str) -> Result<(u32, Option<TraceContext>)> {
    assert!(!password.is_empty());
    Ok((user, TraceContext::current()))
}

#[traced(skip_all, err, ret)]
async fn reports(fail: bool) -> Result<u8> {
    if fail {
        Err(TaskError::new(Code::UNAVAILABLE, "down"))
    } else {
        Ok(7)
    }
}

#[fallible_task]
#[traced]
async fn task_then_traced(fail: bool) -> std::result::Result<TraceContext, std::io::Error> {
    if fail {
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"));
    }
    Ok(TraceContext::current().unwrap())
}

#[traced]
#[fallible_task]
async fn traced_then_task(fail: bool) -> std::result::Result<TraceContext, std::io::Error> {
    if fail {
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"));
    }
    Ok(TraceContext::current().unwrap())
}

#[tokio::test]
async fn runs_in_a_child_of_the_current_trace_or_a_new_root() {
    let root = TraceContext::new_root();
    let seen = root.scope(lookup(1, "s")).await.unwrap().unwrap();
    assert_eq!(seen.trace_id, root.trace_id);
    assert_ne!(seen.span_id, root.span_id);

    let a = lookup(1, "s").await.unwrap().unwrap();
    let b = lookup(1, "s").await.unwrap().unwrap();
    assert_ne!(a.trace_id, b.trace_id, "each call without a trace starts a new root");
    assert_eq!(TraceContext::current(), None);
}

#[tokio::test]
async fn errors_leave_stamped_with_the_trace_id() {
    let root = TraceContext::new_root();
    let err = root.scope(lookup(0, "s")).await.unwrap_err();
    assert_eq!(err.trace_id(), Some(root.trace_id));
    assert!(lookup(0, "s").await.unwrap_err().trace_id().is_some());
}

#[test]
fn sync_fns_run_in_a_child_context_and_a_span_with_the_ids() {
    let rec = Recorder::default();
    let root = TraceContext::new_root();
    let (user, seen) = tracing::subscriber::with_default(rec.clone(), || {
        root.sync_scope(|| sync_work(5, "hunter2")).unwrap()
    });
    let seen = seen.unwrap();
    assert_eq!((user, seen.trace_id), (5, root.trace_id));
    assert_eq!(
        rec.lines(),
        [format!(
            "span sync-work trace_id={} span_id={} user=5 kind=sync",
            seen.trace_id, seen.span_id
        )]
    );
}

#[test]
fn no_span_is_built_when_the_level_is_disabled() {
    let rec = Recorder { max_level: Some(tracing::Level::INFO), ..Recorder::default() };
    let out = tracing::subscriber::with_default(rec.clone(), || sync_work(1, "pw")).unwrap();
    // The trace context still exists; only the (debug) span is skipped.
    assert!(out.1.is_some());
    assert!(rec.lines().is_empty(), "{:?}", rec.lines());
}

#[test]
fn err_and_ret_record_events_inside_the_span() {
    let rec = Recorder::default();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    tracing::subscriber::with_default(rec.clone(), || {
        rt.block_on(async {
            reports(false).await.unwrap();
            reports(true).await.unwrap_err();
        });
    });
    let lines = rec.lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].starts_with("span reports trace_id="), "{lines:?}");
    assert!(!lines[0].contains("fail="), "skip_all records no argument: {lines:?}");
    assert_eq!(lines[1], "event INFO return=7");
    assert_eq!(lines[3], "event ERROR error=UNAVAILABLE: down");
}

#[tokio::test]
async fn composes_with_fallible_task_in_either_order() {
    let root = TraceContext::new_root();
    for fail in [false, true] {
        let a = root.scope(task_then_traced(fail)).await;
        let b = root.scope(traced_then_task(fail)).await;
        for (out, name) in [(a, "traced::task_then_traced"), (b, "traced::traced_then_task")] {
            match out {
                Ok(seen) => {
                    assert_eq!(seen.trace_id, root.trace_id);
                    assert_ne!(seen.span_id, root.span_id, "{name} runs in a child span");
                }
                Err(e) => {
                    assert_eq!(e.code(), Code::UNAVAILABLE, "io classification kept");
                    assert_eq!(e.task(), Some(name));
                    assert_eq!(e.trace_id(), Some(root.trace_id));
                }
            }
        }
    }
    // Without an ambient trace the error carries the trace the traced scope started.
    assert!(traced_then_task(true).await.unwrap_err().trace_id().is_some());
    assert!(task_then_traced(true).await.unwrap_err().trace_id().is_some());
}
