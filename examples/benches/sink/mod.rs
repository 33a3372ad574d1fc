//! The benches' OTLP/gRPC trace collector.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

/// An OTLP/gRPC trace collector that takes every export's bytes and drops them undecoded, as
/// a collector on another machine would cost the exporting service nothing but the send.
/// (Decoding the exports here was a third of the exporting stack's instructions.)
#[derive(Clone)]
pub struct Sink;

impl tonic::server::NamedService for Sink {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl tower::Service<http::Request<tonic::body::Body>> for Sink {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(Undecoded);
            Ok(grpc.unary(Accept, request).await)
        })
    }
}

/// Answers every export with an empty success.
pub struct Accept;

impl tonic::server::UnaryService<()> for Accept {
    type Response = ExportTraceServiceResponse;
    type Future = std::future::Ready<Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, _: tonic::Request<()>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        })))
    }
}

/// Encodes the response; skips the request's bytes.
struct Undecoded;

impl tonic::codec::Codec for Undecoded {
    type Encode = ExportTraceServiceResponse;
    type Decode = ();
    type Encoder = tonic_prost::ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = Skip;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        Skip
    }
}

struct Skip;

impl tonic::codec::Decoder for Skip {
    type Item = ();
    type Error = tonic::Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        bytes::Buf::advance(buf, bytes::Buf::remaining(buf));
        Ok(Some(()))
    }
}

/// Starts a [`Sink`] on loopback, on a thread and a runtime of its own (as a collector on
/// another machine, it takes no turn on the exporting service's or the bench client's
/// threads), and returns its URL. It runs until the process exits.
pub fn collector() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("otlp-sink".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(format!("http://{}", listener.local_addr().expect("addr"))).unwrap();
                tonic::transport::Server::builder()
                    .add_service(Sink)
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                    .await
                    .expect("the collector serves");
            });
        })
        .expect("the collector's thread starts");
    rx.recv().expect("the collector starts")
}
