//! Alertmanager's webhook payload (version 4, as prometheus.io's configuration docs give it)
//! through the plugin: one message per group, edited while it fires, resolved with an edit and
//! a follow-up.

use regis::{ChannelRef, Destination, Envelope, EnvelopeKind, UserRef};
use regis_plugin_alertmanager::Alertmanager;
use regis_testkit::{TestBot, CONNECTOR};
use serde_json::{json, Value};

fn alert(status: &str, instance: &str, summary: &str) -> Value {
    json!({
        "status": status,
        "labels": { "alertname": "HighLatency", "severity": "page", "instance": instance },
        "annotations": { "summary": summary },
        "startsAt": "2026-12-01T10:00:00Z",
        "endsAt": if status == "resolved" { "2026-12-01T10:20:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus.example/graph?g0.expr=latency",
        "fingerprint": format!("f-{instance}"),
    })
}

fn notification(group: &str, status: &str, alerts: Vec<Value>) -> String {
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "chat",
        "groupLabels": { "alertname": group },
        "commonLabels": { "alertname": group, "severity": "page" },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    })
    .to_string()
}

fn delivery(body: String) -> Envelope {
    let kind = EnvelopeKind::Webhook {
        plugin: "alertmanager".into(),
        hook: "alerts".into(),
        headers: Default::default(),
        body,
    };
    Envelope::new(CONNECTOR, UserRef::new("webhook", "alertmanager/alerts"), kind).in_channel(ChannelRef::new("ops"))
}

#[tokio::test]
async fn a_group_is_posted_once_edited_while_it_fires_and_resolved() {
    let bot = TestBot::with(Alertmanager).await;
    let firing = notification(
        "HighLatency",
        "firing",
        vec![alert("firing", "web-1", "p99 over 1s"), alert("firing", "web-2", "p99 over 2s")],
    );
    let sent = bot.submit(delivery(firing)).await.0;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, Destination::Channel("ops".into()));
    assert_eq!(
        sent[0].reply.text,
        "FIRING: HighLatency, 2 alert(s)\n\
         - [firing] p99 over 1s on web-1 http://prometheus.example/graph?g0.expr=latency\n\
         - [firing] p99 over 2s on web-2 http://prometheus.example/graph?g0.expr=latency\n\
         http://alertmanager.example:9093"
    );
    // One alert resolves, the other still fires: the same message is edited.
    let partly = notification(
        "HighLatency",
        "firing",
        vec![alert("resolved", "web-1", "p99 over 1s"), alert("firing", "web-2", "p99 over 2s")],
    );
    assert!(bot.submit(delivery(partly)).await.is_empty(), "no new message");
    let edits = bot.edits();
    assert_eq!(edits.len(), 1);
    assert!(
        edits[0].1.text.starts_with("FIRING: HighLatency, 1 firing, 1 resolved\n- [resolved] p99 over 1s on web-1"),
        "{edits:?}"
    );
    let first_id = edits[0].0.clone();
    // All resolved: edited to resolved, and a follow-up line.
    let resolved = notification(
        "HighLatency",
        "resolved",
        vec![alert("resolved", "web-1", "p99 over 1s"), alert("resolved", "web-2", "p99 over 2s")],
    );
    let follow = bot.submit(delivery(resolved.clone())).await.text();
    assert_eq!(follow, "Resolved: HighLatency (2 alert(s))");
    let edits = bot.edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].0, first_id, "the group's message");
    assert!(edits[0].1.text.starts_with("RESOLVED: HighLatency, 2 alert(s)"), "{edits:?}");
    // The group is forgotten: a repeated resolved notification is posted, not edited.
    assert!(bot.submit(delivery(resolved)).await.text().starts_with("RESOLVED: HighLatency"));
    assert!(bot.edits().is_empty());
}

#[tokio::test]
async fn groups_are_apart_and_bad_payloads_are_errors() {
    let bot = TestBot::with(Alertmanager).await;
    let a = bot
        .submit(delivery(notification("DiskFull", "firing", vec![alert("firing", "db-1", "disk 95%")])))
        .await
        .text();
    let b = bot
        .submit(delivery(notification("HighLatency", "firing", vec![alert("firing", "web-1", "slow")])))
        .await
        .text();
    assert!(a.starts_with("FIRING: DiskFull") && b.starts_with("FIRING: HighLatency"), "{a}\n{b}");
    let many: Vec<Value> = (0..12).map(|i| alert("firing", &format!("w{i}"), "slow")).collect();
    let text = bot.submit(delivery(notification("Many", "firing", many))).await.text();
    assert!(text.contains("- and 2 more"), "{text}");
    let old = notification("Old", "firing", vec![]).replace("\"version\":\"4\"", "\"version\":\"3\"");
    assert!(bot.submit(delivery(old)).await.is_empty());
    assert!(bot.submit(delivery("{".into())).await.is_empty());
    bot.bot().idle().await;
    assert_eq!(bot.stats().errors, 2);
}
