//! The circuit breaker's costs, each against its peer in the same run:
//! - a closed breaker around a ready future vs the bare future (goal: <= 20 ns added), and vs
//!   failsafe-rs's breaker on the same work (goal <= 1.0x); also the time-window breaker
//!   (every call takes the lock and reads the clock), for reference;
//! - an open breaker's rejection under the retry policy vs the same policy calling a dead
//!   loopback port (what a caller waits per request while the dependency is down).

#[path = "support/mod.rs"]
mod support;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

use criterion::Criterion;
use failsafe::futures::CircuitBreaker as _;
use result_runtime::breaker::{CircuitBreaker, State, Window};
use result_runtime::retry::RetryPolicy;
use result_runtime::{Code, Result, TaskError};

fn poll_ready<F: Future>(fut: F) -> F::Output {
    let mut cx = TaskCx::from_waker(Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the benched futures are ready"),
    }
}

async fn ready() -> Result<u64> {
    Ok(black_box(1))
}

fn closed(c: &mut Criterion) {
    let ours = CircuitBreaker::builder().build().unwrap();
    let timed = CircuitBreaker::builder()
        .window(Window::Time { span: Duration::from_secs(10), buckets: 10 })
        .build()
        .unwrap();
    let theirs = failsafe::Config::new().build();
    let mut g = c.benchmark_group("breaker_closed");
    g.bench_function("bare_future", |b| {
        b.iter_custom(|iters| {
            support::record("bare_future", iters, || {
                black_box(poll_ready(ready()).ok());
            })
        });
    });
    g.bench_function("breaker_call", |b| {
        b.iter_custom(|iters| {
            support::record("breaker_call", iters, || {
                black_box(poll_ready(ours.call(ready())).ok());
            })
        });
    });
    g.bench_function("permit_only", |b| {
        b.iter_custom(|iters| {
            support::record("permit_only", iters, || {
                black_box(&ours).try_acquire().unwrap().success();
            })
        });
    });
    g.bench_function("failsafe_call", |b| {
        b.iter_custom(|iters| {
            support::record("failsafe_call", iters, || {
                black_box(poll_ready(theirs.call(ready())).ok());
            })
        });
    });
    g.bench_function("breaker_call_time_window", |b| {
        b.iter_custom(|iters| {
            support::record("breaker_call_time_window", iters, || {
                black_box(poll_ready(timed.call(ready())).ok());
            })
        });
    });
    g.finish();
    assert_eq!((ours.state(), timed.state()), (State::Closed, State::Closed));
}

fn open(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // The backoff cap (100 ms) is below the open wait (5 s): the policy gives up at once on
    // CIRCUIT_OPEN. The same policy retries the dead port twice, 1 ms then 2 ms (jittered).
    let policy = RetryPolicy::new(3)
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(100));
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // dropped: connections to it are refused
    let connect = move || async move {
        tokio::net::TcpStream::connect(dead).await.map(drop).map_err(TaskError::from)
    };
    let tripped = CircuitBreaker::builder().min_calls(1).window(Window::Count(1)).build().unwrap();
    let err = rt.block_on(tripped.call(connect())).unwrap_err();
    assert_eq!((err.code(), tripped.state()), (Code::UNAVAILABLE, State::Open));

    let mut g = c.benchmark_group("breaker_open");
    g.bench_function("open_rejection_with_retry", |b| {
        b.iter_custom(|iters| {
            support::record("open_rejection_with_retry", iters, || {
                let e = rt.block_on(policy.run(|| tripped.call(connect()))).unwrap_err();
                debug_assert_eq!(e.code(), Code::CIRCUIT_OPEN);
                black_box(e);
            })
        });
    });
    g.bench_function("dead_port_with_retry", |b| {
        b.iter_custom(|iters| {
            support::record("dead_port_with_retry", iters, || {
                black_box(rt.block_on(policy.run(connect)).unwrap_err());
            })
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    closed(&mut c);
    open(&mut c);
    c.final_summary();
    support::ratio("closed breaker vs failsafe-rs", "breaker_call", "failsafe_call", "<= 1.0x");
    support::ratio(
        "closed breaker vs bare future",
        "breaker_call",
        "bare_future",
        "<= 20 ns added",
    );
    if let (Some(ours), Some(bare)) =
        (support::mean_ns("breaker_call"), support::mean_ns("bare_future"))
    {
        println!("RATIO closed breaker added time: {:.1} ns (goal <= 20 ns)", ours - bare);
    }
    support::ratio(
        "time-window breaker vs failsafe-rs",
        "breaker_call_time_window",
        "failsafe_call",
        "reference",
    );
    support::ratio(
        "open rejection vs dead loopback port, both under RetryPolicy(3)",
        "open_rejection_with_retry",
        "dead_port_with_retry",
        "as low as it goes",
    );
}
