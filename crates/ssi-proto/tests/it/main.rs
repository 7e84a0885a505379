//! Integration tests of ssi-proto: one binary, table-driven through [`check`].
#![forbid(unsafe_code)]

mod enums;
mod limits;
mod parse;
mod props;
mod samples;

use std::fmt::Display;

/// One row of a table.
pub trait Case {
    /// Printed when the case fails (keep it short: no 8 KiB inputs).
    fn name(&self) -> String;
    /// `Err` says what differed.
    fn run(&self) -> Result<(), String>;
}

/// Runs every case of a table and fails once, listing every failing case.
pub fn check<C: Case>(table: &str, cases: &[C]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| c.run().err().map(|e| format!("  {}: {e}", c.name())))
        .collect();
    assert!(
        failures.is_empty(),
        "{table}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// What a case expects: success, or an error whose message contains every fragment.
#[derive(Debug, Clone)]
pub enum Want {
    Ok,
    Err(Vec<&'static str>),
}

impl Want {
    /// An error whose message contains every fragment.
    pub fn err(fragments: &[&'static str]) -> Self {
        Want::Err(fragments.to_vec())
    }

    /// Compares an outcome with the expectation.
    pub fn compare<T, E: Display>(&self, got: Result<T, E>) -> Result<(), String> {
        match (self, got) {
            (Want::Ok, Ok(_)) => Ok(()),
            (Want::Ok, Err(e)) => Err(format!("want Ok, got error: {e}")),
            (Want::Err(_), Ok(_)) => Err("want an error, got Ok".to_owned()),
            (Want::Err(fragments), Err(e)) => {
                let text = e.to_string();
                match fragments.iter().find(|f| !text.contains(*f)) {
                    Some(missing) => Err(format!("error {text:?} lacks {missing:?}")),
                    None => Ok(()),
                }
            }
        }
    }
}
