//! The composition root: configuration, TLS, the wiring of the node's services, console
//! commands ([`console`]) and shutdown.
//!
//! Tests and the binary start a node the same way: bind a listener, then [`run`] (or
//! [`start`] to get the node's addresses and handles back).

pub mod config;
pub mod connections;
pub mod console;
pub mod datadir;
pub mod downtime;
pub mod error;
pub mod secret;
pub mod server;
pub mod services;
pub mod tls;

pub use config::Config;
pub use error::Error;
pub use secret::Secret;
pub use server::{run, start, Listeners, Node};
pub use services::Services;
