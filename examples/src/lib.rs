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
//!
//! One module per service (`inventory`, `checkout` with its `pricing`, `gateway` with its
//! HTTP client), `common` for what they share and `stack` for all three in one process;
//! everything is re-exported here.
//!
//! [`TaskError`]: result_runtime::TaskError
//! [`Group`]: result_runtime::group::Group
//! [`ResultChannel`]: result_runtime::channel::ResultChannel
//! [`ResultCache`]: result_runtime::cache::ResultCache

mod checkout;
mod common;
mod gateway;
mod inventory;
pub mod observe;
pub mod otlp;
pub mod pb;
mod stack;

pub use checkout::{
    price_cents, serve_checkout, spawn_checkout, spawn_checkout_with, Checkout, InventoryChannel,
    InventoryGuard, Pricing,
};
pub use common::{
    channel, Running, TracedChannel, HEADER_READ_TIMEOUT, MAX_PENDING_ACCEPT_RESETS, SECRET,
};
pub use gateway::{
    checkout_via_gateway, gateway_router, http_client, post_json, serve_gateway, spawn_gateway,
    Answer, Basket, BasketItem, HttpClient, Receipt, ReceiptLine, MAX_BASKET_LINES, MAX_BODY_BYTES,
};
pub use inventory::{
    serve_inventory, serve_inventory_without_layer, spawn_inventory,
    spawn_inventory_with_plain_errors, Inventory, STORAGE_FULL, STORAGE_FULL_RETRY,
};
pub use stack::Stack;
