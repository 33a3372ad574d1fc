//! [`spawn`]: `tokio::spawn` that carries the ambient trace context and [`Context`].
//!
//! Task-local values do not cross `tokio::spawn`; losing the trace id there is the most
//! common way traces break. This helper re-scopes both in the new task.
//!
//! ```
//! use result_runtime::trace::TraceContext;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let root = TraceContext::new_root();
//! let seen = root
//!     .scope(async { result_runtime::spawn(async { TraceContext::current() }).await.unwrap() })
//!     .await;
//! assert_eq!(seen, Some(root));
//! # }
//! ```

use std::future::Future;

use tokio::task::JoinHandle;

use crate::context::Context;
use crate::trace::TraceContext;

/// Spawns `fut` on the current tokio runtime with the caller's trace context and ambient
/// [`Context`] (the context is only made ambient, not raced: use [`Context::run`] for that).
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Under `otel` the task's spans must hang under the spawner's in the backend too.
    #[cfg(feature = "otel")]
    let fut = tracing::Instrument::in_current_span(fut);
    match (TraceContext::current(), Context::current()) {
        (Some(trace), Some(ctx)) => tokio::spawn(trace.scope(ctx.scope(fut))),
        (Some(trace), None) => tokio::spawn(trace.scope(fut)),
        (None, Some(ctx)) => tokio::spawn(ctx.scope(fut)),
        (None, None) => tokio::spawn(fut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn carries_both_ambient_values() {
        let trace = TraceContext::new_root();
        let ctx = Context::new();
        let (t, c) = trace
            .scope(ctx.scope(async {
                spawn(async { (TraceContext::current(), Context::current()) }).await.unwrap()
            }))
            .await;
        assert_eq!(t, Some(trace));
        ctx.cancel(crate::TaskError::new(crate::Code::INTERNAL, "x"));
        assert!(c.unwrap().is_cancelled());
        assert_eq!(spawn(async { TraceContext::current() }).await.unwrap(), None);
    }
}
