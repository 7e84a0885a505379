//! `ssi admin report` and `ssi admin recompute-aggregates` on real databases
//! (SQLite and PostgreSQL): raw events written straight into the database
//! are counted only once the aggregates are recomputed; the CSV on stdout
//! and in a file is exact at the leap day and the month boundaries; a month
//! range has one header; SVG charts land in the directory; bad arguments are
//! refused naming the argument.

use sqlx::AnyPool;
use ssi_server::reports::UtcDate;

use crate::server::{Backend, Output, Place, run_ssi, strs};

/// `ssi admin --data-dir … [--database-url …] ARGS`.
fn admin(place: &Place, args: &[&str]) -> Output {
    let mut all = vec!["admin".to_owned()];
    all.extend(place.args());
    all.extend(args.iter().map(|&a| a.to_owned()));
    run_ssi(&strs(&all), &[], "")
}

/// What one `ssi admin` run must do.
enum Expect<'a> {
    /// Exit 0, printing exactly this on stdout.
    Prints(&'a str),
    /// Exit 0 (stdout checked by the caller).
    Succeeds,
    /// Exit 1 with every fragment on stderr and nothing on stdout.
    Refused(&'a [&'a str]),
}

/// Runs `ssi admin ARGS` and checks it; returns stdout.
fn check(place: &Place, args: &[&str], expect: Expect<'_>) -> String {
    let output = admin(place, args);
    let context = format!("ssi admin {}: {}", args.join(" "), output.context());
    match expect {
        Expect::Prints(stdout) => {
            assert_eq!(output.code, Some(0), "{context}");
            assert_eq!(output.stdout, stdout, "{context}");
        }
        Expect::Succeeds => assert_eq!(output.code, Some(0), "{context}"),
        Expect::Refused(fragments) => {
            assert_eq!(
                (output.code, output.stdout.as_str()),
                (Some(1), ""),
                "{context}"
            );
            for fragment in fragments {
                assert!(
                    output.stderr.contains(fragment),
                    "lacks {fragment:?}: {context}"
                );
            }
        }
    }
    output.stdout
}

fn ms(date: &str, hours: i64, millis: i64) -> i64 {
    let day: UtcDate = date.parse().expect("a test date");
    day.start_ms() + hours * 3_600_000 + millis
}

async fn execute(pool: &AnyPool, sql: &str, binds: &[&str]) {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for bind in binds {
        query = query.bind(*bind);
    }
    query.execute(pool).await.expect("insert");
}

const NAME_IN_CSV: &str = "\"'=Sum, \"\"x\"\"\"";

/// The February 2024 CSV of the one app `app_rep`.
fn february() -> String {
    let mut csv = "date,app_id,app_name,links_created,consent_denied,login_success,\
                   login_failure,login_failure_unauthorized,login_failure_bad_request,\
                   login_failure_not_found,login_failure_forbidden,\
                   login_failure_internal_server_error,manual_signin_selected\n"
        .to_owned();
    for day in 1..=29 {
        let counts = match day {
            1 => "0,0,0,1,0,0,1,0,0,0",
            29 => "0,1,1,0,0,0,0,0,0,0",
            _ => "0,0,0,0,0,0,0,0,0,0",
        };
        csv.push_str(&format!(
            "2024-02-{day:02},app_rep,{NAME_IN_CSV},{counts}\n"
        ));
    }
    csv
}

async fn report_commands(backend: Backend) {
    let place = Place::new(backend).await;
    let created = admin(
        &place,
        &[
            "create-account",
            "--email",
            "reports@example.com",
            "--developer",
        ],
    );
    let developer_id = created
        .ok()
        .lines()
        .find_map(|line| line.strip_prefix("account: "))
        .expect("the account id")
        .to_owned();
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&place.sql_url())
        .await
        .expect("the database");
    execute(
        &pool,
        "INSERT INTO apps (id, developer_id, package_id, display_name, created_at) \
         VALUES ('app_rep', $1, 'com.example.rep', '=Sum, \"x\"', 0)",
        &[&developer_id],
    )
    .await;
    // Raw events only, as an older server would have left them.
    let events: [(&str, Option<&str>, i64); 5] = [
        ("ENABLE_SSI", None, ms("2024-01-31", 23, 3_599_999)),
        ("LOGIN_FAILURE", Some("NOT_FOUND"), ms("2024-02-01", 0, 0)),
        ("CONSENT_DENIED", None, ms("2024-02-29", 12, 0)),
        ("LOGIN_SUCCESS", None, ms("2024-02-29", 23, 3_599_999)),
        ("LOGIN_SUCCESS", None, ms("2024-03-01", 0, 0)),
    ];
    for (i, (event, reason, at)) in events.iter().enumerate() {
        let mut query = sqlx::query(
            "INSERT INTO metric_events (source, idempotency_key, app_id, event, failure_reason, \
             occurred_at, received_at) VALUES ('dev_cli', $1, 'app_rep', $2, $3, $4, $4)",
        )
        .bind(format!("e{i}"))
        .bind(*event)
        .bind(*reason);
        query = query.bind(*at);
        query.execute(&pool).await.expect("insert an event");
    }
    let month = [
        "report",
        "--developer",
        "reports@example.com",
        "--month",
        "2024-02",
    ];
    let zeros = february()
        .replace("0,0,0,1,0,0,1,0,0,0", "0,0,0,0,0,0,0,0,0,0")
        .replace("0,1,1,0,0,0,0,0,0,0", "0,0,0,0,0,0,0,0,0,0");
    check(&place, &month, Expect::Prints(&zeros));

    check(
        &place,
        &[
            "recompute-aggregates",
            "--from",
            "2024-01-31",
            "--to",
            "2024-03-01",
        ],
        Expect::Prints(
            "recomputed the daily aggregates of 31 days (2024-01-31 to 2024-03-01): \
            4 (app, day) rows\n",
        ),
    );
    check(&place, &month, Expect::Prints(&february()));
    let by_id = ["report", "--developer", &developer_id, "--month", "2024-02"];
    check(&place, &by_id, Expect::Prints(&february()));

    // Into a file, with the charts.
    let csv_path = place.dir.path().join("feb.csv");
    let svg_dir = place.dir.path().join("charts");
    let (csv_arg, svg_arg) = (
        csv_path.display().to_string(),
        svg_dir.display().to_string(),
    );
    let mut to_files = month.to_vec();
    to_files.extend(["--out", &csv_arg, "--svg", &svg_arg]);
    check(
        &place,
        &to_files,
        Expect::Prints(&format!(
            "wrote 29 rows (2024-02 to 2024-02) to {csv_arg}\nwrote 1 charts to {svg_arg}\n"
        )),
    );
    assert_eq!(
        std::fs::read_to_string(&csv_path).expect("the CSV"),
        february()
    );
    let svg = std::fs::read_to_string(svg_dir.join("app_rep-2024-02.svg")).expect("the chart");
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains("=Sum, &quot;x&quot; (app_rep)"), "{svg}");

    // A range: one header, every day of the three months in order.
    let range = check(
        &place,
        &[
            "report",
            "--developer",
            "reports@example.com",
            "--from-month",
            "2024-01",
            "--to-month",
            "2024-03",
        ],
        Expect::Succeeds,
    );
    let lines: Vec<&str> = range.lines().collect();
    assert_eq!(lines.len(), 1 + 31 + 29 + 31, "{range}");
    assert_eq!(range.matches("date,app_id").count(), 1, "{range}");
    assert_eq!(
        lines[1],
        format!("2024-01-01,app_rep,{NAME_IN_CSV},0,0,0,0,0,0,0,0,0,0")
    );
    assert_eq!(
        lines[31],
        format!("2024-01-31,app_rep,{NAME_IN_CSV},1,0,0,0,0,0,0,0,0,0")
    );
    assert_eq!(
        lines[32..61].join("\n") + "\n",
        february().split_once('\n').unwrap().1
    );
    assert_eq!(
        lines[61],
        format!("2024-03-01,app_rep,{NAME_IN_CSV},0,0,1,0,0,0,0,0,0,0")
    );
    assert!(lines[91].starts_with("2024-03-31,"), "{range}");

    // Refusals name the argument and the limit.
    let report = |extra: &[&'static str]| {
        let mut args = vec!["report", "--developer", "reports@example.com"];
        args.extend_from_slice(extra);
        args
    };
    let refusals: [(Vec<&str>, &[&str]); 9] = [
        (
            report(&["--month", "2024-13"]),
            &["--month", "expected YYYY-MM", "2024-13"],
        ),
        (
            report(&["--month", "24-01"]),
            &["--month", "expected YYYY-MM"],
        ),
        (report(&[]), &["--month"]),
        (
            report(&[
                "--month",
                "2024-02",
                "--from-month",
                "2024-01",
                "--to-month",
                "2024-02",
            ]),
            &["--month", "--from-month"],
        ),
        (report(&["--from-month", "2024-01"]), &["--to-month"]),
        (
            report(&["--from-month", "2024-03", "--to-month", "2024-01"]),
            &["month range", "2024-03", "2024-01"],
        ),
        (
            vec![
                "report",
                "--developer",
                "nobody@example.com",
                "--month",
                "2024-02",
            ],
            &["no developer account nobody@example.com"],
        ),
        (
            vec![
                "recompute-aggregates",
                "--from",
                "2024-03-01",
                "--to",
                "2024-02-01",
            ],
            &["date range", "2024-03-01", "2024-02-01"],
        ),
        (
            vec![
                "recompute-aggregates",
                "--from",
                "2023-02-29",
                "--to",
                "2024-02-01",
            ],
            &["--from", "expected YYYY-MM-DD", "2023-02-29"],
        ),
    ];
    for (args, fragments) in &refusals {
        check(&place, args, Expect::Refused(fragments));
    }
}

#[tokio::test]
async fn report_commands_on_sqlite() {
    report_commands(Backend::Sqlite).await;
}

#[tokio::test]
async fn report_commands_on_postgres() {
    report_commands(Backend::Postgres).await;
}

/// `ssi bench ingest`: a smoke test that both workloads run against a real
/// server child process and report positive figures (never a timed
/// assertion), and that the report counted every bulk event (the bench
/// checks that itself and fails otherwise).
#[test]
fn bench_ingest_measures_ingestion_and_the_report() {
    let dir = crate::temp_dir();
    let report = crate::check(
        dir.path(),
        crate::case(&[
            "bench",
            "ingest",
            "--backend",
            "sqlite",
            "--seconds",
            "0.6",
            "--batch",
            "50",
            "--report-events",
            "20000",
            "--json",
        ])
        .stderr_has(&["raw INSERTs", "device API", "with bulk SQL"]),
    )
    .json();
    let backend = &report[0];
    assert_eq!(backend["backend"], "sqlite", "{report}");
    for figure in [
        "raw_events_per_sec",
        "ingest_events_per_sec",
        "ingest_to_raw",
    ] {
        assert!(
            backend[figure].as_f64().unwrap() > 0.0,
            "{figure}: {report}"
        );
    }
    assert_eq!(backend["ingest_rounds"].as_array().unwrap().len(), 3);
    let figures = &backend["report"];
    assert_eq!(figures["events"], 20000);
    assert_eq!(figures["apps"], 10);
    // Ten apps on every day of the month.
    let rows = figures["rows"].as_u64().unwrap();
    assert!([280, 290, 300, 310].contains(&rows), "{rows}");
    assert!(figures["best_report_ms"].as_f64().unwrap() > 0.0);
}
