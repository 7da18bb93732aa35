//! The built-in admin plugin: `help`, `ping`, `rank`, `rank set`, `ban`, `unban`, `plugins`,
//! `plugin enable`, `plugin disable`. It is defined in `regis-core` (so that the test kit can
//! include it without depending upward); this crate keeps its name for bots that add it.

pub use regis_core::admin::Admin;
