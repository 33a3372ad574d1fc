//! The example binaries' text logs, written to a pipe (not a terminal): no ANSI escape codes.

use std::process::Stdio;
use std::time::Duration;

use result_runtime_examples::channel;
use result_runtime_examples::pb::inventory::inventory_client::InventoryClient;
use result_runtime_examples::pb::inventory::ReserveRequest;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn text_logs_written_to_a_pipe_carry_no_escape_codes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inventory"))
        .args(["127.0.0.1:0", "--log-format", "text"])
        .env("RUST_LOG", "info,result_runtime=debug")
        .env_remove("LOG_FORMAT")
        .env_remove("METRICS_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the inventory binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut written = Vec::new();

    // Its first line says where it listens.
    let n = tokio::time::timeout(T, stdout.read_until(b'\n', &mut written))
        .await
        .expect("inventory starts in time")
        .unwrap();
    assert!(n > 0, "inventory exited before listening");
    let first = String::from_utf8_lossy(&written).into_owned();
    let url = first.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");

    // An out-of-stock reservation: the server layer logs the failed call, with fields (the
    // text format styles field names and levels when colours are on).
    let mut client = InventoryClient::new(channel(&url).unwrap());
    let request = ReserveRequest { sku: "oos-1".to_owned(), qty: 1 };
    let status = tokio::time::timeout(T, client.reserve(request))
        .await
        .expect("inventory answers in time")
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);

    let logged = tokio::time::timeout(T, async {
        loop {
            let start = written.len();
            let n = stdout.read_until(b'\n', &mut written).await.unwrap();
            assert!(n > 0, "inventory's stdout closed before the call's log line");
            let line = String::from_utf8_lossy(&written[start..]).into_owned();
            if line.contains("call failed") {
                return line;
            }
        }
    })
    .await
    .expect("the failed call is logged in time");
    // Unstyled, a field reads `name=value`.
    assert!(logged.contains(r#"code="FAILED_PRECONDITION""#), "{logged:?}");
    child.kill().await.unwrap();
    assert!(
        !written.contains(&0x1b),
        "ANSI escape codes in piped logs:\n{}",
        String::from_utf8_lossy(&written)
    );
}
