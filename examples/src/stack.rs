//! All three services in one process, for the tour and the end-to-end tests.

use std::net::SocketAddr;
use std::time::Duration;

use result_runtime::{Code, Result, ResultExt};

use crate::checkout::{serve_checkout, Checkout, InventoryGuard, Pricing};
use crate::common::{channel, Running, TracedChannel};
use crate::gateway::spawn_gateway;
use crate::inventory::{serve_inventory, Inventory};

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
        Self::start_guarded(gateway_timeout, InventoryGuard::standalone(), channel).await
    }

    /// [`start`](Self::start), with checkout's inventory calls behind `guard`, over the
    /// channel `connect` makes for inventory's URL (a test's counting connector, say).
    ///
    /// # Errors
    /// When a port cannot be bound, or `connect`'s error.
    pub async fn start_guarded(
        gateway_timeout: Duration,
        guard: InventoryGuard,
        connect: impl FnOnce(&str) -> Result<TracedChannel>,
    ) -> Result<Self> {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let inventory_service = Inventory::new();
        let inventory =
            serve_inventory(any, inventory_service.clone()).await.with_code(Code::UNAVAILABLE)?;
        let pricing = Pricing::new();
        let service = Checkout::with_guard(connect(&inventory.url())?, pricing.clone(), guard);
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
