//! ID-token validation (OpenID Connect Core 1.0, section 3.1.3.7), as a pure function of the
//! token, the keys and the expectations of this login.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use portcullis_jose::{Algorithm, JoseError, KeySet};
use serde_json::{Map, Value};

use crate::error::OidcError;

/// What an ID token is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ValidationParams<'a> {
    /// The issuer `iss` must equal; `None` when the login method knows no issuer (then `iss` is not checked).
    pub issuer: Option<&'a str>,
    /// This login method's client id: `aud` must contain it, `azp` (when present) must equal it.
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// The current time.
    pub now: SystemTime,
    /// Tolerance for clock differences with the provider.
    pub skew: Duration,
    /// Signature algorithms accepted.
    pub allowed_algs: &'a [Algorithm],
}

/// The claims of an ID token that passed every check of [`validate_id_token`].
#[derive(Debug, Clone, PartialEq)]
pub struct IdTokenClaims(pub Map<String, Value>);

impl IdTokenClaims {
    /// The `sub` claim (present and a non-empty string in any validated token).
    pub fn subject(&self) -> &str {
        self.0
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The `iss` claim, if the token has one as a string.
    pub fn issuer(&self) -> Option<&str> {
        self.0.get("iss").and_then(Value::as_str)
    }

    /// A claim by exact name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// Verifies the signature of `token` with `keys` and checks its claims against `params`.
///
/// Called by [`Provider::exchange_code`](crate::Provider::exchange_code) with the provider's cached
/// keys; callable directly wherever an ID token arrives by other means. Returns the claims when
/// every check passes, otherwise the error naming the first check that failed
/// ([`OidcError::id_token_check`]). A `kid` unknown to `keys` yields
/// [`OidcError::UnknownSigningKey`], on which the provider refreshes its keys and tries once more.
pub fn validate_id_token(
    token: &str,
    keys: &KeySet,
    params: &ValidationParams<'_>,
) -> Result<IdTokenClaims, OidcError> {
    let verified =
        portcullis_jose::verify(token, keys, params.allowed_algs).map_err(|e| match e {
            JoseError::UnknownKid(kid) => OidcError::UnknownSigningKey { kid },
            other => OidcError::Signature(other),
        })?;
    check_claims(&verified.claims, params)?;
    Ok(IdTokenClaims(verified.claims))
}

/// The claim checks, apart from the signature (split out so each can be tested on its own).
fn check_claims(
    claims: &Map<String, Value>,
    params: &ValidationParams<'_>,
) -> Result<(), OidcError> {
    if let Some(expected) = params.issuer {
        let found = claims.get("iss").and_then(Value::as_str);
        if found != Some(expected) {
            return Err(OidcError::Issuer {
                expected: expected.to_owned(),
                found: found.map(str::to_owned),
            });
        }
    }

    let audiences = audiences(claims)?;
    if !audiences.contains(&params.client_id) {
        return Err(OidcError::Audience);
    }
    match claims.get("azp") {
        None if audiences.len() > 1 => {
            return Err(OidcError::AuthorizedParty {
                reason: "the token has several audiences but no azp",
            });
        }
        None => {}
        Some(azp) if azp.as_str() == Some(params.client_id) => {}
        Some(_) => {
            return Err(OidcError::AuthorizedParty {
                reason: "azp is not this client id",
            });
        }
    }

    let now = unix_seconds(params.now);
    let skew = i64::try_from(params.skew.as_secs()).unwrap_or(i64::MAX);
    let exp = numeric_date(claims, "exp")?.ok_or(OidcError::MissingClaim { claim: "exp" })?;
    if exp <= now.saturating_sub(skew) {
        return Err(OidcError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && nbf > now.saturating_add(skew)
    {
        return Err(OidcError::NotYetValid);
    }
    let iat = numeric_date(claims, "iat")?.ok_or(OidcError::MissingClaim { claim: "iat" })?;
    if iat > now.saturating_add(skew) {
        return Err(OidcError::IssuedInFuture);
    }

    match claims.get("nonce").and_then(Value::as_str) {
        Some(nonce)
            if verify_slices_are_equal(nonce.as_bytes(), params.nonce.as_bytes()).is_ok() => {}
        _ => return Err(OidcError::Nonce),
    }

    match claims.get("sub") {
        None => Err(OidcError::MissingClaim { claim: "sub" }),
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        Some(_) => Err(OidcError::InvalidClaim {
            claim: "sub",
            reason: "must be a non-empty string",
        }),
    }
}

/// The `aud` claim as a list: a single string or an array of strings (Core section 2).
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, OidcError> {
    const BAD: OidcError = OidcError::InvalidClaim {
        claim: "aud",
        reason: "must be a string or an array of strings",
    };
    match claims.get("aud") {
        None => Err(OidcError::MissingClaim { claim: "aud" }),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().ok_or(BAD)).collect(),
        Some(_) => Err(BAD),
    }
}

/// A NumericDate claim in whole seconds (fractions are allowed by RFC 7519 and truncated).
fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, OidcError> {
    let Some(value) = claims.get(claim) else {
        return Ok(None);
    };
    let seconds = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.trunc() as i64)
    });
    seconds.map(Some).ok_or(OidcError::InvalidClaim {
        claim,
        reason: "must be a number of seconds since the epoch",
    })
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use portcullis_jose::{JwkSet, SigningKey};
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_750_000_000;
    const ISS: &str = "https://idp.example.com";
    const CLIENT: &str = "portcullis";
    const NONCE: &str = "n-0S6_WzA2Mj";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn params() -> ValidationParams<'static> {
        ValidationParams {
            issuer: Some(ISS),
            client_id: CLIENT,
            nonce: NONCE,
            now: now(),
            skew: Duration::from_secs(60),
            allowed_algs: &Algorithm::ALL,
        }
    }

    /// Claims that pass every check; each test breaks one thing.
    fn good() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "iss": ISS, "aud": CLIENT, "sub": "user-1", "nonce": NONCE,
            "exp": NOW + 300, "iat": NOW - 10, "email": "a@example.com",
        }) else {
            unreachable!()
        };
        map
    }

    fn with(key: &str, value: Value) -> Map<String, Value> {
        let mut m = good();
        m.insert(key.to_owned(), value);
        m
    }

    fn without(key: &str) -> Map<String, Value> {
        let mut m = good();
        m.remove(key);
        m
    }

    fn check(claims: &Map<String, Value>) -> Result<(), OidcError> {
        check_claims(claims, &params())
    }

    fn keypair(alg: Algorithm) -> (SigningKey, KeySet) {
        let key = SigningKey::generate(alg).unwrap();
        let set = KeySet::from_jwks(&JwkSet {
            keys: vec![key.public_jwk()],
        });
        (key, set)
    }

    #[test]
    fn good_claims_pass() {
        check(&good()).unwrap();
    }

    #[test]
    fn signed_token_with_good_claims_validates() {
        let (key, keys) = keypair(Algorithm::Rs256);
        let token = key.sign(&Value::Object(good())).unwrap();
        let claims = validate_id_token(&token, &keys, &params()).unwrap();
        assert_eq!(claims.subject(), "user-1");
        assert_eq!(claims.issuer(), Some(ISS));
    }

    #[test]
    fn token_signed_by_a_key_outside_the_set_is_an_unknown_key() {
        let (key, _) = keypair(Algorithm::Es256);
        let token = key.sign(&Value::Object(good())).unwrap();
        // A different key pair: same algorithm, different kid, so the kid is unknown.
        let (_, other_keys) = keypair(Algorithm::Es256);
        let err = validate_id_token(&token, &other_keys, &params()).unwrap_err();
        assert!(matches!(err, OidcError::UnknownSigningKey { .. }), "{err}");
        assert_eq!(err.id_token_check(), Some("signature"));
    }

    #[test]
    fn tampered_payload_fails_the_signature_check() {
        let (key, keys) = keypair(Algorithm::Es256);
        let token = key.sign(&Value::Object(good())).unwrap();
        let forged = key
            .sign(&Value::Object(with("sub", json!("admin"))))
            .unwrap();
        // Header and signature of one token, payload of another.
        let parts: Vec<&str> = token.split('.').collect();
        let forged_parts: Vec<&str> = forged.split('.').collect();
        let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
        let err = validate_id_token(&spliced, &keys, &params()).unwrap_err();
        assert!(matches!(err, OidcError::Signature(_)), "{err}");
        assert!(
            !err.to_string().contains(forged_parts[1]),
            "errors never include the token"
        );
    }

    #[test]
    fn algorithm_outside_the_allowed_list_is_rejected() {
        let (key, keys) = keypair(Algorithm::Es256);
        let token = key.sign(&Value::Object(good())).unwrap();
        let mut p = params();
        p.allowed_algs = &[Algorithm::Rs256];
        let err = validate_id_token(&token, &keys, &p).unwrap_err();
        assert!(matches!(err, OidcError::Signature(_)), "{err}");
    }

    #[test]
    fn claim_checks_run_after_the_signature() {
        let (key, keys) = keypair(Algorithm::EdDsa);
        let token = key
            .sign(&Value::Object(with("nonce", json!("other"))))
            .unwrap();
        let err = validate_id_token(&token, &keys, &params()).unwrap_err();
        assert!(matches!(err, OidcError::Nonce), "{err}");
    }

    #[test]
    fn iss_must_equal_the_known_issuer() {
        let err = check(&with("iss", json!("https://evil.example.com"))).unwrap_err();
        assert!(matches!(err, OidcError::Issuer { .. }), "{err}");
        assert_eq!(err.id_token_check(), Some("iss"));
        assert!(matches!(
            check(&without("iss")).unwrap_err(),
            OidcError::Issuer { found: None, .. }
        ));
        assert!(matches!(
            check(&with("iss", json!(ISS.to_owned() + "/"))).unwrap_err(),
            OidcError::Issuer { .. }
        ));
    }

    #[test]
    fn iss_is_not_checked_when_no_issuer_is_known() {
        let mut p = params();
        p.issuer = None;
        check_claims(&with("iss", json!("https://whatever.example.com")), &p).unwrap();
    }

    #[test]
    fn aud_must_contain_the_client_id() {
        assert!(matches!(
            check(&with("aud", json!("someone-else"))).unwrap_err(),
            OidcError::Audience
        ));
        assert!(matches!(
            check(&with("aud", json!(["a", "b"]))).unwrap_err(),
            OidcError::Audience
        ));
        assert!(matches!(
            check(&without("aud")).unwrap_err(),
            OidcError::MissingClaim { claim: "aud" }
        ));
        assert!(matches!(
            check(&with("aud", json!(42))).unwrap_err(),
            OidcError::InvalidClaim { claim: "aud", .. }
        ));
        assert!(matches!(
            check(&with("aud", json!([CLIENT, 7]))).unwrap_err(),
            OidcError::InvalidClaim { claim: "aud", .. }
        ));
        check(&with("aud", json!([CLIENT]))).unwrap();
    }

    #[test]
    fn several_audiences_require_azp_equal_to_the_client_id() {
        let mut claims = with("aud", json!([CLIENT, "other-api"]));
        let err = check(&claims).unwrap_err();
        assert!(matches!(err, OidcError::AuthorizedParty { .. }), "{err}");
        claims.insert("azp".into(), json!("other-api"));
        assert!(matches!(
            check(&claims).unwrap_err(),
            OidcError::AuthorizedParty { .. }
        ));
        claims.insert("azp".into(), json!(CLIENT));
        check(&claims).unwrap();
    }

    #[test]
    fn azp_when_present_must_equal_the_client_id() {
        let err = check(&with("azp", json!("other-client"))).unwrap_err();
        assert!(matches!(err, OidcError::AuthorizedParty { .. }), "{err}");
        assert!(matches!(
            check(&with("azp", json!(1))).unwrap_err(),
            OidcError::AuthorizedParty { .. }
        ));
        check(&with("azp", json!(CLIENT))).unwrap();
    }

    #[test]
    fn exp_is_required_and_must_not_have_passed_beyond_the_skew() {
        assert!(matches!(
            check(&without("exp")).unwrap_err(),
            OidcError::MissingClaim { claim: "exp" }
        ));
        assert!(matches!(
            check(&with("exp", json!(NOW - 61))).unwrap_err(),
            OidcError::Expired
        ));
        assert!(matches!(
            check(&with("exp", json!(NOW - 60))).unwrap_err(),
            OidcError::Expired
        ));
        check(&with("exp", json!(NOW - 59))).unwrap();
        assert!(matches!(
            check(&with("exp", json!("soon"))).unwrap_err(),
            OidcError::InvalidClaim { claim: "exp", .. }
        ));
        // Fractional NumericDates are allowed.
        check(&with("exp", json!(NOW as f64 + 10.5))).unwrap();
    }

    #[test]
    fn nbf_when_present_must_not_be_in_the_future_beyond_the_skew() {
        assert!(matches!(
            check(&with("nbf", json!(NOW + 61))).unwrap_err(),
            OidcError::NotYetValid
        ));
        check(&with("nbf", json!(NOW + 60))).unwrap();
        check(&with("nbf", json!(NOW - 1000))).unwrap();
        assert!(matches!(
            check(&with("nbf", json!(null))).unwrap_err(),
            OidcError::InvalidClaim { claim: "nbf", .. }
        ));
    }

    #[test]
    fn iat_is_required_and_must_not_be_in_the_future_beyond_the_skew() {
        assert!(matches!(
            check(&without("iat")).unwrap_err(),
            OidcError::MissingClaim { claim: "iat" }
        ));
        assert!(matches!(
            check(&with("iat", json!(NOW + 61))).unwrap_err(),
            OidcError::IssuedInFuture
        ));
        check(&with("iat", json!(NOW + 60))).unwrap();
    }

    #[test]
    fn skew_is_configurable() {
        let mut p = params();
        p.skew = Duration::ZERO;
        assert!(matches!(
            check_claims(&with("exp", json!(NOW)), &p).unwrap_err(),
            OidcError::Expired
        ));
        assert!(matches!(
            check_claims(&with("iat", json!(NOW + 1)), &p).unwrap_err(),
            OidcError::IssuedInFuture
        ));
        p.skew = Duration::from_secs(600);
        check_claims(&with("exp", json!(NOW - 500)), &p).unwrap();
    }

    #[test]
    fn nonce_must_equal_the_one_sent() {
        assert!(matches!(
            check(&with("nonce", json!("replayed"))).unwrap_err(),
            OidcError::Nonce
        ));
        assert!(matches!(
            check(&without("nonce")).unwrap_err(),
            OidcError::Nonce
        ));
        assert!(matches!(
            check(&with("nonce", json!(NONCE.to_owned() + "x"))).unwrap_err(),
            OidcError::Nonce
        ));
    }

    #[test]
    fn sub_is_required() {
        assert!(matches!(
            check(&without("sub")).unwrap_err(),
            OidcError::MissingClaim { claim: "sub" }
        ));
        assert!(matches!(
            check(&with("sub", json!(""))).unwrap_err(),
            OidcError::InvalidClaim { claim: "sub", .. }
        ));
        assert!(matches!(
            check(&with("sub", json!(12))).unwrap_err(),
            OidcError::InvalidClaim { claim: "sub", .. }
        ));
    }

    #[test]
    fn error_messages_name_the_check() {
        assert!(OidcError::Expired.to_string().contains("(exp)"));
        assert!(OidcError::Audience.to_string().contains("(aud)"));
        assert!(OidcError::Nonce.to_string().contains("(nonce)"));
        assert_eq!(
            OidcError::MissingClaim { claim: "sub" }.id_token_check(),
            Some("sub")
        );
    }
}
