//! Events between plugins and from connectors; connector verbs; choice and rest parameters.

use regis::prelude::*;
use regis::Destination;
use regis_testkit::TestBot;
use std::time::Duration;

/// How a greeting is said.
#[derive(Choice, Debug, Clone, Copy)]
pub enum Tone {
    /// Friendly.
    Warm,
    /// Terse.
    Cold,
    /// Named explicitly.
    #[choice(name = "very-loud")]
    Loud,
}

/// Publishes and says things.
pub struct Herald;

#[plugin]
impl Herald {
    /// Announce something to the other plugins.
    ///
    /// # Arguments
    /// * `text` - what to announce
    #[command]
    async fn announce(&self, ctx: &Ctx, text: Rest) -> Result<String> {
        ctx.publish("herald.announced", &serde_json::json!({ "text": text.0 })).await?;
        Ok("announced".into())
    }

    /// Greet someone.
    ///
    /// # Arguments
    /// * `user` - who
    /// * `tone` - how
    #[command]
    async fn greet(&self, ctx: &Ctx, user: UserRef, tone: Option<Tone>) -> Result<()> {
        let text = match tone.unwrap_or(Tone::Warm) {
            Tone::Warm => format!("hello {}!", user.name),
            Tone::Cold => format!("{}.", user.name),
            Tone::Loud => format!("HELLO {}", user.name.to_uppercase()),
        };
        ctx.whisper(&user.id, text).await?;
        ctx.say("general", format!("{} was greeted", user.name)).await?;
        ctx.upload("note.txt", b"greeting sent".to_vec()).await?;
        Ok(())
    }

    /// Wait for the next message in the channel and echo it.
    #[command]
    async fn next(&self, ctx: &Ctx) -> Result<String> {
        let mut messages = ctx.subscribe("message");
        ctx.reply("waiting").await?;
        match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
            Ok(Some(event)) => Ok(format!("heard: {}", event.text().unwrap_or_default())),
            _ => Ok("heard nothing".into()),
        }
    }
}

/// Listens to the herald and to messages.
pub struct Scribe;

#[plugin]
impl Scribe {
    /// Show how many announcements and messages were seen.
    #[command]
    async fn seen(&self, ctx: &Ctx) -> Result<String> {
        let a: u64 = ctx.store().get("announced").await?.unwrap_or(0);
        let m: u64 = ctx.store().get("messages").await?.unwrap_or(0);
        Ok(format!("{a} announcements, {m} messages"))
    }

    #[event("herald.announced")]
    async fn on_announce(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Announcement {
            text: String,
        }
        let a: Announcement = event.data()?;
        ctx.store().update("announced", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        ctx.reply(format!("scribe noted: {}", a.text)).await?;
        Ok(())
    }

    #[event("message")]
    async fn on_message(&self, ctx: &Ctx, _event: &Event) -> Result<()> {
        ctx.store().update("messages", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(())
    }
}

#[tokio::test]
async fn plugins_receive_published_and_connector_events() {
    let bot = TestBot::builder().plugin(Herald).plugin(Scribe).start().await;
    assert_eq!(bot.send("!announce the  \"big\" news").await.text(), "announced");
    let later = bot.drain().await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].reply.text, "scribe noted: the  \"big\" news");
    bot.send("hello there").await;
    assert_eq!(bot.send("!seen").await.text(), "1 announcements, 3 messages");
}

#[tokio::test]
async fn disabled_plugins_get_no_events() {
    let bot = TestBot::builder().plugin(Herald).plugin(Scribe).owner("boss").start().await;
    bot.send_as("boss", "!plugin disable scribe").await;
    bot.send("!announce x").await;
    assert!(bot.drain().await.is_empty());
    bot.send_as("boss", "!plugin enable scribe").await;
    // Seen: "!plugin disable scribe" (still enabled then) and "!seen"; not "!announce x".
    assert_eq!(bot.send("!seen").await.text(), "0 announcements, 2 messages");
}

#[tokio::test]
async fn connector_verbs_choices_and_mentions() {
    let bot = TestBot::with(Herald).await;
    let sent = bot.send("!greet @ann very-loud").await;
    assert_eq!(sent.len(), 3);
    assert_eq!(sent.0[0].to, Destination::Direct("ann".into()));
    assert_eq!(sent.0[0].reply.text, "HELLO ANN");
    assert_eq!(sent.0[1].to, Destination::Channel("general".into()));
    assert_eq!(sent.0[2].reply.attachments[0].data, b"greeting sent");
    let usage = bot.send("!greet @ann rude").await.text();
    assert_eq!(
        usage,
        "`tone` must be one of warm, cold, very-loud, got `rude`\nUsage: !greet <user> [tone: warm|cold|very-loud]"
    );
    let schema = bot.bot().commands().into_iter().find(|(_, c)| c.name == "greet").unwrap().1.to_discord_json();
    assert_eq!(schema["options"][1]["choices"][2]["value"], "very-loud");
}

#[tokio::test]
async fn a_handler_can_wait_for_later_messages() {
    let bot = std::sync::Arc::new(TestBot::with(Herald).await);
    let waiting = {
        let bot = bot.clone();
        tokio::spawn(async move { bot.send("!next").await.text() })
    };
    // Once it says "waiting" it is subscribed.
    bot.wait_for_sent(Duration::from_secs(5), "waiting", |s| s.reply.text == "waiting").await;
    bot.send_as("ann", "forty-two").await;
    assert_eq!(waiting.await.unwrap(), "waiting\nheard: forty-two");
}

#[tokio::test]
async fn connector_events_reach_subscribers() {
    /// Greets newcomers and counts reactions.
    pub struct Doorman;

    #[plugin]
    impl Doorman {
        #[event("member_join")]
        async fn welcome(&self, ctx: &Ctx, event: &Event) -> Result<()> {
            ctx.reply(format!("welcome, {}!", event.author().name)).await?;
            Ok(())
        }

        #[event("reaction")]
        async fn react(&self, ctx: &Ctx, event: &Event) -> Result<()> {
            #[derive(serde::Deserialize)]
            struct Reaction {
                emoji: String,
                message_id: String,
            }
            let r: Reaction = event.data()?;
            ctx.reply(format!("{} on {}", r.emoji, r.message_id)).await?;
            Ok(())
        }
    }

    let bot = TestBot::with(Doorman).await;
    let join = regis::Envelope::new("test", TestBot::user("newbie"), regis::EnvelopeKind::MemberJoin);
    assert_eq!(bot.submit(join).await.text(), "welcome, newbie!");
    let reaction = regis::EnvelopeKind::Reaction { message_id: "m1".into(), emoji: "👍".into() };
    let reaction = regis::Envelope::new("test", TestBot::user("ann"), reaction);
    assert_eq!(bot.submit(reaction).await.text(), "👍 on m1");
    bot.set_rank("troll", -1).await;
    let banned = regis::Envelope::new("test", TestBot::user("troll"), regis::EnvelopeKind::MemberJoin);
    assert!(bot.submit(banned).await.is_empty(), "banned users trigger nothing");
}

#[tokio::test]
async fn buttons_and_suggestions_work_on_any_connector() {
    /// A poll with buttons and suggestions.
    pub struct Poll;

    #[plugin]
    impl Poll {
        /// Ask a question with answer buttons.
        ///
        /// # Arguments
        /// * `topic` - what to ask about
        #[command]
        async fn ask(&self, _ctx: &Ctx, #[autocomplete = "topics"] topic: String) -> Result<Reply> {
            Ok(Reply::text(format!("{topic}?")).button("Yes", "vote:yes").button("No", "vote:no"))
        }

        async fn topics(&self, _ctx: &Ctx, partial: &str) -> Result<Vec<String>> {
            Ok(["lunch", "launch", "later"].iter().filter(|t| t.starts_with(partial)).map(|t| t.to_string()).collect())
        }

        #[component("vote")]
        async fn vote(&self, ctx: &Ctx, id: &str) -> Result<String> {
            let n: u64 = ctx.store().update(id, |n: Option<u64>| n.unwrap_or(0) + 1).await?;
            Ok(format!("{} votes {} ({n})", ctx.author().name, id.trim_start_matches("vote:")))
        }
    }

    let bot = TestBot::with(Poll).await;
    let asked = bot.send("!ask lunch").await;
    let buttons = &asked.0[0].reply.buttons;
    assert_eq!(buttons.iter().map(|b| b.custom_id.as_str()).collect::<Vec<_>>(), ["poll:vote:yes", "poll:vote:no"]);
    assert_eq!(bot.click("ann", "poll:vote:yes").await.text(), "ann votes yes (1)");
    assert_eq!(bot.click("bob", "poll:vote:yes").await.text(), "bob votes yes (2)");
    assert_eq!(bot.click("bob", "admin:nothing").await.text(), "This button is no longer handled.");
    assert_eq!(bot.click("bob", "nobody:x").await.text(), "This button is no longer handled.");
    assert_eq!(bot.suggest("ask", "topic", "la").await, ["launch", "later"]);
    assert!(bot.suggest("ask", "nope", "la").await.is_empty(), "no suggestions for other parameters");
}
