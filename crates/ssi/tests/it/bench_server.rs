//! `ssi bench server`: a smoke test that every workload is measured against
//! a real server child process and reported with positive figures (never a
//! timed assertion: the targets may be met or missed).

use crate::{case, check, temp_dir};

const WORKLOADS: [&str; 6] = [
    "healthz",
    "whoami",
    "user_and_links_1",
    "user_and_links_10",
    "user_and_links_1_scale",
    "link_create",
];

const POSITIVE: [&str; 8] = [
    "requests_per_sec",
    "p50_ms",
    "p99_ms",
    "server_cpu_us_per_request",
    "server_cpu_raw_signs",
    "server_cores_busy",
    "server_peak_rss_mb",
    "seconds",
];

#[test]
fn bench_server_measures_and_reports_every_workload() {
    let dir = temp_dir();
    let report = check(
        dir.path(),
        case(&[
            "bench",
            "server",
            "--backend",
            "sqlite",
            "--seconds",
            "0.5",
            "--links-scale",
            "1000",
            "--json",
        ])
        .stderr_has(&["server pid", "filler links", "link creation"]),
    )
    .json();
    assert_eq!(report["bench"], "server");
    assert!(report["raw_sign"]["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["raw_sign"]["message_bytes"].as_u64().unwrap() > 0);

    let rows = report["rows"].as_array().unwrap();
    let workloads: Vec<&str> = rows
        .iter()
        .map(|row| row["workload"].as_str().unwrap())
        .collect();
    assert_eq!(workloads, WORKLOADS);
    for row in rows {
        let workload = row["workload"].as_str().unwrap();
        assert_eq!(row["backend"], "sqlite", "{workload}");
        assert_eq!(row["total_errors"], 0, "{workload}: {row}");
        assert_eq!(row["rounds"].as_array().unwrap().len(), 3, "{workload}");
        assert!(row["requests"].as_u64().unwrap() > 0, "{workload}");
        for field in POSITIVE {
            let value = row[field].as_f64().unwrap_or(f64::NAN);
            assert!(
                value > 0.0 && value.is_finite(),
                "{workload}: {field} = {value}"
            );
        }
    }
    let scale = &rows[4];
    assert!(scale["links_in_table"].as_u64().unwrap() >= 1000);

    // With one scale there is no ratio; the other three targets are judged.
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{targets:?}");
    for target in targets {
        assert!(target["measured"].as_f64().unwrap() > 0.0, "{target}");
        assert!(target["met"].is_boolean(), "{target}");
    }
}

#[test]
fn bench_server_refuses_bad_arguments_before_starting_anything() {
    let dir = temp_dir();
    for (flag, value, message) in [
        ("--concurrency", "0", "expected 1 to 256 connections"),
        ("--links-scale", "10,x", "expected 1 to 100000000 links"),
        ("--seconds", "0", "expected 0 < seconds"),
        ("--backend", "mysql", "invalid value 'mysql'"),
    ] {
        check(
            dir.path(),
            case(&["bench", "server", flag, value])
                .code(1)
                .stderr_has(&[message]),
        );
    }
}
