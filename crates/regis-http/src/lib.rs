//! The one HTTP listener of a Regis process.
//!
//! Every HTTP feature (Discord's interactions, webhooks, health checks, metrics) is an axum
//! [`Router`](axum::Router) merged onto the one [`HttpServer`] of the process. The server is
//! built for an endpoint that anyone on the internet can reach:
//!
//! - a request's headers must arrive within [`HttpConfig::header_timeout`] of the connection
//!   opening or of its previous response (hyper's header read timeout, which is also the
//!   keep-alive idle timeout), or the connection is closed;
//! - at most [`HttpConfig::max_connections`] connections are open at once; at the cap, the
//!   oldest connection with no request in progress is closed to make room, and when every
//!   connection is busy the new one is closed at once (both logged and counted);
//! - request bodies are read through a [`BodyReader`]: a `Content-Length` over the route's limit
//!   is refused with 413 before any byte is read, the whole body must arrive within
//!   [`HttpConfig::body_timeout`], and all bodies being read at once together hold at most
//!   [`HttpConfig::body_memory`] bytes (503 beyond);
//! - a graceful shutdown stops accepting at once, closes idle and half-sent connections, lets
//!   requests in progress finish until the deadline, and cuts what is left.

mod body;
mod config;
mod connections;
mod health;
mod metrics;
mod server;

pub use body::{BodyError, BodyReader, ReadBody};
pub use config::{ConfigError, HttpConfig};
pub use health::{health_router, Check, ReadinessFuture};
pub use metrics::{Metrics, MetricsError};
pub use server::{HttpServer, HttpStats, ServeReport};
