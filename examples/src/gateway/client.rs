//! An HTTP client for the gateway, behind the runtime's [`ClientLayer`].

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use result_runtime::middleware::http::{read_reply, Envelope};
use result_runtime::middleware::{ClientLayer, ClientService, TRACEPARENT};
use result_runtime::{Code, Result, ResultExt};
use serde::Serialize;

use super::{Basket, Receipt};

/// An HTTP client (hyper-util's legacy `Client`, HTTP/2 over cleartext so that many
/// requests share one connection) behind the runtime's [`ClientLayer`].
pub type HttpClient = ClientService<hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>>;

/// A new [`HttpClient`].
#[must_use]
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector);
    tower::Layer::layer(&ClientLayer::new(), client)
}

/// What the gateway answered.
#[derive(Debug)]
pub struct Answer<T> {
    /// The HTTP status.
    pub status: u16,
    /// The response headers (`traceparent`, `x-trace-id`, ...).
    pub headers: http::HeaderMap,
    /// The body, parsed.
    pub envelope: Envelope<T>,
}

/// `POST`s `body` as JSON to `url` through `client`, with an explicit `traceparent` when
/// given (else the client layer's: a child of the current trace, or a new root).
///
/// # Errors
/// `UNAVAILABLE` when the request fails, `INTERNAL` when the answer is not an envelope.
pub async fn post_json<T: serde::de::DeserializeOwned>(
    client: &HttpClient,
    url: &str,
    body: &impl Serialize,
    traceparent: Option<&str>,
) -> Result<Answer<T>> {
    use tower::ServiceExt;
    let mut request =
        http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(tp) = traceparent {
        request = request.header(TRACEPARENT, tp);
    }
    let request = request
        .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))
        .with_code(Code::INVALID_ARGUMENT)?;
    let response = client.clone().oneshot(request).await.with_code(Code::UNAVAILABLE)?;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let bytes =
        http_body_util::BodyExt::collect(body).await.with_code(Code::UNAVAILABLE)?.to_bytes();
    let envelope = serde_json::from_slice(&bytes).context("the gateway's answer")?;
    Ok(Answer { status, headers: parts.headers, envelope })
}

/// `POST /checkout` on the gateway at `gateway_url`, as a result.
///
/// # Errors
/// The failure the gateway answered with.
pub async fn checkout_via_gateway(
    client: &HttpClient,
    gateway_url: &str,
    basket: &Basket,
) -> Result<Receipt> {
    use tower::ServiceExt;
    let request = http::Request::post(format!("{gateway_url}/checkout"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(basket)?)))
        .with_code(Code::INVALID_ARGUMENT)?;
    let response = client.clone().oneshot(request).await.with_code(Code::UNAVAILABLE)?;
    read_reply(response).await
}
