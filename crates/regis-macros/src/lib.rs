//! Procedural macros of Regis: `#[plugin]` turns an `impl` block into a plugin whose
//! `#[command]` methods are commands (doc comment = help, signature = parser and slash schema)
//! and whose `#[event("topic")]` methods handle events; `#[derive(Choice)]` makes an enum a
//! choice parameter. Use them through the `regis` crate.

use proc_macro::TokenStream;

mod choice;
mod docs;
mod paths;
mod plugin;

/// Makes an `impl` block a Regis plugin. Its `#[command]` methods become commands and its
/// `#[event("topic")]` methods event handlers.
///
/// Options: `name = "..."` (default: the type's name in snake_case), `description = "..."`
/// (default: the impl block's doc comment), `migrations = ["CREATE TABLE ...", ...]` (SQL run
/// once each, in order, on the plugin's own database).
///
/// Command options: `name = "..."` (default: the method name; two words for a subcommand),
/// `rank = N` (required rank, default 0), `aliases = ["r"]`, `cooldown = "3 per 10s per user"`.
/// Parameter attributes: `#[min = N]`, `#[max = N]`, `#[description = "..."]` (default: the
/// doc comment's `# Arguments` entry).
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    plugin::expand(attr.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Marks a method of a `#[plugin]` impl block as a command. It has no effect elsewhere.
#[proc_macro_attribute]
pub fn command(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_plugin("command", item)
}

/// Marks a method of a `#[plugin]` impl block as the handler of an event topic.
#[proc_macro_attribute]
pub fn event(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_plugin("event", item)
}

fn outside_plugin(name: &str, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let message = format!("#[{name}] only works on a method inside an `impl` block marked #[plugin]");
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).into_compile_error();
    quote::quote!(#error #item).into()
}

/// Marks a method of a `#[plugin]` impl block as the handler of clicks on this plugin's
/// buttons whose id is `"id"` or starts with `"id:"`.
#[proc_macro_attribute]
pub fn component(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_plugin("component", item)
}

/// Marks a method of a `#[plugin]` impl block as the handler of webhook `name`
/// (`POST /hooks/<plugin>/<name>`): `async fn f(&self, ctx: &Ctx, request: &WebhookRequest)
/// -> Result<()>`. It has no effect elsewhere.
#[proc_macro_attribute]
pub fn webhook(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_plugin("webhook", item)
}

/// Marks a method of a `#[plugin]` impl block as a schedule: `#[schedule("0 9 * * 1-5", tz =
/// "Europe/London")]` on `async fn f(&self, ctx: &Ctx) -> Result<()>` runs it at each time the
/// cron pattern matches on the zone's wall clock (seconds optional; UTC without `tz`), once
/// across all workers. It has no effect elsewhere.
#[proc_macro_attribute]
pub fn schedule(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_plugin("schedule", item)
}

/// Makes a fieldless enum usable as a choice parameter: each variant is a choice whose value is
/// the variant's name in snake_case (override with `#[choice(name = "...")]`).
#[proc_macro_derive(Choice, attributes(choice))]
pub fn derive_choice(item: TokenStream) -> TokenStream {
    choice::expand(item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}
