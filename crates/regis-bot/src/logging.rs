//! The process's log: to standard error, filtered by `log` (or `RUST_LOG`), as readable lines
//! or, with `log_format = "json"`, one JSON object per line for log collectors. Either way
//! interaction and webhook tokens are redacted, and every line logged while an envelope is
//! handled carries its id (the `handling` span's `envelope` field).

use std::io::{IsTerminal, Write};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people (the default); coloured at a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`), `target`,
    /// and `span` (with `envelope`) for lines about an envelope.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not a log format: write \"text\" or \"json\"")),
        }
    }
}

/// Refuses a `log` value that is not a filter (`EnvFilter` would drop the bad parts and go on).
pub(crate) fn check_filter(filter: &str) -> anyhow::Result<()> {
    tracing_subscriber::EnvFilter::builder().parse(filter).map(drop).map_err(|e| {
        anyhow::anyhow!(
            "configuration key `log`: `{filter}` is not a log filter ({e}); write e.g. warn, info or regis=debug"
        )
    })
}

/// Installs the process's log (once; later calls change nothing). `filter` is used when it
/// was set (`set`: a flag, `REGIS_LOG` or the file); else `RUST_LOG`, if it parses, else
/// `filter` (the default).
pub(crate) fn init(filter: &str, set: bool, format: LogFormat) {
    let from_env = if set { None } else { tracing_subscriber::EnvFilter::try_from_default_env().ok() };
    let filter = from_env
        .or_else(|| tracing_subscriber::EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"));
    match format {
        LogFormat::Text => {
            // Interaction tokens are secrets too, and twilight-http names the request path
            // (which holds them) in its spans: every field is written through `redact_tokens`.
            use tracing_subscriber::field::MakeExt;
            let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                let value = regis_discord::redact_tokens(&format!("{value:?}"));
                if field.name() == "message" {
                    write!(writer, "{value}")
                } else {
                    write!(writer, "{field}={value}")
                }
            })
            .delimited(" ");
            // Colour only for a person at a terminal who did not ask for none (NO_COLOR, as
            // no-color.org has it: set and not empty): log files and collectors get plain text.
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::stderr().is_terminal() && !no_color)
                .fmt_fields(fields)
                .with_writer(std::io::stderr)
                .try_init();
        }
        LogFormat::Json => {
            let _ = tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(|| Redacting(std::io::stderr()))
                .try_init();
        }
    }
}

/// Writes each formatted line with its tokens redacted (the JSON formatter writes a line in
/// one call).
struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(regis_discord::redact_tokens(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
