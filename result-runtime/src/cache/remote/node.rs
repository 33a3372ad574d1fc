//! One Redis node of the tier: a [`ConnectionManager`] (one multiplexed connection that
//! reconnects in the background), a short per-command timeout, and health.
//!
//! Health is the crate's own [`CircuitBreaker`], one per node, named
//! `cache:{namespace}:node{index}` (so its state is in the `breaker_*` metrics): a command
//! that errors or times out opens it for the configured back-off; while it is open no
//! command is sent to the node, and the tier serves its keys from L1 plus local single-flight
//! loads. After the back-off exactly one command is the probe (others keep falling back):
//! if it succeeds the node is up again; if it fails the back-off doubles (with jitter, up to
//! 8 times the first). Nothing here ever returns an error to a caller of the cache: a failed
//! command is `None`, and the caller falls back.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::RedisResult;

use super::stats::RemoteCounters;
use crate::breaker::{CircuitBreaker, Permit, Window};

pub(crate) struct Node {
    /// Which node this is in the configured list (for logs; never the URL, which may hold a
    /// password).
    pub(crate) index: usize,
    conn: ConnectionManager,
    timeout: Duration,
    health: CircuitBreaker,
    /// Whether the last transition logged was "down" (so each outage logs once).
    reported_down: AtomicBool,
    counters: Arc<RemoteCounters>,
}

impl Node {
    pub(crate) fn new(
        index: usize,
        namespace: &str,
        client: redis::Client,
        timeout: Duration,
        down_for: Duration,
        counters: Arc<RemoteCounters>,
    ) -> RedisResult<Self> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(down_for);
        // Lazy: a node that is down when the cache is built does not fail the build; it is
        // connected on first use, and reconnected in the background after a failure.
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        // One failed command is enough: a cache must not keep a request waiting on a node
        // that just failed (the window is the last call).
        let health = CircuitBreaker::builder()
            .name(format!("cache:{namespace}:node{index}"))
            .window(Window::Count(1))
            .min_calls(1)
            .failure_rate(1.0)
            .open_for(down_for)
            .max_open_for(down_for.saturating_mul(8))
            .half_open_calls(1)
            .build()
            .expect("settings valid for any positive down_for");
        Ok(Self { index, conn, timeout, health, reported_down: AtomicBool::new(false), counters })
    }

    /// Runs one command (or pipeline, or script) on the node, within the command timeout.
    /// `None` when the node is down, the command failed or it timed out; the node is then
    /// marked down.
    ///
    /// # Cancel safety
    /// A command dropped midway counts as neither success nor failure (a dropped probe lets
    /// the next command probe).
    pub(crate) async fn run<T, F, Fut>(&self, what: &'static str, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let permit = self.health.try_acquire().ok()?;
        match tokio::time::timeout(self.timeout, f(self.conn.clone())).await {
            Ok(Ok(v)) => {
                permit.success();
                if self.reported_down.swap(false, Relaxed) {
                    tracing::info!(node = self.index, "result cache: Redis node answers again");
                }
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(permit, what, &e as &dyn std::fmt::Display);
                None
            }
            Err(_) => {
                self.failed(permit, what, &"timed out");
                None
            }
        }
    }

    /// Marks the node down after a reply that made no sense (the command itself succeeded).
    pub(crate) fn mark_down(&self, what: &'static str, why: &dyn std::fmt::Display) {
        if let Ok(permit) = self.health.try_acquire() {
            self.failed(permit, what, why);
        }
    }

    fn failed(&self, permit: Permit<'_>, what: &'static str, why: &dyn std::fmt::Display) {
        permit.failure();
        self.counters.node_errors.fetch_add(1, Relaxed);
        if !self.reported_down.swap(true, Relaxed) {
            tracing::warn!(
                node = self.index,
                command = what,
                error = %why,
                "result cache: Redis node marked down; its keys are served from L1 and local loads"
            );
        }
    }
}
