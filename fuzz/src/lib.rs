//! Fuzzing of every parser of untrusted input in `ssi-token` and `ssi-proto`.
//!
//! The fuzz targets in `fuzz_targets/` are one line each; their bodies live in
//! [`targets`] so that they can also be run from a plain `cargo test` (the seed
//! corpus is replayed by `tests` in [`seeds`]). [`fixtures`] holds the fixed keys
//! and the valid tokens, built once from `SeededRandom`; [`splice`] wraps fuzz
//! bytes into otherwise valid, correctly encrypted or signed tokens so that the
//! checks after decryption and signature verification are reached too.
#![forbid(unsafe_code)]

pub mod fixtures;
pub mod seeds;
pub mod splice;
pub mod targets;
