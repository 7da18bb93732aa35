//! Prometheus Alertmanager into chat: a `webhook_configs` receiver pointed at
//! `POST /hooks/alertmanager/alerts` (with `http_config.basic_auth` or a bearer token) posts one
//! message per alert group (`groupKey`), edits it as the group's alerts change, and edits it
//! to resolved when the group resolves, with a short follow-up line so the channel notices.

use regis::prelude::*;
use regis::SentMessage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Alertmanager plugin.
pub struct Alertmanager;

/// Alertmanager's webhook payload, version 4.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `"4"`.
    pub version: String,
    /// Identifies the group across notifications.
    pub group_key: String,
    /// `firing` or `resolved` (the group's).
    pub status: String,
    /// The receiver's name.
    #[serde(default)]
    pub receiver: String,
    /// The labels the group is grouped by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Labels all its alerts share.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations all its alerts share.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's address.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// How many alerts were left out (`max_alerts`).
    #[serde(default)]
    pub truncated_alerts: u64,
}

/// One alert of a notification.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    #[serde(default)]
    pub starts_at: String,
    /// Its source's link.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
}

/// Where a group's message is, kept in the plugin's store.
#[derive(Debug, Serialize, Deserialize)]
struct Posted {
    id: String,
    channel: Option<String>,
}

/// The most alerts a message lists.
const MAX_LISTED: usize = 10;

fn alert_line(alert: &Alert) -> String {
    let what = ["summary", "description"]
        .iter()
        .find_map(|k| alert.annotations.get(*k))
        .cloned()
        .unwrap_or_else(|| alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    let instance = alert.labels.get("instance").map(|i| format!(" on {i}")).unwrap_or_default();
    let mark = if alert.status == "resolved" { "resolved" } else { "firing" };
    let link = if alert.generator_url.is_empty() { String::new() } else { format!(" {}", alert.generator_url) };
    format!("- [{mark}] {what}{instance}{link}")
}

/// The group's message: a headline, then its alerts.
pub fn render(n: &Notification) -> String {
    let name = n.group_labels.get("alertname").or(n.common_labels.get("alertname")).map_or("alerts", String::as_str);
    let labels: Vec<String> =
        n.group_labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| format!("{k}={v}")).collect();
    let labels = if labels.is_empty() { String::new() } else { format!(" ({})", labels.join(", ")) };
    let firing = n.alerts.iter().filter(|a| a.status == "firing").count();
    let resolved = n.alerts.len() - firing;
    let headline = if n.status == "resolved" {
        format!("RESOLVED: {name}{labels}, {resolved} alert(s)")
    } else if resolved > 0 {
        format!("FIRING: {name}{labels}, {firing} firing, {resolved} resolved")
    } else {
        format!("FIRING: {name}{labels}, {firing} alert(s)")
    };
    let mut lines = vec![headline];
    if let Some(summary) = n.common_annotations.get("summary") {
        lines.push(summary.clone());
    }
    lines.extend(n.alerts.iter().take(MAX_LISTED).map(alert_line));
    let left_out = n.alerts.len().saturating_sub(MAX_LISTED) as u64 + n.truncated_alerts;
    if left_out > 0 {
        lines.push(format!("- and {left_out} more"));
    }
    if !n.external_url.is_empty() {
        lines.push(n.external_url.clone());
    }
    lines.join("\n")
}

/// Prometheus Alertmanager into chat: a message per alert group, edited as it changes.
#[plugin(name = "alertmanager")]
impl Alertmanager {
    #[webhook("alerts")]
    async fn alerts(&self, ctx: &Ctx, request: &WebhookRequest) -> Result<()> {
        let n: Notification = request.json().map_err(|e| format!("not an Alertmanager notification: {e}"))?;
        if n.version != "4" {
            return Err(format!("Alertmanager webhook payload version {} is not supported (4 is)", n.version).into());
        }
        let Some(channel) = ctx.envelope().channel.as_ref().map(|c| c.id.clone()) else {
            return Err("no channel is configured for hooks.alertmanager.alerts".into());
        };
        let key = format!("group:{}", n.group_key);
        let text = render(&n);
        let posted: Option<Posted> = ctx.store().get(&key).await?;
        let edited = match &posted {
            Some(p) => {
                let message = SentMessage { id: p.id.clone(), channel: p.channel.clone() };
                ctx.edit(&message, text.clone()).await.is_ok()
            }
            None => false,
        };
        if n.status == "resolved" {
            if edited {
                let name = n.common_labels.get("alertname").map_or("alerts", String::as_str);
                ctx.say(&channel, format!("Resolved: {name} ({} alert(s))", n.alerts.len())).await?;
            } else {
                ctx.say(&channel, text).await?;
            }
            ctx.store().delete(&key).await?;
        } else if !edited {
            let sent = ctx.say(&channel, text).await?;
            ctx.store().set(&key, &Posted { id: sent.id, channel: sent.channel.or(Some(channel)) }).await?;
        }
        Ok(())
    }
}
