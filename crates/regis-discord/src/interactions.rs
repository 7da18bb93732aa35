//! The HTTP interactions endpoint: Discord POSTs each interaction, signed, to
//! `POST /interactions` and expects an answer within 3 seconds.
//!
//! - signature missing or wrong, or timestamp outside the window → 401;
//! - body over the limit → 413; valid signature but bad JSON or an unknown type → 400;
//! - PING → `{"type":1}`;
//! - APPLICATION_COMMAND → an envelope for the dispatcher; the answer is the handler's first
//!   reply if it comes within the budget (type 4), otherwise "deferred" (type 5) at the budget,
//!   and the handler's reply then edits the original response.

use crate::convert::{self, InteractionHandle};
pub use crate::pending::Pending;
use crate::pending::{Answer, Registration};
use crate::signature::{unix_now, KeyError, SignatureVerifier};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use regis_core::{Completion, Ingress, QueueError, Reply};
use regis_http::BodyReader;
use std::sync::Arc;
use std::time::Duration;
use twilight_model::application::interaction::{Interaction, InteractionType};

/// Settings of the interactions endpoint.
#[derive(Clone, Debug)]
pub struct InteractionsConfig {
    /// The application's public key (hex), from Discord's developer portal.
    pub public_key: String,
    /// How long to wait for a handler's reply before answering "deferred".
    pub budget: Duration,
    /// Accepted distance of `X-Signature-Timestamp` from now.
    pub timestamp_window: Duration,
    /// Largest accepted body.
    pub body_limit: usize,
    /// With this many envelopes queued or being handled, workers are too far behind to
    /// answer within the budget: interactions are deferred at once instead of waiting for it.
    pub defer_backlog: Option<usize>,
}

impl InteractionsConfig {
    /// The defaults: a 2 s budget, a ±5 min window, a 1 MiB body limit.
    pub fn new(public_key: impl Into<String>) -> Self {
        InteractionsConfig {
            public_key: public_key.into(),
            budget: Duration::from_secs(2),
            timestamp_window: Duration::from_secs(300),
            body_limit: 1024 * 1024,
            defer_backlog: None,
        }
    }
}

struct AppState {
    verifier: SignatureVerifier,
    ingress: Ingress,
    pending: Arc<Pending>,
    budget: Duration,
    bodies: BodyReader,
    body_limit: usize,
    defer_backlog: Option<usize>,
}

/// The endpoint: an axum [`Router`] with `POST /interactions`, to merge onto the process's
/// [`regis_http::HttpServer`].
pub struct InteractionsServer {
    router: Router,
}

impl InteractionsServer {
    /// An endpoint that verifies with `config.public_key`, reads bodies with `bodies` (the
    /// listener's [`BodyReader`]), queues commands on `ingress`, and keeps each interaction's
    /// state in `pending`: in one process, the bot's `discord` connector's
    /// ([`DiscordConnector::pending`](crate::DiscordConnector::pending)), so its replies reach the waiting requests; in a
    /// receiver without workers, a [`Pending`] of its own, which answers the workers' questions
    /// through the ingress's rendezvous.
    pub fn new(
        config: &InteractionsConfig,
        ingress: Ingress,
        pending: Arc<Pending>,
        bodies: BodyReader,
    ) -> Result<Self, KeyError> {
        crate::remote::answer_from(ingress.rendezvous(), Arc::clone(&pending));
        let state = Arc::new(AppState {
            verifier: SignatureVerifier::from_hex(&config.public_key, config.timestamp_window)?,
            ingress,
            pending,
            budget: config.budget,
            bodies,
            body_limit: config.body_limit,
            defer_backlog: config.defer_backlog,
        });
        let router = Router::new().route("/interactions", post(interaction)).with_state(state);
        Ok(InteractionsServer { router })
    }

    /// The router, to merge onto the listener's.
    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn refuse(status: StatusCode, reason: impl std::fmt::Display) -> Response {
    json(status, &serde_json::json!({ "error": reason.to_string() }))
}

/// The `type` of an interaction, read alone when the body is not a whole interaction.
#[derive(serde::Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
}

async fn interaction(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    // Everything the headers can tell is checked before a byte of the body is read: an
    // unsigned, stale or oversized request costs only its headers.
    if let Err(e) = state.bodies.check_length(&headers, state.body_limit) {
        return e.into_response();
    }
    let signature = headers.get("x-signature-ed25519").map(|v| v.as_bytes());
    let timestamp = headers.get("x-signature-timestamp").map(|v| v.as_bytes());
    let signed = match state.verifier.check_headers(signature, timestamp, unix_now()) {
        Ok(signed) => signed,
        Err(e) => {
            tracing::debug!(error = %e, "refused interaction");
            count("unsigned");
            return refuse(StatusCode::UNAUTHORIZED, e);
        }
    };
    let body = match state.bodies.read(&headers, body, state.body_limit).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = state.verifier.check_body(&signed, &body.bytes) {
        tracing::debug!(error = %e, "refused interaction");
        count("unsigned");
        return refuse(StatusCode::UNAUTHORIZED, e);
    }
    let parsed = read_interaction(&body.bytes, regis_core::envelope::now_ms());
    drop(body);
    match parsed {
        Ok(Incoming::Ping) => {
            count("pong");
            pong()
        }
        Ok(Incoming::Envelope(envelope)) => answer(&state, *envelope).await,
        Err(reason) => {
            count("invalid");
            refuse(StatusCode::BAD_REQUEST, reason)
        }
    }
}

/// Counts an interaction by how it came (`ingress`: `http` or `gateway`) and how it was
/// answered (`regis_interactions_total{ingress, answer}`): `inline` (the reply itself, type 4),
/// `deferred` (type 5), `suggestions`, `pong`, or refused as `unsigned`, `invalid`,
/// `unavailable` or `duplicate`.
pub(crate) fn count_answer(ingress: &'static str, answer: &'static str) {
    metrics::counter!("regis_interactions_total", "ingress" => ingress, "answer" => answer).increment(1);
}

fn count(answer: &'static str) {
    count_answer("http", answer);
}

/// The `answer` label of a first response.
pub(crate) fn answer_label(first: &FirstResponse) -> &'static str {
    match first {
        FirstResponse::Message(_) => "inline",
        FirstResponse::Deferred { .. } => "deferred",
        FirstResponse::Suggestions(_) => "suggestions",
        FirstResponse::Closed | FirstResponse::Unavailable => "unavailable",
        FirstResponse::Duplicate => "duplicate",
    }
}

fn pong() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"type":1}"#).into_response()
}

/// What a signed interaction body stands for.
#[derive(Debug)]
pub enum Incoming {
    /// A PING, answered with PONG.
    Ping,
    /// A command, a button click or an autocomplete, as the envelope for the dispatcher.
    Envelope(Box<regis_core::Envelope>),
}

/// Reads a (signature-checked) interaction body: a PING, or the envelope of a command, button
/// click or autocomplete received at `received_ms`; otherwise the reason it is refused (400).
/// The body is parsed once on the usual path, and a second time only to explain a refusal.
pub fn read_interaction(body: &[u8], received_ms: u64) -> Result<Incoming, String> {
    let interaction = match serde_json::from_slice::<Interaction>(body) {
        Ok(interaction) => interaction,
        Err(e) => return not_an_interaction(body, e),
    };
    let convert = match interaction.kind {
        InteractionType::Ping => return Ok(Incoming::Ping),
        InteractionType::ApplicationCommand => convert::command_envelope,
        InteractionType::MessageComponent => convert::component_envelope,
        InteractionType::ApplicationCommandAutocomplete => convert::autocomplete_envelope,
        InteractionType::ModalSubmit => return Err(NO_MODALS.into()),
        other => return Err(format!("unknown interaction type {}", other.kind())),
    };
    convert(&interaction, received_ms).map(|e| Incoming::Envelope(Box::new(e))).map_err(|e| e.to_string())
}

const NO_MODALS: &str = "modal submissions are not handled: this bot opens no modals";

/// Why a signed body that is not a whole interaction is refused; a bare PING (`{"type":1}`,
/// as some tools send it) is still a PING.
fn not_an_interaction(body: &[u8], error: serde_json::Error) -> Result<Incoming, String> {
    let kind = match serde_json::from_slice::<TypeOnly>(body) {
        Ok(TypeOnly { kind }) => kind,
        Err(e) => return Err(format!("invalid JSON: {e}")),
    };
    match kind.as_ref().and_then(serde_json::Value::as_u64) {
        Some(1) => Ok(Incoming::Ping),
        Some(kind @ 2..=4) => Err(format!("invalid interaction of type {kind}: {error}")),
        Some(5) => Err(NO_MODALS.into()),
        Some(kind) => Err(format!("unknown interaction type {kind}")),
        None => Err("interaction has no numeric `type`".into()),
    }
}

async fn answer(state: &AppState, envelope: regis_core::Envelope) -> Response {
    let backed_up = state.defer_backlog.is_some_and(|limit| state.ingress.backlog().is_some_and(|n| n >= limit));
    // Far behind: the workers will not answer within the budget, so waiting for it only
    // delays the deferral.
    let budget = if backed_up { Duration::ZERO } else { state.budget };
    let first = first_response(&state.pending, &state.ingress, envelope, budget).await;
    count(answer_label(&first));
    match first {
        FirstResponse::Message(reply) => json(StatusCode::OK, &convert::inline_response(&reply)),
        FirstResponse::Deferred { ephemeral } => json(StatusCode::OK, &convert::deferred_response(ephemeral)),
        FirstResponse::Suggestions(choices) => json(StatusCode::OK, &convert::suggestions_response(&choices)),
        FirstResponse::Closed => refuse(StatusCode::SERVICE_UNAVAILABLE, "the bot is shutting down"),
        FirstResponse::Unavailable => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, "the bot cannot queue the interaction now; try again")
        }
        FirstResponse::Duplicate => refuse(StatusCode::CONFLICT, "this interaction was answered already"),
    }
}

/// The first response to an interaction, as Discord's deadline rule decides it.
#[derive(Clone, Debug)]
pub enum FirstResponse {
    /// Answer with this message now (type 4).
    Message(Reply),
    /// Answer "deferred" now (type 5); the handler's reply will edit the original response.
    Deferred {
        /// Whether the eventual response is for the invoker only.
        ephemeral: bool,
    },
    /// Answer with these autocomplete suggestions now (type 8; never deferred).
    Suggestions(Vec<String>),
    /// The bot is shutting down and took nothing.
    Closed,
    /// The queue is unreachable (its server is down): nothing was taken.
    Unavailable,
    /// The interaction was handled already, by an earlier delivery of it (a replay).
    Duplicate,
}

/// How much longer than the budget a duplicate delivery waits for the first one's response.
const DUPLICATE_SLACK: Duration = Duration::from_secs(1);

/// Queues an interaction's envelope and decides its first response: the handler's first reply
/// if it comes within `budget`, "deferred" if the handler deferred or the budget ran out, a
/// short ephemeral note if the handler finished without replying, a "busy" note if the queue
/// is full. Used by the HTTP endpoint (answering in the HTTP response) and by the Gateway
/// (answering through the callback endpoint). `pending` must be the answering connector's
/// ([`DiscordConnector::pending`](crate::DiscordConnector::pending)).
pub async fn first_response(
    pending: &Arc<Pending>,
    ingress: &Ingress,
    envelope: regis_core::Envelope,
    budget: Duration,
) -> FirstResponse {
    let id = envelope.id.clone();
    // Autocomplete cannot be deferred: it answers with what it has when time is up.
    let autocomplete = matches!(envelope.kind, regis_core::EnvelopeKind::Autocomplete { .. });
    let Some(handle) = InteractionHandle::of(&envelope) else {
        return FirstResponse::Message(Reply::text("This interaction cannot be answered.").ephemeral());
    };
    let mut answer = match pending.wait(&id, handle) {
        Registration::New(answer) => answer,
        // The same interaction again while it is answered: the first delivery's response.
        Registration::Duplicate(mut first) => {
            let decided = tokio::time::timeout(budget + DUPLICATE_SLACK, first.wait_for(Option::is_some)).await;
            return match decided {
                Ok(Ok(response)) => response.clone().unwrap_or(FirstResponse::Duplicate),
                _ => FirstResponse::Duplicate,
            };
        }
    };
    if autocomplete && ingress.rendezvous().answers_at_once() {
        // Suggestions cannot be deferred, and no worker can answer in time: none, and nothing
        // queued for a handler whose answer would be dropped.
        pending.finish_silently(&id);
        pending.finish(&id);
        return FirstResponse::Suggestions(Vec::new());
    }
    let mut done = match ingress.submit_tracked(envelope).await {
        Ok(done) => done,
        Err(QueueError::Full(_)) => {
            pending.forget(&id);
            return FirstResponse::Message(Reply::text(crate::gateway::BUSY).ephemeral());
        }
        Err(QueueError::Backend(e)) => {
            tracing::warn!(envelope = %id, error = %e, "cannot queue an interaction");
            pending.forget(&id);
            return FirstResponse::Unavailable;
        }
        Err(QueueError::Closed) => {
            pending.forget(&id);
            return FirstResponse::Closed;
        }
    };
    if ingress.rendezvous().answers_at_once() {
        // No worker can answer within any budget (a queue without request-reply): deferred
        // now, the worker's first reply edits the original response.
        pending.defer_on_budget(&id);
        let response = FirstResponse::Deferred { ephemeral: false };
        pending.publish_first(&id, &response);
        pending.finish(&id);
        return response;
    }
    let budget = tokio::time::sleep(budget);
    tokio::pin!(budget);
    let mut finished = false;
    let response = tokio::select! {
        biased;
        result = &mut answer => Some(first(result.ok())),
        completion = &mut done => {
            finished = true;
            pending.finish_silently(&id).then(|| {
                if completion == Ok(Completion::Duplicate) {
                    // Handled before, by an earlier delivery: there is no answer to give again.
                    FirstResponse::Duplicate
                } else if autocomplete {
                    FirstResponse::Suggestions(Vec::new())
                } else {
                    FirstResponse::Message(Reply::text("Done.").ephemeral())
                }
            })
        }
        _ = &mut budget => {
            if autocomplete {
                pending.finish_silently(&id).then_some(FirstResponse::Suggestions(Vec::new()))
            } else {
                pending.defer_on_budget(&id).then_some(FirstResponse::Deferred { ephemeral: false })
            }
        }
    };
    // None: an answer was handed over in the same instant; it is in the channel now.
    let response = match response {
        Some(r) => r,
        None => first(answer.await.ok()),
    };
    pending.publish_first(&id, &response);
    // Once the handler has finished no reply can follow: the interaction is forgotten soon
    // after (late copies of it get this response meanwhile).
    if finished {
        pending.finish(&id);
    } else {
        let pending = Arc::clone(pending);
        tokio::spawn(async move {
            let _ = done.await;
            pending.finish(&id);
        });
    }
    response
}

fn first(answer: Option<Answer>) -> FirstResponse {
    match answer {
        Some(Answer::Message(reply)) => FirstResponse::Message(reply),
        Some(Answer::Defer { ephemeral }) => FirstResponse::Deferred { ephemeral },
        Some(Answer::Suggestions(choices)) => FirstResponse::Suggestions(choices),
        None => FirstResponse::Deferred { ephemeral: false },
    }
}
