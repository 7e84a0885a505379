//! A sample Simple Sign-In partner, as an app developer would write one: the
//! thing `ssi up` runs next to the platform so that a newcomer can see every
//! party of DESIGN.md section 3 at work.
//!
//! - [`backend`]: the partner's own server. It has its own users and
//!   passwords, signs them in by hand, issues link tokens and sealed link
//!   signing keys (with the partner library, `ssi-token`), and signs a user in
//!   from an SSI token after verifying it (the ten steps, with a replay store).
//! - [`wire`]: the JSON the sample app and its backend exchange. It is the
//!   sample's own API, not the platform's: a real partner has its own.
//!
//! Time and randomness come in as parameters ([`Clock`], [`ssi_token::Random`]):
//! nothing here reads the wall clock.
#![forbid(unsafe_code)]

pub mod backend;
pub mod wire;

/// The current time, in Unix seconds.
pub trait Clock: Send + Sync {
    fn now_secs(&self) -> i64;
}
