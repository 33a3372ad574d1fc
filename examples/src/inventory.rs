//! The inventory service (tonic): reserves stock; the special SKUs fail on purpose.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use result_runtime::context::Context;
use result_runtime::middleware::grpc::ResultLayer as GrpcLayer;
use result_runtime::trace::TraceContext;
use result_runtime::{fallible_task, traced, Code, Result, TaskError};
use tonic::{Request, Response, Status};

use crate::common::{bind, current_trace_id, incoming, log_exit, running, Running, SECRET};
use crate::pb::inventory::inventory_server::{Inventory as InventoryApi, InventoryServer};
use crate::pb::inventory::{ReserveReply, ReserveRequest};

/// Inventory's own code for a full stock volume (a `full-*` SKU): a custom code of the
/// storage category, retryable, sent with [`STORAGE_FULL_RETRY`].
pub const STORAGE_FULL: Code = Code::new("STORAGE_FULL", result_runtime::Category::Storage);

/// The retry delay inventory asks for with [`STORAGE_FULL`].
pub const STORAGE_FULL_RETRY: Duration = Duration::from_millis(20);

/// The inventory service.
///
/// It counts the calls it gets for the special SKUs (`flaky-*`, `oos-*`, `code-*`): that
/// is how a `flaky-*` SKU fails only the first time, and how a test sees how often checkout
/// retried. Clones share the counts.
///
/// Its replies echo what reached the handler (the trace id, the deadline, `tracestate` and
/// `baggage`), so that tests see what crossed each hop; [`without_echo`](Self::without_echo)
/// leaves them empty.
#[derive(Clone, Debug)]
pub struct Inventory {
    calls: Arc<Mutex<HashMap<String, u32>>>,
    echo: bool,
}

impl Default for Inventory {
    fn default() -> Self {
        Self { calls: Arc::default(), echo: true }
    }
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

    /// An inventory whose replies leave `trace_id`, `deadline_ms`, `tracestate` and
    /// `baggage` empty: its handler does the same work whether or not a layer gave it a
    /// trace context and a deadline. The `service` bench serves it on both sides, so that
    /// "with the layer" differs from "without" by the layer alone, not by a bigger reply.
    #[must_use]
    pub fn without_echo() -> Self {
        Self { echo: false, ..Self::default() }
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
    /// `code-<NAME>` SKU, the custom [`STORAGE_FULL`] (with a retry delay) for a `full-*`
    /// SKU.
    #[fallible_task(name = "inventory.reserve")]
    #[traced(name = "inventory.reserve", skip(self, request), fields(sku = request.sku.as_str(), qty = request.qty))]
    pub async fn reserve_stock(&self, request: ReserveRequest) -> Result<ReserveReply> {
        let ReserveRequest { sku, qty } = request;
        if qty == 0 {
            return Err(TaskError::new(Code::INVALID_ARGUMENT, "qty must be at least 1"));
        }
        let calls = self.count_call(&sku);
        match sku.as_str() {
            "panic" => panic!("inventory invariant broken ({SECRET})"),
            // The ambient deadline (the request's grpc-timeout) ends this call.
            "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
            _ => {}
        }
        if sku.starts_with("full-") {
            // A custom code with a retry delay: both survive every hop to the gateway.
            return Err(TaskError::new(STORAGE_FULL, format!("{sku}: stock volume full"))
                .with_retry_after(STORAGE_FULL_RETRY));
        }
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
        if !self.echo {
            return Ok(ReserveReply { sku, reserved: qty, ..ReserveReply::default() });
        }
        let deadline_ms = Context::current()
            .and_then(|c| c.remaining())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let (tracestate, baggage) = TraceContext::current()
            .map(|t| (t.tracestate().to_string(), t.baggage().to_string()))
            .unwrap_or_default();
        Ok(ReserveReply {
            sku,
            reserved: qty,
            trace_id: current_trace_id(),
            deadline_ms,
            tracestate,
            baggage,
        })
    }

    /// How many calls this inventory got for `sku` (special SKUs only; 0 for the others).
    #[must_use]
    pub fn calls(&self, sku: &str) -> u32 {
        self.lock().get(sku).copied().unwrap_or(0)
    }

    /// Counts a call for a special SKU and returns its count, this one included. Other SKUs
    /// are not counted (0), so that the map stays as small as the set of special SKUs used.
    fn count_call(&self, sku: &str) -> u32 {
        if !["flaky-", "oos-", "code-", "full-", "slow"].iter().any(|p| sku.starts_with(p)) {
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
            let r = crate::common::grpc_server()
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

/// Starts `inventory` on `addr` without the runtime's layer: the baseline of the `service`
/// bench.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve_inventory_without_layer(
    addr: SocketAddr,
    inventory: Inventory,
) -> std::io::Result<Running> {
    let (listener, addr) = bind(addr).await?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let r = crate::common::grpc_server()
                .add_service(InventoryServer::new(inventory))
                .serve_with_incoming_shutdown(incoming(listener), async {
                    let _ = stop.await;
                })
                .await;
            log_exit("inventory", r);
        })
    }))
}

/// Starts inventory behind the gRPC `ResultLayer`, answering every failure with a plain
/// status: the gRPC code, the client message and `x-trace-id`, no error details, as before
/// the details existed. The baseline of the `service` bench's error path.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_inventory_with_plain_errors(addr: SocketAddr) -> std::io::Result<Running> {
    let (listener, addr) = bind(addr).await?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let r = crate::common::grpc_server()
                .layer(GrpcLayer::new())
                .add_service(InventoryServer::new(PlainErrors(Inventory::new())))
                .serve_with_incoming_shutdown(incoming(listener), async {
                    let _ = stop.await;
                })
                .await;
            log_exit("inventory", r);
        })
    }))
}

/// [`Inventory`] with its failures sent as plain statuses.
struct PlainErrors(Inventory);

#[tonic::async_trait]
impl InventoryApi for PlainErrors {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> std::result::Result<Response<ReserveReply>, Status> {
        match self.0.reserve_stock(request.into_inner()).await {
            Ok(reply) => Ok(Response::new(reply)),
            Err(e) => {
                let code = tonic::Code::from(e.code().grpc() as i32);
                let mut status = Status::new(code, e.client_message());
                if let Some(id) = e.trace_id() {
                    let id = id.to_string().parse().expect("hex is a valid header value");
                    status.metadata_mut().insert("x-trace-id", id);
                }
                Err(status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What one reservation of `sku` echoes, run inside a trace carrying a tracestate.
    async fn reply(inventory: &Inventory) -> ReserveReply {
        let trace: TraceContext =
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
        let trace = trace.with_tracestate("rojo=00f067aa0ba902b7".parse().unwrap());
        let request = ReserveRequest { sku: "tea".into(), qty: 2 };
        trace.scope(inventory.reserve_stock(request)).await.unwrap()
    }

    #[tokio::test]
    async fn without_echo_the_reply_carries_the_reservation_only() {
        let quiet = reply(&Inventory::without_echo()).await;
        assert_eq!((quiet.sku.as_str(), quiet.reserved), ("tea", 2));
        assert_eq!((quiet.trace_id.as_str(), quiet.tracestate.as_str()), ("", ""));
        // The default echoes what reached the handler.
        let echoed = reply(&Inventory::new()).await;
        assert_eq!(echoed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(echoed.tracestate, "rojo=00f067aa0ba902b7");
    }
}
