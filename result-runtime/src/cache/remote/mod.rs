//! The shared tier of a [`ResultCache`]: L2 on Redis nodes, with fleet-wide single-flight
//! (feature `redis`). Built by [`CacheBuilder::redis`](crate::cache::CacheBuilder::redis).
//!
//! ## What a tiered cache does on an L1 miss
//!
//! The in-process single-flight of [`ResultCache`] still runs first: N callers in a process
//! make one flight, and only that flight talks to Redis (one lease attempt per key per
//! process). The flight then:
//!
//! 1. reads the entry from the key's node (`GET` + `PTTL` in one round trip). This read is
//!    made by the caller that started the flight, in its own task, before anything is
//!    spawned, so an L2 hit costs about what a plain `GET` does (if that caller is dropped
//!    mid-read, a spawned task takes the flight over and reads again). A value or a
//!    negative entry is the answer: it goes into L1 for at most the [local
//!    TTL](RedisCacheBuilder::local_ttl) and never past its remaining TTL in Redis;
//! 2. on a miss (or a node that is down), a spawned task carries on: it asks for the key's lease in one script (`SET lease:{key} token NX PX
//!    lease_ttl`, after re-reading the entry so a result stored a moment ago is read, not
//!    loaded again);
//! 3. with the lease, runs the loader (extending the lease every third of its TTL while the
//!    load runs), then, in one script that compares the token: stores the value for the TTL,
//!    or a non-retryable error as a negative entry for the negative TTL, releases the lease
//!    and publishes `Done`. A retryable error (or a panic, or a cancellation) is never stored:
//!    the lease is released at once and `Done` carries the error, which every waiting replica
//!    answers with;
//! 4. without the lease, waits for `Done` on the namespace's pub/sub channel (a wait bounded
//!    by a poll interval and by the lease's remaining TTL, in case the message is lost or the
//!    holder died), then reads again. If the holder died, its lease lapses and exactly one
//!    waiter (whichever `SET NX` wins) takes over.
//!
//! [`ResultCache::invalidate_everywhere`] deletes the entry and any lease and publishes an
//! invalidation that every replica applies to its L1. The synchronous methods stay local:
//! `get` reads L1 only, and `insert`, `invalidate` and `invalidate_all` change this
//! replica's L1 only.
//!
//! ## Redis is a cache, not a dependency
//!
//! Every command has a short timeout. A node that errors or times out is marked down for a
//! back-off, and while it is down its keys are served from L1 and loaded locally (still
//! single-flight within the process): no call fails because Redis is down, and a Redis
//! outage costs one load per key per replica, not a failed request. Entries read back are
//! untrusted: a corrupt, truncated or foreign entry is a miss, counted in
//! [`RemoteStats::corrupt`] and logged at warn.
//!
//! ## Placement
//!
//! Each key lives on one node, chosen by [`HashRing`] over the node
//! URLs: every replica must list the same URLs (in any order). Adding a node moves about
//! 1/(n+1) of the keys, removing one moves only its keys; a moved key is one miss.

mod builder;
mod codec;
mod events;
mod lease;
mod node;
mod stats;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cache::HashRing;
use crate::error::{ErrorKind, Result, TaskError};

pub use builder::RedisCacheBuilder;
pub use stats::RemoteStats;

use codec::{decode_entry, encode_entry, encode_event, encode_key, Event, Names, WireError};
use events::Waiters;
use lease::{Acquired, Scripts};
use node::Node;
use stats::RemoteCounters;

#[allow(unused_imports)] // named in docs
use crate::cache::ResultCache;

/// The loader of a flight, boxed so that the tier is object-safe.
pub(crate) type LocalLoad<V> = Box<dyn FnOnce() -> BoxFuture<'static, Result<V>> + Send>;

/// What a tiered flight ended with.
pub(crate) struct Loaded<V> {
    pub(crate) result: Result<V>,
    /// The longest this result may live in L1, in nanoseconds.
    pub(crate) l1_cap: u64,
    /// Whether this process ran the loader (counted as a load in [`CacheStats`]).
    ///
    /// [`CacheStats`]: crate::cache::CacheStats
    pub(crate) ran_loader: bool,
}

/// The remote tier as the cache sees it: object-safe, so `ResultCache<K, V>` needs no serde
/// bounds of its own.
/// What the first read of an L1 miss found, before any flight task was spawned.
pub(crate) enum Read<V> {
    /// A value or a negative entry: the answer.
    Hit(Loaded<V>),
    /// Nothing usable: no entry, or these corrupt bytes (which the lease script may drop).
    Miss(Option<Vec<u8>>),
    /// The key did not serialize, or its node is down or failed: load locally.
    Unavailable,
}

pub(crate) trait Tier<K, V>: Send + Sync {
    /// The hit path: one round trip to the key's node, run by the caller that owns the
    /// process's flight of `key`, before any task is spawned.
    fn read(self: Arc<Self>, key: &K) -> BoxFuture<'static, Read<V>>;
    /// The rest of a miss (lease, wait or load), after `first` came back from [`read`]
    /// (`None`: not read yet).
    ///
    /// [`read`]: Tier::read
    fn load(
        self: Arc<Self>,
        key: K,
        local: LocalLoad<V>,
        first: Option<Read<V>>,
    ) -> BoxFuture<'static, Loaded<V>>;
    fn invalidate(self: Arc<Self>, key: K) -> BoxFuture<'static, bool>;
    fn stats(&self) -> RemoteStats;
}

/// A node in the ring: placed by its URL, so every replica agrees.
struct Placed {
    url: String,
    index: usize,
}

impl std::hash::Hash for Placed {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.url.hash(state);
    }
}

impl PartialEq for Placed {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl Eq for Placed {}

#[derive(Clone, Copy, Debug)]
struct Settings {
    ttl: Duration,
    negative_ttl: Option<Duration>,
    local_ttl: Duration,
    lease_ttl: Duration,
    poll: Duration,
    max_wait: Duration,
}

pub(crate) struct RedisTier<K, V> {
    names: Names,
    nodes: Vec<Arc<Node>>,
    ring: HashRing<Placed>,
    scripts: Scripts,
    waiters: Arc<Waiters>,
    counters: Arc<RemoteCounters>,
    settings: Settings,
    /// Stops the subscriptions when the cache goes away.
    cancel: CancellationToken,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> Drop for RedisTier<K, V> {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether an error is stored as a negative entry: the rule of the in-process cache.
fn negative(e: &TaskError) -> bool {
    matches!(e.kind(), ErrorKind::Failed | ErrorKind::DeadlineExceeded) && !e.is_retryable()
}

impl<K, V> RedisTier<K, V>
where
    K: Serialize + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn node_for(&self, key: &[u8]) -> &Arc<Node> {
        let placed = self.ring.get(key).expect("a tier has at least one node");
        &self.nodes[placed.index]
    }

    fn local_cap(&self) -> u64 {
        ns(self.settings.local_ttl)
    }

    /// A result read from Redis, or `None` (counted, logged) when the bytes are not an entry.
    fn decode(&self, node: &Node, bytes: &[u8]) -> Option<Result<V>> {
        let r = decode_entry::<V>(bytes);
        if r.is_none() {
            RemoteCounters::add(&self.counters.corrupt);
            tracing::warn!(
                node = node.index,
                len = bytes.len(),
                "result cache: corrupt or foreign entry in Redis, read as a miss"
            );
        }
        r
    }

    fn hit(&self, result: Result<V>, pttl_ms: i64) -> Loaded<V> {
        RemoteCounters::add(&self.counters.l2_hits);
        let remaining = match u64::try_from(pttl_ms) {
            Ok(ms) => ms.saturating_mul(1_000_000),
            // -1: no expiry (not written by us, but harmless); -2: gone since the read.
            Err(_) if pttl_ms == -1 => u64::MAX,
            Err(_) => 0,
        };
        Loaded { result, l1_cap: remaining.min(self.local_cap()), ran_loader: false }
    }

    async fn fallback(&self, local: LocalLoad<V>) -> Loaded<V> {
        RemoteCounters::add(&self.counters.fallback_loads);
        Loaded { result: local().await, l1_cap: self.local_cap(), ran_loader: true }
    }

    /// The hit path: `GET` + `PTTL` of the entry in one round trip, and its decoding.
    async fn read_inner(self: Arc<Self>, kb: Option<Vec<u8>>) -> Read<V> {
        let Some(kb) = kb else { return Read::Unavailable };
        let node = self.node_for(&kb);
        let vkey = self.names.value(&kb);
        let read = node
            .run("GET", |mut c| async move {
                redis::pipe()
                    .get(&vkey)
                    .pttl(&vkey)
                    .query_async::<(Option<Vec<u8>>, i64)>(&mut c)
                    .await
            })
            .await;
        match read {
            None => Read::Unavailable,
            Some((None, _)) => Read::Miss(None),
            Some((Some(bytes), pttl)) => match self.decode(node, &bytes) {
                Some(result) => Read::Hit(self.hit(result, pttl)),
                None => Read::Miss(Some(bytes)),
            },
        }
    }

    async fn load_inner(
        self: Arc<Self>,
        key: K,
        local: LocalLoad<V>,
        first: Option<Read<V>>,
    ) -> Loaded<V> {
        let Some(kb) = encode_key(&key) else {
            tracing::warn!("result cache: a key did not serialize; loading without Redis");
            return self.fallback(local).await;
        };
        let first = match first {
            Some(read) => read,
            None => Arc::clone(&self).read_inner(Some(kb.clone())).await,
        };
        let mut corrupt = match first {
            Read::Hit(loaded) => return loaded,
            Read::Unavailable => return self.fallback(local).await,
            Read::Miss(corrupt) => corrupt,
        };
        let node = Arc::clone(self.node_for(&kb));
        let vkey = self.names.value(&kb);
        let lkey = self.names.lease(&kb);

        let token = lease::token();
        let lease_ms = ms(self.settings.lease_ttl);
        let started = Instant::now();
        let mut waited = false;
        let mut guard = None;
        loop {
            // Registered before asking, so a `Done` published in between is not missed.
            let wait = guard.get_or_insert_with(|| self.waiters.register(&kb));
            let drop_corrupt = corrupt.take();
            let acquired = node
                .run("ACQUIRE", |mut c| {
                    let mut inv = self.scripts.acquire.prepare_invoke();
                    inv.key(&vkey).key(&lkey).arg(&token).arg(lease_ms);
                    if let Some(b) = &drop_corrupt {
                        inv.arg(b.as_slice());
                    }
                    async move { inv.invoke_async::<redis::Value>(&mut c).await }
                })
                .await;
            let Some(acquired) = acquired else { return self.fallback(local).await };
            match Acquired::parse(&acquired) {
                None => {
                    node.mark_down("ACQUIRE", &"unexpected reply");
                    return self.fallback(local).await;
                }
                Some(Acquired::Entry(bytes, pttl)) => match self.decode(&node, &bytes) {
                    Some(result) => return self.hit(result, pttl),
                    None => corrupt = Some(bytes),
                },
                Some(Acquired::Leased) => {
                    drop(guard);
                    if waited {
                        RemoteCounters::add(&self.counters.takeovers);
                    }
                    return self.hold(&node, &kb, &vkey, &lkey, &token, local).await;
                }
                Some(Acquired::Held(pttl)) => {
                    if !waited {
                        RemoteCounters::add(&self.counters.waits);
                        waited = true;
                    }
                    let elapsed = started.elapsed();
                    if elapsed >= self.settings.max_wait {
                        tracing::warn!(
                            node = node.index,
                            "result cache: waited max_wait for another replica's load; loading here"
                        );
                        return self.fallback(local).await;
                    }
                    // Until the holder says it is done, or its lease would lapse, or the poll.
                    let lapse = u64::try_from(pttl).map_or(self.settings.poll, |ms| {
                        Duration::from_millis(ms.saturating_add(1))
                    });
                    let poll = self.settings.poll.min(lapse).min(self.settings.max_wait - elapsed);
                    if let Some(Some(error)) = wait.next(poll).await {
                        // The holder's load failed with an error that was not stored.
                        let result = Err(error
                            .to_error()
                            .unwrap_or_else(|| TaskError::new(crate::Code::INTERNAL, "")));
                        return Loaded { result, l1_cap: 0, ran_loader: false };
                    }
                }
            }
        }
    }

    /// Runs the load while holding the lease, then stores and releases in one script.
    async fn hold(
        &self,
        node: &Node,
        kb: &[u8],
        vkey: &[u8],
        lkey: &[u8],
        token: &str,
        local: LocalLoad<V>,
    ) -> Loaded<V> {
        RemoteCounters::add(&self.counters.loads);
        let lease_ms = ms(self.settings.lease_ttl);
        let mut load = std::pin::pin!(local());
        let keep_alive = async {
            let every = (self.settings.lease_ttl / 3).max(Duration::from_millis(1));
            loop {
                tokio::time::sleep(every).await;
                let extended = node
                    .run("EXTEND", |mut c| {
                        let mut inv = self.scripts.extend.prepare_invoke();
                        inv.key(lkey).arg(token).arg(lease_ms);
                        async move { inv.invoke_async::<i64>(&mut c).await }
                    })
                    .await;
                if extended != Some(1) {
                    // Lost (lapsed or invalidated) or the node is down: stop extending; the
                    // result will not be stored.
                    return;
                }
            }
        };
        let result = tokio::select! {
            r = &mut load => r,
            () = keep_alive => load.await,
        };

        let s = self.settings;
        let (entry, px) = match &result {
            Ok(_) => (encode_entry(&result), ms(s.ttl)),
            Err(e) if negative(e) && s.negative_ttl.is_some() => {
                (encode_entry(&result), s.negative_ttl.map_or(0, ms))
            }
            Err(_) => (None, 0),
        };
        let px = if entry.is_some() { px } else { 0 };
        let error = match (&entry, &result) {
            (None, Err(e)) => Some(WireError::from_error(e)),
            _ => None,
        };
        let note = encode_event(&Event::Done { key: kb.to_vec(), error });
        let entry = entry.unwrap_or_default();
        let channel = self.names.channel.as_str();
        node.run("FINISH", |mut c| {
            let mut inv = self.scripts.finish.prepare_invoke();
            inv.key(vkey).key(lkey).arg(token).arg(entry.as_slice()).arg(px).arg(channel);
            inv.arg(note.as_slice());
            async move { inv.invoke_async::<i64>(&mut c).await }
        })
        .await;
        Loaded { result, l1_cap: self.local_cap(), ran_loader: true }
    }

    async fn invalidate_inner(self: Arc<Self>, key: K) -> bool {
        let Some(kb) = encode_key(&key) else { return false };
        let node = self.node_for(&kb);
        let (vkey, lkey) = (self.names.value(&kb), self.names.lease(&kb));
        let event = encode_event(&Event::Invalidated { key: kb });
        let channel = self.names.channel.as_str();
        node.run("INVALIDATE", |mut c| {
            let mut inv = self.scripts.invalidate.prepare_invoke();
            inv.key(&vkey).key(&lkey).arg(channel).arg(event.as_slice());
            async move { inv.invoke_async::<i64>(&mut c).await }
        })
        .await
        .is_some()
    }
}

impl<K, V> Tier<K, V> for RedisTier<K, V>
where
    K: Serialize + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn read(self: Arc<Self>, key: &K) -> BoxFuture<'static, Read<V>> {
        // A key that does not serialize is `Unavailable`; `load` logs it.
        Box::pin(self.read_inner(encode_key(key)))
    }

    fn load(
        self: Arc<Self>,
        key: K,
        local: LocalLoad<V>,
        first: Option<Read<V>>,
    ) -> BoxFuture<'static, Loaded<V>> {
        Box::pin(self.load_inner(key, local, first))
    }

    fn invalidate(self: Arc<Self>, key: K) -> BoxFuture<'static, bool> {
        Box::pin(self.invalidate_inner(key))
    }

    fn stats(&self) -> RemoteStats {
        self.counters.snapshot()
    }
}
