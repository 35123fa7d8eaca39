//! The one error type of this crate.
//!
//! Messages are written for an operator reading a log line or the "Test" page: they name the
//! step or the ID-token check that failed. They never carry a token, a client secret, an
//! authorization code or a claim value (claim *names* are fine).

use std::fmt;

use portcullis_jose::JoseError;

/// Which remote endpoint of the identity provider an HTTP error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The OpenID Connect discovery document.
    Discovery,
    /// The token endpoint (code exchange).
    Token,
    /// The JWKS (`certs_url` / `jwks_uri`).
    Jwks,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::Discovery => "discovery document",
            Endpoint::Token => "token endpoint",
            Endpoint::Jwks => "JWKS endpoint",
        })
    }
}

/// Everything that can go wrong while logging a user in through an OIDC provider.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The login method's configuration cannot work; `field` names the configuration key.
    #[error("login method configuration: `{field}` {reason}")]
    Config {
        /// The configuration key at fault (Cloudflare's names where they exist, e.g. `token_url`).
        field: &'static str,
        /// What is wrong and what would be valid.
        reason: String,
    },

    /// The request to an identity-provider endpoint could not be completed.
    #[error("{endpoint} request failed: {source}")]
    Http {
        /// Which endpoint was called.
        endpoint: Endpoint,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// The endpoint answered with a non-success status.
    #[error("{endpoint} answered HTTP {status}{}", oauth_detail(oauth_error.as_deref(), error_description.as_deref()))]
    HttpStatus {
        /// Which endpoint was called.
        endpoint: Endpoint,
        /// The HTTP status code.
        status: u16,
        /// The OAuth `error` code (e.g. `invalid_client`) when the body carried one.
        oauth_error: Option<String>,
        /// The OAuth `error_description` that came with it, if any.
        error_description: Option<String>,
    },

    /// The response body exceeded the size this crate is willing to read.
    #[error("{endpoint} response is larger than {limit} bytes")]
    ResponseTooLarge {
        /// Which endpoint was called.
        endpoint: Endpoint,
        /// The limit in bytes.
        limit: usize,
    },

    /// The response body is not what the protocol says it should be.
    #[error("{endpoint} response is invalid: {reason}")]
    InvalidResponse {
        /// Which endpoint was called.
        endpoint: Endpoint,
        /// What is wrong with it (never the body itself).
        reason: String,
    },

    /// The discovery document names a different issuer than the one configured.
    #[error(
        "discovery document names issuer `{discovered}`, but the login method is configured for `{configured}`"
    )]
    IssuerMismatch {
        /// The issuer in the configuration (or the one the discovery URL was derived from).
        configured: String,
        /// The `issuer` in the discovery document.
        discovered: String,
    },

    /// No signing keys could be obtained from the JWKS endpoint.
    #[error("no signing keys available from the JWKS endpoint: {reason}")]
    JwksUnavailable {
        /// Why (fetch error, or the fetch was rate limited after a recent failure).
        reason: String,
    },

    /// The pending login handed to the code exchange does not fit this login method.
    #[error("pending login is unusable: {reason}")]
    PendingLogin {
        /// What is missing.
        reason: &'static str,
    },

    /// The token response carried no `id_token` (the `openid` scope was not honoured).
    #[error("token response has no id_token")]
    MissingIdToken,

    /// ID token check: its `kid` is not among the provider's current keys, even after a refresh.
    #[error("id_token rejected (signature): key id `{kid}` is not in the provider's JWKS")]
    UnknownSigningKey {
        /// The key id from the token header.
        kid: String,
    },

    /// ID token check: the JWS is malformed, its algorithm is not allowed, or the signature does not verify.
    #[error("id_token rejected (signature): {0}")]
    Signature(#[source] JoseError),

    /// ID token check: `iss` is not the expected issuer.
    #[error("id_token rejected (iss): expected `{expected}`, token names {}", found.as_deref().map(|f| format!("`{f}`")).unwrap_or_else(|| "no issuer".to_owned()))]
    Issuer {
        /// The issuer this login method trusts.
        expected: String,
        /// The issuer the token names, if any (issuers are public identifiers, not secrets).
        found: Option<String>,
    },

    /// ID token check: `aud` does not contain this login method's client id.
    #[error("id_token rejected (aud): the audience does not contain this client id")]
    Audience,

    /// ID token check: `azp` is missing although `aud` has several values, or it is not this client id.
    #[error("id_token rejected (azp): {reason}")]
    AuthorizedParty {
        /// Which of the two rules failed.
        reason: &'static str,
    },

    /// ID token check: `exp` is in the past (beyond the allowed clock skew).
    #[error("id_token rejected (exp): the token has expired")]
    Expired,

    /// ID token check: `nbf` is in the future (beyond the allowed clock skew).
    #[error("id_token rejected (nbf): the token is not valid yet")]
    NotYetValid,

    /// ID token check: `iat` is in the future (beyond the allowed clock skew).
    #[error("id_token rejected (iat): the token claims to be issued in the future")]
    IssuedInFuture,

    /// ID token check: `nonce` is missing or differs from the one sent with the authorization request.
    #[error("id_token rejected (nonce): it does not match the nonce of this login")]
    Nonce,

    /// ID token check: a required claim is absent.
    #[error("id_token rejected ({claim}): the claim is required but missing")]
    MissingClaim {
        /// The claim name.
        claim: &'static str,
    },

    /// ID token check: a claim has the wrong JSON type or an unusable value.
    #[error("id_token rejected ({claim}): {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: &'static str,
        /// What is wrong (never the value).
        reason: &'static str,
    },

    /// Claim mapping: no claim that was tried holds a usable email address.
    #[error("no email in the ID token: tried claims {tried:?}; claims present: {present:?}")]
    MissingEmail {
        /// The claim names looked at, in order.
        tried: Vec<String>,
        /// The names (never the values) of the claims the token carried, sorted.
        present: Vec<String>,
    },

    /// The system random number generator failed.
    #[error("secure random generator failed")]
    Random,
}

impl OidcError {
    /// The short name of the ID-token check that failed (`"exp"`, `"aud"`, …), or `None` when the
    /// error is not an ID-token rejection. Useful for logs and metrics labels.
    pub fn id_token_check(&self) -> Option<&'static str> {
        Some(match self {
            OidcError::UnknownSigningKey { .. } | OidcError::Signature(_) => "signature",
            OidcError::Issuer { .. } => "iss",
            OidcError::Audience => "aud",
            OidcError::AuthorizedParty { .. } => "azp",
            OidcError::Expired => "exp",
            OidcError::NotYetValid => "nbf",
            OidcError::IssuedInFuture => "iat",
            OidcError::Nonce => "nonce",
            OidcError::MissingClaim { claim } | OidcError::InvalidClaim { claim, .. } => claim,
            _ => return None,
        })
    }
}

/// ` (code: description)` for an error message, or nothing.
fn oauth_detail(code: Option<&str>, description: Option<&str>) -> String {
    match (code, description) {
        (Some(c), Some(d)) => format!(" ({c}: {d})"),
        (Some(c), None) => format!(" ({c})"),
        _ => String::new(),
    }
}
