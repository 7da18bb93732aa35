//! Linked identities (`!link`, `!unlink`): one person on two services has one rank, one ban,
//! one cooldown budget and one set of plugin data keys.

use regis::prelude::*;
use regis::Destination;
use regis_testkit::{Replies, TestBot};

/// Counts each person's visits in its store, under `ctx.author().key()`.
pub struct Visits;

#[plugin]
impl Visits {
    /// Count a visit.
    #[command(cooldown = "3 per 60s per user")]
    async fn visit(&self, ctx: &Ctx) -> Result<String> {
        let n: u64 = ctx.store().update(&ctx.author().key(), |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(format!("visit {n} of {}", ctx.author().key()))
    }
}

/// The code `!link` whispered, and what it said in the channel.
fn code_of(replies: &Replies) -> (String, String) {
    let whisper = replies.iter().find(|s| matches!(s.to, Destination::Direct(_))).expect("a code in private");
    let public = replies.iter().find(|s| s.to == Destination::Origin).map(|s| s.reply.text.clone());
    let code = whisper.reply.text.split_whitespace().nth(3).expect("Your link code: <code>").to_string();
    assert!(!public.clone().unwrap_or_default().contains(&code), "the code is never said in the channel");
    (code, public.unwrap_or_default())
}

#[tokio::test]
async fn a_linked_person_has_one_data_key_one_cooldown_and_one_ban() {
    let bot = TestBot::builder().plugin(Visits).owner("boss").start().await;
    assert_eq!(bot.send("!visit").await.text(), "visit 1 of test:tester");
    let (code, said) = code_of(&bot.send("!link").await);
    assert!(said.starts_with("I sent you a link code in private. test:tester is not linked."), "{said}");
    assert_eq!(
        bot.send_elsewhere("ann", &format!("!link {code}")).await.text(),
        "other:ann is now linked to test:tester: one rank, ban and data for both."
    );
    assert_eq!(bot.send_elsewhere("ann", "!visit").await.text(), "visit 2 of test:tester", "the same data key");
    assert_eq!(bot.send("!visit").await.text(), "visit 3 of test:tester");
    assert!(
        bot.send_elsewhere("ann", "!visit").await.text().contains("is cooling down"),
        "one cooldown budget for both services"
    );
    let (_, listing) = code_of(&bot.send("!link").await);
    assert!(listing.ends_with("test:tester is linked with other:ann."), "{listing}");

    // A ban of either identity holds on the other.
    assert_eq!(bot.send_as("boss", "!ban other:ann").await.text(), "other:ann is banned.");
    assert!(bot.send("!ping").await.is_empty(), "banned on the service the ban did not name");
    assert!(bot.send_elsewhere("ann", "!ping").await.is_empty());
    assert_eq!(bot.send_as("boss", "!rank test:tester").await.text(), "tester has rank -1.");
    assert_eq!(bot.send_as("boss", "!unban @tester").await.text(), "tester is no longer banned.");
    assert_eq!(bot.send_elsewhere("ann", "!ping").await.text(), "pong");

    // Unlinked, each identity is its own again.
    assert_eq!(bot.send_elsewhere("ann", "!unlink").await.text(), "Unlinked other:ann.");
    assert_eq!(bot.send_elsewhere("ann", "!visit").await.text(), "visit 1 of other:ann");
    assert_eq!(bot.send_elsewhere("ann", "!unlink").await.text(), "other:ann is not linked.");
}

#[tokio::test]
async fn a_code_is_single_use_and_not_for_its_own_identity() {
    let bot = TestBot::builder().plugin(Visits).start().await;
    let (code, _) = code_of(&bot.send("!link").await);
    let own = bot.send(&format!("!link {code}")).await.text();
    assert!(own.contains("that code is your own"), "{own}");
    let (code, _) = code_of(&bot.send("!link").await);
    assert!(bot.send_elsewhere("ann", &format!("!link {}", code.to_lowercase())).await.text().contains("now linked"));
    let again = bot.send_elsewhere("bob", &format!("!link {code}")).await.text();
    assert!(again.contains("that code is unknown, used or expired"), "{again}");
    let twice = bot.send_elsewhere("ann", &format!("!link {code}")).await.text();
    assert!(twice.contains("other:ann is already linked to test:tester; `unlink` first"), "{twice}");
    // The person itself cannot be linked elsewhere while others are linked to it.
    let (bobs, _) = code_of(&bot.send_elsewhere("bob", "!link").await);
    let busy = bot.send(&format!("!link {bobs}")).await.text();
    assert!(busy.contains("1 other identity is linked to you"), "{busy}");
    // A person's unlink releases everyone linked to it.
    assert_eq!(bot.send("!unlink").await.text(), "Unlinked other:ann.");
}

#[tokio::test]
async fn a_link_that_raises_a_rank_needs_an_owner() {
    let bot = TestBot::builder().plugin(Visits).owner("boss").start().await;
    bot.set_rank("tester", 500).await;
    let (code, _) = code_of(&bot.send("!link").await);
    let refused = bot.send_elsewhere("ann", &format!("!link {code}")).await.text();
    assert!(refused.contains("linking would raise other:ann from rank 0 to 500: an owner must"), "{refused}");
    assert_eq!(bot.send_elsewhere("ann", "!rank").await.text(), "ann has rank 0.", "nothing was linked");

    // The owner's own code links their other identity with the owner's rank.
    let (code, _) = code_of(&bot.send_as("boss", "!link").await);
    assert!(bot.send_elsewhere("ann", &format!("!link {code}")).await.text().contains("now linked to test:boss"));
    assert_eq!(bot.send_elsewhere("ann", "!rank").await.text(), "ann has rank 999.");
    assert_eq!(bot.send_elsewhere("ann", "!unlink").await.text(), "Unlinked other:ann.");
    assert_eq!(bot.send_elsewhere("ann", "!rank").await.text(), "ann has rank 0.");

    // A link down to a lower rank (or to rank 0) needs nobody.
    bot.set_rank("carol", 0).await;
    let (code, _) = code_of(&bot.send_as("carol", "!link").await);
    assert!(bot.send_elsewhere("dave", &format!("!link {code}")).await.text().contains("now linked to test:carol"));
}
