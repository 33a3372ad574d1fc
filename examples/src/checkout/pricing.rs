//! Checkout's prices: [`price_cents`] behind a [`ResultCache`].

use std::time::Duration;

use result_runtime::cache::{CacheBuilder, CacheStats, RemoteStats, ResultCache};
use result_runtime::trace::TraceContext;
use result_runtime::ConfigError;
use result_runtime::{fallible_task, traced, Code, Result, TaskError};

/// The unit price of a SKU in cents: a stable made-up number, or `NOT_FOUND` for
/// `unpriced-*`. The "database" behind [`Pricing`]'s cache.
///
/// # Errors
/// `NOT_FOUND` for SKUs without a price.
#[fallible_task(name = "pricing")]
#[traced(name = "pricing", skip(sku), fields(sku))]
pub async fn price_cents(sku: &str) -> Result<u64> {
    if sku.starts_with("unpriced-") {
        return Err(TaskError::new(Code::NOT_FOUND, format!("no price for {sku}")));
    }
    // FNV-1a: the same price for the same SKU, on every run.
    let hash = sku
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    Ok(100 + hash % 9_900)
}

/// Prices behind a [`ResultCache`]: concurrent asks for one SKU load it once, a price is
/// kept for [`Pricing::TTL`], and a `NOT_FOUND` (not retryable, so the cache keeps it) for
/// [`Pricing::NEGATIVE_TTL`]. Clones share the cache.
///
/// [`Pricing::tiered`] adds a shared tier on Redis: replicas of checkout that list the same
/// Redis nodes then load a price once across all of them, and a `NOT_FOUND` learned by one
/// is served by every other.
#[derive(Clone, Debug)]
pub struct Pricing {
    cache: ResultCache<String, u64>,
}

impl Default for Pricing {
    fn default() -> Self {
        Self::new()
    }
}

impl Pricing {
    /// How long a price is cached.
    pub const TTL: Duration = Duration::from_secs(60);
    /// How long "this SKU has no price" is cached.
    pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);

    /// The Redis namespace of the tiered price cache: bump the version when the price's
    /// type or meaning changes.
    pub const NAMESPACE: &'static str = "checkout:prices:v1";

    fn settings() -> CacheBuilder<String, u64> {
        ResultCache::builder().max_capacity(100_000).ttl(Self::TTL).negative_ttl(Self::NEGATIVE_TTL)
    }

    /// An empty, in-process price cache.
    #[must_use]
    pub fn new() -> Self {
        Self { cache: Self::settings().build().expect("valid cache settings") }
    }

    /// A price cache with the settings of [`Pricing::new`], tiered on the Redis nodes at
    /// `urls` (`redis://host:port`) under [`Pricing::NAMESPACE`]: one load per SKU across
    /// every replica that lists the same nodes. A node that is down does not fail this (it
    /// is connected when it answers), nor any price: its SKUs are loaded locally meanwhile.
    ///
    /// # Errors
    /// A [`ConfigError`] for no URLs, a URL that is not a Redis URL, or one listed twice.
    pub async fn tiered(urls: &[String]) -> std::result::Result<Self, ConfigError> {
        let cache = Self::settings().redis(urls).namespace(Self::NAMESPACE).build().await?;
        Ok(Self { cache })
    }

    /// The unit price of `sku`, from the cache or loaded by [`price_cents`].
    ///
    /// # Errors
    /// `NOT_FOUND` for SKUs without a price (cached too).
    pub async fn price(&self, sku: &str) -> Result<u64> {
        let key = sku.to_owned();
        let result =
            self.cache.get_or_load(key.clone(), || async move { price_cents(&key).await }).await;
        // A cached error carries the trace id of the request that loaded it; this request
        // must report its own (the server layer answers with the error's trace id).
        result.map_err(|e| match TraceContext::current_trace_id() {
            Some(id) => e.with_trace_id(id),
            None => e,
        })
    }

    /// The unit price of `sku` as [`price`](Self::price) gives it, but when this call
    /// starts the load (the price is neither cached nor loading), the load first awaits
    /// `hold`: until it resolves, every ask for `sku` (checkout's lines included) joins that
    /// one load and waits, the cache's single flight. How the tour keeps a checkout in
    /// flight, deterministically, while it prints the live task tree. `hold` is not polled
    /// when the call joins a load or finds the price cached.
    ///
    /// # Errors
    /// `NOT_FOUND` for SKUs without a price (cached too).
    pub async fn price_after(
        &self,
        sku: &str,
        hold: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<u64> {
        let key = sku.to_owned();
        self.cache
            .get_or_load(key.clone(), || async move {
                hold.await;
                price_cents(&key).await
            })
            .await
    }

    /// The cache's counters: `loads` is how often [`price_cents`] ran, `hits` and
    /// `negative_hits` how often it did not need to.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// The Redis tier's counters in this replica (`loads`: prices loaded here while holding
    /// the fleet-wide lease; `l2_hits`: prices read from Redis); `None` without a tier.
    #[must_use]
    pub fn remote_stats(&self) -> Option<RemoteStats> {
        self.cache.remote_stats()
    }

    /// Publishes the cache's counters through the `metrics` facade, labelled
    /// `cache="prices"` (see `ResultCache::record_metrics`).
    pub fn record_metrics(&self) {
        self.cache.record_metrics("prices");
    }
}
