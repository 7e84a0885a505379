//! The seed's enums, plus the server-recorded [`InternalEvent`].

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Longest part of a refused value that is echoed back in an error.
const ECHO_MAX_CHARS: usize = 64;

/// What every wire enum offers, for code that handles them generically
/// (report columns, CLI parsing, tests).
pub trait WireEnum: Copy + Eq + fmt::Debug + FromStr<Err = UnknownEnumValue> + 'static {
    /// The enum's name in the seed API (`RequestStatus`, `SSIEvent`, …).
    const NAME: &'static str;
    /// Every value, in the seed's declaration order.
    const ALL: &'static [Self];
    /// The canonical wire spelling of every value, in the order of [`WireEnum::ALL`].
    const NAMES: &'static [&'static str];
    /// The canonical wire spelling (SCREAMING_SNAKE).
    fn as_str(self) -> &'static str;
}

/// A string that is not a spelling of the expected enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`, expected one of {}", .expected.join(", "))]
pub struct UnknownEnumValue {
    /// The enum's name in the seed API.
    pub kind: &'static str,
    /// The refused value, cut to 64 characters.
    pub value: String,
    /// The canonical spellings.
    pub expected: &'static [&'static str],
}

impl UnknownEnumValue {
    fn new<T: WireEnum>(value: &str) -> Self {
        Self {
            kind: T::NAME,
            value: echo(value),
            expected: T::NAMES,
        }
    }
}

/// Cuts a refused value so that a huge input cannot bloat an error message.
pub(crate) fn echo(value: &str) -> String {
    echo_n(value, ECHO_MAX_CHARS)
}

/// Keeps the first `max` characters of `value`, marking a cut with `…`.
pub(crate) fn echo_n(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

struct EnumVisitor<T>(PhantomData<T>);

impl<T: WireEnum> Visitor<'_> for EnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} string", T::NAME)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $wire:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* , )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the seed's declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The canonical wire spelling (SCREAMING_SNAKE).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl WireEnum for $name {
            const NAME: &'static str = $wire;
            const ALL: &'static [Self] = $name::ALL;
            const NAMES: &'static [&'static str] = &[$($text),+];
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl FromStr for $name {
            type Err = UnknownEnumValue;

            /// Accepts the canonical spelling and the legacy aliases.
            fn from_str(s: &str) -> Result<Self, UnknownEnumValue> {
                match s {
                    $( $text $(| $alias)* => Ok(Self::$variant), )+
                    _ => Err(UnknownEnumValue::new::<Self>(s)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(EnumVisitor::<Self>(PhantomData))
            }
        }

        /// A string enum of the canonical spellings, named as on the wire; the
        /// legacy aliases (read, never written) are in the description.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                const ALIASES: &[&str] = &[$($($alias,)*)+];
                let description = (!ALIASES.is_empty()).then(|| {
                    format!(
                        "Always written as one of the values; also read (never written): {}.",
                        ALIASES.join(" | ")
                    )
                });
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(<Self as WireEnum>::NAMES.iter().copied()))
                    .description(description)
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($wire)
            }
        }
    };
}

wire_enum! {
    /// Outcome of every call (seed `RequestStatus`).
    pub enum RequestStatus as "RequestStatus" {
        /// The request was processed.
        Successful = "SUCCESSFUL",
        /// Non-retryable error; the response's `message` says why.
        Failure = "FAILURE",
        /// Transient error (server unreachable, timeout, rate limited); retry later.
        RetryableFailure = "RETRYABLE_FAILURE",
        /// The SDK speaks a protocol version the agent does not.
        NotSupported = "NOT_SUPPORTED",
        /// Disabled by the operator for the region or app, or device mode without SSI.
        NotAvailable = "NOT_AVAILABLE",
        /// The app already has a screen-bearing call in flight.
        DuplicateRequest = "DUPLICATE_REQUEST",
        /// The owner turned SSI off for the account, this device or this app.
        FeatureTurnedOff = "FEATURE_TURNED_OFF",
        /// The sealed `linkSigningKey` cannot be decrypted with the app's keys.
        InvalidLinkSigningKeyEncryption = "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
        /// The decrypted `linkSigningKey` is not a valid P-256 private key.
        InvalidLinkSigningKey = "INVALID_LINK_SIGNING_KEY",
    }
}

wire_enum! {
    /// Finer outcome of `linkUserAccount` (seed `LinkAccountSuccessCode`).
    pub enum LinkAccountSuccessCode as "LinkAccountSuccessCode" {
        /// Consent granted, link created.
        LinkEstablished = "LINK_ESTABLISHED" | "LinkEstablished",
        /// The link existed already; no consent asked.
        LinkAlreadyExists = "LINK_ALREADY_EXISTS" | "LinkAlreadyExists",
        /// The user chose "Not now".
        ConsentDenied = "CONSENT_DENIED" | "ConsentDenied",
        /// The request failed or the screen timed out.
        NotApplicable = "NOT_APPLICABLE",
    }
}

wire_enum! {
    /// What the user did on the login-selection screen (seed `UserSelection`).
    pub enum UserSelection as "UserSelection" {
        /// The user picked one of the offered links (`linkId` set).
        LoginSelected = "LOGIN_SELECTED" | "LoginSelected",
        /// The user chose to sign in manually.
        ManualSignIn = "MANUAL_SIGN_IN" | "ManualSignIn",
        /// Nothing was selected (timeout or failure).
        NotApplicable = "NOT_APPLICABLE",
    }
}

wire_enum! {
    /// App-reported metric event (seed `SSIEvent`).
    pub enum SsiEvent as "SSIEvent" {
        /// Sign-in with a linked account succeeded.
        LoginSuccess = "LOGIN_SUCCESS",
        /// Sign-in with a linked account failed; needs a [`FailureReason`].
        LoginFailure = "LOGIN_FAILURE",
        /// The user chose manual sign-in over the linked accounts.
        ManualSigninSelected = "MANUAL_SIGNIN_SELECTED",
    }
}

// The aliases are the Fire OS SDK's descriptions, which that SDK puts on its wire
// (reference.md 2.6); UNAUTHORIZED's text has a typographic apostrophe there, and we
// also take the ASCII one.
wire_enum! {
    /// Why a sign-in with a linked account failed (seed `FailureReason`).
    pub enum FailureReason as "FailureReason" {
        /// The user is not authorised to log in.
        Unauthorized = "UNAUTHORIZED"
            | "The user isn\u{2019}t authorized to do log in."
            | "The user isn't authorized to do log in.",
        /// The request was corrupted.
        BadRequest = "BAD_REQUEST" | "The request is corrupted.",
        /// The login page cannot be found.
        NotFound = "NOT_FOUND" | "The login page the user is looking for cannot be found.",
        /// No login opportunity is available.
        Forbidden = "FORBIDDEN" | "No login opportunity is available.",
        /// Something is wrong with the login.
        InternalServerError = "INTERNAL_SERVER_ERROR" | "Something is wrong with the login.",
    }
}

wire_enum! {
    /// Events the server records itself, never sent by apps.
    pub enum InternalEvent as "InternalEvent" {
        /// The user allowed a link on the consent screen.
        EnableSsi = "ENABLE_SSI",
        /// The user chose "Not now" on the consent screen.
        ConsentDenied = "CONSENT_DENIED",
    }
}
