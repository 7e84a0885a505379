//! Integration tests of the partner library (one binary).

mod roundtrip;
