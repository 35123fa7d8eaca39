//! The login method form's **Fetch**: the gateway reads the identity provider's discovery
//! document (OpenID Connect Discovery 1.0) so that the form can be filled with its issuer,
//! endpoints and a choice of scopes. Only an administrator can ask for it; the answer is read
//! with a short timeout and a size limit, and only the fields the form needs are shown back.

use std::time::Duration;

use portcullis_oidc::DiscoveryDocument;
use serde::Deserialize;
use url::Url;

/// How long the whole fetch may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest document read (real ones are a few kilobytes).
const MAX_BYTES: usize = 256 * 1024;
/// Scopes the form suggests when the provider offers them.
const SUGGESTED_SCOPES: &[&str] = &["openid", "email", "profile", "groups"];

/// Why the document could not be read; phrased for the field the form shows it next to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscoveryError {
    #[error(
        "type the discovery URL, or the issuer to fetch <issuer>/.well-known/openid-configuration"
    )]
    Missing,
    #[error("`{0}` is not an http(s) URL")]
    NotUrl(String),
    #[error("no answer from {url} within {} seconds", TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}; is this the discovery URL?")]
    Status { url: String, status: u16 },
    #[error("{url} answered more than {} KiB; a discovery document is much smaller", MAX_BYTES / 1024)]
    TooLarge { url: String },
    #[error("{url} did not answer a discovery document: {reason}")]
    NotDocument { url: String, reason: String },
}

/// What the form takes from a discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Discovered {
    /// Where the document was read.
    pub url: String,
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// The provider's `scopes_supported` (empty when it does not say).
    pub scopes_supported: Vec<String>,
    /// The provider's `claims_supported` (empty when it does not say).
    pub claims_supported: Vec<String>,
    /// The token endpoint's client authentication methods (empty when it does not say).
    pub auth_methods: Vec<String>,
}

impl Discovered {
    /// The scopes to ask for: the usual ones the provider offers (all of them, when it does not
    /// list what it offers, but for `groups`, which is not standard).
    pub fn suggested_scopes(&self) -> Vec<&'static str> {
        SUGGESTED_SCOPES
            .iter()
            .copied()
            .filter(|s| {
                if self.scopes_supported.is_empty() {
                    *s != "groups"
                } else {
                    *s == "openid" || self.scopes_supported.iter().any(|x| x == s)
                }
            })
            .collect()
    }

    /// The client authentication to choose: `client_secret_post` when the provider supports
    /// only that one, `client_secret_basic` (the default) otherwise.
    pub fn auth_method(&self) -> &'static str {
        let has = |m: &str| self.auth_methods.iter().any(|x| x == m);
        if has("client_secret_post") && !has("client_secret_basic") {
            "client_secret_post"
        } else {
            "client_secret_basic"
        }
    }
}

/// The fields besides [`DiscoveryDocument`]'s that the form reads.
#[derive(Deserialize)]
struct Extras {
    #[serde(default)]
    scopes_supported: Vec<String>,
    #[serde(default)]
    claims_supported: Vec<String>,
}

/// Where to read the document: the discovery URL, else `<issuer>/.well-known/openid-configuration`.
pub(crate) fn location(discovery_url: &str, issuer: &str) -> Result<Url, DiscoveryError> {
    let text = if !discovery_url.is_empty() {
        discovery_url.to_owned()
    } else if !issuer.is_empty() {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    } else {
        return Err(DiscoveryError::Missing);
    };
    match Url::parse(&text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(DiscoveryError::NotUrl(text)),
    }
}

/// Reads and checks the discovery document at `url`.
pub(crate) async fn fetch(http: &reqwest::Client, url: Url) -> Result<Discovered, DiscoveryError> {
    let shown = url.to_string();
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            DiscoveryError::Timeout { url: shown.clone() }
        } else {
            DiscoveryError::Unreachable {
                url: shown.clone(),
                reason: short_reason(&e),
            }
        }
    };
    let mut response = http
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(DiscoveryError::Status {
            url: shown,
            status: status.as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BYTES as u64)
    {
        return Err(DiscoveryError::TooLarge { url: shown });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(DiscoveryError::TooLarge { url: shown });
        }
        body.extend_from_slice(&chunk);
    }
    read(&shown, &body)
}

/// The document's fields the form needs, checked: an issuer and the three endpoints as URLs.
fn read(url: &str, body: &[u8]) -> Result<Discovered, DiscoveryError> {
    let not_document = |reason: String| DiscoveryError::NotDocument {
        url: url.to_owned(),
        reason,
    };
    let doc = DiscoveryDocument::from_json(body).map_err(|e| not_document(e.to_string()))?;
    let extras: Extras = serde_json::from_slice(body).map_err(|_| {
        not_document("`scopes_supported` or `claims_supported` is not a list of strings".into())
    })?;
    let endpoint = |value: Option<String>, field: &str| -> Result<String, DiscoveryError> {
        match value {
            Some(v) if Url::parse(&v).is_ok() => Ok(v),
            Some(_) => Err(not_document(format!("`{field}` is not a URL"))),
            None => Err(not_document(format!("it has no `{field}`"))),
        }
    };
    if Url::parse(&doc.issuer).is_err() {
        return Err(not_document("`issuer` is not a URL".into()));
    }
    Ok(Discovered {
        url: url.to_owned(),
        issuer: doc.issuer,
        authorization_endpoint: endpoint(doc.authorization_endpoint, "authorization_endpoint")?,
        token_endpoint: endpoint(doc.token_endpoint, "token_endpoint")?,
        jwks_uri: endpoint(doc.jwks_uri, "jwks_uri")?,
        scopes_supported: extras.scopes_supported,
        claims_supported: extras.claims_supported,
        auth_methods: doc
            .token_endpoint_auth_methods_supported
            .unwrap_or_default(),
    })
}

/// A transport error without the URL (already in the message) or a chain of causes.
fn short_reason(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let text = cause.to_string();
    if e.is_connect() && !text.is_empty() {
        format!("connection failed ({text})")
    } else if text.is_empty() {
        "the request failed".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
        "issuer": "https://idp.example.com",
        "authorization_endpoint": "https://idp.example.com/authorize",
        "token_endpoint": "https://idp.example.com/token",
        "jwks_uri": "https://idp.example.com/jwks",
        "scopes_supported": ["openid", "email", "profile", "groups", "offline_access"],
        "claims_supported": ["sub", "email", "groups"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"]
    }"#;

    #[test]
    fn a_document_fills_issuer_endpoints_and_suggestions() {
        let d = read(
            "https://idp.example.com/.well-known/openid-configuration",
            DOC.as_bytes(),
        )
        .unwrap();
        assert_eq!(d.issuer, "https://idp.example.com");
        assert_eq!(d.jwks_uri, "https://idp.example.com/jwks");
        assert_eq!(
            d.suggested_scopes(),
            ["openid", "email", "profile", "groups"]
        );
        assert_eq!(d.auth_method(), "client_secret_post");
    }

    #[test]
    fn without_scopes_supported_the_standard_scopes_are_suggested() {
        let doc = r#"{"issuer":"https://i.example","authorization_endpoint":"https://i.example/a","token_endpoint":"https://i.example/t","jwks_uri":"https://i.example/k"}"#;
        let d = read("u", doc.as_bytes()).unwrap();
        assert_eq!(d.suggested_scopes(), ["openid", "email", "profile"]);
        assert_eq!(d.auth_method(), "client_secret_basic");
    }

    #[test]
    fn a_document_without_endpoints_or_not_json_is_named() {
        let doc =
            r#"{"issuer":"https://i.example","authorization_endpoint":"https://i.example/a"}"#;
        let e = read("u", doc.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("token_endpoint"), "{e}");
        let e = read("u", b"<html>").unwrap_err().to_string();
        assert!(e.contains("did not answer a discovery document"), "{e}");
    }

    #[test]
    fn the_location_is_the_discovery_url_or_derived_from_the_issuer() {
        assert_eq!(
            location("", "https://idp.example.com/realms/x/")
                .unwrap()
                .as_str(),
            "https://idp.example.com/realms/x/.well-known/openid-configuration"
        );
        assert_eq!(
            location("https://d.example/doc", "https://ignored.example")
                .unwrap()
                .as_str(),
            "https://d.example/doc"
        );
        assert!(matches!(location("", ""), Err(DiscoveryError::Missing)));
        assert!(matches!(
            location("ftp://x", ""),
            Err(DiscoveryError::NotUrl(_))
        ));
    }
}
