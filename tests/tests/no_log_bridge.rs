//! Nothing in the stack turns on `tracing`'s `log` feature. With it on, every span and event,
//! enabled or not, also asks the `log` crate whether it is wanted: 42k instructions a gRPC
//! call in the `service` bench. A dependency's default features (axum's `tower-log`) are
//! enough to turn it on, so this binary, built with the runtime's every feature and the
//! examples, checks what the feature does rather than a manifest. Its own binary, because it
//! installs the process's logger and must run with no `tracing` subscriber.

use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting(AtomicUsize);

impl log::Log for Counting {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, _: &log::Record<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn flush(&self) {}
}

static LOGGER: Counting = Counting(AtomicUsize::new(0));

#[test]
fn tracing_forwards_nothing_to_log() {
    log::set_logger(&LOGGER).expect("the only logger of this binary");
    log::set_max_level(log::LevelFilter::Trace);
    log::info!("straight to log");
    assert_eq!(LOGGER.0.load(Ordering::SeqCst), 1, "the logger counts what reaches it");

    tracing::info!("an event with no subscriber");
    tracing::info_span!("a span with no subscriber").in_scope(|| {});
    assert_eq!(
        LOGGER.0.load(Ordering::SeqCst),
        1,
        "tracing's `log` feature is on: `cargo tree -e features -i tracing` names who turns it on"
    );
}
