//! Layered configuration: embedded defaults, then `regis.toml` (or `--config FILE`), then
//! `REGIS_*` environment variables, then command-line flags. Unknown keys and bad values are
//! errors that name the key.

use anyhow::{anyhow, bail, Context, Result};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use regis::{CoreConfig, Rank};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The settings file read when present and no `--config` is given.
pub const DEFAULT_FILE: &str = "regis.toml";

/// Where the HTTP listener serves when `http_addr` is not set.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// The `[irc]` table (`REGIS_IRC_*`): the IRC connection `regis run` makes when `server` is
/// set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IrcSettings {
    /// `host:port` of the IRC server; no IRC connection without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// TLS to the server.
    pub tls: bool,
    /// A PEM file of root certificates to trust beside the web's (a server with its own CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_roots: Option<PathBuf>,
    /// The nick to register (`nick_`, `nick__`, ... when it is taken).
    pub nick: String,
    /// Channels to join, `#name` or `#name key`.
    #[serde(deserialize_with = "list_or_csv")]
    pub channels: Vec<String>,
    /// Lines sent at once before flood control spaces them.
    pub flood_burst: u32,
    /// Lines per second after the burst (0 turns flood control off).
    pub flood_per_second: f64,
}

impl Default for IrcSettings {
    fn default() -> Self {
        IrcSettings {
            server: None,
            tls: false,
            tls_roots: None,
            nick: "Regis".into(),
            channels: Vec::new(),
            flood_burst: 5,
            flood_per_second: 2.0,
        }
    }
}

/// Limits of script plugins (`[scripts]`, `REGIS_SCRIPT_*`), and per plugin
/// (`[scripts.plugins.<name>]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptSettings {
    /// Lua VM instructions one call of a script (a command, a click, an event) may run.
    pub instructions: u64,
    /// Running time one call may spend in Lua code, e.g. `1s` (waiting does not count).
    pub time: String,
    /// Memory one script plugin's Lua state may hold, in bytes.
    pub memory: usize,
    /// Other limits for some plugins, by name; what they leave out is taken from above.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, ScriptLimits>,
}

/// One script plugin's own limits (`[scripts.plugins.<name>]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptLimits {
    /// As `scripts.instructions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    /// As `scripts.time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// As `scripts.memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<usize>,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        let limits = regis_lua::Limits::default();
        ScriptSettings {
            instructions: limits.instructions,
            time: humantime::format_duration(limits.time).to_string(),
            memory: limits.memory,
            plugins: BTreeMap::new(),
        }
    }
}

impl ScriptSettings {
    /// The limits of script plugin `name`.
    pub fn limits(&self, name: &str) -> Result<regis_lua::Limits> {
        let own = self.plugins.get(name).cloned().unwrap_or_default();
        let time = own.time.as_deref().unwrap_or(&self.time);
        let key = if own.time.is_some() { format!("scripts.plugins.{name}.time") } else { "scripts.time".into() };
        let time = humantime::parse_duration(time).with_context(|| {
            format!("configuration key `{key}`: `{time}` is not a duration (write e.g. 1s or 500ms)")
        })?;
        Ok(regis_lua::Limits {
            instructions: own.instructions.unwrap_or(self.instructions),
            time,
            memory: own.memory.unwrap_or(self.memory),
        })
    }
}

/// Every setting of the `regis` binary (see `regis.example.toml`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where plugin databases and uploads live.
    pub data_dir: PathBuf,
    /// Command prefix in messages.
    pub prefix: String,
    /// Whether command names in messages must be typed in lowercase (`!PING` is then unknown).
    pub case_sensitive_commands: bool,
    /// Owner identities, `connector:id` (rank 999).
    #[serde(deserialize_with = "list_or_csv")]
    pub owners: Vec<String>,
    /// Handler timeout, e.g. `30s`.
    pub handler_timeout: String,
    /// Worker pool size.
    pub workers: usize,
    /// In-process queue capacity.
    pub queue_capacity: usize,
    /// Grace period for in-flight handlers at shutdown, e.g. `10s`.
    pub shutdown_grace: String,
    /// How late a schedule's firing missed while the bot was down still runs (once), e.g. `15m`.
    pub schedule_grace: String,
    /// Log filter (tracing syntax), e.g. `warn` or `regis=debug`. `--log` > `REGIS_LOG` > the
    /// file > `RUST_LOG` > `warn`.
    pub log: String,
    /// Whether `log` was set (flag, `REGIS_LOG` or file) rather than left at its default; only
    /// then is `RUST_LOG` not consulted.
    #[serde(skip)]
    pub log_set: bool,
    /// How log lines are written: `text` (the default) or `json` (one object per line).
    pub log_format: String,
    /// Required-rank overrides by command name.
    pub command_ranks: BTreeMap<String, i64>,
    /// Where `/mando` keeps a copy of every image: `file:///dir`, `s3://bucket[/prefix]` or
    /// `gs://bucket[/prefix]` (credentials from the `AWS_*` / `GOOGLE_*` environment); none by
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_store_url: Option<String>,
    /// The http(s) address at which `object_store_url`'s location is served; archived images are
    /// then shown from `public_base_url/mandalas/<name>.png` instead of being attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_base_url: Option<String>,
    /// Where the HTTP listener serves (interactions, webhooks, health, `/metrics`); `regis
    /// run` and receivers listen on [`DEFAULT_HTTP_ADDR`] without it, `serve`'s other roles
    /// only when it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<String>,
    /// Discord's REST API base; point it at a rate-limit proxy or a test server.
    pub discord_api_url: String,
    /// Slash commands that require this rank or more, and declare no `discord_permissions` of
    /// their own, are registered for server administrators only (`default_member_permissions`
    /// "0"); 1000: none is.
    pub discord_admin_rank: i64,
    /// How long an interaction waits for its handler before answering "deferred" (Discord's
    /// deadline is 3 s).
    pub interaction_budget: String,
    /// With this many envelopes queued or being handled (JetStream's count, for `regis serve`),
    /// a receiver defers interactions at once instead of waiting out the budget; 0: never.
    pub interaction_defer_backlog: usize,
    /// Accepted distance of an interaction's signature timestamp from now (replay window).
    pub signature_window: String,
    /// Largest accepted interaction body, in bytes.
    pub body_limit: usize,
    /// Time for a request's headers to arrive on the HTTP listener (also the keep-alive idle
    /// timeout).
    pub http_header_timeout: String,
    /// Time for a request's whole body to arrive once its headers have.
    pub http_body_timeout: String,
    /// HTTP connections open at once.
    pub http_max_connections: usize,
    /// Bytes that all request bodies being read at once may hold together.
    pub http_body_memory: usize,
    /// The Discord Gateway URL (`wss://...`); none by default: the one `GET /gateway/bot` gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_gateway_url: Option<String>,
    /// How many shards (`64`), or which of them this process runs (`"0-15/64"`: shards 0 to
    /// 15 of 64, for gateway processes that split them); none by default: all of Discord's
    /// recommendation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_shards: Option<Shards>,
    /// The Gateway intents, by Discord's names.
    #[serde(deserialize_with = "list_or_csv")]
    pub discord_intents: Vec<String>,
    /// The queue of a scaled-out bot (`regis serve`): a NATS server, `nats://127.0.0.1:4222`,
    /// or Google Cloud Pub/Sub, `pubsub://PROJECT/TOPIC`; none: `regis run`'s in-process queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    /// Names the bot's stream, subjects, consumer and buckets on NATS, and its schemas on
    /// PostgreSQL, so several bots share one server.
    pub bot_name: String,
    /// The PostgreSQL database of a bot whose workers run in several processes,
    /// `postgres://user@host/db`; none: SQLite files under `data_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// How long a worker may hold a delivery without acknowledging it before JetStream gives
    /// it to another worker (long handlers extend it while they run), e.g. `30s`.
    pub queue_ack_wait: String,
    /// Deliveries of one envelope (a transient failure is retried) before it goes to the
    /// dead-letter subject.
    pub queue_max_deliver: u32,
    /// With a `pubsub://` queue: the worker's public URL of `POST /pubsub/push`
    /// (`https://worker-….run.app/pubsub/push`). Set, the worker is pushed to (Cloud Run's
    /// model); none, it pulls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubsub_push_endpoint: Option<String>,
    /// The service account whose OIDC token every push must carry (required when pushed to by
    /// Google; the emulator signs nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubsub_push_service_account: Option<String>,
    /// The audience of the pushes' OIDC tokens; by default the push endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubsub_push_audience: Option<String>,
    /// Where `trivia import` reads question files; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trivia_dir: Option<PathBuf>,
    /// Hints per trivia question before the answer is shown.
    pub trivia_hints: u32,
    /// Time from a trivia question to its first hint, between hints, and to the answer.
    pub trivia_hint_interval: String,
    /// What a right answer after the question was won gets: `tell` (the question is taken)
    /// or `ignore`.
    pub trivia_late_answers: String,
    /// Largest accepted webhook body, in bytes.
    pub webhook_body_limit: usize,
    /// The IRC connection (`[irc]`).
    #[serde(default)]
    pub irc: IrcSettings,
    /// Where script plugins (`*.lua`) are loaded from when the bot starts.
    pub plugins_dir: PathBuf,
    /// Limits of script plugins (`[scripts]`).
    #[serde(default)]
    pub scripts: ScriptSettings,
    /// Webhooks served at `POST /hooks/<plugin>/<name>`, by plugin and name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hooks: BTreeMap<String, BTreeMap<String, crate::hooks::HookSettings>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./regis-data"),
            prefix: "!".into(),
            case_sensitive_commands: false,
            owners: Vec::new(),
            handler_timeout: "30s".into(),
            workers: 32,
            queue_capacity: 10_000,
            shutdown_grace: "10s".into(),
            schedule_grace: "15m".into(),
            log: "warn".into(),
            log_set: false,
            log_format: "text".into(),
            command_ranks: BTreeMap::new(),
            object_store_url: None,
            public_base_url: None,
            http_addr: None,
            discord_api_url: "https://discord.com/api/v10".into(),
            discord_admin_rank: 999,
            interaction_budget: "2s".into(),
            interaction_defer_backlog: 1000,
            signature_window: "5m".into(),
            body_limit: 1024 * 1024,
            http_header_timeout: "5s".into(),
            http_body_timeout: "5s".into(),
            http_max_connections: 1024,
            http_body_memory: 64 * 1024 * 1024,
            discord_gateway_url: None,
            discord_shards: None,
            discord_intents: ["guilds", "guild_messages", "direct_messages", "message_content"]
                .map(String::from)
                .to_vec(),
            queue_url: None,
            bot_name: "regis".into(),
            database_url: None,
            queue_ack_wait: "30s".into(),
            queue_max_deliver: 5,
            pubsub_push_endpoint: None,
            pubsub_push_service_account: None,
            pubsub_push_audience: None,
            trivia_dir: None,
            trivia_hints: 3,
            trivia_hint_interval: "10s".into(),
            trivia_late_answers: "tell".into(),
            webhook_body_limit: 4 * 1024 * 1024,
            irc: IrcSettings::default(),
            plugins_dir: PathBuf::from("plugins"),
            scripts: ScriptSettings::default(),
            hooks: BTreeMap::new(),
        }
    }
}

/// `discord_shards`: a count, or a range of a count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Shards {
    /// All shards of this count.
    Count(u32),
    /// `first-last/total`.
    Range(String),
}

impl Shards {
    /// The total and the range run here (`None`: all).
    pub fn parse(&self) -> Result<(u32, Option<(u32, u32)>)> {
        let bad = |text: &str| {
            anyhow!("configuration key `discord_shards`: `{text}` is not a shard count (64) or range (0-15/64)")
        };
        let (total, range) = match self {
            Shards::Count(total) => (*total, None),
            Shards::Range(text) => match text.split_once('/') {
                None => (text.trim().parse().map_err(|_| bad(text))?, None),
                Some((range, total)) => {
                    let total: u32 = total.trim().parse().map_err(|_| bad(text))?;
                    let (first, last) = range.split_once('-').ok_or_else(|| bad(text))?;
                    let first: u32 = first.trim().parse().map_err(|_| bad(text))?;
                    let last: u32 = last.trim().parse().map_err(|_| bad(text))?;
                    (total, Some((first, last)))
                }
            },
        };
        if total == 0 {
            bail!("configuration key `discord_shards`: must be at least 1 (or unset: Discord's recommendation)");
        }
        if let Some((first, last)) = range {
            if first > last || last >= total {
                bail!(
                    "configuration key `discord_shards`: shards {first}-{last} are not within 0-{} of {total}",
                    total - 1
                );
            }
        }
        Ok((total, range))
    }
}

fn list_or_csv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(text) => text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    })
}

/// The layers a configuration is read from, each kept apart so that a value's source can be
/// told: the file, the `REGIS_*` environment, the flags.
pub struct Layers {
    file: Figment,
    file_path: Option<PathBuf>,
    env: Figment,
    flags: Figment,
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Nobody set it: the built-in default.
    Default,
    /// The configuration file, with the line when found.
    File {
        /// The file's name.
        name: String,
        /// The line that sets it (1-based).
        line: Option<usize>,
    },
    /// A `REGIS_*` environment variable.
    Environment(String),
    /// A command-line flag.
    Flag(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { name, line: Some(line) } => write!(f, "{name} line {line}"),
            Origin::File { name, line: None } => f.write_str(name),
            Origin::Environment(variable) => write!(f, "environment {variable}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

impl Layers {
    /// The layers of `file` (or `regis.toml` when present), the environment and `overrides`
    /// (the flags).
    pub fn read(file: Option<&Path>, overrides: Figment) -> Result<Layers> {
        let (file, file_path) = match file {
            Some(path) => {
                if !path.exists() {
                    bail!("configuration file {} does not exist", path.display());
                }
                (Figment::from(Toml::file(path)), Some(path.to_path_buf()))
            }
            None => {
                let path = Path::new(DEFAULT_FILE);
                (Figment::from(Toml::file(path)), path.exists().then(|| path.to_path_buf()))
            }
        };
        // Hook secrets (REGIS_HOOK_<PLUGIN>_<NAME>_SECRET) are read where the hooks are built.
        let env = Env::prefixed("REGIS_")
            .ignore(&["config"])
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                // The SASL password is a secret, read where the connection is made.
                !(key.starts_with("hook_") && key.ends_with("_secret")) && key != "irc_password"
            })
            // REGIS_IRC_SERVER is `server` of the `[irc]` table, REGIS_SCRIPT_MEMORY `memory`
            // of `[scripts]`.
            .map(|key| {
                let lower = key.as_str().to_ascii_lowercase();
                if let Some(rest) = lower.strip_prefix("irc_") {
                    format!("irc.{rest}").into()
                } else if let Some(rest) = lower.strip_prefix("script_") {
                    format!("scripts.{rest}").into()
                } else {
                    key.into()
                }
            });
        Ok(Layers { file, file_path, env: Figment::from(env), flags: overrides })
    }

    /// What the user set (file, environment, flags), without the defaults.
    fn user(&self) -> Figment {
        self.file.clone().merge(self.env.clone()).merge(self.flags.clone())
    }

    /// The settings: defaults < file < environment < flags, checked.
    pub fn settings(&self) -> Result<Settings> {
        let user = self.user();
        let log_set = user.find_value("log").is_ok();
        let figment = Figment::from(Serialized::defaults(Settings::default())).merge(user);
        let mut settings: Settings = figment.extract().map_err(|e| anyhow!(describe(e)))?;
        settings.log_set = log_set;
        settings.check()?;
        Ok(settings)
    }

    /// Where the value of `key` (dotted: `irc.nick`) comes from: the last layer that sets it.
    pub fn origin(&self, key: &str) -> Origin {
        if self.flags.find_value(key).is_ok() {
            return Origin::Flag(format!("--{}", key.replace('_', "-")));
        }
        if self.env.find_value(key).is_ok() {
            return Origin::Environment(env_variable(key));
        }
        match (&self.file_path, self.file.find_value(key)) {
            (Some(path), Ok(_)) => {
                let field = key.rsplit('.').next().unwrap_or(key);
                let (name, line) = file_line(path, field);
                Origin::File { name, line }
            }
            _ => Origin::Default,
        }
    }

    /// The configuration file read, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file_path.as_deref()
    }
}

/// Loads the settings: defaults < file < `REGIS_*` environment variables < `overrides` (flags).
pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Settings> {
    Layers::read(file, overrides)?.settings()
}

fn describe(errors: figment::Error) -> String {
    errors.into_iter().map(|e| describe_one(&e)).collect::<Vec<_>>().join("\n")
}

/// One configuration error, naming where the value came from: the file and line, or the
/// environment variable; an unknown key gets the closest real one.
fn describe_one(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let from_env = e.metadata.as_ref().is_some_and(|m| m.name.contains("environment"));
    if let figment::error::Kind::UnknownField(field, expected) = &e.kind {
        let hint = regis::suggest::closest(field, expected.iter().copied());
        let (what, hint) = if from_env {
            (format!("environment variable {}", env_variable(&key)), hint.map(|h| env_variable(&with_last(&key, h))))
        } else {
            (format!("configuration key `{key}`{}", source(e, field)), hint.map(|h| format!("`{h}`")))
        };
        return match hint {
            Some(hint) => format!("{what} is not a setting: did you mean {hint}?"),
            None => format!("{what} is not a setting (see regis.example.toml for every key)"),
        };
    }
    let source = if from_env {
        format!(" (from environment variable {})", env_variable(&key))
    } else {
        source(e, e.path.last().map_or("", String::as_str))
    };
    if key.is_empty() {
        format!("configuration: {}{source}", e.kind)
    } else {
        format!("configuration key `{key}`: {}{source}", e.kind)
    }
}

/// The environment variable of a dotted key: `irc.nick` is `REGIS_IRC_NICK`.
fn env_variable(key: &str) -> String {
    // `[scripts]` is read from REGIS_SCRIPT_*.
    let key = key.strip_prefix("scripts.").map_or_else(|| key.to_string(), |rest| format!("script.{rest}"));
    format!("REGIS_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// `a.b.c` with its last part replaced by `last`.
fn with_last(key: &str, last: &str) -> String {
    match key.rsplit_once('.') {
        Some((head, _)) => format!("{head}.{last}"),
        None => last.to_string(),
    }
}

/// ` (regis.toml line 3)` for a value from a file (the line where `field` is set, if found),
/// ` (from NAME)` for another source.
fn source(e: &figment::Error, field: &str) -> String {
    let Some(metadata) = &e.metadata else { return String::new() };
    let Some(figment::Source::File(path)) = &metadata.source else {
        return format!(" (from {})", metadata.name);
    };
    match file_line(path, field) {
        (name, Some(line)) => format!(" ({name} line {line})"),
        (name, None) => format!(" ({name})"),
    }
}

/// The file's name, and the first line of it that sets `field` (1-based), if any.
fn file_line(path: &Path, field: &str) -> (String, Option<usize>) {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let set_here = |line: &str| {
        let line = line.trim_start().trim_start_matches('"');
        line.strip_prefix(field).is_some_and(|rest| rest.trim_start_matches('"').trim_start().starts_with('='))
    };
    (name, text.lines().position(set_here).map(|index| index + 1))
}

fn duration(key: &str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text)
        .with_context(|| format!("configuration key `{key}`: `{text}` is not a duration (write e.g. 30s, 2m, 500ms)"))
}

/// A duration that must be more than zero (zero cannot work: every command would time out,
/// every signature would be stale).
fn positive(key: &str, text: &str) -> Result<Duration> {
    let value = duration(key, text)?;
    if value.is_zero() {
        bail!("configuration key `{key}`: must be more than 0s, got `{text}`");
    }
    Ok(value)
}

impl Settings {
    /// The settings a configuration file of this text gives on their own (no environment, no
    /// flags), checked as a start checks them: for tools and tests that check a configuration
    /// they did not read from disk.
    pub fn from_toml(text: &str) -> Result<Settings> {
        let figment = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(text));
        let settings: Settings = figment.extract().map_err(|e| anyhow!(describe(e)))?;
        settings.check()?;
        Ok(settings)
    }

    /// The trivia plugin's settings.
    pub fn trivia(&self) -> Result<regis_plugin_trivia::TriviaConfig> {
        let late_answers = match self.trivia_late_answers.as_str() {
            "tell" => regis_plugin_trivia::LateAnswers::Tell,
            "ignore" => regis_plugin_trivia::LateAnswers::Ignore,
            other => bail!("configuration key `trivia_late_answers`: `{other}` is neither `tell` nor `ignore`"),
        };
        if !(1..=10).contains(&self.trivia_hints) {
            bail!("configuration key `trivia_hints`: must be 1 to 10, got {}", self.trivia_hints);
        }
        Ok(regis_plugin_trivia::TriviaConfig {
            hints: self.trivia_hints,
            hint_interval: positive("trivia_hint_interval", &self.trivia_hint_interval)?,
            late_answers,
            dir: self.trivia_dir.clone(),
            ..regis_plugin_trivia::TriviaConfig::default()
        })
    }

    /// Whether `queue_url` names Google Cloud Pub/Sub (`pubsub://`) rather than NATS.
    pub fn queue_on_pubsub(&self) -> bool {
        self.queue_url.as_deref().is_some_and(|q| q.starts_with("pubsub:"))
    }

    /// A duration setting, with the key named in the error.
    pub fn duration(&self, key: &str, text: &str) -> Result<Duration> {
        duration(key, text)
    }

    fn check(&self) -> Result<()> {
        positive("handler_timeout", &self.handler_timeout)?;
        duration("shutdown_grace", &self.shutdown_grace)?;
        duration("schedule_grace", &self.schedule_grace)?;
        self.log_format()?;
        crate::logging::check_filter(&self.log)?;
        self.irc()?;
        let budget = duration("interaction_budget", &self.interaction_budget)?;
        if budget >= Duration::from_secs(3) {
            bail!(
                "configuration key `interaction_budget`: {} is not below Discord's 3 s deadline",
                self.interaction_budget
            );
        }
        positive("signature_window", &self.signature_window)?;
        if self.body_limit == 0 {
            bail!("configuration key `body_limit`: must be at least 1 byte");
        }
        self.http()?.check()?;
        if self.http_addr().parse::<std::net::SocketAddr>().is_err() {
            bail!("configuration key `http_addr`: `{}` is not an address like 127.0.0.1:8080", self.http_addr());
        }
        if self.workers == 0 {
            bail!("configuration key `workers`: must be at least 1");
        }
        regis_discord::gateway::parse_intents(&self.discord_intents).context("configuration key `discord_intents`")?;
        if let Some(shards) = &self.discord_shards {
            shards.parse()?;
        }
        if let Some(url) = &self.discord_gateway_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "ws" | "wss") => {}
                _ => bail!("configuration key `discord_gateway_url`: `{url}` is not a ws:// or wss:// URL"),
            }
        }
        if !regis::envelope::is_connector_name(&self.bot_name) {
            bail!(
                "configuration key `bot_name`: `{}` must be 1-32 characters of lowercase letters, digits, `-` and `_`",
                self.bot_name
            );
        }
        if let Some(queue) = &self.queue_url {
            match url::Url::parse(queue) {
                Ok(u) if matches!(u.scheme(), "nats" | "tls") => {}
                Ok(u) if u.scheme() == "pubsub" => {
                    regis_pubsub::PubSubConfig::from_url(queue)
                        .map_err(|e| anyhow::anyhow!("configuration key `queue_url`: {e}"))?;
                }
                _ => bail!(
                    "configuration key `queue_url`: `{queue}` is neither a nats:// nor a pubsub:// URL (write e.g. \
                     nats://127.0.0.1:4222 or pubsub://my-project/regis)"
                ),
            }
        }
        let on_pubsub = self.queue_on_pubsub();
        let push_keys = [
            ("pubsub_push_endpoint", &self.pubsub_push_endpoint),
            ("pubsub_push_service_account", &self.pubsub_push_service_account),
            ("pubsub_push_audience", &self.pubsub_push_audience),
        ];
        if let Some((key, _)) = push_keys.iter().find(|(_, value)| value.is_some()).filter(|_| !on_pubsub) {
            bail!("configuration key `{key}` applies to a Pub/Sub queue only (queue_url = \"pubsub://PROJECT/TOPIC\")");
        }
        if let Some(endpoint) = self.pubsub_push_endpoint.as_deref() {
            match url::Url::parse(endpoint) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => bail!(
                    "configuration key `pubsub_push_endpoint`: `{endpoint}` is not an http(s) URL (write the worker's \
                     public URL of /pubsub/push, e.g. https://regis-worker-123.us-central1.run.app/pubsub/push)"
                ),
            }
        }
        if let Some(database) = &self.database_url {
            match url::Url::parse(database) {
                Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => {}
                _ => bail!("configuration key `database_url`: not a postgres:// URL (write e.g. postgres://regis@127.0.0.1/regis)"),
            }
        }
        positive("queue_ack_wait", &self.queue_ack_wait)?;
        self.trivia()?;
        if self.queue_max_deliver == 0 {
            bail!("configuration key `queue_max_deliver`: must be at least 1");
        }
        if self.queue_capacity == 0 {
            bail!("configuration key `queue_capacity`: must be at least 1");
        }
        if self.prefix.is_empty() || self.prefix.chars().any(char::is_whitespace) {
            bail!("configuration key `prefix`: `{}` must be non-empty and without spaces", self.prefix);
        }
        for owner in &self.owners {
            match owner.split_once(':') {
                Some((connector, id)) if !connector.is_empty() && !id.is_empty() => {}
                _ => bail!("configuration key `owners`: `{owner}` must be written connector:id, e.g. console:alice or discord:80351110224678912"),
            }
        }
        for (command, rank) in &self.command_ranks {
            Rank::new(*rank).with_context(|| format!("configuration key `command_ranks.{command}`"))?;
        }
        self.scripts.limits("")?;
        for name in self.scripts.plugins.keys() {
            self.scripts.limits(name)?;
        }
        if !(0..=1000).contains(&self.discord_admin_rank) {
            bail!(
                "configuration key `discord_admin_rank`: {} is not a rank from 0 to 999 (or 1000: no command is for administrators only)",
                self.discord_admin_rank
            );
        }
        if let Some(store) = &self.object_store_url {
            url::Url::parse(store).with_context(|| {
                format!("configuration key `object_store_url`: `{store}` is not a URL (write e.g. s3://bucket or file:///srv/mandalas)")
            })?;
        }
        if let Some(public) = &self.public_base_url {
            if self.object_store_url.is_none() {
                bail!("configuration key `public_base_url`: needs `object_store_url`, where the images are stored");
            }
            match url::Url::parse(public) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => bail!("configuration key `public_base_url`: `{public}` is not an http(s) URL"),
            }
        }
        Ok(())
    }

    /// The rank from which slash commands are offered to server administrators only
    /// (`discord_admin_rank`); `None` for 1000, no command.
    pub fn discord_admin_rank(&self) -> Option<Rank> {
        Rank::new(self.discord_admin_rank).ok()
    }

    /// The IRC connection to make, if `[irc] server` is set.
    pub fn irc(&self) -> Result<Option<regis_irc::IrcConfig>> {
        let Some(server) = &self.irc.server else { return Ok(None) };
        let password = match std::env::var("REGIS_IRC_PASSWORD") {
            Ok(password) if password.is_empty() => bail!("REGIS_IRC_PASSWORD is set but empty"),
            Ok(password) => Some(password),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => bail!("REGIS_IRC_PASSWORD is not UTF-8"),
        };
        if server.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
            bail!("configuration key `irc.server`: `{server}` is not `host:port`");
        }
        let nick = &self.irc.nick;
        if nick.is_empty() || nick.contains([' ', ',', '*', '?', '!', '@', '#', ':']) {
            bail!("configuration key `irc.nick`: `{nick}` is not an IRC nick");
        }
        let mut config = regis_irc::IrcConfig::new(server.clone(), nick.clone());
        config.tls = self.irc.tls;
        config.tls_roots = self.irc.tls_roots.clone();
        config.channels = self.irc.channels.clone();
        config.flood_burst = self.irc.flood_burst;
        config.flood_per_second = self.irc.flood_per_second.max(0.0);
        // The services account is the nick's (SASL PLAIN, authcid = authzid).
        config.sasl = password.map(|password| regis_irc::Sasl { account: nick.clone(), password });
        Ok(Some(config))
    }

    /// The log format.
    pub fn log_format(&self) -> Result<crate::logging::LogFormat> {
        self.log_format.parse().map_err(|e: String| anyhow::anyhow!("configuration key `log_format`: {e}"))
    }

    /// The HTTP listener's address: `http_addr`, else [`DEFAULT_HTTP_ADDR`].
    pub fn http_addr(&self) -> &str {
        self.http_addr.as_deref().unwrap_or(DEFAULT_HTTP_ADDR)
    }

    /// The HTTP listener's configuration.
    pub fn http(&self) -> Result<regis_http::HttpConfig> {
        Ok(regis_http::HttpConfig {
            addr: self.http_addr().parse().with_context(|| {
                format!("configuration key `http_addr`: `{}` is not an address like 127.0.0.1:8080", self.http_addr())
            })?,
            header_timeout: duration("http_header_timeout", &self.http_header_timeout)?,
            body_timeout: duration("http_body_timeout", &self.http_body_timeout)?,
            max_connections: self.http_max_connections,
            body_memory: self.http_body_memory,
            ..regis_http::HttpConfig::default()
        })
    }

    /// The core's configuration.
    pub fn core(&self) -> Result<CoreConfig> {
        let mut command_ranks = HashMap::new();
        for (command, rank) in &self.command_ranks {
            command_ranks.insert(command.clone(), Rank::new(*rank)?);
        }
        Ok(CoreConfig {
            prefix: self.prefix.clone(),
            case_sensitive_commands: self.case_sensitive_commands,
            owners: self.owners.clone(),
            handler_timeout: duration("handler_timeout", &self.handler_timeout)?,
            workers: self.workers,
            queue_capacity: self.queue_capacity,
            shutdown_grace: duration("shutdown_grace", &self.shutdown_grace)?,
            schedule_grace: duration("schedule_grace", &self.schedule_grace)?,
            command_ranks,
            ..CoreConfig::default()
        })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    fn flags(pairs: &[(&str, &str)]) -> Figment {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        Figment::from(Serialized::defaults(map))
    }

    #[test]
    fn defaults_file_env_and_flags_layer_in_order() {
        Jail::expect_with(|jail| {
            let s = load(None, Figment::new()).map_err(|e| e.to_string())?;
            assert_eq!(s, Settings::default());
            jail.create_file(DEFAULT_FILE, "prefix = \"?\"\nworkers = 4\nowners = [\"console:ann\"]\n")?;
            let s = load(None, Figment::new()).map_err(|e| e.to_string())?;
            assert_eq!((s.prefix.as_str(), s.workers, s.owners.clone()), ("?", 4, vec!["console:ann".to_string()]));
            jail.set_env("REGIS_WORKERS", "8");
            jail.set_env("REGIS_OWNERS", "console:bob, discord:42");
            let s = load(None, Figment::new()).map_err(|e| e.to_string())?;
            assert_eq!(s.workers, 8);
            assert_eq!(s.owners, vec!["console:bob", "discord:42"]);
            let s = load(None, flags(&[("prefix", "$")])).map_err(|e| e.to_string())?;
            assert_eq!(s.prefix, "$");
            let core = s.core().map_err(|e| e.to_string())?;
            assert_eq!(core.handler_timeout, Duration::from_secs(30));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "workerz = 3\n")?;
            let err = load(Some(Path::new("bad.toml")), Figment::new()).unwrap_err().to_string();
            assert_eq!(err, "configuration key `workerz` (bad.toml line 1) is not a setting: did you mean `workers`?");
            let err = load(Some(Path::new("missing.toml")), Figment::new()).unwrap_err().to_string();
            assert!(err.contains("missing.toml does not exist"), "{err}");
            jail.set_env("REGIS_WORKERS", "many");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.starts_with("configuration key `workers`"), "{err}");
            jail.set_env("REGIS_WORKERS", "2");
            jail.set_env("REGIS_OWNERS", "alice");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.contains("`owners`: `alice` must be written connector:id"), "{err}");
            jail.set_env("REGIS_OWNERS", "");
            jail.set_env("REGIS_PUBLIC_BASE_URL", "https://cdn.example");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.contains("`public_base_url`: needs `object_store_url`"), "{err}");
            jail.set_env("REGIS_OBJECT_STORE_URL", "bucket");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.contains("`object_store_url`: `bucket` is not a URL"), "{err}");
            jail.set_env("REGIS_OBJECT_STORE_URL", "s3://bucket");
            jail.set_env("REGIS_PUBLIC_BASE_URL", "cdn.example");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.contains("`public_base_url`: `cdn.example` is not an http(s) URL"), "{err}");
            jail.set_env("REGIS_PUBLIC_BASE_URL", "https://bucket.s3.amazonaws.com");
            let s = load(None, Figment::new()).map_err(|e| e.to_string())?;
            assert_eq!(s.object_store_url.as_deref(), Some("s3://bucket"));
            assert_eq!(s.public_base_url.as_deref(), Some("https://bucket.s3.amazonaws.com"));
            jail.set_env("REGIS_DISCORD_INTENTS", "guilds, guild_messages");
            let s = load(None, Figment::new()).map_err(|e| e.to_string())?;
            assert_eq!(s.discord_intents, ["guilds", "guild_messages"]);
            jail.set_env("REGIS_DISCORD_INTENTS", "guilds,guild_mesages");
            let err = format!("{:#}", load(None, Figment::new()).unwrap_err());
            assert!(err.contains("`discord_intents`") && err.contains("guild_mesages"), "{err}");
            jail.set_env("REGIS_DISCORD_INTENTS", "guilds");
            jail.set_env("REGIS_DISCORD_GATEWAY_URL", "https://gateway.discord.gg");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.contains("`discord_gateway_url`"), "{err}");
            jail.set_env("REGIS_DISCORD_GATEWAY_URL", "wss://gateway.discord.gg");
            jail.set_env("REGIS_DISCORD_SHARDS", "0");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.contains("`discord_shards`"), "{err}");
            jail.set_env("REGIS_DISCORD_SHARDS", "4");
            let s = load(None, Figment::new()).map_err(|e| e.to_string())?;
            assert_eq!(
                (s.discord_shards, s.discord_gateway_url.as_deref()),
                (Some(Shards::Count(4)), Some("wss://gateway.discord.gg"))
            );
            jail.set_env("REGIS_DISCORD_SHARDS", "16-31/64");
            let s = load(None, Figment::new()).map_err(|e| e.to_string())?;
            assert_eq!(s.discord_shards.map(|s| s.parse().unwrap()), Some((64, Some((16, 31)))));
            for bad in ["16-64/64", "9-3/64", "0-3", "a-b/c", "0-1/0"] {
                jail.set_env("REGIS_DISCORD_SHARDS", bad);
                let err = load(None, Figment::new()).unwrap_err().to_string();
                assert!(err.contains("`discord_shards`"), "{bad}: {err}");
            }
            jail.set_env("REGIS_DISCORD_SHARDS", "4");
            jail.set_env("REGIS_HANDLER_TIMEOUT", "0s");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert_eq!(err, "configuration key `handler_timeout`: must be more than 0s, got `0s`");
            jail.set_env("REGIS_HANDLER_TIMEOUT", "30s");
            jail.set_env("REGIS_SIGNATURE_WINDOW", "0ms");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.starts_with("configuration key `signature_window`: must be more than 0s"), "{err}");
            jail.set_env("REGIS_SIGNATURE_WINDOW", "5m");
            jail.set_env("REGIS_HTTP_HEADER_TIMEOUT", "0s");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert_eq!(err, "configuration key `http_header_timeout`: must be more than 0s");
            jail.set_env("REGIS_HTTP_HEADER_TIMEOUT", "5s");
            jail.set_env("REGIS_HTTP_MAX_CONNECTIONS", "0");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert_eq!(err, "configuration key `http_max_connections`: must be at least 1");
            jail.set_env("REGIS_HTTP_MAX_CONNECTIONS", "100");
            jail.set_env("REGIS_SHUTDOWN_GRACE", "a while");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.contains("`shutdown_grace`: `a while` is not a duration"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_or_unknown_setting_names_its_file_line_or_variable_and_the_closest_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("REGIS_WORKRES", "4");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert_eq!(err, "environment variable REGIS_WORKRES is not a setting: did you mean REGIS_WORKERS?");
            jail.set_env("REGIS_WORKRES", "");
            std::env::remove_var("REGIS_WORKRES");
            jail.set_env("REGIS_IRC_NIK", "Ops");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert_eq!(err, "environment variable REGIS_IRC_NIK is not a setting: did you mean REGIS_IRC_NICK?");
            std::env::remove_var("REGIS_IRC_NIK");
            jail.create_file("regis.toml", "prefix = \"?\"\n\nworkers = \"lots\"\n")?;
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.starts_with("configuration key `workers`: invalid type"), "{err}");
            assert!(err.ends_with(" (regis.toml line 3)"), "{err}");
            jail.create_file("regis.toml", "prefix = \"?\"\nhandler_timeot = \"5s\"\n")?;
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert_eq!(
                err,
                "configuration key `handler_timeot` (regis.toml line 2) is not a setting: did you mean `handler_timeout`?"
            );
            Ok(())
        });
    }

    #[test]
    fn a_log_filter_set_anywhere_is_checked_and_keeps_rust_log_out() {
        figment::Jail::expect_with(|jail| {
            assert!(!load(None, Figment::new()).unwrap().log_set, "the default: RUST_LOG may say");
            jail.create_file("regis.toml", "log = \"info\"\n")?;
            assert!(load(None, Figment::new()).unwrap().log_set, "set in the file");
            jail.create_file("regis.toml", "")?;
            let flag = Figment::from(Serialized::defaults(serde_json::json!({ "log": "debug" })));
            let settings = load(None, flag).unwrap();
            assert!(settings.log_set && settings.log == "debug", "a flag");
            jail.set_env("REGIS_LOG", "regis=debug,nonsense=[");
            let err = load(None, Figment::new()).unwrap_err().to_string();
            assert!(err.starts_with("configuration key `log`: `regis=debug,nonsense=[` is not a log filter"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_irc_password_is_a_sasl_login_as_the_nick_and_never_shown() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("REGIS_IRC_SERVER", "127.0.0.1:6667");
            jail.set_env("REGIS_IRC_NICK", "Ops");
            let irc = load(None, Figment::new()).unwrap().irc().unwrap().unwrap();
            assert!(irc.sasl.is_none(), "no password, no login");
            jail.set_env("REGIS_IRC_PASSWORD", "hunter2");
            let settings = load(None, Figment::new()).unwrap();
            assert!(!format!("{settings:?}").contains("hunter2"), "not a setting");
            let irc = settings.irc().unwrap().unwrap();
            let sasl = irc.sasl.as_ref().expect("a SASL login");
            assert_eq!((sasl.account.as_str(), sasl.password.as_str()), ("Ops", "hunter2"));
            assert!(!format!("{irc:?}").contains("hunter2"));
            Ok(())
        });
    }

    #[test]
    fn example_file_is_valid_and_complete() {
        let example = include_str!("../../../regis.example.toml");
        let parsed: Settings = Figment::from(Toml::string(example)).extract().expect("example parses");
        parsed.check().expect("example values are valid");
        for key in [
            "webhook_body_limit",
            "trivia_hints",
            "trivia_hint_interval",
            "trivia_late_answers",
            "data_dir",
            "prefix",
            "owners",
            "handler_timeout",
            "workers",
            "queue_capacity",
            "case_sensitive_commands",
            "http_addr",
            "discord_api_url",
            "discord_admin_rank",
            "interaction_budget",
            "signature_window",
            "body_limit",
            "http_header_timeout",
            "http_body_timeout",
            "http_max_connections",
            "http_body_memory",
            "shutdown_grace",
            "schedule_grace",
            "log",
            "log_format",
            "irc",
            "plugins_dir",
            "scripts",
            "command_ranks",
            "object_store_url",
            "public_base_url",
            "discord_gateway_url",
            "discord_shards",
            "discord_intents",
        ] {
            assert!(
                example.contains(&format!("{key} =")) || example.contains(&format!("[{key}]")),
                "example lacks {key}"
            );
        }
    }
}
