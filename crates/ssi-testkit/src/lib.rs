//! Test support shared by the integration tests of several crates. Test-only: no
//! production crate depends on this one.
#![forbid(unsafe_code)]

pub mod browser;
