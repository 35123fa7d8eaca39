//! OpenID Connect discovery: parsing the provider's metadata document and merging it with what
//! the operator configured.

use serde::Deserialize;
use url::Url;

use crate::config::{ProviderConfig, TokenAuthMethod};
use crate::error::{Endpoint, OidcError};

/// The fields of an OpenID Provider Metadata document (OpenID Connect Discovery 1.0, section 3)
/// that a relying party using the authorization-code flow needs. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DiscoveryDocument {
    /// The provider's issuer identifier; ID tokens must carry it as `iss`.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: Option<String>,
    /// Where the provider publishes its signing keys.
    pub jwks_uri: Option<String>,
    /// Client authentication methods the token endpoint accepts.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl DiscoveryDocument {
    /// Parses a discovery document. Errors describe the problem without echoing the body.
    pub fn from_json(bytes: &[u8]) -> Result<DiscoveryDocument, OidcError> {
        serde_json::from_slice(bytes).map_err(|e| OidcError::InvalidResponse {
            endpoint: Endpoint::Discovery,
            reason: format!(
                "not a discovery document ({:?} at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
    }
}

/// The resolved endpoints and issuer of one login method: what the login flow actually uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The issuer ID tokens must name, when one is known (configured or discovered).
    pub issuer: Option<String>,
    /// Where browsers are sent to log in.
    pub authorization_endpoint: Url,
    /// Where codes are exchanged for tokens.
    pub token_endpoint: Url,
    /// Where the signing keys are fetched.
    pub jwks_uri: Url,
    /// How the client authenticates at the token endpoint.
    pub token_auth: TokenAuthMethod,
}

/// Where to fetch the discovery document from, if discovery is needed at all.
///
/// An explicit `discovery_url` is always fetched. Otherwise an issuer leads to discovery only when
/// some endpoint URL is missing: with all three URLs configured the issuer only serves the `iss`
/// check, and no request is made.
pub(crate) fn discovery_location(config: &ProviderConfig) -> Result<Option<Url>, OidcError> {
    if let Some(url) = &config.discovery_url {
        return Ok(Some(url.clone()));
    }
    let complete =
        config.auth_url.is_some() && config.token_url.is_some() && config.certs_url.is_some();
    match &config.issuer {
        Some(issuer) if !complete => {
            // Discovery section 4.1: a trailing slash on the issuer is removed before appending.
            let base = issuer.trim_end_matches('/');
            let url = format!("{base}/.well-known/openid-configuration");
            Url::parse(&url).map(Some).map_err(|e| OidcError::Config {
                field: "issuer",
                reason: format!("is not a URL from which a discovery URL can be derived ({e})"),
            })
        }
        _ => Ok(None),
    }
}

/// Combines the configuration with a discovery document (if one was fetched) into [`Metadata`].
///
/// Explicit URLs win over discovered ones. When both the configuration and the document name an
/// issuer they must be identical (Discovery section 4.3); an issuer known only from the document
/// becomes the expected `iss`.
pub(crate) fn resolve(
    config: &ProviderConfig,
    discovered: Option<&DiscoveryDocument>,
) -> Result<Metadata, OidcError> {
    let issuer = match (&config.issuer, discovered) {
        (Some(configured), Some(doc)) if configured != &doc.issuer => {
            return Err(OidcError::IssuerMismatch {
                configured: configured.clone(),
                discovered: doc.issuer.clone(),
            });
        }
        (Some(configured), _) => Some(configured.clone()),
        (None, Some(doc)) => Some(doc.issuer.clone()),
        (None, None) => None,
    };

    let endpoint = |explicit: &Option<Url>,
                    found: Option<&String>,
                    field: &'static str,
                    doc_field: &str|
     -> Result<Url, OidcError> {
        if let Some(url) = explicit {
            return Ok(url.clone());
        }
        match found {
            Some(raw) => Url::parse(raw).map_err(|e| OidcError::InvalidResponse {
                endpoint: Endpoint::Discovery,
                reason: format!("`{doc_field}` is not a URL ({e})"),
            }),
            None if discovered.is_some() => Err(OidcError::Config {
                field,
                reason: format!("is not set and the discovery document has no `{doc_field}`"),
            }),
            None => Err(OidcError::Config {
                field,
                reason: "is required unless `discovery_url` or `issuer` is set".to_owned(),
            }),
        }
    };

    Ok(Metadata {
        issuer,
        authorization_endpoint: endpoint(
            &config.auth_url,
            discovered.and_then(|d| d.authorization_endpoint.as_ref()),
            "auth_url",
            "authorization_endpoint",
        )?,
        token_endpoint: endpoint(
            &config.token_url,
            discovered.and_then(|d| d.token_endpoint.as_ref()),
            "token_url",
            "token_endpoint",
        )?,
        jwks_uri: endpoint(
            &config.certs_url,
            discovered.and_then(|d| d.jwks_uri.as_ref()),
            "certs_url",
            "jwks_uri",
        )?,
        token_auth: config
            .token_auth
            .negotiate(discovered.and_then(|d| d.token_endpoint_auth_methods_supported.as_deref())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const DOC: &str = r#"{
        "issuer": "https://idp.example.com",
        "authorization_endpoint": "https://idp.example.com/authorize",
        "token_endpoint": "https://idp.example.com/token",
        "jwks_uri": "https://idp.example.com/jwks",
        "userinfo_endpoint": "https://idp.example.com/userinfo",
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"]
    }"#;

    #[test]
    fn parses_a_discovery_document_and_ignores_unknown_fields() {
        let doc = DiscoveryDocument::from_json(DOC.as_bytes()).unwrap();
        assert_eq!(doc.issuer, "https://idp.example.com");
        assert_eq!(
            doc.token_endpoint.as_deref(),
            Some("https://idp.example.com/token")
        );
        assert_eq!(
            doc.token_endpoint_auth_methods_supported,
            Some(vec!["client_secret_post".to_owned()])
        );
    }

    #[test]
    fn a_document_without_issuer_is_rejected_without_echoing_the_body() {
        let err =
            DiscoveryDocument::from_json(br#"{"jwks_uri":"https://secret-looking.example/keys"}"#)
                .unwrap_err();
        let shown = err.to_string();
        assert!(matches!(
            err,
            OidcError::InvalidResponse {
                endpoint: Endpoint::Discovery,
                ..
            }
        ));
        assert!(!shown.contains("secret-looking"), "{shown}");
        assert!(DiscoveryDocument::from_json(b"<html>").is_err());
    }

    #[test]
    fn discovered_values_fill_in_and_explicit_urls_win() {
        let doc = DiscoveryDocument::from_json(DOC.as_bytes()).unwrap();
        let mut config = ProviderConfig::new("c", "s");
        config.discovery_url = Some(url(
            "https://idp.example.com/.well-known/openid-configuration",
        ));
        config.token_url = Some(url("https://proxy.example.com/token"));
        let meta = resolve(&config, Some(&doc)).unwrap();
        assert_eq!(meta.issuer.as_deref(), Some("https://idp.example.com"));
        assert_eq!(
            meta.authorization_endpoint.as_str(),
            "https://idp.example.com/authorize"
        );
        assert_eq!(
            meta.token_endpoint.as_str(),
            "https://proxy.example.com/token"
        );
        assert_eq!(meta.jwks_uri.as_str(), "https://idp.example.com/jwks");
        assert_eq!(meta.token_auth, TokenAuthMethod::ClientSecretPost);
    }

    #[test]
    fn discovered_issuer_must_equal_the_configured_one() {
        let doc = DiscoveryDocument::from_json(DOC.as_bytes()).unwrap();
        let mut config = ProviderConfig::new("c", "s");
        config.issuer = Some("https://other.example.com".into());
        let err = resolve(&config, Some(&doc)).unwrap_err();
        assert!(matches!(err, OidcError::IssuerMismatch { .. }), "{err}");
        config.issuer = Some("https://idp.example.com".into());
        assert_eq!(
            resolve(&config, Some(&doc)).unwrap().issuer.as_deref(),
            Some("https://idp.example.com")
        );
    }

    #[test]
    fn cloudflare_style_configuration_needs_no_discovery_and_has_no_issuer() {
        let mut config = ProviderConfig::new("c", "s");
        config.auth_url = Some(url("https://idp.example.com/a"));
        config.token_url = Some(url("https://idp.example.com/t"));
        config.certs_url = Some(url("https://idp.example.com/k"));
        assert_eq!(discovery_location(&config).unwrap(), None);
        let meta = resolve(&config, None).unwrap();
        assert_eq!(meta.issuer, None);
        assert_eq!(meta.token_auth, TokenAuthMethod::ClientSecretBasic);
        // An issuer alongside complete URLs is used for the iss check only.
        config.issuer = Some("https://idp.example.com".into());
        assert_eq!(discovery_location(&config).unwrap(), None);
        assert_eq!(
            resolve(&config, None).unwrap().issuer.as_deref(),
            Some("https://idp.example.com")
        );
    }

    #[test]
    fn discovery_url_is_derived_from_the_issuer() {
        let mut config = ProviderConfig::new("c", "s");
        config.issuer = Some("https://idp.example.com/realms/main/".into());
        assert_eq!(
            discovery_location(&config).unwrap().unwrap().as_str(),
            "https://idp.example.com/realms/main/.well-known/openid-configuration"
        );
        config.discovery_url = Some(url("https://elsewhere.example.com/oidc.json"));
        assert_eq!(
            discovery_location(&config).unwrap().unwrap().as_str(),
            "https://elsewhere.example.com/oidc.json"
        );
    }

    #[test]
    fn missing_endpoints_name_the_configuration_key() {
        let config = ProviderConfig::new("c", "s");
        let err = resolve(&config, None).unwrap_err();
        assert!(
            matches!(
                err,
                OidcError::Config {
                    field: "auth_url",
                    ..
                }
            ),
            "{err}"
        );

        let doc = DiscoveryDocument::from_json(br#"{"issuer":"https://i","authorization_endpoint":"https://i/a","token_endpoint":"https://i/t"}"#).unwrap();
        let err = resolve(&config, Some(&doc)).unwrap_err();
        assert!(
            matches!(
                err,
                OidcError::Config {
                    field: "certs_url",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("jwks_uri"));
    }

    #[test]
    fn a_discovered_endpoint_that_is_not_a_url_is_refused() {
        let doc = DiscoveryDocument::from_json(br#"{"issuer":"https://i","authorization_endpoint":"not a url","token_endpoint":"https://i/t","jwks_uri":"https://i/k"}"#).unwrap();
        let err = resolve(&ProviderConfig::new("c", "s"), Some(&doc)).unwrap_err();
        assert!(
            matches!(
                err,
                OidcError::InvalidResponse {
                    endpoint: Endpoint::Discovery,
                    ..
                }
            ),
            "{err}"
        );
    }
}
