//! Faults at the edge of a call, on real servers on loopback: a transport that breaks in
//! every way h2 can break (GOAWAY, a protocol error, a reset or broken pipe, a peer that
//! vanishes mid-body) is `UNAVAILABLE` and retryable for the client; a call the client drops
//! mid-handler is logged once at info and counted `CANCELLED` by both server layers; a
//! malformed `grpc-timeout` is refused before the handler runs; and the examples' HTTP
//! servers close connections left idle.
//!
//! Each test runs on a current-thread runtime, so the [`Logs`] and the metrics recorder
//! installed on the test's thread see everything the servers' tasks log and count.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use metrics_util::debugging::DebuggingRecorder;
use result_runtime::middleware::grpc::StatusExt;
use result_runtime::middleware::{GRPC_SERVER_CALLS, HTTP_SERVER_REQUESTS};
use result_runtime::Code;
use result_runtime_examples::pb::inventory::inventory_client::InventoryClient;
use result_runtime_examples::pb::inventory::inventory_server::{
    Inventory as InventoryApi, InventoryServer,
};
use result_runtime_examples::pb::inventory::{ReserveReply, ReserveRequest};
use result_runtime_examples::{channel, serve_gateway, serve_inventory, Inventory};
use result_runtime_tests::{bounded, counters, grpc_answer, grpc_frame, Logs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::Level;

fn any() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

// ---------------------------------------------------------------------------------------
// Transport faults: a raw HTTP/2 peer that misbehaves once the call is in flight.

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// Reads one frame: its kind, flags, stream and payload. `None` at the end of the stream
/// (or a reset).
async fn read_frame(tcp: &mut TcpStream) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0; 9];
    tcp.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5] & 0x7f, head[6], head[7], head[8]]);
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], stream, payload))
}

/// The server's side of the h2 handshake and the call's arrival: reads the client's preface,
/// sends `settings` (and acknowledges the client's), and returns once the call's HEADERS
/// frame (stream 1) arrived.
async fn accept_call(tcp: &mut TcpStream, settings: &[u8]) {
    let mut preface = [0; PREFACE.len()];
    tcp.read_exact(&mut preface).await.unwrap();
    assert_eq!(preface, PREFACE);
    tcp.write_all(&frame(SETTINGS, 0, 0, settings)).await.unwrap();
    loop {
        let (kind, flags, stream, _) = read_frame(tcp).await.expect("the call never arrived");
        match kind {
            SETTINGS if flags & ACK == 0 => {
                tcp.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
            }
            HEADERS if stream == 1 => return,
            _ => {}
        }
    }
}

/// Reads (and drops) whatever the client still sends until it closes the connection, so that
/// the server's close is a clean FIN, never a reset for unread data.
async fn drain(mut tcp: TcpStream) {
    let mut buf = [0; 4096];
    while let Ok(n) = tcp.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// What a misbehaving server does once the call's HEADERS arrived.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// GOAWAY with last stream 0: the call is refused, the connection stays open.
    GoAwayRefused,
    /// GOAWAY with last stream 1 (the call was taken), then the socket closes.
    GoAwayThenClose,
    /// A DATA frame on stream 0: a connection-level PROTOCOL_ERROR.
    DataOnStreamZero,
    /// A response HEADERS frame whose header block is garbage (h2 answers PROTOCOL_ERROR).
    GarbageHeaderBlock,
    /// A reset (RST) of the TCP connection while the client waits for the answer.
    ResetWhileWaiting,
    /// A reset while the client is still writing a large request: its write fails
    /// (broken pipe, or a reset, as the kernel reports it).
    ResetWhileWriting,
    /// The response's headers and half a message, then the socket closes.
    VanishMidBody,
}

/// A one-connection server on loopback that accepts the call, then does `fault`.
async fn faulty_server(fault: Fault) -> SocketAddr {
    let listener = TcpListener::bind(any()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut settings = Vec::new();
        if let Fault::ResetWhileWriting = fault {
            // SETTINGS_INITIAL_WINDOW_SIZE = 2^31 - 1: the client may send its whole request.
            settings.extend(0x4u16.to_be_bytes());
            settings.extend(0x7fff_ffffu32.to_be_bytes());
        }
        accept_call(&mut tcp, &settings).await;
        match fault {
            Fault::GoAwayRefused => {
                let goaway = [0u32.to_be_bytes(), 0u32.to_be_bytes()].concat();
                tcp.write_all(&frame(GOAWAY, 0, 0, &goaway)).await.unwrap();
                drain(tcp).await;
            }
            Fault::GoAwayThenClose => {
                let goaway = [1u32.to_be_bytes(), 0u32.to_be_bytes()].concat();
                tcp.write_all(&frame(GOAWAY, 0, 0, &goaway)).await.unwrap();
                tcp.shutdown().await.unwrap();
                drain(tcp).await;
            }
            Fault::DataOnStreamZero => {
                tcp.write_all(&frame(DATA, 0, 0, b"garbage")).await.unwrap();
                drain(tcp).await;
            }
            Fault::GarbageHeaderBlock => {
                // 0xff...: an index far past the static and dynamic tables.
                let block = [0xff; 8];
                tcp.write_all(&frame(HEADERS, END_HEADERS, 1, &block)).await.unwrap();
                drain(tcp).await;
            }
            Fault::ResetWhileWaiting => {
                tcp.set_zero_linger().unwrap();
                drop(tcp);
            }
            Fault::ResetWhileWriting => {
                // Let the client's connection window grow too, then wait for the request's
                // body to be under way before resetting.
                let grow = 0x7fff_0000u32.to_be_bytes();
                tcp.write_all(&frame(WINDOW_UPDATE, 0, 0, &grow)).await.unwrap();
                loop {
                    match read_frame(&mut tcp).await {
                        Some((DATA, ..)) | None => break,
                        Some(_) => {}
                    }
                }
                tcp.set_zero_linger().unwrap();
                drop(tcp);
            }
            Fault::VanishMidBody => {
                // :status 200 (static index 8), content-type: application/grpc (name index
                // 31, literal value).
                let mut block = vec![0x88, 0x0f, 0x10, 16];
                block.extend(b"application/grpc");
                tcp.write_all(&frame(HEADERS, END_HEADERS, 1, &block)).await.unwrap();
                // A message announced as 100 bytes, of which 3 arrive.
                tcp.write_all(&frame(DATA, 0, 1, &[0, 0, 0, 0, 100, 1, 2, 3])).await.unwrap();
                tcp.shutdown().await.unwrap();
                drain(tcp).await;
            }
        }
    });
    addr
}

/// One call to a server that does `fault`, through the runtime's client layer, as a
/// `TaskError`.
async fn call_with_fault(fault: Fault) -> result_runtime::TaskError {
    let addr = faulty_server(fault).await;
    let mut client = InventoryClient::new(channel(&format!("http://{addr}")).unwrap());
    let sku = match fault {
        // A request far larger than the socket buffers: still being written at the reset.
        Fault::ResetWhileWriting => "x".repeat(8 << 20),
        _ => "tea".to_owned(),
    };
    let status = client.reserve(ReserveRequest { sku, qty: 1 }).await.unwrap_err();
    status.into_task_error()
}

async fn assert_unavailable(fault: Fault) {
    let e = bounded(call_with_fault(fault)).await;
    assert_eq!(e.code(), Code::UNAVAILABLE, "{fault:?}: {e:#}");
    assert!(e.is_retryable(), "{fault:?}: {e:#}");
    assert_eq!(e.client_message(), "service unavailable", "{fault:?}: no transport detail");
}

#[tokio::test]
async fn a_goaway_is_unavailable_and_retryable() {
    assert_unavailable(Fault::GoAwayRefused).await;
    assert_unavailable(Fault::GoAwayThenClose).await;
}

#[tokio::test]
async fn an_h2_protocol_error_is_unavailable_and_retryable() {
    assert_unavailable(Fault::DataOnStreamZero).await;
    assert_unavailable(Fault::GarbageHeaderBlock).await;
}

#[tokio::test]
async fn a_connection_reset_or_broken_pipe_is_unavailable_and_retryable() {
    assert_unavailable(Fault::ResetWhileWaiting).await;
    assert_unavailable(Fault::ResetWhileWriting).await;
}

#[tokio::test]
async fn a_peer_vanishing_mid_body_is_unavailable_and_retryable() {
    assert_unavailable(Fault::VanishMidBody).await;
}

// ---------------------------------------------------------------------------------------
// Cancellation: a call the client drops mid-handler.

/// Sends on drop: the server dropped the handler's future.
struct OnDrop(mpsc::UnboundedSender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// An inventory whose handler says it started, then parks until it is dropped (and says so).
struct Parked {
    started: mpsc::UnboundedSender<()>,
    dropped: mpsc::UnboundedSender<()>,
}

#[tonic::async_trait]
impl InventoryApi for Parked {
    async fn reserve(
        &self,
        _: tonic::Request<ReserveRequest>,
    ) -> std::result::Result<tonic::Response<ReserveReply>, tonic::Status> {
        let _dropped = OnDrop(self.dropped.clone());
        let _ = self.started.send(());
        std::future::pending().await
    }
}

/// The signals of a parked handler: it started, it was dropped.
struct Signals {
    started: mpsc::UnboundedReceiver<()>,
    dropped: mpsc::UnboundedReceiver<()>,
}

fn parked() -> (Parked, Signals) {
    let (started, started_rx) = mpsc::unbounded_channel();
    let (dropped, dropped_rx) = mpsc::unbounded_channel();
    (Parked { started, dropped }, Signals { started: started_rx, dropped: dropped_rx })
}

/// The events of the server layers' end-of-call lines for `call` with `code`.
fn call_lines(logs: &Logs, call: &str, code: &str) -> Vec<result_runtime_tests::Event> {
    logs.events(|e| e.field("call") == Some(call) && e.field("code") == Some(code))
}

#[tokio::test]
async fn a_grpc_call_dropped_mid_handler_is_logged_once_and_counted_cancelled() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let (logs, _logs) = Logs::capture();
    bounded(async {
        let (service, mut signals) = parked();
        let listener = TcpListener::bind(any()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(result_runtime::middleware::grpc::ResultLayer::new())
                .add_service(InventoryServer::new(service))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let client = InventoryClient::new(channel(&format!("http://{addr}")).unwrap());
        let mut caller = client.clone();
        let call = tokio::spawn(async move {
            caller.reserve(ReserveRequest { sku: "tea".into(), qty: 1 }).await
        });
        signals.started.recv().await.expect("the handler started");
        // The caller gives up: its stream is reset (the connection, shared with `client`,
        // stays up), and the server drops the handler.
        call.abort();
        signals.dropped.recv().await.expect("the server dropped the handler");

        let call = "/inventory.Inventory/Reserve";
        let lines = call_lines(&logs, call, "CANCELLED");
        assert_eq!(lines.len(), 1, "one line for the call:\n{}", logs.dump());
        assert_eq!(lines[0].level, Level::INFO, "{:?}", lines[0]);
        assert!(call_lines(&logs, call, "OK").is_empty(), "{}", logs.dump());
        let counted = counters(&snapshotter);
        let key = format!(
            "{GRPC_SERVER_CALLS} service=inventory.Inventory,method=Reserve,code=CANCELLED"
        );
        assert_eq!(counted.get(&key), Some(&1), "{counted:#?}");
        let server_calls = counted.iter().filter(|(k, _)| k.starts_with(GRPC_SERVER_CALLS));
        assert_eq!(server_calls.map(|(_, n)| n).sum::<u64>(), 1, "{counted:#?}");
    })
    .await;
}

#[tokio::test]
async fn an_http_request_dropped_mid_handler_is_logged_once_and_counted_cancelled() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let (logs, _logs) = Logs::capture();
    bounded(async {
        let (service, mut signals) = parked();
        let app = axum::Router::new()
            .route(
                "/park",
                axum::routing::get(move || {
                    let (started, dropped) = (service.started.clone(), service.dropped.clone());
                    async move {
                        let _dropped = OnDrop(dropped);
                        let _ = started.send(());
                        std::future::pending::<&'static str>().await
                    }
                }),
            )
            .layer(result_runtime::middleware::http::ResultLayer::new());
        let gateway =
            serve_gateway(any(), app, result_runtime_examples::HEADER_READ_TIMEOUT).await.unwrap();
        // A client that sends its request, then disconnects before the answer.
        let mut tcp = TcpStream::connect(gateway.addr).await.unwrap();
        tcp.write_all(b"GET /park HTTP/1.1\r\nhost: gateway\r\n\r\n").await.unwrap();
        signals.started.recv().await.expect("the handler started");
        drop(tcp);
        signals.dropped.recv().await.expect("the server dropped the handler");

        let lines = call_lines(&logs, "/park", "CANCELLED");
        assert_eq!(lines.len(), 1, "one line for the request:\n{}", logs.dump());
        assert_eq!(lines[0].level, Level::INFO, "{:?}", lines[0]);
        let counted = counters(&snapshotter);
        let key =
            format!("{HTTP_SERVER_REQUESTS} method=GET,route=/park,code=CANCELLED,status=499");
        assert_eq!(counted.get(&key), Some(&1), "{counted:#?}");
        let requests = counted.iter().filter(|(k, _)| k.starts_with(HTTP_SERVER_REQUESTS));
        assert_eq!(requests.map(|(_, n)| n).sum::<u64>(), 1, "{counted:#?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// A malformed grpc-timeout, sent exactly as written.

/// One unary `Reserve` call over a raw HTTP/2 connection (hyper's, no tonic in between),
/// with this `grpc-timeout` value exactly: the answer's head (a trailers-only answer has the
/// status there).
async fn reserve_with_timeout(addr: SocketAddr, sku: &str, timeout: &str) -> http::HeaderMap {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let body = grpc_frame(&ReserveRequest { sku: sku.to_owned(), qty: 1 });
    let request = http::Request::post(format!("http://{addr}/inventory.Inventory/Reserve"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header("grpc-timeout", timeout)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    // The status of an answer with a message comes in the trailers.
    grpc_answer(send.send_request(request).await.unwrap()).await
}

#[tokio::test]
async fn a_malformed_grpc_timeout_is_refused_before_the_handler_runs_and_logged_at_debug() {
    let (logs, _logs) = Logs::capture();
    bounded(async {
        let inventory = Inventory::new();
        let server = serve_inventory(any(), inventory.clone()).await.unwrap();
        // The control: a well-formed timeout reaches the handler (out of stock, counted).
        let head = reserve_with_timeout(server.addr, "oos-control", "5S").await;
        assert_eq!(head["grpc-status"], "9", "FAILED_PRECONDITION: {head:?}");
        assert_eq!(inventory.calls("oos-control"), 1);

        for bad in ["abc", "-1S", "1000000000000H"] {
            let sku = format!("oos-{bad}");
            let head = reserve_with_timeout(server.addr, &sku, bad).await;
            let status = tonic::Status::from_header_map(&head).expect("a status");
            let e = status.into_task_error();
            assert_eq!(e.code(), Code::INVALID_ARGUMENT, "{bad:?}: {e:#}");
            assert!(e.client_message().contains("grpc-timeout"), "{bad:?}: {e:#}");
            assert_eq!(inventory.calls(&sku), 0, "the handler ran for {bad:?}");
            let refused = logs.events(|e| {
                e.level == Level::DEBUG
                    && e.message == "refused before the handler"
                    && e.field("error").is_some_and(|error| error.contains(&format!("{bad:?}")))
            });
            assert_eq!(refused.len(), 1, "{bad:?}:\n{}", logs.dump());
        }
        server.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Idle connections on the examples' HTTP server, with its configured timeouts (the clock is
// paused: the runtime jumps to the next timer whenever every task waits).

/// A PING frame.
const PING: u8 = 0x6;

/// The gateway's server (its `serve_http`, with [`HEADER_READ_TIMEOUT`] and the HTTP/2
/// keepalive), serving a router that answers everything 404 without a downstream.
async fn idle_gateway() -> result_runtime_examples::Running {
    let app = axum::Router::new().layer(result_runtime::middleware::http::ResultLayer::new());
    serve_gateway(any(), app, result_runtime_examples::HEADER_READ_TIMEOUT).await.unwrap()
}

/// Reads until the server closes the connection (EOF or a reset): what it sent.
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_http1_connection_is_closed_by_the_server() {
    bounded(async {
        let gateway = idle_gateway().await;
        // Kept alive after a complete request, then idle: closed, and nothing else is sent.
        let mut tcp = TcpStream::connect(gateway.addr).await.unwrap();
        tcp.write_all(b"GET /nope HTTP/1.1\r\nhost: gateway\r\n\r\n").await.unwrap();
        let seen = String::from_utf8(read_to_close(&mut tcp).await).unwrap();
        assert!(seen.starts_with("HTTP/1.1 404"), "{seen}");
        assert_eq!(seen.matches("HTTP/1.1").count(), 1, "one answer, then the close: {seen}");
        assert!(!seen.contains("connection: close"), "kept alive, then closed idle: {seen}");

        // A connection that never sends a byte is closed too.
        let mut tcp = TcpStream::connect(gateway.addr).await.unwrap();
        let seen = read_to_close(&mut tcp).await;
        assert!(seen.is_empty() || seen.starts_with(b"HTTP/1.1 408"), "{seen:?}");
        gateway.shutdown().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_http2_connection_whose_peer_stops_answering_pings_is_closed_by_the_server() {
    bounded(async {
        let gateway = idle_gateway().await;
        let mut tcp = TcpStream::connect(gateway.addr).await.unwrap();
        tcp.write_all(PREFACE).await.unwrap();
        tcp.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        // Acknowledge the server's settings, answer nothing else: a peer gone silent.
        let mut kinds = Vec::new();
        while let Some((kind, flags, _, _)) = read_frame(&mut tcp).await {
            if kind == SETTINGS && flags & ACK == 0 {
                tcp.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
            }
            kinds.push(kind);
        }
        let ping = kinds.iter().position(|&k| k == PING).unwrap_or_else(|| {
            panic!("closed without a keepalive ping: frames {kinds:?}");
        });
        assert!(
            kinds[ping..].iter().all(|&k| k == PING || k == GOAWAY),
            "after the ping, only the close: {kinds:?}"
        );
        gateway.shutdown().await;
    })
    .await;
}
