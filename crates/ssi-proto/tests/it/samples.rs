//! The seed's sample requests and responses, as JSON, parse, validate and round-trip.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use ssi_proto::{
    GetUserAndLinksRequest, GetUserAndLinksResponse, LinkAccountSuccessCode,
    LinkUserAccountRequest, LinkUserAccountResponse, RecordMetricsEventResponse, RequestStatus,
    ShowLoginSelectionRequest, ShowLoginSelectionResponse, SsiEventRequest, Token, UserSelection,
    parse_json,
};

use crate::{Case, check};

/// "Now" of every sample, epoch ms.
pub const NOW: i64 = 1_700_000_000_000;

/// First characters of a JSON text, for case names.
pub fn short(json: &str) -> String {
    let flat: String = json.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(70) {
        Some((end, _)) => format!("{}…", &flat[..end]),
        None => flat,
    }
}

/// The check each sample type gets after parsing.
trait Sample: Serialize + DeserializeOwned + PartialEq + Debug {
    fn validate_sample(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Sample for LinkUserAccountRequest {
    fn validate_sample(&self) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())
    }
}
impl Sample for SsiEventRequest {
    fn validate_sample(&self) -> Result<(), String> {
        self.validate(NOW).map_err(|e| e.to_string())
    }
}
impl Sample for ShowLoginSelectionRequest {
    fn validate_sample(&self) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())
    }
}
impl Sample for GetUserAndLinksRequest {
    fn validate_sample(&self) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())
    }
}
impl Sample for GetUserAndLinksResponse {
    fn validate_sample(&self) -> Result<(), String> {
        self.links
            .iter()
            .flatten()
            .try_for_each(|l| l.validate().map_err(|e| e.to_string()))
    }
}
impl Sample for LinkUserAccountResponse {}
impl Sample for ShowLoginSelectionResponse {}
impl Sample for RecordMetricsEventResponse {}

/// Parses as `T`, validates, writes it back and checks that the output parses to the
/// same value.
fn reencode<T: Sample>(json: &str) -> Result<Value, String> {
    let value: T = parse_json(json.as_bytes()).map_err(|e| e.to_string())?;
    value.validate_sample()?;
    let out = serde_json::to_value(&value).map_err(|e| e.to_string())?;
    let again: T = serde_json::from_value(out.clone()).map_err(|e| e.to_string())?;
    if again != value {
        return Err(format!("{again:?} != {value:?} after a round trip"));
    }
    Ok(out)
}

struct Row {
    json: &'static str,
    /// What we write back; `None`: the input itself.
    canonical: Option<&'static str>,
    reencode: fn(&str) -> Result<Value, String>,
}

impl Case for Row {
    fn name(&self) -> String {
        short(self.json)
    }
    fn run(&self) -> Result<(), String> {
        let got = (self.reencode)(self.json)?;
        let want: Value = serde_json::from_str(self.canonical.unwrap_or(self.json))
            .map_err(|e| format!("bad test JSON: {e}"))?;
        (got == want)
            .then_some(())
            .ok_or_else(|| format!("wrote {got}, want {want}"))
    }
}

const fn same(json: &'static str, reencode: fn(&str) -> Result<Value, String>) -> Row {
    Row {
        json,
        canonical: None,
        reencode,
    }
}

const fn becomes(
    json: &'static str,
    canonical: &'static str,
    reencode: fn(&str) -> Result<Value, String>,
) -> Row {
    Row {
        json,
        canonical: Some(canonical),
        reencode,
    }
}

#[test]
fn seed_requests() {
    check(
        "requests",
        &[
            // LinkUserAccount sample of the seed's "Account Linking Process".
            same(
                r#"{
                    "partnerUserId": "dev.xyz123",
                    "identityProviderName": "com.example.tv",
                    "userLoginName": "jane@example.com",
                    "linkToken": {
                        "token": "eyJhbGciOiJBMjU2R0NNS1ciLCJlbmMiOiJBMjU2R0NNIn0.a.b.c.d",
                        "schema": "LINK-TOKEN-1.0"
                    },
                    "linkSigningKey": "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.e.f.g.h"
                }"#,
                reencode::<LinkUserAccountRequest>,
            ),
            // Unknown fields (here the Fire OS SDK's accountLinkType) are ignored.
            becomes(
                r#"{"partnerUserId":"u1","identityProviderName":"idp","userLoginName":"Jane",
                    "linkToken":{"token":"t","schema":"LINK-TOKEN-1.0"},"linkSigningKey":"k",
                    "accountLinkType":"AMAZON_MANAGED"}"#,
                r#"{"partnerUserId":"u1","identityProviderName":"idp","userLoginName":"Jane",
                    "linkToken":{"token":"t","schema":"LINK-TOKEN-1.0"},"linkSigningKey":"k"}"#,
                reencode::<LinkUserAccountRequest>,
            ),
            // RecordMetricEvent sample of the seed's "Usage".
            same(
                r#"{"ssiEvent":"LOGIN_FAILURE","timestamp":1699999999000,"failureReason":"UNAUTHORIZED"}"#,
                reencode::<SsiEventRequest>,
            ),
            same(
                r#"{"ssiEvent":"LOGIN_SUCCESS","timestamp":1699999999000}"#,
                reencode::<SsiEventRequest>,
            ),
            // The Vega type list's spelling: epochTimestamp, a string.
            becomes(
                r#"{"ssiEvent":"MANUAL_SIGNIN_SELECTED","epochTimestamp":"1699999999000"}"#,
                r#"{"ssiEvent":"MANUAL_SIGNIN_SELECTED","timestamp":1699999999000}"#,
                reencode::<SsiEventRequest>,
            ),
            becomes(
                r#"{"ssiEvent":"LOGIN_SUCCESS","timestamp":"1699999999000"}"#,
                r#"{"ssiEvent":"LOGIN_SUCCESS","timestamp":1699999999000}"#,
                reencode::<SsiEventRequest>,
            ),
            becomes(
                r#"{"ssiEvent":"LOGIN_FAILURE","epochTimestamp":1699999999000,
                    "failureReason":"Something is wrong with the login."}"#,
                r#"{"ssiEvent":"LOGIN_FAILURE","timestamp":1699999999000,
                    "failureReason":"INTERNAL_SERVER_ERROR"}"#,
                reencode::<SsiEventRequest>,
            ),
            // The LoginNameValue[] the seed's sign-in flow builds.
            same(
                r#"[{"loginName":"Jane","linkId":"lnk_01"},
                    {"loginName":"jane@example.com","linkId":"lnk-02"}]"#,
                reencode::<ShowLoginSelectionRequest>,
            ),
            same(
                r#"{"identityProviderName":"com.example.tv"}"#,
                reencode::<GetUserAndLinksRequest>,
            ),
        ],
    );
}

#[test]
fn seed_responses() {
    check(
        "responses",
        &[
            same(
                r#"{"requestStatus":"SUCCESSFUL","amazonUserId":"amzn1.ssi.did.abc123",
                    "links":[{"linkId":"lnk_01","amazonUserId":"amzn1.ssi.did.abc123",
                    "partnerUserId":"dev.xyz123","identityProviderName":"com.example.tv",
                    "ssiToken":{"token":"eyJ.x.y","schema":"SSI-TOKEN-1.0"},
                    "linkedTimestamp":"1593526058876"}]}"#,
                reencode::<GetUserAndLinksResponse>,
            ),
            // The Fire OS service sends linkedTimestamp as a number; we write a string.
            becomes(
                r#"{"requestStatus":"SUCCESSFUL","amazonUserId":"a",
                    "links":[{"linkId":"l","amazonUserId":"a","partnerUserId":"p",
                    "identityProviderName":"i","ssiToken":{"token":"t","schema":"SSI-TOKEN-1.0"},
                    "linkedTimestamp":1593526058876}]}"#,
                r#"{"requestStatus":"SUCCESSFUL","amazonUserId":"a",
                    "links":[{"linkId":"l","amazonUserId":"a","partnerUserId":"p",
                    "identityProviderName":"i","ssiToken":{"token":"t","schema":"SSI-TOKEN-1.0"},
                    "linkedTimestamp":"1593526058876"}]}"#,
                reencode::<GetUserAndLinksResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL","amazonUserId":"a","links":[]}"#,
                reencode::<GetUserAndLinksResponse>,
            ),
            same(
                r#"{"requestStatus":"FEATURE_TURNED_OFF"}"#,
                reencode::<GetUserAndLinksResponse>,
            ),
            same(
                r#"{"requestStatus":"NOT_AVAILABLE"}"#,
                reencode::<GetUserAndLinksResponse>,
            ),
            same(
                r#"{"requestStatus":"FAILURE","message":"missing privilege com.amazon.dms.ssi.service"}"#,
                reencode::<GetUserAndLinksResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL","successCode":"LINK_ESTABLISHED","linkId":"lnk_01"}"#,
                reencode::<LinkUserAccountResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL","successCode":"LINK_ALREADY_EXISTS","linkId":"lnk_01"}"#,
                reencode::<LinkUserAccountResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL","successCode":"CONSENT_DENIED"}"#,
                reencode::<LinkUserAccountResponse>,
            ),
            becomes(
                r#"{"requestStatus":"SUCCESSFUL","successCode":"LinkAlreadyExists","linkId":"l"}"#,
                r#"{"requestStatus":"SUCCESSFUL","successCode":"LINK_ALREADY_EXISTS","linkId":"l"}"#,
                reencode::<LinkUserAccountResponse>,
            ),
            same(
                r#"{"requestStatus":"FAILURE","successCode":"NOT_APPLICABLE","message":"consent screen timed out"}"#,
                reencode::<LinkUserAccountResponse>,
            ),
            same(
                r#"{"requestStatus":"INVALID_LINK_SIGNING_KEY_ENCRYPTION"}"#,
                reencode::<LinkUserAccountResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL","userSelection":"LOGIN_SELECTED","linkId":"lnk_01",
                    "ssiToken":{"token":"eyJ.x.y","schema":"SSI-TOKEN-1.0"}}"#,
                reencode::<ShowLoginSelectionResponse>,
            ),
            // Apps written for the seed never see ssiToken: it is optional.
            same(
                r#"{"requestStatus":"SUCCESSFUL","userSelection":"LOGIN_SELECTED","linkId":"lnk_01"}"#,
                reencode::<ShowLoginSelectionResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL","userSelection":"MANUAL_SIGN_IN"}"#,
                reencode::<ShowLoginSelectionResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL","userSelection":"NOT_APPLICABLE"}"#,
                reencode::<ShowLoginSelectionResponse>,
            ),
            becomes(
                r#"{"requestStatus":"SUCCESSFUL","userSelection":"ManualSignIn"}"#,
                r#"{"requestStatus":"SUCCESSFUL","userSelection":"MANUAL_SIGN_IN"}"#,
                reencode::<ShowLoginSelectionResponse>,
            ),
            same(
                r#"{"requestStatus":"DUPLICATE_REQUEST"}"#,
                reencode::<ShowLoginSelectionResponse>,
            ),
            same(
                r#"{"requestStatus":"SUCCESSFUL"}"#,
                reencode::<RecordMetricsEventResponse>,
            ),
            same(
                r#"{"requestStatus":"FAILURE","message":"timestamp: out of range"}"#,
                reencode::<RecordMetricsEventResponse>,
            ),
        ],
    );
}

struct Built(&'static str, Value, Value);

impl Case for Built {
    fn name(&self) -> String {
        self.0.to_owned()
    }
    fn run(&self) -> Result<(), String> {
        (self.1 == self.2)
            .then_some(())
            .ok_or_else(|| format!("wrote {}, want {}", self.1, self.2))
    }
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("wire types always serialize")
}

#[test]
fn constructors_write_the_seed_shapes() {
    use RequestStatus as S;
    check(
        "constructors",
        &[
            Built(
                "GetUserAndLinksResponse::status",
                to_json(&GetUserAndLinksResponse::status(S::FeatureTurnedOff, None)),
                json!({"requestStatus": "FEATURE_TURNED_OFF"}),
            ),
            Built(
                "GetUserAndLinksResponse::successful",
                to_json(&GetUserAndLinksResponse::successful("a", vec![])),
                json!({"requestStatus": "SUCCESSFUL", "amazonUserId": "a", "links": []}),
            ),
            Built(
                "LinkUserAccountResponse::status",
                to_json(&LinkUserAccountResponse::status(
                    S::Failure,
                    Some("no".into()),
                )),
                json!({"requestStatus": "FAILURE", "message": "no"}),
            ),
            Built(
                "LinkUserAccountResponse::linked",
                to_json(&LinkUserAccountResponse::linked(
                    LinkAccountSuccessCode::LinkEstablished,
                    "l",
                )),
                json!({"requestStatus": "SUCCESSFUL", "successCode": "LINK_ESTABLISHED", "linkId": "l"}),
            ),
            Built(
                "LinkUserAccountResponse::consent_denied",
                to_json(&LinkUserAccountResponse::consent_denied()),
                json!({"requestStatus": "SUCCESSFUL", "successCode": "CONSENT_DENIED"}),
            ),
            Built(
                "ShowLoginSelectionResponse::selected",
                to_json(&ShowLoginSelectionResponse::selected(
                    "l",
                    Some(Token::ssi("t")),
                )),
                json!({"requestStatus": "SUCCESSFUL", "userSelection": "LOGIN_SELECTED",
                       "linkId": "l", "ssiToken": {"token": "t", "schema": "SSI-TOKEN-1.0"}}),
            ),
            Built(
                "ShowLoginSelectionResponse::selection",
                to_json(&ShowLoginSelectionResponse::selection(
                    UserSelection::ManualSignIn,
                )),
                json!({"requestStatus": "SUCCESSFUL", "userSelection": "MANUAL_SIGN_IN"}),
            ),
            Built(
                "ShowLoginSelectionResponse::status",
                to_json(&ShowLoginSelectionResponse::status(
                    S::RetryableFailure,
                    None,
                )),
                json!({"requestStatus": "RETRYABLE_FAILURE"}),
            ),
            Built(
                "RecordMetricsEventResponse::successful",
                to_json(&RecordMetricsEventResponse::successful()),
                json!({"requestStatus": "SUCCESSFUL"}),
            ),
            Built(
                "Token::link",
                to_json(&Token::link("t")),
                json!({"token": "t", "schema": "LINK-TOKEN-1.0"}),
            ),
        ],
    );
}

#[test]
fn debug_never_shows_secrets() {
    let req = LinkUserAccountRequest {
        partner_user_id: "u1".into(),
        identity_provider_name: "idp".into(),
        user_login_name: "Jane".into(),
        link_token: Token::link("SECRET-LINK-TOKEN"),
        link_signing_key: "SECRET-SIGNING-KEY".into(),
    };
    let shown = format!("{req:?} {:?}", Token::ssi("SECRET-SSI-TOKEN"));
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("<17 bytes>"), "{shown}");
}
