//! What named channels record through the `metrics` facade (feature `metrics`, which
//! `tower`, `grpc` and `http` turn on): handles resolved once, when the channel is built, so
//! an item costs one counter increment and one gauge change; without the feature, or for a
//! channel without a [`name`](super::ResultChannel::name), nothing is recorded and nothing
//! is paid beyond one branch.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `result_channel_depth` | gauge: items in the channel, not received yet | `channel` |
//! | `result_channel_sent_total` | counter: items accepted | `channel`, `outcome` = `ok` / `err` |
//! | `result_channel_closed_with_error_total` | counter: fail-fast channels closed by their first `Err` | `channel` |
//!
//! The name is the only label: give channels a few fixed names. Channels built with the same
//! name add up. Items still queued when the last receiver is dropped leave the depth with
//! them. Install the recorder before building named channels: a handle resolved earlier
//! records nowhere (the facade's rule for every handle).

#[cfg(feature = "metrics")]
pub(super) struct Instruments(Option<Box<Named>>);

#[cfg(feature = "metrics")]
struct Named {
    ok: metrics::Counter,
    err: metrics::Counter,
    depth: metrics::Gauge,
    failed: metrics::Counter,
}

#[cfg(feature = "metrics")]
impl Instruments {
    pub(super) fn new(name: Option<&str>) -> Self {
        Self(name.map(|name| {
            let sent = |outcome: &'static str| {
                metrics::counter!("result_channel_sent_total", "channel" => name.to_owned(), "outcome" => outcome)
            };
            Box::new(Named {
                ok: sent("ok"),
                err: sent("err"),
                depth: metrics::gauge!("result_channel_depth", "channel" => name.to_owned()),
                failed: metrics::counter!("result_channel_closed_with_error_total", "channel" => name.to_owned()),
            })
        }))
    }

    /// An item was accepted into the queue.
    #[inline]
    pub(super) fn sent(&self, ok: bool) {
        if let Some(m) = &self.0 {
            if ok { &m.ok } else { &m.err }.increment(1);
            m.depth.increment(1.0);
        }
    }

    /// An item left the queue.
    #[inline]
    pub(super) fn received(&self) {
        if let Some(m) = &self.0 {
            m.depth.decrement(1.0);
        }
    }

    /// The last receiver went with `left` items still queued.
    pub(super) fn abandoned(&self, left: usize) {
        if let Some(m) = &self.0 {
            #[allow(clippy::cast_precision_loss)]
            m.depth.decrement(left as f64);
        }
    }

    /// A fail-fast channel's first `Err` closed it (the error is counted as sent, and is
    /// delivered after the queue, outside it: the depth does not count it).
    pub(super) fn failed(&self) {
        if let Some(m) = &self.0 {
            m.err.increment(1);
            m.failed.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
pub(super) struct Instruments;

#[cfg(not(feature = "metrics"))]
impl Instruments {
    pub(super) fn new(_: Option<&str>) -> Self {
        Self
    }
    #[inline]
    pub(super) fn sent(&self, _: bool) {}
    #[inline]
    pub(super) fn received(&self) {}
    pub(super) fn abandoned(&self, _: usize) {}
    pub(super) fn failed(&self) {}
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::collections::BTreeMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use crate::channel::ResultChannel;
    use crate::{Code, TaskError};

    /// Every metric of the named channels, by name and labels (`name{k=v,..}`).
    fn recorded(recorder: &DebuggingRecorder) -> BTreeMap<String, String> {
        let mut seen = BTreeMap::new();
        for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> =
                key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let value = match value {
                DebugValue::Counter(n) => n.to_string(),
                DebugValue::Gauge(g) => g.into_inner().to_string(),
                DebugValue::Histogram(_) => "histogram".to_owned(),
            };
            seen.insert(format!("{}{{{}}}", key.name(), labels.join(",")), value);
        }
        seen
    }

    #[test]
    fn a_named_channel_records_depth_sent_and_its_closing_error_and_an_unnamed_one_nothing() {
        let recorder = DebuggingRecorder::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                let (tx, rx) = ResultChannel::<u8>::builder(8).name("orders").fail_fast().build();
                tx.send(Ok(1)).await.unwrap();
                tx.send(Ok(2)).await.unwrap();
                tx.send(Ok(3)).await.unwrap();
                assert_eq!(rx.recv().await.unwrap().unwrap(), 1);
                tx.send(Err(TaskError::new(Code::UNAVAILABLE, "down"))).await.unwrap();
                assert!(tx.send(Ok(4)).await.is_err(), "rejected items are not counted");

                let (plain_tx, plain_rx) = ResultChannel::<u8>::bounded(8);
                plain_tx.send(Ok(1)).await.unwrap();
                drop(plain_rx);

                // One item left when the last receiver goes: it leaves the depth too.
                assert_eq!(rx.recv().await.unwrap().unwrap(), 2);
                let depth_before_drop = rx.len();
                assert_eq!(depth_before_drop, 1);
                drop(rx);
            });
        });
        let seen = recorded(&recorder);
        let expected: BTreeMap<String, String> = [
            ("result_channel_closed_with_error_total{channel=orders}", "1"),
            ("result_channel_depth{channel=orders}", "0"),
            ("result_channel_sent_total{channel=orders,outcome=err}", "1"),
            ("result_channel_sent_total{channel=orders,outcome=ok}", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn the_depth_follows_sends_and_receives() {
        let recorder = DebuggingRecorder::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                let (tx, rx) = ResultChannel::<u8>::builder(8).name("depth").build();
                for i in 0..5 {
                    tx.send(Ok(i)).await.unwrap();
                }
                assert_eq!(rx.recv().await.unwrap().unwrap(), 0);
                assert_eq!(rx.try_recv().unwrap().unwrap(), 1);
                let seen = recorded(&recorder);
                assert_eq!(seen["result_channel_depth{channel=depth}"], "3");
                assert_eq!(seen["result_channel_sent_total{channel=depth,outcome=ok}"], "5");
                // Kept alive to here: the depth is read while the channel lives.
                drop((tx, rx));
            });
        });
    }
}
