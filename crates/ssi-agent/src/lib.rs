//! The on-device agent of Simple Sign-In (DESIGN.md sections 3, 4, 7): the system
//! service that apps reach through their own Unix sockets.
//!
//! - [`socket`]: the app-socket protocol (docs/app-protocol.md) on one socket per
//!   installed app; the app is known from its socket (and peer uid), never from
//!   the message.
//! - [`flows`]: the seed's four methods ([`flows::Agent`]): manifest privileges,
//!   validation, consent cool-down, `DUPLICATE_REQUEST`, calls to the server's
//!   device API ([`server`]) and the screens ([`screens`]).
//! - [`store`] and [`outbox`]: the durable state (SQLite) and the delivery of
//!   metric events and consent denials, exactly once.
//! - [`register`] and [`credential`]: RFC 8628 device registration.
//! - [`run`]: everything together until shutdown.
//!
//! The agent never depends on the server crate: they meet only through
//! `ssi-proto` (the server is a dev-dependency of the tests).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod credential;
pub mod flows;
pub mod manifest;
pub mod outbox;
pub mod register;
pub mod run;
pub mod screens;
pub mod server;
pub mod socket;
pub mod store;

pub use config::AgentConfig;
pub use flows::Agent;
