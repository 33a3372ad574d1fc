//! [`BreakerLayer`]: a circuit breaker on a tower client (a tonic `Channel`, a hyper client),
//! one breaker per upstream or one per key of the request (per method, per host).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::{CircuitBreaker, CircuitBreakerBuilder, OwnedPermit};
use crate::{Code, ConfigError, TaskError};

/// The error type of a [`BreakerService`]: the inner service's error, boxed, or the
/// breaker's refusal.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type KeyFn = dyn for<'a> Fn(&'a http::Uri) -> Cow<'a, str> + Send + Sync;

#[derive(Clone)]
enum Keying {
    One(CircuitBreaker),
    PerKey {
        builder: CircuitBreakerBuilder,
        key: Arc<KeyFn>,
        breakers: Arc<Mutex<HashMap<Box<str>, CircuitBreaker>>>,
    },
}

/// Wraps a client service so that each request goes through a [`CircuitBreaker`].
///
/// How a response counts: an `Err` from the inner service (a transport error: no answer) is a
/// failure; a response with a `grpc-status` header (tonic's trailers-only error responses) is
/// classified by that code ([`Code::from_grpc`]), any other response by its HTTP status
/// ([`Code::from_http`]; below 400 is a success); then the breaker's policy applies (by
/// default [`code_verdict`](super::code_verdict): `UNAVAILABLE`, 429, 5xx... count, 404 and
/// 400 do not). A gRPC status sent in trailers after a streamed body is not seen: the call
/// counts as a success when its headers arrive.
///
/// A refused call never reaches the inner service. Its error is the breaker's
/// `CIRCUIT_OPEN` [`TaskError`], boxed as a `tonic::Status` under the `grpc` feature (so that
/// a tonic client returns it as its status, `UNAVAILABLE`, with the `TaskError` recoverable by
/// [`task_error_of`](crate::middleware::grpc::task_error_of)), else boxed as a std error.
///
/// # Examples
///
/// ```
/// use result_runtime::breaker::{BreakerLayer, CircuitBreaker};
///
/// // One breaker for the whole upstream:
/// let layer = BreakerLayer::new(CircuitBreaker::builder().name("inventory").build().unwrap());
/// // Or one per gRPC method (the request path), each named "inventory:/pkg.Svc/Method":
/// let per_method = BreakerLayer::per_method(CircuitBreaker::builder().name("inventory")).unwrap();
/// // Or by any key of the URI:
/// let per_host = BreakerLayer::per_key(CircuitBreaker::builder(), |uri| {
///     uri.authority().map_or("", |a| a.as_str()).into()
/// })
/// .unwrap();
/// # drop((layer, per_method, per_host));
/// // let channel = tower::ServiceBuilder::new().layer(layer).service(channel);
/// ```
#[derive(Clone)]
pub struct BreakerLayer {
    keying: Keying,
}

impl fmt::Debug for BreakerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.keying {
            Keying::One(b) => f.debug_tuple("BreakerLayer").field(b).finish(),
            Keying::PerKey { builder, .. } => {
                f.debug_struct("BreakerLayer").field("per_key", builder).finish()
            }
        }
    }
}

impl BreakerLayer {
    /// Every request goes through `breaker` (one breaker per upstream).
    #[must_use]
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self { keying: Keying::One(breaker) }
    }

    /// One breaker per key of the request's URI, each built from `builder` on the key's first
    /// request and named `"{name}:{key}"` (or the key, when `builder` has no name).
    ///
    /// # Errors
    /// The builder's [`ConfigError`], checked here rather than on the first request.
    pub fn per_key<F>(builder: CircuitBreakerBuilder, key: F) -> Result<Self, ConfigError>
    where
        F: for<'a> Fn(&'a http::Uri) -> Cow<'a, str> + Send + Sync + 'static,
    {
        builder.clone().build()?;
        Ok(Self {
            keying: Keying::PerKey { builder, key: Arc::new(key), breakers: Arc::default() },
        })
    }

    /// One breaker per request path: per gRPC method.
    ///
    /// # Errors
    /// The builder's [`ConfigError`].
    pub fn per_method(builder: CircuitBreakerBuilder) -> Result<Self, ConfigError> {
        Self::per_key(builder, |uri| Cow::Borrowed(uri.path()))
    }

    /// The breakers made so far, by key (one, keyed `""`, for [`new`](Self::new)).
    #[must_use]
    pub fn breakers(&self) -> Vec<(String, CircuitBreaker)> {
        match &self.keying {
            Keying::One(b) => vec![(String::new(), b.clone())],
            Keying::PerKey { breakers, .. } => {
                let map = breakers.lock().unwrap_or_else(PoisonError::into_inner);
                let mut v: Vec<_> = map.iter().map(|(k, b)| (k.to_string(), b.clone())).collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            }
        }
    }
}

impl Keying {
    fn breaker(&self, uri: &http::Uri) -> CircuitBreaker {
        match self {
            Self::One(b) => b.clone(),
            Self::PerKey { builder, key, breakers } => {
                let key = key(uri);
                let mut map = breakers.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(b) = map.get(&*key) {
                    return b.clone();
                }
                let name = match &builder.name {
                    Some(base) => format!("{base}:{key}"),
                    None => key.to_string(),
                };
                let b = builder.clone().name(name).build().expect("validated by the constructor");
                map.insert(key.into(), b.clone());
                b
            }
        }
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = BreakerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService { inner, keying: self.keying.clone() }
    }
}

/// The service [`BreakerLayer`] makes.
#[derive(Clone)]
pub struct BreakerService<S> {
    inner: S,
    keying: Keying,
}

impl<S: fmt::Debug> fmt::Debug for BreakerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<http::Request<B>> for BreakerService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let breaker = self.keying.breaker(req.uri());
        match breaker.acquire_owned() {
            Ok(permit) => ResponseFuture {
                inner: Some(self.inner.call(req)),
                permit: Some(permit),
                refused: None,
            },
            Err(e) => ResponseFuture { inner: None, permit: None, refused: Some(e) },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`BreakerService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedPermit>,
        refused: Option<TaskError>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("refused", &self.refused.is_some())
            .finish_non_exhaustive()
    }
}

fn refusal(e: TaskError) -> BoxError {
    #[cfg(feature = "grpc")]
    {
        Box::new(tonic::Status::from(e))
    }
    #[cfg(not(feature = "grpc"))]
    {
        Box::from(e)
    }
}

/// The code a response reports, if it is an error.
fn response_code<RB>(res: &http::Response<RB>) -> Option<Code> {
    if let Some(status) = res.headers().get("grpc-status") {
        let n: i32 = status.to_str().ok()?.trim().parse().ok()?;
        return (n != 0).then(|| Code::from_grpc(n));
    }
    let s = res.status().as_u16();
    (s >= 400).then(|| Code::from_http(s))
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<RB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let e = this.refused.take().expect("polled after completion");
            return Poll::Ready(Err(refusal(e)));
        };
        let out = std::task::ready!(inner.poll(cx));
        if let Some(permit) = this.permit.take() {
            match &out {
                Ok(res) => permit.record_code(response_code(res)),
                Err(_) => permit.verdict(super::Verdict::Failure),
            }
        }
        Poll::Ready(out.map_err(Into::into))
    }
}
