//! Every limit at its boundary: accepted at the limit, refused one past it, with the
//! field and the limit in the message.

use ssi_proto::limits::{self, MAX_MESSAGE_BYTES};
use ssi_proto::{
    FailureReason, Link, LinkUserAccountRequest, LoginNameValue, ProtoError, SsiEvent,
    SsiEventRequest, Token, ValidationError, parse_json, validate_identity_provider_name,
    validate_link_id, validate_login_name, validate_login_selection, validate_ssi_token,
};

use crate::samples::NOW;
use crate::{Case, Want, check};

struct Row {
    name: String,
    got: Result<(), ValidationError>,
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

fn row(name: impl Into<String>, got: Result<(), ValidationError>, want: Want) -> Row {
    Row {
        name: name.into(),
        got,
        want,
    }
}

fn link_request() -> LinkUserAccountRequest {
    LinkUserAccountRequest {
        partner_user_id: "dev.xyz123".into(),
        identity_provider_name: "com.example.tv".into(),
        user_login_name: "jane@example.com".into(),
        link_token: Token::link("eyJ.a.b.c.d"),
        link_signing_key: "eyJ.e.f.g.h".into(),
    }
}

/// Validates the sample link request with one change.
fn link(change: impl FnOnce(&mut LinkUserAccountRequest)) -> Result<(), ValidationError> {
    let mut req = link_request();
    change(&mut req);
    req.validate()
}

const PARTNER: &[&str] = &[
    "partnerUserId",
    "must be 1-256 bytes of UTF-8 without control characters",
];
const IDP: &[&str] = &[
    "identityProviderName",
    "must be 1-64 characters of [A-Za-z0-9._-]",
];
const USER_LOGIN: &[&str] = &[
    "userLoginName",
    "must be 1-64 characters without control characters",
];
const LINK_TOKEN: &[&str] = &["linkToken.token", "must be 1-8192 bytes"];
const LINK_SCHEMA: &[&str] = &["linkToken.schema", "must be exactly LINK-TOKEN-1.0"];
const SIGNING_KEY: &[&str] = &["linkSigningKey", "must be 1-4096 bytes"];

#[test]
fn link_user_account_request() {
    let s = |n: usize| "a".repeat(n);
    check(
        "linkUserAccount",
        &[
            row("sample", link(|_| ()), Want::Ok),
            // partnerUserId: bytes, not characters.
            row(
                "partnerUserId 256 bytes",
                link(|r| r.partner_user_id = s(256)),
                Want::Ok,
            ),
            row(
                "partnerUserId 128 two-byte chars",
                link(|r| r.partner_user_id = "é".repeat(128)),
                Want::Ok,
            ),
            row(
                "partnerUserId 257 bytes",
                link(|r| r.partner_user_id = s(257)),
                Want::err(&[PARTNER[0], PARTNER[1], "got 257 bytes"]),
            ),
            row(
                "partnerUserId 257 bytes in 129 chars",
                link(|r| r.partner_user_id = format!("{}a", "é".repeat(128))),
                Want::err(&[PARTNER[0], PARTNER[1], "got 257 bytes"]),
            ),
            row(
                "partnerUserId empty",
                link(|r| r.partner_user_id = String::new()),
                Want::err(&[PARTNER[0], PARTNER[1], "got 0 bytes"]),
            ),
            row(
                "partnerUserId BEL",
                link(|r| r.partner_user_id = "a\u{7}b".into()),
                Want::err(&[PARTNER[0], PARTNER[1], "U+0007 at character 1"]),
            ),
            row(
                "partnerUserId DEL",
                link(|r| r.partner_user_id = "\u{7f}".into()),
                Want::err(PARTNER),
            ),
            row(
                "partnerUserId C1 NEL",
                link(|r| r.partner_user_id = "a\u{85}".into()),
                Want::err(&[PARTNER[0], "U+0085"]),
            ),
            row(
                "partnerUserId with space and unicode",
                link(|r| r.partner_user_id = "user 42 ✓".into()),
                Want::Ok,
            ),
            // identityProviderName: ASCII alphabet.
            row(
                "idp 64 chars",
                link(|r| r.identity_provider_name = s(64)),
                Want::Ok,
            ),
            row(
                "idp every allowed char",
                link(|r| r.identity_provider_name = "AZaz09._-".into()),
                Want::Ok,
            ),
            row(
                "idp 65 chars",
                link(|r| r.identity_provider_name = s(65)),
                Want::err(&[IDP[0], IDP[1], "got 65 characters"]),
            ),
            row(
                "idp empty",
                link(|r| r.identity_provider_name = String::new()),
                Want::err(IDP),
            ),
            row(
                "idp space",
                link(|r| r.identity_provider_name = "a b".into()),
                Want::err(&[IDP[0], IDP[1], "got ' ' at character 1"]),
            ),
            row(
                "idp slash",
                link(|r| r.identity_provider_name = "a/b".into()),
                Want::err(IDP),
            ),
            row(
                "idp non-ASCII letter",
                link(|r| r.identity_provider_name = "café".into()),
                Want::err(&[IDP[0], "got 'é' at character 3"]),
            ),
            // userLoginName: characters, not bytes.
            row(
                "login 64 chars",
                link(|r| r.user_login_name = s(64)),
                Want::Ok,
            ),
            row(
                "login 64 two-byte chars",
                link(|r| r.user_login_name = "é".repeat(64)),
                Want::Ok,
            ),
            row(
                "login 65 chars",
                link(|r| r.user_login_name = "é".repeat(65)),
                Want::err(&[USER_LOGIN[0], USER_LOGIN[1], "got 65 characters"]),
            ),
            row(
                "login empty",
                link(|r| r.user_login_name = String::new()),
                Want::err(USER_LOGIN),
            ),
            row(
                "login newline",
                link(|r| r.user_login_name = "jane\n".into()),
                Want::err(&[USER_LOGIN[0], "U+000A at character 4"]),
            ),
            // linkToken.
            row(
                "link token 8192",
                link(|r| r.link_token.token = s(8192)),
                Want::Ok,
            ),
            row(
                "link token 8193",
                link(|r| r.link_token.token = s(8193)),
                Want::err(&[LINK_TOKEN[0], LINK_TOKEN[1], "got 8193 bytes"]),
            ),
            row(
                "link token empty",
                link(|r| r.link_token.token = String::new()),
                Want::err(LINK_TOKEN),
            ),
            row(
                "link token with SSI schema",
                link(|r| r.link_token.schema = "SSI-TOKEN-1.0".into()),
                Want::err(&[LINK_SCHEMA[0], LINK_SCHEMA[1], "got \"SSI-TOKEN-1.0\""]),
            ),
            row(
                "link token schema lower case",
                link(|r| r.link_token.schema = "link-token-1.0".into()),
                Want::err(LINK_SCHEMA),
            ),
            row(
                "link token schema empty",
                link(|r| r.link_token.schema = String::new()),
                Want::err(LINK_SCHEMA),
            ),
            // linkSigningKey.
            row(
                "signing key 4096",
                link(|r| r.link_signing_key = s(4096)),
                Want::Ok,
            ),
            row(
                "signing key 4097",
                link(|r| r.link_signing_key = s(4097)),
                Want::err(&[SIGNING_KEY[0], SIGNING_KEY[1], "got 4097 bytes"]),
            ),
            row(
                "signing key empty",
                link(|r| r.link_signing_key = String::new()),
                Want::err(SIGNING_KEY),
            ),
            // First error in field order.
            row(
                "two errors: the first field is named",
                link(|r| {
                    r.link_signing_key = String::new();
                    r.partner_user_id = String::new();
                }),
                Want::err(PARTNER),
            ),
            row(
                "token before schema",
                link(|r| r.link_token = Token::ssi("")),
                Want::err(LINK_TOKEN),
            ),
        ],
    );
}

#[test]
fn message_names_field_and_limit() {
    let mut req = link_request();
    req.partner_user_id = "x".repeat(300);
    let err = req.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "partnerUserId: must be 1-256 bytes of UTF-8 without control characters (got 300 bytes)"
    );
    assert_eq!(err.field, "partnerUserId");
    assert_eq!(err.message, "got 300 bytes");
}

#[test]
fn secrets_never_in_messages() {
    let mut req = link_request();
    req.link_token.token = format!("SECRET{}", "x".repeat(8200));
    let err = req.validate().unwrap_err().to_string();
    assert!(!err.contains("SECRET"), "{err}");
}

fn entries(n: usize) -> Vec<LoginNameValue> {
    (0..n)
        .map(|i| LoginNameValue::new(format!("user {i}"), format!("lnk_{i}")))
        .collect()
}

fn selection(change: impl FnOnce(&mut Vec<LoginNameValue>)) -> Result<(), ValidationError> {
    let mut list = entries(2);
    change(&mut list);
    validate_login_selection(&list)
}

const COUNT: &[&str] = &["loginNames", "must have 1-32 entries"];
const LINK_ID: &[&str] = &["must be 1-128 characters of [A-Za-z0-9_-]"];

#[test]
fn login_selection() {
    check(
        "showLoginSelection",
        &[
            row("2 entries", selection(|_| ()), Want::Ok),
            row("1 entry", validate_login_selection(&entries(1)), Want::Ok),
            row(
                "32 entries",
                validate_login_selection(&entries(32)),
                Want::Ok,
            ),
            row(
                "33 entries",
                validate_login_selection(&entries(33)),
                Want::err(&[COUNT[0], COUNT[1], "got 33 entries"]),
            ),
            row(
                "no entries",
                validate_login_selection(&[]),
                Want::err(&[COUNT[0], COUNT[1], "got 0 entries"]),
            ),
            row(
                "duplicate linkId",
                selection(|l| l[1].link_id = l[0].link_id.clone()),
                Want::err(&[
                    "loginNames[1].linkId",
                    "must be unique",
                    "same as loginNames[0].linkId",
                ]),
            ),
            row(
                "linkId 128",
                selection(|l| l[1].link_id = "a".repeat(128)),
                Want::Ok,
            ),
            row(
                "linkId 129",
                selection(|l| l[1].link_id = "a".repeat(129)),
                Want::err(&["loginNames[1].linkId", LINK_ID[0], "got 129 characters"]),
            ),
            row(
                "linkId empty",
                selection(|l| l[0].link_id = String::new()),
                Want::err(&["loginNames[0].linkId", LINK_ID[0]]),
            ),
            row(
                "linkId with a dot",
                selection(|l| l[0].link_id = "a.b".into()),
                Want::err(&["loginNames[0].linkId", "got '.' at character 1"]),
            ),
            row(
                "loginName 64 chars",
                selection(|l| l[1].login_name = "ü".repeat(64)),
                Want::Ok,
            ),
            row(
                "loginName 65 chars",
                selection(|l| l[1].login_name = "ü".repeat(65)),
                Want::err(&[
                    "loginNames[1].loginName",
                    "must be 1-64 characters without control characters",
                ]),
            ),
            row(
                "loginName empty",
                selection(|l| l[0].login_name = String::new()),
                Want::err(&["loginNames[0].loginName"]),
            ),
            row(
                "loginName tab",
                selection(|l| l[0].login_name = "a\tb".into()),
                Want::err(&["loginNames[0].loginName", "U+0009"]),
            ),
            row(
                "loginName before linkId of the same entry",
                selection(|l| l[0] = LoginNameValue::new("", "")),
                Want::err(&["loginNames[0].loginName"]),
            ),
            row(
                "single validators",
                validate_login_name("Jane")
                    .and(validate_link_id("lnk_1-A"))
                    .and(validate_identity_provider_name("x")),
                Want::Ok,
            ),
            row(
                "validate_link_id names linkId",
                validate_link_id(""),
                Want::err(&["linkId: "]),
            ),
        ],
    );
}

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
const WINDOW: &[&str] = &[
    "timestamp",
    "must be within [now - 7 days, now + 5 minutes]",
];
const REASON_REQUIRED: &[&str] = &["failureReason", "required when ssiEvent is LOGIN_FAILURE"];
const REASON_REFUSED: &[&str] = &[
    "failureReason",
    "allowed only when ssiEvent is LOGIN_FAILURE",
];

fn event(
    ssi_event: SsiEvent,
    timestamp: i64,
    reason: Option<FailureReason>,
) -> Result<(), ValidationError> {
    SsiEventRequest {
        ssi_event,
        timestamp,
        failure_reason: reason,
    }
    .validate(NOW)
}

#[test]
fn metric_event() {
    use FailureReason as F;
    use SsiEvent as E;
    check(
        "recordMetricEvent",
        &[
            row("now", event(E::LoginSuccess, NOW, None), Want::Ok),
            row(
                "7 days old",
                event(E::LoginSuccess, NOW - 7 * DAY_MS, None),
                Want::Ok,
            ),
            row(
                "7 days and 1 ms old",
                event(E::LoginSuccess, NOW - 7 * DAY_MS - 1, None),
                Want::err(&[WINDOW[0], WINDOW[1], "got 604800001 ms before now"]),
            ),
            row(
                "5 minutes ahead",
                event(E::LoginSuccess, NOW + 5 * MINUTE_MS, None),
                Want::Ok,
            ),
            row(
                "5 minutes and 1 ms ahead",
                event(E::LoginSuccess, NOW + 5 * MINUTE_MS + 1, None),
                Want::err(&[WINDOW[0], WINDOW[1], "got 300001 ms after now"]),
            ),
            row("zero", event(E::LoginSuccess, 0, None), Want::err(WINDOW)),
            row(
                "i64::MAX",
                event(E::LoginSuccess, i64::MAX, None),
                Want::err(WINDOW),
            ),
            row(
                "i64::MIN",
                event(E::LoginSuccess, i64::MIN, None),
                Want::err(WINDOW),
            ),
            row(
                "failure with reason",
                event(E::LoginFailure, NOW, Some(F::Forbidden)),
                Want::Ok,
            ),
            row(
                "failure without reason",
                event(E::LoginFailure, NOW, None),
                Want::err(&[REASON_REQUIRED[0], REASON_REQUIRED[1], "missing"]),
            ),
            row(
                "success with reason",
                event(E::LoginSuccess, NOW, Some(F::Unauthorized)),
                Want::err(&[
                    REASON_REFUSED[0],
                    REASON_REFUSED[1],
                    "got UNAUTHORIZED with LOGIN_SUCCESS",
                ]),
            ),
            row(
                "manual sign-in with reason",
                event(E::ManualSigninSelected, NOW, Some(F::NotFound)),
                Want::err(REASON_REFUSED),
            ),
            row(
                "manual sign-in",
                event(E::ManualSigninSelected, NOW, None),
                Want::Ok,
            ),
            row(
                "timestamp is checked before failureReason",
                event(E::LoginFailure, 0, None),
                Want::err(WINDOW),
            ),
        ],
    );
}

fn ssi_link(change: impl FnOnce(&mut Link)) -> Result<(), ValidationError> {
    let mut link = Link {
        link_id: "lnk_01".into(),
        amazon_user_id: "amzn1.ssi.did.abc123".into(),
        partner_user_id: "dev.xyz123".into(),
        identity_provider_name: "com.example.tv".into(),
        ssi_token: Token::ssi("eyJ.x.y"),
        linked_timestamp: NOW,
    };
    change(&mut link);
    link.validate()
}

const SSI_TOKEN: &[&str] = &["ssiToken.token", "must be 1-16384 bytes"];

#[test]
fn ssi_token_and_link() {
    check(
        "ssiToken",
        &[
            row(
                "16384 bytes",
                validate_ssi_token(&Token::ssi("a".repeat(16384))),
                Want::Ok,
            ),
            row(
                "16385 bytes",
                validate_ssi_token(&Token::ssi("a".repeat(16385))),
                Want::err(&[SSI_TOKEN[0], SSI_TOKEN[1], "got 16385 bytes"]),
            ),
            row(
                "empty",
                validate_ssi_token(&Token::ssi("")),
                Want::err(SSI_TOKEN),
            ),
            row(
                "link schema",
                validate_ssi_token(&Token::link("t")),
                Want::err(&["ssiToken.schema", "must be exactly SSI-TOKEN-1.0"]),
            ),
            row("link sample", ssi_link(|_| ()), Want::Ok),
            row(
                "link with a long SSI token",
                ssi_link(|l| l.ssi_token.token = "a".repeat(16385)),
                Want::err(SSI_TOKEN),
            ),
            row(
                "link with a bad linkId",
                ssi_link(|l| l.link_id = "a b".into()),
                Want::err(&["linkId", LINK_ID[0]]),
            ),
            row(
                "link with a negative linkedTimestamp",
                ssi_link(|l| l.linked_timestamp = -1),
                Want::err(&["linkedTimestamp", "non-negative"]),
            ),
        ],
    );
}

struct Size(usize, Want);

impl Case for Size {
    fn name(&self) -> String {
        format!("message of {} bytes", self.0)
    }
    fn run(&self) -> Result<(), String> {
        // A JSON string of exactly self.0 bytes.
        let json = format!("\"{}\"", "a".repeat(self.0 - 2));
        let got = parse_json::<String>(json.as_bytes());
        if let Err(ProtoError::TooLarge { len, limit }) = &got
            && (*len != self.0 || *limit != MAX_MESSAGE_BYTES)
        {
            return Err(format!("TooLarge {{ len: {len}, limit: {limit} }}"));
        }
        self.1.compare(got)
    }
}

#[test]
fn message_size() {
    check(
        "MAX_MESSAGE_BYTES",
        &[
            Size(MAX_MESSAGE_BYTES, Want::Ok),
            Size(
                MAX_MESSAGE_BYTES + 1,
                Want::err(&["65537 bytes", "limit of 65536 bytes", "MAX_MESSAGE_BYTES"]),
            ),
        ],
    );
}

struct Constant(&'static str, i64, i64);

impl Case for Constant {
    fn name(&self) -> String {
        self.0.to_owned()
    }
    fn run(&self) -> Result<(), String> {
        (self.1 == self.2)
            .then_some(())
            .ok_or_else(|| format!("{} != {}", self.1, self.2))
    }
}

#[test]
fn constants_are_the_designs() {
    let n = |v: usize| i64::try_from(v).unwrap();
    check(
        "limits",
        &[
            Constant("idp", n(limits::IDENTITY_PROVIDER_NAME_MAX_CHARS), 64),
            Constant("partnerUserId", n(limits::PARTNER_USER_ID_MAX_BYTES), 256),
            Constant("loginName", n(limits::LOGIN_NAME_MAX_CHARS), 64),
            Constant("linkToken", n(limits::LINK_TOKEN_MAX_BYTES), 8192),
            Constant(
                "linkSigningKey",
                n(limits::LINK_SIGNING_KEY_MAX_BYTES),
                4096,
            ),
            Constant("ssiToken", n(limits::SSI_TOKEN_MAX_BYTES), 16 * 1024),
            Constant("linkId", n(limits::LINK_ID_MAX_CHARS), 128),
            Constant("entries", n(limits::LOGIN_SELECTION_MAX_ENTRIES), 32),
            Constant("links", n(limits::MAX_ACTIVE_LINKS_PER_ACCOUNT_IDP), 32),
            Constant("message", n(limits::MAX_MESSAGE_BYTES), 64 * 1024),
            Constant("age", limits::METRIC_TIMESTAMP_MAX_AGE_MS, 7 * DAY_MS),
            Constant(
                "ahead",
                limits::METRIC_TIMESTAMP_MAX_AHEAD_MS,
                5 * MINUTE_MS,
            ),
            Constant("lifetime", limits::SSI_TOKEN_LIFETIME_SECS, 300),
            Constant("skew", limits::CLOCK_SKEW_SECS, 60),
            Constant("screen", limits::SCREEN_TIMEOUT_SECS, 15 * 60),
        ],
    );
}
