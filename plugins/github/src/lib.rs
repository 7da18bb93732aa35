//! GitHub into chat: point a repository's (or organisation's) webhook at
//! `POST /hooks/github/events` with content type `application/json` and a secret, and pushes,
//! pull requests opened and merged, workflow runs that failed or succeeded, and releases appear
//! in the hook's channel as short lines with links.

use regis::prelude::*;
use serde_json::Value;

/// The GitHub plugin.
pub struct GitHub;

/// The most commits a push line lists.
const MAX_COMMITS: usize = 3;

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().fold(v, |v, key| &v[*key]).as_str().unwrap_or_default()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The chat lines for one delivery of `event`, or none for what is not shown.
pub fn describe(event: &str, payload: &Value) -> Vec<String> {
    let repo = s(payload, &["repository", "full_name"]);
    let sender = s(payload, &["sender", "login"]);
    let action = s(payload, &["action"]);
    match event {
        "ping" => vec![format!("[{repo}] GitHub webhook set up: {}", s(payload, &["zen"]))],
        "push" => push(payload, repo, sender),
        "pull_request" => {
            let pr = &payload["pull_request"];
            let number = pr["number"].as_u64().unwrap_or_default();
            let (title, url) = (s(pr, &["title"]), s(pr, &["html_url"]));
            let did = match (action, pr["merged"].as_bool().unwrap_or(false)) {
                ("opened", _) => "opened",
                ("reopened", _) => "reopened",
                ("closed", true) => "merged",
                ("closed", false) => "closed",
                _ => return Vec::new(),
            };
            vec![format!("[{repo}] {sender} {did} pull request #{number}: {title} {url}")]
        }
        "workflow_run" if action == "completed" => {
            let run = &payload["workflow_run"];
            let outcome = match s(run, &["conclusion"]) {
                "success" => "succeeded",
                "failure" => "failed",
                "timed_out" => "timed out",
                "cancelled" => "was cancelled",
                _ => return Vec::new(),
            };
            let (name, branch, url) = (s(run, &["name"]), s(run, &["head_branch"]), s(run, &["html_url"]));
            vec![format!("[{repo}] workflow {name} {outcome} on {branch} {url}")]
        }
        "release" if action == "published" => {
            let release = &payload["release"];
            let name = Some(s(release, &["name"])).filter(|n| !n.is_empty()).unwrap_or(s(release, &["tag_name"]));
            vec![format!("[{repo}] {sender} published release {name} {}", s(release, &["html_url"]))]
        }
        _ => Vec::new(),
    }
}

fn push(payload: &Value, repo: &str, sender: &str) -> Vec<String> {
    let branch = s(payload, &["ref"]).trim_start_matches("refs/heads/").trim_start_matches("refs/tags/");
    if payload["deleted"].as_bool() == Some(true) {
        return vec![format!("[{repo}] {sender} deleted {branch}")];
    }
    let commits = payload["commits"].as_array().cloned().unwrap_or_default();
    if commits.is_empty() {
        return Vec::new(); // a new tag or branch without new commits
    }
    let forced = if payload["forced"].as_bool() == Some(true) { "force-" } else { "" };
    let plural = if commits.len() == 1 { "" } else { "s" };
    let mut lines = vec![format!(
        "[{repo}] {sender} {forced}pushed {} commit{plural} to {branch} {}",
        commits.len(),
        s(payload, &["compare"])
    )];
    for commit in commits.iter().take(MAX_COMMITS) {
        let id: String = s(commit, &["id"]).chars().take(7).collect();
        lines.push(format!("  {id} {} ({})", first_line(s(commit, &["message"])), s(commit, &["author", "name"])));
    }
    if commits.len() > MAX_COMMITS {
        lines.push(format!("  and {} more", commits.len() - MAX_COMMITS));
    }
    lines
}

/// GitHub into chat: pushes, pull requests, workflow runs and releases.
#[plugin(name = "github")]
impl GitHub {
    #[webhook("events")]
    async fn events(&self, ctx: &Ctx, request: &WebhookRequest) -> Result<()> {
        let Some(event) = request.header("x-github-event") else {
            return Err("the request has no X-GitHub-Event header: is it from GitHub?".into());
        };
        let payload: Value = request.json().map_err(|e| format!("the {event} payload is not JSON: {e}"))?;
        let lines = describe(event, &payload);
        if lines.is_empty() {
            return Ok(()); // an event or action not shown
        }
        let Some(channel) = ctx.envelope().channel.as_ref().map(|c| c.id.clone()) else {
            return Err("no channel is configured for hooks.github.events".into());
        };
        ctx.say(&channel, lines.join("\n")).await?;
        Ok(())
    }
}
