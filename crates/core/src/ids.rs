//! Typed identifiers and values that cross crate boundaries.
//!
//! Each type can only hold a valid value: parsing is the only way in, and deserialising goes
//! through the same parser, so a configuration file or a database row cannot smuggle in an
//! unnormalised email or a malformed AUD tag.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CoreError, excerpt};

/// A normalised email address: trimmed and lowercased, with exactly one `@`.
///
/// Access compares emails case-insensitively (policy rules, the user registry, the
/// `Cf-Access-Authenticated-User-Email` header), so the normal form is what is stored and compared.
/// Characters that are only valid inside RFC 5322 quoted local parts are refused rather than
/// interpreted: an address that needs quoting is far more likely to be an injection attempt than a
/// real user, and the value ends up in HTTP headers.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Longest accepted address, in bytes (the RFC 5321 path limit rounded to the usual 320).
    pub const MAX_LEN: usize = 320;

    /// Normalises `input` (an IdP claim, a policy value, a SCIM userName) into an email.
    ///
    /// Returns an error saying what is wrong when the input is empty, too long, contains
    /// whitespace, control or quoting-only characters, does not have exactly one `@`, or has an
    /// empty local part, domain or domain label.
    pub fn parse(input: &str) -> Result<Self, CoreError> {
        let fail = |reason: &str| CoreError::InvalidEmail {
            input: excerpt(input),
            reason: reason.to_owned(),
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(fail("it is empty"));
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(fail("it is longer than 320 characters"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("it contains whitespace or a control character"));
        }
        if trimmed.chars().any(|c| "\"(),:;<>[\\]".contains(c)) {
            return Err(fail(
                "it contains one of \"(),:;<>[\\] which are only valid in quoted addresses, \
                 and quoted addresses are not supported",
            ));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(fail("it has no '@'"));
        };
        if domain.contains('@') {
            return Err(fail("it has more than one '@'"));
        }
        if local.is_empty() {
            return Err(fail("there is nothing before the '@'"));
        }
        if domain.is_empty() {
            return Err(fail("there is nothing after the '@'"));
        }
        if domain.split('.').any(str::is_empty) {
            return Err(fail("the domain after the '@' has an empty label"));
        }
        let normal = trimmed.to_lowercase();
        // Lowercasing a few non-ASCII letters lengthens them, so the bound is checked again.
        if normal.len() > Self::MAX_LEN {
            return Err(fail("it is longer than 320 characters"));
        }
        Ok(Self(normal))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@` (lowercase), as compared by `email_domain` rules.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// The part before the `@` (lowercase).
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Email {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = CoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Declares a UUID-backed identifier. Every UUID is a valid value, so the field is public; the
/// type exists so that a user id can never be passed where an IdP id is expected.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps a UUID that the caller generated or read back.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The wrapped UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses the textual form (hyphenated, simple, braced or URN; any case).
            pub fn parse(input: &str) -> Result<Self, CoreError> {
                Uuid::parse_str(input.trim()).map(Self).map_err(|_| {
                    CoreError::InvalidIdentifier {
                        kind: $kind,
                        input: excerpt(input),
                        reason: "expected a UUID such as 0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c"
                            .to_owned(),
                    }
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lowercase hyphenated, the form Cloudflare's API and tokens use.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

uuid_id!(
    /// Identifies a login method (identity provider); the `idp.id` of get-identity and the
    /// `identity_provider_id` of policy rules.
    IdpId,
    "identity provider id"
);
uuid_id!(
    /// Identifies a user of the user registry; the `sub` claim of application tokens and the
    /// `user_uuid` of get-identity.
    UserId,
    "user id"
);
uuid_id!(
    /// Identifies an application (Cloudflare's app `id`/`uid`).
    AppId,
    "application id"
);
uuid_id!(
    /// Identifies a service token (Cloudflare's token `id`, the `token_id` of `service_token`
    /// rules). Not the token's Client ID, and never its secret.
    ServiceTokenId,
    "service token id"
);

/// An application audience tag: 64 lowercase hexadecimal characters, the `aud` of app tokens.
///
/// Origins compare it byte for byte, so no other spelling (uppercase, spaces) is accepted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Aud(String);

impl Aud {
    /// Length of an AUD tag in characters.
    pub const LEN: usize = 64;

    /// Builds a new tag from 32 random bytes supplied by the caller (this crate has no randomness
    /// source of its own, so tests can be deterministic).
    pub fn generate_from(random: [u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(Self::LEN);
        for byte in random {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(out)
    }

    /// Accepts a tag pinned in configuration or read from storage.
    ///
    /// Returns an error unless the input is exactly 64 characters of `0-9a-f`.
    pub fn parse(input: &str) -> Result<Self, CoreError> {
        let fail = |reason: &str| CoreError::InvalidIdentifier {
            kind: "AUD tag",
            input: excerpt(input),
            reason: reason.to_owned(),
        };
        if input.len() != Self::LEN {
            return Err(fail("expected exactly 64 hexadecimal characters"));
        }
        if input.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(fail("expected lowercase hexadecimal characters"));
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(fail("expected only the characters 0-9 and a-f"));
        }
        Ok(Self(input.to_owned()))
    }

    /// The tag as it appears in tokens.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Aud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Aud {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Aud {
    type Error = CoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Aud> for String {
    fn from(value: Aud) -> Self {
        value.0
    }
}

/// A login session's identifier: the `identity_nonce` of tokens, the key under which the full
/// identity is kept for get-identity.
///
/// At least 16 URL-safe characters (`A-Z a-z 0-9 - _`), at most 128, so it can travel in tokens,
/// cookies and URLs without escaping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// Shortest accepted identifier (Cloudflare's own are 16 characters).
    pub const MIN_LEN: usize = 16;
    /// Longest accepted identifier.
    pub const MAX_LEN: usize = 128;

    /// Builds a new identifier from 16 random bytes supplied by the caller: their unpadded
    /// base64url form, 22 characters.
    pub fn generate_from(random: [u8; 16]) -> Self {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(22);
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        for byte in random {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                out.push(char::from(ALPHABET[((acc >> bits) & 0x3f) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize]));
        }
        Self(out)
    }

    /// Accepts an identifier read from a token, cookie or storage.
    ///
    /// Returns an error when it is shorter than 16 or longer than 128 characters, or contains a
    /// character outside `A-Z a-z 0-9 - _`.
    pub fn parse(input: &str) -> Result<Self, CoreError> {
        let fail = |reason: &str| CoreError::InvalidIdentifier {
            kind: "session id",
            input: excerpt(input),
            reason: reason.to_owned(),
        };
        if input.len() < Self::MIN_LEN {
            return Err(fail("expected at least 16 characters"));
        }
        if input.len() > Self::MAX_LEN {
            return Err(fail("expected at most 128 characters"));
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail(
                "expected only the characters A-Z, a-z, 0-9, '-' and '_'",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// The identifier as it appears in tokens.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SessionId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for SessionId {
    type Error = CoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SessionId> for String {
    fn from(value: SessionId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        let email = Email::parse("  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
        assert_eq!(email.domain(), "example.com");
        assert_eq!(email.local_part(), "alice.smith");
        assert_eq!(email.to_string(), "alice.smith@example.com");
    }

    #[test]
    fn email_refuses_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@@example.com",
            "a@b@example.com",
            "al ice@example.com",
            "alice@exa\tmple.com",
            "alice@example.com\r\nX-Injected: 1",
            "alice\u{0}@example.com",
            "\"alice\"@example.com",
            "alice<x>@example.com",
            "alice@example..com",
            "alice@.example.com",
            "alice@example.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn email_length_is_bounded() {
        let ok = format!("{}@example.com", "a".repeat(320 - 12));
        assert_eq!(ok.len(), 320);
        assert!(Email::parse(&ok).is_ok());
        let too_long = format!("{}@example.com", "a".repeat(320 - 11));
        let err = Email::parse(&too_long).unwrap_err();
        assert!(err.to_string().contains("longer than 320"), "{err}");
        // The error message does not copy the whole input.
        assert!(err.to_string().len() < 200);
    }

    #[test]
    fn email_serde_validates() {
        let email: Email = serde_json::from_str("\"Bob@Example.org\"").unwrap();
        assert_eq!(email.as_str(), "bob@example.org");
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"bob@example.org\""
        );
        let err = serde_json::from_str::<Email>("\"bob\"").unwrap_err();
        assert!(err.to_string().contains("no '@'"), "{err}");
    }

    #[test]
    fn uuid_ids_round_trip() {
        let text = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c";
        let id = IdpId::parse(text).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(IdpId::parse(&text.to_uppercase()).unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<IdpId>(&format!("\"{text}\"")).unwrap(),
            id
        );
        assert!(UserId::parse("not-a-uuid").is_err());
        assert!(AppId::parse("").is_err());
        let token = ServiceTokenId::parse(text).unwrap();
        assert_eq!(token.to_string(), text);
        assert_eq!(text.parse::<ServiceTokenId>().unwrap(), token);
        assert_eq!(
            serde_json::to_string(&token).unwrap(),
            format!("\"{text}\"")
        );
        let err = ServiceTokenId::parse("nope").unwrap_err().to_string();
        assert!(err.contains("service token id"), "{err}");
        let err = IdpId::parse("x").unwrap_err().to_string();
        assert!(err.contains("identity provider id"), "{err}");
    }

    #[test]
    fn aud_is_64_lowercase_hex() {
        let aud = Aud::generate_from([0xab; 32]);
        assert_eq!(aud.as_str(), "ab".repeat(32));
        assert_eq!(Aud::parse(aud.as_str()).unwrap(), aud);
        let sample = "32eafc7626e974616deaf0dc3ce63d7bcbed58a2731e84d06bc3cdf1b53c4228";
        assert!(Aud::parse(sample).is_ok());
        assert!(Aud::parse(&sample.to_uppercase()).is_err());
        assert!(Aud::parse(&sample[..63]).is_err());
        assert!(Aud::parse(&format!("{}g", &sample[..63])).is_err());
        assert!(Aud::parse("").is_err());
        let bytes: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            Aud::generate_from(bytes).as_str(),
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        );
        assert!(serde_json::from_str::<Aud>("\"abc\"").is_err());
    }

    #[test]
    fn session_id_shape() {
        let id = SessionId::generate_from([0xff; 16]);
        assert_eq!(id.as_str().len(), 22);
        assert_eq!(id.as_str(), "_____________________w");
        assert_eq!(SessionId::generate_from([0; 16]).as_str(), "A".repeat(22));
        assert_eq!(SessionId::parse(id.as_str()).unwrap(), id);
        assert!(SessionId::parse("6ei69kawdKzMIAPF").is_ok());
        assert!(SessionId::parse("6ei69kawdKzMIAP").is_err());
        assert!(SessionId::parse("6ei69kawdKzMIAPF=").is_err());
        assert!(SessionId::parse("6ei69kawd/zMIAPF").is_err());
        assert!(SessionId::parse(&"a".repeat(129)).is_err());
        assert!(serde_json::from_str::<SessionId>("\"short\"").is_err());
    }
}
