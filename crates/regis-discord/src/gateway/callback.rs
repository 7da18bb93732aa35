//! Interactions that arrive over the Gateway (INTERACTION_CREATE: slash commands, message
//! components, autocomplete): the same envelopes and the same deadline rule as the HTTP
//! endpoint ([`first_response`]), with the first response delivered through
//! `POST /interactions/{id}/{token}/callback`. Later replies edit
//! `@original` or follow up through the shared [`DiscordConnector`](crate::DiscordConnector).

use super::connector::{close, Gates, Phase};
use crate::convert;
use crate::interactions::{first_response, FirstResponse};
use crate::rest::DiscordConnector;
use regis_core::Ingress;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twilight_http::error::ErrorType;
use twilight_model::application::interaction::{Interaction, InteractionType};
use twilight_model::http::interaction::InteractionResponse;
use twilight_model::id::marker::ApplicationMarker;
use twilight_model::id::Id;

/// Discord's deadline for the first response to an interaction.
pub(crate) const DEADLINE: Duration = Duration::from_secs(3);

/// What answering an interaction needs.
pub(crate) struct Answerer {
    pub(crate) rest: Arc<DiscordConnector>,
    pub(crate) gates: Arc<Gates>,
    pub(crate) ingress: Ingress,
    pub(crate) budget: Duration,
}

impl Answerer {
    /// Answers one interaction: queues its envelope, waits for the first response under the
    /// budget, and posts it to the callback endpoint. Interaction types the bot does not
    /// handle (modal submissions: it opens none) are logged and left.
    pub(crate) async fn answer(&self, interaction: Interaction) {
        let received = Instant::now();
        let to_envelope = match interaction.kind {
            InteractionType::ApplicationCommand => convert::command_envelope,
            InteractionType::MessageComponent => convert::component_envelope,
            InteractionType::ApplicationCommandAutocomplete => convert::autocomplete_envelope,
            other => {
                tracing::debug!(interaction = %interaction.id, kind = ?other, "interaction type not handled");
                return;
            }
        };
        let envelope = match to_envelope(&interaction, regis_core::envelope::now_ms()) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(interaction = %interaction.id, error = %e, "cannot handle interaction");
                return;
            }
        };
        let id = envelope.id.clone();
        let gate = self.gates.open(&id);
        // Shortly before the budget ends the gate closes, so that a reply racing the deferral
        // waits for the callback instead of editing a response Discord does not know yet.
        let margin = (self.budget / 4).min(Duration::from_millis(100));
        let closer = {
            let gate = Arc::clone(&gate);
            let at = self.budget.saturating_sub(margin);
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                close(&gate);
            })
        };
        let first = first_response(&self.rest.pending(), &self.ingress, envelope, self.budget).await;
        closer.abort();
        close(&gate);
        crate::interactions::count_answer("gateway", crate::interactions::answer_label(&first));
        let response = match first {
            FirstResponse::Message(reply) => convert::inline_response(&reply),
            FirstResponse::Deferred { ephemeral } => convert::deferred_response(ephemeral),
            FirstResponse::Suggestions(choices) => convert::suggestions_response(&choices),
            // Nothing was queued: say so rather than let the interaction fail silently.
            FirstResponse::Unavailable => convert::inline_response(&regis_core::Reply::text(super::BUSY).ephemeral()),
            FirstResponse::Closed | FirstResponse::Duplicate => {
                gate.send_replace(Phase::Done(false));
                self.gates.remove(&id);
                return;
            }
        };
        let delivered = match serde_json::from_value::<InteractionResponse>(response) {
            Ok(response) => self.callback(&interaction, &response, received + DEADLINE).await,
            Err(e) => {
                tracing::error!(interaction = %interaction.id, error = %e, "cannot build the interaction response");
                false
            }
        };
        gate.send_replace(Phase::Done(delivered));
        self.gates.remove(&id);
    }

    /// Posts the callback, retrying 5xx and transport failures until the deadline (429s wait
    /// in twilight's rate limiter). True once Discord took it.
    async fn callback(&self, interaction: &Interaction, response: &InteractionResponse, deadline: Instant) -> bool {
        let app: Id<ApplicationMarker> = interaction.application_id;
        let mut backoff = Duration::from_millis(50);
        loop {
            let client = self.rest.http().interaction(app);
            let request = client.create_response(interaction.id, &interaction.token, response);
            let left = deadline.saturating_duration_since(Instant::now());
            let error = match tokio::time::timeout(left, request).await {
                Ok(Ok(_)) => return true,
                Ok(Err(error)) => error,
                Err(_) => {
                    tracing::warn!(interaction = %interaction.id, "interaction callback missed Discord's 3 s deadline");
                    return false;
                }
            };
            let retry = match error.kind() {
                ErrorType::Response { status, .. } => status.get() >= 500,
                ErrorType::RequestError | ErrorType::RequestTimedOut => true,
                _ => false,
            };
            if !retry || Instant::now() + backoff >= deadline {
                tracing::warn!(interaction = %interaction.id, error = %error, "interaction callback failed");
                return false;
            }
            tracing::info!(interaction = %interaction.id, error = %error, "retrying interaction callback");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}
