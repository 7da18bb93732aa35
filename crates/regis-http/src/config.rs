//! The listener's settings, and the checks that refuse values that cannot work.

use std::net::SocketAddr;
use std::time::Duration;

/// How the HTTP listener treats its clients. The defaults suit an endpoint on the internet
/// that Discord calls: a real request arrives in milliseconds, so seconds are generous.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Time for a request's headers to arrive, counted from when the connection opens or its
    /// previous response was sent; a connection that stays idle longer is closed, so this is
    /// also the keep-alive idle timeout.
    pub header_timeout: Duration,
    /// Time for a request's whole body to arrive once its headers have.
    pub body_timeout: Duration,
    /// Connections open at once (kept below the process's file-descriptor limit).
    pub max_connections: usize,
    /// Bytes that all request bodies being read at once may hold together.
    pub body_memory: usize,
    /// Largest request head (request line and headers) in bytes; larger ones get 431.
    pub max_header_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            max_connections: 1024,
            body_memory: 64 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// A setting that cannot work; names the setting (as the configuration file spells it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A timeout of zero would close every connection at once.
    #[error("configuration key `{0}`: must be more than 0s")]
    ZeroTimeout(&'static str),
    /// A count or size that must be at least some minimum.
    #[error("configuration key `{key}`: must be at least {min}")]
    TooSmall {
        /// The setting.
        key: &'static str,
        /// Its smallest useful value.
        min: usize,
    },
}

/// hyper's smallest read buffer.
const MIN_HEADER_BYTES: usize = 8192;

impl HttpConfig {
    /// Refuses values that cannot work, naming the configuration key.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.header_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("http_header_timeout"));
        }
        if self.body_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("http_body_timeout"));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::TooSmall { key: "http_max_connections", min: 1 });
        }
        if self.body_memory < 1024 {
            return Err(ConfigError::TooSmall { key: "http_body_memory", min: 1024 });
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(ConfigError::TooSmall { key: "http_max_header_bytes", min: MIN_HEADER_BYTES });
        }
        Ok(())
    }

    /// The memory that clients can make the listener hold at most, beyond the process's own:
    /// every connection's header buffer full, and the body budget spent.
    pub fn memory_bound(&self) -> usize {
        self.max_connections.saturating_mul(self.max_header_bytes).saturating_add(self.body_memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_cannot_work_are_refused_by_key() {
        assert_eq!(HttpConfig::default().check(), Ok(()));
        let zero = HttpConfig { header_timeout: Duration::ZERO, ..HttpConfig::default() };
        assert_eq!(
            zero.check().unwrap_err().to_string(),
            "configuration key `http_header_timeout`: must be more than 0s"
        );
        let zero = HttpConfig { body_timeout: Duration::ZERO, ..HttpConfig::default() };
        assert_eq!(zero.check(), Err(ConfigError::ZeroTimeout("http_body_timeout")));
        let none = HttpConfig { max_connections: 0, ..HttpConfig::default() };
        assert_eq!(none.check(), Err(ConfigError::TooSmall { key: "http_max_connections", min: 1 }));
        let tiny = HttpConfig { max_header_bytes: 100, ..HttpConfig::default() };
        assert!(tiny.check().is_err());
        assert_eq!(HttpConfig::default().memory_bound(), 1024 * 16 * 1024 + 64 * 1024 * 1024);
    }
}
