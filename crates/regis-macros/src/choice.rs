//! `#[derive(Choice)]`: an enum of fixed values as a command parameter.

use crate::paths::{krate, snake_case};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Error, Fields, LitStr, Result};

pub(crate) fn expand(item: TokenStream) -> Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    let Data::Enum(data) = &input.data else {
        return Err(Error::new_spanned(&input.ident, "#[derive(Choice)] works on enums"));
    };
    let krate = krate();
    let ident = &input.ident;
    let mut values = Vec::new();
    let mut idents = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(Error::new_spanned(variant, "Choice variants cannot hold data"));
        }
        let mut value = snake_case(&variant.ident.to_string());
        for attr in &variant.attrs {
            if attr.path().is_ident("choice") {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("name") {
                        value = meta.value()?.parse::<LitStr>()?.value();
                        Ok(())
                    } else {
                        Err(meta.error("expected #[choice(name = \"...\")]"))
                    }
                })?;
            }
        }
        values.push(value);
        idents.push(&variant.ident);
    }
    Ok(quote! {
        impl #krate::ParamValue for #ident {
            fn kind() -> #krate::ParamKind {
                #krate::__private::choices(&[#(#values),*])
            }
            fn from_value(value: #krate::ArgValue) -> ::core::result::Result<Self, #krate::ArgError> {
                match value {
                    #krate::ArgValue::Str(s) => match s.as_str() {
                        #(#values => ::core::result::Result::Ok(#ident::#idents),)*
                        _ => ::core::result::Result::Err(#krate::ArgError::WrongKind(0)),
                    },
                    _ => ::core::result::Result::Err(#krate::ArgError::WrongKind(0)),
                }
            }
        }

        impl #krate::Param for #ident {
            fn shape() -> #krate::ParamShape {
                #krate::ParamShape { kind: <Self as #krate::ParamValue>::kind(), required: true }
            }
            fn from_arg(value: ::core::option::Option<#krate::ArgValue>) -> ::core::result::Result<Self, #krate::ArgError> {
                #krate::__private::required_arg(value)
            }
        }

        impl #ident {
            /// The value users type for this choice.
            pub fn as_choice(&self) -> &'static str {
                match self {
                    #(#ident::#idents => #values,)*
                }
            }
        }
    })
}
