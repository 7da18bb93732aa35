//! The bot's calls to (fake) Discord's REST API, as the page shows them: a message posted to a
//! channel or a DM, the edit of an interaction's `@original` (which replaces "thinking…"), a
//! follow-up; and each call as a line of the event log, with its status and how long after
//! what caused it.

use super::world::{person, Sent, World, BOT_ID, BOT_NAME};
use axum::http::Method;
use regis_testkit::fake_discord::{Call, FilePart};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Shows each call of `feed` on the page until the fake Discord stops.
pub(crate) async fn follow(world: Arc<World>, mut feed: tokio::sync::broadcast::Receiver<Call>) {
    loop {
        match feed.recv().await {
            Ok(call) => show_call(&world, &call),
            Err(RecvError::Lagged(missed)) => {
                world.log("out", format!("({missed} calls not shown: the page fell behind)"))
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Shows one call: its log line, and what it changed on the page.
pub(crate) fn show_call(world: &World, call: &Call) {
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let ok = (200..300).contains(&call.status);
    let mut after = None;
    match (&call.method, segments.as_slice()) {
        (&Method::POST, ["channels", channel, "messages"]) => {
            let replying_to = call.json.as_ref().and_then(|b| b["message_reference"]["message_id"].as_str());
            after = replying_to.and_then(|id| world.message(id)).and_then(|m| m["at_ms"].as_u64()).map(|at| {
                let label = "the message it answers";
                (world.clock_ms().saturating_sub(at), label.to_string())
            });
            if ok {
                let id = call.answer["id"].as_str().unwrap_or_default().to_string();
                let mut view =
                    view_of_reply(world, &id, channel, call.json.as_ref().unwrap_or(&Value::Null), &call.files);
                view["reply_to"] = replying_to.map_or(Value::Null, |id| json!(id));
                world.show(view);
            }
        }
        (&Method::PATCH, ["channels", channel, "messages", id]) if ok => {
            let previous = world.message(id);
            world.show(edited(world, previous, id, channel, call));
        }
        (&Method::PATCH, ["webhooks", _app, token, "messages", id]) => {
            if let Some(sent) = world.sent_with(token) {
                after = Some((sent.at.elapsed().as_millis() as u64, sent.label.clone()));
                let target = if *id == "@original" { sent.original.clone() } else { id.to_string() };
                if ok {
                    let previous = world.message(&target);
                    let view = edited(world, previous, &target, &sent.channel, call);
                    world.show(view);
                }
            }
        }
        (&Method::POST, ["webhooks", _app, token]) => {
            if let Some(sent) = world.sent_with(token) {
                after = Some((sent.at.elapsed().as_millis() as u64, sent.label.clone()));
                if ok {
                    let id = call.answer["id"].as_str().unwrap_or_default().to_string();
                    let body = call.json.as_ref().unwrap_or(&Value::Null);
                    let mut view = view_of_reply(world, &id, &sent.channel, body, &call.files);
                    decorate(&mut view, &sent, body["flags"].as_u64().unwrap_or(0));
                    world.show(view);
                }
            }
        }
        (&Method::DELETE, ["webhooks", _app, token, "messages", id]) if ok => {
            if let Some(sent) = world.sent_with(token) {
                let target = if *id == "@original" { sent.original } else { id.to_string() };
                world.emit(json!({ "kind": "delete", "id": target }));
            }
        }
        (&Method::POST, ["users", "@me", "channels"]) if ok => {
            let recipient = call.json.as_ref().and_then(|b| b["recipient_id"].as_str()).and_then(|id| id.parse().ok());
            if let (Some(channel), Some(recipient)) = (call.answer["id"].as_str(), recipient) {
                world.dm(channel, recipient);
            }
        }
        _ => {}
    }
    let timing = match after {
        Some((ms, label)) => format!(" — {ms} ms after {label}"),
        None => String::new(),
    };
    world.log("out", format!("{} {} → {}{timing}", call.method, shown_path(&segments), call.status));
}

/// The path with interaction tokens left out (they are secrets on Discord).
fn shown_path(segments: &[&str]) -> String {
    let mut shown: Vec<&str> = segments.to_vec();
    if let Some(first) = shown.first().copied() {
        if (first == "webhooks" && shown.len() > 2) || (first == "interactions" && shown.len() > 2) {
            shown[2] = "{token}";
        }
    }
    format!("/{}", shown.join("/"))
}

/// A message by the bot as the page shows it, from a REST body or an interaction response's
/// `data` (`content`, `embeds`, `components`, `flags`) and its files.
pub(crate) fn view_of_reply(world: &World, id: &str, channel: &str, body: &Value, files: &[FilePart]) -> Value {
    let author = json!({ "id": BOT_ID.to_string(), "name": BOT_NAME, "bot": true });
    view(world, id, channel, author, body, files)
}

/// Marks a response to an interaction as Discord shows it: who used which command, and "only
/// you can see this" for an ephemeral one (`flags`).
pub(crate) fn decorate(view: &mut Value, sent: &Sent, flags: u64) {
    let name = person(sent.user).map(|p| p.name).unwrap_or("someone");
    view["interaction"] = json!({ "label": sent.label, "user": name });
    if flags & EPHEMERAL != 0 {
        view["ephemeral"] = json!(true);
        view["for"] = json!(sent.user.to_string());
    }
}

/// The ephemeral message flag.
const EPHEMERAL: u64 = 1 << 6;

/// A message as the page shows it, by `author`, from a body with `content`, `embeds` and
/// `components`, and its files.
pub(crate) fn view(world: &World, id: &str, channel: &str, author: Value, body: &Value, files: &[FilePart]) -> Value {
    let attachments: Vec<Value> = files.iter().map(|f| attachment(world, f)).collect();
    let mut view = json!({
        "id": id,
        "channel_id": channel,
        "author": author,
        "content": body.get("content").cloned().unwrap_or(json!("")),
        "embeds": body.get("embeds").cloned().unwrap_or(json!([])),
        "components": body.get("components").cloned().unwrap_or(json!([])),
        "attachments": attachments,
        "ephemeral": false,
        "for": null,
        "interaction": null,
        "reply_to": null,
        "thinking": false,
        "edited": false,
        "dm_with": world.dm_with(channel).map(|p| p.to_string()),
        "at_ms": world.clock_ms(),
    });
    resolve_attachment_urls(&mut view);
    view
}

/// The message `previous` (if the page has it) after the edit `call`: what the edit names is
/// replaced, the rest kept, as Discord edits; an edit of "thinking…" is the answer itself.
fn edited(world: &World, previous: Option<Value>, id: &str, channel: &str, call: &Call) -> Value {
    let body = call.json.clone().unwrap_or(Value::Null);
    let Some(mut view) = previous else {
        return view_of_reply(world, id, channel, &body, &call.files);
    };
    for field in ["content", "embeds", "components"] {
        if let Some(value) = body.get(field) {
            // `null` clears a field, as on Discord.
            view[field] = match (field, value) {
                ("content", Value::Null) => json!(""),
                ("content", _) | (_, Value::Array(_)) => value.clone(),
                _ => json!([]),
            };
        }
    }
    if body.get("attachments").is_some() || !call.files.is_empty() {
        // `attachments` lists the ones kept (by id) and describes the new files.
        let listed: Vec<String> = body["attachments"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let mut attachments: Vec<Value> = view["attachments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["id"].as_str().is_some_and(|id| listed.iter().any(|l| l == id)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        attachments.extend(call.files.iter().map(|f| attachment(world, f)));
        view["attachments"] = json!(attachments);
    }
    if view["thinking"] == true {
        view["thinking"] = json!(false);
    } else {
        view["edited"] = json!(true);
    }
    resolve_attachment_urls(&mut view);
    view
}

/// A file of a REST call, kept for the page.
fn attachment(world: &World, file: &FilePart) -> Value {
    let url = world.keep_file(&file.filename, file.data.clone());
    let image = ["png", "jpg", "jpeg", "gif", "webp"]
        .iter()
        .any(|e| file.filename.to_ascii_lowercase().ends_with(&format!(".{e}")));
    json!({ "id": url.split('/').nth(3).unwrap_or_default(), "filename": file.filename, "url": url, "image": image })
}

/// Embeds that show an attached file (`attachment://NAME`) point at the page's copy of it,
/// and that file is not shown a second time below the embeds.
fn resolve_attachment_urls(view: &mut Value) {
    let attachments = view["attachments"].as_array().cloned().unwrap_or_default();
    let url_of = |name: &str| {
        attachments
            .iter()
            .find(|a| a["filename"].as_str() == Some(name))
            .and_then(|a| a["url"].as_str())
            .map(str::to_string)
    };
    let mut shown_in_embed = Vec::new();
    if let Some(embeds) = view["embeds"].as_array_mut() {
        for embed in embeds {
            for part in ["image", "thumbnail"] {
                let Some(name) = embed[part]["url"].as_str().and_then(|u| u.strip_prefix("attachment://")) else {
                    continue;
                };
                let name = name.to_string();
                if let Some(url) = url_of(&name) {
                    embed[part]["url"] = json!(url);
                    shown_in_embed.push(name);
                }
            }
        }
    }
    if let Some(list) = view["attachments"].as_array_mut() {
        for attachment in list {
            let in_embed = attachment["filename"].as_str().is_some_and(|n| shown_in_embed.iter().any(|s| s == n));
            attachment["in_embed"] = json!(in_embed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn call(method: Method, path: &str, json: Value, files: Vec<FilePart>, answer: Value) -> Call {
        Call {
            method,
            path: path.into(),
            json: Some(json),
            files,
            authorization: None,
            at: Instant::now(),
            status: 200,
            answer,
        }
    }

    fn png(name: &str) -> FilePart {
        FilePart { field: "files[0]".into(), filename: name.into(), data: vec![0x89, b'P', b'N', b'G'] }
    }

    fn sent(world: &World, token: &str, original: &str) {
        let sent = super::super::world::Sent {
            original: original.into(),
            channel: "5".into(),
            user: super::super::world::PEOPLE[0].id,
            label: "/mando".into(),
            at: Instant::now(),
        };
        world.sent(token, sent);
    }

    #[test]
    fn the_edit_of_original_replaces_thinking_with_the_image() {
        let world = World::new();
        sent(&world, "tok", "77");
        let mut thinking = view_of_reply(&world, "77", "5", &json!({}), &[]);
        thinking["thinking"] = json!(true);
        world.show(thinking);
        let body = json!({ "content": "", "embeds": [{ "image": { "url": "attachment://m.png" } }],
                           "attachments": [{ "id": 0, "filename": "m.png" }] });
        show_call(
            &world,
            &call(Method::PATCH, "/webhooks/1/tok/messages/@original", body, vec![png("m.png")], json!({})),
        );
        let shown = world.message("77").unwrap();
        assert_eq!(shown["thinking"], false);
        assert_eq!(shown["edited"], false, "the first answer is no edit");
        let url = shown["embeds"][0]["image"]["url"].as_str().unwrap();
        assert!(url.starts_with("/dev/files/") && url.ends_with("/m.png"), "{url}");
        assert_eq!(shown["attachments"][0]["in_embed"], true);
        // A second edit is one.
        show_call(
            &world,
            &call(Method::PATCH, "/webhooks/1/tok/messages/@original", json!({ "content": "x" }), vec![], json!({})),
        );
        let shown = world.message("77").unwrap();
        assert_eq!((shown["edited"].clone(), shown["content"].clone()), (json!(true), json!("x")));
        assert_eq!(shown["attachments"].as_array().unwrap().len(), 1, "kept: the edit names no attachments");
    }

    #[test]
    fn a_channel_message_and_a_whisper_are_shown_where_they_were_sent() {
        let world = World::new();
        let dm = json!({ "id": "900", "type": 1, "recipients": [] });
        let ben = super::super::world::PEOPLE[1].id.to_string();
        show_call(&world, &call(Method::POST, "/users/@me/channels", json!({ "recipient_id": ben }), vec![], dm));
        show_call(
            &world,
            &call(Method::POST, "/channels/900/messages", json!({ "content": "psst" }), vec![], json!({ "id": "901" })),
        );
        let shown = world.message("901").unwrap();
        assert_eq!((shown["content"].clone(), shown["dm_with"].clone()), (json!("psst"), json!(ben)));
        show_call(
            &world,
            &call(Method::POST, "/channels/5/messages", json!({ "content": "hi" }), vec![], json!({ "id": "902" })),
        );
        assert_eq!(world.message("902").unwrap()["dm_with"], Value::Null);
        show_call(
            &world,
            &call(
                Method::PATCH,
                "/channels/5/messages/902",
                json!({ "content": "hi!" }),
                vec![],
                json!({ "id": "902" }),
            ),
        );
        let edited = world.message("902").unwrap();
        assert_eq!((edited["content"].clone(), edited["edited"].clone()), (json!("hi!"), json!(true)));
    }

    #[test]
    fn a_follow_up_is_a_new_message_under_the_interaction() {
        let world = World::new();
        sent(&world, "tok", "77");
        let body = json!({ "content": "and another thing", "flags": 64 });
        show_call(&world, &call(Method::POST, "/webhooks/1/tok", body, vec![], json!({ "id": "78" })));
        let shown = world.message("78").unwrap();
        assert_eq!(shown["content"], "and another thing");
        assert_eq!(shown["channel_id"], "5", "in the interaction's channel");
        assert_eq!(shown["interaction"]["label"], "/mando");
        assert_eq!(
            (shown["ephemeral"].clone(), shown["for"].clone()),
            (json!(true), json!(super::super::world::PEOPLE[0].id.to_string()))
        );
        assert!(world.message("77").is_none(), "the original is untouched");
        // A token the playground never sent is not shown.
        show_call(
            &world,
            &call(Method::POST, "/webhooks/1/other", json!({ "content": "?" }), vec![], json!({ "id": "79" })),
        );
        assert!(world.message("79").is_none());
    }

    #[test]
    fn tokens_stay_out_of_the_log() {
        assert_eq!(
            shown_path(&["webhooks", "1", "secret", "messages", "@original"]),
            "/webhooks/1/{token}/messages/@original"
        );
        assert_eq!(shown_path(&["channels", "5", "messages"]), "/channels/5/messages");
    }
}
