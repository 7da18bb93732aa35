//! The error type plugin handlers return.

/// Any error a plugin handler returns. Its message is shown to the user who invoked the command
/// (prefixed with the command's name) and logged with the envelope id.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of plugin handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;
