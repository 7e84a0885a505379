//! `ssi bench token`: a smoke test that every row is measured and printed
//! (never a timed assertion).

use crate::{case, check, temp_dir};

const ROWS: [(&str, &str); 8] = [
    ("aws-lc-rs", "ES256 sign (raw)"),
    ("ring", "ES256 sign (raw)"),
    ("p256 (pure Rust)", "ES256 sign (raw)"),
    ("aws-lc-rs", "ES256 verify (raw)"),
    ("ring", "ES256 verify (raw)"),
    ("p256 (pure Rust)", "ES256 verify (raw)"),
    ("ssi-token", "mint_ssi_token"),
    ("ssi-token", "verify_ssi_token"),
];

#[test]
fn bench_token_measures_and_prints_every_row() {
    let dir = temp_dir();
    let table = check(
        dir.path(),
        case(&["bench", "token", "--seconds", "0.2", "--no-node"])
            .stdout_has(&[
                "ops/s",
                "µs/op",
                "ratio",
                ">= 0.90",
                ">= 0.80",
                "jose: not measured",
            ])
            .stderr_has(&["round 3/3", "verify_ssi_token"]),
    );
    for (implementation, operation) in ROWS {
        assert!(
            table
                .stdout
                .lines()
                .any(|line| line.starts_with(implementation) && line.contains(operation)),
            "no {implementation} {operation} row in:\n{}",
            table.stdout
        );
    }

    let report = check(
        dir.path(),
        case(&["bench", "token", "--seconds", "0.2", "--no-node", "--json"]),
    )
    .json();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), ROWS.len());
    for (row, (implementation, operation)) in rows.iter().zip(ROWS) {
        assert_eq!(row["impl"], implementation);
        assert_eq!(row["operation"], operation);
        assert!(row["ops_per_sec"].as_f64().unwrap() > 0.0, "{operation}");
        assert!(row["ratio"].as_f64().unwrap() > 0.0, "{operation}");
    }
    assert!(report["jose"].is_null());
    assert_eq!(report["jose_skipped"], "skipped (--no-node)");
}
