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

/// Expansion snapshots: review the diff when they change (`UPDATE_EXPECT=1 cargo test -p
/// result-macros` rewrites them).
#[cfg(test)]
mod snapshots {
    use expect_test::{expect, Expect};
    use proc_macro2::TokenStream;
    use quote::quote;

    fn check(out: TokenStream, expected: &Expect) {
        let file: syn::File = syn::parse2(out).expect("the expansion parses as items");
        expected.assert_eq(&prettyplease::unparse(&file));
    }

    #[test]
    fn fallible_method_with_retry_and_timeout() {
        let out = super::fallible::expand(
            quote!(retry = 2, timeout = "2s"),
            quote! {
                /// Loads a user.
                pub async fn load(&self, mut id: u64) -> Result<User, DbError> {
                    #![allow(clippy::needless_return)]
                    id += 1;
                    let row = self.db.get(id).await?;
                    return Ok(User::from(row));
                }
            },
        );
        check(
            out,
            &expect![[r#"
                /// Loads a user.
                pub async fn load(&self, id: u64) -> ::result_runtime::Result<User> {
                    #![allow(clippy::needless_return)]
                    ::result_runtime::__private::task_with_timeout(
                            ::core::concat!(::core::module_path!(), "::", ::core::stringify!(load)),
                            ::core::time::Duration::from_millis(2000u64),
                            ::result_runtime::__private::RetryPolicy::new(3u32)
                                .run(move || {
                                    let mut id = ::result_runtime::__private::retry_arg(&id);
                                    ::result_runtime::__private::FutureExt::map(
                                        async move {
                                            if let ::core::option::Option::Some(__rr_ret) = ::core::option::Option::None::<
                                                Result<User, DbError>,
                                            > {
                                                #[allow(unreachable_code)] return __rr_ret;
                                            }
                                            {
                                                id += 1;
                                                let row = self.db.get(id).await?;
                                                return Ok(User::from(row));
                                            }
                                        },
                                        |__rr_out| {
                                            __rr_out
                                                .map_err(|__rr_err| {
                                                    use ::result_runtime::__private::{
                                                        ViaClassify as _, ViaInto as _,
                                                    };
                                                    (&__rr_err).__rr_conversion().convert(__rr_err)
                                                })
                                        },
                                    )
                                }),
                        )
                        .await
                }
            "#]],
        );
    }

    #[test]
    fn fallible_with_breaker_and_retry() {
        let out = super::fallible::expand(
            quote!(breaker = "inventory", retry = 2),
            quote! {
                async fn reserve(sku: String) -> Result<u32, RpcError> {
                    client().reserve(sku).await
                }
            },
        );
        check(
            out,
            &expect![[r#"
            async fn reserve(sku: String) -> ::result_runtime::Result<u32> {
                ::result_runtime::__private::task(
                        ::core::concat!(::core::module_path!(), "::", ::core::stringify!(reserve)),
                        {
                            static __RR_BREAKER: ::std::sync::OnceLock<
                                ::result_runtime::__private::CircuitBreaker,
                            > = ::std::sync::OnceLock::new();
                            let __rr_breaker = ::result_runtime::__private::breaker_named(
                                &__RR_BREAKER,
                                "inventory",
                            );
                            ::result_runtime::__private::RetryPolicy::new(3u32)
                                .run(move || {
                                    let sku = ::result_runtime::__private::retry_arg(&sku);
                                    __rr_breaker
                                        .call(
                                            ::result_runtime::__private::attempt(
                                                ::result_runtime::__private::FutureExt::map(
                                                    async move {
                                                        if let ::core::option::Option::Some(__rr_ret) = ::core::option::Option::None::<
                                                            Result<u32, RpcError>,
                                                        > {
                                                            #[allow(unreachable_code)] return __rr_ret;
                                                        }
                                                        { client().reserve(sku).await }
                                                    },
                                                    |__rr_out| {
                                                        __rr_out
                                                            .map_err(|__rr_err| {
                                                                use ::result_runtime::__private::{
                                                                    ViaClassify as _, ViaInto as _,
                                                                };
                                                                (&__rr_err).__rr_conversion().convert(__rr_err)
                                                            })
                                                    },
                                                ),
                                            ),
                                        )
                                })
                        },
                    )
                    .await
            }
        "#]],
        );
    }

    #[test]
    fn traced_async_fn_with_options() {
        let out = super::traced::expand(
            quote!(level = "debug", skip(token), fields(region = "eu"), err),
            quote! {
                async fn call(user: u32, token: &str) -> Result<impl Display> {
                    Ok(user)
                }
            },
        );
        check(
            out,
            &expect![[r#"
                async fn call(user: u32, token: &str) -> Result<impl Display> {
                    let __rr_trace = ::result_runtime::__private::TraceContext::current_child_or_root();
                    let __rr_span = ::result_runtime::__private::traced_span(
                        &__rr_trace,
                        || {
                            ::result_runtime::__private::tracing::span!(
                                target : ::core::module_path!(),
                                ::result_runtime::__private::tracing::Level::DEBUG, "call", trace_id = %
                                __rr_trace.trace_id, span_id = % __rr_trace.span_id, user = ? user,
                                region = "eu"
                            )
                        },
                    );
                    ::result_runtime::__private::traced(
                            __rr_trace,
                            __rr_span,
                            async move {
                                let __rr_out = async move {
                                    if let ::core::option::Option::Some(__rr_ret) = ::core::option::Option::None::<
                                        Result<_>,
                                    > {
                                        #[allow(unreachable_code)] return __rr_ret;
                                    }
                                    { Ok(user) }
                                }
                                    .await;
                                if let ::core::result::Result::Err(__rr_value) = &__rr_out {
                                    ::result_runtime::__private::tracing::event!(
                                        ::result_runtime::__private::tracing::Level::ERROR, error = %
                                        __rr_value
                                    );
                                }
                                __rr_out
                            },
                            |__rr_out, __rr_id| {
                                use ::result_runtime::__private::{ViaStamp as _, ViaKeep as _};
                                (&__rr_out).__rr_stamp().stamp(__rr_out, __rr_id)
                            },
                        )
                        .await
                }
            "#]],
        );
    }

    #[test]
    fn errors_keep_the_original_item() {
        let out = super::fallible::expand(
            quote!(retry = "x"),
            quote!(
                async fn f() {}
            ),
        );
        check(
            out,
            &expect![[r#"
            async fn f() {}
            ::core::compile_error! {
                "expected integer literal"
            }
        "#]],
        );
    }
}
