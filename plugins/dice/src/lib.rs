use regis::prelude::*;

mod roll;
pub use roll::Roll;

pub struct Dice;

/// Dice for the channel.
#[plugin]
impl Dice {
    /// Roll dice, e.g. `!roll 2d6`, `!roll d20` or `!roll 3d8+2`; counts your rolls.
    ///
    /// # Arguments
    /// * `dice` - what to roll (default one six-sided die)
    #[command(cooldown = "5 per 10s per user")]
    async fn roll(&self, ctx: &Ctx, dice: Option<Roll>) -> Result<String> {
        let n: u64 = ctx.store().update(&ctx.author().key(), |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(format!("{} (roll #{n})", dice.unwrap_or_default().throw()))
    }
}
