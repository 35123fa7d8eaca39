//! What an operator configures for one OIDC login method.

use std::fmt;
use std::time::Duration;

use portcullis_jose::Algorithm;
use url::Url;

/// How the client authenticates itself at the token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenAuthMethod {
    /// HTTP Basic with the form-urlencoded client id and secret (`client_secret_basic`).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` as form parameters in the request body (`client_secret_post`).
    ClientSecretPost,
}

impl TokenAuthMethod {
    /// The name used in discovery documents (`token_endpoint_auth_methods_supported`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    fn other(self) -> TokenAuthMethod {
        match self {
            TokenAuthMethod::ClientSecretBasic => TokenAuthMethod::ClientSecretPost,
            TokenAuthMethod::ClientSecretPost => TokenAuthMethod::ClientSecretBasic,
        }
    }

    /// Picks the method to use given what a discovery document says the provider supports.
    ///
    /// The configured method is kept when the provider lists it, when it lists nothing (the
    /// OIDC default is `client_secret_basic`, and guessing helps nobody) or when it lists
    /// neither of ours; otherwise the other secret-based method is taken.
    pub(crate) fn negotiate(self, supported: Option<&[String]>) -> TokenAuthMethod {
        let Some(supported) = supported else {
            return self;
        };
        let listed = |m: TokenAuthMethod| supported.iter().any(|s| s == m.as_str());
        if !listed(self) && listed(self.other()) {
            self.other()
        } else {
            self
        }
    }
}

/// The configuration of one login method: Cloudflare's generic OIDC fields plus what Portcullis
/// adds (discovery, issuer, token endpoint authentication, algorithms, clock skew).
///
/// Build it with [`ProviderConfig::new`] and struct-update syntax for the optional parts. Its
/// `Debug` output never shows the client secret.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The OAuth client id registered at the identity provider; also the expected ID-token audience.
    pub client_id: String,
    /// The OAuth client secret. Never logged.
    pub client_secret: String,
    /// `authorization_endpoint`; when set it wins over the discovered one.
    pub auth_url: Option<Url>,
    /// `token_endpoint`; when set it wins over the discovered one.
    pub token_url: Option<Url>,
    /// `jwks_uri`; when set it wins over the discovered one.
    pub certs_url: Option<Url>,
    /// Where to fetch the discovery document. It fills in the URLs that are not set and the issuer.
    pub discovery_url: Option<Url>,
    /// The expected `iss` of ID tokens. Given without `discovery_url` while an endpoint URL is
    /// missing, discovery is fetched from `<issuer>/.well-known/openid-configuration`. When no
    /// issuer is known at all (Cloudflare-style configuration with three URLs), `iss` is not checked.
    pub issuer: Option<String>,
    /// Scopes to request; `openid` is always sent, first, whether listed or not.
    pub scopes: Vec<String>,
    /// Use PKCE (S256) on every login.
    pub pkce_enabled: bool,
    /// The claim that carries the user's email; `email` and then `upn` are tried after it.
    pub email_claim_name: String,
    /// Custom claims copied from the ID token into `oidc_fields` (`groups` becomes the identity's groups instead).
    pub claims: Vec<String>,
    /// Client authentication at the token endpoint. With discovery, the other method is used when
    /// the provider lists only that one.
    pub token_auth: TokenAuthMethod,
    /// Signature algorithms accepted on ID tokens.
    pub allowed_algs: Vec<Algorithm>,
    /// Tolerance for clock differences in `exp`, `nbf` and `iat`.
    pub clock_skew: Duration,
    /// Minimum time between two JWKS fetches, so that tokens with invented key ids cannot make
    /// Portcullis hammer the identity provider.
    pub jwks_refresh_interval: Duration,
    /// Timeout of each request to the identity provider.
    pub request_timeout: Duration,
}

impl ProviderConfig {
    /// A configuration with Cloudflare's defaults (`openid email profile`, `email` claim, no PKCE,
    /// no custom claims) and Portcullis's (`client_secret_basic`, every supported algorithm,
    /// 60 s clock skew, JWKS refreshed at most every 10 s, 10 s request timeout). Endpoint URLs,
    /// discovery and issuer are unset.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> ProviderConfig {
        ProviderConfig {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: None,
            token_url: None,
            certs_url: None,
            discovery_url: None,
            issuer: None,
            scopes: ["openid", "email", "profile"].map(str::to_owned).to_vec(),
            pkce_enabled: false,
            email_claim_name: "email".to_owned(),
            claims: Vec::new(),
            token_auth: TokenAuthMethod::default(),
            allowed_algs: Algorithm::ALL.to_vec(),
            clock_skew: Duration::from_secs(60),
            jwks_refresh_interval: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// The `scope` parameter: `openid` first, then the configured scopes in order, without duplicates.
    pub(crate) fn scope_param(&self) -> String {
        let mut scopes: Vec<&str> = vec!["openid"];
        for s in self.scopes.iter().flat_map(|s| s.split_whitespace()) {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        scopes.join(" ")
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("auth_url", &self.auth_url.as_ref().map(Url::as_str))
            .field("token_url", &self.token_url.as_ref().map(Url::as_str))
            .field("certs_url", &self.certs_url.as_ref().map(Url::as_str))
            .field(
                "discovery_url",
                &self.discovery_url.as_ref().map(Url::as_str),
            )
            .field("issuer", &self.issuer)
            .field("scopes", &self.scopes)
            .field("pkce_enabled", &self.pkce_enabled)
            .field("email_claim_name", &self.email_claim_name)
            .field("claims", &self.claims)
            .field("token_auth", &self.token_auth)
            .field("allowed_algs", &self.allowed_algs)
            .field("clock_skew", &self.clock_skew)
            .field("jwks_refresh_interval", &self.jwks_refresh_interval)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_client_secret() {
        let config = ProviderConfig::new("my-client", "hunter2-very-secret");
        let shown = format!("{config:?}");
        assert!(shown.contains("my-client"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn defaults_follow_cloudflare_and_the_brief() {
        let config = ProviderConfig::new("c", "s");
        assert_eq!(config.scopes, ["openid", "email", "profile"]);
        assert_eq!(config.email_claim_name, "email");
        assert_eq!(config.token_auth, TokenAuthMethod::ClientSecretBasic);
        assert_eq!(config.allowed_algs.len(), 10);
        assert_eq!(config.clock_skew, Duration::from_secs(60));
        assert!(!config.pkce_enabled);
    }

    #[test]
    fn openid_scope_is_always_sent_first_and_once() {
        let mut config = ProviderConfig::new("c", "s");
        config.scopes = vec!["email".into(), "groups".into(), "email".into()];
        assert_eq!(config.scope_param(), "openid email groups");
        config.scopes = vec!["profile".into(), "openid".into()];
        assert_eq!(config.scope_param(), "openid profile");
        config.scopes = vec![];
        assert_eq!(config.scope_param(), "openid");
    }

    #[test]
    fn token_auth_follows_what_discovery_allows() {
        let basic = TokenAuthMethod::ClientSecretBasic;
        let post = TokenAuthMethod::ClientSecretPost;
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(basic.negotiate(None), basic);
        assert_eq!(basic.negotiate(Some(&list(&["client_secret_post"]))), post);
        assert_eq!(
            basic.negotiate(Some(&list(&["client_secret_post", "client_secret_basic"]))),
            basic
        );
        assert_eq!(post.negotiate(Some(&list(&["client_secret_basic"]))), basic);
        assert_eq!(basic.negotiate(Some(&list(&["private_key_jwt"]))), basic);
    }
}
