use regis::prelude::*;

pub struct Dice;

/// Dice for the channel.
#[plugin]
impl Dice {
    /// Roll dice, e.g. `!roll 2 6`; counts your rolls.
    ///
    /// # Arguments
    /// * `count` - how many dice (default 1)
    /// * `sides` - sides per die (default 6)
    #[command(cooldown = "5 per 10s per user")]
    async fn roll(&self, ctx: &Ctx, #[max = 20] count: Option<u8>, #[min = 2] sides: Option<u16>) -> Result<String> {
        let rolls: Vec<u16> = (0..count.unwrap_or(1)).map(|_| fastrand::u16(1..=sides.unwrap_or(6))).collect();
        let n: u64 = ctx.store().update(&ctx.author().key(), |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(format!("{rolls:?} (roll #{n})"))
    }
}
