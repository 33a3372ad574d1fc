//! What travels with a trace context besides its ids: the `tracestate` and the `baggage`,
//! kept as the text a server received until something reads them.
//!
//! A leaf service's handler seldom reads either and makes no outgoing call that would
//! forward them, yet parsing both on every request (and building their parsed forms, five
//! allocations for a two-member baggage) was a sixth of the gRPC server layer's cost per
//! call. So the server layers keep the text, both headers in one allocation, and the first
//! read parses it, once per request: the handler's, a client layer forwarding it, or the
//! OpenTelemetry bridge. What a parse rejects is logged at `debug` then, inside the span of
//! whoever read it.

use std::sync::OnceLock;

use super::{Baggage, TraceState};

/// The `tracestate` and `baggage` of a trace context: received text, parsed on first read,
/// or values set by the program.
pub(super) struct Carried {
    /// The received `tracestate` text, then the `baggage` text; `split` cuts them. An absent
    /// header is empty text: both parse an empty value as empty.
    text: Box<str>,
    split: usize,
    tracestate: OnceLock<TraceState>,
    baggage: OnceLock<Baggage>,
}

impl Carried {
    /// What a server received; `None` when both headers are absent or empty.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // the server layers' alone
    pub(super) fn received(tracestate: &str, baggage: &str) -> Option<Self> {
        if tracestate.is_empty() && baggage.is_empty() {
            return None;
        }
        let mut text = String::with_capacity(tracestate.len() + baggage.len());
        text.push_str(tracestate);
        text.push_str(baggage);
        Some(Self {
            text: text.into(),
            split: tracestate.len(),
            tracestate: OnceLock::new(),
            baggage: OnceLock::new(),
        })
    }

    /// Values the program set; `None` when both are empty.
    pub(super) fn values(tracestate: TraceState, baggage: Baggage) -> Option<Self> {
        if tracestate.is_empty() && baggage.is_empty() {
            return None;
        }
        Some(Self {
            text: Box::default(),
            split: 0,
            tracestate: OnceLock::from(tracestate),
            baggage: OnceLock::from(baggage),
        })
    }

    pub(super) fn tracestate(&self) -> &TraceState {
        self.tracestate.get_or_init(|| parse_tracestate(&self.text[..self.split]))
    }

    pub(super) fn baggage(&self) -> &Baggage {
        self.baggage.get_or_init(|| parse_baggage(&self.text[self.split..]))
    }
}

fn parse_tracestate(text: &str) -> TraceState {
    if text.is_empty() {
        return TraceState::new();
    }
    TraceState::from_headers([text]).unwrap_or_else(|error| {
        tracing::debug!(%error, "rejected tracestate: dropped");
        TraceState::new()
    })
}

fn parse_baggage(text: &str) -> Baggage {
    let baggage = Baggage::from_header(text);
    if baggage.dropped() > 0 {
        tracing::debug!(dropped = baggage.dropped(), "malformed baggage members dropped");
    }
    baggage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_text_is_parsed_once_on_first_read() {
        let c = Carried::received("rojo=1", "a=1,bad key=2").unwrap();
        assert!(c.tracestate.get().is_none() && c.baggage.get().is_none(), "nothing parsed yet");
        let first: *const Baggage = c.baggage();
        assert_eq!(c.baggage().get("a"), Some("1"));
        assert_eq!(c.baggage().dropped(), 1);
        assert!(std::ptr::eq(first, c.baggage()), "parsed once");
        assert!(c.tracestate.get().is_none(), "each header on its own first read");
        assert_eq!(c.tracestate().get("rojo"), Some("1"));
    }

    #[test]
    fn a_rejected_tracestate_reads_as_empty_and_leaves_the_baggage() {
        let c = Carried::received("Rojo=1", "a=1").unwrap();
        assert!(c.tracestate().is_empty());
        assert_eq!(c.baggage().get("a"), Some("1"));
        let c = Carried::received("rojo=1, congo=2", "").unwrap();
        assert_eq!(c.tracestate().to_string(), "rojo=1,congo=2");
        assert!(c.baggage().is_empty());
    }

    /// The debug lines written while `f` runs.
    fn debug_lines(f: impl FnOnce()) -> String {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(writer.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_rejection_is_logged_at_debug_on_the_first_read_and_only_then() {
        let c = Carried::received("Rojo=1", "a=1,bad key=2").unwrap();
        assert_eq!(debug_lines(|| ()), "");
        let first = debug_lines(|| {
            let _ = c.tracestate();
            let _ = c.baggage();
        });
        assert!(first.contains("rejected tracestate: dropped"), "{first}");
        assert!(first.contains("malformed baggage members dropped") && first.contains("dropped=1"));
        let again = debug_lines(|| {
            let _ = (c.tracestate(), c.baggage());
        });
        assert_eq!(again, "", "parsed once, logged once");
    }

    #[test]
    fn nothing_received_or_set_is_nothing_to_carry() {
        assert!(Carried::received("", "").is_none());
        assert!(Carried::values(TraceState::new(), Baggage::new()).is_none());
        let set = Carried::values(TraceState::new(), Baggage::from_header("a=1")).unwrap();
        assert_eq!(set.baggage().get("a"), Some("1"));
    }
}
