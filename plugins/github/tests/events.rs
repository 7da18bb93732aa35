//! GitHub's documented webhook payloads (the examples of docs.github.com's "Webhook events and
//! payloads", trimmed) through the plugin: the lines each event gives in the hook's channel.

use regis::{ChannelRef, Envelope, EnvelopeKind, UserRef};
use regis_plugin_github::GitHub;
use regis_testkit::{TestBot, CONNECTOR};
use std::collections::BTreeMap;
use std::time::Duration;

fn payload(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/payloads/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn delivery(event: Option<&str>, body: String) -> Envelope {
    let mut headers = BTreeMap::new();
    if let Some(event) = event {
        headers.insert("x-github-event".to_string(), event.to_string());
    }
    let kind = EnvelopeKind::Webhook { plugin: "github".into(), hook: "events".into(), headers, body };
    Envelope::new(CONNECTOR, UserRef::new("webhook", "github/events"), kind).in_channel(ChannelRef::new("dev"))
}

async fn lines(bot: &TestBot, event: &str, name: &str) -> String {
    let sent = bot.submit(delivery(Some(event), payload(name))).await.0;
    assert!(
        sent.iter().all(|s| s.to == regis::Destination::Channel("dev".into())),
        "said in the hook's channel: {sent:?}"
    );
    sent.into_iter().map(|s| s.reply.text).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn each_event_gives_its_line() {
    let bot = TestBot::with(GitHub).await;
    assert_eq!(
        lines(&bot, "push", "push").await,
        "[Codertocat/Hello-World] Codertocat pushed 2 commits to main https://github.com/Codertocat/Hello-World/compare/6113728f27ae...0d1a26e67d8f\n  0d1a26e Update README.md (Codertocat)\n  a10867b Fix the greeting (Octocat)"
    );
    assert_eq!(
        lines(&bot, "pull_request", "pull_request_opened").await,
        "[Codertocat/Hello-World] Codertocat opened pull request #2: Update the README with new information. https://github.com/Codertocat/Hello-World/pull/2"
    );
    assert_eq!(
        lines(&bot, "pull_request", "pull_request_merged").await,
        "[Codertocat/Hello-World] octocat merged pull request #2: Update the README with new information. https://github.com/Codertocat/Hello-World/pull/2"
    );
    assert!(lines(&bot, "pull_request", "pull_request_closed").await.contains("octocat closed pull request #2"));
    assert_eq!(
        lines(&bot, "workflow_run", "workflow_run_failed").await,
        "[octo-org/octo-repo] workflow Build failed on main https://github.com/octo-org/octo-repo/actions/runs/30433642"
    );
    assert_eq!(
        lines(&bot, "workflow_run", "workflow_run_succeeded").await,
        "[octo-org/octo-repo] workflow Build succeeded on main https://github.com/octo-org/octo-repo/actions/runs/30433642"
    );
    assert_eq!(
        lines(&bot, "release", "release_published").await,
        "[Codertocat/Hello-World] Codertocat published release 0.0.1 https://github.com/Codertocat/Hello-World/releases/tag/0.0.1"
    );
    assert_eq!(
        lines(&bot, "ping", "ping").await,
        "[Codertocat/Hello-World] GitHub webhook set up: Keep it logically awesome."
    );
    // What is not shown says nothing: other actions, other events.
    assert_eq!(lines(&bot, "pull_request", "pull_request_labeled").await, "");
    assert_eq!(lines(&bot, "workflow_run", "workflow_run_requested").await, "");
    assert_eq!(lines(&bot, "star", "ping").await, "");
    assert_eq!(bot.stats().errors, 0);
}

#[tokio::test]
async fn a_long_push_is_cut_and_bad_deliveries_are_errors() {
    let bot = TestBot::with(GitHub).await;
    let mut push: serde_json::Value = serde_json::from_str(&payload("push")).unwrap();
    let commit = push["commits"][0].clone();
    push["commits"] = serde_json::json!([commit, commit, commit, commit, commit]);
    let text = bot.submit(delivery(Some("push"), push.to_string())).await.text();
    assert!(text.contains("pushed 5 commits") && text.ends_with("\n  and 2 more"), "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(bot.submit(delivery(None, payload("push"))).await.is_empty());
    assert!(bot.submit(delivery(Some("push"), "not json".into())).await.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while bot.stats().errors < 2 {
        assert!(std::time::Instant::now() < deadline, "errors: {:?}", bot.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(bot.connector_sent().is_empty());
}
