//! [`RedisCacheBuilder`]: the settings of a Redis-tiered [`ResultCache`], checked when it is
//! built.

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::codec::{decode_key, Event, Names};
use super::events::{spawn_subscriber, Heard, Subscription, Waiters};
use super::lease::Scripts;
use super::node::Node;
use super::stats::RemoteCounters;
use super::{Placed, RedisTier, Settings, Tier};
use crate::cache::{CacheBuilder, HashRing, Inner, ResultCache};
use crate::config::ConfigError;

impl<K, V> CacheBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Tiers the cache on Redis (feature `redis`): L1 stays this in-process cache, L2 is the
    /// given nodes (`redis://host:port[/db]` URLs), each key placed on one node by
    /// [`HashRing`], with one load per key across every replica that shares the nodes and
    /// the [namespace](RedisCacheBuilder::namespace). See [`remote`](crate::cache::remote).
    ///
    /// Set the cache's own settings (`ttl`, `negative_ttl`, capacity) before this call; the
    /// returned builder adds the Redis ones and builds asynchronously.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use result_runtime::cache::ResultCache;
    ///
    /// # async fn run() -> Result<(), result_runtime::ConfigError> {
    /// let cache = ResultCache::<String, u64>::builder()
    ///     .ttl(Duration::from_secs(60))
    ///     .negative_ttl(Duration::from_secs(5))
    ///     .redis(["redis://127.0.0.1:6379", "redis://127.0.0.1:6380"])
    ///     .namespace("prices:v1")
    ///     .build()
    ///     .await?;
    /// let price = cache.get_or_load("sku-1".into(), || async { Ok(42) }).await;
    /// # Ok(()) }
    /// ```
    pub fn redis<I>(self, urls: I) -> RedisCacheBuilder<K, V>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        RedisCacheBuilder {
            base: self,
            urls: urls.into_iter().map(|u| u.as_ref().to_owned()).collect(),
            namespace: None,
            local_ttl: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(3),
            command_timeout: Duration::from_millis(250),
            down_for: Duration::from_secs(1),
            poll: Duration::from_millis(250),
            max_wait: Duration::from_secs(30),
            _types: PhantomData,
        }
    }
}

/// Builds a Redis-tiered [`ResultCache`]; start with
/// [`CacheBuilder::redis`](crate::cache::CacheBuilder::redis), finish with
/// [`build`](Self::build)`.await`.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use result_runtime::cache::ResultCache;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = ResultCache::<u64, String>::builder()
///     .ttl(Duration::from_secs(300))
///     .redis(["redis://10.0.0.1:6379"])
///     .namespace("users:v3")
///     .local_ttl(Duration::from_secs(2))
///     .lease_ttl(Duration::from_secs(5))
///     .command_timeout(Duration::from_millis(100))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until .build().await"]
pub struct RedisCacheBuilder<K, V> {
    base: CacheBuilder<K, V>,
    urls: Vec<String>,
    namespace: Option<String>,
    local_ttl: Duration,
    lease_ttl: Duration,
    command_timeout: Duration,
    down_for: Duration,
    poll: Duration,
    max_wait: Duration,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> fmt::Debug for RedisCacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URLs may carry passwords: only their count is shown.
        f.debug_struct("RedisCacheBuilder")
            .field("base", &self.base)
            .field("nodes", &self.urls.len())
            .field("namespace", &self.namespace)
            .field("local_ttl", &self.local_ttl)
            .field("lease_ttl", &self.lease_ttl)
            .field("command_timeout", &self.command_timeout)
            .field("down_for", &self.down_for)
            .field("poll", &self.poll)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

impl<K, V> RedisCacheBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The prefix of every Redis name this cache uses (`rr:{namespace}:…`). Replicas that
    /// share a cache use the same namespace; change it when the value's type or meaning
    /// changes, so that old entries are never read as new ones (they would only be misses:
    /// a foreign entry is detected, never misread as a panic). Default: the value type's
    /// name, which is stable only within one build of the program.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The longest an entry lives in this process's L1 (never past its TTL in Redis).
    /// Invalidations reach every replica over pub/sub; this bounds how long a replica can
    /// serve a value whose invalidation it missed. Default 5 s.
    pub fn local_ttl(mut self, ttl: Duration) -> Self {
        self.local_ttl = ttl;
        self
    }

    /// How long a lease outlives a holder that stopped extending it (it died): the longest
    /// other replicas wait before one of them takes the load over. Extended every third of
    /// this while the load runs. Default 3 s.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// The timeout of each Redis command (and of connecting). A node that does not answer
    /// within it is marked down. Default 250 ms.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long a node that failed is left alone before one command probes it; while probes
    /// keep failing the wait doubles, up to 8 times this. Default 1 s. (Each node's health is
    /// a [`CircuitBreaker`](crate::breaker::CircuitBreaker) named
    /// `cache:{namespace}:node{index}`.)
    pub fn down_for(mut self, back_off: Duration) -> Self {
        self.down_for = back_off;
        self
    }

    /// The longest a waiter waits for the holder's `Done` message before reading again (the
    /// fallback for a lost message). Default 250 ms.
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The longest a replica waits for other replicas' leases on one key before it loads
    /// the key itself. Default 30 s.
    pub fn max_wait(mut self, max: Duration) -> Self {
        self.max_wait = max;
        self
    }

    /// Builds the cache and subscribes to every node's event channel (waiting for each node
    /// at most the command timeout). A node that does not answer does not fail the build: it
    /// starts down and is connected when it answers.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the refused setting: no node URLs (`redis`), a URL that is
    /// not a Redis URL or is listed twice (`redis`), no `ttl` (`ttl`: entries carry their TTL
    /// in Redis), `refresh_ahead` (not supported on a tiered cache), an empty namespace, a
    /// zero duration, or any error of the in-process cache's own settings.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes drops the half-built cache and stops its
    /// subscriptions; nothing is left behind.
    pub async fn build(self) -> Result<ResultCache<K, V>, ConfigError> {
        let Self {
            base,
            urls,
            namespace,
            local_ttl,
            lease_ttl,
            command_timeout,
            down_for,
            poll,
            max_wait,
            ..
        } = self;
        for (setting, d) in [
            ("local_ttl", local_ttl),
            ("lease_ttl", lease_ttl),
            ("command_timeout", command_timeout),
            ("down_for", down_for),
            ("poll_interval", poll),
            ("max_wait", max_wait),
        ] {
            if d.is_zero() {
                return Err(ConfigError::zero(setting));
            }
        }
        if lease_ttl < Duration::from_millis(3) {
            return Err(ConfigError::new("lease_ttl", "must be at least 3 ms (Redis PX)"));
        }
        let (ttl, negative_ttl, refresh_ahead) = base.tier_settings();
        let Some(ttl) = ttl else {
            return Err(ConfigError::new("ttl", "a Redis-tiered cache needs a ttl"));
        };
        if refresh_ahead {
            return Err(ConfigError::new("refresh_ahead", "not supported on a Redis-tiered cache"));
        }
        let namespace = namespace.unwrap_or_else(|| std::any::type_name::<V>().to_owned());
        if namespace.is_empty() {
            return Err(ConfigError::new("namespace", "must not be empty"));
        }
        if urls.is_empty() {
            return Err(ConfigError::new("redis", "needs at least one node URL"));
        }
        let mut seen = HashSet::new();
        let mut clients = Vec::with_capacity(urls.len());
        for (i, url) in urls.iter().enumerate() {
            if !seen.insert(url.as_str()) {
                return Err(ConfigError::new("redis", format!("node {i} is listed twice")));
            }
            // Never echo the URL: it may carry a password.
            let client = redis::Client::open(url.as_str()).map_err(|e| {
                ConfigError::new(
                    "redis",
                    format!("node {i} is not a usable Redis URL ({:?})", e.kind()),
                )
            })?;
            clients.push(client);
        }

        let cache = base.build_for_tier()?;
        let counters = Arc::new(RemoteCounters::default());
        let mut nodes = Vec::with_capacity(clients.len());
        for (i, client) in clients.iter().enumerate() {
            let node = Node::new(
                i,
                &namespace,
                client.clone(),
                command_timeout,
                down_for,
                Arc::clone(&counters),
            )
            .map_err(|e| {
                ConfigError::new(
                    "redis",
                    format!("node {i} is not a usable Redis URL ({:?})", e.kind()),
                )
            })?;
            nodes.push(Arc::new(node));
        }
        let ring: HashRing<Placed> =
            urls.into_iter().enumerate().map(|(index, url)| Placed { url, index }).collect();
        let names = Names::new(&namespace);
        let cancel = CancellationToken::new();
        let waiters = Arc::new(Waiters::default());
        let tier = Arc::new(RedisTier::<K, V> {
            names: names.clone(),
            nodes,
            ring,
            scripts: Scripts::new(),
            waiters: Arc::clone(&waiters),
            counters: Arc::clone(&counters),
            settings: Settings { ttl, negative_ttl, local_ttl, lease_ttl, poll, max_wait },
            cancel: cancel.clone(),
            _types: PhantomData,
        });

        let heard = listener(Arc::downgrade(&cache.inner), waiters, counters);
        let mut ready = Vec::with_capacity(clients.len());
        for (i, client) in clients.into_iter().enumerate() {
            let (tx, rx) = oneshot::channel();
            let sub = Subscription {
                node: i,
                client,
                channel: names.channel.clone(),
                connect_timeout: command_timeout.max(Duration::from_millis(500)),
                retry: down_for,
            };
            spawn_subscriber(sub, cancel.child_token(), tx, Arc::clone(&heard));
            ready.push(rx);
        }
        let tier: Arc<dyn Tier<K, V>> = tier;
        if cache.inner.remote.set(tier).is_err() {
            unreachable!("a cache being built has no tier yet");
        }
        for rx in ready {
            let _ = rx.await;
        }
        Ok(cache)
    }
}

/// What this replica does with what it hears on a subscription.
fn listener<K, V>(
    cache: Weak<Inner<K, V>>,
    waiters: Arc<Waiters>,
    counters: Arc<RemoteCounters>,
) -> Arc<dyn Fn(Heard) + Send + Sync>
where
    K: Hash + Eq + Clone + Send + Sync + DeserializeOwned + 'static,
    V: Clone + Send + Sync + 'static,
{
    Arc::new(move |heard| match heard {
        Heard::Event(Event::Done { key, error }) => waiters.notify(&key, error),
        Heard::Event(Event::Invalidated { key }) => {
            let (Some(inner), Some(key)) = (cache.upgrade(), decode_key::<K>(&key)) else {
                return;
            };
            RemoteCounters::add(&counters.invalidations);
            ResultCache { inner }.invalidate(&key);
        }
        Heard::Resubscribed => {
            if let Some(inner) = cache.upgrade() {
                ResultCache { inner }.invalidate_all();
            }
        }
    })
}
