//! Webhooks in: `POST /hooks/<plugin>/<name>` on the bot's HTTP listener. A request is
//! authenticated by its hook's scheme, read within the body limit, and queued as an
//! [`EnvelopeKind::Webhook`] envelope; the sender gets `202 Accepted` as soon as it is queued,
//! so a slow handler never makes it time out, and any worker handles it.
//!
//! | request | answer |
//! |---|---|
//! | unknown plugin or hook | 404 |
//! | missing or wrong credentials | 401 |
//! | body over the limit | 413 (before it is read, when `Content-Length` says so) |
//! | body not UTF-8 text | 415 |
//! | queue unavailable or full | 503 |
//! | queued | 202, `{"queued": "<envelope id>"}` |
//!
//! A redelivery of one GitHub delivery (same `X-GitHub-Delivery`) gets the same envelope id,
//! and the dispatcher's redelivery dedupe handles it once.

mod auth;

pub use auth::{hub_signature, HookAuth};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use regis_core::{ChannelRef, Envelope, EnvelopeKind, Ingress, UserRef};
use regis_http::{BodyError, BodyReader};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The connector name of envelopes from hooks that name no connector to answer through.
pub const CONNECTOR: &str = "webhook";

/// One configured hook.
#[derive(Clone, Debug)]
pub struct Hook {
    /// The plugin.
    pub plugin: String,
    /// The hook's name.
    pub name: String,
    /// How senders authenticate.
    pub auth: HookAuth,
    /// The connector the handler's `say` goes through (`discord`, `irc`, ...).
    pub connector: String,
    /// The channel the handler says into, if set.
    pub channel: Option<String>,
}

/// The webhooks of one bot, served as an axum router.
#[derive(Clone)]
pub struct Webhooks {
    hooks: Arc<HashMap<(String, String), Hook>>,
    ingress: Ingress,
    bodies: BodyReader,
    limit: usize,
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl Webhooks {
    /// Serves `hooks`, queuing through `ingress`; bodies up to `limit` bytes.
    pub fn new(hooks: Vec<Hook>, ingress: Ingress, bodies: BodyReader, limit: usize) -> Self {
        let hooks = hooks.into_iter().map(|h| ((h.plugin.clone(), h.name.clone()), h)).collect();
        Webhooks { hooks: Arc::new(hooks), ingress, bodies, limit }
    }

    /// `POST /hooks/{plugin}/{hook}`, to merge onto the listener's router.
    pub fn router(self) -> Router {
        Router::new().route("/hooks/{plugin}/{hook}", post(receive)).with_state(self)
    }
}

async fn receive(
    State(hooks): State<Webhooks>,
    Path((plugin, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(hook) = hooks.hooks.get(&(plugin.clone(), name.clone())) else {
        return answer(StatusCode::NOT_FOUND, "no such hook");
    };
    // Credentials in the headers are checked before a byte of the body is read.
    if !hook.auth.needs_body() && !hook.auth.accepts(&headers, b"") {
        tracing::warn!(plugin, hook = name, "webhook request refused: bad or missing credentials");
        return answer(StatusCode::UNAUTHORIZED, "bad or missing credentials");
    }
    let read = match hooks.bodies.read(&headers, body, hooks.limit).await {
        Ok(read) => read,
        Err(e) => return body_refused(&e),
    };
    if hook.auth.needs_body() && !hook.auth.accepts(&headers, &read.bytes) {
        tracing::warn!(plugin, hook = name, "webhook request refused: bad or missing signature");
        return answer(StatusCode::UNAUTHORIZED, "bad or missing signature");
    }
    let Ok(text) = std::str::from_utf8(&read.bytes) else {
        return answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body must be UTF-8 text");
    };
    let envelope = envelope(hook, &headers, text.to_string());
    let id = envelope.id.clone();
    match hooks.ingress.submit(envelope).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "queued": id }))).into_response(),
        Err(e) => {
            tracing::warn!(plugin, hook = name, error = %e, "webhook request not queued");
            answer(StatusCode::SERVICE_UNAVAILABLE, "cannot queue the request now; retry later")
        }
    }
}

fn body_refused(error: &BodyError) -> Response {
    let status = error.status();
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

/// The envelope of an accepted request: its id from the sender's delivery id when it has one
/// (so a redelivery is handled once), the credentials left out of its headers.
fn envelope(hook: &Hook, headers: &HeaderMap, body: String) -> Envelope {
    let mut kept: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        if auth::CREDENTIAL_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        kept.entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let author = UserRef::new(CONNECTOR, format!("{}/{}", hook.plugin, hook.name));
    let delivery = kept.get("x-github-delivery").filter(|d| !d.is_empty() && d.len() <= 100).cloned();
    let kind = EnvelopeKind::Webhook { plugin: hook.plugin.clone(), hook: hook.name.clone(), headers: kept, body };
    let mut envelope = Envelope::new(hook.connector.clone(), author, kind);
    if let Some(delivery) = delivery {
        envelope.id = format!("hook-{}-{}-{delivery}", hook.plugin, hook.name);
    }
    envelope.channel = hook.channel.clone().map(ChannelRef::new);
    envelope
}
