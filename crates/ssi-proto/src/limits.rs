//! The limits of DESIGN.md section 9. Lengths are in bytes of UTF-8 or in characters
//! (Unicode scalar values), as each name says; times follow the unit in the name.

/// `identityProviderName`: at most this many characters of `[A-Za-z0-9._-]` (at least 1).
pub const IDENTITY_PROVIDER_NAME_MAX_CHARS: usize = 64;
/// `partnerUserId`: at most this many bytes of UTF-8 (at least 1).
pub const PARTNER_USER_ID_MAX_BYTES: usize = 256;
/// `userLoginName` and `loginName`: at most this many characters (at least 1).
pub const LOGIN_NAME_MAX_CHARS: usize = 64;
/// `linkToken.token`: at most this many bytes (at least 1).
pub const LINK_TOKEN_MAX_BYTES: usize = 8192;
/// `linkSigningKey` (the sealed JWE): at most this many bytes (at least 1).
pub const LINK_SIGNING_KEY_MAX_BYTES: usize = 4096;
/// `ssiToken.token`: at most this many bytes (16 KiB).
pub const SSI_TOKEN_MAX_BYTES: usize = 16384;
/// `linkId`: at most this many characters of `[A-Za-z0-9_-]` (at least 1).
pub const LINK_ID_MAX_CHARS: usize = 128;
/// `showLoginSelection`: at most this many entries (at least 1).
pub const LOGIN_SELECTION_MAX_ENTRIES: usize = 32;
/// Active links per (platform account, identity provider).
pub const MAX_ACTIVE_LINKS_PER_ACCOUNT_IDP: usize = 32;
/// One message on an app socket, one HTTP request body: 64 KiB.
pub const MAX_MESSAGE_BYTES: usize = 65536;
/// A metric `timestamp` may be at most this old (7 days), in milliseconds.
pub const METRIC_TIMESTAMP_MAX_AGE_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// A metric `timestamp` may be at most this far ahead (5 minutes), in milliseconds.
pub const METRIC_TIMESTAMP_MAX_AHEAD_MS: i64 = 5 * 60 * 1000;
/// Lifetime of an SSI token (`exp - iat`), in seconds.
pub const SSI_TOKEN_LIFETIME_SECS: i64 = 300;
/// Clock skew allowed when checking token times, in seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Consent and login-selection screens time out after this many seconds (15 minutes).
pub const SCREEN_TIMEOUT_SECS: i64 = 900;
