//! The on-device agent of Simple Sign-In (DESIGN.md sections 3, 4, 7): the system
//! service that apps reach through their own Unix sockets.
#![forbid(unsafe_code)]

pub mod screens;
