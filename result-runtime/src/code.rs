//! Error codes: a stable name, a [`Category`], retryability and a [`Severity`].
//!
//! Every code maps to one gRPC status code and one HTTP status through its category. The
//! mapping lives in a single table ([`Category::table`]) so that the gRPC and HTTP middleware
//! can never disagree about what a failure means.
//!
//! ```
//! use result_runtime::{Category, Code, GrpcCode, Severity};
//!
//! assert_eq!(Code::UNAVAILABLE.name(), "UNAVAILABLE");
//! assert!(Code::UNAVAILABLE.retryable());
//! assert_eq!(Code::UNAVAILABLE.grpc(), GrpcCode::Unavailable);
//! assert_eq!(Code::UNAVAILABLE.http_status(), 503);
//!
//! // Your own codes take their defaults from their category.
//! const PAYMENT_DECLINED: Code = Code::new("PAYMENT_DECLINED", Category::Business);
//! assert_eq!(PAYMENT_DECLINED.http_status(), 422);
//! assert!(!PAYMENT_DECLINED.retryable());
//! assert_eq!(PAYMENT_DECLINED.severity(), Severity::Info);
//! ```

use std::fmt;

/// What kind of failure a [`Code`] describes. The category decides the gRPC and HTTP status,
/// the default retryability and the default log severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Category {
    /// The caller sent something invalid.
    Validation,
    /// The thing asked for does not exist.
    NotFound,
    /// The request conflicts with the current state (already exists, version mismatch).
    Conflict,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The caller is authenticated but not allowed.
    PermissionDenied,
    /// The caller or a dependency is over its quota.
    RateLimited,
    /// A dependency over the network is unreachable or failing.
    Unavailable,
    /// A database, disk or object store failed.
    Storage,
    /// A business rule refused the request (a precondition that the caller can fix).
    Business,
    /// A deadline passed.
    Timeout,
    /// The work was cancelled.
    Cancelled,
    /// The work panicked.
    Panic,
    /// The operation is not implemented.
    Unimplemented,
    /// A bug or an unexpected failure inside the service.
    Internal,
}

/// gRPC status codes, as numbered by the gRPC specification.
///
/// Defined here so that the core does not depend on tonic; the `grpc` feature converts them
/// into `tonic::Code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the names are the gRPC specification's
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The numeric value sent in `grpc-status`.
    #[must_use]
    pub const fn as_i32(self) -> i32 {
        self as i32
    }
}

/// How loud a failure of this code should be in the logs of the service that returns it.
/// Client mistakes are not server errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Expected in normal operation (bad input, not found, cancelled).
    Info,
    /// Worth watching (rate limits, an unavailable dependency, timeouts).
    Warn,
    /// Needs someone's attention (panics, internal and storage failures).
    Error,
}

impl Severity {
    /// The `tracing` level to log a failure of this severity at.
    #[must_use]
    pub const fn level(self) -> tracing::Level {
        match self {
            Self::Info => tracing::Level::INFO,
            Self::Warn => tracing::Level::WARN,
            Self::Error => tracing::Level::ERROR,
        }
    }
}

/// One row of the status table: what a [`Category`] means on the wire and in the logs.
///
/// Every column that says what a failure means lives here and nowhere else: the statuses
/// sent ([`grpc`](Self::grpc), [`http`](Self::http)), the statuses received
/// ([`grpc_received`](Self::grpc_received), [`http_received`](Self::http_received)), whether
/// the error's own message may reach a client ([`public`](Self::public)) and under which
/// name ([`wire_name`](Self::wire_name)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CategoryRow {
    /// The category this row describes.
    pub category: Category,
    /// The gRPC status code sent for it.
    pub grpc: GrpcCode,
    /// The HTTP status sent for it.
    pub http: u16,
    /// Whether errors of this category are worth retrying by default.
    pub retryable: bool,
    /// The default log severity.
    pub severity: Severity,
    /// Whether an error's own message may be shown to remote clients. When not, clients see
    /// [`safe_message`](Self::safe_message): internal detail (a converted error's text, a
    /// panic payload, a storage host) never leaves the process.
    pub public: bool,
    /// The code name a remote client is told, when it is not the code's own: a panic is an
    /// internal error to the client, whatever the server knows.
    pub wire_name: Option<&'static str>,
    /// The message shown to a remote client when the error's own message is not public.
    pub safe_message: &'static str,
    /// The name of the built-in code of this category: what a received status becomes.
    pub canonical: &'static str,
    /// The gRPC statuses that, received from a remote service, become this category's
    /// canonical code. Each status is in at most one row; the rest become `INTERNAL`.
    pub grpc_received: &'static [GrpcCode],
    /// The HTTP statuses that, received, become this category's canonical code. Each status
    /// is in at most one row; other 4xx statuses become `INVALID_ARGUMENT` (a client's
    /// mistake is never a server error), the rest `INTERNAL`.
    pub http_received: &'static [u16],
}

use Category as C;
use GrpcCode as G;
use Severity as S;

#[allow(clippy::too_many_arguments)]
const fn row(
    category: Category,
    (grpc, http): (GrpcCode, u16),
    retryable: bool,
    severity: Severity,
    public: bool,
    canonical: &'static str,
    safe_message: &'static str,
    (grpc_received, http_received): (&'static [GrpcCode], &'static [u16]),
) -> CategoryRow {
    CategoryRow {
        category,
        grpc,
        http,
        retryable,
        severity,
        public,
        wire_name: None,
        safe_message,
        canonical,
        grpc_received,
        http_received,
    }
}

/// The one table from category to wire statuses, retryability, severity and visibility.
#[rustfmt::skip]
const TABLE: [CategoryRow; 14] = [
    row(C::Validation,       (G::InvalidArgument, 400),    false, S::Info,  true,  "INVALID_ARGUMENT",    "invalid request",
        (&[G::InvalidArgument, G::OutOfRange], &[400, 405, 406, 411, 413, 414, 415, 431])),
    row(C::NotFound,         (G::NotFound, 404),           false, S::Info,  true,  "NOT_FOUND",           "not found",
        (&[G::NotFound], &[404])),
    row(C::Conflict,         (G::AlreadyExists, 409),      false, S::Info,  true,  "ALREADY_EXISTS",      "conflict",
        (&[G::AlreadyExists, G::Aborted], &[409])),
    row(C::Unauthenticated,  (G::Unauthenticated, 401),    false, S::Info,  true,  "UNAUTHENTICATED",     "unauthenticated",
        (&[G::Unauthenticated], &[401])),
    row(C::PermissionDenied, (G::PermissionDenied, 403),   false, S::Warn,  true,  "PERMISSION_DENIED",   "permission denied",
        (&[G::PermissionDenied], &[403])),
    row(C::RateLimited,      (G::ResourceExhausted, 429),  true,  S::Warn,  true,  "RATE_LIMITED",        "rate limited",
        (&[G::ResourceExhausted], &[429])),
    row(C::Unavailable,      (G::Unavailable, 503),        true,  S::Warn,  true,  "UNAVAILABLE",         "service unavailable",
        (&[G::Unavailable], &[502, 503])),
    row(C::Storage,          (G::Unavailable, 503),        true,  S::Error, false, "STORAGE",             "storage unavailable",
        (&[], &[])),
    row(C::Business,         (G::FailedPrecondition, 422), false, S::Info,  true,  "FAILED_PRECONDITION", "request refused",
        (&[G::FailedPrecondition], &[422])),
    row(C::Timeout,          (G::DeadlineExceeded, 504),   true,  S::Warn,  true,  "DEADLINE_EXCEEDED",   "deadline exceeded",
        (&[G::DeadlineExceeded], &[408, 504])),
    row(C::Cancelled,        (G::Cancelled, 499),          false, S::Info,  true,  "CANCELLED",           "cancelled",
        (&[G::Cancelled], &[499])),
    CategoryRow { wire_name: Some("INTERNAL"), ..
    row(C::Panic,            (G::Internal, 500),           false, S::Error, false, "PANICKED",            "internal error",
        (&[], &[])) },
    row(C::Unimplemented,    (G::Unimplemented, 501),      false, S::Error, false, "UNIMPLEMENTED",       "not implemented",
        (&[G::Unimplemented], &[501])),
    row(C::Internal,         (G::Internal, 500),           false, S::Error, false, "INTERNAL",            "internal error",
        (&[G::Unknown, G::Internal, G::DataLoss], &[500])),
];

impl Category {
    /// Every category, in the table's order.
    pub const ALL: [Self; 14] = [
        Self::Validation,
        Self::NotFound,
        Self::Conflict,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::RateLimited,
        Self::Unavailable,
        Self::Storage,
        Self::Business,
        Self::Timeout,
        Self::Cancelled,
        Self::Panic,
        Self::Unimplemented,
        Self::Internal,
    ];

    /// A stable lower-case name, as carried in error details on the wire.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Storage => "storage",
            Self::Business => "business",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Panic => "panic",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
        }
    }

    /// The category with this [`name`](Self::name).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The whole status table, one row per category.
    #[must_use]
    pub const fn table() -> &'static [CategoryRow] {
        &TABLE
    }

    /// This category's row of the status table.
    #[must_use]
    pub const fn row(self) -> &'static CategoryRow {
        // The table is ordered like the enum; a test checks it.
        &TABLE[self as usize]
    }

    /// The gRPC status code for this category.
    #[must_use]
    pub const fn grpc(self) -> GrpcCode {
        self.row().grpc
    }

    /// The HTTP status for this category.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        self.row().http
    }
}

/// A stable, classified error code.
///
/// A code is a name (`SCREAMING_SNAKE_CASE`, stable across releases: clients match on it), a
/// [`Category`], whether it is worth retrying, and a log [`Severity`]. Codes are `Copy` and
/// cheap to compare. Built-in codes cover the common cases; define your own with
/// [`Code::new`] in a `const`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    name: &'static str,
    category: Category,
    retryable: bool,
    severity: Severity,
}

impl Code {
    /// The request is invalid.
    pub const INVALID_ARGUMENT: Self = Self::new("INVALID_ARGUMENT", Category::Validation);
    /// The thing asked for does not exist.
    pub const NOT_FOUND: Self = Self::new("NOT_FOUND", Category::NotFound);
    /// The thing to create exists already.
    pub const ALREADY_EXISTS: Self = Self::new("ALREADY_EXISTS", Category::Conflict);
    /// The caller is not authenticated.
    pub const UNAUTHENTICATED: Self = Self::new("UNAUTHENTICATED", Category::Unauthenticated);
    /// The caller is not allowed to do this.
    pub const PERMISSION_DENIED: Self = Self::new("PERMISSION_DENIED", Category::PermissionDenied);
    /// Too many requests.
    pub const RATE_LIMITED: Self = Self::new("RATE_LIMITED", Category::RateLimited);
    /// A dependency is unreachable; retrying may help.
    pub const UNAVAILABLE: Self = Self::new("UNAVAILABLE", Category::Unavailable);
    /// A storage backend failed.
    pub const STORAGE: Self = Self::new("STORAGE", Category::Storage);
    /// A business rule refused the request.
    pub const FAILED_PRECONDITION: Self = Self::new("FAILED_PRECONDITION", Category::Business);
    /// A deadline passed before the work finished.
    pub const DEADLINE_EXCEEDED: Self = Self::new("DEADLINE_EXCEEDED", Category::Timeout);
    /// The work was cancelled.
    pub const CANCELLED: Self = Self::new("CANCELLED", Category::Cancelled);
    /// The work panicked.
    pub const PANICKED: Self = Self::new("PANICKED", Category::Panic);
    /// The operation is not implemented.
    pub const UNIMPLEMENTED: Self = Self::new("UNIMPLEMENTED", Category::Unimplemented);
    /// An unexpected failure; the default for errors nobody classified.
    pub const INTERNAL: Self = Self::new("INTERNAL", Category::Internal);
    /// A circuit breaker is open: the call was refused without touching the dependency. The
    /// error's [`retry_after`](crate::TaskError::retry_after) is the remaining open time.
    pub const CIRCUIT_OPEN: Self = Self::new("CIRCUIT_OPEN", Category::Unavailable);

    /// Every built-in code.
    pub const ALL: [Self; 15] = [
        Self::INVALID_ARGUMENT,
        Self::NOT_FOUND,
        Self::ALREADY_EXISTS,
        Self::UNAUTHENTICATED,
        Self::PERMISSION_DENIED,
        Self::RATE_LIMITED,
        Self::UNAVAILABLE,
        Self::STORAGE,
        Self::FAILED_PRECONDITION,
        Self::DEADLINE_EXCEEDED,
        Self::CANCELLED,
        Self::PANICKED,
        Self::UNIMPLEMENTED,
        Self::INTERNAL,
        Self::CIRCUIT_OPEN,
    ];

    /// A code with the given stable name, taking retryability and severity from its category.
    #[must_use]
    pub const fn new(name: &'static str, category: Category) -> Self {
        let row = category.row();
        Self { name, category, retryable: row.retryable, severity: row.severity }
    }

    /// The same code with retryability overridden.
    ///
    /// ```
    /// use result_runtime::{Category, Code};
    /// const VERSION_MISMATCH: Code =
    ///     Code::new("VERSION_MISMATCH", Category::Conflict).with_retryable(true);
    /// assert!(VERSION_MISMATCH.retryable());
    /// ```
    #[must_use]
    pub const fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The same code with its log severity overridden.
    #[must_use]
    pub const fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// The stable name clients match on.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The category, which decides the wire statuses.
    #[must_use]
    pub const fn category(&self) -> Category {
        self.category
    }

    /// Whether retrying the failed operation may succeed.
    #[must_use]
    pub const fn retryable(&self) -> bool {
        self.retryable
    }

    /// How loud to log a failure with this code.
    #[must_use]
    pub const fn severity(&self) -> Severity {
        self.severity
    }

    /// The gRPC status code.
    #[must_use]
    pub const fn grpc(&self) -> GrpcCode {
        self.category.grpc()
    }

    /// The HTTP status.
    #[must_use]
    pub const fn http_status(&self) -> u16 {
        self.category.http_status()
    }

    /// Whether an error's own message may reach a remote client ([`CategoryRow::public`]).
    #[must_use]
    pub const fn is_public(&self) -> bool {
        self.category.row().public
    }

    /// The message a remote client sees when the error's own message is internal.
    #[must_use]
    pub const fn safe_message(&self) -> &'static str {
        self.category.row().safe_message
    }

    /// The name a remote client is told: the code's own, except where the table hides it
    /// ([`CategoryRow::wire_name`]: a panic is `INTERNAL` on the wire).
    #[must_use]
    pub const fn wire_name(&self) -> &'static str {
        match self.category.row().wire_name {
            Some(name) => name,
            None => self.name,
        }
    }

    /// The built-in code of a category: what a status received for it becomes.
    #[must_use]
    pub const fn canonical(category: Category) -> Self {
        Self::new(category.row().canonical, category)
    }

    /// The built-in code for a gRPC status received from a remote service, so that a failure
    /// keeps its meaning (and retryability) across a hop; read off the table's
    /// [`grpc_received`](CategoryRow::grpc_received) column.
    ///
    /// ```
    /// use result_runtime::Code;
    /// assert_eq!(Code::from_grpc(14), Code::UNAVAILABLE);
    /// assert_eq!(Code::from_grpc(1), Code::CANCELLED);
    /// assert_eq!(Code::from_grpc(99), Code::INTERNAL);
    /// ```
    #[must_use]
    pub const fn from_grpc(status: i32) -> Self {
        let mut i = 0;
        while i < TABLE.len() {
            let received = TABLE[i].grpc_received;
            let mut j = 0;
            while j < received.len() {
                if received[j] as i32 == status {
                    return Self::canonical(TABLE[i].category);
                }
                j += 1;
            }
            i += 1;
        }
        Self::INTERNAL
    }

    /// The built-in code for an HTTP status received from a remote service; read off the
    /// table's [`http_received`](CategoryRow::http_received) column. A 4xx status the table
    /// does not name is `INVALID_ARGUMENT`: a client's mistake, never a server error.
    ///
    /// ```
    /// use result_runtime::Code;
    /// assert_eq!(Code::from_http(429), Code::RATE_LIMITED);
    /// assert_eq!(Code::from_http(415), Code::INVALID_ARGUMENT);
    /// assert_eq!(Code::from_http(418), Code::INVALID_ARGUMENT);
    /// assert_eq!(Code::from_http(500), Code::INTERNAL);
    /// ```
    #[must_use]
    pub const fn from_http(status: u16) -> Self {
        let mut i = 0;
        while i < TABLE.len() {
            let received = TABLE[i].http_received;
            let mut j = 0;
            while j < received.len() {
                if received[j] == status {
                    return Self::canonical(TABLE[i].category);
                }
                j += 1;
            }
            i += 1;
        }
        if status >= 400 && status < 500 {
            Self::INVALID_ARGUMENT
        } else {
            Self::INTERNAL
        }
    }

    /// The code a remote service named: the built-in code of that name, else a code with the
    /// received name, category, retryability and severity, so that a custom code (and
    /// everything that depends on it) survives any number of hops. Received names are
    /// interned (a code's name is `&'static str`); to bound what a peer can make this process
    /// keep, a name that is not `[A-Z0-9_]{1,63}`, or any name past the first
    /// [`MAX_REMOTE_CODES`], becomes the category's built-in code.
    #[cfg(any(feature = "grpc", feature = "redis"))]
    pub(crate) fn from_wire(
        name: &str,
        category: Category,
        retryable: bool,
        severity: Severity,
    ) -> Self {
        if let Some(code) = Self::from_name(name) {
            if code.category == category {
                return code.with_retryable(retryable).with_severity(severity);
            }
        }
        let valid = (1..=63).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        match intern(name).filter(|_| valid) {
            Some(name) => Self { name, category, retryable, severity },
            None => Self::canonical(category).with_retryable(retryable).with_severity(severity),
        }
    }

    /// The built-in code with this stable name, if there is one.
    ///
    /// ```
    /// use result_runtime::Code;
    /// assert_eq!(Code::from_name("NOT_FOUND"), Some(Code::NOT_FOUND));
    /// assert_eq!(Code::from_name("not_found"), None); // names are exact
    /// assert_eq!(Code::from_name("PAYMENT_DECLINED"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name == name)
    }
}

/// How many distinct custom code names received from remote services one process keeps.
#[cfg(any(feature = "grpc", feature = "redis"))]
pub(crate) const MAX_REMOTE_CODES: usize = 1024;

/// The `'static` copy of a received code name; `None` once [`MAX_REMOTE_CODES`] are kept.
#[cfg(any(feature = "grpc", feature = "redis"))]
fn intern(name: &str) -> Option<&'static str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(kept) = names.get(name) {
        return Some(kept);
    }
    if names.len() >= MAX_REMOTE_CODES {
        return None;
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(kept);
    Some(kept)
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_like_the_enum() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(row.category as usize, i, "{:?} is out of place", row.category);
        }
    }

    /// The table, cell by cell: name, category, gRPC, HTTP, retryable, severity.
    #[test]
    fn every_builtin_code_maps_as_documented() {
        #[rustfmt::skip]
        let expected: [(Code, &str, Category, GrpcCode, u16, bool, Severity); 15] = [
            (Code::INVALID_ARGUMENT, "INVALID_ARGUMENT", C::Validation, G::InvalidArgument, 400, false, S::Info),
            (Code::NOT_FOUND, "NOT_FOUND", C::NotFound, G::NotFound, 404, false, S::Info),
            (Code::ALREADY_EXISTS, "ALREADY_EXISTS", C::Conflict, G::AlreadyExists, 409, false, S::Info),
            (Code::UNAUTHENTICATED, "UNAUTHENTICATED", C::Unauthenticated, G::Unauthenticated, 401, false, S::Info),
            (Code::PERMISSION_DENIED, "PERMISSION_DENIED", C::PermissionDenied, G::PermissionDenied, 403, false, S::Warn),
            (Code::RATE_LIMITED, "RATE_LIMITED", C::RateLimited, G::ResourceExhausted, 429, true, S::Warn),
            (Code::UNAVAILABLE, "UNAVAILABLE", C::Unavailable, G::Unavailable, 503, true, S::Warn),
            (Code::STORAGE, "STORAGE", C::Storage, G::Unavailable, 503, true, S::Error),
            (Code::FAILED_PRECONDITION, "FAILED_PRECONDITION", C::Business, G::FailedPrecondition, 422, false, S::Info),
            (Code::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", C::Timeout, G::DeadlineExceeded, 504, true, S::Warn),
            (Code::CANCELLED, "CANCELLED", C::Cancelled, G::Cancelled, 499, false, S::Info),
            (Code::PANICKED, "PANICKED", C::Panic, G::Internal, 500, false, S::Error),
            (Code::UNIMPLEMENTED, "UNIMPLEMENTED", C::Unimplemented, G::Unimplemented, 501, false, S::Error),
            (Code::INTERNAL, "INTERNAL", C::Internal, G::Internal, 500, false, S::Error),
            (Code::CIRCUIT_OPEN, "CIRCUIT_OPEN", C::Unavailable, G::Unavailable, 503, true, S::Warn),
        ];
        assert_eq!(expected.len(), Code::ALL.len());
        for (code, name, category, grpc, http, retryable, severity) in expected {
            assert!(Code::ALL.contains(&code), "{name} missing from Code::ALL");
            assert_eq!(code.name(), name);
            assert_eq!(code.category(), category, "{name} category");
            assert_eq!(code.grpc(), grpc, "{name} grpc");
            assert_eq!(code.http_status(), http, "{name} http");
            assert_eq!(code.retryable(), retryable, "{name} retryable");
            assert_eq!(code.severity(), severity, "{name} severity");
            assert!(!code.safe_message().is_empty());
        }
    }

    #[test]
    fn remote_statuses_round_trip_for_builtin_codes() {
        for code in Code::ALL {
            if code == Code::PANICKED {
                // A remote panic is just an internal error to us: its details stay there.
                assert_eq!(Code::from_grpc(code.grpc().as_i32()), Code::INTERNAL);
                assert_eq!(Code::from_http(code.http_status()), Code::INTERNAL);
                continue;
            }
            if code == Code::CIRCUIT_OPEN {
                assert_eq!(Code::from_grpc(code.grpc().as_i32()), Code::UNAVAILABLE);
                assert_eq!(Code::from_http(code.http_status()), Code::UNAVAILABLE);
                continue;
            }
            if code == Code::STORAGE {
                assert_eq!(Code::from_grpc(code.grpc().as_i32()), Code::UNAVAILABLE);
                assert_eq!(Code::from_http(code.http_status()), Code::UNAVAILABLE);
                continue;
            }
            assert_eq!(Code::from_grpc(code.grpc().as_i32()), code, "grpc {code}");
            if code != Code::STORAGE {
                assert_eq!(Code::from_http(code.http_status()), code, "http {code}");
            }
        }
        assert_eq!(Code::from_grpc(2), Code::INTERNAL);
        assert_eq!(Code::from_http(418), Code::INVALID_ARGUMENT);
        assert_eq!(Code::from_http(599), Code::INTERNAL);
        assert_eq!(Code::from_grpc(10), Code::ALREADY_EXISTS);
        assert_eq!(Code::from_grpc(15), Code::INTERNAL);
    }

    #[test]
    fn every_status_a_client_can_cause_is_a_client_side_code() {
        for status in [400, 401, 403, 404, 405, 406, 408, 409, 411, 413, 414, 415, 422, 429, 431] {
            let code = Code::from_http(status);
            assert_ne!(code.category(), Category::Internal, "HTTP {status} became {code}");
            assert_ne!(
                code.severity(),
                Severity::Error,
                "HTTP {status} ({code}) would log at ERROR"
            );
            assert!(
                code.http_status() < 500 || code == Code::DEADLINE_EXCEEDED,
                "HTTP {status}: {code}"
            );
        }
    }

    #[test]
    fn each_received_status_is_in_at_most_one_row_and_rows_name_their_own_codes() {
        let mut grpc = std::collections::HashSet::new();
        let mut http = std::collections::HashSet::new();
        for row in Category::table() {
            for g in row.grpc_received {
                assert!(grpc.insert(*g as i32), "{g:?} received by two rows");
            }
            for h in row.http_received {
                assert!(http.insert(*h), "{h} received by two rows");
            }
            let canonical = Code::canonical(row.category);
            assert_eq!(Code::from_name(row.canonical), Some(canonical), "{:?}", row.category);
            assert_eq!(canonical.is_public(), row.public);
        }
    }

    #[test]
    fn from_name_finds_every_builtin_code_and_nothing_else() {
        for code in Code::ALL {
            assert_eq!(Code::from_name(code.name()), Some(code));
        }
        assert_eq!(Code::from_name(""), None);
        assert_eq!(Code::from_name("internal"), None);
    }

    #[cfg(any(feature = "grpc", feature = "redis"))]
    #[test]
    fn codes_from_the_wire_keep_custom_names_within_bounds() {
        let c = Code::from_wire("PAYMENT_DECLINED", Category::Business, false, Severity::Info);
        assert_eq!(c, Code::new("PAYMENT_DECLINED", Category::Business));
        assert_eq!(
            Code::from_wire("NOT_FOUND", Category::NotFound, false, Severity::Info),
            Code::NOT_FOUND
        );
        let retry = Code::from_wire("VERSION_MISMATCH", Category::Conflict, true, Severity::Warn);
        assert!(retry.retryable());
        // A name a peer should not be able to make us keep.
        for bad in ["", "lower", "WITH SPACE", &"X".repeat(64)] {
            let c = Code::from_wire(bad, Category::Storage, true, Severity::Error);
            assert_eq!(c.name(), "STORAGE", "{bad:?}");
        }
        for category in Category::ALL {
            assert_eq!(Category::from_name(category.name()), Some(category));
            assert_eq!(category.row().category, category);
        }
    }

    #[test]
    fn wire_names_hide_only_panics() {
        for code in Code::ALL {
            let expected = if code == Code::PANICKED { "INTERNAL" } else { code.name() };
            assert_eq!(code.wire_name(), expected);
        }
        assert_eq!(Code::new("MY_BUG", Category::Panic).wire_name(), "INTERNAL");
        assert_eq!(
            Code::new("PAYMENT_DECLINED", Category::Business).wire_name(),
            "PAYMENT_DECLINED"
        );
    }

    #[test]
    fn custom_codes_take_category_defaults_and_overrides() {
        const C1: Code = Code::new("X", Category::RateLimited);
        assert!(C1.retryable());
        let c2 = C1.with_retryable(false).with_severity(Severity::Error);
        assert!(!c2.retryable());
        assert_eq!(c2.severity(), Severity::Error);
        assert_eq!(c2.grpc(), GrpcCode::ResourceExhausted);
        assert_eq!(format!("{c2}"), "X");
    }
}
