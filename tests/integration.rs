//! Real-socket integration tests: a gateway on loopback with a manual clock, mock
//! upstreams, and the real binary for startup errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
mod common;

mod dashboard;
mod forwarding;
mod hostile;
mod keys_api;
mod layout;
mod policies;
mod policy_cli;
mod quotas;
mod reload;
mod startup;
mod status_table;
mod tls;
mod unsupported;
