//! `tollgate policy init|apply|list|get|delete` and `tollgate config add|use|list`:
//! the `tyk policy` CLI of seed 002, talking to a running gateway's Dashboard-style
//! policy API (`/api/portal/policies`, `/api/apis`).
//!
//! Layout: [`schema`] (YAML → validated policy, every problem located), [`duration`]
//! and [`ident`] (the grammar rules), [`apis`] (selector resolution), [`wire`] (schema
//! ↔ Tyk wire format), [`client`] (HTTP), [`env`](mod@env) (named environments), and
//! [`commands`] (the commands themselves).
//!
//! Conventions: data on stdout, humans on stderr; exit 0 success (and a cancelled
//! delete), 1 network or server failure, 2 invalid input, 3 not found.

pub mod apis;
pub mod args;
pub mod client;
pub mod commands;
pub mod duration;
pub mod env;
pub mod failure;
pub mod ident;
pub mod schema;
pub mod wire;
pub mod yaml;

pub use args::{ConfigArgs, ConfigCommand, PolicyArgs, PolicyCommand};
pub use failure::Failure;
use std::process::ExitCode;

pub fn run_policy(args: PolicyArgs) -> ExitCode {
    finish(commands::policy(args))
}

pub fn run_config(args: ConfigArgs) -> ExitCode {
    finish(commands::config(args))
}

fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            match &f {
                Failure::Invalid(lines) => {
                    for l in lines {
                        commands::note(l);
                    }
                }
                Failure::Usage(m)
                | Failure::NotFound(m)
                | Failure::Network(m)
                | Failure::Auth(m)
                | Failure::Server(m)
                | Failure::Io(m) => commands::note(&format!("error: {m}")),
            }
            ExitCode::from(f.exit_code())
        }
    }
}
