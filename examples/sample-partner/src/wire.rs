//! The sample backend's JSON API (camelCase), shared by the backend and the
//! sample app. A real partner designs its own; only the SSI token and the
//! link token fields come from the platform's API.

use serde::{Deserialize, Serialize};

/// `POST /api/sign-in`: the app's standard sign-in form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
}

/// A user of the sample partner, as the app shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The partner's own id of the user: the `partnerUserId` of links.
    pub partner_user_id: String,
    /// What the user types to sign in, and the login name shown on the
    /// device's screens.
    pub username: String,
    pub display_name: String,
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignInMethod {
    /// Username and password, typed on the device.
    Password,
    /// An SSI token from the device's login selection, verified by the backend.
    SimpleSignIn,
}

/// A signed-in session: the bearer token for the other calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session: String,
    pub user: UserView,
    pub method: SignInMethod,
}

/// A token with its schema, as in the platform's API (`Token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenView {
    pub token: String,
    pub schema: String,
}

/// `POST /api/link-token` (signed in): what `linkUserAccount` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkTokenRequest {
    /// The platform user's directed id, from `getUserAndLinks`.
    pub amazon_user_id: String,
}

/// The fields of a `LinkUserAccountRequest` that come from the backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkTokenResponse {
    pub partner_user_id: String,
    pub user_login_name: String,
    pub link_token: TokenView,
    /// The link signing key sealed to the app's public key (JWE compact).
    pub link_signing_key: String,
}

/// `POST /api/links` (signed in): the `linkId` of an established link, kept
/// with the user (the seed: "save the link id … on your server").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordLinkRequest {
    pub link_id: String,
}

/// One link from `getUserAndLinks`, with the SSI token that proves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkProof {
    pub link_id: String,
    pub ssi_token: TokenView,
}

/// `POST /api/login-names`: the friendly names for the login selection. Each
/// link must come with its SSI token, so that nobody learns the names of
/// users whose links they do not hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginNamesRequest {
    pub links: Vec<LinkProof>,
}

/// The name to show for one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginName {
    pub link_id: String,
    pub login_name: String,
}

/// A link whose token the backend refused, and why (a verification error code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedLink {
    pub link_id: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginNamesResponse {
    pub names: Vec<LoginName>,
    pub refused: Vec<RefusedLink>,
}

/// `POST /api/ssi-sign-in`: sign in with the SSI token of the chosen link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SsiSignInRequest {
    pub ssi_token: TokenView,
}

/// Something the backend did, for its activity log (shown on the TV page so
/// that a newcomer sees the backend's side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendEvent {
    /// Unix seconds.
    pub at: i64,
    pub text: String,
}

/// `GET /api/events`: the most recent events, newest last.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsView {
    pub events: Vec<BackendEvent>,
}

/// Every error: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}
