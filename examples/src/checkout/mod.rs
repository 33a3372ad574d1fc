//! The checkout service (tonic): per basket, one fail-fast task per line, each calling
//! inventory (retried when retryable, within a retry budget, through a circuit breaker) and
//! [`Pricing`] at the same time.

mod pricing;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::StreamExt;
use result_runtime::breaker::{
    registry, BreakerLayer, BreakerService, CircuitBreaker, RetryBudget,
};
use result_runtime::channel::ResultChannel;
use result_runtime::group::Group;
use result_runtime::middleware::grpc::{GrpcResultExt, ResultLayer as GrpcLayer};
use result_runtime::retry::RetryPolicy;
use result_runtime::{fallible_task, traced, Code, Result, ResultExt, TaskError};
use tonic::{Request, Response, Status};

pub use pricing::{price_cents, Pricing};

use crate::common::{
    bind, channel, current_trace_id, incoming, log_exit, running, Running, TracedChannel,
};
use crate::pb::checkout::checkout_server::{Checkout as CheckoutApi, CheckoutServer};
use crate::pb::checkout::{CheckoutReply, CheckoutRequest, Item, Line};
use crate::pb::inventory::inventory_client::InventoryClient;
use crate::pb::inventory::{ReserveReply, ReserveRequest};

/// The inventory channel as checkout calls it: every request through the inventory
/// [`CircuitBreaker`] (outermost, so it sees what the traced channel returns).
pub type InventoryChannel = BreakerService<TracedChannel>;

/// How checkout guards its calls to inventory: a [`CircuitBreaker`] on the inventory
/// channel (a [`BreakerLayer`]), so that while inventory is down calls fail at once with
/// `CIRCUIT_OPEN` and never reach its address; and a [`RetryPolicy`] drawing from a
/// [`RetryBudget`], so that retries cannot multiply an outage's load.
///
/// The retry's backoff is capped at [`MAX_BACKOFF`](Self::MAX_BACKOFF), shorter than the
/// breaker's open wait: a `CIRCUIT_OPEN` (whose `retry_after` is that wait) ends the retries
/// at once instead of being waited out, so the caller gets a fast answer.
#[derive(Clone, Debug)]
pub struct InventoryGuard {
    breaker: CircuitBreaker,
    retry: RetryPolicy,
}

impl InventoryGuard {
    /// The name of the breaker and of the budget.
    pub const NAME: &'static str = "inventory";
    /// Attempts per inventory call: the first and up to two retries.
    pub const ATTEMPTS: u32 = 3;
    /// The longest wait between two attempts.
    pub const MAX_BACKOFF: Duration = Duration::from_millis(150);

    /// Guards with `breaker`, retrying within `budget`.
    #[must_use]
    pub fn new(breaker: CircuitBreaker, budget: RetryBudget) -> Self {
        let retry = RetryPolicy::new(Self::ATTEMPTS).max_delay(Self::MAX_BACKOFF).budget(budget);
        Self { breaker, retry }
    }

    /// A breaker and a budget of its own, named `inventory`, with the default settings:
    /// shared with nothing else (each test's stack has its own).
    ///
    /// # Panics
    /// Never: the defaults are valid.
    #[must_use]
    pub fn standalone() -> Self {
        let breaker =
            CircuitBreaker::builder().name(Self::NAME).build().expect("the defaults are valid");
        let budget =
            RetryBudget::builder().name(Self::NAME).build().expect("the defaults are valid");
        Self::new(breaker, budget)
    }

    /// The process's registered `inventory` breaker and budget
    /// ([`registry`](result_runtime::breaker::registry)): what the `checkout` binary uses, so
    /// that every part of the process calling inventory shares them.
    #[must_use]
    pub fn registered() -> Self {
        Self::new(registry().breaker(Self::NAME), registry().budget(Self::NAME))
    }

    /// The breaker.
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The retry policy (with its budget).
    #[must_use]
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `channel` behind this guard's breaker.
    #[must_use]
    pub fn channel(&self, channel: TracedChannel) -> InventoryChannel {
        tower::Layer::layer(&BreakerLayer::new(self.breaker.clone()), channel)
    }
}

/// The checkout service: fans out to inventory and pricing per line, fail-fast.
///
/// Clones share the inventory channel, its guard and the price cache.
#[derive(Clone, Debug)]
pub struct Checkout {
    inventory: InventoryClient<InventoryChannel>,
    guard: InventoryGuard,
    pricing: Pricing,
}

impl Checkout {
    /// How many lines of one basket are worked on at the same time.
    pub const LINES_IN_FLIGHT: usize = 16;

    /// A checkout that reserves stock through this channel to inventory, with its own
    /// price cache and its own [`InventoryGuard::standalone`].
    #[must_use]
    pub fn new(inventory: TracedChannel) -> Self {
        Self::with_pricing(inventory, Pricing::new())
    }

    /// A checkout using `pricing` (a clone keeps an eye on the same cache), with its own
    /// [`InventoryGuard::standalone`].
    #[must_use]
    pub fn with_pricing(inventory: TracedChannel, pricing: Pricing) -> Self {
        Self::with_guard(inventory, pricing, InventoryGuard::standalone())
    }

    /// A checkout calling inventory through `inventory` behind `guard`.
    #[must_use]
    pub fn with_guard(inventory: TracedChannel, pricing: Pricing, guard: InventoryGuard) -> Self {
        Self { inventory: InventoryClient::new(guard.channel(inventory)), guard, pricing }
    }

    /// How its inventory calls are guarded.
    #[must_use]
    pub fn guard(&self) -> &InventoryGuard {
        &self.guard
    }

    /// Its price cache.
    #[must_use]
    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    /// Checks out a basket.
    ///
    /// One task per line in a fail-fast [`Group`] (a child of the request's context, so the
    /// request's deadline bounds it): the first failing line cancels the others, whose
    /// inventory calls are dropped mid-flight. Lines stream through a fail-fast
    /// [`ResultChannel`] to the collector as they complete; the first error closes it,
    /// which stops the forwarding and drops the group.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for an empty basket; otherwise the first failure of any line.
    #[fallible_task(name = "checkout")]
    #[traced(name = "checkout", skip_all, fields(lines = request.items.len()))]
    pub async fn checkout(&self, request: CheckoutRequest) -> Result<CheckoutReply> {
        if request.items.is_empty() {
            return Err(TaskError::new(Code::INVALID_ARGUMENT, "the basket is empty"));
        }
        let count = request.items.len();
        let lines = Group::builder()
            .name("checkout.lines")
            .limit(Self::LINES_IN_FLIGHT)
            .build()
            .expect("LINES_IN_FLIGHT is at least 1");
        for item in request.items {
            let this = self.clone();
            lines.spawn(async move { this.line(item).await });
        }
        let (tx, rx) = ResultChannel::builder(count).fail_fast().build();
        let produce = async move {
            // The index travels with each line, so the receipt keeps the basket's order.
            // A line stopped because another failed ends `Cancelled` with that failure as its
            // cause, and may finish first: report the cause, never the cancellation.
            let finished = lines.join_stream().map(|(index, line)| {
                line.map(|l| (index, l)).map_err(|e| match e.cause() {
                    Some(cause) if e.is_cancelled() => cause.clone(),
                    _ => e,
                })
            });
            // An error here is the channel closed by the first failed line: the collector
            // has that failure already.
            let _ = tx.forward(finished).await;
        };
        let ((), collected) = tokio::join!(produce, rx.collect_ok());
        let mut lines = collected?;
        lines.sort_unstable_by_key(|&(index, _)| index);
        let lines: Vec<Line> = lines.into_iter().map(|(_, line)| line).collect();
        let total_cents = lines.iter().map(|l| l.subtotal_cents).sum();
        Ok(CheckoutReply { lines, total_cents, trace_id: current_trace_id() })
    }

    /// One line: inventory and pricing at the same time; the first failure drops the other
    /// call (`try_join!`) and fails the line's group at once (`#[fallible_task]`).
    #[fallible_task(name = "checkout.line")]
    #[traced(name = "checkout.line", skip(self, item), fields(sku = item.sku.as_str(), qty = item.qty))]
    async fn line(&self, item: Item) -> Result<Line> {
        let attempts = AtomicU32::new(0);
        let (reserved, unit_cents) =
            tokio::try_join!(self.reserve(item.clone(), &attempts), self.pricing.price(&item.sku))?;
        Ok(Line {
            sku: item.sku,
            qty: reserved.reserved,
            unit_cents,
            subtotal_cents: unit_cents * u64::from(reserved.reserved),
            inventory_trace_id: reserved.trace_id,
            inventory_attempts: attempts.load(Ordering::Relaxed),
            inventory_tracestate: reserved.tracestate,
            inventory_baggage: reserved.baggage,
        })
    }

    /// Reserves one line in inventory, retrying up to twice when the error is retryable
    /// (`UNAVAILABLE`, ...; never `FAILED_PRECONDITION` nor a panic), with backoff, within the
    /// guard's retry budget. Every attempt goes through the inventory breaker (on the
    /// channel): once it opens, the attempt fails with `CIRCUIT_OPEN` without a connection
    /// and the retries stop. Every attempt counts itself in `attempts`.
    #[fallible_task(name = "checkout.reserve")]
    #[traced(name = "checkout.reserve", skip(self, item, attempts), fields(sku = item.sku.as_str(), qty = item.qty))]
    async fn reserve(&self, item: Item, attempts: &AtomicU32) -> Result<ReserveReply> {
        self.guard
            .retry
            .run(|| {
                attempts.fetch_add(1, Ordering::Relaxed);
                let mut inventory = self.inventory.clone();
                let request = ReserveRequest { sku: item.sku.clone(), qty: item.qty };
                async move { inventory.reserve(request).await.into_result() }
            })
            .await
    }
}

#[tonic::async_trait]
impl CheckoutApi for Checkout {
    async fn checkout(
        &self,
        request: Request<CheckoutRequest>,
    ) -> std::result::Result<Response<CheckoutReply>, Status> {
        Ok(Response::new(Self::checkout(self, request.into_inner()).await?))
    }
}

/// Starts checkout on `addr`, calling inventory at `inventory_url` behind the process's
/// registered `inventory` breaker and budget ([`InventoryGuard::registered`]).
///
/// # Errors
/// When the address cannot be bound or the URL is invalid.
pub async fn spawn_checkout(addr: SocketAddr, inventory_url: &str) -> Result<Running> {
    let checkout =
        Checkout::with_guard(channel(inventory_url)?, Pricing::new(), InventoryGuard::registered());
    serve_checkout(addr, checkout).await
}

/// Starts checkout on `addr`, calling inventory at `inventory_url`, with `pricing` as its
/// price cache (a [`Pricing::tiered`] one to share prices with other replicas; keep a clone
/// to look at its counters).
///
/// # Errors
/// When the address cannot be bound or the URL is invalid.
pub async fn spawn_checkout_with(
    addr: SocketAddr,
    inventory_url: &str,
    pricing: Pricing,
) -> Result<Running> {
    serve_checkout(addr, Checkout::with_pricing(channel(inventory_url)?, pricing)).await
}

/// Starts `checkout` on `addr` (keep a clone of it, or of its [`Pricing`], to look at its
/// cache).
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve_checkout(addr: SocketAddr, checkout: Checkout) -> Result<Running> {
    let (listener, addr) = bind(addr).await.with_code(Code::UNAVAILABLE)?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let r = crate::common::grpc_server()
                .layer(GrpcLayer::new())
                .add_service(CheckoutServer::new(checkout))
                .serve_with_incoming_shutdown(incoming(listener), async {
                    let _ = stop.await;
                })
                .await;
            log_exit("checkout", r);
        })
    }))
}
