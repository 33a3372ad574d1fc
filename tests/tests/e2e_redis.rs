//! End to end over real Redis: two checkout replicas whose price caches are tiered on the
//! same two `redis-server` nodes (started here on free loopback ports, killed on drop), driven
//! through tonic clients. Skipped with a message without `redis-server` on `PATH`, unless
//! `RESULT_RUNTIME_REQUIRE_REDIS=1`.

#[path = "../../result-runtime/tests/redis_support/mod.rs"]
mod redis_support;

use std::net::SocketAddr;

use futures::future::join_all;
use redis_support::RedisServer;
use result_runtime::middleware::grpc::StatusExt;
use result_runtime::Code;
use result_runtime_examples::pb::checkout::checkout_client::CheckoutClient;
use result_runtime_examples::pb::checkout::{CheckoutReply, CheckoutRequest, Item};
use result_runtime_examples::{
    channel, price_cents, serve_inventory, spawn_checkout_with, Inventory, Pricing, Running,
    TracedChannel,
};
use result_runtime_tests::bounded;

/// Inventory, and two checkout replicas sharing the Redis nodes.
struct Fleet {
    inventory: Running,
    replicas: Vec<(Running, Pricing)>,
}

impl Fleet {
    async fn start(nodes: &[RedisServer]) -> Self {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let inventory = serve_inventory(any, Inventory::new()).await.unwrap();
        let urls: Vec<String> = nodes.iter().map(RedisServer::url).collect();
        let mut replicas = Vec::new();
        for _ in 0..2 {
            let pricing = Pricing::tiered(&urls).await.expect("valid Redis URLs");
            let server = spawn_checkout_with(any, &inventory.url(), pricing.clone()).await.unwrap();
            replicas.push((server, pricing));
        }
        Self { inventory, replicas }
    }

    fn client(&self, replica: usize) -> CheckoutClient<TracedChannel> {
        CheckoutClient::new(channel(&self.replicas[replica].0.url()).unwrap())
    }

    /// Summed over both replicas: (fleet-wide leased loads, loads of any kind, L2 hits).
    fn loads(&self) -> (u64, u64, u64) {
        self.replicas.iter().fold((0, 0, 0), |(l, all, h), (_, p)| {
            let r = p.remote_stats().expect("a tiered cache");
            (l + r.loads, all + p.stats().loads, h + r.l2_hits)
        })
    }

    async fn shutdown(self) {
        for (server, _) in self.replicas {
            server.shutdown().await;
        }
        self.inventory.shutdown().await;
    }
}

async fn checkout(
    mut client: CheckoutClient<TracedChannel>,
    sku: &str,
) -> Result<CheckoutReply, result_runtime::TaskError> {
    let request = CheckoutRequest { items: vec![Item { sku: sku.into(), qty: 1 }] };
    client.checkout(request).await.map(tonic::Response::into_inner).map_err(|s| s.into_task_error())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_both_replicas_loads_the_price_once() {
    let Some(nodes) = RedisServer::start_n(2) else { return };
    bounded(async {
        let fleet = Fleet::start(&nodes).await;
        let (a, b) = (fleet.client(0), fleet.client(1));
        let calls =
            (0..40).map(|i| checkout(if i % 2 == 0 { a.clone() } else { b.clone() }, "tea"));
        let replies = join_all(calls).await;
        let want = price_cents("tea").await.unwrap();
        for reply in replies {
            assert_eq!(reply.expect("priced").total_cents, want);
        }
        let (leased, all, _) = fleet.loads();
        assert_eq!((leased, all), (1, 1), "one pricing load across both replicas");
        fleet.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_entry_learned_by_one_replica_is_served_by_the_other() {
    let Some(nodes) = RedisServer::start_n(2) else { return };
    bounded(async {
        let fleet = Fleet::start(&nodes).await;
        let first = checkout(fleet.client(0), "unpriced-gift-card").await.unwrap_err();
        assert_eq!(first.code(), Code::NOT_FOUND, "{first:#}");
        let (_, loads_before, hits_before) = fleet.loads();
        assert_eq!(loads_before, 1);

        let second = checkout(fleet.client(1), "unpriced-gift-card").await.unwrap_err();
        assert_eq!(second.code(), Code::NOT_FOUND, "{second:#}");
        assert_eq!(second.client_message(), first.client_message());
        let (leased, loads, hits) = fleet.loads();
        assert_eq!((leased, loads), (1, 1), "the other replica loaded nothing");
        assert_eq!(hits, hits_before + 1, "it read the negative entry from Redis");
        let other = fleet.replicas[1].1.remote_stats().unwrap();
        assert_eq!((other.loads, other.l2_hits), (0, 1));
        fleet.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_answered_with_a_redis_node_killed() {
    let Some(mut nodes) = RedisServer::start_n(2) else { return };
    bounded(async {
        let fleet = Fleet::start(&nodes).await;
        let skus: Vec<String> = (0..16).map(|i| format!("mug-{i}")).collect();
        nodes[0].kill();
        for (i, sku) in skus.iter().enumerate() {
            let reply =
                checkout(fleet.client(i % 2), sku).await.expect("answered without the node");
            assert_eq!(reply.total_cents, price_cents(sku).await.unwrap());
        }
        fleet.shutdown().await;
    })
    .await;
}
