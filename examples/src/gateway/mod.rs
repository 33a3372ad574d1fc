//! The gateway (axum): `POST /checkout` with a JSON basket, calling checkout over gRPC and
//! answering with the result envelope; and the HTTP client that calls it.

mod client;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use result_runtime::middleware::grpc::GrpcResultExt;
use result_runtime::middleware::http::{Reply, ResultLayer as HttpLayer};
use result_runtime::{fallible_task, traced, Code, Result, ResultExt, TaskError};
use serde::{Deserialize, Serialize};

pub use client::{checkout_via_gateway, http_client, post_json, Answer, HttpClient};

use crate::common::{
    bind, channel, running, serve_http, Running, TracedChannel, HEADER_READ_TIMEOUT,
};
use crate::pb::checkout::checkout_client::CheckoutClient;
use crate::pb::checkout::{CheckoutRequest, Item};

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
    /// The `tracestate` inventory's handler saw: the caller's, kept end to end.
    #[serde(default)]
    pub inventory_tracestate: String,
    /// The `baggage` inventory's handler saw.
    #[serde(default)]
    pub inventory_baggage: String,
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
///
/// Limits at the edge: a request body over [`MAX_BODY_BYTES`] is answered `413`, a basket
/// of more than [`MAX_BASKET_LINES`] lines `400`, both in the envelope, before any line's
/// work is built.
pub fn gateway_router(checkout: TracedChannel, timeout: Duration) -> Router {
    Router::new()
        .route("/checkout", post(checkout_handler))
        .with_state(CheckoutClient::new(checkout))
        .layer(HttpLayer::new().max_deadline(timeout).body_limit(MAX_BODY_BYTES))
}

/// The largest request body the gateway reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The most lines one basket may have.
pub const MAX_BASKET_LINES: usize = 200;

async fn checkout_handler(
    State(client): State<CheckoutClient<TracedChannel>>,
    basket: std::result::Result<Json<Basket>, JsonRejection>,
) -> std::result::Result<Reply<Receipt>, JsonRejection> {
    match basket {
        // Over the body limit: axum's own 413, which the layer answers as an envelope.
        Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(e),
        basket => Ok(Reply(gateway_checkout(client, basket).await)),
    }
}

#[fallible_task(name = "gateway.checkout")]
#[traced(name = "gateway.checkout", skip_all)]
async fn gateway_checkout(
    mut client: CheckoutClient<TracedChannel>,
    basket: std::result::Result<Json<Basket>, JsonRejection>,
) -> Result<Receipt> {
    let Json(basket) = basket.map_err(|e| TaskError::new(Code::INVALID_ARGUMENT, e.body_text()))?;
    if basket.items.len() > MAX_BASKET_LINES {
        return Err(TaskError::new(
            Code::INVALID_ARGUMENT,
            format!(
                "a basket holds at most {MAX_BASKET_LINES} lines; this one has {}",
                basket.items.len()
            ),
        ));
    }
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
                inventory_tracestate: l.inventory_tracestate,
                inventory_baggage: l.inventory_baggage,
            })
            .collect(),
        total_cents: reply.total_cents,
        checkout_trace_id: reply.trace_id,
    })
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
    serve_gateway(addr, gateway_router(channel(checkout_url)?, timeout), HEADER_READ_TIMEOUT).await
}

/// Serves `app` on `addr` with this header-read timeout (see [`HEADER_READ_TIMEOUT`], the
/// gateway's default).
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve_gateway(
    addr: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
) -> Result<Running> {
    let (listener, addr) = bind(addr).await.with_code(Code::UNAVAILABLE)?;
    Ok(running(addr, |stop| tokio::spawn(serve_http(listener, app, stop, header_read_timeout))))
}
