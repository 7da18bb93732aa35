//! `ctx.ask`: a confirmation answered by the user's next message, by a button, or not at all;
//! the question's wait does not hold a worker, nor count against the handler timeout, and
//! only the user asked can answer.

use regis::prelude::*;
use regis::{Answer, ChannelRef, Envelope};
use regis_testkit::{TestBot, CHANNEL, CONNECTOR};
use std::time::Duration;

/// Deploys, once confirmed.
pub struct Deployer {
    wait: Duration,
}

#[plugin]
impl Deployer {
    /// Deploy somewhere, after a confirmation.
    ///
    /// # Arguments
    /// * `target` - where
    #[command]
    async fn deploy(&self, ctx: &Ctx, target: String) -> Result<String> {
        let answer = ctx.ask(format!("Deploy to {target}?"), self.wait).await?;
        Ok(match answer {
            Answer::TimedOut => "No answer; not deploying.".to_string(),
            answer if answer.is_yes() => format!("Deploying to {target}."),
            answer => format!("Not deploying ({answer:?})."),
        })
    }
}

const WAIT: Duration = Duration::from_secs(10);

/// Starts `!deploy <target>` as `user` without waiting for it to finish (it waits for its
/// answer), and waits for its question.
async fn start_deploy(bot: &TestBot, user: &str, target: &str) -> regis_testkit::Sent {
    let envelope = Envelope::message(CONNECTOR, TestBot::user(user), format!("!deploy {target}"))
        .in_channel(ChannelRef::new(CHANNEL));
    bot.bot().ingress().submit(envelope).await.unwrap();
    let question = format!("Deploy to {target}?");
    bot.wait_for_sent(WAIT, "the question", |s| s.reply.text == question).await
}

async fn final_answer(bot: &TestBot, starts: &str) -> String {
    bot.wait_for_sent(WAIT, starts, |s| s.reply.text.starts_with(starts) || s.reply.text.starts_with("No answer"))
        .await
        .reply
        .text
}

#[tokio::test]
async fn the_users_next_message_answers_and_is_not_run_as_a_command() {
    let bot = TestBot::builder().plugin(Deployer { wait: WAIT }).start().await;
    let question = start_deploy(&bot, "ann", "prod").await;
    let labels: Vec<&str> = question.reply.buttons.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["Yes", "No"]);
    // Someone else's message in the channel is not the answer.
    assert!(bot.send_as("bob", "yes").await.is_empty());
    // Her next message is the answer, even one that looks like a command: it is not run.
    assert!(bot.send_as("ann", "!ping").await.is_empty(), "the answer is not answered itself");
    assert_eq!(final_answer(&bot, "Not deploying").await, "Not deploying (Text(\"!ping\")).");
    // The question is closed: the same words are an ordinary message again.
    assert_eq!(bot.send_as("ann", "!ping").await.text(), "pong");
}

#[tokio::test]
async fn yes_in_words_confirms() {
    let bot = TestBot::builder().plugin(Deployer { wait: WAIT }).start().await;
    start_deploy(&bot, "ann", "prod").await;
    bot.send_as("ann", "Yes").await;
    assert_eq!(final_answer(&bot, "Deploying").await, "Deploying to prod.");
}

#[tokio::test]
async fn a_button_answers_but_only_for_the_user_asked() {
    let bot = TestBot::builder().plugin(Deployer { wait: WAIT }).start().await;
    let question = start_deploy(&bot, "ann", "staging").await;
    let no = question.reply.buttons.iter().find(|b| b.label == "No").unwrap().custom_id.clone();
    assert_eq!(bot.click("bob", &no).await.text(), "This question is not yours to answer.");
    assert_eq!(bot.click("ann", &no).await.text(), "ann: No.");
    assert_eq!(final_answer(&bot, "Not deploying").await, "Not deploying (No).");
    assert_eq!(bot.click("ann", &no).await.text(), "This question is no longer open.");
}

#[tokio::test]
async fn no_answer_times_out_past_the_handler_timeout_without_holding_the_worker() {
    // One worker, a 300 ms handler timeout, a 600 ms question.
    let bot = TestBot::builder()
        .plugin(Deployer { wait: Duration::from_millis(600) })
        .workers(1)
        .handler_timeout(Duration::from_millis(300))
        .start()
        .await;
    start_deploy(&bot, "ann", "prod").await;
    // The only worker answers other commands meanwhile.
    assert_eq!(bot.send_as("bob", "!ping").await.text(), "pong");
    let so_far: Vec<String> = bot.connector_sent().into_iter().map(|s| s.reply.text).collect();
    assert_eq!(so_far, ["Deploy to prod?"], "the ping was answered while the question waited");
    assert_eq!(final_answer(&bot, "Deploying").await, "No answer; not deploying.");
    let stats = bot.stats();
    assert_eq!((stats.timeouts, stats.workers_alive), (0, 1), "{stats:?}");
}
