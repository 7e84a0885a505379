//! Pure rules of the service: no I/O, no clock, no randomness of its own.

pub mod accounts;
pub mod availability;
pub mod developers;
