//! What makes the example services observable from outside the process: command-line
//! options (`--metrics ADDR`, `--log-format text|json`), a Prometheus recorder with latency
//! buckets, the admin server that serves it at `/metrics`, and logs whose every line written
//! during a request carries its `trace_id` and `span_id`; with `OTEL_EXPORTER_OTLP_ENDPOINT`
//! set, every span exported over OTLP/gRPC ([`Otlp`]).
//!
//! ```text
//! cargo run --bin inventory -- 127.0.0.1:50051 --metrics 127.0.0.1:9101 --log-format json
//! curl -s 127.0.0.1:9101/metrics | grep grpc_server_handled_total
//! ```
//!
//! The metric names the runtime records are documented in `result_runtime::middleware`.

use std::fmt;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use result_runtime::trace::TraceContext;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::common::{bind, log_exit, running, Running};
pub use crate::otlp::{Error as OtlpError, Otlp, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME};

/// Histogram buckets (seconds) for every `*_seconds` metric: 1 ms to 10 s, dense where an
/// RPC's latency usually is, so `histogram_quantile` is accurate to a bucket's width.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A Prometheus recorder whose `*_seconds` metrics are real Prometheus histograms with
/// [`LATENCY_BUCKETS`]. Install it globally (`metrics::set_global_recorder`), or per
/// thread (`metrics::set_default_local_recorder`) to run several services in one process
/// with one registry each.
///
/// # Panics
/// Never: the buckets are a valid non-empty list.
#[must_use]
pub fn prometheus_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
            LATENCY_BUCKETS,
        )
        .expect("valid buckets")
        .build_recorder()
}

/// Installs [`prometheus_recorder`] as the process's recorder and returns its handle.
///
/// # Errors
/// When a global recorder is already installed.
pub fn install_prometheus(
) -> Result<PrometheusHandle, metrics::SetRecorderError<PrometheusRecorder>> {
    let recorder = prometheus_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    Ok(handle)
}

/// Something to run just before each scrape (publishing a cache's counters, say).
pub type Collect = Arc<dyn Fn() + Send + Sync>;

/// How often the admin server drains the recorder's histogram samples into their buckets
/// when nothing scrapes it: `metrics-exporter-prometheus`'s own default for the upkeep that
/// [`PrometheusBuilder::build_recorder`] leaves to its caller.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `upkeep` every `every`, the first time one period from now, until dropped.
///
/// A recorder built with [`PrometheusBuilder::build_recorder`] (as here, so that a thread
/// can have its own) keeps every histogram sample until its upkeep runs, and nothing else
/// runs it but a scrape: a service whose `/metrics` nobody scrapes (Prometheus down, a
/// scrape config that misses the pod) would grow by every latency it records.
pub async fn run_upkeep_every(every: std::time::Duration, mut upkeep: impl FnMut()) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // After a stall, one upkeep drains everything: no burst of catch-up runs.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        upkeep();
    }
}

/// Starts the admin server on `addr`: `GET /metrics` answers the Prometheus text format of
/// `handle` (running each of `collect` first, on the server's task, so they record into the
/// same recorder as the service when it is a thread-local one). While it runs, the
/// recorder's upkeep runs every [`UPKEEP_INTERVAL`] too, scraped or not
/// ([`run_upkeep_every`]).
///
/// # Errors
/// When `addr` cannot be bound.
pub async fn serve_admin(
    addr: SocketAddr,
    handle: PrometheusHandle,
    collect: Vec<Collect>,
) -> std::io::Result<Running> {
    let kept_up = handle.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                let collect = collect.clone();
                async move {
                    for c in &collect {
                        c();
                    }
                    handle.run_upkeep();
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                        handle.render(),
                    )
                }
            }),
        )
        // The live tree of groups and tasks in this process.
        .route(
            "/debug/tasks",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    result_runtime::group::dump().to_string(),
                )
            }),
        );
    let (listener, addr) = bind(addr).await?;
    Ok(running(addr, |stop| {
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stop.await;
            });
            tokio::select! {
                r = serve => log_exit("admin", r),
                () = run_upkeep_every(UPKEEP_INTERVAL, move || kept_up.run_upkeep()) => {}
            }
        })
    }))
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text (ANSI colours only when stdout is a terminal).
    #[default]
    Text,
    /// One JSON object per line, with `trace_id` and `span_id` of the current trace context.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?} (text or json)")),
        }
    }
}

/// What every example binary accepts besides its positional arguments.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The positional arguments, in order.
    pub positional: Vec<String>,
    /// `--metrics ADDR` (or `METRICS_ADDR`): where the admin server listens.
    pub metrics: Option<SocketAddr>,
    /// `--log-format text|json` (or `LOG_FORMAT`).
    pub log_format: LogFormat,
}

impl Options {
    /// Parses `args` (without the program name); the environment fills what they omit.
    ///
    /// # Errors
    /// A message for an unknown option, a missing or invalid value.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut o = Self::default();
        let mut metrics = std::env::var("METRICS_ADDR").ok().filter(|s| !s.is_empty());
        let mut format = std::env::var("LOG_FORMAT").ok().filter(|s| !s.is_empty());
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value =
                || inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value"));
            match name.as_str() {
                "--metrics" => metrics = Some(value()?),
                "--log-format" => format = Some(value()?),
                n if n.starts_with("--") => return Err(format!("unknown option {n}")),
                _ => o.positional.push(arg),
            }
        }
        if let Some(m) = metrics {
            o.metrics = Some(m.parse().map_err(|e| format!("--metrics {m}: {e}"))?);
        }
        if let Some(f) = format {
            o.log_format = f.parse()?;
        }
        Ok(o)
    }

    /// Installs the log subscriber (`RUST_LOG` filter, `info` by default) in this format.
    pub fn init_logs(&self) {
        init_logs(self.log_format);
    }

    /// Installs the log subscriber and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OTLP span
    /// export as `OTEL_SERVICE_NAME` (else `default_service`). Keep the returned exporter
    /// until the end of `main` and shut it down there, to flush the last spans.
    ///
    /// # Errors
    /// When the exporter cannot start ([`Otlp::start`]).
    pub fn init_telemetry(&self, default_service: &str) -> Result<Option<Otlp>, OtlpError> {
        let otlp = Otlp::from_env(default_service)?;
        init_subscriber(self.log_format, otlp.as_ref());
        Ok(otlp)
    }

    /// Installs the global Prometheus recorder and starts the admin server when `--metrics`
    /// was given.
    ///
    /// # Errors
    /// When the address cannot be bound or a recorder is installed already.
    pub async fn serve_metrics(
        &self,
        collect: Vec<Collect>,
    ) -> Result<Option<Running>, Box<dyn std::error::Error>> {
        let Some(addr) = self.metrics else { return Ok(None) };
        let handle = install_prometheus().map_err(|e| e.to_string())?;
        Ok(Some(serve_admin(addr, handle, collect).await?))
    }
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}

/// Installs the global log subscriber writing to stdout in `format`.
pub fn init_logs(format: LogFormat) {
    init_subscriber(format, None);
}

/// The global subscriber: `RUST_LOG` filtering both the log lines and the exported spans.
fn init_subscriber(format: LogFormat, otlp: Option<&Otlp>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let logs = log_layer(format, std::io::stdout().is_terminal(), std::io::stdout);
    tracing_subscriber::registry().with(logs).with(otlp.map(Otlp::layer)).with(env_filter()).init();
}

/// The layer writing the log lines to `writer` in `format`: text has ANSI colours only when
/// `is_terminal` (the examples pass whether stdout is a terminal, so logs redirected to a
/// file or a pipe carry no escape codes); JSON never has them.
pub fn log_layer<S, W>(
    format: LogFormat,
    is_terminal: bool,
    writer: W,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::Layer as _;
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => layer.with_ansi(is_terminal).boxed(),
        LogFormat::Json => layer.with_ansi(false).event_format(JsonLines).boxed(),
    }
}

/// The JSON line format: `timestamp`, `level`, `target`, the event's fields (`message`
/// among them), the names of the spans it is in (`spans`), and `trace_id` / `span_id` of
/// the current trace context when there is one (the request's, inside a handler).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut names = Vec::new();
        // The innermost span's `trace_id` / `span_id` fields, for events written outside
        // the trace's task-local scope (the server layer's last event of a call, say).
        let mut span_ids = (None, None);
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                names.push(span.name());
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    let plain = strip_ansi(&fields.fields);
                    let field = |key: &str| {
                        plain.split(' ').find_map(|kv| {
                            kv.strip_prefix(key)
                                .and_then(|v| v.strip_prefix('='))
                                .map(|v| v.trim_matches('"').to_owned())
                        })
                    };
                    if let (Some(t), Some(s)) = (field("trace_id"), field("span_id")) {
                        span_ids = (Some(t), Some(s));
                    }
                }
            }
        }
        writeln!(writer, "{}", json_line(event, &names, span_ids))
    }
}

fn json_line(
    event: &Event<'_>,
    spans: &[&'static str],
    span_ids: (Option<String>, Option<String>),
) -> Value {
    let mut map = Map::new();
    map.insert("timestamp".into(), Value::String(timestamp()));
    map.insert("level".into(), Value::String(event.metadata().level().to_string()));
    map.insert("target".into(), Value::String(event.metadata().target().to_owned()));
    let mut fields = Fields(&mut map);
    event.record(&mut fields);
    if !spans.is_empty() {
        map.insert("spans".into(), spans.iter().copied().map(Value::from).collect());
    }
    let (trace_id, span_id) = match TraceContext::current() {
        Some(tc) => (Some(tc.trace_id.to_string()), Some(tc.span_id.to_string())),
        None => span_ids,
    };
    // An id the event names itself wins.
    if let Some(t) = trace_id {
        map.entry("trace_id").or_insert(Value::String(t));
    }
    if let Some(s) = span_id {
        map.entry("span_id").or_insert(Value::String(s));
    }
    Value::Object(map)
}

/// Span fields as the text formatter wrote them, without its ANSI styling.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn timestamp() -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::{log_layer, LogFormat};

    /// What one span and one event write through [`log_layer`].
    fn written(format: LogFormat, is_terminal: bool) -> String {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&buffer);
        let writer = move || Sink(Arc::clone(&sink));
        let subscriber =
            tracing_subscriber::registry().with(log_layer(format, is_terminal, writer));
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::info_span!("reserve", sku = "tea").entered();
            tracing::warn!(qty = 2, "out of stock");
        });
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn text_has_ansi_codes_only_on_a_terminal_and_json_never() {
        let piped = written(LogFormat::Text, false);
        assert!(piped.contains("out of stock") && piped.contains("sku=\"tea\""), "{piped}");
        assert!(!piped.contains('\u{1b}'), "escape codes in piped text: {piped:?}");

        let terminal = written(LogFormat::Text, true);
        assert!(terminal.contains("out of stock"), "{terminal}");
        assert!(terminal.contains('\u{1b}'), "no colours on a terminal: {terminal:?}");

        for is_terminal in [false, true] {
            let json = written(LogFormat::Json, is_terminal);
            let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
            assert_eq!(line["message"], "out of stock", "{json}");
            assert!(!json.contains('\u{1b}'), "escape codes in JSON: {json:?}");
        }
    }
}
