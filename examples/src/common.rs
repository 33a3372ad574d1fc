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

pub(crate) fn log_exit<E: std::fmt::Display>(what: &str, result: std::result::Result<(), E>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "{what} server failed");
    }
}
