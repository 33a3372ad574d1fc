//! Rich error details: the classification of a [`TaskError`] in `grpc-status-details-bin`,
//! the standard way (`google.rpc.Status` with `ErrorInfo` and `RetryInfo`, built and read
//! with tonic-types), so that the code, kind, retryability, retry delay and trace id survive
//! any number of hops, and so that any gRPC client (Go's `status.Details`, Python's
//! grpcio-status) can read the reason.
//!
//! `ErrorInfo.reason` is the code's [wire name](crate::Code::wire_name) and its domain is
//! [`ERROR_DOMAIN`]; the metadata holds `category`, `retryable`, `severity`, `trace_id` and
//! `task`. Nothing else: never a message (the status message is already the client-safe
//! one), never a panic payload.

use std::collections::HashMap;
use std::time::Duration;

use tonic::Status;
use tonic_types::{ErrorDetails, ErrorInfo, StatusExt as _};

use crate::code::{Category, Code, Severity};
use crate::trace::TraceId;
use crate::TaskError;

/// The `ErrorInfo.domain` of the details this crate writes; details of other domains are
/// left alone and the status is classified from its gRPC code.
pub const ERROR_DOMAIN: &str = "result-runtime";

/// The details sent for `error`.
pub(super) fn details_of(error: &TaskError, trace_id: Option<TraceId>) -> ErrorDetails {
    let code = error.code();
    // A code the wire hides (a panic) is sent as what the client is told it is.
    let code = if code.wire_name() == code.name() { code } else { Code::INTERNAL };
    let mut metadata = HashMap::with_capacity(5);
    metadata.insert("category".to_owned(), code.category().name().to_owned());
    metadata.insert("retryable".to_owned(), code.retryable().to_string());
    metadata.insert("severity".to_owned(), severity_name(code.severity()).to_owned());
    if let Some(id) = trace_id {
        metadata.insert("trace_id".to_owned(), id.to_string());
    }
    if let Some(task) = error.task() {
        metadata.insert("task".to_owned(), task.to_owned());
    }
    let mut details = ErrorDetails::with_error_info(code.name(), ERROR_DOMAIN, metadata);
    if let Some(delay) = error.retry_after() {
        details.set_retry_info(Some(delay));
    }
    details
}

/// What a received status's details say: its code, trace id and retry delay. `None` when it
/// has no `ErrorInfo` of [`ERROR_DOMAIN`] (a peer that sends no details, or other ones).
pub(super) fn received(status: &Status) -> Option<(Code, Option<TraceId>, Option<Duration>)> {
    if status.details().is_empty() {
        return None;
    }
    let info: ErrorInfo = status.get_details_error_info().filter(|i| i.domain == ERROR_DOMAIN)?;
    let category = info.metadata.get("category").and_then(|c| Category::from_name(c));
    // Without a category the reason can only name a built-in code.
    let code = match category {
        Some(category) => {
            let row = category.row();
            let retryable = info.metadata.get("retryable").map_or(row.retryable, |r| r == "true");
            let severity = info
                .metadata
                .get("severity")
                .and_then(|s| severity_from_name(s))
                .unwrap_or(row.severity);
            Code::from_wire(&info.reason, category, retryable, severity)
        }
        None => Code::from_name(&info.reason)?,
    };
    let trace_id = info.metadata.get("trace_id").and_then(|t| t.parse().ok());
    let retry_after = status.get_details_retry_info().and_then(|r| r.retry_delay);
    Some((code, trace_id, retry_after))
}

const fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warn => "warn",
        Severity::Error => "error",
    }
}

fn severity_from_name(name: &str) -> Option<Severity> {
    [Severity::Info, Severity::Warn, Severity::Error]
        .into_iter()
        .find(|s| severity_name(*s) == name)
}
