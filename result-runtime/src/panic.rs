//! Panic capture: a panic inside captured work becomes a [`TaskError`] of kind
//! [`Panicked`](crate::ErrorKind::Panicked) with its message, location and (when
//! `RUST_BACKTRACE` asks for one) a backtrace.
//!
//! The location and backtrace only exist inside a panic hook, so the first capture installs
//! one process-wide hook. It chains to the hook that was installed before it: panics outside
//! captured work are reported exactly as before. Captured panics are *not* printed: they are
//! errors now, and whoever handles the error logs it (with everything the hook recorded).
//!
//! ```
//! use result_runtime::{panic::catch_unwind, ErrorKind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let err = catch_unwind(async { panic!("boom {}", 42) }).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Panicked);
//! assert_eq!(err.panic().unwrap().message(), "boom 42");
//! assert!(err.panic().unwrap().location().unwrap().contains(".rs:"));
//! # }
//! ```

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context as TaskCx, Poll};

pub use crate::error::PanicReport;
use crate::error::TaskError;

thread_local! {
    /// How many captures are polling on this thread right now.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What the hook recorded for the panic being unwound.
    static LAST: RefCell<Option<PanicReport>> = const { RefCell::new(None) };
}

const NON_STRING: &str = "non-string panic payload";

/// Installs the hook on first use. The check is one atomic load, inlined into every capture;
/// the installation itself stays out of line.
#[inline]
fn install_hook() {
    if !HOOK.is_completed() {
        install_hook_slow();
    }
}

static HOOK: Once = Once::new();

#[cold]
#[inline(never)]
fn install_hook_slow() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.try_with(Cell::get).unwrap_or(0) == 0 {
                previous(info);
                return;
            }
            let backtrace = Backtrace::capture();
            let mut report = PanicReport::new(
                info.payload_as_str().unwrap_or(NON_STRING).to_owned(),
                info.location().map(ToString::to_string),
            );
            if backtrace.status() == BacktraceStatus::Captured {
                report = report.with_backtrace(backtrace);
            }
            let _ = LAST.try_with(|l| *l.borrow_mut() = Some(report));
        }));
    });
}

fn payload_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&'static str>().copied())
        .unwrap_or(NON_STRING)
}

/// Builds the report for a caught payload: the hook's record when it belongs to this panic
/// (a `resume_unwind` skips the hook and must not pick up an older record).
fn report_for(payload: &(dyn Any + Send)) -> PanicReport {
    let message = payload_message(payload);
    let recorded = LAST.with(|l| l.borrow_mut().take());
    match recorded {
        Some(r) if r.message() == message => r,
        _ => PanicReport::new(message.to_owned(), None),
    }
}

/// Runs `f` with this thread marked as capturing (so the hook records instead of printing).
/// One thread-local access for both the increment and the decrement; no guard is needed:
/// `catch_unwind` stops every unwind, so the decrement always runs.
#[inline]
fn capture<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    DEPTH.with(|depth| {
        depth.set(depth.get() + 1);
        let result = std::panic::catch_unwind(AssertUnwindSafe(f));
        depth.set(depth.get() - 1);
        result
    })
}

/// Runs `f`, turning a panic into a [`TaskError`].
///
/// # Errors
/// A `Panicked` error when `f` panics.
pub fn catch_unwind_sync<R>(f: impl FnOnce() -> R) -> Result<R, TaskError> {
    install_hook();
    capture(f).map_err(panicked)
}

/// Wraps a future so that a panic in any of its polls becomes a [`TaskError`].
#[inline]
pub fn catch_unwind<F: Future>(fut: F) -> CatchUnwind<F> {
    install_hook();
    CatchUnwind { fut }
}

pin_project_lite::pin_project! {
    /// The future returned by [`catch_unwind`]. Its output is the inner output, or a
    /// `Panicked` error. Do not poll it again after it returned a panic.
    #[must_use = "futures do nothing unless polled"]
    pub struct CatchUnwind<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, TaskError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        // AssertUnwindSafe (in `capture`): after a panic the future is never polled again;
        // its state is dropped with it, which is what unwinding would have done anyway.
        match capture(|| fut.poll(cx)) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panicked(payload))),
        }
    }
}

/// The `Panicked` error for a caught payload; every place that catches a panic (the capture,
/// a task's `JoinError`) turns its payload into an error here.
#[cold]
pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> TaskError {
    TaskError::panicked(report_for(&*payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[tokio::test]
    async fn string_payload() {
        let e = catch_unwind(async { panic!("user {} missing", 7) }).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked);
        let report = e.panic().unwrap();
        assert_eq!(report.message(), "user 7 missing");
        assert!(report.location().unwrap().starts_with(file!()), "{:?}", report.location());
    }

    #[tokio::test]
    async fn str_payload() {
        let e = catch_unwind(async { panic!("static") }).await.unwrap_err();
        assert_eq!(e.panic().unwrap().message(), "static");
    }

    #[tokio::test]
    async fn non_string_payload() {
        let e = catch_unwind(async { std::panic::panic_any(42_u32) }).await.unwrap_err();
        assert_eq!(e.panic().unwrap().message(), "non-string panic payload");
        assert!(e.panic().unwrap().location().is_some());
    }

    #[test]
    fn resume_unwind_skips_the_hook_and_takes_no_stale_record() {
        // Leave a stale record behind: a panic caught by the user's own catch_unwind inside
        // captured work.
        let r = catch_unwind_sync(|| std::panic::catch_unwind(|| panic!("inner")).is_err());
        assert_eq!(r.ok(), Some(true));
        let e = catch_unwind_sync(|| std::panic::resume_unwind(Box::new("resumed"))).unwrap_err();
        assert_eq!(e.panic().unwrap().message(), "resumed");
        assert_eq!(e.panic().unwrap().location(), None);
    }

    #[tokio::test]
    async fn ok_and_pending_pass_through() {
        assert_eq!(catch_unwind(async { 5 }).await.unwrap(), 5);
        let v = catch_unwind(async {
            tokio::task::yield_now().await;
            6
        })
        .await
        .unwrap();
        assert_eq!(v, 6);
    }

    #[tokio::test]
    async fn nested_captures_report_to_the_innermost() {
        let outer = catch_unwind(async {
            let inner = catch_unwind(async { panic!("inner") }).await;
            assert_eq!(inner.unwrap_err().panic().unwrap().message(), "inner");
            panic!("outer")
        })
        .await
        .unwrap_err();
        assert_eq!(outer.panic().unwrap().message(), "outer");
        // The depth counter is back to zero, so uncaptured panics go to the previous hook.
        assert_eq!(DEPTH.with(Cell::get), 0);
    }
}
