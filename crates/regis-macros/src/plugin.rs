//! `#[plugin]`: generates `impl Plugin` from an impl block's `#[command]` and `#[event]` methods.

use crate::docs;
use crate::paths::{krate, snake_case};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Attribute, Error, Expr, ExprArray, FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat, Result, Type};

struct PluginArgs {
    name: Option<String>,
    description: Option<String>,
    migrations: Vec<Expr>,
}

fn parse_plugin_args(attr: TokenStream) -> Result<PluginArgs> {
    let mut args = PluginArgs { name: None, description: None, migrations: Vec::new() };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            args.name = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("description") {
            args.description = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("migrations") {
            let array: ExprArray = meta.value()?.parse()?;
            args.migrations = array.elems.into_iter().collect();
        } else {
            return Err(meta.error("unknown #[plugin] option; expected name, description or migrations"));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(args)
}

struct CommandArgs {
    name: Option<String>,
    rank: Option<Expr>,
    aliases: Vec<String>,
    cooldown: Option<String>,
    discord_permissions: Vec<String>,
    guild_only: bool,
}

fn parse_command_args(attr: &Attribute) -> Result<CommandArgs> {
    let mut args = CommandArgs {
        name: None,
        rank: None,
        aliases: Vec::new(),
        cooldown: None,
        discord_permissions: Vec::new(),
        guild_only: false,
    };
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return Ok(args);
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            args.name = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("rank") {
            args.rank = Some(meta.value()?.parse::<Expr>()?);
        } else if meta.path.is_ident("aliases") {
            let array: ExprArray = meta.value()?.parse()?;
            for elem in array.elems {
                match elem {
                    Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => args.aliases.push(s.value()),
                    other => return Err(Error::new(other.span(), "aliases must be string literals")),
                }
            }
        } else if meta.path.is_ident("cooldown") {
            args.cooldown = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("discord_permissions") {
            let names = meta.value()?.parse::<LitStr>()?.value();
            args.discord_permissions.extend(names.split('|').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()));
        } else if meta.path.is_ident("guild_only") {
            args.guild_only = true;
        } else {
            return Err(meta.error(
                "unknown #[command] option; expected name, rank, aliases, cooldown, discord_permissions or guild_only",
            ));
        }
        Ok(())
    })?;
    Ok(args)
}

fn take_attr(attrs: &mut Vec<Attribute>, name: &str) -> Option<Attribute> {
    let index = attrs.iter().position(|a| a.path().is_ident(name))?;
    Some(attrs.remove(index))
}

struct Command {
    spec: TokenStream,
    arm: TokenStream,
    /// (command, parameter, method) for `#[autocomplete = "method"]` parameters.
    autocompletes: Vec<(String, String, syn::Ident)>,
}

fn expand_command(method: &mut ImplItemFn, attr: Attribute, krate: &TokenStream) -> Result<Command> {
    let args = parse_command_args(&attr)?;
    let docs = docs::parse(&method.attrs);
    let fn_ident = method.sig.ident.clone();
    if method.sig.asyncness.is_none() {
        return Err(Error::new(method.sig.span(), "a #[command] method must be `async fn`"));
    }
    let name = args.name.unwrap_or_else(|| fn_ident.to_string().trim_start_matches("r#").to_string());
    let mut inputs = method.sig.inputs.iter_mut();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => return Err(Error::new(method.sig.span(), "a #[command] method takes `&self` first")),
    }
    match inputs.next() {
        Some(FnArg::Typed(t)) if matches!(*t.ty, Type::Reference(_)) => {}
        _ => {
            return Err(Error::new(
                method.sig.span(),
                "a #[command] method takes `ctx: &Ctx` second, then its parameters",
            ))
        }
    }
    let mut params = Vec::new();
    let mut declared: Vec<String> = Vec::new();
    let mut autocompletes = Vec::new();
    let mut takes = Vec::new();
    let mut call_args = Vec::new();
    for (index, input) in inputs.enumerate() {
        let FnArg::Typed(pat_type) = input else {
            return Err(Error::new(input.span(), "unexpected receiver"));
        };
        let ident = match &*pat_type.pat {
            Pat::Ident(p) => p.ident.clone(),
            other => return Err(Error::new(other.span(), "command parameters must be plain names")),
        };
        let param_name = ident.to_string().trim_start_matches("r#").trim_start_matches('_').to_string();
        declared.push(param_name.clone());
        let mut min = None;
        let mut max = None;
        let mut autocomplete = None;
        let mut description = docs.params.get(&param_name).cloned().unwrap_or_default();
        let mut kept = Vec::new();
        for a in pat_type.attrs.drain(..) {
            if a.path().is_ident("min") || a.path().is_ident("max") {
                let syn::Meta::NameValue(nv) = &a.meta else {
                    return Err(Error::new(a.span(), "write #[min = N] / #[max = N]"));
                };
                let value = nv.value.clone();
                if a.path().is_ident("min") {
                    min = Some(value);
                } else {
                    max = Some(value);
                }
            } else if a.path().is_ident("autocomplete") {
                let syn::Meta::NameValue(nv) = &a.meta else {
                    return Err(Error::new(a.span(), "write #[autocomplete = \"method\"]"));
                };
                match &nv.value {
                    Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => {
                        autocomplete = Some(s.parse::<syn::Ident>()?)
                    }
                    other => return Err(Error::new(other.span(), "name the suggesting method as a string")),
                }
            } else if a.path().is_ident("description") {
                let syn::Meta::NameValue(nv) = &a.meta else {
                    return Err(Error::new(a.span(), "write #[description = \"...\"]"));
                };
                match &nv.value {
                    Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => description = s.value(),
                    other => return Err(Error::new(other.span(), "a description is a string literal")),
                }
            } else {
                kept.push(a);
            }
        }
        pat_type.attrs = kept;
        let ty = &pat_type.ty;
        let min = min.map(|m| quote!(.min((#m) as f64)));
        let max = max.map(|m| quote!(.max((#m) as f64)));
        let suggest = autocomplete.as_ref().map(|_| quote!(.autocomplete()));
        if let Some(method) = autocomplete {
            autocompletes.push((name.clone(), param_name.clone(), method));
        }
        params.push(quote! {
            .param(#krate::ParamSpec::of::<#ty>(#param_name, #description) #min #max #suggest)
        });
        let var = format_ident!("__arg{}", index);
        takes.push(quote! { let #var = __args.take::<#ty>(#index)?; });
        call_args.push(var);
    }
    let mut undeclared: Vec<&String> = docs.params.keys().filter(|n| !declared.contains(n)).collect();
    undeclared.sort();
    if let Some(name) = undeclared.first() {
        let known =
            if declared.is_empty() { "it has none".to_string() } else { format!("it has {}", declared.join(", ")) };
        return Err(Error::new(
            method.sig.ident.span(),
            format!("the `# Arguments` section describes `{name}`, which is not a parameter of `{fn_ident}` ({known})"),
        ));
    }
    let description = &docs.description;
    let help = &docs.help;
    let rank = args.rank.map(|r| quote!(.rank((#r) as i64)));
    let aliases = &args.aliases;
    let aliases = (!aliases.is_empty()).then(|| quote!(.aliases(&[#(#aliases),*])));
    let cooldown = args.cooldown.map(|c| quote!(.cooldown(#c)));
    let permissions = &args.discord_permissions;
    let permissions = (!permissions.is_empty()).then(|| quote!(.discord_permissions(&[#(#permissions),*])));
    let guild_only = args.guild_only.then(|| quote!(.guild_only()));
    let spec = quote! {
        #krate::CommandSpec::new(#name, #description, #help) #(#params)* #rank #aliases #cooldown #permissions #guild_only
    };
    let arm = quote! {
        #name => {
            #(#takes)*
            match self.#fn_ident(__ctx, #(#call_args),*).await {
                ::core::result::Result::Ok(value) => ::core::result::Result::Ok(#krate::IntoReply::into_reply(value)),
                ::core::result::Result::Err(error) => ::core::result::Result::Err(::core::convert::Into::into(error)),
            }
        }
    };
    Ok(Command { spec, arm, autocompletes })
}

/// A `#[schedule("pattern", tz = "Zone")]` method.
struct Schedule {
    method: syn::Ident,
    cron: LitStr,
    tz: Option<LitStr>,
}

/// Reads `#[schedule("pattern")]` or `#[schedule("pattern", tz = "Zone")]`; the pattern and
/// the zone are checked when the bot starts (a bad one stops it with the plugin's name).
fn schedule_args(attr: &Attribute, method: syn::Ident) -> Result<Schedule> {
    const USAGE: &str = "write #[schedule(\"0 9 * * 1-5\")] or #[schedule(\"0 9 * * 1-5\", tz = \"Europe/London\")]";
    let mut cron = None;
    let mut tz = None;
    attr.parse_args_with(|input: syn::parse::ParseStream| {
        cron = Some(input.parse::<LitStr>().map_err(|e| Error::new(e.span(), USAGE))?);
        while input.parse::<syn::Token![,]>().is_ok() {
            if input.is_empty() {
                break;
            }
            let key: syn::Ident = input.parse().map_err(|e| Error::new(e.span(), USAGE))?;
            if key != "tz" {
                return Err(Error::new(key.span(), "the only option of #[schedule] is `tz = \"Zone/Name\"`"));
            }
            input.parse::<syn::Token![=]>()?;
            tz = Some(input.parse::<LitStr>()?);
        }
        Ok(())
    })
    .map_err(|e| if e.to_string().contains("expected") { Error::new(e.span(), USAGE) } else { e })?;
    let cron = cron.ok_or_else(|| Error::new(attr.span(), USAGE))?;
    if cron.value().trim().is_empty() {
        return Err(Error::new(cron.span(), "a schedule's cron pattern is empty"));
    }
    Ok(Schedule { method, cron, tz })
}

fn event_topic(attr: &Attribute) -> Result<String> {
    attr.parse_args::<LitStr>()
        .map(|s| s.value())
        .map_err(|e| Error::new(e.span(), "write #[event(\"topic\")], e.g. #[event(\"message\")]"))
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> Result<TokenStream> {
    let args = parse_plugin_args(attr)?;
    let mut item: ItemImpl = syn::parse2(item)?;
    if item.trait_.is_some() {
        return Err(Error::new(item.span(), "#[plugin] goes on an inherent `impl Type { ... }` block"));
    }
    let krate = krate();
    let self_ty = item.self_ty.clone();
    let type_name = match &*self_ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
        _ => String::new(),
    };
    let name = args.name.unwrap_or_else(|| snake_case(&type_name));
    let description = args.description.unwrap_or_else(|| docs::parse(&item.attrs).description);
    let mut specs = Vec::new();
    let mut arms = Vec::new();
    let mut events: Vec<(String, syn::Ident)> = Vec::new();
    let mut autocompletes = Vec::new();
    let mut components: Vec<(String, syn::Ident)> = Vec::new();
    let mut webhooks: Vec<(String, syn::Ident)> = Vec::new();
    let mut schedules: Vec<Schedule> = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        if let Some(attr) = take_attr(&mut method.attrs, "command") {
            let command = expand_command(method, attr, &krate)?;
            specs.push(command.spec);
            arms.push(command.arm);
            autocompletes.extend(command.autocompletes);
        } else if let Some(attr) = take_attr(&mut method.attrs, "event") {
            if method.sig.asyncness.is_none() {
                return Err(Error::new(method.sig.span(), "an #[event] method must be `async fn`"));
            }
            events.push((event_topic(&attr)?, method.sig.ident.clone()));
        } else if let Some(attr) = take_attr(&mut method.attrs, "component") {
            if method.sig.asyncness.is_none() {
                return Err(Error::new(method.sig.span(), "a #[component] method must be `async fn`"));
            }
            let id = attr
                .parse_args::<LitStr>()
                .map_err(|e| Error::new(e.span(), "write #[component(\"id\")]: it handles that id and `id:...`"))?;
            components.push((id.value(), method.sig.ident.clone()));
        } else if let Some(attr) = take_attr(&mut method.attrs, "webhook") {
            if method.sig.asyncness.is_none() {
                return Err(Error::new(method.sig.span(), "a #[webhook] method must be `async fn`"));
            }
            let name = attr.parse_args::<LitStr>().map_err(|e| {
                Error::new(e.span(), "write #[webhook(\"name\")]: it handles POST /hooks/<plugin>/<name>")
            })?;
            let valid = !name.value().is_empty()
                && name.value().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return Err(Error::new(name.span(), "a webhook name is lowercase letters, digits, `-` and `_`"));
            }
            if webhooks.iter().any(|(n, _)| *n == name.value()) {
                return Err(Error::new(name.span(), "two #[webhook] methods have this name"));
            }
            webhooks.push((name.value(), method.sig.ident.clone()));
        } else if let Some(attr) = take_attr(&mut method.attrs, "schedule") {
            if method.sig.asyncness.is_none() {
                return Err(Error::new(method.sig.span(), "a #[schedule] method must be `async fn`"));
            }
            schedules.push(schedule_args(&attr, method.sig.ident.clone())?);
        }
    }
    let migrations = args.migrations.iter().enumerate().map(|(i, sql)| {
        let version = (i + 1) as u32;
        quote!(#krate::Migration { version: #version, sql: #sql })
    });
    let mut topics: Vec<&String> = events.iter().map(|(t, _)| t).collect();
    topics.dedup();
    let event_calls = events.iter().map(|(topic, ident)| {
        quote! {
            if __event.topic == #topic {
                match self.#ident(__ctx, __event).await {
                    ::core::result::Result::Ok(()) => {}
                    ::core::result::Result::Err(error) => return ::core::result::Result::Err(::core::convert::Into::into(error)),
                }
            }
        }
    });
    let suggest_arms = autocompletes.iter().map(|(command, param, method)| {
        quote! {
            (#command, #param) => match self.#method(__ctx, __partial).await {
                ::core::result::Result::Ok(list) => ::core::result::Result::Ok(list),
                ::core::result::Result::Err(error) => ::core::result::Result::Err(::core::convert::Into::into(error)),
            },
        }
    });
    let component_calls = components.iter().map(|(id, method)| {
        let nested = format!("{id}:");
        quote! {
            if __id == #id || __id.starts_with(#nested) {
                return match self.#method(__ctx, __id).await {
                    ::core::result::Result::Ok(value) => {
                        ::core::result::Result::Ok(::core::option::Option::Some(#krate::IntoReply::into_reply(value)))
                    }
                    ::core::result::Result::Err(error) => ::core::result::Result::Err(::core::convert::Into::into(error)),
                };
            }
        }
    });
    let webhook_names = webhooks.iter().map(|(name, _)| name);
    let webhook_calls = webhooks.iter().map(|(name, method)| {
        quote! {
            if __request.hook == #name {
                return match self.#method(__ctx, __request).await {
                    ::core::result::Result::Ok(()) => ::core::result::Result::Ok(::core::option::Option::Some(())),
                    ::core::result::Result::Err(error) => ::core::result::Result::Err(::core::convert::Into::into(error)),
                };
            }
        }
    });
    let schedule_specs = schedules.iter().map(|s| {
        let name = s.method.to_string();
        let cron = &s.cron;
        let tz = match &s.tz {
            Some(tz) => quote!(::core::option::Option::Some(::std::string::String::from(#tz))),
            None => quote!(::core::option::Option::None),
        };
        quote! {
            #krate::ScheduleSpec {
                name: ::std::string::String::from(#name),
                cron: ::std::string::String::from(#cron),
                tz: #tz,
            }
        }
    });
    let schedule_calls = schedules.iter().map(|s| {
        let (name, method) = (s.method.to_string(), &s.method);
        quote! {
            if __name == #name {
                return match self.#method(__ctx).await {
                    ::core::result::Result::Ok(()) => ::core::result::Result::Ok(::core::option::Option::Some(())),
                    ::core::result::Result::Err(error) => ::core::result::Result::Err(::core::convert::Into::into(error)),
                };
            }
        }
    });
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let unknown = LitStr::new("unknown command `{}` for this plugin", Span::call_site());
    Ok(quote! {
        #item

        impl #impl_generics #krate::Plugin for #self_ty #where_clause {
            fn meta(&self) -> #krate::PluginMeta {
                #krate::PluginMeta {
                    name: ::std::string::String::from(#name),
                    description: ::std::string::String::from(#description),
                    migrations: ::std::vec![#(#migrations),*],
                }
            }

            fn commands(&self) -> ::std::vec::Vec<#krate::CommandSpec> {
                ::std::vec![#(#specs),*]
            }

            fn invoke<'__a>(
                &'__a self,
                __ctx: &'__a #krate::Ctx,
                __command: &'__a str,
                mut __args: #krate::Args,
            ) -> #krate::BoxFuture<'__a, #krate::Result<#krate::Reply>> {
                ::std::boxed::Box::pin(async move {
                    let _ = &mut __args;
                    match __command {
                        #(#arms)*
                        other => ::core::result::Result::Err(::std::format!(#unknown, other).into()),
                    }
                })
            }

            fn subscriptions(&self) -> ::std::vec::Vec<::std::string::String> {
                ::std::vec![#(::std::string::String::from(#topics)),*]
            }

            fn autocomplete<'__a>(
                &'__a self,
                __ctx: &'__a #krate::Ctx,
                __command: &'__a str,
                __param: &'__a str,
                __partial: &'__a str,
            ) -> #krate::BoxFuture<'__a, #krate::Result<::std::vec::Vec<::std::string::String>>> {
                ::std::boxed::Box::pin(async move {
                    let _ = (__ctx, __partial);
                    match (__command, __param) {
                        #(#suggest_arms)*
                        _ => ::core::result::Result::Ok(::std::vec::Vec::new()),
                    }
                })
            }

            fn on_component<'__a>(
                &'__a self,
                __ctx: &'__a #krate::Ctx,
                __id: &'__a str,
            ) -> #krate::BoxFuture<'__a, #krate::Result<::core::option::Option<#krate::Reply>>> {
                ::std::boxed::Box::pin(async move {
                    let _ = (__ctx, __id);
                    #(#component_calls)*
                    ::core::result::Result::Ok(::core::option::Option::None)
                })
            }

            fn webhooks(&self) -> ::std::vec::Vec<::std::string::String> {
                ::std::vec![#(::std::string::String::from(#webhook_names)),*]
            }

            fn on_webhook<'__a>(
                &'__a self,
                __ctx: &'__a #krate::Ctx,
                __request: &'__a #krate::WebhookRequest,
            ) -> #krate::BoxFuture<'__a, #krate::Result<::core::option::Option<()>>> {
                ::std::boxed::Box::pin(async move {
                    let _ = (__ctx, __request);
                    #(#webhook_calls)*
                    ::core::result::Result::Ok(::core::option::Option::None)
                })
            }

            fn schedules(&self) -> ::std::vec::Vec<#krate::ScheduleSpec> {
                ::std::vec![#(#schedule_specs),*]
            }

            fn on_schedule<'__a>(
                &'__a self,
                __ctx: &'__a #krate::Ctx,
                __name: &'__a str,
            ) -> #krate::BoxFuture<'__a, #krate::Result<::core::option::Option<()>>> {
                ::std::boxed::Box::pin(async move {
                    let _ = (__ctx, __name);
                    #(#schedule_calls)*
                    ::core::result::Result::Ok(::core::option::Option::None)
                })
            }

            fn on_event<'__a>(
                &'__a self,
                __ctx: &'__a #krate::Ctx,
                __event: &'__a #krate::Event,
            ) -> #krate::BoxFuture<'__a, #krate::Result<()>> {
                ::std::boxed::Box::pin(async move {
                    let _ = (__ctx, __event);
                    #(#event_calls)*
                    ::core::result::Result::Ok(())
                })
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(item: &str) -> std::result::Result<TokenStream, String> {
        expand(TokenStream::new(), item.parse().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_schedule_takes_a_pattern_and_an_optional_zone() {
        let with = |attr: &str| {
            format!("impl Ops {{ #[schedule({attr})] async fn standup(&self, ctx: &Ctx) -> Result<()> {{ Ok(()) }} }}")
        };
        let expanded = expand_str(&with(r#""0 9 * * 1-5", tz = "Europe/London""#)).unwrap().to_string();
        assert!(expanded.contains(r#""0 9 * * 1-5""#) && expanded.contains(r#""Europe/London""#), "{expanded}");
        assert!(expanded.contains(r#""standup""#));
        assert!(expand_str(&with(r#""@hourly""#)).is_ok());
        assert!(expand_str(&with(r#""@hourly","#)).is_ok());
        assert_eq!(
            expand_str(&with(r#""0 9 * * *", zone = "UTC""#)).unwrap_err(),
            "the only option of #[schedule] is `tz = \"Zone/Name\"`"
        );
        assert!(expand_str(&with("")).unwrap_err().starts_with("write #[schedule("));
        assert!(expand_str(&with("9")).unwrap_err().starts_with("write #[schedule("));
        assert_eq!(expand_str(&with(r#"" ""#)).unwrap_err(), "a schedule's cron pattern is empty");
        let blocking = with(r#""@hourly""#).replace("async fn", "fn");
        assert_eq!(expand_str(&blocking).unwrap_err(), "a #[schedule] method must be `async fn`");
    }

    #[test]
    fn an_arguments_entry_that_names_no_parameter_is_a_compile_error() {
        let misspelt = r#"
            impl Dice {
                /// Roll dice.
                ///
                /// # Arguments
                /// * `cuont` - how many dice
                #[command]
                async fn roll(&self, ctx: &Ctx, count: Option<u8>) -> Result<String> { todo!() }
            }
        "#;
        assert_eq!(
            expand_str(misspelt).unwrap_err(),
            "the `# Arguments` section describes `cuont`, which is not a parameter of `roll` (it has count)"
        );
        let none = misspelt.replace("count: Option<u8>", "").replace("ctx: &Ctx, ", "ctx: &Ctx");
        assert!(expand_str(&none).unwrap_err().ends_with("(it has none)"));
        assert!(expand_str(&misspelt.replace("cuont", "count")).is_ok());
    }
}
