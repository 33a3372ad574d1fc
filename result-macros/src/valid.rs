//! Validation, after parsing and before expansion: every misuse is an error at the token to
//! change, with a message that says what to do.

use syn::{FnArg, Pat};

use crate::attr::{FallibleArgs, TracedArgs};
use crate::item::{ItemFn, Shape};

fn no_const(item: &ItemFn, attr: &str) -> syn::Result<()> {
    match &item.sig.constness {
        Some(c) => Err(syn::Error::new(
            c.span,
            format!("#[{attr}] cannot wrap a `const fn`: remove `const`"),
        )),
        None => Ok(()),
    }
}

/// Checks `#[fallible_task]` against the function it annotates.
pub fn fallible(args: &FallibleArgs, item: &ItemFn, shape: &Shape) -> syn::Result<()> {
    no_const(item, "fallible_task")?;
    if matches!(shape, Shape::Sync) {
        return Err(syn::Error::new(
            item.sig.fn_token.span,
            "#[fallible_task] needs an `async fn`: add `async` before `fn` \
             (for synchronous code use #[traced] and return a Result)",
        ));
    }
    if let Some(breaker) = &args.breaker {
        if breaker.value().trim().is_empty() {
            return Err(syn::Error::new(
                breaker.span(),
                "the breaker name is empty: name the dependency the breaker guards, e.g. \
                 breaker = \"inventory\" (calls that share a name share one breaker)",
            ));
        }
    }
    if args.retry.is_some() {
        for input in &item.sig.inputs {
            match input {
                FnArg::Receiver(r) if r.reference.is_none() || r.mutability.is_some() => {
                    return Err(syn::Error::new_spanned(
                        r,
                        "`retry` runs the body again, so it needs `&self`: a method taking \
                         `self` or `&mut self` cannot be retried",
                    ));
                }
                FnArg::Typed(t) => {
                    let simple = matches!(&*t.pat, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none());
                    if !simple {
                        return Err(syn::Error::new_spanned(
                            &t.pat,
                            "`retry` clones each argument for every attempt: give this \
                             argument a plain name instead of a pattern",
                        ));
                    }
                }
                FnArg::Receiver(_) => {}
            }
        }
    }
    if let Some(group) = &args.group {
        if let Some(input) = item.sig.inputs.first() {
            return Err(syn::Error::new_spanned(
                input,
                format!(
                    "a task in group {:?} is started by the group, which passes no \
                     arguments: remove the arguments or the `group` option",
                    group.value()
                ),
            ));
        }
        if !item.sig.generics.params.is_empty() {
            return Err(syn::Error::new_spanned(
                &item.sig.generics.params,
                "a generic function cannot be registered in a group (there is no single \
                 function to register): make it non-generic or remove `group`",
            ));
        }
    }
    Ok(())
}

/// Checks `#[traced]` against the function it annotates.
pub fn traced(args: &TracedArgs, item: &ItemFn) -> syn::Result<()> {
    no_const(item, "traced")?;
    if let (Some(all), Some(_)) = (args.skip_all, &args.skip) {
        return Err(syn::Error::new(
            all,
            "`skip_all` already skips every argument: remove `skip(..)`",
        ));
    }
    for name in args.skip.iter().flatten() {
        let found = item.sig.inputs.iter().any(|input| match input {
            FnArg::Receiver(_) => name == "self",
            FnArg::Typed(t) => matches!(&*t.pat, Pat::Ident(p) if p.ident == *name),
        });
        if !found {
            return Err(syn::Error::new(
                name.span(),
                format!("`skip({name})`: this function has no argument named `{name}`"),
            ));
        }
    }
    Ok(())
}
