//! Shared helpers for integration tests.
//!
//! [`Logs`] records every `tracing` event of the thread it is installed on (what a
//! current-thread runtime's servers log, tasks included), and [`counters`] reads a
//! `metrics-util` debugging recorder's counters, so a test can assert on what a real server
//! logged and counted. [`bounded`] caps a test's wait, and [`grpc_frame`] and
//! [`grpc_answer`] speak unary gRPC by hand, for tests whose requests no client would send.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One recorded `tracing` event: its level, message and fields (as text).
#[derive(Clone, Debug)]
pub struct Event {
    /// The event's level.
    pub level: Level,
    /// The event's target (its module path, unless set).
    pub target: String,
    /// The `message` field (empty when the event has none).
    pub message: String,
    /// Every other field, by name, formatted with `Display` for strings and `Debug` otherwise.
    pub fields: BTreeMap<String, String>,
}

impl Event {
    /// The value of field `name`, if the event has it.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A recorder of `tracing` events, installed as the thread's default subscriber by
/// [`Logs::capture`]. Clones share the record.
#[derive(Clone, Debug, Default)]
pub struct Logs(Arc<Mutex<Vec<Event>>>);

impl Logs {
    /// Records every event (every level) of this thread until the guard is dropped. On a
    /// current-thread runtime that is everything its tasks log.
    #[must_use]
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::registry().with(logs.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    /// The events recorded so far that `keep` selects.
    #[must_use]
    pub fn events(&self, keep: impl Fn(&Event) -> bool) -> Vec<Event> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| keep(e))
            .cloned()
            .collect()
    }

    /// Every event recorded so far, one a line: for failure messages.
    #[must_use]
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for e in self.0.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "{} {} {:?} {:?}", e.level, e.target, e.message, e.fields);
        }
        out
    }
}

struct Fields<'a>(&'a mut Event);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.0.message = value;
        } else {
            self.0.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for Logs {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut record = Event {
            level: *meta.level(),
            target: meta.target().to_owned(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut record));
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(record);
    }
}

/// The counters of a debugging recorder's snapshot, keyed `"name label=value,..."` (labels
/// in the order they were recorded with).
#[must_use]
pub fn counters(snapshotter: &metrics_util::debugging::Snapshotter) -> BTreeMap<String, u64> {
    use metrics_util::debugging::DebugValue;
    let mut out = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let key = key.key();
            let labels: Vec<String> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            out.insert(format!("{} {}", key.name(), labels.join(",")), n);
        }
    }
    out
}

/// Runs `fut`, failing the test if it takes over two minutes: a test that hangs says so.
///
/// # Panics
/// When `fut` has not finished in time.
pub async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(120), fut).await.expect("the test hung")
}

/// One unary gRPC message as it goes on the wire: the 5-byte header (uncompressed, length)
/// and the protobuf bytes.
///
/// # Panics
/// For a message over 4 GiB.
#[must_use]
pub fn grpc_frame(message: &impl prost::Message) -> Vec<u8> {
    let payload = message.encode_to_vec();
    let mut frame = vec![0_u8];
    frame.extend_from_slice(&u32::try_from(payload.len()).expect("under 4 GiB").to_be_bytes());
    frame.extend_from_slice(&payload);
    frame
}

/// A gRPC answer's headers with its trailers folded in: where the status is, whether the
/// answer was trailers-only or came with a message.
///
/// # Panics
/// When the body fails to arrive.
pub async fn grpc_answer<B>(response: http::Response<B>) -> http::HeaderMap
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt as _;
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.expect("the answer's body");
    let mut headers = parts.headers;
    if let Some(trailers) = collected.trailers() {
        headers.extend(trailers.clone());
    }
    headers
}
