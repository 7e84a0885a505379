//! Partner library.
