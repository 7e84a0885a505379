//! Whether an app may use Simple Sign-In on a device right now (DESIGN.md section 4,
//! "When each status is returned"). Pure: the facts come from one query.
//!
//! The order of the checks is the contract:
//! 1. the app is unknown, or not bound to the identity provider it asks about →
//!    `FAILURE` (an app reads only its own IDP's links, never another developer's);
//! 2. the operator blocked the app, SSI is unavailable in the account's region, or the
//!    device is in a mode without SSI (guest, child) → `NOT_AVAILABLE`;
//! 3. the owner turned SSI off for the account, this device or this app →
//!    `FEATURE_TURNED_OFF`;
//! 4. otherwise available.

use ssi_proto::RequestStatus;

/// The only device mode with Simple Sign-In.
pub const NORMAL_DEVICE_MODE: &str = "normal";

/// What is known about the calling app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppFacts<'a> {
    /// The name of the IDP the app is bound to, if any.
    pub idp_name: Option<&'a str>,
    /// Blocked by the operator.
    pub is_blocked: bool,
    /// The owner's per-app switch (no row = on).
    pub is_enabled_by_owner: bool,
}

/// Everything the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// `None`: no app with that package id.
    pub app: Option<AppFacts<'a>>,
    /// The operator's setting for the account's region (no row = available).
    pub is_region_available: bool,
    /// `normal`, `guest` or `child`; anything but `normal` has no SSI.
    pub device_mode: &'a str,
    /// The owner's account switch.
    pub is_account_enabled: bool,
    /// The owner's switch for this device.
    pub is_device_enabled: bool,
}

/// The decision; `Refused` carries the status and a reason for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    Refused {
        status: RequestStatus,
        message: String,
    },
}

impl Availability {
    fn refused(status: RequestStatus, message: impl Into<String>) -> Self {
        Self::Refused {
            status,
            message: message.into(),
        }
    }

    pub fn is_available(&self) -> bool {
        matches!(self, Self::Available)
    }
}

/// Decides for `package_id`; `requested_idp` is the IDP the app asks about (`None`
/// where no IDP is involved, as for the app's settings).
pub fn decide(facts: &Facts<'_>, package_id: &str, requested_idp: Option<&str>) -> Availability {
    // 1. Unknown app, or an IDP that is not the app's own.
    let Some(app) = facts.app else {
        return Availability::refused(
            RequestStatus::Failure,
            format!("the app {package_id} is not registered with Simple Sign-In"),
        );
    };
    if let Some(requested) = requested_idp
        && app.idp_name != Some(requested)
    {
        return Availability::refused(
            RequestStatus::Failure,
            format!("the app {package_id} is not bound to the identity provider {requested}"),
        );
    }
    // 2. The operator and the device mode.
    if app.is_blocked {
        return Availability::refused(
            RequestStatus::NotAvailable,
            "Simple Sign-In is not available for this app",
        );
    }
    if !facts.is_region_available {
        return Availability::refused(
            RequestStatus::NotAvailable,
            "Simple Sign-In is not available in this region",
        );
    }
    if facts.device_mode != NORMAL_DEVICE_MODE {
        return Availability::refused(
            RequestStatus::NotAvailable,
            "Simple Sign-In is not available in this device mode",
        );
    }
    // 3. The owner's switches.
    if !facts.is_account_enabled {
        return Availability::refused(
            RequestStatus::FeatureTurnedOff,
            "Simple Sign-In is turned off for this account",
        );
    }
    if !facts.is_device_enabled {
        return Availability::refused(
            RequestStatus::FeatureTurnedOff,
            "Simple Sign-In is turned off on this device",
        );
    }
    if !app.is_enabled_by_owner {
        return Availability::refused(
            RequestStatus::FeatureTurnedOff,
            "Simple Sign-In is turned off for this app",
        );
    }
    Availability::Available
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: AppFacts<'static> = AppFacts {
        idp_name: Some("idp.example"),
        is_blocked: false,
        is_enabled_by_owner: true,
    };
    const ALL_ON: Facts<'static> = Facts {
        app: Some(APP),
        is_region_available: true,
        device_mode: "normal",
        is_account_enabled: true,
        is_device_enabled: true,
    };

    /// Status (or `None` = available) for the facts and the requested IDP.
    fn check(facts: Facts<'_>, idp: Option<&str>) -> Option<RequestStatus> {
        match decide(&facts, "com.example.app", idp) {
            Availability::Available => None,
            Availability::Refused { status, .. } => Some(status),
        }
    }

    #[test]
    fn decision_table() {
        use RequestStatus::{Failure, FeatureTurnedOff, NotAvailable};
        let off = |f: fn(&mut Facts<'static>)| {
            let mut facts = ALL_ON;
            f(&mut facts);
            facts
        };
        let app = |f: fn(&mut AppFacts<'static>)| {
            let mut a = APP;
            f(&mut a);
            off_app(a)
        };
        fn off_app(a: AppFacts<'static>) -> Facts<'static> {
            Facts {
                app: Some(a),
                ..ALL_ON
            }
        }
        let cases: Vec<(&str, Facts<'static>, Option<&str>, Option<RequestStatus>)> = vec![
            ("all on", ALL_ON, Some("idp.example"), None),
            ("all on, no IDP asked", ALL_ON, None, None),
            (
                "unknown app",
                off(|f| f.app = None),
                Some("idp.example"),
                Some(Failure),
            ),
            (
                "unknown app, no IDP",
                off(|f| f.app = None),
                None,
                Some(Failure),
            ),
            ("other IDP", ALL_ON, Some("other.idp"), Some(Failure)),
            (
                "app without IDP",
                app(|a| a.idp_name = None),
                Some("idp.example"),
                Some(Failure),
            ),
            (
                "app without IDP, no IDP asked",
                app(|a| a.idp_name = None),
                None,
                None,
            ),
            (
                "blocked",
                app(|a| a.is_blocked = true),
                Some("idp.example"),
                Some(NotAvailable),
            ),
            (
                "region",
                off(|f| f.is_region_available = false),
                None,
                Some(NotAvailable),
            ),
            (
                "guest",
                off(|f| f.device_mode = "guest"),
                None,
                Some(NotAvailable),
            ),
            (
                "child",
                off(|f| f.device_mode = "child"),
                None,
                Some(NotAvailable),
            ),
            (
                "account off",
                off(|f| f.is_account_enabled = false),
                None,
                Some(FeatureTurnedOff),
            ),
            (
                "device off",
                off(|f| f.is_device_enabled = false),
                None,
                Some(FeatureTurnedOff),
            ),
            (
                "app off",
                app(|a| a.is_enabled_by_owner = false),
                None,
                Some(FeatureTurnedOff),
            ),
            // Order: FAILURE before NOT_AVAILABLE before FEATURE_TURNED_OFF.
            (
                "other IDP and blocked",
                app(|a| a.is_blocked = true),
                Some("other.idp"),
                Some(Failure),
            ),
            (
                "region off and account off",
                off(|f| {
                    f.is_region_available = false;
                    f.is_account_enabled = false;
                }),
                None,
                Some(NotAvailable),
            ),
            (
                "guest and device off",
                off(|f| {
                    f.device_mode = "guest";
                    f.is_device_enabled = false;
                }),
                None,
                Some(NotAvailable),
            ),
        ];
        for (name, facts, idp, want) in cases {
            assert_eq!(check(facts, idp), want, "{name}");
        }
    }

    #[test]
    fn messages_name_only_what_the_caller_sent() {
        let Availability::Refused { message, .. } =
            decide(&ALL_ON, "com.example.app", Some("other.idp"))
        else {
            panic!("refused");
        };
        assert!(message.contains("other.idp") && !message.contains("idp.example"));
    }
}
