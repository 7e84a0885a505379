//! `ssi`: the one Simple Sign-In binary. The only crate that reads the clock,
//! the environment and files; the libraries get all of it as parameters.
#![forbid(unsafe_code)]

mod admin_cmd;
mod agent_cmd;
mod bench;
mod clock;
mod config_file;
mod logging;
mod server_cmd;
mod token_cmd;
mod up;

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
    /// The quickstart: server, sample partner, two demo devices and the TV
    /// page in one process, on an embedded SQLite
    Up(up::UpArgs),
    /// Partner-backend tools: keys, link tokens, SSI token minting and verification
    #[command(after_help = token_cmd::EXIT_STATUS_HELP)]
    Token(token_cmd::TokenArgs),
    /// Benchmarks (ratios measured in one run)
    Bench(bench::BenchArgs),
    /// Run the Simple Sign-In server (see docs/operator.md)
    Server(server_cmd::ServerArgs),
    /// Operator commands on the server's database
    Admin(admin_cmd::AdminArgs),
    /// The on-device agent: register, install apps, run (see docs/agent.md)
    Agent(agent_cmd::AgentArgs),
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
        Command::Up(args) => up::run(args),
        Command::Token(args) => token_cmd::run(args, &clock),
        Command::Bench(args) => bench::run(args, &clock),
        Command::Server(args) => server_cmd::run(args),
        Command::Admin(args) => admin_cmd::run(args),
        Command::Agent(args) => agent_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ssi: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
