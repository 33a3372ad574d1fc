//! The annotated function, parsed tolerantly: the signature is parsed, the body is kept as
//! tokens (so a body that does not parse still reaches rustc and rust-analyzer unchanged).

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, GenericArgument, PathArguments, ReturnType, Signature, Stmt, Token, Type,
    TypeParamBound, Visibility,
};

/// A free fn, a method, or a trait method with a default body.
pub struct ItemFn {
    pub outer_attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The span of the body's braces, kept on the rewritten body so lints that point at the
    /// fn still do.
    pub brace: Span,
    pub inner_attrs: Vec<Attribute>,
    pub body: TokenStream,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let is_fn = input.peek(Token![fn])
            || input.peek(Token![async])
            || input.peek(Token![const])
            || input.peek(Token![unsafe])
            || input.peek(Token![extern]);
        if !is_fn {
            return Err(input.error("this attribute applies to a function: put it on an `fn`"));
        }
        let sig: Signature = input.parse()?;
        if input.peek(Token![;]) {
            return Err(syn::Error::new(
                input.span(),
                "this function has no body: put the attribute on the implementation",
            ));
        }
        let content;
        let brace = syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body: TokenStream = content.parse()?;
        Ok(Self { outer_attrs, vis, sig, brace: brace.span.join(), inner_attrs, body })
    }
}

impl ItemFn {
    /// Emits the function with `body` (already containing the inner attributes) in braces
    /// carrying the original span.
    pub fn emit(&self, attrs: &[Attribute], sig: &Signature, body: TokenStream) -> TokenStream {
        let vis = &self.vis;
        let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, body);
        group.set_span(self.brace);
        quote!(#(#attrs)* #vis #sig #group)
    }

    /// The item exactly as written (emitted next to a compile error).
    pub fn original(&self) -> TokenStream {
        let inner = &self.inner_attrs;
        let body = &self.body;
        self.emit(&self.outer_attrs, &self.sig, quote!(#(#inner)* #body))
    }
}

/// How the body runs.
pub enum Shape {
    /// `async fn`: the body is the fn body.
    Async,
    /// What `#[async_trait]` made of an async fn: `fn ..() -> Pin<Box<dyn Future<Output = R>
    /// + ..>> { Box::pin(async move { .. }) }`. The body is the async block's.
    AsyncTrait { pin: Box<Expr>, body: TokenStream, output: Box<Type> },
    /// A plain fn.
    Sync,
}

/// Detects the shape of `item`.
pub fn shape(item: &ItemFn) -> Shape {
    if item.sig.asyncness.is_some() {
        return Shape::Async;
    }
    async_trait_body(item).unwrap_or(Shape::Sync)
}

fn async_trait_body(item: &ItemFn) -> Option<Shape> {
    let output = Box::new(future_output(&item.sig.output)?.clone());
    let stmts = syn::parse::Parser::parse2(syn::Block::parse_within, item.body.clone()).ok()?;
    let [Stmt::Expr(Expr::Call(call), None)] = stmts.as_slice() else { return None };
    let Expr::Path(func) = &*call.func else { return None };
    if func.path.segments.last()?.ident != "pin" || call.args.len() != 1 {
        return None;
    }
    let Expr::Async(block) = call.args.first()? else { return None };
    let stmts = &block.block.stmts;
    Some(Shape::AsyncTrait { pin: call.func.clone(), body: quote!(#(#stmts)*), output })
}

/// `R` in `Pin<Box<dyn Future<Output = R> + ..>>`.
fn future_output(ret: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = ret else { return None };
    let dyn_ty = single_type_arg(single_type_arg(ty, "Pin")?, "Box")?;
    let Type::TraitObject(obj) = dyn_ty else { return None };
    obj.bounds.iter().find_map(|b| match b {
        TypeParamBound::Trait(t) => {
            let seg = t.path.segments.last()?;
            if seg.ident != "Future" {
                return None;
            }
            let PathArguments::AngleBracketed(args) = &seg.arguments else { return None };
            args.args.iter().find_map(|a| match a {
                GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
                _ => None,
            })
        }
        _ => None,
    })
}

/// Replaces `R` in `Pin<Box<dyn Future<Output = R> + ..>>`.
pub fn replace_future_output(ret: &mut ReturnType, new: Type) {
    let ReturnType::Type(_, ty) = ret else { return };
    let Some(Type::TraitObject(obj)) =
        single_type_arg_mut(ty, "Pin").and_then(|t| single_type_arg_mut(t, "Box")).map(|t| &mut *t)
    else {
        return;
    };
    for bound in &mut obj.bounds {
        let TypeParamBound::Trait(t) = bound else { continue };
        let Some(seg) = t.path.segments.last_mut() else { continue };
        let PathArguments::AngleBracketed(args) = &mut seg.arguments else { continue };
        for arg in &mut args.args {
            if let GenericArgument::AssocType(assoc) = arg {
                if assoc.ident == "Output" {
                    assoc.ty = new.clone();
                }
            }
        }
    }
}

fn single_type_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else { return None };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn single_type_arg_mut<'a>(ty: &'a mut Type, name: &str) -> Option<&'a mut Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last_mut()?;
    if seg.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &mut seg.arguments else { return None };
    args.args.iter_mut().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// What the user's body evaluates to.
pub fn user_output(item: &ItemFn, shape: &Shape) -> Type {
    match shape {
        Shape::AsyncTrait { output, .. } => (**output).clone(),
        Shape::Async | Shape::Sync => match &item.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        },
    }
}

/// `T` when `ty` is a `Result<T, ..>` (any path ending in `Result`: `std::io::Result`,
/// `result_runtime::Result`, an alias like `ApiResult<T>` ...).
pub fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    if !seg.ident.to_string().ends_with("Result") {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else { return None };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// The return-type anchor: an early return that never runs but fixes the body's type to the
/// declared one, so a type error points at the user's code (`impl Trait` erased to `_`).
pub fn anchor(ty: &Type) -> TokenStream {
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(&mut EraseImpl, &mut ty);
    let ret = syn::Ident::new("__rr_ret", Span::mixed_site());
    quote! {
        if let ::core::option::Option::Some(#ret) = ::core::option::Option::None::<#ty> {
            #[allow(unreachable_code)]
            return #ret;
        }
    }
}

struct EraseImpl;

impl syn::visit_mut::VisitMut for EraseImpl {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(i) = ty {
            *ty = Type::Infer(syn::TypeInfer { underscore_token: Token![_](i.span()) });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// The user's body in its own block, braces spanned like the original ones.
pub fn user_block(item: &ItemFn, body: &TokenStream) -> TokenStream {
    let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, body.clone());
    group.set_span(item.brace);
    group.into_token_stream()
}
