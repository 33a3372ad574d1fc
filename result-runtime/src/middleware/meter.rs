//! What the layers record through the `metrics` facade, in one place. The names follow
//! Prometheus conventions (base units, `_total` counters, `_seconds` histograms; see the
//! constants in [the module](super)); the label sets stay bounded whatever a client sends:
//! no trace ids, and a call the server did not route (an unknown gRPC method, an unmatched
//! HTTP path) is recorded under `unknown`, not under the path the client made up.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Key, Label, SharedString};

/// The kept keys' maps: looked up on every call with a path as the key, where SipHash was
/// most of the lookup. A map holds at most [`SHARED_PER_THREAD`] entries, so a client making
/// up colliding paths cannot make it slow.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use super::{
    GRPC_CLIENT_CALLS, GRPC_CLIENT_DURATION, GRPC_CLIENT_IN_FLIGHT, GRPC_SERVER_CALLS,
    GRPC_SERVER_DURATION, GRPC_SERVER_IN_FLIGHT, HTTP_CLIENT_DURATION, HTTP_CLIENT_IN_FLIGHT,
    HTTP_CLIENT_REQUESTS, HTTP_SERVER_DURATION, HTTP_SERVER_IN_FLIGHT, HTTP_SERVER_REQUESTS,
};

/// Which side of which protocol a call was on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "grpc", feature = "http")), allow(dead_code))]
pub(crate) enum Side {
    GrpcServer,
    GrpcClient,
    HttpServer,
    HttpClient,
}

impl Side {
    const fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::GrpcServer => (GRPC_SERVER_CALLS, GRPC_SERVER_DURATION, GRPC_SERVER_IN_FLIGHT),
            Self::GrpcClient => (GRPC_CLIENT_CALLS, GRPC_CLIENT_DURATION, GRPC_CLIENT_IN_FLIGHT),
            Self::HttpServer => (HTTP_SERVER_REQUESTS, HTTP_SERVER_DURATION, HTTP_SERVER_IN_FLIGHT),
            Self::HttpClient => (HTTP_CLIENT_REQUESTS, HTTP_CLIENT_DURATION, HTTP_CLIENT_IN_FLIGHT),
        }
    }
}

/// The `service` and `method` labels of a gRPC path `/package.Service/Method`; anything
/// else is `unknown`.
pub(crate) fn grpc_labels(path: &str) -> Vec<Label> {
    let mut parts = path.strip_prefix('/').unwrap_or("").splitn(2, '/');
    let (service, method) = match (parts.next(), parts.next()) {
        (Some(s), Some(m)) if !s.is_empty() && !m.is_empty() && !m.contains('/') => (s, m),
        _ => ("unknown", "unknown"),
    };
    labels([Label::new("service", shared(service)), Label::new("method", shared(method))])
}

/// A call's two labels, with room for the `code` and `status` its counter adds.
fn labels(two: [Label; 2]) -> Vec<Label> {
    let mut labels = Vec::with_capacity(4);
    labels.extend(two);
    labels
}

/// `value` as a label value that the facade clones by reference count. Each call's labels
/// are copied into every key the facade builds (four per call); as owned strings that was a
/// third of the server layer's cost. Kept per thread (no lock on the call path), at most
/// [`SHARED_PER_THREAD`] values each: past that, values are plain copies again, so values
/// a client makes up cannot grow it.
fn shared(value: &str) -> SharedString {
    thread_local! {
        static SEEN: RefCell<HashMap<Box<str>, Arc<str>>> = RefCell::new(HashMap::default());
    }
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some(v) = seen.get(value) {
            return SharedString::from(Arc::clone(v));
        }
        let v: Arc<str> = Arc::from(value);
        if seen.len() < SHARED_PER_THREAD {
            seen.insert(value.into(), Arc::clone(&v));
        }
        SharedString::from(v)
    })
}

/// How many label values each thread keeps shared.
const SHARED_PER_THREAD: usize = 1024;

/// The labels of an HTTP call: `method` (one of the standard methods, else `other`) and
/// `name` (the server's route, or the client's peer).
fn http_labels(method: &str, name: &'static str, value: &str) -> Vec<Label> {
    labels([Label::new("method", http_method(method)), Label::new(name, shared(value))])
}

/// `method` if it is one of the standard methods, else `other`.
fn http_method(method: &str) -> &'static str {
    const STANDARD: [&str; 9] =
        ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    STANDARD.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// How many calls-counter keys a route keeps (one per code and status seen): a bound on
/// what a handler's odd statuses can make it keep; past it, a call builds its key itself.
const CALL_KEYS_PER_ROUTE: usize = 64;

/// A route's metric keys (a gRPC method, an HTTP server route or client peer), built once
/// per thread and route and kept: building a `Key` copies its labels into a new `Vec` and
/// hashes them, and a call records four metrics, so per call that was most of the metrics'
/// cost (allocations included). Only keys are kept, never handles: every call still asks
/// the current recorder (a local one in tests, the global one once installed), exactly as
/// the macros do.
pub(crate) struct Route {
    /// The path, shared with the call's log event (no `String` per call).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))] // the client layer logs no path
    path: Arc<str>,
    labels: [Label; 2],
    in_flight: Key,
    duration: Key,
    /// The calls counter's key for each code (and HTTP status) seen so far, at most
    /// [`CALL_KEYS_PER_ROUTE`]. A lock, not a per-thread copy, because a call may finish on
    /// another worker than the one it started on; it is uncontended unless two workers
    /// finish the same route at once.
    calls: Mutex<Vec<(&'static str, Option<u16>, Key)>>,
}

impl Route {
    fn new(side: Side, path: &str, labels: &[Label]) -> Self {
        let labels = [labels[0].clone(), labels[1].clone()];
        let (_, duration, in_flight) = side.names();
        Self {
            path: Arc::from(path),
            in_flight: retained(in_flight, labels.to_vec()),
            duration: retained(duration, labels.to_vec()),
            labels,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The route `path` (under HTTP `method`; `""` for gRPC) for `side`: this thread's kept
    /// one, or a new one with `labels` kept while the thread keeps fewer than
    /// [`SHARED_PER_THREAD`] for that side and method (so paths a client makes up cannot
    /// grow it); `None` past that, and the call builds its keys itself.
    fn get(
        side: Side,
        method: &'static str,
        path: &str,
        labels: impl FnOnce() -> Vec<Label>,
    ) -> Option<Arc<Self>> {
        type Routes = HashMap<Box<str>, Arc<Route>>;
        thread_local! {
            // By side and method: a handful of maps, each bounded.
            static ROUTES: RefCell<Vec<(Side, &'static str, Routes)>> =
                const { RefCell::new(Vec::new()) };
        }
        ROUTES.with(|all| {
            let mut all = all.borrow_mut();
            let index = match all.iter().position(|(s, m, _)| *s == side && *m == method) {
                Some(index) => index,
                None => {
                    all.push((side, method, HashMap::default()));
                    all.len() - 1
                }
            };
            let routes = &mut all[index].2;
            if let Some(route) = routes.get(path) {
                return Some(Arc::clone(route));
            }
            (routes.len() < SHARED_PER_THREAD).then(|| {
                let route = Arc::new(Self::new(side, path, &labels()));
                routes.insert(path.into(), Arc::clone(&route));
                route
            })
        })
    }

    fn record_call(
        &self,
        recorder: &dyn metrics::Recorder,
        calls: &'static str,
        code: &'static str,
        status: Option<u16>,
    ) {
        let build = || {
            let mut labels = self.labels.to_vec();
            labels.push(Label::new("code", code));
            if let Some(status) = status {
                labels.push(Label::new("status", status_label(status)));
            }
            retained(calls, labels)
        };
        let mut keys = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = match keys.iter().position(|(c, s, _)| *c == code && *s == status) {
            Some(index) => index,
            None if keys.len() < CALL_KEYS_PER_ROUTE => {
                keys.push((code, status, build()));
                keys.len() - 1
            }
            None => {
                drop(keys);
                recorder.register_counter(&build(), &METADATA).increment(1);
                return;
            }
        };
        recorder.register_counter(&keys[index].2, &METADATA).increment(1);
    }
}

/// An HTTP status as its `status` label value: http's own table of status texts, no
/// formatting per call.
/// A key whose labels are one shared allocation: a recorder that retains the key it is
/// given on every call (the Prometheus exporter calls `Key::to_retained` in every
/// `register_*`) then clones a reference count, where a key with a `Vec` of labels made it
/// copy them into a new allocation, once per metric per call.
fn retained(name: &'static str, labels: Vec<Label>) -> Key {
    Key::from_parts(name, labels).to_retained()
}

fn status_label(status: u16) -> SharedString {
    http::StatusCode::from_u16(status).map_or_else(|_| shared("other"), |s| shared(s.as_str()))
}

/// What the `metrics` macros would give each of this module's metrics.
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// A call's labels: a kept gRPC route's keys, or labels to build keys from.
enum Labels {
    Route(Arc<Route>),
    Built(Vec<Label>),
}

/// One call in flight: counted in the in-flight gauge until it is finished or dropped.
pub(crate) struct Meter {
    side: Side,
    labels: Labels,
    // The gauge the call went up in, from the recorder current at its start: it comes down in
    // the same one (also when the call ends on a thread with another local recorder), and
    // registering once per call instead of twice halves what the gauge costs.
    in_flight: metrics::Gauge,
    finished: bool,
}

impl Meter {
    pub(crate) fn start(side: Side, labels: Vec<Label>) -> Self {
        let in_flight = metrics::gauge!(side.names().2, labels.iter());
        in_flight.increment(1.0);
        Self { side, labels: Labels::Built(labels), in_flight, finished: false }
    }

    /// [`start`](Self::start) for a gRPC call to `path`, with its route's kept keys.
    pub(crate) fn grpc(side: Side, path: &str) -> Self {
        let labels = || grpc_labels(path);
        Self::route(side, Route::get(side, "", path, labels), labels)
    }

    /// [`start`](Self::start) for an HTTP call, with its route's kept keys: `name` is the
    /// label (`route` or `peer`) that `value` is recorded under.
    pub(crate) fn http(side: Side, method: &str, name: &'static str, value: &str) -> Self {
        let labels = || http_labels(method, name, value);
        Self::route(side, Route::get(side, http_method(method), value, labels), labels)
    }

    fn route(side: Side, route: Option<Arc<Route>>, labels: impl FnOnce() -> Vec<Label>) -> Self {
        match route {
            Some(route) => {
                let in_flight =
                    metrics::with_recorder(|r| r.register_gauge(&route.in_flight, &METADATA));
                in_flight.increment(1.0);
                Self { side, labels: Labels::Route(route), in_flight, finished: false }
            }
            None => Self::start(side, labels()),
        }
    }

    /// The gRPC path, when the route is a kept one.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))] // for the server layer's log only
    pub(crate) fn path(&self) -> Option<&Arc<str>> {
        match &self.labels {
            Labels::Route(route) => Some(&route.path),
            Labels::Built(_) => None,
        }
    }

    /// Records the outcome: `code` is `OK` or a code name; `status` (HTTP only) the status.
    pub(crate) fn finish(mut self, code: &'static str, status: Option<u16>, elapsed: Duration) {
        self.finished = true;
        self.in_flight.decrement(1.0);
        let (calls, duration, _) = self.side.names();
        // What the client made up is not a label. The HTTP server layer knows a route only
        // from axum's `MatchedPath` (and labels the rest `unknown` itself): a routed handler's
        // own 404 keeps its route.
        let unrouted = code == "UNIMPLEMENTED" && self.side == Side::GrpcServer;
        let mut labels = match std::mem::replace(&mut self.labels, Labels::Built(Vec::new())) {
            Labels::Route(route) => {
                if !unrouted {
                    metrics::with_recorder(|r| {
                        r.register_histogram(&route.duration, &METADATA)
                            .record(elapsed.as_secs_f64());
                        route.record_call(r, calls, code, status);
                    });
                    return;
                }
                route.labels.to_vec()
            }
            Labels::Built(labels) => labels,
        };
        if unrouted {
            labels = vec![Label::new("service", "unknown"), Label::new("method", "unknown")];
        }
        metrics::histogram!(duration, labels.iter()).record(elapsed.as_secs_f64());
        labels.push(Label::new("code", code));
        if let Some(status) = status {
            labels.push(Label::new("status", status_label(status)));
        }
        metrics::counter!(calls, labels).increment(1);
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if !self.finished {
            // A call torn down without an outcome: keep the gauge honest.
            self.in_flight.decrement(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_shared_and_bounded() {
        let labels = grpc_labels("/inventory.Inventory/Reserve");
        assert_eq!(
            labels.iter().map(|l| (l.key(), l.value())).collect::<Vec<_>>(),
            [("service", "inventory.Inventory"), ("method", "Reserve")]
        );
        assert_eq!(grpc_labels("/no-method")[0].value(), "unknown");
        // Values past the bound are still right, only no longer shared.
        std::thread::spawn(|| {
            for i in 0..SHARED_PER_THREAD + 10 {
                let v = format!("route-{i}");
                assert_eq!(shared(&v).as_ref(), v);
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn kept_keys_are_retained_so_a_recorder_that_retains_them_copies_nothing() {
        // The Prometheus exporter calls `to_retained` on every key it is given: on a kept
        // key that must be a reference count, not a new copy of the labels.
        let route = Route::new(Side::GrpcServer, "/a.B/C", &grpc_labels("/a.B/C"));
        route.record_call(&metrics::NoopRecorder, GRPC_SERVER_CALLS, "OK", None);
        let calls = route.calls.lock().unwrap();
        for key in [&route.in_flight, &route.duration, &calls[0].2] {
            let again = key.to_retained();
            assert_eq!(again, *key);
            assert!(
                std::ptr::eq(again.labels().as_slice(), key.labels().as_slice()),
                "{key:?}: its labels were copied"
            );
        }
    }

    #[test]
    fn a_call_comes_down_in_the_recorder_it_went_up_in() {
        use metrics_util::debugging::DebuggingRecorder;

        let (start, end) = (DebuggingRecorder::new(), DebuggingRecorder::new());
        let (up, other) = (start.snapshotter(), end.snapshotter());
        let in_flight = "grpc_server_in_flight{method=C,service=a.B}";
        for finish in [true, false] {
            let meter =
                metrics::with_local_recorder(&start, || Meter::grpc(Side::GrpcServer, "/a.B/C"));
            assert_eq!(crate::recorded::series(&up).get(in_flight), Some(&1));
            // Finished (or dropped) where another recorder is current, as a call can end
            // on another thread.
            metrics::with_local_recorder(&end, || {
                if finish {
                    meter.finish("OK", None, Duration::from_millis(1));
                } else {
                    drop(meter);
                }
            });
            assert_eq!(crate::recorded::series(&up).get(in_flight), Some(&0), "finish: {finish}");
            let names: Vec<String> = other
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(k, ..)| k.key().name().to_owned())
                .collect();
            assert!(
                !names.iter().any(|n| n == GRPC_SERVER_IN_FLIGHT),
                "finish: {finish}: {names:?}"
            );
        }
    }
}
