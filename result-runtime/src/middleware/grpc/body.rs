//! The bodies the server layer wraps: the request body it watches for the client's reset,
//! and the response body that finishes the call when its `grpc-status` trailer passes.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

use pin_project_lite::pin_project;

use super::layer::Pending;
use super::status::status_code;
use crate::Code;

/// A request body the layer can watch for the client's cancellation.
///
/// tonic reads a request body that ends in a reset (the client cancelled) as a body that
/// simply ended, and a unary handler then answers `INTERNAL "Missing request message."`.
/// The layer watches the body so that such a call is logged and counted as `CANCELLED` at
/// info level, not as a server error. Implemented for tonic's body (what a tonic server
/// hands its layers) and for `()`.
pub trait WatchBody: Sized {
    /// The same body, reporting an error frame to `gone`.
    #[must_use]
    fn watch(self, gone: Arc<AtomicBool>) -> Self;
}

impl WatchBody for tonic::body::Body {
    fn watch(self, gone: Arc<AtomicBool>) -> Self {
        Self::new(Watched { inner: self, gone })
    }
}

impl WatchBody for () {
    fn watch(self, _gone: Arc<AtomicBool>) -> Self {}
}

pin_project! {
    /// A request body that records whether it ended in an error (a reset stream).
    struct Watched<B> {
        #[pin]
        inner: B,
        gone: Arc<AtomicBool>,
    }
}

impl<B: http_body::Body> http_body::Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if matches!(frame, Some(Err(_))) {
            this.gone.store(true, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The response body of [`ResultService`]: the inner body, watched for the
    /// `grpc-status` trailer of a response whose head said nothing about failure (a
    /// streaming response can still fail there). The call is logged and counted when the
    /// trailers pass, or as `CANCELLED` when the body is dropped before its end.
    pub struct ResultBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }

    impl<B> PinnedDrop for ResultBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(pending) = this.project().pending.take() {
                pending.finish(Some(Code::CANCELLED), None);
            }
        }
    }
}

impl<B> ResultBody<B> {
    /// `inner`, finishing `pending` (when given) as its frames pass.
    pub(super) fn new(inner: B, pending: Option<Pending>) -> Self {
        Self { inner, pending }
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: http_body::Body> http_body::Body for ResultBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if this.pending.is_some() {
            let code = match &frame {
                // Trailers without `grpc-status`: nothing said it failed.
                Some(Ok(f)) => f.trailers_ref().map(|t| status_code(t).unwrap_or(None)),
                Some(Err(_)) => Some(Some(Code::INTERNAL)),
                // The end without trailers: nothing said it failed.
                None => Some(None),
            };
            if let Some(code) = code {
                this.pending.take().expect("checked").finish(code, None);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
