//! `ssi bench`: the performance targets of DESIGN.md section 11 as ratios
//! measured in one run, so that machine noise mostly cancels. Benchmarks
//! print figures; they never fail on a missed target (no timed tests).

mod agent;
mod ingest;
mod server;
mod token;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::clock::Clock;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// ES256 sign/verify of aws-lc-rs, ring and p256 against mint_ssi_token,
    /// verify_ssi_token and jose (Node.js) on the same tokens
    Token(token::TokenBenchArgs),
    /// The server over HTTP on loopback: getUserAndLinks and link creation
    /// against raw ES256, as the link table grows (SQLite and PostgreSQL)
    Server(server::ServerBenchArgs),
    /// Metric events through the device API against plain INSERTs of the
    /// same database (SQLite and PostgreSQL), and the monthly report of a
    /// busy developer
    Ingest(ingest::IngestBenchArgs),
    /// getUserAndLinks app → agent → server (SDK over the app socket) against
    /// app → server directly, and the agent's memory
    Agent(agent::AgentBenchArgs),
}

pub fn run(args: BenchArgs, clock: &dyn Clock) -> Result<ExitCode> {
    match args.command {
        BenchCommand::Token(args) => token::run(args, clock),
        BenchCommand::Server(args) => server::run(args, clock),
        BenchCommand::Ingest(args) => ingest::run(args),
        BenchCommand::Agent(args) => agent::run(args),
    }
}

/// Parses `--seconds`: a positive, finite number of seconds, at most an hour.
fn parse_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {text:?}"))?;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 3600.0 {
        return Err(format!("expected 0 < seconds <= 3600, got {text}"));
    }
    Ok(seconds)
}

/// One thing to measure: a label for the progress lines and one operation.
struct Case<'a> {
    label: String,
    op: Box<dyn FnMut() -> bool + 'a>,
}

impl<'a> Case<'a> {
    fn new(label: impl Into<String>, op: impl FnMut() -> bool + 'a) -> Self {
        Self {
            label: label.into(),
            op: Box::new(op),
        }
    }
}

/// Runs every case in `rounds` interleaved rounds of `per_round` each (so a
/// burst of load from elsewhere hits all cases alike) and returns the best
/// round's rate of each, in operations per second. Progress goes to stderr.
/// An operation returning `false` (a failed verification) is an error.
fn measure_interleaved(
    cases: &mut [Case<'_>],
    per_round: Duration,
    rounds: u32,
) -> Result<Vec<f64>> {
    let mut best = vec![0.0_f64; cases.len()];
    for round in 1..=rounds {
        for (case, best) in cases.iter_mut().zip(best.iter_mut()) {
            eprintln!(
                "bench: round {round}/{rounds}: {} ({:.2} s)",
                case.label,
                per_round.as_secs_f64()
            );
            *best = best.max(measure(per_round, &mut case.op, &case.label)?);
        }
    }
    Ok(best)
}

/// Calls `op` until `duration` has passed; the rate in operations per second.
fn measure(duration: Duration, op: &mut dyn FnMut() -> bool, label: &str) -> Result<f64> {
    let start = Instant::now();
    let mut ops: u64 = 0;
    loop {
        if !black_box(op()) {
            bail!("{label}: the operation failed during the measurement");
        }
        ops += 1;
        let elapsed = start.elapsed();
        if elapsed >= duration {
            return Ok(ops as f64 / elapsed.as_secs_f64());
        }
    }
}

/// Left-aligned text columns and right-aligned number columns, two spaces apart.
fn render_table(header: &[&str], right_aligned: &[bool], rows: &[Vec<String>]) -> String {
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([header[column].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (column, cell) in cells.iter().enumerate() {
            if column > 0 {
                text.push_str("  ");
            }
            let pad = " ".repeat(widths[column] - cell.chars().count());
            if right_aligned[column] {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
        }
        text.trim_end().to_owned()
    };
    let header: Vec<String> = header.iter().map(|&h| h.to_owned()).collect();
    let mut out = line(&header);
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// `1234567.8` → `1,234,568`.
fn group_thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
