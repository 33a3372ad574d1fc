//! One Redis node of the tier: a [`ConnectionManager`] (one multiplexed connection that
//! reconnects in the background), a short per-command timeout, and health.
//!
//! A command that errors or times out marks the node *down* for the configured back-off;
//! while it is down no command is sent to it, and the tier serves its keys from L1 plus local
//! single-flight loads. The first command after the back-off is the probe: if it succeeds the
//! node is up again, if it fails the back-off starts over. Nothing here ever returns an error
//! to a caller of the cache: a failed command is `None`, and the caller falls back.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::RedisResult;

use super::stats::RemoteCounters;

pub(crate) struct Node {
    /// Which node this is in the configured list (for logs; never the URL, which may hold a
    /// password).
    pub(crate) index: usize,
    conn: ConnectionManager,
    timeout: Duration,
    down_for: Duration,
    base: Instant,
    /// Milliseconds since `base` until which the node is down; 0 = up.
    down_until: AtomicU64,
    /// Whether the last transition logged was "down" (so each outage logs once).
    reported_down: AtomicBool,
    counters: Arc<RemoteCounters>,
}

impl Node {
    pub(crate) fn new(
        index: usize,
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
        Ok(Self {
            index,
            conn,
            timeout,
            down_for,
            base: Instant::now(),
            down_until: AtomicU64::new(0),
            reported_down: AtomicBool::new(false),
            counters,
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Whether commands may be sent (up, or its back-off has passed and this is the probe).
    pub(crate) fn is_up(&self) -> bool {
        let until = self.down_until.load(Relaxed);
        until == 0 || self.now_ms() >= until
    }

    /// Runs one command (or pipeline, or script) on the node, within the command timeout.
    /// `None` when the node is down, the command failed or it timed out; the node is then
    /// marked down.
    pub(crate) async fn run<T, F, Fut>(&self, what: &'static str, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if !self.is_up() {
            return None;
        }
        match tokio::time::timeout(self.timeout, f(self.conn.clone())).await {
            Ok(Ok(v)) => {
                self.mark_up();
                Some(v)
            }
            Ok(Err(e)) => {
                self.mark_down(what, &e as &dyn std::fmt::Display);
                None
            }
            Err(_) => {
                self.mark_down(what, &"timed out");
                None
            }
        }
    }

    fn mark_up(&self) {
        if self.down_until.load(Relaxed) != 0 {
            self.down_until.store(0, Relaxed);
            if self.reported_down.swap(false, Relaxed) {
                tracing::info!(node = self.index, "result cache: Redis node answers again");
            }
        }
    }

    pub(crate) fn mark_down(&self, what: &'static str, why: &dyn std::fmt::Display) {
        self.counters.node_errors.fetch_add(1, Relaxed);
        let back_off = u64::try_from(self.down_for.as_millis()).unwrap_or(u64::MAX);
        self.down_until.store(self.now_ms().saturating_add(back_off), Relaxed);
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
