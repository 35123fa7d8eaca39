//! Configuration: what the operator writes (`portcullis.toml` plus `PORTCULLIS_*` environment
//! overrides), validated into a typed [`Config`].
//!
//! The raw structs mirror the file one to one and refuse unknown keys, so a typo is an error that
//! names the key instead of a silently ignored setting. Validation turns strings into typed values
//! (socket addresses, URLs, durations, domain patterns, policies) and every error names the key
//! and says what would be valid.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) mod access;

use std::sync::Arc;

use portcullis_core::{
    Catalog, DomainPattern, IpRange, List, Policy, RuleGroup, parse_go_duration,
};
use portcullis_jose::Algorithm;
use portcullis_oidc::{ProviderConfig, TokenAuthMethod};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

/// A configuration problem, phrased for the operator: the key, what is wrong, what would do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("`{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// What the operator writes.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub identity_providers: Vec<RawIdentityProvider>,
    #[serde(default)]
    pub applications: Vec<RawApplication>,
    #[serde(default)]
    pub organization: RawOrganization,
    /// Reusable policies (each with an `id`), referenced by applications.
    #[serde(default)]
    pub policies: Vec<serde_json::Value>,
    /// Reusable rule groups, referenced by `{ group = { id = "…" } }` rules.
    #[serde(default)]
    pub rule_groups: Vec<RuleGroup>,
    /// Email and IP lists, referenced by `email_list` and `ip_list` rules.
    #[serde(default)]
    pub lists: Vec<List>,
    /// Who may use the web admin UI.
    #[serde(default)]
    pub admin: RawAdmin,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Host where login, callback, certs (and later SCIM and admin) live.
    pub team_domain: Option<String>,
    /// A request header that a trusted proxy in front sets to the client's country
    /// (e.g. `CF-IPCountry`), for `geo` rules.
    pub country_header: Option<String>,
    /// Proxies in front of the gateway (addresses or CIDR ranges) whose `X-Forwarded-For` is
    /// believed when finding the client address for `ip` rules and logs.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Plain-HTTP listener address.
    pub listen: Option<String>,
    /// HTTPS listener.
    pub tls: Option<RawTls>,
    /// How browsers reach the team domain, when it differs from what the listener implies.
    pub public_url: Option<String>,
    /// Directory for the SQLite database and the generated secret key.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://path` (default: `<data_dir>/portcullis.db`), or `postgres://…` for several
    /// nodes on one database (see docs/deploy.md).
    pub database_url: Option<String>,
    /// 32 bytes, base64: seals login state, IdP secrets and signing keys at rest.
    pub secret_key: Option<String>,
    /// Global session duration (Go syntax, 15m … 720h). Default 24h.
    pub session_duration: Option<String>,
    /// Algorithm of the tokens we sign: RS256 (default), ES256 or EdDSA.
    pub signing_alg: Option<String>,
    /// How often the signing key rotates. Default 1008h (six weeks).
    pub key_rotation_interval: Option<String>,
    /// How long authentication and SCIM provisioning log records are kept (Go duration, default
    /// `2160h` = 90 days; `0s` keeps them forever).
    pub log_retention: Option<String>,
    /// Clock skew allowed when checking ID tokens. Default 60s.
    pub clock_skew: Option<String>,
    /// `current_thread` (default) or `multi_thread`.
    pub runtime: Option<String>,
    /// The account id of the admin API (32 hexadecimal characters, as Cloudflare's); generated
    /// at the first start when not set.
    pub account_id: Option<String>,
    /// Serve the admin API (`/client/v4/…`) on this separate address only, instead of on the
    /// team domain (e.g. `127.0.0.1:9443`, reachable from the operators' network alone).
    pub admin_listen: Option<String>,
    /// A read-write admin API token to start automation from nothing (at least 16 characters);
    /// more tokens are made with `portcullis api-token create`.
    pub admin_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// HTTPS listener address. Default `0.0.0.0:8443`.
    pub listen: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityProvider {
    pub id: Option<String>,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub config: RawOidcConfig,
    /// SCIM provisioning for this login method (Cloudflare's `scim_config`).
    pub scim_config: Option<RawScimConfig>,
}

/// `scim_config = { enabled, secret, user_deprovision, seat_deprovision,
/// identity_update_behavior }`, Cloudflare's field names.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScimConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The bearer secret SCIM clients send (for automation; stored only as a SHA-256 digest).
    /// Without it, one is generated when SCIM is first enabled.
    pub secret: Option<String>,
    /// Revoke every session of a user the identity provider deactivates or deletes.
    #[serde(default)]
    pub user_deprovision: bool,
    /// Also free the user's seat; only with `user_deprovision`.
    #[serde(default)]
    pub seat_deprovision: bool,
    /// `automatic`, `reauth` or `no_action` (default).
    pub identity_update_behavior: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidcConfig {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub certs_url: Option<String>,
    pub discovery_url: Option<String>,
    pub issuer: Option<String>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub pkce_enabled: bool,
    pub email_claim_name: Option<String>,
    #[serde(default)]
    pub claims: Vec<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub token_endpoint_auth_method: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawApplication {
    pub name: String,
    pub domain: String,
    pub origin: String,
    pub aud: Option<String>,
    pub session_duration: Option<String>,
    #[serde(default)]
    pub allowed_idps: Vec<String>,
    #[serde(default)]
    pub auto_redirect_to_identity: bool,
    /// `lax` (default), `strict` or `none`.
    pub same_site_cookie_attribute: Option<String>,
    pub http_only_cookie_attribute: Option<bool>,
    pub custom_deny_message: Option<String>,
    pub custom_deny_url: Option<String>,
    /// Where to send requests refused by a non-identity rule (IP, country, service token).
    pub custom_non_identity_deny_url: Option<String>,
    /// Inline policies and references to reusable ones (`{ id = "…", precedence = n }`).
    #[serde(default)]
    pub policies: Vec<serde_json::Value>,
    /// Issue a `CF_Binding` cookie with the app token and refuse the token without it.
    #[serde(default)]
    pub enable_binding_cookie: bool,
    /// Scope the app cookie to the application's path instead of the whole host.
    #[serde(default)]
    pub path_cookie_attribute: bool,
    /// Forward CORS preflight (OPTIONS) requests to the origin without authentication.
    #[serde(default)]
    pub options_preflight_bypass: bool,
    /// Answer CORS preflight requests at the gateway with these settings.
    pub cors_headers: Option<access::RawCors>,
    /// Answer 401 instead of redirecting to the login when no policy lets the request in.
    #[serde(default)]
    pub service_auth_401_redirect: bool,
    /// Read service-token credentials from this one header, as JSON
    /// `{"cf-access-client-id": "…", "cf-access-client-secret": "…"}`.
    pub read_service_tokens_from_header: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// What the gateway runs on.

#[derive(Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub identity_providers: Vec<IdentityProviderConfig>,
    pub applications: Vec<ApplicationConfig>,
    pub organization: OrganizationConfig,
    /// Rule groups and lists, shared by every application's policies.
    pub catalog: Arc<Catalog>,
    /// `[admin] policies`, in evaluation order: who may use the web admin UI besides the
    /// administrators added through its setup step. Empty when the table is absent.
    pub admin_policies: Vec<portcullis_core::Policy>,
    /// The reusable `[[policies]]`, by id.
    pub policies: Vec<(String, Policy)>,
    /// The file's identity providers, applications, policies, rule groups and lists as
    /// declared (after environment overrides), for recording in the store.
    pub declarations: Declarations,
}

/// Only counts: the declarations hold the client and SCIM secrets in clear.
impl std::fmt::Debug for Declarations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Declarations")
            .field("identity_providers", &self.identity_providers.len())
            .field("applications", &self.applications.len())
            .field("policies", &self.policies.len())
            .field("rule_groups", &self.rule_groups.len())
            .field("lists", &self.lists.len())
            .finish()
    }
}

/// Configuration objects as declared, in the configuration file's shape (which is the admin
/// API's): the store keeps these, and the gateway's snapshot is validated from them.
#[derive(Default, Clone)]
pub struct Declarations {
    pub identity_providers: Vec<serde_json::Value>,
    pub applications: Vec<serde_json::Value>,
    pub policies: Vec<serde_json::Value>,
    pub rule_groups: Vec<RuleGroup>,
    pub lists: Vec<List>,
}

pub use access::{
    CorsConfig, LoginDesign, OrganizationConfig, RawAdmin, RawCors, RawLoginDesign, RawOrganization,
};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Lower-case host of the team domain, without port.
    pub team_domain: String,
    pub listen: Option<SocketAddr>,
    pub tls: Option<TlsConfig>,
    /// `scheme://host[:port]` without a trailing slash: the `iss` of our tokens.
    pub team_url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub secret_key: Option<SecretString>,
    /// The bootstrap admin API token (read-write).
    pub admin_token: Option<SecretString>,
    /// The admin API's account id, when the configuration fixes it.
    pub account_id: Option<String>,
    /// Where the admin API listens when it is not on the team domain.
    pub admin_listen: Option<SocketAddr>,
    pub session_duration: Duration,
    pub signing_alg: Algorithm,
    pub key_rotation_interval: Duration,
    /// Whether the file (or environment) set `key_rotation_interval`; the admin API may change
    /// it only when not.
    pub key_rotation_interval_declared: bool,
    /// `None`: logs are kept forever.
    pub log_retention: Option<Duration>,
    pub clock_skew: Duration,
    pub runtime: RuntimeShape,
    /// Lower-case name of the trusted country header, if any.
    pub country_header: Option<http::HeaderName>,
    pub trusted_proxies: Vec<IpRange>,
}

impl ServerConfig {
    /// Whether browsers reach us over HTTPS (cookies get `Secure`).
    pub fn is_https(&self) -> bool {
        self.team_url.starts_with("https://")
    }

    /// `:port` as browsers see it, or empty for the scheme's default port.
    pub fn public_port_suffix(&self) -> &str {
        let without_scheme = self
            .team_url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.team_url);
        match without_scheme.rfind(':') {
            Some(i) if !without_scheme[i..].contains(']') => &without_scheme[i..],
            _ => "",
        }
    }

    /// The URL of a host served by this gateway, with the team URL's scheme and port.
    pub fn url_for_host(&self, host: &str) -> String {
        let scheme = if self.is_https() { "https" } else { "http" };
        format!("{scheme}://{host}{}", self.public_port_suffix())
    }
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeShape {
    CurrentThread,
    MultiThread,
}

#[derive(Debug, Clone)]
pub struct IdentityProviderConfig {
    pub id: Option<Uuid>,
    pub name: String,
    pub provider: ProviderConfig,
    /// Set when SCIM provisioning is enabled for this login method.
    pub scim: Option<ScimConfig>,
}

/// SCIM provisioning settings of a login method, validated.
#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// The secret from the file or environment; `None` means "generate one on first start".
    pub secret: Option<SecretString>,
    pub user_deprovision: bool,
    pub seat_deprovision: bool,
    pub identity_update_behavior: IdentityUpdateBehavior,
}

/// What a change pushed over SCIM does to a user's Portcullis identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityUpdateBehavior {
    /// The SCIM user's groups replace the ID token's groups at the next login.
    Automatic,
    /// A change of the user's group memberships ends their sessions, so they log in again.
    Reauth,
    /// SCIM changes nothing in the identity.
    #[default]
    NoAction,
}

/// Environment variable name for a login method's SCIM secret.
pub fn idp_scim_secret_env_name(idp_name: &str) -> String {
    let client = idp_secret_env_name(idp_name);
    let stem = client.trim_end_matches("_CLIENT_SECRET");
    format!("{stem}_SCIM_SECRET")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApplicationConfig {
    pub name: String,
    pub domain: String,
    pub pattern: DomainPattern,
    pub origin: Url,
    pub aud: Option<String>,
    pub session_duration: Duration,
    /// Names or ids of the login methods allowed; empty = all.
    pub allowed_idps: Vec<String>,
    pub auto_redirect_to_identity: bool,
    pub same_site: SameSite,
    pub http_only: bool,
    pub custom_deny_message: Option<String>,
    pub custom_deny_url: Option<Url>,
    pub custom_non_identity_deny_url: Option<Url>,
    /// In evaluation order.
    pub policies: Vec<Policy>,
    /// Ids of the reusable policies the application references.
    pub policy_refs: Vec<String>,
    pub enable_binding_cookie: bool,
    /// The cookie `Path` when `path_cookie_attribute` is set.
    pub cookie_path: Option<String>,
    pub options_preflight_bypass: bool,
    pub cors: Option<CorsConfig>,
    pub service_auth_401_redirect: bool,
    pub read_service_tokens_from_header: Option<http::HeaderName>,
}

const MAX_SESSION: Duration = Duration::from_secs(31 * 24 * 3600);

impl Config {
    /// Reads the file, applies `PORTCULLIS_*` overrides from `env`, and validates.
    pub fn load(path: &Path, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw = Self::parse_toml(&text, &path.display().to_string())?;
        Self::from_raw(raw, env)
    }

    pub fn parse_toml(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })
    }

    /// Applies the environment and validates.
    pub fn from_raw(mut raw: RawConfig, env: &[(String, String)]) -> Result<Config, ConfigError> {
        apply_env(&mut raw, env)?;
        validate(raw)
    }
}

/// The process environment as pairs, for [`Config::load`].
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("PORTCULLIS_"))
        .collect()
}

/// Environment variable name for a login method's client secret.
pub fn idp_secret_env_name(idp_name: &str) -> String {
    let mut name = String::from("PORTCULLIS_IDP_");
    for c in idp_name.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_uppercase());
        } else {
            name.push('_');
        }
    }
    name.push_str("_CLIENT_SECRET");
    name
}

fn apply_env(raw: &mut RawConfig, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (key, value) in env {
        let s = &mut raw.server;
        let v = Some(value.clone());
        match key.as_str() {
            "PORTCULLIS_TEAM_DOMAIN" => s.team_domain = v,
            "PORTCULLIS_LISTEN" => s.listen = v,
            "PORTCULLIS_PUBLIC_URL" => s.public_url = v,
            "PORTCULLIS_DATA_DIR" => s.data_dir = Some(PathBuf::from(value)),
            "PORTCULLIS_DATABASE_URL" => s.database_url = v,
            "PORTCULLIS_SECRET_KEY" => s.secret_key = v,
            "PORTCULLIS_SESSION_DURATION" => s.session_duration = v,
            "PORTCULLIS_SIGNING_ALG" => s.signing_alg = v,
            "PORTCULLIS_KEY_ROTATION_INTERVAL" => s.key_rotation_interval = v,
            "PORTCULLIS_LOG_RETENTION" => s.log_retention = v,
            "PORTCULLIS_CLOCK_SKEW" => s.clock_skew = v,
            "PORTCULLIS_RUNTIME" => s.runtime = v,
            "PORTCULLIS_ADMIN_TOKEN" => s.admin_token = v,
            "PORTCULLIS_ACCOUNT_ID" => s.account_id = v,
            "PORTCULLIS_ADMIN_LISTEN" => s.admin_listen = v,
            "PORTCULLIS_LOG" | "PORTCULLIS_LOG_FORMAT" | "PORTCULLIS_CONFIG" => {}
            other => {
                let target = raw.identity_providers.iter_mut().find_map(|idp| {
                    if idp_secret_env_name(&idp.name) == other {
                        Some((idp, false))
                    } else if idp_scim_secret_env_name(&idp.name) == other {
                        Some((idp, true))
                    } else {
                        None
                    }
                });
                match target {
                    Some((idp, false)) => idp.config.client_secret = v,
                    Some((idp, true)) => idp.scim_config.get_or_insert_default().secret = v,
                    None => {
                        return Err(invalid(
                            other,
                            "unknown PORTCULLIS_* environment variable; known: PORTCULLIS_TEAM_DOMAIN, \
                             PORTCULLIS_LISTEN, PORTCULLIS_PUBLIC_URL, PORTCULLIS_DATA_DIR, \
                             PORTCULLIS_DATABASE_URL, PORTCULLIS_SECRET_KEY, \
                             PORTCULLIS_SESSION_DURATION, PORTCULLIS_SIGNING_ALG, \
                             PORTCULLIS_KEY_ROTATION_INTERVAL, PORTCULLIS_CLOCK_SKEW, \
                             PORTCULLIS_RUNTIME, PORTCULLIS_LOG, and \
                             PORTCULLIS_IDP_<NAME>_CLIENT_SECRET and \
                             PORTCULLIS_IDP_<NAME>_SCIM_SECRET for a declared login method",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn duration(key: &str, value: Option<&str>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse_go_duration(v).map_err(|e| {
            invalid(
                key,
                format!("{e}; write a Go-style duration such as `24h`, `2h45m` or `30s`"),
            )
        }),
    }
}

fn socket_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            key,
            format!("`{value}` is not an address:port such as `127.0.0.1:8080` or `[::]:443`"),
        )
    })
}

fn host_only(key: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() {
        return Err(invalid(
            key,
            "must not be empty; give a host name such as `auth.example.com`",
        ));
    }
    if v.contains("://") || v.contains('/') || v.contains(':') || v.contains(char::is_whitespace) {
        return Err(invalid(
            key,
            format!(
                "`{value}` must be a bare host name such as `auth.example.com` (no scheme, port or path)"
            ),
        ));
    }
    Ok(v)
}

fn http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| {
        invalid(
            key,
            format!("`{value}` is not a URL ({e}); write e.g. `https://idp.example.com/...`"),
        )
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(
            key,
            format!("`{value}` must be an http:// or https:// URL"),
        ));
    }
    if url.host_str().is_none() {
        return Err(invalid(key, format!("`{value}` has no host")));
    }
    Ok(url)
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    // Serialising these plain structs cannot fail (string keys only).
    let declarations = Declarations {
        identity_providers: raw
            .identity_providers
            .iter()
            .map(|v| serde_json::to_value(v).unwrap_or_default())
            .collect(),
        applications: raw
            .applications
            .iter()
            .map(|v| serde_json::to_value(v).unwrap_or_default())
            .collect(),
        policies: raw.policies.clone(),
        rule_groups: raw.rule_groups.clone(),
        lists: raw.lists.clone(),
    };
    let s = raw.server;
    let team_domain = host_only(
        "server.team_domain",
        s.team_domain
            .as_deref()
            .ok_or_else(|| invalid("server.team_domain", "is required: the host where login, callback and certs live, e.g. `auth.example.com`"))?,
    )?;
    let listen = s
        .listen
        .as_deref()
        .map(|v| socket_addr("server.listen", v))
        .transpose()?;
    let tls = match s.tls {
        None => None,
        Some(t) => {
            for (k, p) in [("server.tls.cert", &t.cert), ("server.tls.key", &t.key)] {
                if !p.is_file() {
                    return Err(invalid(
                        k,
                        format!("{} is not a readable file (PEM expected)", p.display()),
                    ));
                }
            }
            Some(TlsConfig {
                listen: socket_addr(
                    "server.tls.listen",
                    t.listen.as_deref().unwrap_or("0.0.0.0:8443"),
                )?,
                cert: t.cert,
                key: t.key,
            })
        }
    };
    let listen = match (&listen, &tls) {
        (None, None) => Some(socket_addr("server.listen", "127.0.0.1:8080")?),
        _ => listen,
    };
    let team_url = match s.public_url.as_deref() {
        Some(u) => {
            let url = http_url("server.public_url", u)?;
            if url.host_str().map(|h| h.to_ascii_lowercase()) != Some(team_domain.clone()) {
                return Err(invalid(
                    "server.public_url",
                    format!("host must be the team domain `{team_domain}`"),
                ));
            }
            if url.path() != "/" || url.query().is_some() {
                return Err(invalid(
                    "server.public_url",
                    "must have no path or query, e.g. `https://auth.example.com`",
                ));
            }
            url.as_str().trim_end_matches('/').to_owned()
        }
        None => match (&tls, &listen) {
            (Some(t), _) => match t.listen.port() {
                443 => format!("https://{team_domain}"),
                p => format!("https://{team_domain}:{p}"),
            },
            (None, Some(l)) => match l.port() {
                80 => format!("http://{team_domain}"),
                p => format!("http://{team_domain}:{p}"),
            },
            (None, None) => format!("http://{team_domain}"),
        },
    };
    let data_dir = s.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
    let database_url = match s.database_url {
        Some(u)
            if ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| u.starts_with(scheme)) =>
        {
            u
        }
        Some(u) => {
            return Err(invalid(
                "server.database_url",
                format!(
                    "`{}` is not supported; use `sqlite://path/to/portcullis.db` or \
                     `postgres://user:password@host/database`",
                    redact_url(&u)
                ),
            ));
        }
        None => format!("sqlite://{}", data_dir.join("portcullis.db").display()),
    };
    let session_duration = duration(
        "server.session_duration",
        s.session_duration.as_deref(),
        Duration::from_secs(24 * 3600),
    )?;
    if session_duration < Duration::from_secs(15 * 60) || session_duration > MAX_SESSION {
        return Err(invalid(
            "server.session_duration",
            "must be between 15m and 744h (one month)",
        ));
    }
    let signing_alg = match s.signing_alg.as_deref().unwrap_or("RS256") {
        "RS256" => Algorithm::Rs256,
        "ES256" => Algorithm::Es256,
        "EdDSA" => Algorithm::EdDsa,
        other => {
            return Err(invalid(
                "server.signing_alg",
                format!(
                    "`{other}` is not offered; choose RS256 (default, what Cloudflare uses), ES256 or EdDSA"
                ),
            ));
        }
    };
    let key_rotation_interval = duration(
        "server.key_rotation_interval",
        s.key_rotation_interval.as_deref(),
        Duration::from_secs(42 * 24 * 3600),
    )?;
    if key_rotation_interval < Duration::from_secs(3600) {
        return Err(invalid(
            "server.key_rotation_interval",
            "must be at least 1h",
        ));
    }
    let log_retention = duration(
        "server.log_retention",
        s.log_retention.as_deref(),
        Duration::from_secs(90 * 24 * 3600),
    )?;
    if !log_retention.is_zero() && log_retention < Duration::from_secs(24 * 3600) {
        return Err(invalid(
            "server.log_retention",
            "must be at least 24h, or 0s to keep logs forever",
        ));
    }
    let log_retention = (!log_retention.is_zero()).then_some(log_retention);
    let clock_skew = duration(
        "server.clock_skew",
        s.clock_skew.as_deref(),
        Duration::from_secs(60),
    )?;
    if clock_skew > Duration::from_secs(600) {
        return Err(invalid("server.clock_skew", "must be at most 10m"));
    }
    let runtime = match s.runtime.as_deref().unwrap_or("current_thread") {
        "current_thread" => RuntimeShape::CurrentThread,
        "multi_thread" => RuntimeShape::MultiThread,
        other => {
            return Err(invalid(
                "server.runtime",
                format!(
                    "`{other}` is not a runtime shape; choose `current_thread` or `multi_thread`"
                ),
            ));
        }
    };
    let server = ServerConfig {
        team_domain,
        listen,
        tls,
        team_url,
        data_dir,
        database_url,
        secret_key: s.secret_key.map(SecretString::from),
        account_id: match s.account_id {
            Some(id) => {
                let id = id.trim().to_ascii_lowercase();
                if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid(
                        "server.account_id",
                        "must be 32 hexadecimal characters (like a Cloudflare account id), or left out to generate one",
                    ));
                }
                Some(id)
            }
            None => None,
        },
        admin_listen: s
            .admin_listen
            .as_deref()
            .map(|v| socket_addr("server.admin_listen", v))
            .transpose()?,
        admin_token: match s.admin_token {
            Some(t) if t.trim().chars().count() < 16 => {
                return Err(invalid(
                    "server.admin_token",
                    "must be at least 16 characters (e.g. `openssl rand -hex 32`)",
                ));
            }
            Some(t) => Some(SecretString::from(t.trim().to_owned())),
            None => None,
        },
        session_duration,
        signing_alg,
        key_rotation_interval,
        key_rotation_interval_declared: s.key_rotation_interval.is_some(),
        log_retention,
        clock_skew,
        runtime,
        country_header: s
            .country_header
            .as_deref()
            .map(|h| {
                http::HeaderName::from_bytes(h.trim().as_bytes()).map_err(|_| {
                    invalid(
                        "server.country_header",
                        format!("`{h}` is not a header name; write e.g. \"CF-IPCountry\""),
                    )
                })
            })
            .transpose()?,
        trusted_proxies: s
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                IpRange::parse(p)
                    .map_err(|e| invalid(format!("server.trusted_proxies[{i}]"), e.to_string()))
            })
            .collect::<Result<_, _>>()?,
    };
    let organization = access::organization(raw.organization)?;
    let catalog = access::catalog(raw.rule_groups, raw.lists)?;
    let reusable = access::reusable_policies(raw.policies, &catalog)?;

    let mut identity_providers = Vec::new();
    for (i, idp) in raw.identity_providers.into_iter().enumerate() {
        identity_providers.push(validate_idp(
            &format!("identity_providers[{i}]"),
            idp,
            clock_skew,
        )?);
    }
    for (i, a) in identity_providers.iter().enumerate() {
        if identity_providers[..i].iter().any(|b| b.name == a.name) {
            return Err(invalid(
                format!("identity_providers[{i}].name"),
                format!("`{}` is used twice; names must be unique", a.name),
            ));
        }
        if a.id.is_some() && identity_providers[..i].iter().any(|b| b.id == a.id) {
            return Err(invalid(
                format!("identity_providers[{i}].id"),
                "is used twice; ids must be unique",
            ));
        }
    }

    let mut applications = Vec::new();
    for (i, app) in raw.applications.into_iter().enumerate() {
        applications.push(validate_app(
            &format!("applications[{i}]"),
            app,
            &identity_providers,
            &server,
            &reusable,
            &catalog,
        )?);
    }
    for (i, a) in applications.iter().enumerate() {
        if applications[..i].iter().any(|b| b.name == a.name) {
            return Err(invalid(
                format!("applications[{i}].name"),
                format!("`{}` is used twice; names must be unique", a.name),
            ));
        }
        if applications[..i].iter().any(|b| b.domain == a.domain) {
            return Err(invalid(
                format!("applications[{i}].domain"),
                format!(
                    "`{}` is already the domain of another application",
                    a.domain
                ),
            ));
        }
    }
    let admin_policies = access::admin_policies(raw.admin, &reusable, &catalog)?;
    Ok(Config {
        server,
        identity_providers,
        applications,
        organization,
        catalog: Arc::new(catalog),
        admin_policies,
        policies: {
            let mut list: Vec<(String, Policy)> = reusable.into_iter().collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            list
        },
        declarations,
    })
}

/// `prefix.key`, or `key` alone when there is no prefix.
pub(crate) fn field_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn redact_url(u: &str) -> String {
    match Url::parse(u) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// Validates one identity provider; error keys start with `prefix` (e.g.
/// `identity_providers[0]`, or nothing for an admin API body).
pub(crate) fn validate_idp(
    prefix: &str,
    raw: RawIdentityProvider,
    clock_skew: Duration,
) -> Result<IdentityProviderConfig, ConfigError> {
    let key = |k: &str| field_key(prefix, k);
    if raw.name.trim().is_empty() {
        return Err(invalid(
            key("name"),
            "must not be empty: it is shown to users on the login page",
        ));
    }
    if raw.kind != "oidc" {
        return Err(invalid(
            key("type"),
            format!(
                "`{}` is not supported; this version supports `oidc`",
                raw.kind
            ),
        ));
    }
    let id = raw
        .id
        .as_deref()
        .map(|v| Uuid::parse_str(v).map_err(|_| invalid(key("id"), format!("`{v}` is not a UUID"))))
        .transpose()?;
    let c = raw.config;
    if c.client_id.trim().is_empty() {
        return Err(invalid(key("config.client_id"), "must not be empty"));
    }
    let client_secret = c.client_secret.unwrap_or_default();
    if client_secret.is_empty() {
        return Err(invalid(
            key("config.client_secret"),
            format!("is required (or set {})", idp_secret_env_name(&raw.name)),
        ));
    }
    let url_opt = |k: &str, v: &Option<String>| -> Result<Option<Url>, ConfigError> {
        v.as_deref()
            .map(|v| http_url(&key(&format!("config.{k}")), v))
            .transpose()
    };
    let auth_url = url_opt("auth_url", &c.auth_url)?;
    let token_url = url_opt("token_url", &c.token_url)?;
    let certs_url = url_opt("certs_url", &c.certs_url)?;
    let discovery_url = url_opt("discovery_url", &c.discovery_url)?;
    if let Some(iss) = &c.issuer {
        http_url(&key("config.issuer"), iss)?;
    }
    if discovery_url.is_none() && c.issuer.is_none() {
        for (k, v) in [
            ("auth_url", &auth_url),
            ("token_url", &token_url),
            ("certs_url", &certs_url),
        ] {
            if v.is_none() {
                return Err(invalid(
                    key(&format!("config.{k}")),
                    "is required unless `discovery_url` or `issuer` is given (they fill it from the IdP's discovery document)",
                ));
            }
        }
    }
    let token_auth = match c.token_endpoint_auth_method.as_deref() {
        None | Some("client_secret_basic") => TokenAuthMethod::ClientSecretBasic,
        Some("client_secret_post") => TokenAuthMethod::ClientSecretPost,
        Some(other) => {
            return Err(invalid(
                key("config.token_endpoint_auth_method"),
                format!(
                    "`{other}` is not supported; choose `client_secret_basic` or `client_secret_post`"
                ),
            ));
        }
    };
    let scopes = c
        .scopes
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
    if scopes
        .iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return Err(invalid(
            key("config.scopes"),
            "each scope must be one non-empty word",
        ));
    }
    let email_claim_name = c.email_claim_name.unwrap_or_else(|| "email".into());
    if email_claim_name.trim().is_empty() {
        return Err(invalid(
            key("config.email_claim_name"),
            "must not be empty (default `email`)",
        ));
    }
    if c.claims.iter().any(|s| s.trim().is_empty()) {
        return Err(invalid(
            key("config.claims"),
            "claim names must not be empty",
        ));
    }
    let mut provider = ProviderConfig::new(c.client_id, client_secret);
    provider.auth_url = auth_url;
    provider.token_url = token_url;
    provider.certs_url = certs_url;
    provider.discovery_url = discovery_url;
    provider.issuer = c.issuer;
    provider.scopes = scopes;
    provider.pkce_enabled = c.pkce_enabled;
    provider.email_claim_name = email_claim_name;
    provider.claims = c.claims;
    provider.token_auth = token_auth;
    provider.clock_skew = clock_skew;
    let scim = raw
        .scim_config
        .map(|c| validate_scim(c, &raw.name, &key))
        .transpose()?
        .flatten();
    Ok(IdentityProviderConfig {
        id,
        name: raw.name,
        provider,
        scim,
    })
}

/// `None` when SCIM is not enabled (the other settings are then ignored, as Cloudflare keeps
/// them while SCIM is off).
fn validate_scim(
    c: RawScimConfig,
    idp_name: &str,
    key: &dyn Fn(&str) -> String,
) -> Result<Option<ScimConfig>, ConfigError> {
    if c.seat_deprovision && !c.user_deprovision {
        return Err(invalid(
            key("scim_config.seat_deprovision"),
            "needs `user_deprovision = true` (a seat is freed only when the user is deprovisioned)",
        ));
    }
    let identity_update_behavior = match c.identity_update_behavior.as_deref() {
        None | Some("no_action") | Some("noaction") => IdentityUpdateBehavior::NoAction,
        Some("automatic") => IdentityUpdateBehavior::Automatic,
        Some("reauth") => IdentityUpdateBehavior::Reauth,
        Some(other) => {
            return Err(invalid(
                key("scim_config.identity_update_behavior"),
                format!("`{other}` is not one of `automatic`, `reauth`, `no_action`"),
            ));
        }
    };
    if let Some(secret) = &c.secret
        && secret.len() < 16
    {
        return Err(invalid(
            key("scim_config.secret"),
            format!(
                "must be at least 16 characters (or leave it out to have one generated; it may \
                 also come from {})",
                idp_scim_secret_env_name(idp_name)
            ),
        ));
    }
    if !c.enabled {
        return Ok(None);
    }
    Ok(Some(ScimConfig {
        secret: c.secret.map(SecretString::from),
        user_deprovision: c.user_deprovision,
        seat_deprovision: c.seat_deprovision,
        identity_update_behavior,
    }))
}

/// Validates one application against the login methods, reusable policies and catalog it may
/// refer to; error keys start with `prefix` (e.g. `applications[0]`, or nothing).
pub(crate) fn validate_app(
    prefix: &str,
    raw: RawApplication,
    idps: &[IdentityProviderConfig],
    server: &ServerConfig,
    reusable: &std::collections::HashMap<String, Policy>,
    catalog: &Catalog,
) -> Result<ApplicationConfig, ConfigError> {
    let key = |k: &str| field_key(prefix, k);
    if raw.name.trim().is_empty() {
        return Err(invalid(key("name"), "must not be empty"));
    }
    let domain = raw.domain.trim().to_ascii_lowercase();
    let pattern =
        DomainPattern::parse(&domain).map_err(|e| invalid(key("domain"), e.to_string()))?;
    if pattern.matches(&server.team_domain, "/") {
        return Err(invalid(
            key("domain"),
            format!(
                "covers the team domain `{}`; give the application its own host",
                server.team_domain
            ),
        ));
    }
    let origin = http_url(&key("origin"), &raw.origin)?;
    if origin.query().is_some() || origin.fragment().is_some() {
        return Err(invalid(key("origin"), "must not have a query or fragment"));
    }
    let aud = match raw.aud {
        None => None,
        Some(a) => {
            let a = a.to_ascii_lowercase();
            if a.len() != 64 || !a.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    key("aud"),
                    "must be 64 hexadecimal characters (an AUD tag), or left out to generate one",
                ));
            }
            Some(a)
        }
    };
    let session_duration = duration(
        &key("session_duration"),
        raw.session_duration.as_deref(),
        Duration::from_secs(24 * 3600),
    )?;
    if session_duration > MAX_SESSION {
        return Err(invalid(
            key("session_duration"),
            "must be at most 744h (one month)",
        ));
    }
    for (j, name) in raw.allowed_idps.iter().enumerate() {
        let known = idps.iter().any(|p| {
            &p.name == name || p.id.map(|id| id.to_string()) == Some(name.to_ascii_lowercase())
        });
        if !known {
            let names: Vec<&str> = idps.iter().map(|p| p.name.as_str()).collect();
            return Err(invalid(
                key(&format!("allowed_idps[{j}]")),
                format!("`{name}` is not a declared login method; declared: {names:?}"),
            ));
        }
    }
    let allowed_count = if raw.allowed_idps.is_empty() {
        idps.len()
    } else {
        raw.allowed_idps.len()
    };
    if raw.auto_redirect_to_identity && allowed_count != 1 {
        return Err(invalid(
            key("auto_redirect_to_identity"),
            "needs exactly one allowed login method (set `allowed_idps` to one)",
        ));
    }
    let same_site = match raw
        .same_site_cookie_attribute
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("lax") => SameSite::Lax,
        Some("strict") => SameSite::Strict,
        Some("none") => SameSite::None,
        Some(other) => {
            return Err(invalid(
                key("same_site_cookie_attribute"),
                format!("`{other}` is not one of `lax`, `strict`, `none`"),
            ));
        }
    };
    if same_site == SameSite::None && !server.is_https() {
        return Err(invalid(
            key("same_site_cookie_attribute"),
            "`none` needs HTTPS: browsers drop SameSite=None cookies that are not Secure",
        ));
    }
    let custom_deny_url = raw
        .custom_deny_url
        .as_deref()
        .map(|u| http_url(&key("custom_deny_url"), u))
        .transpose()?;
    if raw.policies.is_empty() {
        return Err(invalid(
            key("policies"),
            "needs at least one policy: without one nobody is allowed in (deny by default)",
        ));
    }
    let policy_refs: Vec<String> = raw
        .policies
        .iter()
        .filter_map(|v| v.as_object().and_then(access::reference_id))
        .map(str::to_owned)
        .collect();
    let policies = access::app_policies(prefix, raw.policies, reusable, catalog)?;
    let custom_non_identity_deny_url = raw
        .custom_non_identity_deny_url
        .as_deref()
        .map(|u| http_url(&key("custom_non_identity_deny_url"), u))
        .transpose()?;
    let cors = raw
        .cors_headers
        .map(|c| access::cors(prefix, c))
        .transpose()?;
    let read_service_tokens_from_header = raw
        .read_service_tokens_from_header
        .as_deref()
        .map(|h| {
            http::HeaderName::from_bytes(h.trim().as_bytes())
                .map_err(|_| invalid(key("read_service_tokens_from_header"), "not a header name"))
        })
        .transpose()?;
    let cookie_path = if raw.path_cookie_attribute {
        match (pattern.path(), pattern.launch_path()) {
            (Some(_), Some(path)) => Some(match path.trim_end_matches('/') {
                "" => "/".to_owned(),
                trimmed => trimmed.to_owned(),
            }),
            _ => {
                return Err(invalid(
                    key("path_cookie_attribute"),
                    "needs an application domain with a literal path (e.g. \
                     `app.example.com/admin`) to scope the cookie to",
                ));
            }
        }
    } else {
        None
    };
    Ok(ApplicationConfig {
        name: raw.name,
        domain,
        pattern,
        origin,
        aud,
        session_duration,
        allowed_idps: raw.allowed_idps,
        auto_redirect_to_identity: raw.auto_redirect_to_identity,
        same_site,
        http_only: raw.http_only_cookie_attribute.unwrap_or(true),
        custom_deny_message: raw.custom_deny_message,
        custom_deny_url,
        custom_non_identity_deny_url,
        policies,
        policy_refs,
        enable_binding_cookie: raw.enable_binding_cookie,
        cookie_path,
        options_preflight_bypass: raw.options_preflight_bypass,
        cors,
        service_auth_401_redirect: raw.service_auth_401_redirect,
        read_service_tokens_from_header,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const EXAMPLE: &str = r#"
[server]
team_domain = "auth.localhost"
listen = "127.0.0.1:8080"
public_url = "http://auth.localhost:8080"
data_dir = "./data"

[[identity_providers]]
id = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c"
name = "Example IdP"
type = "oidc"
config = { client_id = "portcullis", client_secret = "s3cret", discovery_url = "http://127.0.0.1:9000/.well-known/openid-configuration", pkce_enabled = true, claims = ["employee_id", "roles"] }

[[applications]]
name = "whoami"
domain = "whoami.localhost"
origin = "http://127.0.0.1:8090"
policies = [{ name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] }]
"#;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_raw(Config::parse_toml(text, "test.toml")?, &env)
    }

    #[test]
    fn the_issue_example_works_as_written() {
        let c = load(EXAMPLE, &[]).unwrap();
        assert_eq!(c.server.team_url, "http://auth.localhost:8080");
        assert_eq!(
            c.server.url_for_host("whoami.localhost"),
            "http://whoami.localhost:8080"
        );
        assert_eq!(
            c.identity_providers[0].provider.claims,
            ["employee_id", "roles"]
        );
        assert!(c.identity_providers[0].provider.pkce_enabled);
        assert_eq!(
            c.applications[0].session_duration,
            Duration::from_secs(86400)
        );
        assert_eq!(c.server.database_url, "sqlite://./data/portcullis.db");
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = load(
            EXAMPLE,
            &[
                ("PORTCULLIS_LISTEN", "127.0.0.1:9999"),
                ("PORTCULLIS_PUBLIC_URL", "https://auth.localhost"),
                ("PORTCULLIS_IDP_EXAMPLE_IDP_CLIENT_SECRET", "from-env"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.listen.unwrap().port(), 9999);
        assert_eq!(c.server.team_url, "https://auth.localhost");
        assert_eq!(c.identity_providers[0].provider.client_secret, "from-env");
    }

    #[test]
    fn unknown_environment_variable_is_named() {
        let err = load(EXAMPLE, &[("PORTCULLIS_LISTN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PORTCULLIS_LISTN"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load(&EXAMPLE.replace("data_dir", "datadir"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("datadir"), "{err}");
    }

    #[test]
    fn errors_name_the_key_and_say_what_is_valid() {
        let cases = [
            (
                EXAMPLE.replace("127.0.0.1:8080\"", "localhost-8080\""),
                "server.listen",
            ),
            (
                EXAMPLE.replace("type = \"oidc\"", "type = \"saml\""),
                "identity_providers[0].type",
            ),
            (
                EXAMPLE.replace("origin = \"http://127.0.0.1:8090\"", "origin = \"ftp://x\""),
                "applications[0].origin",
            ),
            (
                EXAMPLE.replace(
                    "domain = \"whoami.localhost\"",
                    "domain = \"https://whoami.localhost\"",
                ),
                "applications[0].domain",
            ),
            (
                EXAMPLE.replace("decision = \"allow\"", "decision = \"maybe\""),
                "applications[0].policies[0]",
            ),
            (
                EXAMPLE.replace("include = [", "exclude = ["),
                "applications[0].policies[0]",
            ),
            (
                EXAMPLE.replace(
                    "discovery_url = \"http://127.0.0.1:9000/.well-known/openid-configuration\", ",
                    "",
                ),
                "config.auth_url",
            ),
            (
                EXAMPLE.replace("[server]\n", "[server]\nsession_duration = \"5m\"\n"),
                "server.session_duration",
            ),
            (
                EXAMPLE.replace("[server]\n", "[server]\nsigning_alg = \"HS256\"\n"),
                "server.signing_alg",
            ),
        ];
        for (text, key) in cases {
            let err = load(&text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "expected `{key}` in: {err}");
        }
    }

    #[test]
    fn public_url_must_be_the_team_domain() {
        let err = load(
            &EXAMPLE.replace("http://auth.localhost:8080", "http://other.localhost:8080"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.public_url"), "{err}");
    }

    #[test]
    fn client_secret_is_never_in_debug_output() {
        let c = load(EXAMPLE, &[]).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    // ---- scim_config ----------------------------------------------------------------------

    const SCIM_SECRET_ENV: &str = "PORTCULLIS_IDP_EXAMPLE_IDP_SCIM_SECRET";

    /// The example with `scim_config = { <settings> }` on its login method.
    fn with_scim(settings: &str) -> String {
        EXAMPLE.replace(
            "claims = [\"employee_id\", \"roles\"] }\n",
            &format!("claims = [\"employee_id\", \"roles\"] }}\nscim_config = {{ {settings} }}\n"),
        )
    }

    fn scim_of(c: &Config) -> Option<&ScimConfig> {
        c.identity_providers[0].scim.as_ref()
    }

    fn scim_error(settings: &str, env: &[(&str, &str)]) -> String {
        load(&with_scim(settings), env).unwrap_err().to_string()
    }

    #[test]
    fn scim_settings_are_read_with_cloudflare_defaults() {
        let c = load(&with_scim("enabled = true"), &[]).unwrap();
        let scim = scim_of(&c).expect("enabled");
        assert!(scim.secret.is_none(), "generated on first start");
        assert!(!scim.user_deprovision && !scim.seat_deprovision);
        assert_eq!(
            scim.identity_update_behavior,
            IdentityUpdateBehavior::NoAction
        );
        let c = load(
            &with_scim(
                "enabled = true, secret = \"0123456789abcdef\", user_deprovision = true, \
                 seat_deprovision = true",
            ),
            &[],
        )
        .unwrap();
        let scim = scim_of(&c).unwrap();
        assert_eq!(
            scim.secret.as_ref().unwrap().expose_secret(),
            "0123456789abcdef"
        );
        assert!(scim.user_deprovision && scim.seat_deprovision);
        assert!(
            load(EXAMPLE, &[]).unwrap().identity_providers[0]
                .scim
                .is_none()
        );
    }

    #[test]
    fn scim_disabled_keeps_no_settings() {
        let c = load(&with_scim("enabled = false, user_deprovision = true"), &[]).unwrap();
        assert!(scim_of(&c).is_none());
    }

    #[test]
    fn seat_deprovision_without_user_deprovision_is_refused() {
        let err = scim_error("enabled = true, seat_deprovision = true", &[]);
        assert!(
            err.contains("identity_providers[0].scim_config.seat_deprovision"),
            "{err}"
        );
        assert!(err.contains("user_deprovision = true"), "{err}");
        // Refused even while SCIM is off: the combination is meaningless either way.
        let err = scim_error("seat_deprovision = true", &[]);
        assert!(err.contains("seat_deprovision"), "{err}");
    }

    #[test]
    fn a_short_scim_secret_is_refused_and_the_error_names_both_places_it_can_come_from() {
        let err = scim_error("enabled = true, secret = \"fifteen-chars!!\"", &[]);
        assert!(
            err.contains("identity_providers[0].scim_config.secret"),
            "{err}"
        );
        assert!(err.contains("at least 16"), "{err}");
        assert!(err.contains(SCIM_SECRET_ENV), "{err}");
        assert!(
            !err.contains("fifteen-chars"),
            "the secret is not echoed: {err}"
        );
        let err = scim_error("enabled = true", &[(SCIM_SECRET_ENV, "short")]);
        assert!(err.contains("scim_config.secret"), "{err}");
        let ok = load(
            &with_scim("enabled = true, secret = \"sixteen-chars!!!\""),
            &[],
        );
        assert!(ok.is_ok(), "16 characters are enough");
    }

    #[test]
    fn the_scim_secret_environment_variable_overrides_the_file() {
        assert_eq!(idp_scim_secret_env_name("Example IdP"), SCIM_SECRET_ENV);
        let from_env = "secret-from-the-environment";
        let c = load(&with_scim("enabled = true"), &[(SCIM_SECRET_ENV, from_env)]).unwrap();
        let secret = scim_of(&c).unwrap().secret.as_ref().unwrap();
        assert_eq!(secret.expose_secret(), from_env);
        let c = load(
            &with_scim("enabled = true, secret = \"secret-from-the-file\""),
            &[(SCIM_SECRET_ENV, from_env)],
        )
        .unwrap();
        assert_eq!(
            scim_of(&c)
                .unwrap()
                .secret
                .as_ref()
                .unwrap()
                .expose_secret(),
            from_env
        );
        // The variable supplies a secret; it does not enable SCIM on its own.
        let c = load(EXAMPLE, &[(SCIM_SECRET_ENV, from_env)]).unwrap();
        assert!(scim_of(&c).is_none());
        assert!(!format!("{c:?}").contains(from_env));
        // A variable for a login method that is not declared is an error that names it.
        let err = load(EXAMPLE, &[("PORTCULLIS_IDP_OTHER_SCIM_SECRET", from_env)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PORTCULLIS_IDP_OTHER_SCIM_SECRET"), "{err}");
    }

    #[test]
    fn identity_update_behavior_takes_the_three_cloudflare_values() {
        for (written, expected) in [
            ("automatic", IdentityUpdateBehavior::Automatic),
            ("reauth", IdentityUpdateBehavior::Reauth),
            ("no_action", IdentityUpdateBehavior::NoAction),
        ] {
            let c = load(
                &with_scim(&format!(
                    "enabled = true, identity_update_behavior = \"{written}\""
                )),
                &[],
            )
            .unwrap();
            assert_eq!(
                scim_of(&c).unwrap().identity_update_behavior,
                expected,
                "{written}"
            );
        }
        let err = scim_error(
            "enabled = true, identity_update_behavior = \"sometimes\"",
            &[],
        );
        assert!(
            err.contains("identity_providers[0].scim_config.identity_update_behavior"),
            "{err}"
        );
        assert!(err.contains("`automatic`, `reauth`, `no_action`"), "{err}");
    }

    #[test]
    fn unknown_scim_settings_are_named() {
        let err = scim_error("enabled = true, deprovision = true", &[]);
        assert!(err.contains("deprovision"), "{err}");
    }
}
