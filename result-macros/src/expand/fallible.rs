//! `#[fallible_task]`: the body runs in its own async block (so `return`, `?` and `Self`
//! behave as written), its output is converted to `result_runtime::Result<T>` by
//! `FutureExt::map` with a closure written here, where the concrete error type is known
//! (keeping the classification of errors that implement `Classify`), and the runtime's `task` wrapper
//! adds panic capture, the ambient context's cancellation, an optional deadline and retry,
//! and stamps failures with the task name and trace id. With `breaker = ".."`, each attempt
//! goes through the named breaker, inside the retry.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Pat, ReturnType, Type};

use super::{local, with_error};
use crate::attr::FallibleArgs;
use crate::item::{self, ItemFn, Shape};

/// Expands `#[fallible_task(args)]` on `input`.
pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse2::<ItemFn>(input.clone()) {
        Ok(item) => item,
        Err(e) => return with_error(None, input, &e),
    };
    match syn::parse2::<FallibleArgs>(args).and_then(|args| expand_fn(&args, &item)) {
        Ok(out) => out,
        Err(e) => with_error(Some(&item), input, &e),
    }
}

fn expand_fn(args: &FallibleArgs, item: &ItemFn) -> syn::Result<TokenStream> {
    let shape = item::shape(item);
    crate::valid::fallible(args, item, &shape)?;
    let krate = args.krate.clone().unwrap_or_default().0;
    let private = quote!(#krate::__private);
    let user_ty = item::user_output(item, &shape);
    let ok_ty = item::result_ok_type(&user_ty).cloned();
    let new_ty: Type = {
        let t = ok_ty.clone().unwrap_or_else(|| user_ty.clone());
        syn::parse_quote!(#krate::Result<#t>)
    };

    let fn_name = &item.sig.ident;
    let task_name = match &args.name {
        Some(name) => quote!(#name),
        None => quote!(::core::concat!(::core::module_path!(), "::", ::core::stringify!(#fn_name))),
    };

    let out = local("__rr_out");
    let err = local("__rr_err");
    let convert = if ok_ty.is_some() {
        // Autoref specialisation on the concrete error type: `Classify` errors keep their code.
        quote! {
            |#out| #out.map_err(|#err| {
                use #private::{ViaClassify as _, ViaInto as _};
                (&#err).__rr_conversion().convert(#err)
            })
        }
    } else {
        quote!(::core::result::Result::Ok)
    };
    let body = match &shape {
        Shape::AsyncTrait { body, .. } => body,
        Shape::Async | Shape::Sync => &item.body,
    };
    let anchor = item::anchor(&user_ty);
    let block = item::user_block(item, body);
    let attempt = quote! {
        #private::FutureExt::map(async move { #anchor #block }, #convert)
    };

    // With a breaker, each attempt runs inside `breaker.call`, with its own panic capture
    // and the ambient deadline, so that the breaker judges what the attempt did.
    let breaker = local("__rr_breaker");
    let (breaker_setup, attempt) = match &args.breaker {
        Some(name) => {
            let cell = syn::Ident::new("__RR_BREAKER", proc_macro2::Span::mixed_site());
            let setup = quote! {
                static #cell: ::std::sync::OnceLock<#private::CircuitBreaker> =
                    ::std::sync::OnceLock::new();
                let #breaker = #private::breaker_named(&#cell, #name);
            };
            (Some(setup), quote!(#breaker.call(#private::attempt(#attempt))))
        }
        None => (None, attempt),
    };

    let mut sig = item.sig.clone();
    let fut = if let Some((_, retries)) = &args.retry {
        let attempts = retries + 1;
        let clones = retry_clones(&mut sig, &private);
        quote! {
            #private::RetryPolicy::new(#attempts).run(move || {
                #(#clones)*
                #attempt
            })
        }
    } else {
        attempt
    };
    let fut = match breaker_setup {
        Some(setup) => quote!({ #setup #fut }),
        None => fut,
    };
    let call = match &args.timeout {
        Some((_, ms)) => quote! {
            #private::task_with_timeout(#task_name, ::core::time::Duration::from_millis(#ms), #fut)
        },
        None => quote!(#private::task(#task_name, #fut)),
    };

    let inner = &item.inner_attrs;
    let new_body = match &shape {
        Shape::AsyncTrait { pin, .. } => {
            item::replace_future_output(&mut sig.output, new_ty);
            quote!(#(#inner)* #pin(async move { #call.await }))
        }
        Shape::Async | Shape::Sync => {
            let arrow = match &sig.output {
                ReturnType::Type(arrow, _) => *arrow,
                ReturnType::Default => syn::Token![->](sig.paren_token.span.join()),
            };
            sig.output = ReturnType::Type(arrow, Box::new(new_ty));
            quote!(#(#inner)* #call.await)
        }
    };
    let function = item.emit(&item.outer_attrs, &sig, new_body);

    let register = args.group.as_ref().map(|group| {
        quote! {
            #private::inventory::submit! {
                #private::GroupTask {
                    group: #group,
                    name: #task_name,
                    run: || #private::boxed_group_task(#fn_name()),
                }
            }
        }
    });
    Ok(quote!(#function #register))
}

/// For `retry`: one `let name = clone(&name);` per argument (spanned at the argument, so a
/// missing `Clone` is reported there), and the outer `mut` moved onto the clone.
fn retry_clones(sig: &mut syn::Signature, private: &TokenStream) -> Vec<TokenStream> {
    let mut clones = Vec::new();
    for input in &mut sig.inputs {
        let FnArg::Typed(t) = input else { continue };
        let Pat::Ident(p) = &mut *t.pat else { continue };
        let mutability = p.mutability.take();
        let ident = &p.ident;
        let ty = &t.ty;
        let clone = format_ident!("retry_arg", span = ty.span());
        clones.push(quote_spanned! {ty.span()=>
            let #mutability #ident = #private::#clone(&#ident);
        });
    }
    clones
}
