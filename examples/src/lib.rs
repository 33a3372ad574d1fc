//! Example services built on result-runtime: what a user writes, end to end.
//!
//! - **inventory** (tonic): reserves stock. Handlers are plain `async fn`s returning
//!   [`result_runtime::Result`]; `?` turns their [`TaskError`] into a `tonic::Status`.
//! - **checkout** (tonic): per request, fans out one task per line in a fail-fast
//!   [`Group`]; each line calls inventory and pricing at the same time. The first failure
//!   cancels every sibling call (their gRPC streams are reset, so inventory stops working
//!   on them too). Lines reach the collector through a fail-fast [`ResultChannel`] as they
//!   complete. Prices come from a [`ResultCache`] ([`Pricing`]): one load per SKU, and a
//!   SKU without a price is negatively cached, so asking again does not load again. The
//!   inventory call is retried (`#[fallible_task(retry = 2)]`) when its error is retryable.
//! - **gateway** (axum): `POST /checkout` with a JSON basket, calls checkout over gRPC and
//!   answers with the result envelope `{code, message, data, trace_id, duration_ms}`.
//!
//! Every server runs behind the runtime's `ResultLayer` and every client behind its
//! `ClientLayer`, so one trace id and one deadline cross all three hops. Every handler and
//! every step of a checkout is a `#[fallible_task]` (panics captured, the ambient deadline
//! and cancellation honoured, failures stamped with the task name and trace id) inside a
//! `#[traced]` span (a child of the caller's trace context: the same trace id, its own span).
//!
//! Special SKUs drive the failure modes the tour and the end-to-end tests show:
//!
//! | sku | where | what happens |
//! | --- | --- | --- |
//! | `panic` | inventory | the handler panics with [`SECRET`] in its message |
//! | `slow` | inventory | the handler takes 30 s: the deadline ends it |
//! | `oos-*` | inventory | `FAILED_PRECONDITION` (out of stock) |
//! | `code-<NAME>` | inventory | fails with the built-in code of that name (retryable codes are retried by checkout first) |
//! | `flaky-*` | inventory | `UNAVAILABLE` the first time inventory sees the SKU, then succeeds: checkout's retry turns it into a success on attempt 2 |
//! | `unpriced-*` | pricing | `NOT_FOUND`, at once; negatively cached, so a second ask loads nothing |
//!
//! Any other SKU succeeds, with a made-up stable price (cached after its first load).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use result_runtime::cache::{CacheStats, ResultCache};
use result_runtime::channel::ResultChannel;
use result_runtime::context::Context;
use result_runtime::group::Group;
use result_runtime::middleware::grpc::{GrpcResultExt, ResultLayer as GrpcLayer};
use result_runtime::middleware::http::{read_reply, Envelope, Reply, ResultLayer as HttpLayer};
use result_runtime::middleware::{ClientLayer, ClientService, TRACEPARENT};
use result_runtime::trace::TraceContext;
use result_runtime::{fallible_task, traced, Code, Result, ResultExt, TaskError};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

/// Generated from `proto/*.proto` by `build.rs` (protox, no system `protoc`).
pub mod pb {
    /// The inventory service.
    #[allow(missing_docs, clippy::pedantic)]
    pub mod inventory {
        tonic::include_proto!("inventory");
    }
    /// The checkout service.
    #[allow(missing_docs, clippy::pedantic)]
    pub mod checkout {
        tonic::include_proto!("checkout");
    }
}

use pb::checkout::checkout_client::CheckoutClient;
use pb::checkout::checkout_server::{Checkout as CheckoutApi, CheckoutServer};
use pb::checkout::{CheckoutReply, CheckoutRequest, Item, Line};
use pb::inventory::inventory_client::InventoryClient;
use pb::inventory::inventory_server::{Inventory as InventoryApi, InventoryServer};
use pb::inventory::{ReserveReply, ReserveRequest};

/// The secret the `panic` SKU puts in its panic message. It must reach the server's log and
/// never a client.
pub const SECRET: &str = "db-password=hunter2";

/// A tonic channel whose calls carry the current trace and deadline.
pub type TracedChannel = ClientService<Channel>;

/// A lazily connected channel to `url`, behind the runtime's [`ClientLayer`].
///
/// # Errors
/// `INVALID_ARGUMENT` when `url` is not a valid URI.
pub fn channel(url: &str) -> Result<TracedChannel> {
    let endpoint = Endpoint::from_shared(url.to_owned()).code(Code::INVALID_ARGUMENT)?;
    Ok(tower::ServiceBuilder::new().layer(ClientLayer::new()).service(endpoint.connect_lazy()))
}

// ---------------------------------------------------------------- inventory

/// The inventory service.
///
/// It counts the calls it gets for the special SKUs (`flaky-*`, `oos-*`, `code-*`): that
/// is how a `flaky-*` SKU fails only the first time, and how a test sees how often checkout
/// retried. Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    calls: Arc<Mutex<HashMap<String, u32>>>,
}

#[tonic::async_trait]
impl InventoryApi for Inventory {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> std::result::Result<Response<ReserveReply>, Status> {
        Ok(Response::new(self.reserve_stock(request.into_inner()).await?))
    }
}

impl Inventory {
    /// A new inventory, with no calls counted yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves stock for one line; the special SKUs of the crate docs fail on purpose.
    ///
    /// A panic in here (the `panic` SKU) becomes an `INTERNAL` error named
    /// `inventory.reserve`, and the request's deadline (its `grpc-timeout`) ends the call
    /// with `DEADLINE_EXCEEDED`: both are `#[fallible_task]`'s doing.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a zero quantity, `FAILED_PRECONDITION` when out of stock,
    /// `UNAVAILABLE` the first time a `flaky-*` SKU is seen, the forced code of a
    /// `code-<NAME>` SKU.
    #[fallible_task(name = "inventory.reserve")]
    #[traced(name = "inventory.reserve", skip(self))]
    pub async fn reserve_stock(&self, request: ReserveRequest) -> Result<ReserveReply> {
        let ReserveRequest { sku, qty } = request;
        if qty == 0 {
            return Err(TaskError::new(Code::INVALID_ARGUMENT, "qty must be at least 1"));
        }
        match sku.as_str() {
            "panic" => panic!("inventory invariant broken ({SECRET})"),
            // The ambient deadline (the request's grpc-timeout) ends this call.
            "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
            _ => {}
        }
        let calls = self.count_call(&sku);
        if let Some(name) = sku.strip_prefix("code-") {
            let code = Code::ALL.into_iter().find(|c| c.name() == name).unwrap_or(Code::INTERNAL);
            return Err(TaskError::new(code, format!("forced {name}")));
        }
        if sku.starts_with("oos-") {
            return Err(TaskError::new(Code::FAILED_PRECONDITION, format!("out of stock: {sku}")));
        }
        if sku.starts_with("flaky-") && calls == 1 {
            return Err(TaskError::new(Code::UNAVAILABLE, format!("{sku}: stock service busy")));
        }
        let deadline_ms = Context::current()
            .and_then(|c| c.remaining())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Ok(ReserveReply { sku, reserved: qty, trace_id: current_trace_id(), deadline_ms })
    }

    /// How many calls this inventory got for `sku` (special SKUs only; 0 for the others).
    #[must_use]
    pub fn calls(&self, sku: &str) -> u32 {
        self.lock().get(sku).copied().unwrap_or(0)
    }

    /// Counts a call for a special SKU and returns its count, this one included. Other SKUs
    /// are not counted (0), so that the map stays as small as the set of special SKUs used.
    fn count_call(&self, sku: &str) -> u32 {
        if !["flaky-", "oos-", "code-"].iter().any(|p| sku.starts_with(p)) {
            return 0;
        }
        let mut calls = self.lock();
        let n = calls.entry(sku.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // A counter cannot be left half-updated: a poisoned lock's data is still good.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn current_trace_id() -> String {
    TraceContext::current_trace_id().map(|t| t.to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------- pricing

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
            .build();
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
}

// ---------------------------------------------------------------- checkout

/// The checkout service: fans out to inventory and pricing per line, fail-fast.
///
/// Clones share the inventory channel and the price cache.
#[derive(Clone, Debug)]
pub struct Checkout {
    inventory: InventoryClient<TracedChannel>,
    pricing: Pricing,
}

impl Checkout {
    /// How many lines of one basket are worked on at the same time.
    pub const LINES_IN_FLIGHT: usize = 16;

    /// A checkout that reserves stock through this channel to inventory, with its own
    /// price cache.
    #[must_use]
    pub fn new(inventory: TracedChannel) -> Self {
        Self::with_pricing(inventory, Pricing::new())
    }

    /// A checkout using `pricing` (a clone keeps an eye on the same cache).
    #[must_use]
    pub fn with_pricing(inventory: TracedChannel, pricing: Pricing) -> Self {
        Self { inventory: InventoryClient::new(inventory), pricing }
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
            let finished = lines.join_stream().map(|(index, line)| line.map(|l| (index, l)));
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
    #[traced(name = "checkout.line", skip(self))]
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
        })
    }

    /// Reserves one line in inventory, retrying up to twice when the error is retryable
    /// (`UNAVAILABLE`, ...; never `FAILED_PRECONDITION` nor a panic), with backoff. Every
    /// attempt counts itself in `attempts`.
    #[fallible_task(name = "checkout.reserve", retry = 2)]
    #[traced(name = "checkout.reserve", skip(self, attempts))]
    async fn reserve(&self, item: Item, attempts: &AtomicU32) -> Result<ReserveReply> {
        attempts.fetch_add(1, Ordering::Relaxed);
        let mut inventory = self.inventory.clone();
        inventory.reserve(ReserveRequest { sku: item.sku, qty: item.qty }).await.into_result()
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

// ---------------------------------------------------------------- gateway

/// One line of a basket sent to the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasketItem {
    /// The SKU.
    pub sku: String,
    /// How many.
    pub qty: u32,
}

/// The body of `POST /checkout`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basket {
    /// The lines.
    pub items: Vec<BasketItem>,
}

/// A priced line of a [`Receipt`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLine {
    /// The SKU.
    pub sku: String,
    /// How many were reserved.
    pub qty: u32,
    /// The unit price in cents.
    pub unit_cents: u64,
    /// The trace id inventory saw for this line.
    pub inventory_trace_id: String,
    /// How many calls to inventory the line took (2: one retryable failure, retried).
    #[serde(default)]
    pub inventory_attempts: u32,
}

/// The `data` of a successful `POST /checkout`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The lines, in basket order.
    pub lines: Vec<ReceiptLine>,
    /// The total in cents.
    pub total_cents: u64,
    /// The trace id checkout saw.
    pub checkout_trace_id: String,
}

/// The gateway's routes, calling checkout through `checkout`, behind the HTTP
/// `ResultLayer` with the given per-request deadline.
pub fn gateway_router(checkout: TracedChannel, timeout: Duration) -> Router {
    Router::new()
        .route("/checkout", post(checkout_handler))
        .with_state(CheckoutClient::new(checkout))
        .layer(HttpLayer::new().timeout(timeout))
}

async fn checkout_handler(
    State(client): State<CheckoutClient<TracedChannel>>,
    basket: std::result::Result<Json<Basket>, JsonRejection>,
) -> Reply<Receipt> {
    Reply(gateway_checkout(client, basket).await)
}

#[fallible_task(name = "gateway.checkout")]
#[traced(name = "gateway.checkout", skip_all)]
async fn gateway_checkout(
    mut client: CheckoutClient<TracedChannel>,
    basket: std::result::Result<Json<Basket>, JsonRejection>,
) -> Result<Receipt> {
    let Json(basket) = basket.map_err(|e| TaskError::new(Code::INVALID_ARGUMENT, e.body_text()))?;
    let items =
        basket.items.into_iter().map(|i| Item { sku: i.sku, qty: i.qty }).collect::<Vec<_>>();
    let reply = client.checkout(CheckoutRequest { items }).await.into_result()?;
    Ok(Receipt {
        lines: reply
            .lines
            .into_iter()
            .map(|l| ReceiptLine {
                sku: l.sku,
                qty: l.qty,
                unit_cents: l.unit_cents,
                inventory_trace_id: l.inventory_trace_id,
                inventory_attempts: l.inventory_attempts,
            })
            .collect(),
        total_cents: reply.total_cents,
        checkout_trace_id: reply.trace_id,
    })
}

// ---------------------------------------------------------------- serving

/// A server running in this process; dropping it shuts it down.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// `http://addr`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets calls in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Small requests must not wait for Nagle's algorithm (40 ms per hop with delayed ACKs).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

fn running(
    addr: SocketAddr,
    serve: impl FnOnce(oneshot::Receiver<()>) -> JoinHandle<()>,
) -> Running {
    let (tx, rx) = oneshot::channel();
    Running { addr, shutdown: Some(tx), task: Some(serve(rx)) }
}

fn log_exit<E: std::fmt::Display>(what: &str, result: std::result::Result<(), E>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "{what} server failed");
    }
}

/// Starts inventory on `addr` (port 0: any free port), behind the gRPC `ResultLayer`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_inventory(addr: SocketAddr) -> std::io::Result<Running> {
    serve_inventory(addr, Inventory::new()).await
}

/// Starts `inventory` on `addr`, behind the gRPC `ResultLayer` (keep a clone of it to read
/// its call counts).
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve_inventory(addr: SocketAddr, inventory: Inventory) -> std::io::Result<Running> {
    let (listener, addr) = bind(addr).await?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let r = tonic::transport::Server::builder()
                .layer(GrpcLayer::new())
                .add_service(InventoryServer::new(inventory))
                .serve_with_incoming_shutdown(incoming(listener), async {
                    let _ = stop.await;
                })
                .await;
            log_exit("inventory", r);
        })
    }))
}

/// Starts inventory without the runtime's layer: the baseline of the `service` bench.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_inventory_without_layer(addr: SocketAddr) -> std::io::Result<Running> {
    let (listener, addr) = bind(addr).await?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let r = tonic::transport::Server::builder()
                .add_service(InventoryServer::new(Inventory::new()))
                .serve_with_incoming_shutdown(incoming(listener), async {
                    let _ = stop.await;
                })
                .await;
            log_exit("inventory", r);
        })
    }))
}

/// Starts checkout on `addr`, calling inventory at `inventory_url`.
///
/// # Errors
/// When the address cannot be bound or the URL is invalid.
pub async fn spawn_checkout(addr: SocketAddr, inventory_url: &str) -> Result<Running> {
    serve_checkout(addr, Checkout::new(channel(inventory_url)?)).await
}

/// Starts `checkout` on `addr` (keep a clone of it, or of its [`Pricing`], to look at its
/// cache).
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve_checkout(addr: SocketAddr, checkout: Checkout) -> Result<Running> {
    let (listener, addr) = bind(addr).await.code(Code::UNAVAILABLE)?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let r = tonic::transport::Server::builder()
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

/// Starts the gateway on `addr` (HTTP/1.1 and HTTP/2), calling checkout at `checkout_url`,
/// with a per-request deadline of `timeout`.
///
/// # Errors
/// When the address cannot be bound or the URL is invalid.
pub async fn spawn_gateway(
    addr: SocketAddr,
    checkout_url: &str,
    timeout: Duration,
) -> Result<Running> {
    let app = gateway_router(channel(checkout_url)?, timeout);
    let (listener, addr) = bind(addr).await.code(Code::UNAVAILABLE)?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await;
            log_exit("gateway", r);
        })
    }))
}

/// The three services on loopback ephemeral ports.
#[derive(Debug)]
pub struct Stack {
    /// The inventory server.
    pub inventory: Running,
    /// The checkout server.
    pub checkout: Running,
    /// The gateway server.
    pub gateway: Running,
    /// Checkout's price cache (shared with the running checkout).
    pub pricing: Pricing,
    /// The running inventory service's state (its call counts).
    pub inventory_service: Inventory,
}

impl Stack {
    /// Starts inventory, checkout and the gateway (with `gateway_timeout` per request) on
    /// `127.0.0.1`, each on a free port.
    ///
    /// # Errors
    /// When a port cannot be bound.
    pub async fn start(gateway_timeout: Duration) -> Result<Self> {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let inventory_service = Inventory::new();
        let inventory =
            serve_inventory(any, inventory_service.clone()).await.code(Code::UNAVAILABLE)?;
        let pricing = Pricing::new();
        let service = Checkout::with_pricing(channel(&inventory.url())?, pricing.clone());
        let checkout = serve_checkout(any, service).await?;
        let gateway = spawn_gateway(any, &checkout.url(), gateway_timeout).await?;
        Ok(Self { inventory, checkout, gateway, pricing, inventory_service })
    }

    /// Shuts the three down, gateway first.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        self.checkout.shutdown().await;
        self.inventory.shutdown().await;
    }
}

// ---------------------------------------------------------------- HTTP client

/// An HTTP client (hyper-util's legacy `Client`, HTTP/2 over cleartext so that many
/// requests share one connection) behind the runtime's [`ClientLayer`].
pub type HttpClient = ClientService<hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>>;

/// A new [`HttpClient`].
#[must_use]
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector);
    tower::Layer::layer(&ClientLayer::new(), client)
}

/// What the gateway answered.
#[derive(Debug)]
pub struct Answer<T> {
    /// The HTTP status.
    pub status: u16,
    /// The response headers (`traceparent`, `x-trace-id`, ...).
    pub headers: http::HeaderMap,
    /// The body, parsed.
    pub envelope: Envelope<T>,
}

/// `POST`s `body` as JSON to `url` through `client`, with an explicit `traceparent` when
/// given (else the client layer's: a child of the current trace, or a new root).
///
/// # Errors
/// `UNAVAILABLE` when the request fails, `INTERNAL` when the answer is not an envelope.
pub async fn post_json<T: serde::de::DeserializeOwned>(
    client: &HttpClient,
    url: &str,
    body: &impl Serialize,
    traceparent: Option<&str>,
) -> Result<Answer<T>> {
    use tower::ServiceExt;
    let mut request =
        http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(tp) = traceparent {
        request = request.header(TRACEPARENT, tp);
    }
    let request = request
        .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))
        .code(Code::INVALID_ARGUMENT)?;
    let response = client.clone().oneshot(request).await.code(Code::UNAVAILABLE)?;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(body).await.code(Code::UNAVAILABLE)?.to_bytes();
    let envelope = serde_json::from_slice(&bytes).context("the gateway's answer")?;
    Ok(Answer { status, headers: parts.headers, envelope })
}

/// `POST /checkout` on the gateway at `gateway_url`, as a result.
///
/// # Errors
/// The failure the gateway answered with.
pub async fn checkout_via_gateway(
    client: &HttpClient,
    gateway_url: &str,
    basket: &Basket,
) -> Result<Receipt> {
    use tower::ServiceExt;
    let request = http::Request::post(format!("{gateway_url}/checkout"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(basket)?)))
        .code(Code::INVALID_ARGUMENT)?;
    let response = client.clone().oneshot(request).await.code(Code::UNAVAILABLE)?;
    read_reply(response).await
}
