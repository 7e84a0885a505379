//! `ssi bench server`: the server's hot paths over HTTP on loopback
//! (DESIGN.md section 11): `getUserAndLinks` with 1 and 10 links, link
//! creation, and `getUserAndLinks` as the link table grows.
//!
//! The server runs as a child process (`ssi server`, this same binary) on a
//! temporary data directory and SQLite, or on a fresh PostgreSQL database, so
//! that its CPU time (utime + stime of `/proc/<pid>/stat`) and its peak RSS
//! (`VmHWM` of `/proc/<pid>/status`) can be read around each measurement. The
//! CPU time per request is compared with the CPU time of one raw ES256
//! signature (aws-lc-rs, one thread) measured in the same run, between the
//! workloads, while the server is idle.
//!
//! The fixtures are written before the child starts, through the server
//! library and SQL on the same database; the links of the measured accounts
//! are made through the device API itself (and their tokens verified the
//! partner's way), so that the benchmark measures real work.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Connection as _, Executor as _, Row as _};
use ssi_proto::device::{AppIdpRequest, CreateLinkRequest};
use ssi_proto::{LinkUserAccountRequest, Token};
use ssi_server::ServerConfig;
use ssi_server::config::redact_url_password;
use ssi_server::encoding::secret_hash;
use ssi_server::random::{SystemRandomSource, new_id, new_secret};
use ssi_server::store::accounts::AccountRow;
use ssi_token::{
    AppKeyPair, InMemoryReplayStore, LinkSigningKey, LinkTokenKey, LinkTokenKeys, Random,
    SystemRandom, VerifyOptions, issue_link, verify_ssi_token,
};

use super::token::RawKeys;
use super::{Case, group_thousands, measure_interleaved, parse_seconds, render_table};
use crate::clock::{Clock, SystemClock};

const PACKAGE_ID: &str = "com.example.bench";
const IDP_NAME: &str = "bench-idp";
/// Links of one account made by the link-creation workload (the limit per
/// account and IDP is 32).
const LINKS_PER_CREATOR: usize = 30;
/// Filler links per filler account in the scale test.
const FILLER_LINKS_PER_ACCOUNT: u64 = 5;
/// Rows per multi-row INSERT, and filler links per transaction.
const ROWS_PER_INSERT: usize = 500;
const LINKS_PER_TRANSACTION: u64 = 50_000;
/// Link requests prepared per second of measurement (the count bound of the
/// link-creation workload).
const LINK_REQUESTS_PER_SEC: f64 = 4000.0;
/// Each workload's time is split into this many rounds; the best counts.
const ROUNDS: usize = 3;
/// Raw signature rounds run after set-up, mid-way and at the end of each
/// backend, each at most this long.
const RAW_ROUND_MAX_SECS: f64 = 2.0;

/// DESIGN.md section 11 targets.
const TARGET_RAW_SIGNS: f64 = 2.5;
const TARGET_LINKS_PER_SEC_SQLITE: f64 = 1000.0;
const TARGET_SCALE_RATIO: f64 = 1.2;
const TARGET_RSS_MB: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    Sqlite,
    Postgres,
}

impl BackendChoice {
    pub(super) fn backends(self) -> Vec<Backend> {
        match self {
            Self::Sqlite => vec![Backend::Sqlite],
            Self::Postgres => vec![Backend::Postgres],
            Self::Both => vec![Backend::Sqlite, Backend::Postgres],
        }
    }
}

impl Backend {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Args)]
pub struct ServerBenchArgs {
    /// Database backend(s) to measure
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendChoice,
    /// PostgreSQL server on which a fresh database is created (and dropped
    /// afterwards); the user needs CREATE DATABASE [env:
    /// SSI_TEST_POSTGRES_URL; default: a private cluster started from
    /// /usr/lib/postgresql/*/bin with default settings]
    #[arg(
        long,
        value_name = "URL",
        env = "SSI_TEST_POSTGRES_URL",
        hide_env_values = true
    )]
    postgres_url: Option<String>,
    /// Seconds per workload, split into 3 rounds (each after a warm-up of a
    /// fifth of it, 0.05 to 0.5 s); the best round counts
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    seconds: f64,
    /// Concurrent keep-alive HTTP/1.1 connections
    #[arg(long, default_value = "8", value_parser = parse_concurrency)]
    concurrency: usize,
    /// Links in the table for the scale test, comma-separated (filler links
    /// of other accounts are added to reach each)
    #[arg(
        long,
        value_name = "N,N,…",
        default_value = "10000,1000000",
        value_delimiter = ',',
        value_parser = parse_scale
    )]
    links_scale: Vec<u64>,
    /// Print JSON instead of the tables
    #[arg(long)]
    json: bool,
}

fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!("expected 1 to 256 connections, got {text:?}")),
    }
}

fn parse_scale(text: &str) -> Result<u64, String> {
    match text.trim().replace('_', "").parse::<u64>() {
        Ok(n) if (1..=100_000_000).contains(&n) => Ok(n),
        _ => Err(format!("expected 1 to 100000000 links, got {text:?}")),
    }
}

pub fn run(args: ServerBenchArgs, clock: &dyn Clock) -> Result<ExitCode> {
    let backends = args.backend.backends();
    let mut scales = args.links_scale.clone();
    scales.sort_unstable();
    scales.dedup();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut bench = Bench {
        round: Duration::from_secs_f64(args.seconds / ROUNDS as f64),
        warmup: Duration::from_secs_f64((args.seconds / ROUNDS as f64 / 5.0).clamp(0.05, 0.5)),
        raw_round: Duration::from_secs_f64((args.seconds / 3.0).clamp(0.2, RAW_ROUND_MAX_SECS)),
        concurrency: args.concurrency,
        scales,
        clock,
        ticks_per_sec: clock_ticks_per_sec(),
        raw: RawSign::new()?,
        rows: Vec::new(),
        postgres: None,
        load_start: load_average(),
    };
    for backend in backends {
        let postgres_url = args.postgres_url.as_deref().filter(|url| !url.is_empty());
        runtime
            .block_on(bench.run_backend(backend, postgres_url))
            .with_context(|| format!("{} backend", backend.name()))?;
    }
    let report = bench.report(args.seconds);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// The raw reference: one aws-lc-rs ES256 signature over the signing input
/// of a token the server minted, on one thread, best round of the run.
struct RawSign {
    key: LinkSigningKey,
    message: Option<Vec<u8>>,
    best_rate: f64,
    rounds: u32,
}

impl RawSign {
    fn new() -> Result<Self> {
        Ok(Self {
            key: LinkSigningKey::generate(&mut SystemRandom),
            message: None,
            best_rate: 0.0,
            rounds: 0,
        })
    }

    fn measure(&mut self, per_round: Duration) -> Result<()> {
        let Some(message) = &self.message else {
            return Ok(());
        };
        let raw = RawKeys::new(self.key.private_scalar(), self.key.public_sec1())?;
        let mut cases = [Case::new("aws-lc-rs ES256 sign (raw, one thread)", || {
            raw.aws_sign(message).len() == 64
        })];
        let rate = measure_interleaved(&mut cases, per_round, 1)?[0];
        self.best_rate = self.best_rate.max(rate);
        self.rounds += 1;
        Ok(())
    }

    fn us_per_sign(&self) -> f64 {
        if self.best_rate > 0.0 {
            1e6 / self.best_rate
        } else {
            f64::NAN
        }
    }
}

struct Bench<'a> {
    /// The measured window of one round, and the warm-up before it.
    round: Duration,
    warmup: Duration,
    raw_round: Duration,
    concurrency: usize,
    scales: Vec<u64>,
    clock: &'a dyn Clock,
    ticks_per_sec: f64,
    raw: RawSign,
    rows: Vec<Row>,
    /// How PostgreSQL was reached, for the notes (URL redacted).
    postgres: Option<String>,
    load_start: Option<[f64; 3]>,
}

/// One measured workload: its best round, and every round.
#[derive(Debug, Clone, Serialize)]
struct Row {
    backend: &'static str,
    workload: &'static str,
    description: String,
    links_in_table: u64,
    concurrency: usize,
    #[serde(flatten)]
    best: Summary,
    /// 1-based.
    best_round: usize,
    /// Failed requests in all rounds.
    total_errors: u64,
    /// Server CPU per request in raw ES256 signatures (filled at the end,
    /// from the best raw round of the run).
    server_cpu_raw_signs: f64,
    /// The server's VmHWM after the workload's rounds.
    server_peak_rss_mb: f64,
    rounds: Vec<Summary>,
}

/// The figures of one round of a workload.
#[derive(Debug, Clone, Serialize)]
struct Summary {
    /// Successful requests completed in the measured window.
    requests: u64,
    /// Failed requests (warm-up included).
    errors: u64,
    seconds: f64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu_us_per_request: f64,
    /// Server CPU seconds per second of measurement.
    server_cores_busy: f64,
    /// This process's CPU (the load generator) per request.
    client_cpu_us_per_request: f64,
    /// PostgreSQL's CPU (all processes of the private cluster) per request;
    /// `null` on SQLite (in the server process) and on a given server.
    database_cpu_us_per_request: Option<f64>,
    /// The round ran out of prepared requests before the time was up.
    count_bound: bool,
}

/// What one backend's run needs after set-up.
struct Fixtures {
    /// When the fixtures were made, epoch ms.
    now_ms: i64,
    idp_id: String,
    app_id: String,
    app_key: AppKeyPair,
    partner_key: LinkTokenKey,
    /// The account with one link, the account with ten.
    one: BenchDevice,
    ten: BenchDevice,
    /// Accounts that receive the links of the link-creation workload.
    creators: Vec<BenchDevice>,
    filler: FillerTemplate,
}

#[derive(Clone)]
struct BenchDevice {
    account_id: String,
    device_id: String,
    bearer: HeaderValue,
    /// The directed id the server gives this account for the bench developer.
    amazon_user_id: String,
}

/// The columns every filler link shares: real sizes, never served (the
/// filler accounts have no devices).
struct FillerTemplate {
    link_token: String,
    sealed: Vec<u8>,
    public: Vec<u8>,
    master_key_version: i64,
}

/// Where a backend's database lives.
pub(super) struct Database {
    pub(super) url: String,
    /// PostgreSQL: the admin URL and the database to drop at the end.
    drop: Option<(String, String)>,
    pub(super) cluster: Option<PgCluster>,
}

impl Database {
    /// The SQLite file in `data_dir`, or a fresh database on the given
    /// PostgreSQL server (or on a private cluster started now). Also returns
    /// how PostgreSQL was reached, for the notes (URL redacted).
    pub(super) async fn create(
        backend: Backend,
        data_dir: &Path,
        postgres_url: Option<&str>,
    ) -> Result<(Self, Option<String>)> {
        match backend {
            Backend::Sqlite => Ok((
                Self {
                    url: ssi_server::store::sqlite_url_for(data_dir),
                    drop: None,
                    cluster: None,
                },
                None,
            )),
            Backend::Postgres => {
                let (admin, cluster, note) = match postgres_url {
                    Some(url) => (
                        url.to_owned(),
                        None,
                        format!("given server {}", redact_url_password(url)),
                    ),
                    None => {
                        eprintln!("bench: starting a private PostgreSQL cluster");
                        let cluster = PgCluster::start()?;
                        let note = format!(
                            "private cluster, PostgreSQL {}, default settings (fsync on)",
                            cluster.version
                        );
                        (cluster.url.clone(), Some(cluster), note)
                    }
                };
                let (url, name) = create_database(&admin).await?;
                Ok((
                    Self {
                        url,
                        drop: Some((admin, name)),
                        cluster,
                    },
                    Some(note),
                ))
            }
        }
    }

    /// Drops the PostgreSQL database (a private cluster stops when dropped).
    pub(super) async fn remove(self) {
        if let Some((admin, name)) = &self.drop
            && let Err(error) = drop_database(admin, name).await
        {
            eprintln!("bench: could not drop the database {name}: {error:#}");
        }
    }
}

impl Bench<'_> {
    async fn run_backend(&mut self, backend: Backend, postgres_url: Option<&str>) -> Result<()> {
        let dir = tempfile::Builder::new()
            .prefix("ssi-bench-server-")
            .tempdir()
            .context("creating a temporary directory")?;
        let data_dir = dir.path().join("data");
        let (database, note) = Database::create(backend, &data_dir, postgres_url).await?;
        if note.is_some() {
            self.postgres = note;
        }
        let result = self.run_on(backend, &data_dir, &database).await;
        database.remove().await;
        result
    }

    async fn run_on(
        &mut self,
        backend: Backend,
        data_dir: &Path,
        database: &Database,
    ) -> Result<()> {
        let now = self.clock.now();
        let link_requests =
            ((self.round + self.warmup).as_secs_f64() * ROUNDS as f64 * LINK_REQUESTS_PER_SEC)
                .ceil() as usize;
        eprintln!("bench: {}: seeding the fixtures", backend.name());
        let fixtures = seed(
            data_dir,
            backend,
            &database.url,
            link_requests.div_ceil(LINKS_PER_CREATOR),
            now,
        )
        .await?;
        eprintln!(
            "bench: {}: preparing {link_requests} link requests (outside the measurement)",
            backend.name()
        );
        let prepared = prepare_link_requests(&fixtures, link_requests, backend.name(), now)?;

        let log = data_dir.with_file_name("server.log");
        let mut server = ServerProcess::start(data_dir, backend, &database.url, &log)?;
        eprintln!(
            "bench: {}: server pid {} listening on {}",
            backend.name(),
            server.pid(),
            server.addr
        );
        let result = self
            .workloads(backend, &mut server, &fixtures, prepared, database, now)
            .await;
        let stopped = server.stop().await;
        result?;
        stopped
    }

    async fn workloads(
        &mut self,
        backend: Backend,
        server: &mut ServerProcess,
        fixtures: &Fixtures,
        prepared: Vec<Prepared>,
        database: &Database,
        now: i64,
    ) -> Result<()> {
        let target = HttpTarget::new(server.addr);
        let issuer = format!("http://{}", server.addr);
        // Set-up through the device API: 1 and 10 links, checked the
        // partner's way (a benchmark of failing requests measures nothing).
        for (device, count) in [(&fixtures.one, 1), (&fixtures.ten, 10)] {
            for index in 0..count {
                let body =
                    link_request_body(fixtures, device, &format!("partner-user-{index}"), now)?;
                let (status, response) = target
                    .call(
                        Method::POST,
                        "/v1/device/links",
                        Some(&device.bearer),
                        Some(body),
                    )
                    .await?;
                ensure!(
                    status == StatusCode::OK && response["successCode"] == "LINK_ESTABLISHED",
                    "set-up: link creation answered {status}: {response}"
                );
            }
        }
        let user_and_links = Bytes::from(serde_json::to_vec(&AppIdpRequest {
            package_id: PACKAGE_ID.to_owned(),
            identity_provider_name: IDP_NAME.to_owned(),
        })?);
        for (device, count) in [(&fixtures.one, 1), (&fixtures.ten, 10)] {
            let (status, response) = target
                .call(
                    Method::POST,
                    "/v1/device/user-and-links",
                    Some(&device.bearer),
                    Some(user_and_links.clone()),
                )
                .await?;
            ensure!(
                status == StatusCode::OK && response["requestStatus"] == "SUCCESSFUL",
                "set-up: getUserAndLinks answered {status}: {response}"
            );
            ensure!(
                response["amazonUserId"] == device.amazon_user_id.as_str(),
                "set-up: getUserAndLinks answered another amazonUserId"
            );
            let links = response["links"].as_array().cloned().unwrap_or_default();
            ensure!(
                links.len() == count,
                "set-up: expected {count} links, got {}",
                links.len()
            );
            let keys =
                LinkTokenKeys::single(LinkTokenKey::from_jwk(&fixtures.partner_key.to_jwk())?);
            let options = VerifyOptions {
                link_token_keys: &keys,
                identity_provider_name: IDP_NAME,
                issuer: &issuer,
            };
            for link in &links {
                let token = link["ssiToken"]["token"]
                    .as_str()
                    .ok_or_else(|| anyhow!("set-up: a link without an SSI token"))?;
                verify_ssi_token(
                    link["ssiToken"]["schema"].as_str().unwrap_or_default(),
                    token,
                    &options,
                    now,
                    &InMemoryReplayStore::new(),
                )
                .map_err(|e| anyhow!("set-up: a minted token does not verify: {e}"))?;
                if self.raw.message.is_none() {
                    let end = token.rfind('.').unwrap_or(token.len());
                    self.raw.message = Some(token.as_bytes()[..end].to_vec());
                }
            }
        }
        self.raw.measure(self.raw_round)?;

        let database_pid = database
            .cluster
            .as_ref()
            .and_then(PgCluster::postmaster_pid);
        let pool = bulk_pool(backend, &database.url).await?;
        let mut links_in_table = count_links(&pool).await?;
        let one_link = Spec::repeat(
            Method::POST,
            "/v1/device/user-and-links",
            Some(&fixtures.one.bearer),
            Some(user_and_links.clone()),
            Expect::Links(1),
        );
        let repeat = |spec: Spec| vec![spec; ROUNDS];
        let base = vec![
            Item {
                workload: "healthz",
                description: "GET /healthz (HTTP only)".to_owned(),
                specs: repeat(Spec::repeat(
                    Method::GET,
                    "/healthz",
                    None,
                    None,
                    Expect::Status,
                )),
                links_in_table,
            },
            Item {
                workload: "whoami",
                description: "GET whoami (HTTP + device auth, 1 query)".to_owned(),
                specs: repeat(Spec::repeat(
                    Method::GET,
                    "/v1/device/whoami",
                    Some(&fixtures.one.bearer),
                    None,
                    Expect::Status,
                )),
                links_in_table,
            },
            Item {
                workload: "user_and_links_1",
                description: "getUserAndLinks, 1 link".to_owned(),
                specs: repeat(one_link.clone()),
                links_in_table,
            },
            Item {
                workload: "user_and_links_10",
                description: "getUserAndLinks, 10 links".to_owned(),
                specs: repeat(Spec::repeat(
                    Method::POST,
                    "/v1/device/user-and-links",
                    Some(&fixtures.ten.bearer),
                    Some(user_and_links.clone()),
                    Expect::Links(10),
                )),
                links_in_table,
            },
        ];
        self.measure_items(backend, server, base, database_pid)
            .await?;
        self.raw.measure(self.raw_round)?;

        // The scale test: filler links of other accounts, then the same
        // one-link getUserAndLinks.
        let mut filled = 0u64;
        for scale in self.scales.clone() {
            if scale > links_in_table {
                fill_links(&pool, backend, fixtures, filled, scale - links_in_table).await?;
                filled += scale - links_in_table;
                links_in_table = count_links(&pool).await?;
            }
            let item = Item {
                workload: "user_and_links_1_scale",
                description: format!(
                    "getUserAndLinks, 1 link, {} links",
                    group_thousands(links_in_table as f64)
                ),
                specs: repeat(one_link.clone()),
                links_in_table,
            };
            self.measure_items(backend, server, vec![item], database_pid)
                .await?;
        }
        pool.close().await;

        // Link creation last: it adds links to the table. Each round has its
        // own share of the prepared requests.
        let total = prepared.len();
        let per_round = total.div_ceil(ROUNDS);
        let mut prepared = prepared.into_iter();
        let specs = (0..ROUNDS)
            .map(|_| Spec::prepared(prepared.by_ref().take(per_round).collect()))
            .collect();
        let item = Item {
            workload: "link_create",
            description: format!("link creation ({total} prepared)"),
            specs,
            links_in_table,
        };
        self.measure_items(backend, server, vec![item], database_pid)
            .await?;
        self.raw.measure(self.raw_round)?;
        Ok(())
    }

    /// Measures the items in `ROUNDS` interleaved rounds (so that a burst of
    /// load from elsewhere hits all alike) and keeps each one's best round:
    /// the one with the least server CPU per request.
    async fn measure_items(
        &mut self,
        backend: Backend,
        server: &ServerProcess,
        items: Vec<Item>,
        database_pid: Option<u32>,
    ) -> Result<()> {
        let mut results: Vec<Vec<Summary>> = items.iter().map(|_| Vec::new()).collect();
        for round in 0..ROUNDS {
            for (item, results) in items.iter().zip(&mut results) {
                eprintln!(
                    "bench: {}: round {}/{ROUNDS}: {} ({:.2} s warm-up, {:.2} s, {} connections)",
                    backend.name(),
                    round + 1,
                    item.description,
                    self.warmup.as_secs_f64(),
                    self.round.as_secs_f64(),
                    self.concurrency
                );
                let measured = run_load(
                    server.addr,
                    server.pid(),
                    database_pid,
                    item.specs[round].clone(),
                    self.concurrency,
                    self.warmup,
                    self.round,
                )
                .await?;
                if measured.errors > 0 {
                    eprintln!(
                        "bench: {}: {}: {} failed requests; the first: {}",
                        backend.name(),
                        item.description,
                        measured.errors,
                        measured.first_error.as_deref().unwrap_or("?")
                    );
                }
                ensure!(
                    !measured.latencies_us.is_empty(),
                    "{}: no request succeeded in the measured window{}",
                    item.description,
                    measured
                        .first_error
                        .as_deref()
                        .map(|e| format!(" (first failure: {e})"))
                        .unwrap_or_default()
                );
                results.push(self.summarize(&measured));
            }
        }
        let rss_mb = peak_rss_kb(server.pid())? as f64 / 1024.0;
        for (item, rounds) in items.into_iter().zip(results) {
            let (best_round, best) = rounds
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| {
                    a.server_cpu_us_per_request
                        .total_cmp(&b.server_cpu_us_per_request)
                })
                .map(|(index, best)| (index + 1, best.clone()))
                .ok_or_else(|| anyhow!("no rounds"))?;
            self.rows.push(Row {
                backend: backend.name(),
                workload: item.workload,
                description: item.description,
                links_in_table: item.links_in_table,
                concurrency: self.concurrency,
                best,
                best_round,
                total_errors: rounds.iter().map(|round| round.errors).sum(),
                server_cpu_raw_signs: f64::NAN,
                server_peak_rss_mb: rss_mb,
                rounds,
            });
        }
        Ok(())
    }

    fn summarize(&self, measured: &Measured) -> Summary {
        let requests = measured.latencies_us.len() as u64;
        let per_request = |ticks: u64| ticks as f64 / self.ticks_per_sec * 1e6 / requests as f64;
        let seconds = measured.elapsed.as_secs_f64();
        Summary {
            requests,
            errors: measured.errors,
            seconds,
            requests_per_sec: requests as f64 / seconds,
            p50_ms: percentile(&measured.latencies_us, 0.50) / 1000.0,
            p99_ms: percentile(&measured.latencies_us, 0.99) / 1000.0,
            server_cpu_us_per_request: per_request(measured.server_ticks),
            server_cores_busy: measured.server_ticks as f64 / self.ticks_per_sec / seconds,
            client_cpu_us_per_request: per_request(measured.client_ticks),
            database_cpu_us_per_request: measured.database_ticks.map(per_request),
            count_bound: measured.count_bound,
        }
    }
}

/// One workload to measure, with its requests for each round.
struct Item {
    workload: &'static str,
    description: String,
    specs: Vec<Spec>,
    links_in_table: u64,
}

// --- Seeding ---------------------------------------------------------------

/// Builds the server's state on the database (migrations, master key,
/// directed-id secret) and writes the fixtures the server's way: a developer
/// with an IDP and an app holding an app key sealed under the master key,
/// the two measured accounts with a device each, and the accounts that the
/// link-creation workload links.
async fn seed(
    data_dir: &Path,
    backend: Backend,
    database_url: &str,
    creators: usize,
    now: i64,
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
    let developer_id = new_id(rng, "acc_");
    state
        .store
        .insert_account(&AccountRow {
            id: developer_id.clone(),
            email: "developer@bench.invalid".to_owned(),
            password_hash: "-".to_owned(),
            ssi_enabled: true,
            region: "default".to_owned(),
            is_developer: true,
            created_at: now_ms,
        })
        .await?;
    let pool = bulk_pool(backend, database_url).await?;
    let idp_id = new_id(rng, "idp_");
    sqlx::query("INSERT INTO idps (id, developer_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&idp_id)
        .bind(&developer_id)
        .bind(IDP_NAME)
        .bind(now_ms)
        .execute(&pool)
        .await?;
    let app_id = new_id(rng, "app_");
    sqlx::query(
        "INSERT INTO apps (id, developer_id, package_id, display_name, idp_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&app_id)
    .bind(&developer_id)
    .bind(PACKAGE_ID)
    .bind("Bench")
    .bind(&idp_id)
    .bind(now_ms)
    .execute(&pool)
    .await?;
    let (app_key, scalar) = app_key_pair();
    let (sealed, version) = state
        .master_keys
        .seal(app_key.kid().as_bytes(), &scalar[..], rng);
    sqlx::query(
        "INSERT INTO app_keys (kid, app_id, private_sealed, master_key_version, public_jwk, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(app_key.kid())
    .bind(&app_id)
    .bind(sealed)
    .bind(version)
    .bind(serde_json::to_string(&app_key.public_key().to_jwk())?)
    .bind(now_ms)
    .execute(&pool)
    .await?;

    // Accounts with one device each: the two measured ones, then the creators.
    let devices: Vec<BenchDevice> = (0..creators + 2)
        .map(|_| {
            let account_id = new_id(rng, "acc_");
            let credential = new_secret(rng, "ssid_");
            Ok(BenchDevice {
                amazon_user_id: state.directed_ids.user(&developer_id, &account_id),
                account_id,
                device_id: new_id(rng, "dev_"),
                bearer: HeaderValue::from_str(&format!("Bearer {credential}"))?,
            })
        })
        .collect::<Result<_>>()?;
    let mut tx = pool.begin().await?;
    for chunk in devices.chunks(ROWS_PER_INSERT) {
        let mut accounts = sqlx::query(sqlx::AssertSqlSafe(insert_sql(
            backend,
            "accounts",
            &["id", "email", "password_hash", "created_at"],
            chunk.len(),
        )));
        for device in chunk {
            accounts = accounts
                .bind(device.account_id.clone())
                .bind(format!("{}@bench.invalid", device.account_id))
                .bind("-")
                .bind(now_ms);
        }
        accounts.execute(&mut *tx).await?;
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(insert_sql(
            backend,
            "devices",
            &["id", "account_id", "name", "credential_hash", "created_at"],
            chunk.len(),
        )));
        for device in chunk {
            let credential = device
                .bearer
                .to_str()?
                .strip_prefix("Bearer ")
                .unwrap_or_default();
            rows = rows
                .bind(device.device_id.clone())
                .bind(device.account_id.clone())
                .bind("Bench TV")
                .bind(secret_hash(credential))
                .bind(now_ms);
        }
        rows.execute(&mut *tx).await?;
    }
    tx.commit().await?;

    let partner_key = LinkTokenKey::generate(&mut SystemRandom);
    // A realistic link token and sealed scalar for the filler rows.
    let issued = issue_link(
        "filler-user-000000",
        &devices[0].amazon_user_id,
        BTreeMap::from([("plan".to_owned(), "gold".to_owned())]),
        &partner_key,
        &app_key.public_key(),
        now,
        &mut SystemRandom,
    );
    let filler_key = LinkSigningKey::generate(&mut SystemRandom);
    let (filler_sealed, filler_version) =
        state
            .master_keys
            .seal(b"lnk_filler", filler_key.private_scalar(), rng);
    pool.close().await;
    state.store.close().await;

    let mut devices = devices.into_iter();
    let one = devices.next().ok_or_else(|| anyhow!("no device"))?;
    let ten = devices.next().ok_or_else(|| anyhow!("no device"))?;
    Ok(Fixtures {
        now_ms,
        idp_id,
        app_id,
        app_key,
        partner_key,
        one,
        ten,
        creators: devices.collect(),
        filler: FillerTemplate {
            link_token: issued.link_token,
            sealed: filler_sealed,
            public: filler_key.public_sec1().to_vec(),
            master_key_version: filler_version,
        },
    })
}

/// A fresh app key pair and its private scalar.
pub(super) fn app_key_pair() -> (AppKeyPair, [u8; 32]) {
    loop {
        let mut scalar = [0u8; 32];
        SystemRandom.fill(&mut scalar);
        if let Ok(key) = AppKeyPair::from_private_scalar(&scalar) {
            return (key, scalar);
        }
    }
}

/// A pool on the bench database for seeding and counting, tuned for bulk
/// writes (these settings are this connection's only, not the server's).
async fn bulk_pool(backend: Backend, url: &str) -> Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                match backend {
                    Backend::Sqlite => {
                        conn.execute(
                            "PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; \
                             PRAGMA synchronous=NORMAL; PRAGMA cache_size=-1048576;",
                        )
                        .await?;
                    }
                    Backend::Postgres => {
                        conn.execute("SET synchronous_commit = off").await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .context("connecting to the bench database")?;
    Ok(pool)
}

/// `INSERT INTO table (columns) VALUES ($1, …), (…)` for `rows` rows. On
/// SQLite with `?` placeholders: sqlx looks up each parameter's name, which
/// SQLite finds by a linear scan, quadratic in a statement of thousands of
/// numbered parameters.
pub(super) fn insert_sql(backend: Backend, table: &str, columns: &[&str], rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns.len() {
            n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    let _ = write!(sql, "${n}");
                }
            }
        }
        sql.push(')');
    }
    sql
}

async fn count_links(pool: &AnyPool) -> Result<u64> {
    let row = sqlx::query("SELECT COUNT(*) FROM links")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(row.try_get::<i64, _>(0)?)?)
}

/// Adds `count` filler links for new accounts (`FILLER_LINKS_PER_ACCOUNT`
/// each, under the bench IDP) in multi-row INSERTs, `LINKS_PER_TRANSACTION`
/// per transaction. `first` numbers the filler users uniquely.
async fn fill_links(
    pool: &AnyPool,
    backend: Backend,
    fixtures: &Fixtures,
    first: u64,
    count: u64,
) -> Result<()> {
    eprintln!(
        "bench: {}: adding {} filler links of other accounts",
        backend.name(),
        group_thousands(count as f64)
    );
    let progress = ProgressBar::new(count).with_style(
        ProgressStyle::with_template(
            "bench: filler links {bar:40} {human_pos}/{human_len} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let rng = &SystemRandomSource;
    let now_ms = fixtures.now_ms;
    let started = Instant::now();
    let mut done = 0u64;
    while done < count {
        let in_tx = (count - done).min(LINKS_PER_TRANSACTION);
        let accounts: Vec<String> = (0..in_tx.div_ceil(FILLER_LINKS_PER_ACCOUNT))
            .map(|_| new_id(rng, "acc_"))
            .collect();
        let mut tx = pool.begin().await?;
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_sql(
                backend,
                "accounts",
                &["id", "email", "password_hash", "created_at"],
                chunk.len(),
            )));
            for id in chunk {
                query = query
                    .bind(id.clone())
                    .bind(format!("{id}@filler.invalid"))
                    .bind("-")
                    .bind(now_ms);
            }
            query.execute(&mut *tx).await?;
        }
        let numbers: Vec<u64> = (0..in_tx).collect();
        for chunk in numbers.chunks(ROWS_PER_INSERT) {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_sql(
                backend,
                "links",
                &[
                    "id",
                    "account_id",
                    "idp_id",
                    "partner_user_id",
                    "user_login_name",
                    "link_token",
                    "signing_key_sealed",
                    "signing_key_public",
                    "master_key_version",
                    "created_by_app_id",
                    "created_by_device_id",
                    "created_at",
                ],
                chunk.len(),
            )));
            for &n in chunk {
                let user = first + done + n;
                let account = &accounts[(n / FILLER_LINKS_PER_ACCOUNT) as usize];
                query = query
                    .bind(new_id(rng, "lnk_"))
                    .bind(account.clone())
                    .bind(fixtures.idp_id.clone())
                    .bind(format!("filler-user-{user:09}"))
                    .bind(format!("filler-user-{user:09}@partner.example"))
                    .bind(fixtures.filler.link_token.clone())
                    .bind(fixtures.filler.sealed.clone())
                    .bind(fixtures.filler.public.clone())
                    .bind(fixtures.filler.master_key_version)
                    .bind(fixtures.app_id.clone())
                    .bind(None::<String>)
                    .bind(now_ms);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        done += in_tx;
        progress.set_position(done);
    }
    progress.finish_and_clear();
    // What a running installation would have: planner statistics (PostgreSQL's
    // autovacuum) and a checkpointed WAL.
    match backend {
        Backend::Sqlite => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
        }
        Backend::Postgres => {
            // Also what autovacuum would otherwise start during a measurement.
            sqlx::query("VACUUM ANALYZE").execute(pool).await?;
            if let Err(error) = sqlx::query("CHECKPOINT").execute(pool).await {
                eprintln!("bench: CHECKPOINT refused ({error}); continuing");
            }
        }
    }
    eprintln!(
        "bench: {}: {} filler links in {:.1} s",
        backend.name(),
        group_thousands(count as f64),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// --- Link requests -----------------------------------------------------------

/// One link-creation request, prepared in advance.
struct Prepared {
    bearer: HeaderValue,
    body: Bytes,
}

/// The body of `POST /v1/device/links` for a fresh link of `partner_user_id`,
/// made the partner's way (link token and sealed signing key).
fn link_request_body(
    fixtures: &Fixtures,
    device: &BenchDevice,
    partner_user_id: &str,
    now: i64,
) -> Result<Bytes> {
    let issued = issue_link(
        partner_user_id,
        &device.amazon_user_id,
        BTreeMap::from([("plan".to_owned(), "gold".to_owned())]),
        &fixtures.partner_key,
        &fixtures.app_key.public_key(),
        now,
        &mut SystemRandom,
    );
    let body = CreateLinkRequest {
        package_id: PACKAGE_ID.to_owned(),
        request: LinkUserAccountRequest {
            partner_user_id: partner_user_id.to_owned(),
            identity_provider_name: IDP_NAME.to_owned(),
            user_login_name: format!("{partner_user_id}@partner.example"),
            link_token: Token::link(issued.link_token),
            link_signing_key: issued.sealed_signing_key,
        },
    };
    Ok(Bytes::from(serde_json::to_vec(&body)?))
}

/// `count` link requests with fresh partner users, spread over the creator
/// accounts round-robin (consecutive requests go to different accounts, and
/// none gets more than `LINKS_PER_CREATOR`). Made on every core.
fn prepare_link_requests(
    fixtures: &Fixtures,
    count: usize,
    tag: &str,
    now: i64,
) -> Result<Vec<Prepared>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = count.div_ceil(threads);
    let parts: Vec<Result<Vec<Prepared>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    let start = thread * per_thread;
                    let end = (start + per_thread).min(count);
                    (start..end)
                        .map(|index| {
                            let device = &fixtures.creators[index % fixtures.creators.len()];
                            let user = format!("bench-{tag}-user-{index:07}");
                            Ok(Prepared {
                                bearer: device.bearer.clone(),
                                body: link_request_body(fixtures, device, &user, now)?,
                            })
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("a preparing thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}

// --- The load generator ------------------------------------------------------

/// What a good response looks like.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `200`.
    Status,
    /// `200`, `SUCCESSFUL`, and this many SSI tokens.
    Links(usize),
    /// `200` and `LINK_ESTABLISHED`.
    Linked,
}

impl Expect {
    fn check(self, status: StatusCode, body: &[u8]) -> bool {
        if status != StatusCode::OK {
            return false;
        }
        match self {
            Self::Status => true,
            Self::Links(n) => {
                contains(body, b"\"requestStatus\":\"SUCCESSFUL\"")
                    && occurrences(body, b"\"ssiToken\"") == n
            }
            Self::Linked => contains(body, b"\"LINK_ESTABLISHED\""),
        }
    }
}

fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The requests of one workload: the same one over and over, or each of a
/// prepared list once (then the count bounds the workload too).
#[derive(Clone)]
struct Spec {
    method: Method,
    path: &'static str,
    bearer: Option<HeaderValue>,
    body: Option<Bytes>,
    prepared: Option<Arc<Vec<Prepared>>>,
    expect: Expect,
}

impl Spec {
    fn repeat(
        method: Method,
        path: &'static str,
        bearer: Option<&HeaderValue>,
        body: Option<Bytes>,
        expect: Expect,
    ) -> Self {
        Self {
            method,
            path,
            bearer: bearer.cloned(),
            body,
            prepared: None,
            expect,
        }
    }

    fn prepared(requests: Vec<Prepared>) -> Self {
        Self {
            method: Method::POST,
            path: "/v1/device/links",
            bearer: None,
            body: None,
            prepared: Some(Arc::new(requests)),
            expect: Expect::Linked,
        }
    }
}

/// One HTTP/1.1 keep-alive connection to the server.
pub(super) struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Connection {
    pub(super) async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
        })
    }

    pub(super) async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&HeaderValue>,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(bearer) = bearer {
            request = request.header(AUTHORIZATION, bearer.clone());
        }
        let body = match body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, "application/json");
                body
            }
            None => Bytes::new(),
        };
        self.sender.ready().await.context("the connection closed")?;
        let response = self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await
            .context("sending a request")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading a response")?
            .to_bytes();
        Ok((status, body))
    }
}

/// A one-off client for the set-up calls.
struct HttpTarget {
    addr: SocketAddr,
}

impl HttpTarget {
    fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&HeaderValue>,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Value)> {
        let mut connection = Connection::open(self.addr).await?;
        let (status, body) = connection.send(method, path, bearer, body).await?;
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, json))
    }
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// What a workload measured: the successful requests that completed after
/// the warm-up, and the CPU ticks of the server and of this process from
/// the end of the warm-up to the end of the last request.
struct Measured {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    server_ticks: u64,
    client_ticks: u64,
    database_ticks: Option<u64>,
    count_bound: bool,
}

async fn run_load(
    addr: SocketAddr,
    pid: u32,
    database_pid: Option<u32>,
    spec: Spec,
    concurrency: usize,
    warmup: Duration,
    seconds: Duration,
) -> Result<Measured> {
    let spec = Arc::new(spec);
    let next = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(Connection::open(addr).await?);
    }
    let measure_from = Instant::now() + warmup;
    let stop_at = measure_from + seconds;
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            tokio::spawn(worker(
                connection,
                spec.clone(),
                next.clone(),
                measure_from,
                stop_at,
            ))
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let server_start = cpu_ticks(&format!("/proc/{pid}/stat"))?;
    let client_start = cpu_ticks("/proc/self/stat")?;
    let database_start = database_pid.map(cluster_cpu_ticks).transpose()?;
    let window_start = Instant::now();
    let mut results = Vec::with_capacity(workers.len());
    for worker in workers {
        results.push(worker.await.context("a load worker panicked")??);
    }
    let elapsed = window_start.elapsed();
    let server_ticks = cpu_ticks(&format!("/proc/{pid}/stat"))? - server_start;
    let client_ticks = cpu_ticks("/proc/self/stat")? - client_start;
    let database_ticks = match (database_pid, database_start) {
        (Some(pid), Some(start)) => Some(cluster_cpu_ticks(pid)?.saturating_sub(start)),
        _ => None,
    };
    let mut latencies_us: Vec<u32> = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for result in results {
        latencies_us.extend(result.latencies_us);
        errors += result.errors;
        first_error = first_error.or(result.first_error);
    }
    latencies_us.sort_unstable();
    let count_bound = spec
        .prepared
        .as_ref()
        .is_some_and(|list| next.load(Ordering::Relaxed) >= list.len());
    Ok(Measured {
        latencies_us,
        errors,
        first_error,
        elapsed,
        server_ticks,
        client_ticks,
        database_ticks,
        count_bound,
    })
}

async fn worker(
    mut connection: Connection,
    spec: Arc<Spec>,
    next: Arc<AtomicUsize>,
    measure_from: Instant,
    stop_at: Instant,
) -> Result<WorkerResult> {
    let mut result = WorkerResult::default();
    while Instant::now() < stop_at {
        let (bearer, body) = match &spec.prepared {
            Some(list) => match list.get(next.fetch_add(1, Ordering::Relaxed)) {
                Some(prepared) => (Some(&prepared.bearer), Some(prepared.body.clone())),
                None => break,
            },
            None => (spec.bearer.as_ref(), spec.body.clone()),
        };
        let started = Instant::now();
        let (status, body) = connection
            .send(spec.method.clone(), spec.path, bearer, body)
            .await?;
        let done = Instant::now();
        if spec.expect.check(status, &body) {
            if done >= measure_from {
                let micros = (done - started).as_micros();
                result
                    .latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
        } else {
            result.errors += 1;
            if result.first_error.is_none() {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                result.first_error = Some(format!("{status}: {text}"));
            }
        }
    }
    Ok(result)
}

/// Nearest-rank percentile of sorted values, as f64.
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1])
}

// --- The server process ------------------------------------------------------

/// `ssi server` (this binary) on the bench data directory and database,
/// listening on an ephemeral loopback port; its log goes to a file.
pub(super) struct ServerProcess {
    child: Option<Child>,
    pub(super) addr: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    pub(super) fn start(
        data_dir: &Path,
        backend: Backend,
        database_url: &str,
        log: &Path,
    ) -> Result<Self> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let mut command = Command::new(exe);
        command
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"]);
        // Only the flags above count: no configuration from the environment.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SSI_") {
                command.env_remove(name);
            }
        }
        if backend == Backend::Postgres {
            // In the environment rather than argv, which other users can read.
            command.env("SSI_DATABASE_URL", database_url);
        }
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .context("starting `ssi server`")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = sender.send(addr.to_owned());
                }
            }
        });
        let mut process = Self {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: log.to_owned(),
        };
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => {
                process.addr = addr
                    .parse()
                    .with_context(|| format!("the server printed an odd address {addr:?}"))?;
                Ok(process)
            }
            Err(_) => {
                process.kill();
                bail!(
                    "the server did not start within 60 s; its log:\n{}",
                    log_tail(log)
                )
            }
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGTERM, then up to 30 s for a clean exit.
    pub(super) async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                ensure!(
                    status.success(),
                    "the server exited with {status}; its log:\n{}",
                    log_tail(&self.log)
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the server did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// utime + stime of a process, in clock ticks (all its threads, also those
/// that have exited).
pub(super) fn cpu_ticks(stat_path: &str) -> Result<u64> {
    let text =
        std::fs::read_to_string(stat_path).with_context(|| format!("reading {stat_path}"))?;
    let fields = stat_fields(&text).ok_or_else(|| anyhow!("{stat_path}: unexpected format"))?;
    Ok(stat_field(&fields, 14)? + stat_field(&fields, 15)?)
}

/// The CPU ticks of a PostgreSQL cluster: the postmaster's own, those of
/// its children that it has reaped (cutime + cstime), and those of its live
/// children (backends, autovacuum, the WAL writer…).
pub(super) fn cluster_cpu_ticks(postmaster: u32) -> Result<u64> {
    let own = std::fs::read_to_string(format!("/proc/{postmaster}/stat"))
        .with_context(|| format!("reading /proc/{postmaster}/stat"))?;
    let fields = stat_fields(&own).ok_or_else(|| anyhow!("postmaster stat: unexpected format"))?;
    let mut total = stat_field(&fields, 14)?
        + stat_field(&fields, 15)?
        + stat_field(&fields, 16)?
        + stat_field(&fields, 17)?;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        // A process may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(fields) = stat_fields(&text) else {
            continue;
        };
        if stat_field(&fields, 4).ok() == Some(u64::from(postmaster)) {
            total += stat_field(&fields, 14)? + stat_field(&fields, 15)?;
        }
    }
    Ok(total)
}

/// The fields of a `/proc/<pid>/stat` line from field 3 (state) on: the
/// command name before them may hold spaces and parentheses.
fn stat_fields(text: &str) -> Option<Vec<&str>> {
    text.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
}

/// Field `number` (1-based, as in proc(5)) of [`stat_fields`].
fn stat_field(fields: &[&str], number: usize) -> Result<u64> {
    fields
        .get(number - 3)
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| anyhow!("/proc stat: no field {number}"))
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kb(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("{path}: no VmHWM"))
}

/// `getconf CLK_TCK`, else Linux's usual 100.
pub(super) fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

pub(super) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut values = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([values.next()??, values.next()??, values.next()??])
}

// --- PostgreSQL --------------------------------------------------------------

/// A fresh database on the server of `admin_url`: its URL and name.
async fn create_database(admin_url: &str) -> Result<(String, String)> {
    let mut suffix = [0u8; 6];
    SystemRandom.fill(&mut suffix);
    let name = format!(
        "ssi_bench_{}_{}",
        std::process::id(),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut conn = pg_admin(admin_url).await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .context("CREATE DATABASE")?;
    conn.close().await?;
    Ok((with_database(admin_url, &name)?, name))
}

async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let mut conn = pg_admin(admin_url).await?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .await?;
    conn.close().await?;
    Ok(())
}

async fn pg_admin(admin_url: &str) -> Result<sqlx::PgConnection> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match sqlx::PgConnection::connect(admin_url).await {
            Ok(conn) => return Ok(conn),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => {
                return Err(anyhow!(
                    "cannot reach PostgreSQL at {}: {error}",
                    redact_url_password(admin_url)
                ));
            }
        }
    }
}

/// `postgres://u@h:5432/db?x=y` with another database name.
fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| anyhow!("the PostgreSQL URL has no scheme"))?;
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// A PostgreSQL cluster of this run only, with default settings, listening
/// on loopback; stopped and removed when dropped (or, should this process be
/// killed, by a watcher that waits for it to end).
pub(super) struct PgCluster {
    url: String,
    version: String,
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
}

impl PgCluster {
    fn start() -> Result<Self> {
        let root = Path::new("/usr/lib/postgresql");
        let mut bins: Vec<PathBuf> = std::fs::read_dir(root)
            .with_context(|| {
                format!(
                    "PostgreSQL is not installed ({}); install it or pass --postgres-url",
                    root.display()
                )
            })?
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        bins.sort();
        let bin = bins
            .pop()
            .ok_or_else(|| anyhow!("no PostgreSQL server binaries under {}", root.display()))?;
        let version = bin
            .parent()
            .and_then(Path::file_name)
            .map_or_else(String::new, |v| v.to_string_lossy().into_owned());
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let dir = std::env::temp_dir().join(format!("ssi-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()?;
            ensure!(status.success(), "chown of {} failed", dir.display());
        }
        let mut cluster = Self {
            url: String::new(),
            version,
            bin,
            dir,
            as_postgres,
        };
        cluster.watch_this_process();
        let data = cluster.dir.join("data");
        let output = cluster
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .context("running initdb")?;
        ensure!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = cluster.dir.join("postgres.log");
        let status = cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                cluster.dir.display()
            ))
            .args(["-w", "start"])
            .stdout(Stdio::null())
            .status()
            .context("running pg_ctl start")?;
        ensure!(
            status.success(),
            "pg_ctl start failed; see {}",
            log.display()
        );
        cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        Ok(cluster)
    }

    /// The postmaster's pid, from `postmaster.pid`.
    pub(super) fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Stops the cluster once this process is gone, however it ends.
    fn watch_this_process(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {runuser}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            runuser = if self.as_postgres {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.dir.join("data").display(),
            dir = self.dir.display(),
        );
        // The watcher outlives this process by design: never waited for.
        #[allow(clippy::zombie_processes)]
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// --- The report ---------------------------------------------------------------

#[derive(Debug, Serialize)]
struct TargetRow {
    backend: &'static str,
    target: String,
    measured: f64,
    /// `<=` or `>=`.
    relation: &'static str,
    value: f64,
    met: bool,
}

impl TargetRow {
    fn at_most(backend: &'static str, target: String, measured: f64, value: f64) -> Self {
        Self {
            backend,
            target,
            measured,
            relation: "<=",
            value,
            met: measured <= value,
        }
    }

    fn at_least(backend: &'static str, target: String, measured: f64, value: f64) -> Self {
        Self {
            backend,
            target,
            measured,
            relation: ">=",
            value,
            met: measured >= value,
        }
    }
}

#[derive(Debug, Serialize)]
struct RawReport {
    implementation: &'static str,
    ops_per_sec: f64,
    us_per_op: f64,
    message_bytes: usize,
    rounds: u32,
    statistic: &'static str,
}

#[derive(Debug, Serialize)]
struct Report {
    bench: &'static str,
    seconds_per_workload: f64,
    rounds: usize,
    seconds_per_round: f64,
    warmup_seconds: f64,
    statistic: &'static str,
    concurrency: usize,
    cpus: usize,
    load_average_start: Option<[f64; 3]>,
    load_average_end: Option<[f64; 3]>,
    clock_ticks_per_sec: f64,
    postgres: Option<String>,
    raw_sign: RawReport,
    rows: Vec<Row>,
    targets: Vec<TargetRow>,
}

impl Bench<'_> {
    fn report(&self, seconds: f64) -> Report {
        let raw_us = self.raw.us_per_sign();
        let mut rows = self.rows.clone();
        for row in &mut rows {
            row.server_cpu_raw_signs = row.best.server_cpu_us_per_request / raw_us;
        }
        let mut targets = Vec::new();
        let backends: Vec<&'static str> = {
            let mut names: Vec<&'static str> = rows.iter().map(|row| row.backend).collect();
            names.dedup();
            names
        };
        for backend in backends {
            let of = |workload: &'static str| {
                rows.iter()
                    .filter(move |r| r.backend == backend && r.workload == workload)
            };
            if let Some(row) = of("user_and_links_1").next() {
                targets.push(TargetRow::at_most(
                    backend,
                    "getUserAndLinks, 1 link: server CPU per request in raw ES256 signatures"
                        .into(),
                    row.server_cpu_raw_signs,
                    TARGET_RAW_SIGNS,
                ));
            }
            if backend == Backend::Sqlite.name()
                && let Some(row) = of("link_create").next()
            {
                targets.push(TargetRow::at_least(
                    backend,
                    "link creation: links per second".into(),
                    row.best.requests_per_sec,
                    TARGET_LINKS_PER_SEC_SQLITE,
                ));
            }
            let scale: Vec<&Row> = of("user_and_links_1_scale").collect();
            if let [smallest, .., largest] = scale.as_slice() {
                targets.push(TargetRow::at_most(
                    backend,
                    format!(
                        "getUserAndLinks p50 at {} links / at {} links",
                        group_thousands(largest.links_in_table as f64),
                        group_thousands(smallest.links_in_table as f64)
                    ),
                    largest.best.p50_ms / smallest.best.p50_ms,
                    TARGET_SCALE_RATIO,
                ));
            }
            if let Some(peak) = of_any(&rows, backend)
                .map(|r| r.server_peak_rss_mb)
                .reduce(f64::max)
            {
                targets.push(TargetRow::at_most(
                    backend,
                    "server peak RSS (VmHWM), MB".into(),
                    peak,
                    TARGET_RSS_MB,
                ));
            }
        }
        Report {
            bench: "server",
            seconds_per_workload: seconds,
            rounds: ROUNDS,
            seconds_per_round: self.round.as_secs_f64(),
            warmup_seconds: self.warmup.as_secs_f64(),
            statistic: "best round: the least server CPU per request",
            concurrency: self.concurrency,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            load_average_start: self.load_start,
            load_average_end: load_average(),
            clock_ticks_per_sec: self.ticks_per_sec,
            postgres: self.postgres.clone(),
            raw_sign: RawReport {
                implementation: "aws-lc-rs",
                ops_per_sec: self.raw.best_rate,
                us_per_op: raw_us,
                message_bytes: self.raw.message.as_ref().map_or(0, Vec::len),
                rounds: self.raw.rounds,
                statistic: "best round",
            },
            rows,
            targets,
        }
    }
}

fn of_any<'r>(rows: &'r [Row], backend: &'static str) -> impl Iterator<Item = &'r Row> {
    rows.iter().filter(move |row| row.backend == backend)
}

impl Report {
    fn to_text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| {
                vec![
                    row.backend.to_owned(),
                    row.description.clone(),
                    group_thousands(row.links_in_table as f64),
                    group_thousands(row.best.requests_per_sec),
                    format!("{:.2}", row.best.p50_ms),
                    format!("{:.2}", row.best.p99_ms),
                    format!("{:.0}", row.best.server_cpu_us_per_request),
                    format!("{:.2}", row.server_cpu_raw_signs),
                    row.best
                        .database_cpu_us_per_request
                        .map_or_else(|| "-".to_owned(), |us| format!("{us:.0}")),
                    format!("{:.2}", row.best.server_cores_busy),
                    format!("{:.1}", row.server_peak_rss_mb),
                    row.total_errors.to_string(),
                ]
            })
            .collect();
        let mut out = render_table(
            &[
                "backend",
                "workload",
                "links",
                "req/s",
                "p50 ms",
                "p99 ms",
                "CPU µs/req",
                "raw signs",
                "DB µs/req",
                "cores",
                "RSS MB",
                "errors",
            ],
            &[
                false, false, true, true, true, true, true, true, true, true, true, true,
            ],
            &rows,
        );
        out.push('\n');
        let targets: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|t| {
                vec![
                    t.backend.to_owned(),
                    t.target.clone(),
                    if t.measured >= 100.0 {
                        group_thousands(t.measured)
                    } else {
                        format!("{:.2}", t.measured)
                    },
                    format!(
                        "{} {}",
                        t.relation,
                        if t.value >= 100.0 {
                            group_thousands(t.value)
                        } else {
                            format!("{:.2}", t.value)
                        }
                    ),
                    if t.met { "met" } else { "MISSED" }.to_owned(),
                ]
            })
            .collect();
        out.push_str(&render_table(
            &[
                "backend",
                "target (DESIGN.md section 11)",
                "measured",
                "target",
                "",
            ],
            &[false, false, true, false, false],
            &targets,
        ));
        out.push('\n');
        let _ = writeln!(
            out,
            "Raw ES256 sign (aws-lc-rs, one thread, best of {} rounds): {} signatures/s = {:.2} µs each, over the {}-byte signing input of a token the server minted.",
            self.raw_sign.rounds,
            group_thousands(self.raw_sign.ops_per_sec),
            self.raw_sign.us_per_op,
            self.raw_sign.message_bytes
        );
        let _ = writeln!(
            out,
            "Server: `ssi server` in a child process, default settings; CPU = utime + stime of /proc/<pid>/stat ({} ticks/s) over the measured window, per successful request; \"raw signs\" = that / one raw signature; \"cores\" = server CPU seconds per second; RSS = VmHWM (peak so far).",
            self.clock_ticks_per_sec
        );
        let _ = writeln!(
            out,
            "Client: {} keep-alive HTTP/1.1 connections on loopback from one thread of this process. Each workload: {ROUNDS} rounds (interleaved where the table allows) of {:.2} s warm-up + {:.2} s measured; shown: the round with the least server CPU per request (errors: all rounds). Link creation: each request a fresh partner user with its own link token and sealed key made in advance, bounded by their count{}; it runs last, on the largest table.",
            self.concurrency,
            self.warmup_seconds,
            self.seconds_per_round,
            if self.rows.iter().any(|r| r.best.count_bound) {
                " (reached: the window ended early)"
            } else {
                ""
            }
        );
        if let Some(postgres) = &self.postgres {
            let _ = writeln!(
                out,
                "PostgreSQL: {postgres}; \"DB µs/req\" = CPU of all the cluster's processes per request (private cluster only; on SQLite the database works inside the server process)."
            );
        }
        let load = |load: Option<[f64; 3]>| {
            load.map_or_else(
                || "?".to_owned(),
                |l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]),
            )
        };
        let _ = writeln!(
            out,
            "Machine: {} CPUs; load average {} at the start, {} at the end.",
            self.cpus,
            load(self.load_average_start),
            load(self.load_average_end)
        );
        out
    }
}
