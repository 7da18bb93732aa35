//! The error type plugin handlers return.

/// Any error a plugin handler returns. Its message is shown to the user who invoked the command
/// (prefixed with the command's name) and logged with the envelope id.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of plugin handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a handler's error is a refusal of what the user asked (not allowed, no such plugin,
/// a bad link code), the user's own mistake rather than a fault: answered as any error, but
/// logged at info level and not counted as a failure.
pub fn is_refusal(error: &Error) -> bool {
    use crate::ctx::CtxError;
    use crate::identities::LinkError;
    use crate::loader::PluginLoadError;
    matches!(
        error.downcast_ref::<CtxError>(),
        Some(CtxError::Refused(_) | CtxError::UnknownPlugin(_))
            | Some(CtxError::Load(
                PluginLoadError::NoSource
                    | PluginLoadError::Loaded(_)
                    | PluginLoadError::NotLoaded(_)
                    | PluginLoadError::Native(_)
            ))
            | Some(CtxError::Link(
                LinkError::UnknownCode
                    | LinkError::OwnCode
                    | LinkError::AlreadyLinked { .. }
                    | LinkError::HasLinks { .. }
                    | LinkError::NeedsOwner { .. }
            ))
    )
}

/// Whether a handler's error is of a service being unavailable for now (a chat service's 5xx
/// or transport failure, the database unreachable), so that the envelope is worth handling
/// again later, rather than of the request itself.
pub fn is_transient(error: &Error) -> bool {
    use crate::connector::ConnectorError;
    use crate::ctx::CtxError;
    use crate::storage::StorageError;
    let connector = |e: &ConnectorError| matches!(e, ConnectorError::Unavailable(_));
    if let Some(e) = error.downcast_ref::<CtxError>() {
        return match e {
            CtxError::Connector(e) => connector(e),
            CtxError::Storage(e) | CtxError::Link(crate::identities::LinkError::Storage(e)) => e.is_transient(),
            _ => false,
        };
    }
    if let Some(e) = error.downcast_ref::<ConnectorError>() {
        return connector(e);
    }
    error.downcast_ref::<StorageError>().is_some_and(StorageError::is_transient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::CtxError;

    #[test]
    fn refusals_are_told_from_faults() {
        let refused: Error = Box::new(CtxError::UnknownPlugin("nosuch".into()));
        assert!(is_refusal(&refused));
        let refused: Error = Box::new(CtxError::Link(crate::identities::LinkError::UnknownCode));
        assert!(is_refusal(&refused));
        let fault: Error = Box::new(CtxError::UnknownConnector("irc".into()));
        assert!(!is_refusal(&fault));
        let plain: Error = "something broke".into();
        assert!(!is_refusal(&plain));
    }
}
