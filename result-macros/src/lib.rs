//! Attribute macros for `result-runtime`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
use proc_macro::TokenStream;

/// Placeholder.
#[proc_macro_attribute]
pub fn fallible_task(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// Placeholder.
#[proc_macro_attribute]
pub fn traced(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
