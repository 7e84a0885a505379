//! `ssi`: the one Simple Sign-In binary. The only crate that reads the clock,
//! the environment and files; the libraries get all of it as parameters.
#![forbid(unsafe_code)]

mod bench;
mod clock;
mod token_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::clock::SystemClock;

#[derive(Debug, Parser)]
#[command(
    name = "ssi",
    version,
    about = "Simple Sign-In",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Partner-backend tools: keys, link tokens, SSI token minting and verification
    #[command(after_help = token_cmd::EXIT_STATUS_HELP)]
    Token(token_cmd::TokenArgs),
    /// Benchmarks (ratios measured in one run)
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    // Usage errors exit 1 (clap's default is 2), keeping 2 for "refused":
    // a token or sealed key that was read and rejected.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let clock = SystemClock;
    let result = match cli.command {
        Command::Token(args) => token_cmd::run(args, &clock),
        Command::Bench(args) => bench::run(args, &clock),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ssi: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
