//! What the layers record through the `metrics` facade, in one place. The names follow
//! Prometheus conventions (base units, `_total` counters, `_seconds` histograms; see the
//! constants in [the module](super)); the label sets stay bounded whatever a client sends:
//! no trace ids, and a call the server did not route (an unknown gRPC method, an unmatched
//! HTTP path) is recorded under `unknown`, not under the path the client made up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Label, SharedString};

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
        static SEEN: RefCell<HashMap<Box<str>, Arc<str>>> = RefCell::new(HashMap::new());
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
pub(crate) fn http_labels(method: &str, name: &'static str, value: &str) -> Vec<Label> {
    const STANDARD: [&str; 9] =
        ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    let method = STANDARD.into_iter().find(|m| *m == method).unwrap_or("other");
    labels([Label::new("method", method), Label::new(name, shared(value))])
}

/// One call in flight: counted in the in-flight gauge until it is finished or dropped.
pub(crate) struct Meter {
    side: Side,
    labels: Vec<Label>,
    finished: bool,
}

impl Meter {
    pub(crate) fn start(side: Side, labels: Vec<Label>) -> Self {
        metrics::gauge!(side.names().2, labels.iter()).increment(1.0);
        Self { side, labels, finished: false }
    }

    /// Records the outcome: `code` is `OK` or a code name; `status` (HTTP only) the status.
    pub(crate) fn finish(mut self, code: &'static str, status: Option<u16>, elapsed: Duration) {
        self.finished = true;
        let (calls, duration, in_flight) = self.side.names();
        metrics::gauge!(in_flight, self.labels.iter()).decrement(1.0);
        let mut labels = std::mem::take(&mut self.labels);
        // What the client made up is not a label. The HTTP server layer knows a route only
        // from axum's `MatchedPath` (and labels the rest `unknown` itself): a routed handler's
        // own 404 keeps its route.
        if code == "UNIMPLEMENTED" && self.side == Side::GrpcServer {
            labels = vec![Label::new("service", "unknown"), Label::new("method", "unknown")];
        }
        metrics::histogram!(duration, labels.iter()).record(elapsed.as_secs_f64());
        labels.push(Label::new("code", code));
        if let Some(status) = status {
            // http's own table of status texts: no formatting per call.
            let digits = http::StatusCode::from_u16(status)
                .map_or_else(|_| shared("other"), |s| shared(s.as_str()));
            labels.push(Label::new("status", digits));
        }
        metrics::counter!(calls, labels).increment(1);
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if !self.finished {
            // A call torn down without an outcome: keep the gauge honest.
            metrics::gauge!(self.side.names().2, self.labels.iter()).decrement(1.0);
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
}
