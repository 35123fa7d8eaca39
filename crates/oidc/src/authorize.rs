//! The authorization request: random `state`, `nonce` and PKCE verifier, and the URL the browser
//! is sent to.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::OidcError;

/// Bytes of randomness in `state`, `nonce` and the PKCE verifier: 256 bits, well above the
/// 128 bits needed to make guessing hopeless. 32 bytes also give a 43-character verifier, the
/// shortest RFC 7636 allows.
const RANDOM_BYTES: usize = 32;

/// What the caller must remember between sending the browser to the provider and the callback
/// (typically in a short-lived, signed cookie or the store), and hand to
/// [`Provider::exchange_code`](crate::Provider::exchange_code).
///
/// `Debug` hides the nonce and the PKCE verifier.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent to the provider; the callback's `state` must equal it (see [`PendingLogin::state_matches`]).
    pub state: String,
    /// The `nonce` sent to the provider; the ID token must carry it.
    pub nonce: String,
    /// The PKCE code verifier, when PKCE is enabled for this login method.
    pub pkce_verifier: Option<String>,
}

impl PendingLogin {
    /// Whether the `state` returned on the callback is the one this login sent, compared in
    /// constant time. The caller must refuse the callback when this is false (CSRF protection).
    pub fn state_matches(&self, returned: &str) -> bool {
        verify_slices_are_equal(self.state.as_bytes(), returned.as_bytes()).is_ok()
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"<redacted>")
            .field(
                "pkce_verifier",
                &self.pkce_verifier.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A ready authorization request: redirect the browser to `url`, keep `pending`.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The provider's authorization endpoint with all request parameters.
    pub url: Url,
    /// The secrets of this login attempt.
    pub pending: PendingLogin,
}

/// The PKCE S256 code challenge for a verifier: base64url (no padding) of its SHA-256 (RFC 7636 section 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// A fresh base64url string carrying [`RANDOM_BYTES`] bytes from the system CSPRNG.
pub(crate) fn random_token(rng: &SystemRandom) -> Result<String, OidcError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    rng.fill(&mut bytes).map_err(|_| OidcError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Parameters of an authorization request that do not come from the random generator.
pub(crate) struct RequestParams<'a> {
    pub authorization_endpoint: &'a Url,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub pkce: bool,
}

/// Builds the authorization URL and the pending login. Query parameters already present on the
/// endpoint (some providers need a fixed one) are kept.
pub(crate) fn build(params: &RequestParams<'_>) -> Result<AuthorizationRequest, OidcError> {
    let rng = SystemRandom::new();
    let pending = PendingLogin {
        state: random_token(&rng)?,
        nonce: random_token(&rng)?,
        pkce_verifier: if params.pkce {
            Some(random_token(&rng)?)
        } else {
            None
        },
    };
    let mut url = params.authorization_endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", params.client_id)
            .append_pair("redirect_uri", params.redirect_uri)
            .append_pair("scope", params.scope)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce);
        if let Some(verifier) = &pending.pkce_verifier {
            query
                .append_pair("code_challenge", &pkce_challenge(verifier))
                .append_pair("code_challenge_method", "S256");
        }
    }
    Ok(AuthorizationRequest { url, pending })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    fn request(pkce: bool) -> AuthorizationRequest {
        let endpoint = Url::parse("https://idp.example.com/authorize?tenant=acme").unwrap();
        build(&RequestParams {
            authorization_endpoint: &endpoint,
            client_id: "portcullis client",
            redirect_uri: "https://auth.example.com/cdn-cgi/access/callback",
            scope: "openid email profile",
            pkce,
        })
        .unwrap()
    }

    fn params(url: &Url) -> HashMap<String, String> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn authorization_url_carries_every_parameter() {
        let req = request(false);
        let q = params(&req.url);
        assert_eq!(req.url.host_str(), Some("idp.example.com"));
        assert_eq!(req.url.path(), "/authorize");
        assert_eq!(q["tenant"], "acme");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "portcullis client");
        assert_eq!(
            q["redirect_uri"],
            "https://auth.example.com/cdn-cgi/access/callback"
        );
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!(q["state"], req.pending.state);
        assert_eq!(q["nonce"], req.pending.nonce);
        assert!(!q.contains_key("code_challenge"));
        assert!(!q.contains_key("code_challenge_method"));
        assert_eq!(req.pending.pkce_verifier, None);
    }

    #[test]
    fn pkce_adds_an_s256_challenge_of_the_kept_verifier() {
        let req = request(true);
        let q = params(&req.url);
        let verifier = req.pending.pkce_verifier.as_deref().unwrap();
        assert_eq!(verifier.len(), 43);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], pkce_challenge(verifier));
        assert!(
            !req.url.as_str().contains(verifier),
            "the verifier must not travel in the URL"
        );
    }

    #[test]
    fn state_nonce_and_verifier_are_fresh_and_long_enough() {
        let a = request(true);
        let b = request(true);
        for p in [&a.pending, &b.pending] {
            for value in [&p.state, &p.nonce, p.pkce_verifier.as_ref().unwrap()] {
                // 32 bytes of randomness in base64url: at least 128 bits, no padding, URL-safe.
                assert_eq!(URL_SAFE_NO_PAD.decode(value).unwrap().len(), 32);
            }
        }
        assert_ne!(a.pending.state, b.pending.state);
        assert_ne!(a.pending.nonce, b.pending.nonce);
        assert_ne!(a.pending.state, a.pending.nonce);
        assert_ne!(a.pending.pkce_verifier, b.pending.pkce_verifier);
    }

    #[test]
    fn state_comparison_and_debug_output() {
        let req = request(true);
        assert!(req.pending.state_matches(&req.pending.state.clone()));
        assert!(!req.pending.state_matches("forged"));
        assert!(!req.pending.state_matches(""));
        let shown = format!("{:?}", req.pending);
        assert!(!shown.contains(&req.pending.nonce));
        assert!(!shown.contains(req.pending.pkce_verifier.as_deref().unwrap()));
    }
}
