//! `tollgate policy init|apply|list|get|delete` and `tollgate config add|use|list`:
//! the `tyk policy` CLI of seed 002, talking to a running gateway's Dashboard-style
//! policy API (`/api/portal/policies`, `/api/apis`).
//!
//! Layout: [`schema`] (YAML → validated policy, every problem located), [`duration`]
//! and [`ident`] (the grammar rules), [`apis`] (selector resolution), [`wire`] (schema
//! ↔ Tyk wire format), [`client`] (HTTP), [`env`] (named environments), and
//! [`commands`] (the commands themselves).
//!
//! Conventions: data on stdout, humans on stderr; exit 0 success (and a cancelled
//! delete), 1 network or server failure, 2 invalid input, 3 not found.

pub mod apis;
pub mod client;
pub mod commands;
pub mod duration;
pub mod env;
pub mod ident;
pub mod schema;
pub mod wire;
pub mod yaml;

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Why a command failed; decides the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments or configuration (exit 2).
    Usage(String),
    /// Validation or resolution problems, one line each (exit 2).
    Invalid(Vec<String>),
    /// The policy or environment does not exist (exit 3).
    NotFound(String),
    /// The gateway could not be reached or did not answer in time (exit 1).
    Network(String),
    /// The gateway refused the secret (exit 1).
    Auth(String),
    /// The gateway failed or answered something unexpected (exit 1).
    Server(String),
    /// A local file could not be read or written (exit 1).
    Io(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::Invalid(_) => 2,
            Failure::NotFound(_) => 3,
            Failure::Network(_) | Failure::Auth(_) | Failure::Server(_) | Failure::Io(_) => 1,
        }
    }
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Gateway control URL (overrides TOLLGATE_URL and the current environment).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a scaffold policies/{id}.yaml (no network; never overwrites).
    Init {
        /// Friendly policy id: lowercase letters, digits, '.', '-', '_'.
        #[arg(long)]
        id: String,
        /// Human-readable policy name.
        #[arg(long)]
        name: String,
        /// Directory that holds (or will hold) policies/.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Create or update a policy from a YAML file (idempotent upsert).
    Apply {
        /// Policy file, or '-' for stdin.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
        /// Print the server's answer as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List policies: ID, Name, APIs, Tags.
    List {
        /// Page to show (10 policies per page).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        page: u32,
        #[arg(long)]
        json: bool,
    },
    /// Print a policy as YAML (stdout) with a summary (stderr).
    Get {
        /// Friendly id, or `_id` for policies without one.
        id: String,
        /// JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Delete a policy after confirmation.
    Delete {
        id: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print the server's answer as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Add (or replace) a named environment.
    Add {
        name: String,
        /// The gateway's control URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        url: String,
        /// Name of the environment variable holding the secret (never the secret).
        #[arg(long, value_name = "VAR")]
        secret_env: String,
    },
    /// Make an environment the current one.
    Use { name: String },
    /// List environments (the current one is marked with *).
    List {
        #[arg(long)]
        json: bool,
    },
}

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

/// A JSON array of strings as a `Vec` (anything else, or non-string items, are skipped).
pub(crate) fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
