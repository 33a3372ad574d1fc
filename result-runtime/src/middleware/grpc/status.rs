//! [`TaskError`] to [`tonic::Status`] and back, through the code table.

use std::error::Error as StdError;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::Status;

use crate::middleware::X_TRACE_ID;
use crate::trace::{TraceContext, TraceId};
use crate::{Code, Result, TaskError};

/// The `tonic::Code` for a runtime code, through the code table.
#[must_use]
pub fn grpc_code(code: Code) -> tonic::Code {
    tonic::Code::from_i32(code.grpc().as_i32())
}

/// The status a client sees: code from the table, the client-safe message, `x-trace-id`
/// (the error's trace, else the current one). The whole error stays attached as the
/// status's source for the server's log; tonic never sends it.
impl From<TaskError> for Status {
    fn from(error: TaskError) -> Self {
        let mut metadata = MetadataMap::new();
        if let Some(id) = error.trace_id().or_else(TraceContext::current_trace_id) {
            let value = MetadataValue::try_from(id.to_string()).expect("hex is ASCII");
            metadata.insert(X_TRACE_ID, value);
        }
        let mut status =
            Self::with_metadata(grpc_code(error.code()), error.client_message(), metadata);
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
    /// The same failure as a `TaskError`: the code from [`Code::from_grpc`], the trace id from
    /// `x-trace-id`.
    ///
    /// tonic's own client-side timeout (CANCELLED "Timeout expired") becomes
    /// `DEADLINE_EXCEEDED`.
    ///
    /// A status sent by a remote server keeps its message as client-safe (the server chose
    /// it). A status tonic made locally (a transport error: it has a `source`) is kept as
    /// the source, and clients further up see only the code's safe message, not socket
    /// addresses.
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
        let mut code = Code::from_grpc(self.code() as i32);
        // tonic's client enforces `grpc-timeout` itself and reports its own expiry as
        // CANCELLED "Timeout expired"; for the caller that is a passed deadline.
        if local_timeout(&self) {
            code = Code::DEADLINE_EXCEEDED;
        }
        let trace_id = self
            .metadata()
            .get(X_TRACE_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<TraceId>().ok());
        let error = if self.source().is_some() {
            TaskError::from_error(self).with_code(code)
        } else {
            TaskError::new(code, self.message().to_owned())
        };
        error.or_trace_id(trace_id)
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
    let status = headers.get("grpc-status")?;
    Some(match status.to_str().ok().and_then(|s| s.parse::<i32>().ok()) {
        Some(0) => None,
        Some(n) => Some(Code::from_grpc(n)),
        None => Some(Code::INTERNAL),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(e.code(), Code::INTERNAL);
        assert_eq!(e.client_message(), "internal error");
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
}
