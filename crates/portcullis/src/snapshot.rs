//! The configuration objects in force on this node, as the request path reads them: the
//! applications (with what their policies need decided once), the login methods, the reusable
//! policies and the catalog of rule groups and lists. Built by [`crate::objects`] from the store
//! and swapped whole when the configuration changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{AppRouter, Catalog, DomainPattern, IdpId, Policy, Rule};
use portcullis_oidc::Provider;
use url::Url;
use uuid::Uuid;

use crate::config::{CorsConfig, SameSite};

/// A protected application as the data plane sees it.
#[derive(Debug)]
pub struct App {
    pub id: Uuid,
    pub name: String,
    pub aud: String,
    pub domain: String,
    pub pattern: DomainPattern,
    pub origin: Url,
    /// The origin's scheme and authority, parsed once.
    pub origin_scheme: http::uri::Scheme,
    pub origin_authority: http::uri::Authority,
    /// The origin URL's path without a trailing slash (usually empty).
    pub origin_base: String,
    pub session_duration: Duration,
    pub allowed_idps: Vec<IdpId>,
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
    /// `Path` of the app cookie when scoped to the application's path.
    pub cookie_path: Option<String>,
    pub options_preflight_bypass: bool,
    pub cors: Option<CorsConfig>,
    pub service_auth_401_redirect: bool,
    pub read_service_tokens_from_header: Option<http::HeaderName>,
    /// Whether an Allow or Block policy has a rule that depends on the request (IP, country,
    /// service token): such rules are re-checked on every request, not only at sign-in.
    pub has_request_rules: bool,
    /// Whether a Bypass or Service Auth policy, or a request-dependent rule, can decide before
    /// anyone signs in; when not, an unauthenticated request goes straight to the login.
    pub decides_before_login: bool,
    /// Whether the app has an Allow policy: only then may a token minted from a service token be
    /// reused instead of presenting the credentials on every request.
    pub has_allow_policy: bool,
    /// Whether the app has a Service Auth policy: a request that no policy lets in is then
    /// answered like a missing credential (login or 401), not with the non-identity page.
    pub has_service_auth: bool,
    /// Declared in the configuration file (not editable through the API or UI).
    pub read_only: bool,
    /// The stored declaration (configuration file shape, without name, domain and AUD).
    pub declaration: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl App {
    /// Whether a login method may be used for this application.
    pub fn allows_idp(&self, idp: IdpId) -> bool {
        self.allowed_idps.is_empty() || self.allowed_idps.contains(&idp)
    }
}

/// Whether a rule's outcome can change from one request to the next (IP, country, service
/// token), looking inside rule groups.
fn depends_on_request(rule: &Rule, catalog: &Catalog, depth: usize) -> bool {
    match rule {
        Rule::Ip(_)
        | Rule::IpList(_)
        | Rule::Geo(_)
        | Rule::ServiceToken(_)
        | Rule::AnyValidServiceToken(_) => true,
        Rule::Group(g) if depth < portcullis_core::MAX_GROUP_DEPTH + 1 => {
            catalog.group(&g.id).is_some_and(|group| {
                group
                    .include
                    .iter()
                    .chain(&group.exclude)
                    .chain(&group.require)
                    .any(|r| depends_on_request(r, catalog, depth + 1))
            })
        }
        _ => false,
    }
}

pub fn policy_depends_on_request(policy: &Policy, catalog: &Catalog) -> bool {
    policy
        .include
        .iter()
        .chain(&policy.exclude)
        .chain(&policy.require)
        .any(|r| depends_on_request(r, catalog, 0))
}

/// A login method: a generic OIDC identity provider.
#[derive(Debug)]
pub struct LoginMethod {
    pub id: IdpId,
    pub name: String,
    pub provider: Provider,
    /// SCIM provisioning settings, when SCIM is enabled for this login method.
    pub scim: Option<crate::config::ScimConfig>,
    /// Declared in the configuration file (not editable through the API or UI).
    pub read_only: bool,
    /// The stored declaration (configuration file shape; the client secret sealed).
    pub declaration: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl LoginMethod {
    pub fn kind(&self) -> &'static str {
        "oidc"
    }
}

/// Configuration objects in force; swapped whole when they change.
pub struct Snapshot {
    pub apps: AppRouter<Arc<App>>,
    /// Rule groups and lists the policies refer to.
    pub catalog: Arc<Catalog>,
    pub apps_by_aud: HashMap<String, Arc<App>>,
    pub login_methods: Vec<Arc<LoginMethod>>,
    /// Reusable policies, by id.
    pub policies: Vec<ReusablePolicy>,
    /// Where the catalog's rule groups and lists come from.
    pub rule_groups: Vec<CatalogEntry>,
    pub lists: Vec<CatalogEntry>,
}

impl Snapshot {
    pub fn login_method(&self, id: IdpId) -> Option<&Arc<LoginMethod>> {
        self.login_methods.iter().find(|m| m.id == id)
    }

    /// A reusable policy by id.
    pub fn policy(&self, id: &str) -> Option<&ReusablePolicy> {
        self.policies.iter().find(|p| p.id == id)
    }

    /// The login methods offered for an application, in declaration order.
    pub fn login_methods_for(&self, app: &App) -> Vec<Arc<LoginMethod>> {
        self.login_methods
            .iter()
            .filter(|m| app.allows_idp(m.id))
            .cloned()
            .collect()
    }
}

/// A reusable policy in force.
#[derive(Debug)]
pub struct ReusablePolicy {
    pub id: String,
    pub policy: Policy,
    pub read_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A rule group or list in force: the catalog holds its rules; this is what the admin views add.
#[derive(Debug)]
pub struct CatalogEntry {
    pub id: String,
    pub read_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}
