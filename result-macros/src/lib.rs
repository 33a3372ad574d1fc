//! Attribute macros for `result-runtime`: `#[fallible_task]` and `#[traced]`.
//!
//! Use them through `result-runtime`, which re-exports them and pins this crate's exact
//! version; the generated code calls the runtime's hidden `__private` module.
//!
//! Layout (after thiserror-impl): `attr` parses the options, `item` the function,
//! `valid` checks the combination, `expand` writes the code, one file per macro.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use proc_macro::TokenStream;

mod attr;
mod expand;
mod item;
mod valid;

/// Makes an `async fn` a fallible task.
///
/// The function returns `result_runtime::Result<T>`: from `-> Result<T, E>` (any `E` that
/// converts; an `E` implementing `Classify` keeps its code), `-> result_runtime::Result<T>`,
/// or `-> T`. Its body:
/// - has its panics turned into `Panicked` errors named after the function's path;
/// - stops with `Cancelled` (carrying the cause) when the ambient `Context` is cancelled, or
///   `DeadlineExceeded` when its deadline passes;
/// - on failure, stamps the error with the task name and the current trace id and reports it
///   to the ambient group (which then cancels its other tasks).
///
/// Options:
/// - `name = "..."`: the task name (default: the function's module path and name);
/// - `timeout = "250ms" | "2s" | "1m" | "1h"`: a deadline for the whole call, retries
///   included (the earlier of it and the ambient one applies). Strictly ASCII digits then
///   `ms`, `s`, `m` or `h`: no sign, spaces or fraction, above zero, at most `u64::MAX`
///   milliseconds; anything else is one compile error;
/// - `retry = N`: up to `N` retries of errors whose code is retryable, with exponential
///   backoff and jitter (`RetryPolicy`); every argument must be `Clone` and the receiver,
///   if any, `&self`;
/// - `group = "..."`: registers the function (which must take no arguments and not be
///   generic) in the named group, for `Group::registered`. The registry is a linker-section
///   one (`inventory`): a registration in a crate that nothing else references may be
///   dropped by the linker, so reference such crates from the binary;
/// - `breaker = "..."`: every attempt runs through the circuit breaker of that name in
///   `result_runtime::breaker::registry()` (configure it at startup with `register_breaker`,
///   or it is created with the defaults on first use; the lookup happens once per function).
///   With `retry`, the retry is outermost and the breaker sees each attempt: panic capture and
///   the deadline (the `timeout`, or the ambient one) are inside the breaker, so a panicking
///   attempt counts as a failure and one cut off by the deadline as `DEADLINE_EXCEEDED`,
///   while a cancellation by the caller counts as neither. While the breaker is open, calls
///   fail at once with `CIRCUIT_OPEN` without running the body, and the retry stops (or
///   waits out the error's `retry_after` when that fits its backoff cap);
/// - `crate = "path"`: the runtime's path when it is renamed or re-exported.
///
/// Works on free functions, methods (`self`, `&self`, `&mut self`), generic functions,
/// functions in traits (native `async fn` and under `#[async_trait]`, placed below it), and
/// composes with `#[traced]` in either order (the trace scope always encloses the task).
#[proc_macro_attribute]
pub fn fallible_task(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::fallible::expand(args.into(), item.into()).into()
}

/// Runs a function (async or not) in a child trace context, inside a `tracing` span.
///
/// The trace context is a child of the current one, or a new root when there is none; the
/// span carries `trace_id` and `span_id` fields and the arguments (with `Debug`; `self` is
/// never recorded), and is built only when its level is enabled. A returned
/// `Result<T, TaskError>` leaves with its error stamped with the trace id. Async bodies are
/// wrapped like `tracing::Instrument` (the span is entered for each poll, never held across
/// an `.await`).
///
/// Options:
/// - `name = "..."`: the span name (default: the function's name);
/// - `level = "trace" | "debug" | "info" | "warn" | "error"` (default `info`);
/// - `skip(a, b)`, `skip_all`: arguments not to record;
/// - `fields(key = value, ...)`: extra span fields, in `tracing::span!` syntax;
/// - `err`: record an `error` event when the function returns `Err`;
/// - `ret`: record the returned value (the `Ok` value with `err`);
/// - `crate = "path"`: the runtime's path when it is renamed or re-exported.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::traced::expand(args.into(), item.into()).into()
}
