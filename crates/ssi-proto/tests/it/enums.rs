//! Every enum value round-trips; Fire OS spellings parse; anything else is refused.

use serde::Serialize;
use serde::de::DeserializeOwned;
use ssi_proto::{
    FailureReason, InternalEvent, LinkAccountSuccessCode, RequestStatus, SsiEvent, UserSelection,
    WireEnum, parse_json,
};

use crate::{Case, Want, check};

struct Row {
    name: String,
    run: Box<dyn Fn() -> Result<(), String>>,
}

impl Case for Row {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn run(&self) -> Result<(), String> {
        (self.run)()
    }
}

trait Enum: WireEnum + Serialize + DeserializeOwned + std::fmt::Display {}
impl<T: WireEnum + Serialize + DeserializeOwned + std::fmt::Display> Enum for T {}

/// Serialize, Deserialize, Display, FromStr and `as_str` agree for every value.
fn round_trips<T: Enum>() -> Vec<Row> {
    let mut rows: Vec<Row> = T::ALL
        .iter()
        .map(|&v| Row {
            name: format!("{}::{}", T::NAME, v.as_str()),
            run: Box::new(move || {
                let json = serde_json::to_string(&v).map_err(|e| e.to_string())?;
                let want = format!("\"{}\"", v.as_str());
                if json != want {
                    return Err(format!("serialized {json}, want {want}"));
                }
                let back: T = parse_json(json.as_bytes()).map_err(|e| e.to_string())?;
                let parsed: T = v.as_str().parse().map_err(|e| format!("{e}"))?;
                if back != v || parsed != v || v.to_string() != v.as_str() {
                    return Err(format!("{back:?} / {parsed:?} / {v} differ from {v:?}"));
                }
                Ok(())
            }),
        })
        .collect();
    rows.push(Row {
        name: format!("{}::ALL matches NAMES", T::NAME),
        run: Box::new(|| {
            let names: Vec<&str> = T::ALL.iter().map(|v| v.as_str()).collect();
            (names == T::NAMES)
                .then_some(())
                .ok_or_else(|| format!("{names:?} != {:?}", T::NAMES))
        }),
    });
    rows
}

#[test]
fn every_value_round_trips() {
    let rows: Vec<Row> = [
        round_trips::<RequestStatus>(),
        round_trips::<LinkAccountSuccessCode>(),
        round_trips::<UserSelection>(),
        round_trips::<SsiEvent>(),
        round_trips::<FailureReason>(),
        round_trips::<InternalEvent>(),
    ]
    .into_iter()
    .flatten()
    .collect();
    check("round trips", &rows);
}

#[test]
fn value_sets_are_the_seeds() {
    fn names<T: WireEnum>() -> &'static [&'static str] {
        T::NAMES
    }
    struct Set(
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    );
    impl Case for Set {
        fn name(&self) -> String {
            self.0.to_owned()
        }
        fn run(&self) -> Result<(), String> {
            (self.1 == self.2)
                .then_some(())
                .ok_or_else(|| format!("{:?} != {:?}", self.1, self.2))
        }
    }
    check(
        "value sets",
        &[
            Set(
                "RequestStatus",
                names::<RequestStatus>(),
                &[
                    "SUCCESSFUL",
                    "FAILURE",
                    "RETRYABLE_FAILURE",
                    "NOT_SUPPORTED",
                    "NOT_AVAILABLE",
                    "DUPLICATE_REQUEST",
                    "FEATURE_TURNED_OFF",
                    "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
                    "INVALID_LINK_SIGNING_KEY",
                ],
            ),
            Set(
                "LinkAccountSuccessCode",
                names::<LinkAccountSuccessCode>(),
                &[
                    "LINK_ESTABLISHED",
                    "LINK_ALREADY_EXISTS",
                    "CONSENT_DENIED",
                    "NOT_APPLICABLE",
                ],
            ),
            Set(
                "UserSelection",
                names::<UserSelection>(),
                &["LOGIN_SELECTED", "MANUAL_SIGN_IN", "NOT_APPLICABLE"],
            ),
            Set(
                "SSIEvent",
                names::<SsiEvent>(),
                &["LOGIN_SUCCESS", "LOGIN_FAILURE", "MANUAL_SIGNIN_SELECTED"],
            ),
            Set(
                "FailureReason",
                names::<FailureReason>(),
                &[
                    "UNAUTHORIZED",
                    "BAD_REQUEST",
                    "NOT_FOUND",
                    "FORBIDDEN",
                    "INTERNAL_SERVER_ERROR",
                ],
            ),
            Set(
                "InternalEvent",
                names::<InternalEvent>(),
                &["ENABLE_SSI", "CONSENT_DENIED"],
            ),
        ],
    );
}

/// A JSON input for enum `T` and the canonical value it must parse to (or the error).
fn row<T: Enum>(json: &str, want: Result<T, &'static [&'static str]>) -> Row {
    let json = json.to_owned();
    Row {
        name: format!("{} from {}", T::NAME, crate::samples::short(&json)),
        run: Box::new(move || {
            let got = parse_json::<T>(json.as_bytes());
            match want {
                Ok(v) => match got {
                    Ok(g) if g == v => Ok(()),
                    Ok(g) => Err(format!("got {g}, want {v}")),
                    Err(e) => Err(format!("want {v}, got error: {e}")),
                },
                Err(fragments) => Want::err(fragments).compare(got),
            }
        }),
    }
}

#[test]
fn fire_os_spellings_parse() {
    use FailureReason as F;
    let rows = vec![
        row(
            r#""LinkEstablished""#,
            Ok(LinkAccountSuccessCode::LinkEstablished),
        ),
        row(
            r#""LinkAlreadyExists""#,
            Ok(LinkAccountSuccessCode::LinkAlreadyExists),
        ),
        row(
            r#""ConsentDenied""#,
            Ok(LinkAccountSuccessCode::ConsentDenied),
        ),
        row(r#""LoginSelected""#, Ok(UserSelection::LoginSelected)),
        row(r#""ManualSignIn""#, Ok(UserSelection::ManualSignIn)),
        row(
            r#""The user isn’t authorized to do log in.""#,
            Ok(F::Unauthorized),
        ),
        row(
            r#""The user isn't authorized to do log in.""#,
            Ok(F::Unauthorized),
        ),
        row(r#""The request is corrupted.""#, Ok(F::BadRequest)),
        row(
            r#""The login page the user is looking for cannot be found.""#,
            Ok(F::NotFound),
        ),
        row(r#""No login opportunity is available.""#, Ok(F::Forbidden)),
        row(
            r#""Something is wrong with the login.""#,
            Ok(F::InternalServerError),
        ),
    ];
    check("Fire OS spellings", &rows);
}

#[test]
fn aliases_are_input_only() {
    let v: LinkAccountSuccessCode = "LinkEstablished".parse().unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), r#""LINK_ESTABLISHED""#);
    let v: FailureReason = "The request is corrupted.".parse().unwrap();
    assert_eq!(v.to_string(), "BAD_REQUEST");
}

#[test]
fn unknown_values_are_refused() {
    const UNKNOWN_STATUS: &[&str] = &["unknown RequestStatus", "expected one of SUCCESSFUL"];
    let long = format!("\"{}\"", "X".repeat(5000));
    let rows = vec![
        row::<RequestStatus>(r#""OK""#, Err(UNKNOWN_STATUS)),
        row::<RequestStatus>(r#""successful""#, Err(UNKNOWN_STATUS)),
        row::<RequestStatus>(r#""SUCCESSFUL ""#, Err(UNKNOWN_STATUS)),
        row::<RequestStatus>(r#""""#, Err(UNKNOWN_STATUS)),
        row::<RequestStatus>(&long, Err(&["unknown RequestStatus", "XXX…`"])),
        row::<RequestStatus>(
            "0",
            Err(&["invalid type: integer", "a RequestStatus string"]),
        ),
        row::<RequestStatus>("null", Err(&["invalid type: null"])),
        row::<RequestStatus>("{}", Err(&["invalid type: map"])),
        row::<RequestStatus>(r#"["SUCCESSFUL"]"#, Err(&["invalid type: sequence"])),
        // Fire OS spellings are accepted only where Fire OS had them.
        row::<RequestStatus>(r#""Successful""#, Err(UNKNOWN_STATUS)),
        row::<UserSelection>(r#""NotApplicable""#, Err(&["unknown UserSelection"])),
        row::<LinkAccountSuccessCode>(
            r#""link_established""#,
            Err(&["unknown LinkAccountSuccessCode"]),
        ),
        row::<SsiEvent>(r#""LoginSuccess""#, Err(&["unknown SSIEvent"])),
        row::<SsiEvent>(r#""ENABLE_SSI""#, Err(&["unknown SSIEvent"])),
        row::<FailureReason>(r#""NA""#, Err(&["unknown FailureReason"])),
        row::<InternalEvent>(r#""LOGIN_SUCCESS""#, Err(&["unknown InternalEvent"])),
    ];
    check("unknown values", &rows);
}

#[test]
fn long_unknown_values_are_cut_in_errors() {
    let err = "Z".repeat(10_000).parse::<SsiEvent>().unwrap_err();
    assert_eq!(err.value.chars().count(), 65, "64 characters and the mark");
    assert!(err.to_string().len() < 300, "{err}");
}
