//! Compact JWS parsing and verification (RFC 7515), with the header rules that keep a token
//! from choosing how it is checked.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::{Algorithm, JoseError, KeySet, Segment, b64};

/// Longest token accepted, in bytes. Tokens travel in cookies and headers, where proxies
/// cap sizes around 8 to 16 KiB anyway; anything longer is refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Header members that would let a token bring or point to its own verification key.
const FORBIDDEN_HEADERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// Header names defined by JWS and JWE; RFC 7515 section 4.1.11 forbids listing them in `crit`.
const STANDARD_HEADERS: [&str; 13] = [
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc", "zip",
];

/// The header members callers care about, after every header rule has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The signature algorithm.
    pub alg: Algorithm,
    /// The key id, when the signer named its key.
    pub kid: Option<String>,
    /// The media type, e.g. `JWT`; informational, no rule depends on it.
    pub typ: Option<String>,
}

/// A token whose signature checked out. The claims are NOT validated: `exp`, `nbf`, `iss`,
/// `aud` and friends are the caller's business.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The protected header.
    pub header: Header,
    /// The payload's JSON object.
    pub claims: Map<String, Value>,
}

/// Reads the header of a token without checking its signature, so a caller can look at the
/// kid (and refetch a JWKS) first. Every header rule of [`verify`] except the allow-list is
/// applied, so a header that `verify` would refuse is refused here too.
pub fn decode_header(token: &str) -> Result<Header, JoseError> {
    let [header, _, _] = split(token)?;
    parse_header(header)
}

/// Checks a compact JWS: size and encoding, header rules, `alg` in `allowed`, key choice and
/// signature. Returns the header and claims on success.
///
/// With a `kid` in the header only keys carrying that kid are tried, and
/// [`JoseError::UnknownKid`] says none is present (callers refetch the JWKS on it). Without a
/// `kid` every key that fits the algorithm is tried.
///
/// Deliberately does not look at any claim (`exp`, `nbf`, `aud`...): that is for the caller,
/// who knows the clock and the audience.
pub fn verify(token: &str, keys: &KeySet, allowed: &[Algorithm]) -> Result<Verified, JoseError> {
    let [header_b64, payload_b64, signature_b64] = split(token)?;
    let header = parse_header(header_b64)?;
    if !allowed.contains(&header.alg) {
        return Err(JoseError::AlgNotAllowed(header.alg));
    }
    let signature = b64::decode_strict(signature_b64).map_err(|e| JoseError::Base64 {
        segment: Segment::Signature,
        reason: e.to_string(),
    })?;
    let payload = b64::decode_strict(payload_b64).map_err(|e| JoseError::Base64 {
        segment: Segment::Payload,
        reason: e.to_string(),
    })?;
    // The signature covers the two encoded segments exactly as sent.
    let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    check_signature(&header, signing_input, &signature, keys)?;
    // Only now, with the payload authenticated, is it worth parsing.
    let claims = parse_object(&payload, Segment::Payload)?;
    Ok(Verified { header, claims })
}

fn check_signature(
    header: &Header,
    signing_input: &[u8],
    signature: &[u8],
    keys: &KeySet,
) -> Result<(), JoseError> {
    let alg = header.alg;
    let mut first_refusal = None;
    let mut tried = 0usize;
    for key in keys.keys() {
        if let Some(kid) = &header.kid
            && key.kid.as_ref() != Some(kid)
        {
            continue;
        }
        match key.key_for(alg) {
            Ok(parsed) => {
                tried += 1;
                if parsed.verify_sig(signing_input, signature).is_ok() {
                    return Ok(());
                }
            }
            Err(refusal) => {
                first_refusal.get_or_insert(refusal);
            }
        }
    }
    if tried > 0 {
        return Err(JoseError::BadSignature);
    }
    if let Some(refusal) = first_refusal
        && header.kid.is_some()
    {
        // The signer named a key, and that key cannot do this alg: say exactly why.
        return Err(refusal);
    }
    match &header.kid {
        Some(kid) => match keys.skipped_reason(kid) {
            Some(reason) => Err(JoseError::UnusableKey {
                kid: kid.clone(),
                reason: Box::new(reason.clone()),
            }),
            None => Err(JoseError::UnknownKid(kid.clone())),
        },
        None => Err(JoseError::NoKeyForAlg(alg)),
    }
}

fn split(token: &str) -> Result<[&str; 3], JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok([h, p, s]),
        _ => Err(JoseError::SegmentCount(token.split('.').count())),
    }
}

fn parse_header(header_b64: &str) -> Result<Header, JoseError> {
    let bytes = b64::decode_strict(header_b64).map_err(|e| JoseError::Base64 {
        segment: Segment::Header,
        reason: e.to_string(),
    })?;
    let map = parse_object(&bytes, Segment::Header)?;

    let alg = match map.get("alg") {
        None => return Err(JoseError::MissingAlg),
        Some(Value::String(name)) => name.parse::<Algorithm>()?,
        Some(_) => return Err(type_error("alg", "a string")),
    };
    if let Some(name) = FORBIDDEN_HEADERS
        .iter()
        .find(|name| map.contains_key(**name))
    {
        return Err(JoseError::ForbiddenHeader((*name).to_owned()));
    }
    if let Some(crit) = map.get("crit") {
        return Err(check_crit(crit, &map));
    }
    Ok(Header {
        alg,
        kid: optional_string(&map, "kid")?,
        typ: optional_string(&map, "typ")?,
    })
}

/// Any `crit` is a refusal, since this verifier implements no extension; the only question is
/// which refusal, so a malformed `crit` is reported as such (RFC 7515 section 4.1.11).
fn check_crit(crit: &Value, header: &Map<String, Value>) -> JoseError {
    let Value::Array(items) = crit else {
        return JoseError::MalformedCrit("must be an array of header names".into());
    };
    if items.is_empty() {
        return JoseError::MalformedCrit("must not be empty".into());
    }
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(name) = item else {
            return JoseError::MalformedCrit("must contain only strings".into());
        };
        if STANDARD_HEADERS.contains(&name.as_str()) {
            return JoseError::MalformedCrit(format!("lists the standard header \"{name}\""));
        }
        if names.contains(name) {
            return JoseError::MalformedCrit(format!("lists \"{name}\" twice"));
        }
        if !header.contains_key(name) {
            return JoseError::MalformedCrit(format!("lists \"{name}\", absent from the header"));
        }
        names.push(name.clone());
    }
    JoseError::UnsupportedCritical(names)
}

fn optional_string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, JoseError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(type_error(name, "a string")),
    }
}

fn type_error(name: &str, expected: &'static str) -> JoseError {
    JoseError::HeaderMemberType {
        name: name.to_owned(),
        expected,
    }
}

/// Parses a JSON object, refusing duplicate members: RFC 7515 lets parsers pick either
/// value, so a token with two `alg`s could mean different things to different verifiers.
fn parse_object(bytes: &[u8], segment: Segment) -> Result<Map<String, Value>, JoseError> {
    match serde_json::from_slice::<CheckedObject>(bytes) {
        Ok(CheckedObject {
            map,
            duplicate: None,
        }) => Ok(map),
        Ok(CheckedObject {
            duplicate: Some(name),
            ..
        }) => Err(JoseError::DuplicateMember { segment, name }),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(JoseError::NotAnObject(segment))
        }
        Err(e) => Err(JoseError::Json {
            segment,
            reason: e.to_string(),
        }),
    }
}

/// A top-level JSON object plus the first member name seen twice, if any. The duplicate is
/// recorded rather than raised so that "not JSON", "not an object" and "duplicate" stay three
/// distinct errors.
struct CheckedObject {
    map: Map<String, Value>,
    duplicate: Option<String>,
}

impl<'de> serde::Deserialize<'de> for CheckedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CheckedObjectVisitor)
    }
}

struct CheckedObjectVisitor;

impl<'de> Visitor<'de> for CheckedObjectVisitor {
    type Value = CheckedObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<CheckedObject, A::Error> {
        let mut map = Map::new();
        let mut duplicate = None;
        while let Some(name) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if map.contains_key(&name) {
                duplicate.get_or_insert(name);
            } else {
                map.insert(name, value);
            }
        }
        Ok(CheckedObject { map, duplicate })
    }
}
