//! One login method at run time: resolved metadata, the JWKS cache, and the steps of a login.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use url::form_urlencoded;

use crate::authorize::{self, AuthorizationRequest, PendingLogin, RequestParams};
use crate::claims::{MappedIdentity, map_claims};
use crate::config::{ProviderConfig, TokenAuthMethod};
use crate::discovery::{self, DiscoveryDocument, Metadata};
use crate::error::{Endpoint, OidcError};
use crate::http;
use crate::jwks::JwksCache;
use crate::validate::{IdTokenClaims, ValidationParams, validate_id_token};

/// Where a traced code exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeStep {
    /// Reading the provider's metadata (discovery document or configured URLs).
    Discovery,
    /// Calling the token endpoint.
    TokenExchange,
    /// Checking the ID token (signature, then claims).
    Validation,
}

/// The outcome of [`Provider::exchange_code_traced`].
pub struct ExchangeTrace {
    /// The last step reached.
    pub step: ExchangeStep,
    /// The raw ID token, when the token endpoint returned one.
    pub id_token: Option<String>,
    pub result: Result<IdTokenClaims, OidcError>,
}

impl std::fmt::Debug for ExchangeTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The raw token is a credential: never in a log line.
        f.debug_struct("ExchangeTrace")
            .field("step", &self.step)
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field("ok", &self.result.is_ok())
            .finish()
    }
}

/// A configured OIDC login method, ready to log users in.
///
/// Create one per login method when the configuration is loaded and share it: clones are cheap
/// and share the resolved metadata and the key cache.
#[derive(Debug, Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ProviderConfig,
    http: reqwest::Client,
    metadata: OnceCell<Metadata>,
    jwks: JwksCache,
}

impl Provider {
    /// Wraps a configuration. No request is made yet: discovery and keys are fetched on first need,
    /// so a provider that is down at start-up does not stop the gateway.
    pub fn new(config: ProviderConfig, http: reqwest::Client) -> Provider {
        let jwks = JwksCache::new(config.jwks_refresh_interval, config.request_timeout);
        Provider {
            inner: Arc::new(Inner {
                config,
                http,
                metadata: OnceCell::new(),
                jwks,
            }),
        }
    }

    /// The configuration this provider was built from.
    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// The endpoints and issuer in use, fetching the discovery document the first time when the
    /// configuration calls for one. A successful resolution is kept for the provider's lifetime;
    /// a failed one is retried on the next call. Fails when discovery fails, when the discovered
    /// issuer differs from the configured one, or when an endpoint is known from neither source.
    pub async fn metadata(&self) -> Result<Metadata, OidcError> {
        self.inner
            .metadata
            .get_or_try_init(|| self.resolve_metadata())
            .await
            .cloned()
    }

    async fn resolve_metadata(&self) -> Result<Metadata, OidcError> {
        let config = &self.inner.config;
        let discovered = match discovery::discovery_location(config)? {
            Some(url) => {
                let request = self
                    .inner
                    .http
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .timeout(config.request_timeout);
                let (status, body) = http::send(request, Endpoint::Discovery).await?;
                if !status.is_success() {
                    return Err(OidcError::HttpStatus {
                        endpoint: Endpoint::Discovery,
                        status: status.as_u16(),
                        oauth_error: None,
                        error_description: None,
                    });
                }
                let doc = DiscoveryDocument::from_json(&body)?;
                // The issuer check (Discovery section 4.3) happens in `resolve`.
                Some(doc)
            }
            None => None,
        };
        let metadata = discovery::resolve(config, discovered.as_ref())?;
        tracing::debug!(
            issuer = metadata.issuer.as_deref(),
            authorization_endpoint = %metadata.authorization_endpoint,
            token_endpoint = %metadata.token_endpoint,
            jwks_uri = %metadata.jwks_uri,
            token_auth = metadata.token_auth.as_str(),
            "resolved OIDC provider metadata"
        );
        Ok(metadata)
    }

    /// Starts a login: returns the URL to redirect the browser to and the [`PendingLogin`] the
    /// caller keeps until the callback. `redirect_uri` is the callback URL registered at the
    /// provider (`https://<team domain>/cdn-cgi/access/callback`).
    pub async fn authorization_request(
        &self,
        redirect_uri: &str,
    ) -> Result<AuthorizationRequest, OidcError> {
        let metadata = self.metadata().await?;
        let config = &self.inner.config;
        authorize::build(&RequestParams {
            authorization_endpoint: &metadata.authorization_endpoint,
            client_id: &config.client_id,
            redirect_uri,
            scope: &config.scope_param(),
            pkce: config.pkce_enabled,
        })
    }

    /// Finishes a login: exchanges the `code` from the callback at the token endpoint and
    /// validates the returned ID token (signature with the cached JWKS, refreshed once on an
    /// unknown key id; issuer, audience, times, nonce, subject).
    ///
    /// The caller must already have checked the callback's `state` against `pending`
    /// ([`PendingLogin::state_matches`]). `redirect_uri` must be the one of the authorization
    /// request. Returns the validated claims, to be passed to [`Provider::map_identity`].
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        pending: &PendingLogin,
        now: SystemTime,
    ) -> Result<IdTokenClaims, OidcError> {
        let config = &self.inner.config;
        if config.pkce_enabled && pending.pkce_verifier.is_none() {
            return Err(OidcError::PendingLogin {
                reason: "PKCE is enabled but the pending login has no code verifier",
            });
        }
        let metadata = self.metadata().await?;
        let id_token = self
            .request_id_token(&metadata, code, redirect_uri, pending)
            .await?;
        self.validate(&metadata, &id_token, &pending.nonce, now)
            .await
    }

    /// The code exchange for a connection test: the same steps as [`Provider::exchange_code`],
    /// but the answer keeps the raw ID token (when one arrived) beside the outcome, so that a
    /// failed check can be explained with the token's header and claims. Never use the raw token
    /// for anything but showing an administrator why a test failed.
    pub async fn exchange_code_traced(
        &self,
        code: &str,
        redirect_uri: &str,
        pending: &PendingLogin,
        now: SystemTime,
    ) -> ExchangeTrace {
        let metadata = match self.metadata().await {
            Ok(m) => m,
            Err(error) => {
                return ExchangeTrace {
                    step: ExchangeStep::Discovery,
                    id_token: None,
                    result: Err(error),
                };
            }
        };
        let id_token = match self
            .request_id_token(&metadata, code, redirect_uri, pending)
            .await
        {
            Ok(t) => t,
            Err(error) => {
                return ExchangeTrace {
                    step: ExchangeStep::TokenExchange,
                    id_token: None,
                    result: Err(error),
                };
            }
        };
        let result = self
            .validate(&metadata, &id_token, &pending.nonce, now)
            .await;
        ExchangeTrace {
            step: ExchangeStep::Validation,
            id_token: Some(id_token),
            result,
        }
    }

    /// Maps validated claims to the identity Portcullis keeps, using this login method's email
    /// claim name and custom claims. See [`map_claims`].
    pub fn map_identity(&self, claims: &IdTokenClaims) -> Result<MappedIdentity, OidcError> {
        let config = &self.inner.config;
        map_claims(claims, &config.email_claim_name, &config.claims)
    }

    async fn request_id_token(
        &self,
        metadata: &Metadata,
        code: &str,
        redirect_uri: &str,
        pending: &PendingLogin,
    ) -> Result<String, OidcError> {
        let config = &self.inner.config;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(verifier) = &pending.pkce_verifier {
            form.push(("code_verifier", verifier));
        }
        let mut request = self
            .inner
            .http
            .post(metadata.token_endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(config.request_timeout);
        match metadata.token_auth {
            TokenAuthMethod::ClientSecretBasic => {
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    basic_credentials(&config.client_id, &config.client_secret),
                );
            }
            TokenAuthMethod::ClientSecretPost => {
                form.push(("client_id", &config.client_id));
                form.push(("client_secret", &config.client_secret));
            }
        }
        let (status, body) = http::send(request.form(&form), Endpoint::Token).await?;
        // The body holds tokens: it is parsed into a map and only named members are read, so
        // that no parser message can quote a token.
        let parsed: Option<Map<String, Value>> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            return Err(OidcError::HttpStatus {
                endpoint: Endpoint::Token,
                status: status.as_u16(),
                oauth_error: parsed.as_ref().and_then(|b| oauth_text(b, "error")),
                error_description: parsed
                    .as_ref()
                    .and_then(|b| oauth_text(b, "error_description")),
            });
        }
        let parsed = parsed.ok_or_else(|| OidcError::InvalidResponse {
            endpoint: Endpoint::Token,
            reason: "not a JSON object".to_owned(),
        })?;
        match parsed.get("id_token") {
            Some(Value::String(token)) if !token.is_empty() => Ok(token.clone()),
            Some(_) => Err(OidcError::InvalidResponse {
                endpoint: Endpoint::Token,
                reason: "id_token is not a string".to_owned(),
            }),
            None => Err(OidcError::MissingIdToken),
        }
    }

    async fn validate(
        &self,
        metadata: &Metadata,
        token: &str,
        nonce: &str,
        now: SystemTime,
    ) -> Result<IdTokenClaims, OidcError> {
        let config = &self.inner.config;
        let params = ValidationParams {
            issuer: metadata.issuer.as_deref(),
            client_id: &config.client_id,
            nonce,
            now,
            skew: config.clock_skew,
            allowed_algs: &config.allowed_algs,
        };
        let http = &self.inner.http;
        let keys = self.inner.jwks.keys(http, &metadata.jwks_uri).await?;
        match validate_id_token(token, &keys, &params) {
            Err(OidcError::UnknownSigningKey { kid }) => {
                match self
                    .inner
                    .jwks
                    .refresh_after_unknown_kid(http, &metadata.jwks_uri, &keys)
                    .await
                {
                    Some(newer) => validate_id_token(token, &newer, &params),
                    None => Err(OidcError::UnknownSigningKey { kid }),
                }
            }
            other => other,
        }
    }
}

/// `Authorization: Basic` value with id and secret form-urlencoded first, as RFC 6749 section
/// 2.3.1 requires (a `:` or non-ASCII character in a secret would otherwise break it).
fn basic_credentials(client_id: &str, client_secret: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// A member (`error` or `error_description`) of a failed token request's body (RFC 6749
/// section 5.2), shortened and stripped of control characters so a hostile provider cannot
/// forge log lines.
fn oauth_text(body: &Map<String, Value>, member: &str) -> Option<String> {
    let text = body.get(member)?.as_str()?;
    Some(text.chars().filter(|c| !c.is_control()).take(300).collect())
}

#[cfg(test)]
mod tests;
