#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    tollgate::cli::run(tollgate::cli::Cli::parse())
}
