//! [`TaskError`] to [`tonic::Status`] and back, through the code table.

use std::error::Error as StdError;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::Status;

use super::details::{details_of, received};
use crate::middleware::X_TRACE_ID;
use crate::trace::{TraceContext, TraceId};
use crate::{Code, Result, TaskError};

/// The `tonic::Code` for a runtime code, through the code table.
#[must_use]
pub fn grpc_code(code: Code) -> tonic::Code {
    tonic::Code::from_i32(code.grpc().as_i32())
}

/// The status a client sees: code from the table, the client-safe message, `x-trace-id`
/// (the error's trace, else the current one) and the classification in
/// `grpc-status-details-bin` (details (see [`ERROR_DOMAIN`](super::ERROR_DOMAIN))). The whole error stays attached
/// as the status's source for the server's log; tonic never sends it.
impl From<TaskError> for Status {
    fn from(error: TaskError) -> Self {
        let trace_id =
            error.trace_id().or_else(TraceContext::current_trace_id).map(|id| id.to_string());
        let mut metadata = MetadataMap::new();
        if let Some(id) = &trace_id {
            let value = MetadataValue::try_from(id.as_str()).expect("hex is ASCII");
            metadata.insert(X_TRACE_ID, value);
        }
        let code = grpc_code(error.code());
        let message = error.client_message();
        let details = details_of(&error, code, message, trace_id.as_deref());
        let mut status = Self::with_details_and_metadata(code, message, details, metadata);
        // The whole error rides along as the status's source (the crate's one std view of a
        // `TaskError`) for the server layer's log; tonic never puts a source on the wire.
        status.set_source(error.carried());
        status
    }
}

/// The [`TaskError`] a handler returned, when this status was made from one in this process.
#[must_use]
pub fn task_error_of(status: &Status) -> Option<&TaskError> {
    TaskError::find_carried(status.source()?)
}

/// Turns a received [`Status`] into a [`TaskError`].
pub trait StatusExt {
    /// The same failure as a `TaskError`, with the same meaning it had where it was raised.
    ///
    /// - A status whose details carry this crate's `ErrorInfo` keeps its code (custom codes
    ///   included), retryability, severity, retry delay and trace id: a classification
    ///   survives any number of hops.
    /// - A status without such details (any other gRPC server) is classified from its gRPC
    ///   code ([`Code::from_grpc`]), the trace id from `x-trace-id`.
    /// - A status tonic made locally (it has a `source`: the connection was refused, reset,
    ///   sent GOAWAY, broke an h2 rule, or the peer vanished mid-body) is a transport fault:
    ///   `UNAVAILABLE`, retryable, whatever tonic or hyper wrapped it in, except tonic's own
    ///   client-side timeout (CANCELLED "Timeout expired"), which is `DEADLINE_EXCEEDED`. The
    ///   status stays the source (for the log); clients further up see only the code's safe
    ///   message, not socket addresses.
    ///
    /// The kind follows the code: a remote `CANCELLED` is a cancellation here too.
    ///
    /// ```
    /// use result_runtime::middleware::grpc::StatusExt;
    /// use result_runtime::Code;
    ///
    /// let e = tonic::Status::unavailable("inventory draining").into_task_error();
    /// assert_eq!(e.code(), Code::UNAVAILABLE);
    /// assert!(e.is_retryable());
    /// assert_eq!(e.client_message(), "inventory draining");
    /// ```
    fn into_task_error(self) -> TaskError;
}

impl StatusExt for Status {
    fn into_task_error(self) -> TaskError {
        if let Some(e) = task_error_of(&self) {
            return e.clone();
        }
        let header_trace = self
            .metadata()
            .get(X_TRACE_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<TraceId>().ok());
        if self.source().is_some() {
            let code =
                if local_timeout(&self) { Code::DEADLINE_EXCEEDED } else { Code::UNAVAILABLE };
            return TaskError::from_error(self).with_code(code).or_trace_id(header_trace);
        }
        match received(&self) {
            Some((code, trace_id, retry_after)) => {
                let error = TaskError::new(code, self.message().to_owned())
                    .or_trace_id(trace_id.or(header_trace));
                match retry_after {
                    Some(delay) => error.with_retry_after(delay),
                    None => error,
                }
            }
            None => TaskError::new(Code::from_grpc(self.code() as i32), self.message().to_owned())
                .or_trace_id(header_trace),
        }
    }
}

fn local_timeout(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(e) = source {
        if e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Turns a tonic client call's result into a [`crate::Result`].
pub trait GrpcResultExt<T> {
    /// The response's message, or the status as a `TaskError` ([`StatusExt::into_task_error`]).
    ///
    /// # Errors
    /// The call's status, converted.
    fn into_result(self) -> Result<T>;
}

impl<T> GrpcResultExt<T> for std::result::Result<tonic::Response<T>, Status> {
    fn into_result(self) -> Result<T> {
        self.map(tonic::Response::into_inner).map_err(StatusExt::into_task_error)
    }
}

/// The code in a `grpc-status` header: `Some(None)` for OK, `None` when absent.
pub(super) fn status_code(headers: &http::HeaderMap) -> Option<Option<Code>> {
    crate::middleware::client::grpc_status_code(headers)
}

#[cfg(test)]
mod tests {
    use super::super::details::ERROR_DOMAIN;
    use super::*;
    use tonic_types::StatusExt as _;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn status_from_task_error_hides_internal_messages() {
        let id = TraceId::from_u128(7).unwrap();
        let s = Status::from(TaskError::new(Code::NOT_FOUND, "no sku 9").with_trace_id(id));
        assert_eq!((s.code(), s.message()), (tonic::Code::NotFound, "no sku 9"));
        assert_eq!(s.metadata().get(X_TRACE_ID).unwrap(), "00000000000000000000000000000007");

        let s = Status::from(TaskError::new(Code::INTERNAL, "pool exhausted at 10.0.0.7"));
        assert_eq!((s.code(), s.message()), (tonic::Code::Internal, "internal error"));
        assert!(s.metadata().get(X_TRACE_ID).is_none(), "no trace: no header");
        assert_eq!(task_error_of(&s).unwrap().message(), "pool exhausted at 10.0.0.7");
        // The carried error is the crate's one std view: the status shows what the error does.
        assert_eq!(
            std::error::Error::source(&s).unwrap().to_string(),
            "INTERNAL: pool exhausted at 10.0.0.7"
        );
    }

    #[test]
    fn received_statuses_become_task_errors_with_the_same_meaning() {
        let mut remote = Status::new(tonic::Code::Unavailable, "draining");
        remote.metadata_mut().insert(X_TRACE_ID, TRACE.parse().unwrap());
        let e = remote.into_task_error();
        assert_eq!(e.code(), Code::UNAVAILABLE);
        assert!(e.is_retryable());
        assert_eq!(e.client_message(), "draining");
        assert_eq!(e.trace_id().unwrap().to_string(), TRACE);

        // A status tonic made locally keeps its details out of client messages.
        let local = Status::from_error(Box::new(std::io::Error::other("connect 10.0.0.7:50051")));
        let e = local.into_task_error();
        assert_eq!(e.code(), Code::UNAVAILABLE, "a transport fault is retryable");
        assert!(e.is_retryable());
        assert_eq!(e.client_message(), "service unavailable");
        assert!(format!("{e:#}").contains("10.0.0.7"), "the log keeps them: {e:#}");

        let timeout = Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert_eq!(timeout.code(), tonic::Code::Cancelled);
        assert_eq!(timeout.into_task_error().code(), Code::DEADLINE_EXCEEDED);

        // A remote cancellation or deadline stays one: it never becomes a group's first
        // failure or a negative cache entry.
        let e = Status::cancelled("caller went away").into_task_error();
        assert!(e.is_cancelled(), "{e:?}");
        let e = Status::deadline_exceeded("slow").into_task_error();
        assert_eq!(e.kind(), crate::ErrorKind::DeadlineExceeded);
        assert!(e.is_retryable());

        let ok: std::result::Result<tonic::Response<u8>, Status> = Ok(tonic::Response::new(3));
        assert_eq!(ok.into_result().unwrap(), 3);
        let err: std::result::Result<tonic::Response<u8>, Status> =
            Err(Status::invalid_argument("qty"));
        assert_eq!(err.into_result().unwrap_err().code(), Code::INVALID_ARGUMENT);
    }

    /// A status as the next hop receives it: only what crosses the wire (code, message,
    /// metadata with the details header), no source.
    fn over_the_wire(status: &Status) -> Status {
        let (parts, ..) = status.clone().into_http::<()>().into_parts();
        Status::from_header_map(&parts.headers).expect("a status in the headers")
    }

    #[test]
    fn a_custom_code_survives_hops_with_its_retry_delay_and_trace() {
        use crate::{Category, ErrorKind};
        const STORAGE_FULL: Code = Code::new("STORAGE_FULL", Category::Storage);
        let id = TraceId::from_u128(42).unwrap();
        let raised = TaskError::new(STORAGE_FULL, "disk /dev/sda1 full at 10.0.0.7")
            .with_retry_after(std::time::Duration::from_millis(1500))
            .or_task("inventory::reserve")
            .with_trace_id(id);
        let hop1 = over_the_wire(&Status::from(raised)).into_task_error();
        // ...and the hop in the middle passes it on as its own failure.
        let hop2 = over_the_wire(&Status::from(hop1.clone())).into_task_error();
        for e in [hop1, hop2] {
            assert_eq!(e.code(), STORAGE_FULL);
            assert_eq!(e.code().name(), "STORAGE_FULL");
            assert_eq!(e.kind(), ErrorKind::Failed);
            assert!(e.is_retryable());
            assert_eq!(e.retry_after(), Some(std::time::Duration::from_millis(1500)));
            assert_eq!(e.trace_id(), Some(id));
            assert_eq!(e.client_message(), "storage unavailable", "never the internal text");
        }
    }

    #[test]
    fn details_never_carry_messages_or_panic_payloads() {
        use crate::panic::PanicReport;
        let panic = TaskError::panicked(PanicReport::new("secret 10.0.0.7".into(), None));
        let wire = over_the_wire(&Status::from(panic));
        let raw = String::from_utf8_lossy(wire.details()).into_owned();
        assert!(!raw.contains("secret"), "{raw}");
        assert!(!raw.contains("PANICKED"), "a panic is INTERNAL on the wire: {raw}");
        let e = wire.into_task_error();
        assert_eq!(e.code(), Code::INTERNAL);
        assert_eq!(e.kind(), crate::ErrorKind::Failed);

        let bad = TaskError::new(Code::INTERNAL, "password=hunter2");
        let raw = over_the_wire(&Status::from(bad)).details().to_vec();
        assert!(!String::from_utf8_lossy(&raw).contains("hunter2"));
    }

    #[test]
    fn statuses_without_our_details_are_classified_from_their_code() {
        use tonic_types::ErrorDetails;
        // No details at all (any other gRPC server).
        let plain = over_the_wire(&Status::resource_exhausted("slow down")).into_task_error();
        assert_eq!(plain.code(), Code::RATE_LIMITED);
        // Another domain's ErrorInfo.
        let foreign = Status::with_error_details(
            tonic::Code::NotFound,
            "no row",
            ErrorDetails::with_error_info(
                "ROW_MISSING",
                "db.example.com",
                std::collections::HashMap::new(),
            ),
        );
        assert_eq!(over_the_wire(&foreign).into_task_error().code(), Code::NOT_FOUND);
        // Garbage in the details header.
        let garbage = Status::with_details(
            tonic::Code::Unavailable,
            "x",
            bytes::Bytes::from_static(b"\xff\x00junk"),
        );
        assert_eq!(over_the_wire(&garbage).into_task_error().code(), Code::UNAVAILABLE);
        // Our domain, a reason that names no code and no category: the gRPC code decides.
        let odd = Status::with_error_details(
            tonic::Code::Aborted,
            "x",
            ErrorDetails::with_error_info(
                "NO_SUCH_CODE",
                ERROR_DOMAIN,
                std::collections::HashMap::new(),
            ),
        );
        assert_eq!(over_the_wire(&odd).into_task_error().code(), Code::ALREADY_EXISTS);
    }
}
