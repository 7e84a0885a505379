//! A sample Simple Sign-In partner, as an app developer would write one: the
//! thing `ssi up` runs next to the platform so that a newcomer can see every
//! party of DESIGN.md section 3 at work.
//!
//! - [`backend`]: the partner's own server. It has its own users and
//!   passwords, signs them in by hand, issues link tokens and sealed link
//!   signing keys (with the partner library, `ssi-token`), and signs a user in
//!   from an SSI token after verifying it (the ten steps, with a replay store).
//! - [`app`]: the app on a device, written with the Rust SDK
//!   (`simplesignin`): Simple Sign-In first, the standard sign-in form as
//!   the fallback, linking after a standard sign-in; its UI is a web page
//!   that the TV page of `ssi up` shows.
//! - [`wire`]: the JSON the sample app and its backend exchange. It is the
//!   sample's own API, not the platform's: a real partner has its own.
//!
//! Time and randomness come in as parameters ([`Clock`], [`ssi_token::Random`]):
//! nothing here reads the wall clock.
#![forbid(unsafe_code)]

pub mod app;
pub mod backend;
pub mod wire;

/// The sample app's package id, as registered in the developer console.
pub const PACKAGE_ID: &str = "com.example.sampleapp";
/// The sample app's name (the consent screen shows it).
pub const APP_NAME: &str = "Sample Streaming";
/// The sample partner's identity provider name (from the developer console).
pub const IDENTITY_PROVIDER_NAME: &str = "sample-partner";
/// The app's `manifest.toml`: the four privileges of the seed.
pub const MANIFEST: &str = include_str!("../manifest.toml");
/// The app's icon (the consent screen shows it).
pub const ICON_SVG: &str = include_str!("../icon.svg");

/// The current time, in Unix seconds.
pub trait Clock: Send + Sync {
    fn now_secs(&self) -> i64;
}
