//! `ssi admin report` and `ssi admin recompute-aggregates`: the reports of
//! DESIGN.md section 8 from the command line. The rows, the CSV and the
//! charts are `ssi_server::reports`'; this file picks the months, writes the
//! files and draws the progress bars.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use ssi_server::admin::{Admin, Progress};
use ssi_server::reports::{self, CsvReport, Month, UtcDate};

use super::Bar;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The developer: account id or e-mail
    #[arg(long, value_name = "ID_OR_EMAIL")]
    developer: String,
    /// One UTC month
    #[arg(
        long,
        value_name = "YYYY-MM",
        required_unless_present = "from_month",
        conflicts_with = "from_month"
    )]
    month: Option<Month>,
    /// First month of a range (with --to-month); the CSV has one header and
    /// the months' rows in order
    #[arg(long, value_name = "YYYY-MM", requires = "to_month")]
    from_month: Option<Month>,
    /// Last month of a range, inclusive
    #[arg(long, value_name = "YYYY-MM", requires = "from_month")]
    to_month: Option<Month>,
    /// Write the CSV to this file (default: stdout)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write one SVG chart per app and month into this directory
    /// (`<app id>-<YYYY-MM>.svg`)
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RecomputeArgs {
    /// First UTC day
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: UtcDate,
    /// Last UTC day, inclusive
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: UtcDate,
}

pub async fn report(admin: &Admin, args: ReportArgs, stdout: &mut impl Write) -> Result<()> {
    let months = match (args.month, args.from_month, args.to_month) {
        (Some(month), _, _) => vec![month],
        (None, Some(first), Some(last)) => Month::range(first, last)?,
        _ => bail!("give --month, or --from-month with --to-month"),
    };
    let store = &admin.store;
    let developer_id = reports::find_developer(store, &args.developer).await?;
    if let Some(dir) = &args.svg {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let sink: Box<dyn Write + '_> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(&mut *stdout),
    };
    let mut csv = CsvReport::new(sink)?;
    let mut progress = Bar::new("report {bar:40} {pos}/{len} months ({eta} left)");
    progress.start(months.len() as u64);
    let (mut rows_written, mut charts) = (0, 0);
    for &month in &months {
        let rows = reports::monthly_rows(store, &developer_id, month).await?;
        csv.write_rows(&rows)?;
        rows_written += rows.len();
        if let Some(dir) = &args.svg {
            for series in reports::series_by_app(month, &rows) {
                let path = dir.join(format!("{}-{month}.svg", file_safe(&series.app_id)));
                std::fs::write(&path, reports::render_funnel_svg(&series))
                    .with_context(|| format!("writing {}", path.display()))?;
                charts += 1;
            }
        }
        progress.advance(1);
    }
    progress.finish();
    csv.finish()?.flush().context("writing the CSV")?;
    // With the CSV on stdout, stdout holds nothing else.
    if let Some(path) = &args.out {
        writeln!(
            stdout,
            "wrote {rows_written} rows ({} to {}) to {}",
            months[0],
            months[months.len() - 1],
            path.display()
        )?;
        if let Some(dir) = &args.svg {
            writeln!(stdout, "wrote {charts} charts to {}", dir.display())?;
        }
    }
    Ok(())
}

pub async fn recompute(admin: &Admin, args: RecomputeArgs, out: &mut impl Write) -> Result<()> {
    let mut progress = Bar::new("recomputing {bar:40} {pos}/{len} days ({eta} left)");
    let summary =
        reports::recompute_aggregates(&admin.store, args.from, args.to, &mut progress).await?;
    writeln!(
        out,
        "recomputed the daily aggregates of {} days ({} to {}): {} (app, day) rows",
        summary.days, args.from, args.to, summary.rows
    )?;
    Ok(())
}

/// App ids are `app_` and URL-safe base64; anything else becomes `_` so that
/// an id can never name another directory.
fn file_safe(app_id: &str) -> String {
    app_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
