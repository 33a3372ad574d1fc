//! Checkout's prices: [`price_cents`] behind a [`ResultCache`].

use std::time::Duration;

use result_runtime::cache::{CacheStats, ResultCache};
use result_runtime::trace::TraceContext;
use result_runtime::{fallible_task, traced, Code, Result, TaskError};

/// The unit price of a SKU in cents: a stable made-up number, or `NOT_FOUND` for
/// `unpriced-*`. The "database" behind [`Pricing`]'s cache.
///
/// # Errors
/// `NOT_FOUND` for SKUs without a price.
#[fallible_task(name = "pricing")]
#[traced(name = "pricing")]
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

    /// An empty price cache.
    #[must_use]
    pub fn new() -> Self {
        let cache = ResultCache::builder()
            .max_capacity(100_000)
            .ttl(Self::TTL)
            .negative_ttl(Self::NEGATIVE_TTL)
            .build()
            .expect("valid cache settings");
        Self { cache }
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

    /// The cache's counters: `loads` is how often [`price_cents`] ran, `hits` and
    /// `negative_hits` how often it did not need to.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Publishes the cache's counters through the `metrics` facade, labelled
    /// `cache="prices"` (see `ResultCache::record_metrics`).
    pub fn record_metrics(&self) {
        self.cache.record_metrics("prices");
    }
}
