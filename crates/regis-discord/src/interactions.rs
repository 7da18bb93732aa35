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
use crate::pending::Answer;
pub use crate::pending::Pending;
use crate::rest::DiscordConnector;
use crate::signature::{unix_now, KeyError, SignatureVerifier};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use regis_core::{Ingress, QueueError, Reply};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use twilight_model::application::interaction::Interaction;

/// Settings of the interactions endpoint.
#[derive(Clone, Debug)]
pub struct InteractionsConfig {
    /// The application's public key (hex), from Discord's developer portal.
    pub public_key: String,
    /// Where to listen.
    pub addr: SocketAddr,
    /// How long to wait for a handler's reply before answering "deferred".
    pub budget: Duration,
    /// Accepted distance of `X-Signature-Timestamp` from now.
    pub timestamp_window: Duration,
    /// Largest accepted body.
    pub body_limit: usize,
}

impl InteractionsConfig {
    /// The defaults: 127.0.0.1:8080, a 2 s budget, a ±5 min window, a 1 MiB body limit.
    pub fn new(public_key: impl Into<String>) -> Self {
        InteractionsConfig {
            public_key: public_key.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            budget: Duration::from_secs(2),
            timestamp_window: Duration::from_secs(300),
            body_limit: 1024 * 1024,
        }
    }
}

struct AppState {
    verifier: SignatureVerifier,
    ingress: Ingress,
    pending: Arc<Pending>,
    budget: Duration,
}

/// The endpoint: an axum [`Router`] with `POST /interactions` and `GET /healthz`.
pub struct InteractionsServer {
    router: Router,
    addr: SocketAddr,
}

impl InteractionsServer {
    /// An endpoint that verifies with `config.public_key`, queues commands on `ingress`, and
    /// answers through `connector` (which must be the bot's `discord` connector).
    pub fn new(config: &InteractionsConfig, ingress: Ingress, connector: &DiscordConnector) -> Result<Self, KeyError> {
        let state = Arc::new(AppState {
            verifier: SignatureVerifier::from_hex(&config.public_key, config.timestamp_window)?,
            ingress,
            pending: connector.pending(),
            budget: config.budget,
        });
        let router = Router::new()
            .route("/interactions", post(interaction))
            .route("/healthz", get(|| async { "ok" }))
            .layer(DefaultBodyLimit::max(config.body_limit))
            .with_state(state);
        Ok(InteractionsServer { router, addr: config.addr })
    }

    /// The router, to serve or to nest in another.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Listens on the configured address until `shutdown` completes.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "interactions endpoint listening");
        axum::serve(listener, self.router).with_graceful_shutdown(shutdown).await
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn refuse(status: StatusCode, reason: impl std::fmt::Display) -> Response {
    json(status, &serde_json::json!({ "error": reason.to_string() }))
}

async fn interaction(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get("x-signature-ed25519").map(|v| v.as_bytes());
    let timestamp = headers.get("x-signature-timestamp").map(|v| v.as_bytes());
    if let Err(e) = state.verifier.verify(signature, timestamp, &body, unix_now()) {
        tracing::debug!(error = %e, "refused interaction");
        return refuse(StatusCode::UNAUTHORIZED, e);
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
    };
    match value.get("type").and_then(serde_json::Value::as_u64) {
        Some(1) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"type":1}"#).into_response(),
        Some(kind @ 2..=4) => match serde_json::from_value::<Interaction>(value) {
            Ok(interaction) => {
                let convert = match kind {
                    2 => convert::command_envelope,
                    3 => convert::component_envelope,
                    _ => convert::autocomplete_envelope,
                };
                answer(&state, &interaction, convert).await
            }
            Err(e) => refuse(StatusCode::BAD_REQUEST, format!("invalid interaction of type {kind}: {e}")),
        },
        Some(5) => refuse(StatusCode::BAD_REQUEST, "modal submissions are not handled: this bot opens no modals"),
        Some(kind) => refuse(StatusCode::BAD_REQUEST, format!("unknown interaction type {kind}")),
        None => refuse(StatusCode::BAD_REQUEST, "interaction has no numeric `type`"),
    }
}

type ToEnvelope = fn(&Interaction, u64) -> Result<regis_core::Envelope, convert::ConvertError>;

async fn answer(state: &AppState, interaction: &Interaction, to_envelope: ToEnvelope) -> Response {
    let envelope = match to_envelope(interaction, regis_core::envelope::now_ms()) {
        Ok(e) => e,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    match first_response(&state.pending, &state.ingress, envelope, state.budget).await {
        FirstResponse::Message(reply) => json(StatusCode::OK, &convert::inline_response(&reply)),
        FirstResponse::Deferred { ephemeral } => json(StatusCode::OK, &convert::deferred_response(ephemeral)),
        FirstResponse::Suggestions(choices) => json(StatusCode::OK, &convert::suggestions_response(&choices)),
        FirstResponse::Closed => refuse(StatusCode::SERVICE_UNAVAILABLE, "the bot is shutting down"),
    }
}

/// The first response to an interaction, as Discord's deadline rule decides it.
#[derive(Debug)]
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
}

/// Queues an interaction's envelope and decides its first response: the handler's first reply
/// if it comes within `budget`, "deferred" if the handler deferred or the budget ran out, a
/// short ephemeral note if the handler finished without replying, a "busy" note if the queue
/// is full. Used by the HTTP endpoint (answering in the HTTP response) and by the Gateway
/// (answering through the callback endpoint). `pending` must be the answering connector's
/// ([`DiscordConnector::pending`]).
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
    let mut answer = pending.wait(&id, handle);
    let mut done = match ingress.submit_tracked(envelope).await {
        Ok(done) => done,
        Err(QueueError::Full(_)) => {
            pending.forget(&id);
            return FirstResponse::Message(Reply::text("The bot is busy; try again in a moment.").ephemeral());
        }
        Err(_) => {
            pending.forget(&id);
            return FirstResponse::Closed;
        }
    };
    let budget = tokio::time::sleep(budget);
    tokio::pin!(budget);
    let mut finished = false;
    let response = tokio::select! {
        biased;
        result = &mut answer => Some(first(result.ok())),
        _ = &mut done => {
            finished = true;
            pending.finish_silently(&id).then(|| {
            if autocomplete {
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
    // Once the handler has finished no reply can follow: forget the interaction then.
    if finished {
        pending.forget(&id);
    } else {
        let pending = Arc::clone(pending);
        tokio::spawn(async move {
            let _ = done.await;
            pending.forget(&id);
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
