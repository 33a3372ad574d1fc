//! Span export over OTLP/gRPC (`opentelemetry-otlp` on tonic): every `tracing` span the
//! services open (the runtime's SERVER and CLIENT spans, every `#[traced]` step) reaches an
//! OpenTelemetry backend with the request's trace id, through the runtime's own layer.
//!
//! The binaries export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`http://127.0.0.1:4317`,
//! say), as `OTEL_SERVICE_NAME` (else the binary's name):
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 cargo run --bin inventory
//! ```
//!
//! # Immune to the current-thread deadlock
//!
//! opentelemetry-sdk's `BatchSpanProcessor` exports from its own thread, blocking on the
//! exporter's future; tonic's exporter needs a tokio runtime to drive its connection. Built
//! inside the application's runtime, that connection lives on the application's threads,
//! and on a current-thread runtime a `force_flush` or `shutdown` called from that thread
//! (the end of `main`, a `Drop`) blocks the only thread that could make the export progress:
//! a deadlock (the SDK's docs warn about it). [`Otlp`] therefore builds the exporter inside
//! a runtime of its own (one worker thread, `otlp-export`), which owns the channel and its
//! connection: an export never waits on the application's runtime, whatever its flavour,
//! and [`Otlp::shutdown`] may be called from anywhere, inside a runtime or not.

use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use result_runtime::otel::{OtelLayer, RuntimeIds};

/// The standard variable naming the OTLP endpoint.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard variable naming the service (`service.name`).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// Why the exporter could not start, or could not flush its last spans.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The exporter's own runtime could not start.
    #[error("OTLP export runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The exporter could not be built (an invalid endpoint, say).
    #[error("OTLP exporter: {0}")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The last export failed or timed out.
    #[error("OTLP export: {0}")]
    Export(#[from] opentelemetry_sdk::error::OTelSdkError),
}

/// A running OTLP/gRPC span exporter: a tracer provider with a batch processor, on a tokio
/// runtime of its own (see the [module docs](self) for why). Dropped, it is shut down.
///
/// # Examples
///
/// ```no_run
/// use result_runtime_examples::observe::Otlp;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), result_runtime_examples::observe::OtlpError> {
/// let otlp = Otlp::start("http://127.0.0.1:4317", "inventory")?;
/// let subscriber = tracing_subscriber::registry().with(otlp.layer());
/// tracing::subscriber::with_default(subscriber, || tracing::info_span!("work").in_scope(|| {}));
/// otlp.shutdown()?; // flushes; safe on this current-thread runtime
/// # Ok(())
/// # }
/// ```
pub struct Otlp {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    // `None` once shut down.
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for Otlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otlp").field("running", &self.runtime.is_some()).finish_non_exhaustive()
    }
}

impl Otlp {
    /// Starts exporting to `OTEL_EXPORTER_OTLP_ENDPOINT` as `OTEL_SERVICE_NAME` (else
    /// `default_service`); `None` when the endpoint variable is unset or empty.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn from_env(default_service: &str) -> Result<Option<Self>, Error> {
        let Some(endpoint) =
            std::env::var(OTEL_EXPORTER_OTLP_ENDPOINT).ok().filter(|e| !e.is_empty())
        else {
            return Ok(None);
        };
        let name = std::env::var(OTEL_SERVICE_NAME).ok().filter(|n| !n.is_empty());
        Self::start(&endpoint, name.as_deref().unwrap_or(default_service)).map(Some)
    }

    /// Starts exporting spans to the OTLP/gRPC collector at `endpoint` (`http://host:4317`)
    /// with `service.name` = `service`. The connection is made lazily: a collector that is
    /// not up yet only delays the first export.
    ///
    /// # Errors
    /// When the export runtime cannot be started or the endpoint is not a valid URI.
    pub fn start(endpoint: &str, service: &str) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()?;
        // tonic spawns its channel's worker on the runtime it is built in: this one.
        let exporter = {
            let _in = runtime.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            // Exported spans keep the ids the runtime gave them, the ids the logs show.
            .with_id_generator(RuntimeIds::default())
            .with_resource(Resource::builder().with_service_name(service.to_owned()).build())
            .build();
        let tracer = provider.tracer("result-runtime-examples");
        Ok(Self { provider, tracer, runtime: Some(runtime) })
    }

    /// The `tracing` layer that turns spans into exported OpenTelemetry spans
    /// ([`result_runtime::otel::layer`]), with the trace and span ids the runtime gave them:
    /// a log line's `span_id` is the id of a span in the backend.
    ///
    /// Spans only: log events stay out of the export, because they carry what only the
    /// service's own log may show (the server layers' end-of-call event has the error's
    /// internal detail, a panic's message among it). Exported spans carry code names.
    #[must_use]
    pub fn layer(&self) -> OtelLayer<SdkTracer> {
        result_runtime::otel::layer(self.tracer.clone())
    }

    /// The tracer provider (to flush it, say).
    #[must_use]
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Exports every span still buffered and stops. Safe from any thread, inside a runtime
    /// of either flavour or outside one (see the [module docs](self)).
    ///
    /// # Errors
    /// The SDK's error when the last export failed or timed out.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        let Some(runtime) = self.runtime.take() else { return Ok(()) };
        let result = self.provider.shutdown();
        // `shutdown_background`: dropping a runtime inside another one's context panics.
        runtime.shutdown_background();
        Ok(result?)
    }
}

impl Drop for Otlp {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("OTLP export did not finish: {error}");
        }
    }
}
