//! The plugin of `my-bot`: greetings, counted per person greeted.

use regis::prelude::*;

/// Greets people and remembers how often.
pub struct Greet;

/// Greetings, counted per person.
#[plugin]
impl Greet {
    /// Greet someone, e.g. `!greet Ann`.
    ///
    /// # Arguments
    /// * `who` - whom to greet
    #[command]
    async fn greet(&self, ctx: &Ctx, who: String) -> Result<String> {
        let n: u64 = ctx.store().update(&who.to_lowercase(), |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(format!("Hello, {who}! (greeted {n} time(s))"))
    }
}
