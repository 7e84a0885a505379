//! Malformed input is refused with a message naming the field.

use serde::de::DeserializeOwned;
use ssi_proto::{
    GetUserAndLinksResponse, LinkUserAccountRequest, ProtoError, ShowLoginSelectionRequest,
    SsiEventRequest, parse_json,
};

use crate::{Case, Want, check};

struct Row {
    name: String,
    got: Result<(), ProtoError>,
    want: Want,
}

impl Case for Row {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn run(&self) -> Result<(), String> {
        self.want.compare(self.got.clone())
    }
}

/// Parses `json` as `T`; the row is named after the input.
fn parse<T: DeserializeOwned>(json: &str, want: Want) -> Row {
    Row {
        name: crate::samples::short(json),
        got: parse_json::<T>(json.as_bytes()).map(|_| ()),
        want,
    }
}

fn event(timestamp: &str, want: Want) -> Row {
    parse::<SsiEventRequest>(
        &format!(r#"{{"ssiEvent":"LOGIN_SUCCESS","timestamp":{timestamp}}}"#),
        want,
    )
}

const NOT_DIGITS: &[&str] = &["at `timestamp`", "a string that is not digits"];

#[test]
fn timestamps() {
    check(
        "timestamp",
        &[
            event("1700000000000", Want::Ok),
            event(r#""1700000000000""#, Want::Ok),
            event("0", Want::Ok),
            event(r#""0001""#, Want::Ok),
            event("9223372036854775807", Want::Ok),
            event(r#""9223372036854775807""#, Want::Ok),
            event(
                "1.5",
                Want::err(&["at `timestamp`", "invalid type: floating point"]),
            ),
            event("1e3", Want::err(&["at `timestamp`", "floating point"])),
            event("1700000000000.0", Want::err(&["floating point"])),
            event(
                "-5",
                Want::err(&["at `timestamp`", "invalid value: integer `-5`"]),
            ),
            event(
                "9223372036854775808",
                Want::err(&["at `timestamp`", "invalid value"]),
            ),
            event(r#""9223372036854775808""#, Want::err(NOT_DIGITS)),
            event(r#""12a""#, Want::err(NOT_DIGITS)),
            event(r#""""#, Want::err(NOT_DIGITS)),
            event(r#"" 1""#, Want::err(NOT_DIGITS)),
            event(r#""-5""#, Want::err(NOT_DIGITS)),
            event(r#""+5""#, Want::err(NOT_DIGITS)),
            event(r#""1.0""#, Want::err(NOT_DIGITS)),
            event(
                "true",
                Want::err(&["at `timestamp`", "invalid type: boolean"]),
            ),
            event("null", Want::err(&["at `timestamp`", "invalid type: null"])),
            event("{}", Want::err(&["at `timestamp`", "invalid type: map"])),
            event(
                "[1]",
                Want::err(&["at `timestamp`", "invalid type: sequence"]),
            ),
            parse::<SsiEventRequest>(
                r#"{"ssiEvent":"LOGIN_SUCCESS","epochTimestamp":1.5}"#,
                Want::err(&["at `epochTimestamp`", "floating point"]),
            ),
            parse::<SsiEventRequest>(
                r#"{"ssiEvent":"LOGIN_SUCCESS"}"#,
                Want::err(&["missing field `timestamp`"]),
            ),
            parse::<SsiEventRequest>(
                r#"{"ssiEvent":"LOGIN_SUCCESS","timestamp":1,"epochTimestamp":"1"}"#,
                Want::err(&["duplicate field `timestamp`"]),
            ),
        ],
    );
}

#[test]
fn wrong_types_and_values() {
    let link = |field: &str| {
        format!(
            r#"{{"requestStatus":"SUCCESSFUL","links":[{{"linkId":"l","amazonUserId":"a",
                "partnerUserId":"p","identityProviderName":"i",
                "ssiToken":{{"token":"t","schema":"SSI-TOKEN-1.0"}},{field}}}]}}"#
        )
    };
    check(
        "types",
        &[
            parse::<SsiEventRequest>(
                r#"{"ssiEvent":"login_success","timestamp":1}"#,
                Want::err(&["at `ssiEvent`", "unknown SSIEvent `login_success`"]),
            ),
            parse::<SsiEventRequest>(
                r#"{"ssiEvent":"LOGIN_FAILURE","timestamp":1,"failureReason":"NA"}"#,
                Want::err(&["at `failureReason`", "unknown FailureReason"]),
            ),
            parse::<SsiEventRequest>(
                r#"{"ssiEvent":"LOGIN_FAILURE","timestamp":1,"failureReason":null}"#,
                Want::Ok,
            ),
            parse::<LinkUserAccountRequest>(
                r#"{"partnerUserId":{},"identityProviderName":"i","userLoginName":"n",
                    "linkToken":{"token":"t","schema":"LINK-TOKEN-1.0"},"linkSigningKey":"k"}"#,
                Want::err(&["at `partnerUserId`", "invalid type: map, expected a string"]),
            ),
            parse::<LinkUserAccountRequest>(
                r#"{"partnerUserId":"p","identityProviderName":"i","userLoginName":"n",
                    "linkToken":"t","linkSigningKey":"k"}"#,
                Want::err(&["at `linkToken`", "invalid type: string"]),
            ),
            parse::<LinkUserAccountRequest>(
                r#"{"partnerUserId":"p","identityProviderName":"i","userLoginName":"n",
                    "linkToken":{"token":"t","schema":1},"linkSigningKey":"k"}"#,
                Want::err(&["at `linkToken.schema`", "invalid type: integer"]),
            ),
            parse::<LinkUserAccountRequest>(
                r#"{"partnerUserId":"p","identityProviderName":"i","userLoginName":"n",
                    "linkToken":{"token":"t","schema":"LINK-TOKEN-1.0"}}"#,
                Want::err(&["missing field `linkSigningKey`"]),
            ),
            parse::<GetUserAndLinksResponse>(
                &link(r#""linkedTimestamp":{}"#),
                Want::err(&["at `links[0].linkedTimestamp`", "invalid type: map"]),
            ),
            parse::<GetUserAndLinksResponse>(
                &link(r#""linkedTimestamp":1.5"#),
                Want::err(&["at `links[0].linkedTimestamp`", "floating point"]),
            ),
            parse::<GetUserAndLinksResponse>(
                &link(r#""linkedTimestamp":"yesterday""#),
                Want::err(&["at `links[0].linkedTimestamp`", "not digits"]),
            ),
            parse::<GetUserAndLinksResponse>(
                &link(r#""linkedTimestamp":"1593526058876""#),
                Want::Ok,
            ),
            parse::<GetUserAndLinksResponse>(
                r#"{"requestStatus":"SUCCESSFUL","links":{}}"#,
                Want::err(&["at `links`", "invalid type: map, expected a sequence"]),
            ),
            parse::<GetUserAndLinksResponse>(
                r#"{"requestStatus":"OK"}"#,
                Want::err(&["at `requestStatus`", "unknown RequestStatus `OK`"]),
            ),
            parse::<GetUserAndLinksResponse>(
                r#"{"links":[]}"#,
                Want::err(&["missing field `requestStatus`"]),
            ),
            parse::<ShowLoginSelectionRequest>(
                r#"{"loginName":"n","linkId":"l"}"#,
                Want::err(&["invalid type: map, expected a sequence"]),
            ),
            parse::<ShowLoginSelectionRequest>(
                r#"[{"loginName":"n","linkId":"l"},{"loginName":5,"linkId":"m"}]"#,
                Want::err(&["at `[1].loginName`", "invalid type: integer"]),
            ),
        ],
    );
}

#[test]
fn not_json() {
    let bytes = |name: &str, input: &[u8], want: Want| Row {
        name: name.to_owned(),
        got: parse_json::<GetUserAndLinksResponse>(input).map(|_| ()),
        want,
    };
    check(
        "syntax",
        &[
            bytes("empty", b"", Want::err(&["invalid JSON: ", "EOF"])),
            bytes(
                "cut short",
                br#"{"requestStatus":"#,
                Want::err(&["invalid JSON", "EOF"]),
            ),
            bytes(
                "trailing data",
                br#"{"requestStatus":"SUCCESSFUL"} x"#,
                Want::err(&["invalid JSON", "trailing characters"]),
            ),
            bytes(
                "two values",
                br#"{"requestStatus":"SUCCESSFUL"}{}"#,
                Want::err(&["trailing characters"]),
            ),
            bytes(
                "invalid UTF-8",
                b"{\"requestStatus\":\"SUCCESSFUL\",\"message\":\"\xff\"}",
                Want::err(&["invalid JSON at `message`", "invalid unicode"]),
            ),
            bytes(
                "top-level null",
                b"null",
                Want::err(&["invalid JSON: invalid type: null"]),
            ),
            bytes(
                "whitespace around",
                b" \n{\"requestStatus\":\"SUCCESSFUL\"}\n ",
                Want::Ok,
            ),
        ],
    );
}

#[test]
fn error_carries_the_path() {
    let err = parse_json::<SsiEventRequest>(br#"{"ssiEvent":"LOGIN_SUCCESS","timestamp":1.5}"#)
        .unwrap_err();
    match err {
        ProtoError::Json { field, .. } => assert_eq!(field.as_deref(), Some("timestamp")),
        other => panic!("want Json, got {other:?}"),
    }
}
