//! How replicas hear each other: one pub/sub subscription per node to the namespace's event
//! channel, and the table of this process's waiters.
//!
//! A waiter registers *before* it asks for the lease, so a `Done` published between its
//! `ACQUIRE` and its wait is not missed. Messages can still be lost (a subscription drops
//! while its node restarts), so every wait is bounded by a poll: the waiter then asks again,
//! which is also how it notices a dead holder's lease lapse. When a subscription comes back
//! after a gap, invalidations may have been missed, so the replica drops its whole L1
//! (its entries have a short TTL anyway).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::codec::{decode_event, Event, WireError};

type Note = Option<Option<WireError>>;
/// Key bytes → the channel that wakes its waiters, and how many wait.
type Table = HashMap<Vec<u8>, (watch::Sender<Note>, usize)>;

/// This process's waiters, by key bytes. Few entries: local single-flight means at most one
/// waiting flight per key.
#[derive(Default)]
pub(crate) struct Waiters {
    map: Mutex<Table>,
}

impl Waiters {
    /// Registers a wait for `key`'s next `Done`.
    pub(crate) fn register(self: &Arc<Self>, key: &[u8]) -> WaitGuard {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let (tx, refs) = map.entry(key.to_vec()).or_insert_with(|| (watch::channel(None).0, 0));
        *refs += 1;
        let rx = tx.subscribe();
        WaitGuard { waiters: Arc::clone(self), key: key.to_vec(), rx }
    }

    /// Wakes the waiters of `key` (none is fine: nobody here was waiting).
    pub(crate) fn notify(&self, key: &[u8], error: Option<WireError>) {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((tx, _)) = map.get(key) {
            tx.send_replace(Some(error));
        }
    }
}

pub(crate) struct WaitGuard {
    waiters: Arc<Waiters>,
    key: Vec<u8>,
    rx: watch::Receiver<Note>,
}

impl WaitGuard {
    /// Waits for the next `Done` of the key, at most `poll`. `Some(error)` when it came
    /// (`error` set when the holder's load failed with an error that was not stored), `None`
    /// on timeout.
    pub(crate) async fn next(&mut self, poll: Duration) -> Option<Option<WireError>> {
        match tokio::time::timeout(poll, self.rx.changed()).await {
            Ok(Ok(())) => self.rx.borrow_and_update().clone(),
            _ => None,
        }
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let mut map = self.waiters.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, refs)) = map.get_mut(&self.key) {
            *refs -= 1;
            if *refs == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// What a subscription hands to the tier.
pub(crate) enum Heard {
    Event(Event),
    /// The subscription came back after a gap: events may have been missed.
    Resubscribed,
}

/// One node's subscription to a namespace's event channel.
pub(crate) struct Subscription {
    pub(crate) node: usize,
    pub(crate) client: redis::Client,
    pub(crate) channel: String,
    pub(crate) connect_timeout: Duration,
    /// How long to wait before subscribing again after the subscription dropped.
    pub(crate) retry: Duration,
}

/// Keeps `sub` subscribed until `cancel`: reconnects after `sub.retry` when it drops.
/// `ready` fires after the first attempt (subscribed or not), so a cache that is built is
/// already listening on every node that answered.
pub(crate) fn spawn_subscriber(
    sub: Subscription,
    cancel: CancellationToken,
    ready: oneshot::Sender<()>,
    heard: Arc<dyn Fn(Heard) + Send + Sync>,
) {
    let Subscription { node, client, channel, connect_timeout, retry } = sub;
    tokio::spawn(async move {
        let mut ready = Some(ready);
        let mut had_gap = false;
        loop {
            let attempt = async {
                let mut ps = client.get_async_pubsub().await?;
                ps.subscribe(&channel).await?;
                redis::RedisResult::Ok(ps)
            };
            let subscribed = tokio::select! {
                () = cancel.cancelled() => return,
                r = tokio::time::timeout(connect_timeout, attempt) => r,
            };
            if let Some(tx) = ready.take() {
                let _ = tx.send(());
            }
            if let Ok(Ok(ps)) = subscribed {
                if had_gap {
                    heard(Heard::Resubscribed);
                }
                let mut stream = ps.into_on_message();
                loop {
                    let msg = tokio::select! {
                        () = cancel.cancelled() => return,
                        m = stream.next() => m,
                    };
                    let Some(msg) = msg else { break };
                    match decode_event(msg.get_payload_bytes()) {
                        Some(event) => heard(Heard::Event(event)),
                        None => tracing::warn!(node, "result cache: ignored a foreign event"),
                    }
                }
                tracing::debug!(node, "result cache: event subscription lost; reconnecting");
            }
            had_gap = true;
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(retry) => {}
            }
        }
    });
}
