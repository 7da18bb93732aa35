//! Secrets come from the environment only: a command-line flag would show them to every user
//! of the machine in the process list.

use anyhow::{bail, Result};

/// Discord's credentials, read from `DISCORD_PUBLIC_KEY`, `DISCORD_TOKEN` and
/// `DISCORD_APPLICATION_ID`.
#[derive(Default)]
pub struct DiscordSecrets {
    /// The application's public key (hex); enables the HTTP interactions endpoint.
    pub public_key: Option<String>,
    /// The bot token; connects to the Gateway and enables REST calls beyond interaction
    /// responses.
    pub token: Option<String>,
    /// The application's id (not a secret, but kept beside them); for `commands sync`.
    pub application_id: Option<String>,
}

impl std::fmt::Debug for DiscordSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| "<set>");
        f.debug_struct("DiscordSecrets")
            .field("public_key", &shown(&self.public_key))
            .field("token", &shown(&self.token))
            .field("application_id", &self.application_id)
            .finish()
    }
}

/// One variable: unset or empty is `None`; a value that is not UTF-8 is an error naming it.
fn variable(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_string())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("environment variable {name} is not valid UTF-8"),
    }
}

impl DiscordSecrets {
    /// Reads them from the environment.
    pub fn from_env() -> Result<Self> {
        Ok(DiscordSecrets {
            public_key: variable("DISCORD_PUBLIC_KEY")?,
            token: variable("DISCORD_TOKEN")?,
            application_id: variable("DISCORD_APPLICATION_ID")?,
        })
    }
}
