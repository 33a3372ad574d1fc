//! `#[traced]`: the body runs in a child trace context (a new root when there is none),
//! inside a `tracing` span carrying `trace_id` and `span_id` (built by `tracing::span!`, so
//! nothing is built when the level is disabled), and a returned `TaskError` leaves stamped
//! with the trace id. Async fns are wrapped Instrument-style (no guard held across `.await`);
//! sync fns enter the span for the call.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{Attribute, FnArg, Pat};

use super::{local, with_error};
use crate::attr::{Level, TracedArgs};
use crate::item::{self, ItemFn, Shape};

/// Expands `#[traced(args)]` on `input`.
pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse2::<ItemFn>(input.clone()) {
        Ok(item) => item,
        Err(e) => return with_error(None, input, &e),
    };
    let parsed = match syn::parse2::<TracedArgs>(args.clone()) {
        Ok(parsed) => parsed,
        Err(e) => return with_error(Some(&item), input, &e),
    };
    if let Some(reordered) = run_fallible_first(&parsed, &args, &item) {
        return reordered;
    }
    match crate::valid::traced(&parsed, &item).map(|()| expand_fn(&parsed, &item)) {
        Ok(out) => out,
        Err(e) => with_error(Some(&item), input, &e),
    }
}

/// `#[traced]` above `#[fallible_task]`: re-emit the item with `#[fallible_task]` first, so
/// the traced scope always encloses the task (its errors then carry the traced trace id,
/// whichever order the attributes were written in).
fn run_fallible_first(
    args: &TracedArgs,
    raw_args: &TokenStream,
    item: &ItemFn,
) -> Option<TokenStream> {
    let is_fallible =
        |a: &Attribute| a.path().segments.last().is_some_and(|s| s.ident == "fallible_task");
    let fallible: Vec<&Attribute> = item.outer_attrs.iter().filter(|a| is_fallible(a)).collect();
    if fallible.is_empty() {
        return None;
    }
    let others: Vec<&Attribute> = item.outer_attrs.iter().filter(|a| !is_fallible(a)).collect();
    let krate = args.krate.clone().unwrap_or_default().0;
    let inner = &item.inner_attrs;
    let body = &item.body;
    let mut attrs: Vec<Attribute> = fallible.into_iter().cloned().collect();
    attrs.push(syn::parse_quote!(#[#krate::traced(#raw_args)]));
    attrs.extend(others.into_iter().cloned());
    Some(item.emit(&attrs, &item.sig, quote!(#(#inner)* #body)))
}

fn expand_fn(args: &TracedArgs, item: &ItemFn) -> TokenStream {
    let shape = item::shape(item);
    let krate = args.krate.clone().unwrap_or_default().0;
    let private = quote!(#krate::__private);
    let tracing = quote!(#private::tracing);
    let level = syn::Ident::new(args.level.unwrap_or(Level::Info).constant(), Span::call_site());
    let level = quote!(#tracing::Level::#level);
    let name = match &args.name {
        Some(name) => name.to_token_stream(),
        None => item.sig.ident.to_string().to_token_stream(),
    };

    let trace = local("__rr_trace");
    let span = local("__rr_span");
    let out = local("__rr_out");
    let value = local("__rr_value");

    let arg_fields = if args.skip_all.is_some() {
        Vec::new()
    } else {
        item.sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(t) => match &*t.pat {
                    Pat::Ident(p) if !args.skip.iter().flatten().any(|s| *s == p.ident) => {
                        let id = &p.ident;
                        Some(quote!(#id = ?#id,))
                    }
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            })
            .collect()
    };
    let user_fields = args.fields.as_ref().map(|f| quote!(#f));
    let make_span = quote! {
        let #span = #private::traced_span(&#trace, || #tracing::span!(
            target: ::core::module_path!(),
            #level,
            #name,
            trace_id = %#trace.trace_id,
            span_id = %#trace.span_id,
            #(#arg_fields)*
            #user_fields
        ));
    };

    let user_ty = item::user_output(item, &shape);
    let anchor = item::anchor(&user_ty);
    let body = match &shape {
        Shape::AsyncTrait { body, .. } => body,
        Shape::Async | Shape::Sync => &item.body,
    };
    let block = item::user_block(item, body);
    let events = events(args, &tracing, &level, &out, &value);
    let id = local("__rr_id");
    let stamp = quote! {
        |#out, #id| {
            use #private::{ViaStamp as _, ViaKeep as _};
            (&#out).__rr_stamp().stamp(#out, #id)
        }
    };

    let inner = &item.inner_attrs;
    let run = match &shape {
        Shape::Sync => {
            let call = match &events {
                Some(events) => quote! {
                    || {
                        let #out = (|| { #anchor #block })();
                        #events
                        #out
                    }
                },
                None => quote!(|| { #anchor #block }),
            };
            quote! {
                let #out = #private::traced_sync(&#trace, &#span, #call);
                use #private::{ViaStamp as _, ViaKeep as _};
                (&#out).__rr_stamp().stamp(#out, #trace.trace_id)
            }
        }
        Shape::Async | Shape::AsyncTrait { .. } => {
            let fut = match &events {
                Some(events) => quote! {
                    async move {
                        let #out = async move { #anchor #block }.await;
                        #events
                        #out
                    }
                },
                None => quote!(async move { #anchor #block }),
            };
            quote!(#private::traced(#trace, #span, #fut, #stamp).await)
        }
    };
    let wrapped = quote! {
        let #trace = #private::TraceContext::current_child_or_root();
        #make_span
        #run
    };
    let new_body = match &shape {
        Shape::AsyncTrait { pin, .. } => quote!(#(#inner)* #pin(async move { #wrapped })),
        Shape::Async | Shape::Sync => quote!(#(#inner)* #wrapped),
    };
    item.emit(&item.outer_attrs, &item.sig, new_body)
}

/// The `err` / `ret` events, recorded inside the span.
fn events(
    args: &TracedArgs,
    tracing: &TokenStream,
    level: &TokenStream,
    out: &syn::Ident,
    value: &syn::Ident,
) -> Option<TokenStream> {
    let error = quote!(#tracing::event!(#tracing::Level::ERROR, error = %#value));
    let ret = quote!(#tracing::event!(#level, r#return = ?#value));
    match (args.err.is_some(), args.ret.is_some()) {
        (false, false) => None,
        (true, false) => Some(quote! {
            if let ::core::result::Result::Err(#value) = &#out { #error; }
        }),
        (false, true) => Some(quote!({ let #value = &#out; #ret; })),
        (true, true) => Some(quote! {
            match &#out {
                ::core::result::Result::Ok(#value) => { #ret; }
                ::core::result::Result::Err(#value) => { #error; }
            }
        }),
    }
}
