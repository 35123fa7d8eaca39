//! The one error type of this crate.

use std::fmt;

use crate::Algorithm;

/// Which of the three parts of a compact JWS an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// The protected header (first segment).
    Header,
    /// The payload, i.e. the claims (second segment).
    Payload,
    /// The signature (third segment).
    Signature,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        })
    }
}

/// Everything that can go wrong parsing, verifying or signing, precise enough that an
/// operator reading the log knows why a token or key was refused.
///
/// Callers act on a few variants: [`JoseError::UnknownKid`] means "refetch the JWKS and try
/// once more"; everything else about a token means "refuse it".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// The token is longer than [`crate::MAX_TOKEN_LEN`].
    #[error("token is {len} bytes long; at most {max} bytes are accepted")]
    TokenTooLarge {
        /// Length of the token that was refused.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A compact JWS has exactly three dot-separated segments.
    #[error("a compact JWS has 3 dot-separated segments, this token has {0}")]
    SegmentCount(usize),
    /// A segment is not strict unpadded base64url.
    #[error("{segment} segment is not unpadded base64url: {reason}")]
    Base64 {
        /// Which segment.
        segment: Segment,
        /// What the decoder complained about.
        reason: String,
    },
    /// A segment decodes but is not valid JSON.
    #[error("{segment} segment is not valid JSON: {reason}")]
    Json {
        /// Which segment.
        segment: Segment,
        /// What the JSON parser complained about.
        reason: String,
    },
    /// A segment is JSON but not a JSON object.
    #[error("{0} segment must be a JSON object")]
    NotAnObject(Segment),
    /// A JSON object member appears twice; parsers disagree on which one wins, so neither does.
    #[error("{segment} has the member \"{name}\" more than once")]
    DuplicateMember {
        /// Which segment.
        segment: Segment,
        /// The repeated member name.
        name: String,
    },
    /// The header has no `alg`.
    #[error("header has no \"alg\" member")]
    MissingAlg,
    /// A header member has the wrong JSON type.
    #[error("header member \"{name}\" must be {expected}")]
    HeaderMemberType {
        /// The member.
        name: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// `alg: none`: an unsigned token. Never accepted.
    #[error("alg \"none\" (an unsigned token) is never accepted")]
    AlgNone,
    /// An HMAC algorithm. Never accepted: verifying with a public key as an HMAC secret is
    /// the classic key-confusion attack.
    #[error("HMAC alg \"{0}\" is never accepted; only public-key signatures are")]
    HmacAlg(String),
    /// An algorithm name this crate does not implement.
    #[error("unsupported alg \"{0}\"")]
    UnsupportedAlg(String),
    /// A supported algorithm that the caller did not allow in this context.
    #[error("alg {0} is not among the algorithms allowed here")]
    AlgNotAllowed(Algorithm),
    /// A header member that would let the token name or carry its own key.
    #[error("header member \"{0}\" is refused: a token may not bring or point to its own key")]
    ForbiddenHeader(String),
    /// `crit` is not a non-empty array of distinct non-standard header names.
    #[error("malformed \"crit\" header: {0}")]
    MalformedCrit(String),
    /// `crit` lists extensions; this verifier understands none, so RFC 7515 says refuse.
    #[error("token requires header extensions this verifier does not implement: {}", .0.join(", "))]
    UnsupportedCritical(Vec<String>),
    /// The header names a `kid` that the key set does not hold. Callers refetch the JWKS.
    #[error("no key with kid \"{0}\" in the key set")]
    UnknownKid(String),
    /// Without a `kid`, no key in the set is of a type that can check this algorithm.
    #[error("no key in the key set can verify {0} signatures")]
    NoKeyForAlg(Algorithm),
    /// The selected key is of the wrong type or curve for the algorithm.
    #[error("key {} is {key}, which cannot verify {alg}", kid_display(.kid))]
    KeyTypeMismatch {
        /// The key's kid, if it has one.
        kid: Option<String>,
        /// The algorithm the key was asked to verify.
        alg: Algorithm,
        /// Description of the key, e.g. `EC P-384`.
        key: String,
    },
    /// The key's own `alg` member pins it to another algorithm.
    #[error("key {} is for {key_alg} only, token uses {token_alg}", kid_display(.kid))]
    KeyAlgMismatch {
        /// The key's kid, if it has one.
        kid: Option<String>,
        /// The algorithm in the token header.
        token_alg: Algorithm,
        /// The algorithm in the key's `alg` member.
        key_alg: Algorithm,
    },
    /// The token's kid names a key that the JWKS published but that was unusable.
    #[error("key \"{kid}\" is in the JWKS but unusable: {reason}")]
    UnusableKey {
        /// The kid.
        kid: String,
        /// Why the key was left out of the key set.
        reason: Box<JoseError>,
    },
    /// The signature does not verify under any candidate key.
    #[error("signature does not verify")]
    BadSignature,

    /// JWK `kty` other than RSA, EC or OKP (symmetric `oct` keys included: never accepted).
    #[error("unsupported key type (kty) \"{0}\"")]
    UnsupportedKeyType(String),
    /// A curve other than P-256, P-384, P-521 (EC) or Ed25519 (OKP).
    #[error("unsupported curve \"{0}\"")]
    UnsupportedCurve(String),
    /// A member required for this key type is absent.
    #[error("key has no \"{0}\" member")]
    MissingKeyMember(&'static str),
    /// A key member is present but unusable.
    #[error("key member \"{member}\" is invalid: {reason}")]
    InvalidKeyMember {
        /// The member.
        member: &'static str,
        /// Why.
        reason: String,
    },
    /// RSA modulus outside 2048..=8192 bits.
    #[error("RSA key has {bits} bits; 2048 to 8192 are accepted")]
    RsaKeySize {
        /// Modulus length in bits.
        bits: usize,
    },
    /// The key's `use` is not `sig`.
    #[error("key use is \"{0}\", not \"sig\"")]
    KeyUseNotSig(String),
    /// The key's `key_ops` does not include `verify`.
    #[error("key_ops does not include \"verify\"")]
    KeyOpsLacksVerify,
    /// The key's `alg` member names an algorithm this crate does not verify.
    #[error("key alg \"{0}\" is not a supported signature algorithm")]
    KeyAlgUnsupported(String),
    /// A JWK that is not even a JSON object with a string `kty`.
    #[error("malformed JWK: {0}")]
    MalformedJwk(String),
    /// A JWKS document that is not `{"keys": [...]}`.
    #[error("malformed JWKS document: {0}")]
    MalformedJwks(String),

    /// A private key that does not parse or does not fit the algorithm.
    #[error("private key unusable for {alg}: {reason}")]
    InvalidPrivateKey {
        /// The algorithm the key was loaded for.
        alg: Algorithm,
        /// Why it was refused.
        reason: String,
    },
    /// Key generation failed in the crypto library.
    #[error("could not generate a {0} key")]
    KeyGeneration(Algorithm),
    /// Signing failed in the crypto library.
    #[error("could not compute a {0} signature")]
    SigningFailed(Algorithm),
    /// Claims given to [`crate::SigningKey::sign`] did not serialize to a JSON object.
    #[error("claims must serialize to a JSON object")]
    ClaimsNotObject,
    /// Claims or header could not be serialized.
    #[error("could not serialize to JSON: {0}")]
    Serialize(String),
    /// The X.509 certificate could not be built.
    #[error("could not build the X.509 certificate: {0}")]
    Certificate(String),
}

fn kid_display(kid: &Option<String>) -> String {
    match kid {
        Some(kid) => format!("\"{kid}\""),
        None => "(without kid)".to_owned(),
    }
}

impl JoseError {
    /// A short, stable, snake_case name of the variant, for metrics labels, structured log
    /// fields and test expectations (the test vectors name expected failures this way).
    pub fn kind(&self) -> &'static str {
        match self {
            JoseError::TokenTooLarge { .. } => "token_too_large",
            JoseError::SegmentCount(_) => "segment_count",
            JoseError::Base64 { .. } => "base64",
            JoseError::Json { .. } => "json",
            JoseError::NotAnObject(_) => "not_an_object",
            JoseError::DuplicateMember { .. } => "duplicate_member",
            JoseError::MissingAlg => "missing_alg",
            JoseError::HeaderMemberType { .. } => "header_member_type",
            JoseError::AlgNone => "alg_none",
            JoseError::HmacAlg(_) => "hmac_alg",
            JoseError::UnsupportedAlg(_) => "unsupported_alg",
            JoseError::AlgNotAllowed(_) => "alg_not_allowed",
            JoseError::ForbiddenHeader(_) => "forbidden_header",
            JoseError::MalformedCrit(_) => "malformed_crit",
            JoseError::UnsupportedCritical(_) => "unsupported_critical",
            JoseError::UnknownKid(_) => "unknown_kid",
            JoseError::NoKeyForAlg(_) => "no_key_for_alg",
            JoseError::KeyTypeMismatch { .. } => "key_type_mismatch",
            JoseError::KeyAlgMismatch { .. } => "key_alg_mismatch",
            JoseError::UnusableKey { .. } => "unusable_key",
            JoseError::BadSignature => "bad_signature",
            JoseError::UnsupportedKeyType(_) => "unsupported_key_type",
            JoseError::UnsupportedCurve(_) => "unsupported_curve",
            JoseError::MissingKeyMember(_) => "missing_key_member",
            JoseError::InvalidKeyMember { .. } => "invalid_key_member",
            JoseError::RsaKeySize { .. } => "rsa_key_size",
            JoseError::KeyUseNotSig(_) => "key_use_not_sig",
            JoseError::KeyOpsLacksVerify => "key_ops_lacks_verify",
            JoseError::KeyAlgUnsupported(_) => "key_alg_unsupported",
            JoseError::MalformedJwk(_) => "malformed_jwk",
            JoseError::MalformedJwks(_) => "malformed_jwks",
            JoseError::InvalidPrivateKey { .. } => "invalid_private_key",
            JoseError::KeyGeneration(_) => "key_generation",
            JoseError::SigningFailed(_) => "signing_failed",
            JoseError::ClaimsNotObject => "claims_not_object",
            JoseError::Serialize(_) => "serialize",
            JoseError::Certificate(_) => "certificate",
        }
    }
}
