//! Integration tests of the partner library (one binary). Each module is
//! owned by one area: see its header comment.

mod interop;
mod keys;
mod link_token;
mod props;
mod replay;
mod rfc;
mod roundtrip;
mod sealed;
mod vectors;
mod verify_matrix;
mod wycheproof;
