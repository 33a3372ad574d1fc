//! The breaker from the outside: its composition with `RetryPolicy` and budgets, the
//! registry, and (feature `tower`) the client layer. Paused clock throughout.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use result_runtime::breaker::{registry, CircuitBreaker, RetryBudget, State, Window};
use result_runtime::retry::RetryPolicy;
use result_runtime::{Code, Result, TaskError};
use tokio::time::{advance, Instant};

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .min_calls(4)
        .window(Window::Count(10))
        .open_for(Duration::from_secs(5))
        .half_open_calls(1)
        .jitter(0.0)
        .build()
        .unwrap()
}

/// A dependency that is down while `down` is set, counting the calls that reach it.
#[derive(Default)]
struct Dependency {
    calls: AtomicU32,
    up: std::sync::atomic::AtomicBool,
}

impl Dependency {
    async fn call(&self) -> Result<&'static str> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.up.load(Ordering::SeqCst) {
            Ok("ok")
        } else {
            Err(TaskError::new(Code::UNAVAILABLE, "connection refused"))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_breaker_sees_every_attempt_and_its_opening_stops_the_retries() {
    let b = breaker();
    let dep = Dependency::default();
    // Backoff capped at 1 s: shorter than the breaker's 5 s wait.
    let policy = RetryPolicy::new(3)
        .base_delay(Duration::from_millis(100))
        .max_delay(Duration::from_secs(1));
    let start = Instant::now();
    // First request: three attempts, all reach the dependency.
    let err = policy.run(|| b.call(dep.call())).await.unwrap_err();
    assert_eq!((err.code(), dep.calls.load(Ordering::SeqCst)), (Code::UNAVAILABLE, 3));
    // Second request: its first attempt is the fourth failure, which opens the breaker; the
    // second attempt is refused with retry_after = 5 s > the 1 s cap: the policy gives up.
    let err = policy.run(|| b.call(dep.call())).await.unwrap_err();
    assert_eq!(err.code(), Code::CIRCUIT_OPEN);
    assert_eq!(dep.calls.load(Ordering::SeqCst), 4);
    assert_eq!(b.state(), State::Open);
    // While open, requests are refused at once, without touching the dependency or sleeping.
    let before = start.elapsed();
    for _ in 0..100 {
        let err = policy.run(|| b.call(dep.call())).await.unwrap_err();
        assert_eq!(err.code(), Code::CIRCUIT_OPEN);
    }
    assert_eq!((dep.calls.load(Ordering::SeqCst), start.elapsed()), (4, before));
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_may_wait_out_the_open_time_probes_and_succeeds() {
    let b = breaker();
    let dep = Dependency::default();
    for _ in 0..4 {
        let _ = b.call(dep.call()).await;
    }
    assert_eq!(b.state(), State::Open);
    dep.up.store(true, Ordering::SeqCst);
    advance(Duration::from_secs(2)).await;
    // The cap (10 s by default) allows the 3 s that are left: the policy waits them, its
    // retry is the half-open probe, and it succeeds and closes the breaker.
    let start = Instant::now();
    let v = RetryPolicy::new(2).run(|| b.call(dep.call())).await.unwrap();
    assert_eq!(v, "ok");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!((b.state(), dep.calls.load(Ordering::SeqCst)), (State::Closed, 5));
}

#[tokio::test(start_paused = true)]
async fn a_budget_caps_retries_across_requests_while_the_breaker_counts_attempts() {
    let budget = RetryBudget::builder().ratio(0.1).min_per_sec(0).build().unwrap();
    let b = CircuitBreaker::builder().min_calls(100).window(Window::Count(100)).build().unwrap();
    let dep = Dependency::default();
    let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(1)).budget(budget.clone());
    for _ in 0..50 {
        let _ = policy.run(|| b.call(dep.call())).await;
    }
    // 50 first attempts earn 5 retries: 55 calls, not 150. Refused: the first retry of 45
    // requests and the second retry of the 5 that made one.
    assert_eq!(dep.calls.load(Ordering::SeqCst), 55);
    assert_eq!(budget.exhausted(), 50);
}

#[tokio::test(start_paused = true)]
async fn named_breakers_are_shared_and_configured_once() {
    let a = registry().breaker("tests-shared");
    let b = registry().breaker("tests-shared");
    assert!(a.same_as(&b));
    assert_eq!(a.name(), Some("tests-shared"));
    let e = registry().register_breaker("tests-shared", CircuitBreaker::builder()).unwrap_err();
    assert_eq!(e.setting(), "name");
    let c = registry()
        .register_breaker(
            "tests-configured",
            CircuitBreaker::builder().min_calls(1).window(Window::Count(1)),
        )
        .unwrap();
    let _ = c.call(async { Err::<(), _>(TaskError::new(Code::UNAVAILABLE, "x")) }).await;
    assert_eq!(registry().breaker("tests-configured").state(), State::Open);
    let bad = registry().register_breaker("tests-bad", CircuitBreaker::builder().min_calls(0));
    assert_eq!(bad.unwrap_err().setting(), "min_calls");
    // The call-site cache the macro expansion uses.
    static CELL: std::sync::OnceLock<CircuitBreaker> = std::sync::OnceLock::new();
    assert!(result_runtime::breaker::__named(&CELL, "tests-configured").same_as(&c));
    let budget = registry().budget("tests-budget");
    assert_eq!(registry().budget("tests-budget"), budget);
    let _ = Arc::new(());
}

#[cfg(feature = "tower")]
mod layer {
    use super::*;
    use result_runtime::breaker::BreakerLayer;
    use tower::{Layer, Service, ServiceExt};

    type Req = http::Request<()>;

    /// An upstream that answers every call with `grpc-status: 14` (or 5 for `/not-found`),
    /// counting the calls that reach it.
    fn upstream(
        calls: Arc<AtomicU32>,
    ) -> impl Service<
        Req,
        Response = http::Response<()>,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone {
        tower::service_fn(move |req: Req| {
            calls.fetch_add(1, Ordering::SeqCst);
            let status = if req.uri().path() == "/not-found" { "5" } else { "14" };
            async move { Ok(http::Response::builder().header("grpc-status", status).body(()).unwrap()) }
        })
    }

    fn req(path: &str) -> Req {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn per_method_breakers_open_separately_and_refusals_never_reach_the_upstream() {
        let calls = Arc::new(AtomicU32::new(0));
        let layer = BreakerLayer::per_method(
            CircuitBreaker::builder().name("up").min_calls(3).window(Window::Count(3)).jitter(0.0),
        )
        .unwrap();
        let mut svc =
            tower::ServiceBuilder::new().layer(layer.clone()).service(upstream(calls.clone()));
        for _ in 0..3 {
            let res = svc.ready().await.unwrap().call(req("/pkg.Svc/Down")).await.unwrap();
            assert_eq!(res.headers()["grpc-status"], "14");
        }
        // Open: refused with CIRCUIT_OPEN, and the upstream is not called.
        let err = svc.ready().await.unwrap().call(req("/pkg.Svc/Down")).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        #[cfg(feature = "grpc")]
        {
            let status = err.downcast_ref::<tonic::Status>().expect("a tonic status");
            assert_eq!(status.code(), tonic::Code::Unavailable);
            let e = result_runtime::middleware::grpc::task_error_of(status).unwrap();
            assert_eq!(
                (e.code(), e.retry_after()),
                (Code::CIRCUIT_OPEN, Some(Duration::from_secs(5)))
            );
        }
        #[cfg(not(feature = "grpc"))]
        assert!(err.to_string().contains("CIRCUIT_OPEN"), "{err}");
        // Another method has its own breaker; NOT_FOUND answers never open it.
        for _ in 0..20 {
            let res = svc.ready().await.unwrap().call(req("/not-found")).await.unwrap();
            assert_eq!(res.headers()["grpc-status"], "5");
        }
        let states: Vec<_> = layer
            .breakers()
            .into_iter()
            .map(|(k, b)| (k, b.name().unwrap().to_owned(), b.state()))
            .collect();
        assert_eq!(
            states,
            [
                ("/not-found".into(), "up:/not-found".into(), State::Closed),
                ("/pkg.Svc/Down".into(), "up:/pkg.Svc/Down".into(), State::Open)
            ]
        );
        assert_eq!(calls.load(Ordering::SeqCst), 23);
    }

    #[tokio::test(start_paused = true)]
    async fn transport_errors_count_and_http_statuses_are_classified() {
        let b = CircuitBreaker::builder()
            .min_calls(2)
            .window(Window::Count(2))
            .jitter(0.0)
            .build()
            .unwrap();
        let mut failing = BreakerLayer::new(b.clone()).layer(tower::service_fn(|_: Req| async {
            Err::<http::Response<()>, _>(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))
        }));
        for _ in 0..2 {
            let _ = failing.ready().await.unwrap().call(req("/")).await.unwrap_err();
        }
        assert_eq!(b.state(), State::Open);

        let b = CircuitBreaker::builder().min_calls(3).window(Window::Count(3)).build().unwrap();
        let mut http = BreakerLayer::new(b.clone()).layer(tower::service_fn(|r: Req| async move {
            let status: u16 = r.uri().path()[1..].parse().unwrap();
            Ok::<_, std::convert::Infallible>(
                http::Response::builder().status(status).body(()).unwrap(),
            )
        }));
        for path in ["/404", "/400", "/200", "/404"] {
            http.ready().await.unwrap().call(req(path)).await.unwrap();
        }
        assert_eq!(b.state(), State::Closed);
        http.ready().await.unwrap().call(req("/503")).await.unwrap();
        assert_eq!(b.state(), State::Closed, "one 503 in the last three calls");
        http.ready().await.unwrap().call(req("/502")).await.unwrap();
        assert_eq!(b.state(), State::Open);
    }
}
