//! An app's `manifest.toml`: the four `wants` entries of the seed are the
//! privileges (DESIGN.md section 7, "Manifests"). Everything else in a manifest
//! is the platform's business and is ignored here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One privilege of the seed's "Setup" section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Privilege {
    /// `[[wants.module]] id = "/com.amazon.dms.ssi@ISimpleSignIn"`: the API itself.
    Module,
    /// `[[wants.service]] id = "com.amazon.dms.ssi.service"`: the system service.
    Service,
    /// `[[wants.interactive]] id = "com.amazon.dms.ssi.loginselection"`.
    LoginSelection,
    /// `[[wants.interactive]] id = "com.amazon.dms.ssi.consent"`.
    Consent,
}

impl Privilege {
    /// Every privilege, in the seed's order.
    pub const ALL: [Privilege; 4] = [
        Privilege::Module,
        Privilege::Service,
        Privilege::LoginSelection,
        Privilege::Consent,
    ];

    /// The `wants` table the entry lives in.
    pub fn table(self) -> &'static str {
        match self {
            Privilege::Module => "module",
            Privilege::Service => "service",
            Privilege::LoginSelection | Privilege::Consent => "interactive",
        }
    }

    /// The entry's `id`.
    pub fn id(self) -> &'static str {
        match self {
            Privilege::Module => "/com.amazon.dms.ssi@ISimpleSignIn",
            Privilege::Service => "com.amazon.dms.ssi.service",
            Privilege::LoginSelection => "com.amazon.dms.ssi.loginselection",
            Privilege::Consent => "com.amazon.dms.ssi.consent",
        }
    }
}

impl fmt::Display for Privilege {
    /// As it is written in a manifest: `[[wants.service]] id = "com.amazon.dms.ssi.service"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[[wants.{}]] id = \"{}\"", self.table(), self.id())
    }
}

/// The privileges an app's manifest grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privileges {
    granted: Vec<Privilege>,
}

impl Privileges {
    /// Every privilege (tests, examples).
    pub fn all() -> Self {
        Self {
            granted: Privilege::ALL.to_vec(),
        }
    }

    /// Exactly these.
    pub fn of(granted: &[Privilege]) -> Self {
        Self {
            granted: granted.to_vec(),
        }
    }

    /// Whether the manifest grants `privilege`.
    pub fn has(&self, privilege: Privilege) -> bool {
        self.granted.contains(&privilege)
    }

    /// The granted ones, in the seed's order.
    pub fn granted(&self) -> Vec<Privilege> {
        Privilege::ALL
            .into_iter()
            .filter(|p| self.has(*p))
            .collect()
    }
}

/// A manifest that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML.
    #[error("manifest is not TOML: {0}")]
    Syntax(String),
    /// A `wants` entry of the wrong shape.
    #[error("manifest: {field}: {message}")]
    Shape {
        /// Where, e.g. `wants.service[0].id`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `[package] id` names another app.
    #[error("manifest: package.id is {found:?} but the app is installed as {expected:?}")]
    OtherPackage {
        /// The package id given to `ssi agent install`.
        expected: String,
        /// The manifest's.
        found: String,
    },
}

/// Reads the privileges from a manifest's text. `package_id` is the id the app is
/// installed under; a manifest that names its package (`[package] id`) must name
/// the same one.
pub fn parse_manifest(text: &str, package_id: &str) -> Result<Privileges, ManifestError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().trim().to_owned()))?;
    if let Some(found) = table
        .get("package")
        .and_then(|p| p.get("id"))
        .and_then(|id| id.as_str())
        && found != package_id
    {
        return Err(ManifestError::OtherPackage {
            expected: package_id.to_owned(),
            found: found.to_owned(),
        });
    }
    let mut granted = Vec::new();
    let Some(wants) = table.get("wants") else {
        return Ok(Privileges::default());
    };
    let wants = wants.as_table().ok_or_else(|| ManifestError::Shape {
        field: "wants".into(),
        message: "must be a table".into(),
    })?;
    for kind in ["module", "service", "interactive"] {
        let Some(entries) = wants.get(kind) else {
            continue;
        };
        let entries = entries.as_array().ok_or_else(|| ManifestError::Shape {
            field: format!("wants.{kind}"),
            message: format!("must be an array of tables ([[wants.{kind}]])"),
        })?;
        for (i, entry) in entries.iter().enumerate() {
            let id =
                entry
                    .get("id")
                    .and_then(|id| id.as_str())
                    .ok_or_else(|| ManifestError::Shape {
                        field: format!("wants.{kind}[{i}].id"),
                        message: "must be a string".into(),
                    })?;
            if let Some(privilege) = Privilege::ALL
                .into_iter()
                .find(|p| p.table() == kind && p.id() == id)
                && !granted.contains(&privilege)
            {
                granted.push(privilege);
            }
        }
    }
    Ok(Privileges { granted })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
[package]
id = "com.example.app"

[[wants.module]]
id = "/com.amazon.dms.ssi@ISimpleSignIn"

[[wants.service]]
id = "com.amazon.dms.ssi.service"

[[wants.interactive]]
id = "com.amazon.dms.ssi.loginselection"

[[wants.interactive]]
id = "com.amazon.dms.ssi.consent"

[[wants.service]]
id = "com.example.other"
"#;

    #[test]
    fn the_seed_manifest_grants_all_four() {
        let privileges = parse_manifest(SEED, "com.example.app").unwrap();
        assert_eq!(privileges.granted(), Privilege::ALL.to_vec());
    }

    #[test]
    fn entries_in_the_wrong_table_grant_nothing() {
        let text = "[[wants.service]]\nid = \"com.amazon.dms.ssi.consent\"\n";
        assert_eq!(parse_manifest(text, "a.b").unwrap().granted(), vec![]);
        assert_eq!(parse_manifest("", "a.b").unwrap().granted(), vec![]);
    }

    #[test]
    fn bad_manifests_name_the_problem() {
        let cases = [
            ("wants = 3", "manifest: wants: must be a table"),
            (
                "[wants]\nservice = 1",
                "wants.service: must be an array of tables",
            ),
            (
                "[[wants.module]]\nid = 1",
                "wants.module[0].id: must be a string",
            ),
            ("[package]\nid = \"x.y\"", "package.id is \"x.y\""),
            ("[[wants", "manifest is not TOML"),
        ];
        for (text, expected) in cases {
            let error = parse_manifest(text, "a.b").unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn privileges_display_as_written_in_a_manifest() {
        assert_eq!(
            Privilege::Consent.to_string(),
            "[[wants.interactive]] id = \"com.amazon.dms.ssi.consent\""
        );
    }
}
