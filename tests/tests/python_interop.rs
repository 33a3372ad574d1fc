//! Rich error details read by another language's stock client: a Python grpcio client with
//! grpcio-status (`tests/python/grpc_status_client.py`) calls inventory and reads the
//! `google.rpc.Status` in `grpc-status-details-bin` (`ErrorInfo`, `RetryInfo`) the way any
//! Python service would, with no code of ours on its side.
//!
//! The test skips (prints `skipped: python3 with grpcio and grpcio-status not found`) when
//! `python3` cannot import `grpc` and `grpc_status`, unless
//! `RESULT_RUNTIME_REQUIRE_PYTHON_GRPC=1` (set by `.ci/run`, which installs them).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use prost::Message;
use result_runtime::middleware::grpc::ERROR_DOMAIN;
use result_runtime::trace::TraceContext;
use result_runtime_examples::pb::inventory::inventory_server::{
    Inventory as InventoryApi, InventoryServer,
};
use result_runtime_examples::pb::inventory::{ReserveReply, ReserveRequest};
use result_runtime_examples::{serve_inventory, Inventory, STORAGE_FULL_RETRY};
use result_runtime_tests::bounded;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::oneshot;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/grpc_status_client.py");
const RESERVE: &str = "/inventory.Inventory/Reserve";

/// Whether `python3` can import grpcio and grpcio-status (after printing the skip line when
/// it cannot).
///
/// # Panics
/// When it cannot and `RESULT_RUNTIME_REQUIRE_PYTHON_GRPC=1`.
async fn python_grpc() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import grpc, grpc_status; from google.rpc import error_details_pb2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("RESULT_RUNTIME_REQUIRE_PYTHON_GRPC").as_deref() != Ok("1"),
            "python3 with grpcio and grpcio-status not found and RESULT_RUNTIME_REQUIRE_PYTHON_GRPC=1"
        );
        println!("skipped: python3 with grpcio and grpcio-status not found");
    }
    found
}

/// Runs the Python client against `addr` and returns what it printed.
async fn python_call(
    addr: SocketAddr,
    request: &ReserveRequest,
    traceparent: Option<&str>,
) -> Value {
    let hex: String = request.encode_to_vec().iter().map(|b| format!("{b:02x}")).collect();
    let mut command = Command::new("python3");
    command.arg(SCRIPT).arg(addr.to_string()).arg(RESERVE).arg(hex);
    if let Some(traceparent) = traceparent {
        command.arg(traceparent);
    }
    let output =
        command.stdin(Stdio::null()).kill_on_drop(true).output().await.expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python client failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_grpcio_status_client_reads_the_reason_the_trace_and_the_retry_delay() {
    if !python_grpc().await {
        return;
    }
    bounded(async {
        let server = serve_inventory(([127, 0, 0, 1], 0).into(), Inventory::new()).await.unwrap();
        let trace = TraceContext::new_root();
        let request = ReserveRequest { sku: "full-py".into(), qty: 1 };
        let out = python_call(server.addr, &request, Some(&trace.to_string())).await;

        assert_eq!(out["ok"], false, "{out}");
        assert_eq!(out["code"], "UNAVAILABLE", "{out}");
        assert_eq!(out["message"], "storage unavailable", "the safe public message: {out}");
        assert!(!out.to_string().contains("stock volume full"), "never the internal text: {out}");
        assert_eq!(out["details"], true, "{out}");
        assert_eq!(out["status_message"], out["message"], "{out}");

        let info = &out["error_info"];
        assert_eq!(info["reason"], "STORAGE_FULL", "{out}");
        assert_eq!(info["domain"], ERROR_DOMAIN, "{out}");
        assert_eq!(info["domain"], "result-runtime", "{out}");
        assert_eq!(info["metadata"]["trace_id"], trace.trace_id.to_string(), "the caller's trace");
        assert_eq!(info["metadata"]["task"], "inventory.reserve", "{out}");
        assert_eq!(info["metadata"]["category"], "storage", "{out}");
        assert_eq!(info["metadata"]["retryable"], "true", "{out}");

        let retry = &out["retry_info"];
        let delay = Duration::new(
            retry["seconds"].as_u64().expect("seconds"),
            u32::try_from(retry["nanos"].as_u64().expect("nanos")).unwrap(),
        );
        assert_eq!(delay, STORAGE_FULL_RETRY, "{out}");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_sees_no_details_from_a_server_that_sends_none() {
    if !python_grpc().await {
        return;
    }
    bounded(async {
        let (addr, stop, server) = serve_plain().await;
        let request = ReserveRequest { sku: "tea".into(), qty: 1 };
        let out = python_call(addr, &request, None).await;
        assert_eq!(out["ok"], false, "{out}");
        assert_eq!(out["code"], "UNAVAILABLE", "{out}");
        assert_eq!(out["message"], "plain tonic says no", "{out}");
        assert_eq!(out["details"], false, "{out}");
        assert_eq!(out["error_info"], Value::Null, "{out}");
        assert_eq!(out["retry_info"], Value::Null, "{out}");
        let _ = stop.send(());
        server.await.unwrap();
    })
    .await;
}

/// An inventory that knows nothing of this crate: a plain tonic status, no details.
struct Plain;

#[tonic::async_trait]
impl InventoryApi for Plain {
    async fn reserve(
        &self,
        _: tonic::Request<ReserveRequest>,
    ) -> Result<tonic::Response<ReserveReply>, tonic::Status> {
        Err(tonic::Status::unavailable("plain tonic says no"))
    }
}

/// `Plain` on a free loopback port, without the runtime's layer.
async fn serve_plain() -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(InventoryServer::new(Plain))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
    });
    (addr, stop, server)
}
