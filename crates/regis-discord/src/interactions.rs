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
use crate::pending::{Answer, Pending};
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
        Some(2) => match serde_json::from_value::<Interaction>(value) {
            Ok(interaction) => command(&state, &interaction).await,
            Err(e) => refuse(StatusCode::BAD_REQUEST, format!("invalid APPLICATION_COMMAND interaction: {e}")),
        },
        Some(kind @ 3..=5) => refuse(
            StatusCode::BAD_REQUEST,
            format!("interaction type {kind} (components, autocomplete, modals) is not handled by this bot yet"),
        ),
        Some(kind) => refuse(StatusCode::BAD_REQUEST, format!("unknown interaction type {kind}")),
        None => refuse(StatusCode::BAD_REQUEST, "interaction has no numeric `type`"),
    }
}

async fn command(state: &AppState, interaction: &Interaction) -> Response {
    let received_ms = regis_core::envelope::now_ms();
    let envelope = match convert::command_envelope(interaction, received_ms) {
        Ok(e) => e,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let id = envelope.id.clone();
    let Some(handle) = InteractionHandle::of(&envelope) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "interaction handle lost");
    };
    let mut answer = state.pending.wait(&id, handle);
    let mut done = match state.ingress.submit_tracked(envelope).await {
        Ok(done) => done,
        Err(QueueError::Full(_)) => {
            state.pending.finish_silently(&id);
            return json(
                StatusCode::OK,
                &convert::inline_response(&Reply::text("The bot is busy; try again in a moment.").ephemeral()),
            );
        }
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let budget = tokio::time::sleep(state.budget);
    tokio::pin!(budget);
    tokio::select! {
        biased;
        result = &mut answer => return respond(result.ok()),
        _ = &mut done => {
            if state.pending.finish_silently(&id) {
                return json(StatusCode::OK, &convert::inline_response(&Reply::text("Done.").ephemeral()));
            }
        }
        _ = &mut budget => {
            if state.pending.defer_on_budget(&id) {
                return json(StatusCode::OK, &convert::deferred_response(false));
            }
        }
    }
    // An answer was handed over in the same instant: it is in the channel now.
    respond(answer.await.ok())
}

fn respond(answer: Option<Answer>) -> Response {
    match answer {
        Some(Answer::Message(reply)) => json(StatusCode::OK, &convert::inline_response(&reply)),
        Some(Answer::Defer { ephemeral }) => json(StatusCode::OK, &convert::deferred_response(ephemeral)),
        None => json(StatusCode::OK, &convert::deferred_response(false)),
    }
}
