//! The examples' JSON log format: every line written while one request crosses the gateway,
//! checkout and inventory carries the request's `trace_id` (and a `span_id`).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use result_runtime::trace::TraceContext;
use result_runtime_examples::observe::JsonLines;
use result_runtime_examples::{http_client, post_json, Basket, BasketItem, Receipt, Stack};
use serde_json::Value;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_request_carries_its_trace_id() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info,result_runtime=debug,result_runtime_examples=debug")
        .event_format(JsonLines)
        .with_writer(move || writer.clone())
        .init();

    let stack = Stack::start(Duration::from_secs(5)).await.unwrap();
    let client = http_client();
    let url = format!("{}/checkout", stack.gateway.url());
    let mut traces = Vec::new();
    // A success over two lines, and a failure (out of stock, logged at a higher level).
    for items in [vec![("tea", 2), ("cups", 1)], vec![("oos-1", 1)]] {
        let basket = Basket {
            items: items
                .into_iter()
                .map(|(sku, qty)| BasketItem { sku: sku.to_owned(), qty })
                .collect(),
        };
        buffer.take();
        let sent = TraceContext::new_root();
        let _ =
            post_json::<Receipt>(&client, &url, &basket, Some(&sent.to_string())).await.unwrap();
        // No wait: every server layer writes its end-of-call line before it answers (the
        // HTTP layer before the response, the gRPC one before the trailers), so each hop's
        // line is written before its caller can go on, and the gateway's before the reply.
        let text = buffer.take();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert!(lines.len() >= 3, "one line per hop at least: {text}");
        let want = sent.trace_id.to_string();
        for line in &lines {
            assert_eq!(line["trace_id"], want.as_str(), "a line without the trace id: {line}");
            assert!(line["span_id"].as_str().is_some_and(|s| s.len() == 16), "{line}");
        }
        let text_all = text.to_lowercase();
        for hop in ["inventory", "checkout", "/checkout"] {
            assert!(text_all.contains(hop), "no line from {hop}: {text}");
        }
        traces.push(lines.len());
    }
    println!("lines per request: {traces:?}");
    stack.shutdown().await;
}
