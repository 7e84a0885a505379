//! Integration tests of the server (one binary). Every server test runs on
//! SQLite and on a real PostgreSQL server, through `server_test!`.

#[macro_use]
mod harness;
mod pg;

mod ops;
