//! Integration tests of the server (one binary). Every server test runs on
//! SQLite and on a real PostgreSQL server, through `server_test!`.

#[macro_use]
mod harness;
mod pg;

mod account_pages;
mod accounts;
mod console;
mod console_browser;
mod developers;
mod device_api;
mod device_grant;
mod fixtures;
mod link_writer;
mod openapi;
mod ops;
mod partner_api;
mod reports;
