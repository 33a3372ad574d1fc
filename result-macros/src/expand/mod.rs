//! Expansion, one file per macro. Generated locals use `Span::mixed_site()` so they can
//! never capture or shadow the user's names; every path is absolute and goes through the
//! runtime's `#[doc(hidden)] __private` module.

pub mod fallible;
pub mod traced;

use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::item::ItemFn;

/// A generated local.
pub fn local(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// The original item followed by the error, so the error does not cascade into "function
/// not found" errors elsewhere and the IDE still knows the function.
pub fn with_error(item: Option<&ItemFn>, raw: TokenStream, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    match item {
        Some(item) => {
            let original = item.original();
            quote!(#original #error)
        }
        None => quote!(#raw #error),
    }
}
