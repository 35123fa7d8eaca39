//! JSON Web Keys (RFC 7517) as data, and their RFC 7638 thumbprints.

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use crate::JoseError;

/// One public JSON Web Key, as published in a JWKS document.
///
/// Only the members this crate uses are kept; unknown members (including any private-key
/// members a careless publisher might include) are dropped on parsing, so re-serializing a
/// `Jwk` can never leak them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Key id; tokens name their key with the same value in their header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm this key may be used with, if the publisher pinned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; only `sig` keys verify tokens.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations; when present it must include `verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// RSA modulus, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Curve: `P-256`, `P-384`, `P-521` (EC) or `Ed25519` (OKP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, or the Ed25519 public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A JWKS document: `{"keys": [...]}`.
///
/// Deserializing this type is all-or-nothing; to read a document from an identity provider,
/// where one odd key must not spoil the others, use [`crate::KeySet::from_json`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, in publication order.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// RFC 7638 thumbprint with SHA-256: the hash of the key's required members in canonical
    /// JSON. Identifies the key material regardless of kid, alg or use.
    ///
    /// Fails for key types without defined required members or when one is missing.
    pub fn thumbprint_sha256(&self) -> Result<[u8; 32], JoseError> {
        let canonical = self.canonical_required_members()?;
        let hash = digest::digest(&digest::SHA256, canonical.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(hash.as_ref());
        Ok(out)
    }

    /// The thumbprint as 64 lowercase hex characters; the form Portcullis (like Cloudflare)
    /// uses as the `kid` of its own keys.
    pub fn thumbprint_hex(&self) -> Result<String, JoseError> {
        Ok(hex::encode(self.thumbprint_sha256()?))
    }

    /// Members in lexicographic order without whitespace (RFC 7638 section 3.2); values are
    /// JSON-escaped by serde_json so that odd strings cannot break the canonical form.
    fn canonical_required_members(&self) -> Result<String, JoseError> {
        let members: Vec<(&str, &Option<String>, &'static str)> = match self.kty.as_str() {
            "RSA" => vec![("e", &self.e, "e"), ("n", &self.n, "n")],
            "EC" => vec![
                ("crv", &self.crv, "crv"),
                ("x", &self.x, "x"),
                ("y", &self.y, "y"),
            ],
            "OKP" => vec![("crv", &self.crv, "crv"), ("x", &self.x, "x")],
            other => return Err(JoseError::UnsupportedKeyType(other.to_owned())),
        };
        let mut parts: Vec<(String, String)> = Vec::with_capacity(members.len() + 1);
        parts.push(("kty".to_owned(), self.kty.clone()));
        for (name, value, label) in members {
            let value = value.as_ref().ok_or(JoseError::MissingKeyMember(label))?;
            parts.push((name.to_owned(), value.clone()));
        }
        parts.sort();
        let mut out = String::from("{");
        for (i, (name, value)) in parts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let name =
                serde_json::to_string(name).map_err(|e| JoseError::Serialize(e.to_string()))?;
            let value =
                serde_json::to_string(value).map_err(|e| JoseError::Serialize(e.to_string()))?;
            out.push_str(&name);
            out.push(':');
            out.push_str(&value);
        }
        out.push('}');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;

    /// The RSA key of RFC 7638 section 3.1 (also RFC 7517 appendix A.1).
    fn rfc7638_key() -> Jwk {
        Jwk {
            kty: "RSA".into(),
            kid: Some("2011-04-29".into()),
            alg: Some("RS256".into()),
            e: Some("AQAB".into()),
            n: Some(
                concat!(
                    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86z",
                    "wu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5Js",
                    "GY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic",
                    "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-",
                    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF",
                    "Cur-kEgU8awapJzKnqDKgw",
                )
                .into(),
            ),
            ..Jwk::default()
        }
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let key = rfc7638_key();
        // Expected value printed in RFC 7638 section 3.1, base64url.
        assert_eq!(
            b64::encode(&key.thumbprint_sha256().unwrap()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let hex = key.thumbprint_hex().unwrap();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
    }

    #[test]
    fn thumbprint_ignores_optional_members() {
        let mut key = rfc7638_key();
        let before = key.thumbprint_sha256().unwrap();
        key.kid = None;
        key.alg = None;
        key.use_ = Some("sig".into());
        assert_eq!(key.thumbprint_sha256().unwrap(), before);
        key.e = Some("AQAC".into());
        assert_ne!(key.thumbprint_sha256().unwrap(), before);
    }

    #[test]
    fn thumbprint_needs_required_members() {
        let mut key = rfc7638_key();
        key.e = None;
        assert_eq!(
            key.thumbprint_sha256(),
            Err(JoseError::MissingKeyMember("e"))
        );
        let oct = Jwk {
            kty: "oct".into(),
            ..Jwk::default()
        };
        assert!(matches!(
            oct.thumbprint_sha256(),
            Err(JoseError::UnsupportedKeyType(_))
        ));
    }

    #[test]
    fn serde_skips_none_renames_use_and_drops_unknown_members() {
        let json =
            r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","use":"sig","d":"SECRET","x5c":["x"]}"#;
        let key: Jwk = serde_json::from_str(json).unwrap();
        assert_eq!(key.use_.as_deref(), Some("sig"));
        let out = serde_json::to_string(&key).unwrap();
        assert_eq!(
            out,
            r#"{"kty":"EC","use":"sig","crv":"P-256","x":"AA","y":"AA"}"#
        );
        assert!(!out.contains("SECRET"));
    }
}
