//! Our tokens: the global session token (`type: "org"`, team domain cookie) and application
//! tokens (`type: "app"`, app domain cookie and `Cf-Access-Jwt-Assertion`), with Cloudflare's
//! claims; the verified-token cache and the in-memory revocation set of the hot path.
//!
//! Verifying RS256 costs about 14 µs, so a token whose signature checked out is cached; the cache
//! is keyed by the whole token (a forged token can never hit an entry) and every hit still checks
//! expiry, audience and revocation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use http::HeaderValue;
use portcullis_jose::{JoseError, verify};
use serde::{Deserialize, Serialize};

use crate::keys::KeyRing;

/// Claims of an application token (Cloudflare's `type: "app"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AppClaims {
    pub aud: Vec<String>,
    pub email: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub iss: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub identity_nonce: String,
    pub sub: String,
    /// The service token's client id, for tokens minted from one (then `sub` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub custom: serde_json::Map<String, serde_json::Value>,
}

/// Claims of the global session token (Cloudflare's `type: "org"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgClaims {
    pub aud: Vec<String>,
    pub email: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub iss: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub identity_nonce: String,
    pub sub: String,
    pub account_id: String,
}

pub const TYPE_APP: &str = "app";
pub const TYPE_ORG: &str = "org";

/// Why one of our tokens was refused. Shown to operators in logs, never to hide a forgery.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("token signature or format: {0}")]
    Jose(String),
    #[error("token claims are not ours: {0}")]
    Claims(String),
    #[error("token was issued by {0}, not by this gateway")]
    Issuer(String),
    #[error("token is of type `{0}`, not `{1}`")]
    Type(String, &'static str),
    #[error("token is for another application")]
    Audience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("session was revoked")]
    Revoked,
    #[error("the application's tokens were revoked")]
    AppRevoked,
}

impl From<JoseError> for TokenError {
    fn from(e: JoseError) -> Self {
        TokenError::Jose(e.to_string())
    }
}

/// Leeway for `nbf`/`exp` of our own tokens: nodes of one deployment share a clock source.
const LEEWAY: i64 = 5;

fn check_signature<T: for<'de> Deserialize<'de>>(
    ring: &KeyRing,
    token: &str,
) -> Result<T, TokenError> {
    let verified = verify(token, ring.verify_set(), ring.algorithms())?;
    serde_json::from_value(serde_json::Value::Object(verified.claims))
        .map_err(|e| TokenError::Claims(e.to_string()))
}

fn check_times(iat_nbf: i64, exp: i64, now: i64) -> Result<(), TokenError> {
    if exp <= now {
        return Err(TokenError::Expired);
    }
    if iat_nbf > now + LEEWAY {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// Verifies a global session token fully (no cache: it is used only on the team domain).
pub fn verify_org(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    now: i64,
    revoked: &Revocations,
) -> Result<OrgClaims, TokenError> {
    let claims: OrgClaims = check_signature(ring, token)?;
    if claims.iss != issuer {
        return Err(TokenError::Issuer(claims.iss));
    }
    if claims.kind != TYPE_ORG {
        return Err(TokenError::Type(claims.kind, TYPE_ORG));
    }
    check_times(claims.nbf, claims.exp, now)?;
    if revoked.contains(&claims.identity_nonce) {
        return Err(TokenError::Revoked);
    }
    Ok(claims)
}

/// An application token whose signature checked out, with the two headers the proxy adds to
/// every request it forwards, built once.
#[derive(Debug)]
pub struct VerifiedApp {
    token: Box<str>,
    pub claims: AppClaims,
    /// `Cf-Access-Jwt-Assertion`: the token itself.
    pub assertion: HeaderValue,
    /// `Cf-Access-Authenticated-User-Email`.
    pub email: HeaderValue,
}

impl VerifiedApp {
    /// Wraps a token whose signature checked out (or that this gateway just signed), building
    /// the header values once.
    pub fn new(token: &str, claims: AppClaims) -> Result<VerifiedApp, TokenError> {
        let header = |v: &str| {
            HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(v.as_bytes()))
                .map_err(|_| TokenError::Claims("value not fit for an HTTP header".into()))
        };
        Ok(VerifiedApp {
            token: token.into(),
            assertion: header(token)?,
            email: header(&claims.email)?,
            claims,
        })
    }

    /// The token text.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Where a token lives in the cache: its last 32 bytes (the end of the signature). Only tokens
/// whose signature verified are ever inserted, so nobody can fill a bucket on purpose; a lookup
/// still compares the whole token, so a shared tail can only cost a re-verification.
type TokenTail = [u8; 32];

fn tail(token: &str) -> TokenTail {
    let bytes = token.as_bytes();
    let start = bytes.len().saturating_sub(32);
    let mut out = [0u8; 32];
    out[..bytes.len() - start].copy_from_slice(&bytes[start..]);
    out
}

/// The verified-token cache of the hot path.
pub struct TokenCache {
    entries: Mutex<HashMap<TokenTail, Arc<VerifiedApp>>>,
    capacity: usize,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Forgets everything (after a key change).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }

    fn cached(&self, token: &str) -> Option<Arc<VerifiedApp>> {
        let map = self.entries.lock().ok()?;
        map.get(&tail(token))
            .filter(|v| &*v.token == token)
            .cloned()
    }

    fn verify_signature(
        &self,
        ring: &KeyRing,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Arc<VerifiedApp>, TokenError> {
        let claims: AppClaims = check_signature(ring, token)?;
        if claims.iss != issuer {
            return Err(TokenError::Issuer(claims.iss));
        }
        if claims.kind != TYPE_APP {
            return Err(TokenError::Type(claims.kind, TYPE_APP));
        }
        let verified = Arc::new(VerifiedApp::new(token, claims)?);
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= self.capacity {
                map.retain(|_, c| c.claims.exp > now);
                if map.len() >= self.capacity {
                    map.clear();
                }
            }
            map.insert(tail(token), verified.clone());
        }
        Ok(verified)
    }

    /// Verifies an application token for the application `aud`: signature (cached), issuer,
    /// type, audience, time, revocation (never cached).
    pub fn verify_app(
        &self,
        ring: &KeyRing,
        token: &str,
        issuer: &str,
        app: (&str, uuid::Uuid),
        now: i64,
        revoked: &Revocations,
    ) -> Result<Arc<VerifiedApp>, TokenError> {
        let (aud, app_id) = app;
        let verified = match self.cached(token) {
            Some(v) => v,
            None => self.verify_signature(ring, token, issuer, now)?,
        };
        let claims = &verified.claims;
        if !claims.aud.iter().any(|a| a == aud) {
            return Err(TokenError::Audience);
        }
        check_times(claims.nbf, claims.exp, now)?;
        if revoked.contains(&claims.identity_nonce) {
            return Err(TokenError::Revoked);
        }
        if revoked
            .app_revoked_at(app_id)
            .is_some_and(|at| claims.iat <= at)
        {
            return Err(TokenError::AppRevoked);
        }
        Ok(verified)
    }
}

/// Session ids revoked and not yet expired, fed at start from the store and then by the change
/// feed; consulted on every request.
#[derive(Default)]
pub struct Revocations {
    sessions: RwLock<HashMap<String, i64>>,
    /// Per application: tokens issued at or before this instant are refused.
    apps: RwLock<HashMap<uuid::Uuid, i64>>,
}

impl Revocations {
    /// Refuses the application's tokens issued at or before `at` (keeps the latest instant).
    pub fn revoke_app(&self, app: uuid::Uuid, at: i64) {
        if let Ok(mut apps) = self.apps.write() {
            let entry = apps.entry(app).or_insert(at);
            *entry = (*entry).max(at);
        }
    }

    pub fn app_revoked_at(&self, app: uuid::Uuid) -> Option<i64> {
        match self.apps.read() {
            Ok(apps) => apps.get(&app).copied(),
            // A poisoned lock must not let revoked tokens through.
            Err(_) => Some(i64::MAX),
        }
    }

    pub fn contains(&self, session: &str) -> bool {
        self.sessions
            .read()
            .map(|s| s.contains_key(session))
            .unwrap_or(true)
    }

    pub fn insert(&self, session: String, expires_at: i64) {
        if let Ok(mut s) = self.sessions.write() {
            s.insert(session, expires_at);
        }
    }

    /// Drops entries whose session would have expired anyway.
    pub fn prune(&self, now: i64) {
        if let Ok(mut s) = self.sessions.write() {
            s.retain(|_, exp| *exp > now);
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.read().map(|s| s.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_jose::{Algorithm, SigningKey};

    const ISS: &str = "http://auth.localhost:8080";
    const AUD: &str = "aa11";
    const APP: uuid::Uuid = uuid::Uuid::from_u128(7);

    fn ring() -> KeyRing {
        KeyRing::new(
            Arc::new(SigningKey::generate(Algorithm::Es256).unwrap()),
            0,
            None,
            "auth.localhost",
        )
        .unwrap()
    }

    fn claims(now: i64) -> AppClaims {
        AppClaims {
            aud: vec![AUD.into()],
            email: "a@example.com".into(),
            exp: now + 60,
            iat: now,
            nbf: now,
            iss: ISS.into(),
            kind: TYPE_APP.into(),
            identity_nonce: "nonce-0123456789abcdef".into(),
            sub: "u".into(),
            common_name: None,
            country: None,
            custom: Default::default(),
        }
    }

    #[test]
    fn each_check_refuses() {
        let ring = ring();
        let cache = TokenCache::new(10);
        let rev = Revocations::default();
        let now = 1_000_000;
        let good = ring.current().sign(&claims(now)).unwrap();
        assert!(
            cache
                .verify_app(&ring, &good, ISS, (AUD, APP), now, &rev)
                .is_ok()
        );
        // Every check also applies on a cache hit.
        assert_eq!(
            cache
                .verify_app(&ring, &good, ISS, ("other", APP), now, &rev)
                .unwrap_err(),
            TokenError::Audience
        );
        assert_eq!(
            cache
                .verify_app(&ring, &good, ISS, (AUD, APP), now + 61, &rev)
                .unwrap_err(),
            TokenError::Expired
        );
        rev.insert("nonce-0123456789abcdef".into(), now + 100);
        assert_eq!(
            cache
                .verify_app(&ring, &good, ISS, (AUD, APP), now, &rev)
                .unwrap_err(),
            TokenError::Revoked
        );
        let rev = Revocations::default();

        let mut c = claims(now);
        c.iss = "http://evil".into();
        let t = ring.current().sign(&c).unwrap();
        assert!(matches!(
            cache.verify_app(&ring, &t, ISS, (AUD, APP), now, &rev),
            Err(TokenError::Issuer(_))
        ));
        let mut c = claims(now);
        c.kind = TYPE_ORG.into();
        let t = ring.current().sign(&c).unwrap();
        assert!(matches!(
            cache.verify_app(&ring, &t, ISS, (AUD, APP), now, &rev),
            Err(TokenError::Type(..))
        ));
        let mut c = claims(now);
        c.nbf = now + 600;
        let t = ring.current().sign(&c).unwrap();
        assert_eq!(
            cache
                .verify_app(&ring, &t, ISS, (AUD, APP), now, &rev)
                .unwrap_err(),
            TokenError::NotYetValid
        );

        // A key we do not publish.
        let stranger = SigningKey::generate(Algorithm::Es256).unwrap();
        let t = stranger.sign(&claims(now)).unwrap();
        assert!(matches!(
            cache.verify_app(&ring, &t, ISS, (AUD, APP), now, &rev),
            Err(TokenError::Jose(_))
        ));
        // A tampered copy of a cached good token is not a cache hit.
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_payload = base64_payload(&claims(now), "b@example.com");
        parts[1] = &forged_payload;
        let forged = parts.join(".");
        assert!(matches!(
            cache.verify_app(&ring, &forged, ISS, (AUD, APP), now, &rev),
            Err(TokenError::Jose(_))
        ));
    }

    fn base64_payload(c: &AppClaims, email: &str) -> String {
        use base64::Engine;
        let mut c = c.clone();
        c.email = email.into();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
    }

    #[test]
    fn cache_is_bounded() {
        let ring = ring();
        let cache = TokenCache::new(3);
        let rev = Revocations::default();
        for i in 0..10 {
            let mut c = claims(1000);
            c.sub = format!("u{i}");
            let t = ring.current().sign(&c).unwrap();
            cache
                .verify_app(&ring, &t, ISS, (AUD, APP), 1000, &rev)
                .unwrap();
        }
        assert!(cache.entries.lock().unwrap().len() <= 3);
    }

    #[test]
    fn revocations_prune_expired() {
        let r = Revocations::default();
        r.insert("a".into(), 10);
        r.insert("b".into(), 30);
        r.prune(20);
        assert!(!r.contains("a"));
        assert!(r.contains("b"));
    }

    #[test]
    fn revoking_an_app_refuses_its_earlier_tokens_only() {
        let (cache, rev, ring) = (TokenCache::new(10), Revocations::default(), ring());
        let now = 1000;
        let early = ring.current().sign(&claims(now)).unwrap();
        assert!(
            cache
                .verify_app(&ring, &early, ISS, (AUD, APP), now, &rev)
                .is_ok()
        );
        rev.revoke_app(APP, now);
        assert_eq!(
            cache
                .verify_app(&ring, &early, ISS, (AUD, APP), now, &rev)
                .unwrap_err(),
            TokenError::AppRevoked
        );
        // Another application's tokens and later tokens are unaffected.
        let other = uuid::Uuid::from_u128(8);
        assert!(
            cache
                .verify_app(&ring, &early, ISS, (AUD, other), now, &rev)
                .is_ok()
        );
        let later = ring.current().sign(&claims(now + 1)).unwrap();
        assert!(
            cache
                .verify_app(&ring, &later, ISS, (AUD, APP), now + 1, &rev)
                .is_ok()
        );
        // An older revocation arriving late does not move the cut-off back.
        rev.revoke_app(APP, now - 500);
        assert_eq!(rev.app_revoked_at(APP), Some(now));
    }
}
