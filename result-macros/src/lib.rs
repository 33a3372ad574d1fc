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

/// Makes an async fn a fallible task. See `result_runtime::fallible_task` for the docs.
#[proc_macro_attribute]
pub fn fallible_task(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::fallible::expand(args.into(), item.into()).into()
}

/// Runs a fn in a child trace context inside a `tracing` span. See `result_runtime::traced`.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::traced::expand(args.into(), item.into()).into()
}
