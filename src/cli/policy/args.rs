//! The command-line arguments of `tollgate policy` and `tollgate config`.

use clap::{Args, Subcommand};
use std::path::PathBuf;

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
