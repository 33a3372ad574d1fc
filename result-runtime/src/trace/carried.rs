//! What travels with a trace context besides its ids: the `tracestate` and the `baggage`,
//! kept as the text a server received until something reads them.
//!
//! A leaf service's handler seldom reads either and makes no outgoing call that would
//! forward them, yet parsing both on every request (and building their parsed forms) was a
//! sixth of the gRPC server layer's cost per call. So the server layers keep the text, and
//! the first read parses it, once per request: the handler's, a client layer forwarding it,
//! or the OpenTelemetry bridge. What a parse rejects is logged at `debug` then, inside the
//! span of whoever read it.

use std::sync::OnceLock;

use super::{Baggage, TraceState};

/// A header value as received, parsed on its first read.
pub(super) struct Received<T> {
    text: Option<Box<str>>,
    value: OnceLock<T>,
}

/// What [`Received`] holds: parsed from header text, with an empty value.
pub(super) trait Carry: Default + PartialEq {
    /// The value of a received header; a rejection is logged here and reads as empty.
    fn parse(text: &str) -> Self;

    /// Whether there is nothing to carry.
    fn is_empty(&self) -> bool;
}

impl<T: Carry> Received<T> {
    pub(super) const fn empty() -> Self {
        Self { text: None, value: OnceLock::new() }
    }

    pub(super) fn text(text: Option<Box<str>>) -> Self {
        Self { text, value: OnceLock::new() }
    }

    pub(super) fn value(value: T) -> Self {
        Self { text: None, value: OnceLock::from(value) }
    }

    pub(super) fn get(&self) -> &T {
        self.value.get_or_init(|| self.text.as_deref().map_or_else(T::default, T::parse))
    }

    /// Empty without a parse when nothing was received.
    fn is_empty(&self) -> bool {
        match self.value.get() {
            Some(value) => value.is_empty(),
            None => self.text.is_none(),
        }
    }
}

impl<T: Clone> Clone for Received<T> {
    fn clone(&self) -> Self {
        match self.value.get() {
            Some(value) => Self { text: None, value: OnceLock::from(value.clone()) },
            None => Self { text: self.text.clone(), value: OnceLock::new() },
        }
    }
}

/// The `tracestate` and `baggage` of a trace context.
#[derive(Clone)]
pub(super) struct Carried {
    pub(super) tracestate: Received<TraceState>,
    pub(super) baggage: Received<Baggage>,
}

impl Carried {
    pub(super) const fn empty() -> Self {
        Self { tracestate: Received::empty(), baggage: Received::empty() }
    }

    /// Whether there is nothing to carry (unread text counts as something).
    pub(super) fn is_empty(&self) -> bool {
        self.tracestate.is_empty() && self.baggage.is_empty()
    }
}

impl Carry for TraceState {
    fn parse(text: &str) -> Self {
        TraceState::from_headers([text]).unwrap_or_else(|error| {
            tracing::debug!(%error, "rejected tracestate: dropped");
            TraceState::new()
        })
    }

    fn is_empty(&self) -> bool {
        TraceState::is_empty(self)
    }
}

impl Carry for Baggage {
    fn parse(text: &str) -> Self {
        let baggage = Baggage::from_header(text);
        if baggage.dropped() > 0 {
            tracing::debug!(dropped = baggage.dropped(), "malformed baggage members dropped");
        }
        baggage
    }

    fn is_empty(&self) -> bool {
        Baggage::is_empty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_text_is_parsed_once_on_first_read() {
        let r: Received<Baggage> = Received::text(Some("a=1,bad key=2".into()));
        assert!(!r.is_empty(), "unread text counts as something to carry");
        assert!(r.value.get().is_none(), "nothing parsed before the first read");
        let first: *const Baggage = r.get();
        assert_eq!(r.get().get("a"), Some("1"));
        assert_eq!(r.get().dropped(), 1);
        assert!(std::ptr::eq(first, r.get()), "parsed once");
    }

    #[test]
    fn a_rejected_tracestate_reads_as_empty() {
        let r: Received<TraceState> = Received::text(Some("Rojo=1".into()));
        assert!(r.get().is_empty());
        assert!(r.is_empty(), "after the read it is known to be empty");
        let r: Received<TraceState> = Received::text(Some("rojo=1, congo=2".into()));
        assert_eq!(r.get().to_string(), "rojo=1,congo=2");
    }

    #[test]
    fn clones_keep_the_text_or_the_value() {
        let unread: Received<TraceState> = Received::text(Some("rojo=1".into()));
        let copy = unread.clone();
        assert!(copy.value.get().is_none(), "a clone of unread text stays unread");
        assert_eq!(copy.get().get("rojo"), Some("1"));
        let read = copy.clone();
        assert!(read.value.get().is_some() && read.text.is_none());
        assert_eq!(read.get(), copy.get());
        assert!(Received::<Baggage>::empty().is_empty());
        assert!(Received::value(Baggage::new()).is_empty());
    }
}
