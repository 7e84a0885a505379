//! Rules for platform accounts, device registration codes and the account
//! pages (DESIGN.md sections 3 and 6). Pure: randomness comes in as bytes or
//! a [`RandomSource`], time as epoch milliseconds.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use thiserror::Error;

use crate::random::RandomSource;

/// E-mail: at least this many characters (`a@b`).
pub const EMAIL_MIN_CHARS: usize = 3;
/// E-mail: at most this many characters (RFC 5321's path limit).
pub const EMAIL_MAX_CHARS: usize = 254;
/// Password: at least this many characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Password: at most this many characters (bounds the hashing work).
pub const PASSWORD_MAX_CHARS: usize = 256;
/// A device's name (`device_name`): 1 to this many characters.
pub const DEVICE_NAME_MAX_CHARS: usize = 64;

/// User codes: consonants only, no vowels (no words), no `Y`, no look-alikes.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code (shown as `XXXX-XXXX`): 20^8 ≈ 2^34.6 codes.
pub const USER_CODE_LETTERS: usize = 8;
/// RFC 8628 section 3.5: each `slow_down` raises the polling interval by 5 s.
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// A fixed-window rate limit: at most `max` counted events per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: i64,
    pub window_ms: i64,
}

const FIFTEEN_MINUTES_MS: i64 = 15 * 60 * 1000;

/// Failed sign-ins per e-mail address.
pub const SIGN_IN_PER_EMAIL: RateLimit = RateLimit {
    max: 5,
    window_ms: FIFTEEN_MINUTES_MS,
};
/// Failed sign-ins per client address (over all e-mails).
pub const SIGN_IN_PER_ADDRESS: RateLimit = RateLimit {
    max: 20,
    window_ms: FIFTEEN_MINUTES_MS,
};
/// Sign-ups per client address (each costs an argon2 hash).
pub const SIGN_UP_PER_ADDRESS: RateLimit = RateLimit {
    max: 50,
    window_ms: FIFTEEN_MINUTES_MS,
};
/// Wrong user codes entered per account on `/device`.
pub const USER_CODE_PER_ACCOUNT: RateLimit = RateLimit {
    max: 10,
    window_ms: FIFTEEN_MINUTES_MS,
};
/// Wrong user codes entered per client address on `/device`.
pub const USER_CODE_PER_ADDRESS: RateLimit = RateLimit {
    max: 30,
    window_ms: FIFTEEN_MINUTES_MS,
};
/// Device authorization requests per client address (each stores a row).
pub const DEVICE_AUTHORIZATION_PER_ADDRESS: RateLimit = RateLimit {
    max: 60,
    window_ms: FIFTEEN_MINUTES_MS,
};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountError {
    #[error("email: must be {EMAIL_MIN_CHARS} to {EMAIL_MAX_CHARS} characters")]
    EmailLength,
    #[error("email: must be one address of the form name@domain, without spaces")]
    EmailFormat,
    #[error("password: must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters")]
    PasswordLength,
    #[error(
        "device_name: must be 1 to {DEVICE_NAME_MAX_CHARS} characters without control characters"
    )]
    DeviceName,
    #[error("password hashing failed")]
    Hashing,
}

/// Trims and lowercases an e-mail address and checks its shape: 3-254
/// characters, exactly one `@` with something on each side, no whitespace
/// or control characters.
pub fn normalize_email(input: &str) -> Result<String, AccountError> {
    let email = input.trim().to_lowercase();
    let chars = email.chars().count();
    if !(EMAIL_MIN_CHARS..=EMAIL_MAX_CHARS).contains(&chars) {
        return Err(AccountError::EmailLength);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(AccountError::EmailFormat);
    };
    let well_formed = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed {
        Ok(email)
    } else {
        Err(AccountError::EmailFormat)
    }
}

pub fn validate_password(password: &str) -> Result<(), AccountError> {
    let chars = password.chars().count();
    if (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(AccountError::PasswordLength)
    }
}

/// Argon2id with the crate's default parameters, as a PHC string.
pub fn hash_password(password: &str, salt: &[u8; 16]) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), salt)
        .map(|hash| hash.to_string())
        .map_err(|_| AccountError::Hashing)
}

/// Whether `password` matches the PHC string (false for a malformed hash).
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A hash no password matches in practice, verified against when the e-mail
/// is unknown so that sign-in takes as long for unknown e-mails as for known.
pub fn decoy_password_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password("decoy password, never accepted", &[0x5a; 16]).unwrap_or_default()
    })
}

/// A device's name as given at registration: trimmed, 1-64 characters, no
/// control characters.
pub fn validate_device_name(input: &str) -> Result<String, AccountError> {
    let name = input.trim();
    let chars = name.chars().count();
    if (1..=DEVICE_NAME_MAX_CHARS).contains(&chars) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(AccountError::DeviceName)
    }
}

/// A fresh user code (8 letters of [`USER_CODE_ALPHABET`], unformatted),
/// uniformly drawn by rejection sampling.
pub fn new_user_code(rng: &dyn RandomSource) -> String {
    let alphabet = USER_CODE_ALPHABET.len();
    // The largest multiple of the alphabet's size that fits in a byte.
    let limit = 256 - 256 % alphabet;
    let mut code = String::with_capacity(USER_CODE_LETTERS);
    let mut buffer = [0u8; 16];
    while code.len() < USER_CODE_LETTERS {
        rng.fill(&mut buffer);
        for byte in buffer {
            let byte = usize::from(byte);
            if byte < limit && code.len() < USER_CODE_LETTERS {
                code.push(char::from(USER_CODE_ALPHABET[byte % alphabet]));
            }
        }
    }
    code
}

/// `BCDFGHJK` → `BCDF-GHJK`.
pub fn format_user_code(code: &str) -> String {
    if code.len() == USER_CODE_LETTERS && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

/// What an owner typed: with or without the dash, spaces ignored, any case.
/// `None` when it cannot be a user code.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LETTERS && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// A redirect target after sign-in: only a local absolute path of plain
/// characters (no scheme, no `//host`, no backslash), else `None`.
pub fn safe_local_path(next: &str) -> Option<&str> {
    let plain = next.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'?' | b'=' | b'&')
    });
    let local = next.starts_with('/') && !next.starts_with("//");
    (plain && local && next.len() <= 200).then_some(next)
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian).
pub fn format_utc(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        of_day / 3600,
        (of_day % 3600) / 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (y, m, d).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandomSource;

    #[test]
    fn emails() {
        let cases: &[(&str, Result<&str, AccountError>)] = &[
            ("  Alice@Example.COM ", Ok("alice@example.com")),
            ("a@b", Ok("a@b")),
            ("ab", Err(AccountError::EmailLength)),
            ("abc", Err(AccountError::EmailFormat)),
            ("a@b@c", Err(AccountError::EmailFormat)),
            ("@bc", Err(AccountError::EmailFormat)),
            ("ab@", Err(AccountError::EmailFormat)),
            ("a b@c", Err(AccountError::EmailFormat)),
            ("a\u{7}@bc", Err(AccountError::EmailFormat)),
        ];
        for (input, expected) in cases {
            let expected = expected.clone().map(str::to_owned);
            assert_eq!(normalize_email(input), expected, "{input:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(normalize_email(&long), Err(AccountError::EmailLength));
    }

    #[test]
    fn passwords() {
        assert_eq!(
            validate_password("123456789"),
            Err(AccountError::PasswordLength)
        );
        assert_eq!(validate_password("1234567890"), Ok(()));
        assert_eq!(validate_password(&"x".repeat(256)), Ok(()));
        assert_eq!(
            validate_password(&"x".repeat(257)),
            Err(AccountError::PasswordLength)
        );
        let hash = hash_password("correct horse", &[7; 16]).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(!verify_password("decoy password", decoy_password_hash()));
    }

    #[test]
    fn user_codes() {
        let rng = SeededRandomSource::new(b"user codes");
        for _ in 0..200 {
            let code = new_user_code(&rng);
            assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
            let shown = format_user_code(&code);
            assert_eq!(shown.len(), 9);
            assert_eq!(normalize_user_code(&shown.to_lowercase()), Some(code));
        }
        assert_eq!(
            normalize_user_code("bcdf ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "ВCDF-GHJK",
        ] {
            assert_eq!(normalize_user_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn redirect_targets() {
        assert_eq!(
            safe_local_path("/device?user_code=BCDF-GHJK"),
            Some("/device?user_code=BCDF-GHJK")
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "javascript:x",
            "",
            "/a b",
        ] {
            assert_eq!(safe_local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_795_564_800_000), "2026-11-25 00:00 UTC");
        assert_eq!(format_utc(951_827_696_000), "2000-02-29 12:34 UTC");
    }

    #[test]
    fn device_names() {
        assert_eq!(validate_device_name(" TV ").as_deref(), Ok("TV"));
        assert_eq!(validate_device_name(""), Err(AccountError::DeviceName));
        assert_eq!(validate_device_name("a\nb"), Err(AccountError::DeviceName));
        assert!(validate_device_name(&"é".repeat(64)).is_ok());
        assert!(validate_device_name(&"é".repeat(65)).is_err());
    }
}
