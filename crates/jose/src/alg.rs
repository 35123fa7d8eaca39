//! The ten JWS signature algorithms this crate speaks, and nothing else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::JoseError;

/// A JWS signature algorithm (RFC 7518 section 3 and RFC 8037 for EdDSA).
///
/// Only asymmetric algorithms exist here on purpose: `none` and the HMAC family cannot be
/// represented, so no caller can put them into an allow-list by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256. The default for tokens Portcullis signs itself.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256, salt as long as the hash.
    Ps256,
    /// RSASSA-PSS with SHA-384 and MGF1-SHA-384, salt as long as the hash.
    Ps384,
    /// RSASSA-PSS with SHA-512 and MGF1-SHA-512, salt as long as the hash.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 with SHA-512.
    Es512,
    /// EdDSA; only the Ed25519 curve is supported.
    EdDsa,
}

/// The kind of public key an algorithm needs; used to match JWKs against token algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    P256,
    P384,
    P521,
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order (RSA, PSS, ECDSA, EdDSA).
    pub const ALL: [Algorithm; 10] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
    ];

    /// The algorithm Portcullis uses for its own tokens unless configured otherwise
    /// (RS256, which every Cloudflare Access consumer can verify).
    pub const DEFAULT: Algorithm = Algorithm::Rs256;

    /// The registered JOSE name, exactly as it appears in a JWS header's `alg` member.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    pub(crate) fn family(self) -> KeyFamily {
        match self {
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => KeyFamily::Rsa,
            Algorithm::Es256 => KeyFamily::P256,
            Algorithm::Es384 => KeyFamily::P384,
            Algorithm::Es512 => KeyFamily::P521,
            Algorithm::EdDsa => KeyFamily::Ed25519,
        }
    }
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::DEFAULT
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = JoseError;

    /// Accepts exactly the registered names (case-sensitive, as RFC 7515 requires).
    /// The error says whether the name was `none`, an HMAC algorithm or simply unknown,
    /// because those are different mistakes for the person reading the log.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(alg) = Algorithm::ALL.into_iter().find(|a| a.as_str() == name) {
            return Ok(alg);
        }
        if name.eq_ignore_ascii_case("none") {
            return Err(JoseError::AlgNone);
        }
        if matches!(
            name.to_ascii_uppercase().as_str(),
            "HS256" | "HS384" | "HS512"
        ) {
            return Err(JoseError::HmacAlg(name.to_owned()));
        }
        Err(JoseError::UnsupportedAlg(name.to_owned()))
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_exactly() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(alg.to_string(), alg.as_str());
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
        }
        assert_eq!(Algorithm::default(), Algorithm::Rs256);
    }

    #[test]
    fn names_are_case_sensitive() {
        assert!(matches!(
            "rs256".parse::<Algorithm>(),
            Err(JoseError::UnsupportedAlg(_))
        ));
        assert!(matches!(
            "EDDSA".parse::<Algorithm>(),
            Err(JoseError::UnsupportedAlg(_))
        ));
    }

    #[test]
    fn none_and_hmac_get_their_own_errors() {
        assert_eq!("none".parse::<Algorithm>(), Err(JoseError::AlgNone));
        assert_eq!("None".parse::<Algorithm>(), Err(JoseError::AlgNone));
        for hs in ["HS256", "HS384", "HS512"] {
            assert_eq!(
                hs.parse::<Algorithm>(),
                Err(JoseError::HmacAlg(hs.to_owned()))
            );
        }
        assert_eq!(
            "ES256K".parse::<Algorithm>(),
            Err(JoseError::UnsupportedAlg("ES256K".to_owned()))
        );
        assert!(serde_json::from_str::<Algorithm>("\"none\"").is_err());
    }
}
