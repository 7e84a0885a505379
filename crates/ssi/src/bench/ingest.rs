//! `ssi bench ingest`: the metrics pipeline (DESIGN.md sections 3, 8, 11).
//!
//! 1. **Ingestion**: batches of app events through the real device API
//!    (`POST /v1/device/metrics` of a child `ssi server`, over HTTP on
//!    loopback: authentication, JSON, validation, the raw insert and the
//!    daily aggregates in one transaction), against the **raw insert rate**
//!    of the same database measured in the same run: plain multi-row INSERTs
//!    of equivalent rows into `metric_events` (100 rows per statement, one
//!    batch per transaction, the server's durability settings, as many
//!    writers as the server may use). Rounds alternate so that load from
//!    elsewhere hits both alike; the best round of each counts. Target:
//!    ingestion at least half the raw rate.
//! 2. **Report of a busy developer**: millions of events of one month for
//!    ten apps, written with bulk SQL, aggregated by the recomputation, then
//!    the month's report (rows, CSV and one SVG per app, as the console and
//!    `ssi admin report` make it) timed, next to the same counts computed
//!    from the raw events.

use std::fmt::Write as _;
use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor as _, Row as _};
use ssi_server::ServerConfig;
use ssi_server::admin::NoProgress;
use ssi_server::clock::Clock as _;
use ssi_server::encoding::secret_hash;
use ssi_server::random::{SystemRandomSource, new_id, new_secret};
use ssi_server::reports::{self, DAY_MS, Month};
use ssi_server::store::Store;
use ssi_server::store::accounts::AccountRow;
use ssi_server::store::devices::DeviceRow;

use super::parse_seconds;
use super::server::{Backend, BackendChoice, Connection, Database, ServerProcess, insert_sql};
use super::{group_thousands, render_table};
use crate::clock::SystemClock;

/// Apps of the bench developer (events are spread over them).
const APPS: usize = 10;
/// Rows per INSERT statement of the raw reference (the server's chunk).
const RAW_ROWS_PER_INSERT: usize = 100;
/// Interleaved rounds per workload; the best counts.
const ROUNDS: u32 = 3;
/// Bulk-generated report events per statement.
const BULK_EVENTS_PER_INSERT: u64 = 250_000;
/// Timed report runs after the first.
const REPORT_RUNS: usize = 5;
const TARGET_INGEST_RATIO: f64 = 0.5;

#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// Database backend(s) to measure
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendChoice,
    /// PostgreSQL server on which a fresh database is created (and dropped
    /// afterwards) [env: SSI_TEST_POSTGRES_URL; default: a private cluster]
    #[arg(
        long,
        value_name = "URL",
        env = "SSI_TEST_POSTGRES_URL",
        hide_env_values = true
    )]
    postgres_url: Option<String>,
    /// Seconds per ingestion workload (device API and raw inserts each),
    /// split into 3 interleaved rounds
    #[arg(long, default_value = "6", value_parser = parse_seconds)]
    seconds: f64,
    /// Concurrent senders (devices, each on its own keep-alive connection;
    /// raw writers on PostgreSQL)
    #[arg(long, default_value = "4", value_parser = parse_senders)]
    concurrency: usize,
    /// Events per batch
    #[arg(long, default_value = "500", value_parser = parse_batch)]
    batch: usize,
    /// Events of the busy developer's report month, written with bulk SQL
    #[arg(long, default_value = "3000000", value_parser = parse_report_events)]
    report_events: u64,
    /// Print JSON instead of the tables
    #[arg(long)]
    json: bool,
}

fn parse_senders(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("expected 1 to 64 senders, got {text:?}")),
    }
}

fn parse_batch(text: &str) -> Result<usize, String> {
    let max = ssi_proto::device::METRICS_BATCH_MAX_EVENTS;
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected 1 to {max} events per batch, got {text:?}"
        )),
    }
}

fn parse_report_events(text: &str) -> Result<u64, String> {
    match text.replace('_', "").parse::<u64>() {
        Ok(n) if (1..=100_000_000).contains(&n) => Ok(n),
        _ => Err(format!("expected 1 to 100000000 events, got {text:?}")),
    }
}

/// One backend's figures.
#[derive(Debug, Serialize)]
struct BackendReport {
    backend: &'static str,
    /// Best round of plain INSERTs, events per second.
    raw_events_per_sec: f64,
    /// Best round through the device API, events per second.
    ingest_events_per_sec: f64,
    ingest_to_raw: f64,
    raw_rounds: Vec<f64>,
    ingest_rounds: Vec<f64>,
    /// The server's CPU per ingested event (best ingestion round).
    server_cpu_us_per_event: f64,
    report: ReportFigures,
}

#[derive(Debug, Serialize)]
struct ReportFigures {
    month: String,
    events: u64,
    apps: usize,
    rows: usize,
    csv_bytes: usize,
    bulk_insert_events_per_sec: f64,
    recompute_seconds: f64,
    first_report_ms: f64,
    best_report_ms: f64,
    from_raw_events_ms: f64,
}

pub fn run(args: IngestBenchArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let load_start = super::server::load_average();
    let mut results = Vec::new();
    for backend in args.backend.backends() {
        let postgres_url = args.postgres_url.as_deref().filter(|url| !url.is_empty());
        let result = runtime
            .block_on(run_backend(&args, backend, postgres_url))
            .with_context(|| format!("{} backend", backend.name()))?;
        results.push(result);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print!("{}", to_text(&args, &results, load_start));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_backend(
    args: &IngestBenchArgs,
    backend: Backend,
    postgres_url: Option<&str>,
) -> Result<BackendReport> {
    let dir = tempfile::Builder::new()
        .prefix("ssi-bench-ingest-")
        .tempdir()
        .context("creating a temporary directory")?;
    let data_dir = dir.path().join("data");
    let (database, note) = Database::create(backend, &data_dir, postgres_url).await?;
    if let Some(note) = note {
        eprintln!("bench: postgres: {note}");
    }
    let result = run_on(args, backend, &data_dir, &database).await;
    database.remove().await;
    result
}

/// The bench developer's apps and the senders' devices.
struct Fixtures {
    developer_id: String,
    /// (app id, package id).
    apps: Vec<(String, String)>,
    /// (device id, `Bearer …`).
    devices: Vec<(String, HeaderValue)>,
}

async fn run_on(
    args: &IngestBenchArgs,
    backend: Backend,
    data_dir: &Path,
    database: &Database,
) -> Result<BackendReport> {
    eprintln!("bench: {}: seeding", backend.name());
    let fixtures = seed(data_dir, backend, &database.url, args.concurrency).await?;
    let log = data_dir.with_file_name("server.log");
    let mut server = ServerProcess::start(data_dir, backend, &database.url, &log)?;
    let result = measure(args, backend, database, &fixtures, &server).await;
    let stopped = server.stop().await;
    let result = result?;
    stopped?;
    Ok(result)
}

async fn measure(
    args: &IngestBenchArgs,
    backend: Backend,
    database: &Database,
    fixtures: &Fixtures,
    server: &ServerProcess,
) -> Result<BackendReport> {
    let round = Duration::from_secs_f64(args.seconds / f64::from(ROUNDS));
    let writers = match backend {
        // One writer connection, as the server's SQLite store.
        Backend::Sqlite => 1,
        Backend::Postgres => args.concurrency,
    };
    let raw_pool = server_like_pool(backend, &database.url, writers).await?;
    let ticks_per_sec = super::server::clock_ticks_per_sec();
    let (mut raw_rounds, mut ingest_rounds, mut server_cpu) = (Vec::new(), Vec::new(), f64::NAN);
    for r in 1..=ROUNDS {
        eprintln!("bench: {}: round {r}/{ROUNDS}: raw INSERTs", backend.name());
        let raw = raw_inserts(&raw_pool, backend, fixtures, args, writers, r, round).await?;
        raw_rounds.push(raw);
        eprintln!("bench: {}: round {r}/{ROUNDS}: device API", backend.name());
        let ticks_before = super::server::cpu_ticks(&format!("/proc/{}/stat", server.pid()))?;
        let (rate, events) = ingest(server, fixtures, args, r, round).await?;
        let ticks = super::server::cpu_ticks(&format!("/proc/{}/stat", server.pid()))?;
        if ingest_rounds.iter().all(|&best| rate > best) && events > 0 {
            server_cpu = (ticks - ticks_before) as f64 / ticks_per_sec * 1e6 / events as f64;
        }
        ingest_rounds.push(rate);
    }
    raw_pool.close().await;
    let best = |rounds: &[f64]| rounds.iter().copied().fold(0.0, f64::max);
    let (raw_best, ingest_best) = (best(&raw_rounds), best(&ingest_rounds));
    let report = report_workload(args, backend, database, fixtures).await?;
    Ok(BackendReport {
        backend: backend.name(),
        raw_events_per_sec: raw_best,
        ingest_events_per_sec: ingest_best,
        ingest_to_raw: ingest_best / raw_best,
        raw_rounds,
        ingest_rounds,
        server_cpu_us_per_event: server_cpu,
        report,
    })
}

/// The developer, its apps and one device per sender, written through the
/// server library (migrations, secrets) and its store.
async fn seed(
    data_dir: &Path,
    backend: Backend,
    database_url: &str,
    senders: usize,
) -> Result<Fixtures> {
    let config = ServerConfig {
        data_dir: data_dir.to_owned(),
        database_url: (backend == Backend::Postgres).then(|| database_url.to_owned()),
        ..ServerConfig::default()
    };
    let state =
        ssi_server::build_state(config, Arc::new(SystemClock), Arc::new(SystemRandomSource))
            .await
            .context("building the server state on the bench database")?;
    let rng = &SystemRandomSource;
    let now_ms = state.now_ms();
    let account = |id: &str, is_developer| AccountRow {
        id: id.to_owned(),
        email: format!("{id}@bench.invalid"),
        password_hash: "-".to_owned(),
        ssi_enabled: true,
        region: "default".to_owned(),
        is_developer,
        created_at: now_ms,
    };
    let developer_id = new_id(rng, "acc_");
    state
        .store
        .insert_account(&account(&developer_id, true))
        .await?;
    let pool = server_like_pool(backend, database_url, 1).await?;
    let mut apps = Vec::new();
    for index in 0..APPS {
        let (app_id, package_id) = (new_id(rng, "app_"), format!("com.example.ingest{index}"));
        sqlx::query(
            "INSERT INTO apps (id, developer_id, package_id, display_name, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&app_id)
        .bind(&developer_id)
        .bind(&package_id)
        .bind(format!("Busy app {index}"))
        .bind(now_ms)
        .execute(&pool)
        .await?;
        apps.push((app_id, package_id));
    }
    pool.close().await;
    let mut devices = Vec::new();
    for _ in 0..senders {
        let account_id = new_id(rng, "acc_");
        state
            .store
            .insert_account(&account(&account_id, false))
            .await?;
        let credential = new_secret(rng, "ssid_");
        let device = DeviceRow {
            id: new_id(rng, "dev_"),
            account_id,
            name: "Bench TV".to_owned(),
            ssi_enabled: true,
            mode: "normal".to_owned(),
            created_at: now_ms,
            last_seen_at: None,
        };
        state
            .store
            .insert_device(&device, &secret_hash(&credential))
            .await?;
        devices.push((
            device.id,
            HeaderValue::from_str(&format!("Bearer {credential}"))?,
        ));
    }
    state.store.close().await;
    Ok(Fixtures {
        developer_id,
        apps,
        devices,
    })
}

/// A pool with the server's own settings (SQLite: WAL, synchronous=FULL;
/// PostgreSQL: defaults, synchronous commit).
async fn server_like_pool(backend: Backend, url: &str, connections: usize) -> Result<AnyPool> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(u32::try_from(connections).unwrap_or(1))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                         PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .context("connecting to the bench database")
}

/// The i-th event of a sender, at `now_ms`.
struct SyntheticEvent {
    /// Index into the fixtures' apps.
    app: usize,
    event: &'static str,
    failure_reason: Option<&'static str>,
    /// Within the last hour.
    occurred_at: i64,
}

impl SyntheticEvent {
    fn new(i: usize, now_ms: i64) -> Self {
        const REASONS: [&str; 5] = [
            "UNAUTHORIZED",
            "BAD_REQUEST",
            "NOT_FOUND",
            "FORBIDDEN",
            "INTERNAL_SERVER_ERROR",
        ];
        let (event, failure_reason) = match i % 10 {
            0..=6 => ("LOGIN_SUCCESS", None),
            7 => ("MANUAL_SIGNIN_SELECTED", None),
            _ => ("LOGIN_FAILURE", Some(REASONS[(i / 10) % 5])),
        };
        let back_ms = i64::try_from(i % 3_600).unwrap_or(0) * 997;
        Self {
            app: i % APPS,
            event,
            failure_reason,
            occurred_at: now_ms - back_ms,
        }
    }
}

/// Runs `work(worker)` on `workers` tasks, each until `stop_at`, each
/// returning how many events it stored; (events per second, events).
async fn run_workers<F, Fut>(workers: usize, duration: Duration, work: F) -> Result<(f64, u64)>
where
    F: Fn(usize, Instant) -> Fut,
    Fut: Future<Output = Result<u64>> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|worker| tokio::spawn(work(worker, started + duration)))
        .collect();
    let mut events = 0;
    for task in tasks {
        events += task.await.context("a bench worker panicked")??;
    }
    Ok((events as f64 / started.elapsed().as_secs_f64(), events))
}

/// Plain INSERTs of batches equivalent to the device API's for `duration`;
/// events per second.
async fn raw_inserts(
    pool: &AnyPool,
    backend: Backend,
    fixtures: &Fixtures,
    args: &IngestBenchArgs,
    writers: usize,
    round: u32,
    duration: Duration,
) -> Result<f64> {
    const COLUMNS: [&str; 7] = [
        "source",
        "idempotency_key",
        "app_id",
        "event",
        "failure_reason",
        "occurred_at",
        "received_at",
    ];
    let apps: Arc<Vec<String>> = Arc::new(fixtures.apps.iter().map(|(id, _)| id.clone()).collect());
    let batch = args.batch;
    let (rate, _) = run_workers(writers, duration, |writer, stop_at| {
        let pool = pool.clone();
        let (source, _) = fixtures.devices[writer % fixtures.devices.len()].clone();
        let apps = apps.clone();
        async move {
            let mut sequence = 0usize;
            while Instant::now() < stop_at {
                let now_ms = SystemClock.now_ms();
                let mut tx = pool.begin().await?;
                let mut left = batch;
                while left > 0 {
                    let rows = left.min(RAW_ROWS_PER_INSERT);
                    let sql = insert_sql(backend, "metric_events", &COLUMNS, rows);
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for _ in 0..rows {
                        let e = SyntheticEvent::new(sequence, now_ms);
                        query = query
                            .bind(source.clone())
                            .bind(format!("raw-{round}-{writer}-{sequence}"))
                            .bind(apps[e.app].clone())
                            .bind(e.event)
                            .bind(e.failure_reason)
                            .bind(e.occurred_at)
                            .bind(now_ms);
                        sequence += 1;
                    }
                    query.execute(&mut *tx).await?;
                    left -= rows;
                }
                tx.commit().await?;
            }
            Ok(sequence as u64)
        }
    })
    .await?;
    Ok(rate)
}

/// Batches through `POST /v1/device/metrics` for `duration`, one sender per
/// device; (events per second, events).
async fn ingest(
    server: &ServerProcess,
    fixtures: &Fixtures,
    args: &IngestBenchArgs,
    round: u32,
    duration: Duration,
) -> Result<(f64, u64)> {
    let packages: Arc<Vec<String>> =
        Arc::new(fixtures.apps.iter().map(|(_, p)| p.clone()).collect());
    let batch = args.batch;
    let addr = server.addr;
    run_workers(fixtures.devices.len(), duration, |sender, stop_at| {
        let (_, bearer) = fixtures.devices[sender].clone();
        let packages = packages.clone();
        async move {
            let mut connection = Connection::open(addr).await?;
            let mut sequence = 0usize;
            while Instant::now() < stop_at {
                let now_ms = SystemClock.now_ms();
                let mut body = String::with_capacity(batch * 140);
                body.push_str("{\"events\":[");
                for i in 0..batch {
                    let e = SyntheticEvent::new(sequence, now_ms);
                    if i > 0 {
                        body.push(',');
                    }
                    let _ = write!(
                        body,
                        "{{\"eventId\":\"b{round}-{sender}-{sequence}\",\"packageId\":\"{}\",\
                         \"ssiEvent\":\"{}\",\"timestamp\":{}",
                        packages[e.app], e.event, e.occurred_at
                    );
                    if let Some(reason) = e.failure_reason {
                        let _ = write!(body, ",\"failureReason\":\"{reason}\"");
                    }
                    body.push('}');
                    sequence += 1;
                }
                body.push_str("]}");
                let (status, response) = connection
                    .send(
                        Method::POST,
                        "/v1/device/metrics",
                        Some(&bearer),
                        Some(Bytes::from(body)),
                    )
                    .await?;
                let answer: serde_json::Value =
                    serde_json::from_slice(&response).unwrap_or_default();
                ensure!(
                    status.is_success() && answer["accepted"] == batch,
                    "the device API answered {status}: {}",
                    String::from_utf8_lossy(&response[..response.len().min(300)])
                );
            }
            Ok(sequence as u64)
        }
    })
    .await
}

/// Bulk events of a past month, their aggregates, and the month's report.
async fn report_workload(
    args: &IngestBenchArgs,
    backend: Backend,
    database: &Database,
    fixtures: &Fixtures,
) -> Result<ReportFigures> {
    let now_ms = SystemClock.now_ms();
    // Two months back: untouched by the ingestion's events (last hour).
    let month = Month::containing(Month::containing(now_ms).first_day().start_ms() - 40 * DAY_MS);
    let store = Store::connect(&database.url).await?;
    let pool = server_like_pool(backend, &database.url, 1).await?;
    eprintln!(
        "bench: {}: writing {} events of {month} with bulk SQL",
        backend.name(),
        group_thousands(args.report_events as f64)
    );
    let started = Instant::now();
    bulk_events(&pool, backend, fixtures, month, args.report_events).await?;
    let bulk_rate = args.report_events as f64 / started.elapsed().as_secs_f64();
    eprintln!("bench: {}: aggregating {month}", backend.name());
    let started = Instant::now();
    let last_day = reports::UtcDate::from_epoch_day(month.end_day().epoch_day() - 1);
    reports::recompute_aggregates(&store, month.first_day(), last_day, &mut NoProgress).await?;
    let recompute_seconds = started.elapsed().as_secs_f64();

    let mut timings = Vec::new();
    let mut last = (0, 0, 0);
    for _ in 0..=REPORT_RUNS {
        let started = Instant::now();
        let rows = reports::monthly_rows(&store, &fixtures.developer_id, month).await?;
        let csv = reports::render_csv(&rows)?;
        let charts: usize = reports::series_by_app(month, &rows)
            .iter()
            .map(|series| reports::render_funnel_svg(series).len())
            .sum();
        timings.push(started.elapsed().as_secs_f64() * 1e3);
        let counted: i64 = rows
            .iter()
            .map(|row| {
                let c = row.counts;
                c.links_created
                    + c.consent_denied
                    + c.login_success
                    + c.login_failure
                    + c.manual_signin_selected
            })
            .sum();
        ensure!(
            u64::try_from(counted)? == args.report_events,
            "the report counts {counted} events, {} were written",
            args.report_events
        );
        last = (rows.len(), csv.len(), charts);
    }

    // The same counts straight from the raw events, for comparison.
    let started = Instant::now();
    let from_raw = sqlx::query(
        "SELECT e.app_id, e.occurred_at / 86400000 AS day, COUNT(*) AS n, \
         SUM(CASE WHEN e.event = 'LOGIN_SUCCESS' THEN 1 ELSE 0 END) AS ok \
         FROM metric_events e JOIN apps a ON a.id = e.app_id \
         WHERE a.developer_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 \
         GROUP BY e.app_id, e.occurred_at / 86400000",
    )
    .bind(&fixtures.developer_id)
    .bind(month.first_day().start_ms())
    .bind(month.end_day().start_ms())
    .fetch_all(&pool)
    .await?;
    let from_raw_ms = started.elapsed().as_secs_f64() * 1e3;
    let raw_total: i64 = from_raw
        .iter()
        .map(|row| row.try_get::<i64, _>("n"))
        .sum::<Result<i64, _>>()?;
    ensure!(u64::try_from(raw_total)? == args.report_events);
    pool.close().await;
    store.close().await;
    Ok(ReportFigures {
        month: month.to_string(),
        events: args.report_events,
        apps: APPS,
        rows: last.0,
        csv_bytes: last.1,
        bulk_insert_events_per_sec: bulk_rate,
        recompute_seconds,
        first_report_ms: timings[0],
        best_report_ms: timings[1..].iter().copied().fold(f64::INFINITY, f64::min),
        from_raw_events_ms: from_raw_ms,
    })
}

/// `count` events spread evenly over `month` and the developer's apps, in
/// INSERT … SELECT statements over a generated series (dialect-specific:
/// `generate_series` on PostgreSQL, a recursive CTE on SQLite).
async fn bulk_events(
    pool: &AnyPool,
    backend: Backend,
    fixtures: &Fixtures,
    month: Month,
    count: u64,
) -> Result<()> {
    let progress = ProgressBar::new(count).with_style(
        ProgressStyle::with_template(
            "bench: report events {bar:40} {human_pos}/{human_len} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // App ids are base64url: safe inside the CASE below.
    let mut app_case = String::from("CASE n % 10");
    for (index, (app_id, _)) in fixtures.apps.iter().enumerate() {
        ensure!(
            app_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "unexpected app id {app_id:?}"
        );
        let _ = write!(app_case, " WHEN {index} THEN '{app_id}'");
    }
    app_case.push_str(" END");
    let start_ms = month.first_day().start_ms();
    let span_ms = i64::from(month.day_count()) * DAY_MS;
    let select = format!(
        "SELECT 'bulk', 'k' || n, {app_case}, \
         CASE WHEN n % 20 = 0 THEN 'ENABLE_SSI' WHEN n % 20 = 1 THEN 'CONSENT_DENIED' \
              WHEN n % 20 < 5 THEN 'LOGIN_FAILURE' WHEN n % 20 = 5 THEN 'MANUAL_SIGNIN_SELECTED' \
              ELSE 'LOGIN_SUCCESS' END, \
         CASE WHEN n % 20 > 1 AND n % 20 < 5 THEN CASE (n / 20) % 5 WHEN 0 THEN 'UNAUTHORIZED' \
              WHEN 1 THEN 'BAD_REQUEST' WHEN 2 THEN 'NOT_FOUND' WHEN 3 THEN 'FORBIDDEN' \
              ELSE 'INTERNAL_SERVER_ERROR' END END, \
         {start_ms} + (n * {span_ms}) / {count}, {start_ms}"
    );
    let columns = "(source, idempotency_key, app_id, event, failure_reason, occurred_at, \
                   received_at)";
    let mut done = 0;
    while done < count {
        let (first, last) = (done, (done + BULK_EVENTS_PER_INSERT).min(count) - 1);
        let sql = match backend {
            Backend::Postgres => format!(
                "INSERT INTO metric_events {columns} {select} \
                 FROM generate_series({first}::bigint, {last}::bigint) AS g(n)"
            ),
            Backend::Sqlite => format!(
                "WITH RECURSIVE g(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM g \
                 WHERE n < {last}) INSERT INTO metric_events {columns} {select} FROM g"
            ),
        };
        // Only numbers and checked app ids are formatted into the statement.
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await?
            .rows_affected();
        if inserted != last - first + 1 {
            bail!(
                "bulk insert wrote {inserted} rows, expected {}",
                last - first + 1
            );
        }
        done = last + 1;
        progress.set_position(done);
    }
    progress.finish_and_clear();
    Ok(())
}

fn to_text(args: &IngestBenchArgs, results: &[BackendReport], load: Option<[f64; 3]>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ssi bench ingest: {} senders, {} events per batch, {:.1} s per workload in {ROUNDS} \
         interleaved rounds (best round)\n",
        args.concurrency, args.batch, args.seconds
    );
    let mut rows = Vec::new();
    for r in results {
        rows.push(vec![
            r.backend.to_owned(),
            "plain INSERTs (raw)".to_owned(),
            group_thousands(r.raw_events_per_sec),
            "1.00".to_owned(),
            String::new(),
        ]);
        rows.push(vec![
            r.backend.to_owned(),
            "POST /v1/device/metrics".to_owned(),
            group_thousands(r.ingest_events_per_sec),
            format!("{:.2}", r.ingest_to_raw),
            format!(
                "{:.1} us server CPU/event; target >= {TARGET_INGEST_RATIO} of raw: {}",
                r.server_cpu_us_per_event,
                if r.ingest_to_raw >= TARGET_INGEST_RATIO {
                    "met"
                } else {
                    "MISSED"
                }
            ),
        ]);
    }
    out.push_str(&render_table(
        &["backend", "workload", "events/s", "of raw", "notes"],
        &[false, false, true, true, false],
        &rows,
    ));
    out.push('\n');
    let mut rows = Vec::new();
    for r in results {
        let f = &r.report;
        rows.push(vec![
            r.backend.to_owned(),
            f.month.clone(),
            group_thousands(f.events as f64),
            format!("{} ({} apps)", f.rows, f.apps),
            format!("{:.1}", f.first_report_ms),
            format!("{:.1}", f.best_report_ms),
            format!("{:.0}", f.from_raw_events_ms),
            format!("{:.1}", f.recompute_seconds),
        ]);
    }
    out.push_str(&render_table(
        &[
            "backend",
            "month",
            "events",
            "rows",
            "report ms (first)",
            "report ms (best)",
            "from raw ms",
            "recompute s",
        ],
        &[false, false, true, true, true, true, true, true],
        &rows,
    ));
    let _ = writeln!(
        out,
        "\nreport = rows from the daily aggregates + CSV + one SVG per app; \"from raw\" = the \
         same month's counts by GROUP BY over the raw events."
    );
    if let Some([one, five, fifteen]) = load {
        let _ = writeln!(
            out,
            "load average at start: {one:.2} {five:.2} {fifteen:.2}"
        );
    }
    out
}
