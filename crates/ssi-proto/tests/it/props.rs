//! Property tests: any value survives a serde round trip; no input makes parsing or
//! validation panic.

use std::fmt::Debug;

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ssi_proto::{
    FailureReason, GetUserAndLinksResponse, Link, LinkAccountSuccessCode, LinkUserAccountRequest,
    LinkUserAccountResponse, LoginNameValue, RequestStatus, ShowLoginSelectionResponse, SsiEvent,
    SsiEventRequest, Token, UserSelection, parse_json, validate_identity_provider_name,
    validate_login_selection, validate_partner_user_id,
};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    value: &T,
) -> Result<serde_json::Value, TestCaseError> {
    let bytes = serde_json::to_vec(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = parse_json(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))
}

fn millis() -> impl Strategy<Value = i64> {
    0..=i64::MAX
}

fn token() -> impl Strategy<Value = Token> {
    (any::<String>(), any::<String>()).prop_map(|(token, schema)| Token { token, schema })
}

fn link() -> impl Strategy<Value = Link> {
    (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        any::<String>(),
        token(),
        millis(),
    )
        .prop_map(
            |(link_id, amazon_user_id, partner_user_id, idp, ssi_token, ts)| Link {
                link_id,
                amazon_user_id,
                partner_user_id,
                identity_provider_name: idp,
                ssi_token,
                linked_timestamp: ts,
            },
        )
}

fn status() -> impl Strategy<Value = RequestStatus> {
    prop::sample::select(RequestStatus::ALL)
}

proptest! {
    #[test]
    fn link_round_trips_with_string_timestamp(link in link()) {
        let json = round_trip(&link)?;
        let want = link.linked_timestamp.to_string();
        prop_assert_eq!(json["linkedTimestamp"].as_str(), Some(want.as_str()));
    }

    #[test]
    fn event_round_trips_with_integer_timestamp(
        ssi_event in prop::sample::select(SsiEvent::ALL),
        timestamp in millis(),
        reason in prop::option::of(prop::sample::select(FailureReason::ALL)),
    ) {
        let event = SsiEventRequest { ssi_event, timestamp, failure_reason: reason };
        let json = round_trip(&event)?;
        prop_assert_eq!(json["timestamp"].as_i64(), Some(timestamp));
        prop_assert_eq!(json.get("failureReason").is_some(), reason.is_some());
    }

    #[test]
    fn link_request_round_trips(
        strings in prop::array::uniform4(any::<String>()),
        link_token in token(),
    ) {
        let [partner_user_id, identity_provider_name, user_login_name, link_signing_key] = strings;
        round_trip(&LinkUserAccountRequest {
            partner_user_id,
            identity_provider_name,
            user_login_name,
            link_token,
            link_signing_key,
        })?;
    }

    #[test]
    fn responses_round_trip(
        request_status in status(),
        amazon_user_id in prop::option::of(any::<String>()),
        links in prop::option::of(prop::collection::vec(link(), 0..4)),
        message in prop::option::of(any::<String>()),
        success_code in prop::option::of(prop::sample::select(LinkAccountSuccessCode::ALL)),
        user_selection in prop::option::of(prop::sample::select(UserSelection::ALL)),
        link_id in prop::option::of(any::<String>()),
        ssi_token in prop::option::of(token()),
    ) {
        round_trip(&GetUserAndLinksResponse {
            request_status, amazon_user_id, links, message: message.clone(),
        })?;
        round_trip(&LinkUserAccountResponse {
            request_status, success_code, link_id: link_id.clone(), message: message.clone(),
        })?;
        let json = round_trip(&ShowLoginSelectionResponse {
            request_status, user_selection, link_id, ssi_token, message,
        })?;
        // Absent options are left out, never written as null.
        prop_assert!(json.as_object().is_some_and(|o| o.values().all(|v| !v.is_null())));
    }

    #[test]
    fn digit_strings_parse_exactly_when_they_fit(n in any::<u64>()) {
        let json = format!(r#"{{"ssiEvent":"LOGIN_SUCCESS","timestamp":"{n}"}}"#);
        let got = parse_json::<SsiEventRequest>(json.as_bytes());
        prop_assert_eq!(got.is_ok(), i64::try_from(n).is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_json::<LinkUserAccountRequest>(&bytes);
        let _ = parse_json::<GetUserAndLinksResponse>(&bytes);
        let _ = parse_json::<SsiEventRequest>(&bytes);
    }

    #[test]
    fn idp_names_accepted_iff_in_alphabet(name in "[A-Za-z0-9._ /é-]{0,70}") {
        let fits = (1..=64).contains(&name.chars().count())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
        prop_assert_eq!(validate_identity_provider_name(&name).is_ok(), fits);
    }

    #[test]
    fn validators_never_panic(s in any::<String>(), entries in prop::collection::vec(
        (any::<String>(), "[a-z]{0,3}"), 0..40,
    )) {
        let _ = validate_partner_user_id(&s);
        let list: Vec<LoginNameValue> =
            entries.into_iter().map(|(n, l)| LoginNameValue::new(n, l)).collect();
        let _ = validate_login_selection(&list);
    }
}
