//! What the three services share: the traced client channel, the trace id they report, and
//! a [`Running`] server handle.

use std::net::SocketAddr;

use result_runtime::middleware::{ClientLayer, ClientService};
use result_runtime::trace::TraceContext;
use result_runtime::{Code, Result, ResultExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};

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
    let endpoint = Endpoint::from_shared(url.to_owned()).with_code(Code::INVALID_ARGUMENT)?;
    Ok(tower::ServiceBuilder::new().layer(ClientLayer::new()).service(endpoint.connect_lazy()))
}

/// The current trace id as text (empty outside a trace): what the replies report.
pub(crate) fn current_trace_id() -> String {
    TraceContext::current_trace_id().map(|t| t.to_string()).unwrap_or_default()
}

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

pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Small requests must not wait for Nagle's algorithm (40 ms per hop with delayed ACKs).
pub(crate) fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

pub(crate) fn running(
    addr: SocketAddr,
    serve: impl FnOnce(oneshot::Receiver<()>) -> JoinHandle<()>,
) -> Running {
    let (tx, rx) = oneshot::channel();
    Running { addr, shutdown: Some(tx), task: Some(serve(rx)) }
}

/// How many streams a client may reset before the server accepted them, per connection.
///
/// h2's default is 20 (`max_pending_accept_reset_streams`). A caller whose deadline passes
/// while this server is stalled (a GC pause, a SIGSTOP, a saturated runtime) resets every
/// pending stream at once; past the limit h2 treats that as an attack and drops the whole
/// connection, failing every other call on it. Set it on any tonic server that serves
/// callers with deadlines; 1,000 still bounds the work a reset flood can cause.
pub const MAX_PENDING_ACCEPT_RESETS: usize = 1_000;

/// The tonic server every example runs: h2 tolerant of a burst of resets from callers whose
/// deadlines passed ([`MAX_PENDING_ACCEPT_RESETS`]) and keepalive pings that find a dead
/// peer (an idle connection whose client vanished is closed after 20 s + 10 s).
pub(crate) fn grpc_server() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_ACCEPT_RESETS))
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
}

/// How long a client may take to send a request's headers on the HTTP server, on a new
/// connection and between requests on a kept-alive one: a client holding a half-sent request
/// (or an idle connection) does not keep it forever.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app` (HTTP/1.1 and HTTP/2) on `listener` until `stop` fires, then lets the
/// connections in flight finish. A new connection must send its first byte within
/// `header_read_timeout`; HTTP/1 connections then get it as hyper's `header_read_timeout`
/// (a request's headers, and the idle time between requests on a kept-alive connection);
/// HTTP/2 ones are pinged every 20 s and closed when the peer leaves a ping unanswered 10 s.
/// hyper-util's connection builder, because `axum::serve` exposes none of these settings.
pub(crate) async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    mut stop: oneshot::Receiver<()>,
    header_read_timeout: std::time::Duration,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(std::time::Duration::from_secs(20)))
        .keep_alive_timeout(std::time::Duration::from_secs(10));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let (builder, watcher) = (builder.clone(), graceful.watcher());
                tokio::spawn(async move {
                    // The auto builder reads a first byte to tell HTTP/1 from HTTP/2 with no
                    // timeout of its own, and hyper's `header_read_timeout` starts only after
                    // that: a client that connects and never sends a byte would keep the
                    // connection forever. It gets the same time as a request's headers.
                    // (`peek`, not `readable`: readiness may be reported before any byte.)
                    let mut first = [0; 1];
                    let peeked = tokio::time::timeout(header_read_timeout, tcp.peek(&mut first));
                    if !matches!(peeked.await, Ok(Ok(1))) {
                        return;
                    }
                    let conn = builder.serve_connection(TokioIo::new(tcp), service).into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
            _ = &mut stop => break,
        }
    }
    graceful.shutdown().await;
}

pub(crate) fn log_exit<E: std::fmt::Display>(what: &str, result: std::result::Result<(), E>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "{what} server failed");
    }
}
