//! Access policies in Cloudflare's API shapes, and their validation.
//!
//! The serde shapes are the contract shared by the configuration file, the docs and (later) the
//! admin API: `{ name = "staff", decision = "allow", include = [{ email_domain = { domain =
//! "example.com" } }] }` in TOML reads the same as Cloudflare's JSON. Anything this version cannot
//! enforce is refused when the configuration is read, never silently ignored: an ignored `exclude`
//! or `require` would grant access that the operator meant to withhold.
//!
//! Rules come in two kinds. Identity rules (email, email domain, email list, login method,
//! authentication method, IdP groups and claims) can only be decided once someone has signed in;
//! non-identity rules (everyone, IP ranges and lists, country, service tokens) are decided from the
//! request alone. A `group` rule is an identity rule when anything inside it is. Bypass and Service
//! Auth policies decide before anyone signs in, so they take non-identity rules only.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::duration::parse_go_duration;
use crate::error::{CoreError, PolicyError};
use crate::ids::{Email, IdpId, ServiceTokenId};
use crate::ip::IpRange;

/// What a matching policy does (Cloudflare's API `decision`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Users who match reach the application ("Allow").
    Allow,
    /// Users who match are refused ("Block" in Cloudflare's dashboard).
    Deny,
    /// Access enforcement is switched off for matching requests: no sign-in, no token. Evaluated
    /// before Allow and Block policies; takes non-identity rules only.
    Bypass,
    /// Only non-identity credentials (service tokens) are checked ("Service Auth"). Evaluated
    /// before Allow and Block policies; takes non-identity rules only.
    NonIdentity,
}

impl Decision {
    /// The API spelling (`allow`, `deny`, `bypass`, `non_identity`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Bypass => "bypass",
            Self::NonIdentity => "non_identity",
        }
    }

    /// Whether policies with this decision are evaluated in the first phase, before Allow and
    /// Block policies (Cloudflare evaluates Service Auth and Bypass first).
    pub fn is_first_phase(self) -> bool {
        matches!(self, Self::Bypass | Self::NonIdentity)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Decision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            "bypass" => Ok(Self::Bypass),
            "non_identity" => Ok(Self::NonIdentity),
            // The dashboard's names differ from the API's; say which one is meant.
            other => {
                let hint = match other.to_ascii_lowercase().as_str() {
                    "block" => " (the dashboard's \"Block\" is `deny` in policies)",
                    "service_auth" | "service auth" => {
                        " (the dashboard's \"Service Auth\" is `non_identity` in policies)"
                    }
                    "allow" | "deny" | "bypass" | "non_identity" => " (decisions are lowercase)",
                    _ => "",
                };
                Err(de::Error::custom(format!(
                    "unknown decision `{other}`{hint}; expected one of allow, deny, bypass, \
                     non_identity"
                )))
            }
        }
    }
}

/// Body of the `everyone` rule: matches every request (a non-identity rule: it needs no sign-in,
/// though an Allow policy still makes the user sign in before letting them through).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EveryoneRule {}

/// Body of the `email` rule: matches one address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailRule {
    /// The address, normalised when read.
    pub email: Email,
}

/// Body of the `email_domain` rule ("Emails ending in"): matches every address of one domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailDomainRule {
    /// The domain, with or without a leading `@`; compared case-insensitively and exactly (a
    /// subdomain is a different domain).
    pub domain: String,
}

/// Body of the `oidc` rule ("OIDC Claim"): matches a custom claim's value, or an IdP group when
/// the claim name is `groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcRule {
    /// The claim, as configured on the login method (`groups`, in any case, means the identity's
    /// IdP groups).
    pub claim_name: String,
    /// The value that must equal the claim, or one element of an array-valued claim.
    pub claim_value: String,
    /// Restricts the rule to identities from this login method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<IdpId>,
}

/// Body of the `okta` rule: matches an IdP group by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaGroupRule {
    /// The group's name as it appears in the identity's groups.
    pub name: String,
    /// Restricts the rule to identities from this login method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<IdpId>,
}

/// Body of the `azureAD` rule: matches an IdP group by its object id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureGroupRule {
    /// The group's id as it appears in the identity's groups.
    pub id: String,
    /// Restricts the rule to identities from this login method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<IdpId>,
}

/// Body of the `gsuite` rule: matches an IdP group by its email address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GsuiteGroupRule {
    /// The group's email, compared case-insensitively with the identity's groups.
    pub email: String,
    /// Restricts the rule to identities from this login method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_id: Option<IdpId>,
}

/// Body of the `email_list` rule: matches when the email is in an email list of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailListRule {
    /// The list's id.
    pub id: String,
}

/// Body of the `ip` rule: matches a client address inside one range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRule {
    /// The range (`192.168.100.0/24`, `2001:db8::/32`) or a single address.
    pub ip: IpRange,
}

/// Body of the `ip_list` rule: matches a client address inside any range of an IP list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpListRule {
    /// The list's id.
    pub id: String,
}

/// Body of the `login_method` rule: matches identities from one login method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginMethodRule {
    /// The login method (identity provider) id.
    pub id: IdpId,
}

/// Body of the `auth_method` rule: matches when the IdP reported an authentication method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthMethodRule {
    /// An RFC 8176 `amr` value (`mfa`, `hwk`, `otp`, …), compared exactly.
    pub auth_method: String,
}

/// Body of the `service_token` rule: matches requests presenting one service token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTokenRule {
    /// The token's id (not its Client ID).
    pub token_id: ServiceTokenId,
}

/// Body of the `any_valid_service_token` rule: matches requests presenting any valid, enabled
/// service token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnyValidServiceTokenRule {}

/// Body of the `group` rule: matches when a rule group of the catalog matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    /// The rule group's id.
    pub id: String,
}

/// Body of the `geo` rule ("Country"): matches requests from one country.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRule {
    /// ISO 3166-1 alpha-2 code (`US`), compared case-insensitively with the request's country.
    pub country_code: String,
}

/// One rule of a policy, in Cloudflare's externally tagged API shape (`{"email": {...}}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Rule {
    /// `{"everyone": {}}`
    #[serde(rename = "everyone")]
    Everyone(EveryoneRule),
    /// `{"email": {"email": "…"}}`
    #[serde(rename = "email")]
    Email(EmailRule),
    /// `{"email_domain": {"domain": "…"}}`
    #[serde(rename = "email_domain")]
    EmailDomain(EmailDomainRule),
    /// `{"oidc": {"claim_name": "…", "claim_value": "…", "identity_provider_id": "…"}}`
    #[serde(rename = "oidc")]
    Oidc(OidcRule),
    /// `{"okta": {"name": "…", "identity_provider_id": "…"}}`
    #[serde(rename = "okta")]
    Okta(OktaGroupRule),
    /// `{"azureAD": {"id": "…", "identity_provider_id": "…"}}`
    #[serde(rename = "azureAD")]
    AzureAd(AzureGroupRule),
    /// `{"gsuite": {"email": "…", "identity_provider_id": "…"}}`
    #[serde(rename = "gsuite")]
    Gsuite(GsuiteGroupRule),
    /// `{"email_list": {"id": "…"}}`
    #[serde(rename = "email_list")]
    EmailList(EmailListRule),
    /// `{"ip": {"ip": "192.168.100.1/24"}}`
    #[serde(rename = "ip")]
    Ip(IpRule),
    /// `{"ip_list": {"id": "…"}}`
    #[serde(rename = "ip_list")]
    IpList(IpListRule),
    /// `{"login_method": {"id": "…"}}`
    #[serde(rename = "login_method")]
    LoginMethod(LoginMethodRule),
    /// `{"auth_method": {"auth_method": "mfa"}}`
    #[serde(rename = "auth_method")]
    AuthMethod(AuthMethodRule),
    /// `{"service_token": {"token_id": "…"}}`
    #[serde(rename = "service_token")]
    ServiceToken(ServiceTokenRule),
    /// `{"any_valid_service_token": {}}`
    #[serde(rename = "any_valid_service_token")]
    AnyValidServiceToken(AnyValidServiceTokenRule),
    /// `{"group": {"id": "…"}}`
    #[serde(rename = "group")]
    Group(GroupRule),
    /// `{"geo": {"country_code": "US"}}`
    #[serde(rename = "geo")]
    Geo(GeoRule),
}

/// Rule types this version reads, in the order error messages list them.
pub const SUPPORTED_RULE_TYPES: &[&str] = &[
    "everyone",
    "email",
    "email_domain",
    "oidc",
    "okta",
    "azureAD",
    "gsuite",
    "email_list",
    "ip",
    "ip_list",
    "login_method",
    "auth_method",
    "service_token",
    "any_valid_service_token",
    "group",
    "geo",
];

/// Cloudflare rule types that exist but that this version cannot enforce yet: they are refused
/// with a message saying so, rather than the one for a misspelt name.
const NOT_YET_RULE_TYPES: &[&str] = &[
    "common_name",
    "certificate",
    "device_posture",
    "saml",
    "github-organization",
    "external_evaluation",
    "user_risk_score",
    "linked_app_token",
    "auth_context",
    "cloudflare_account_member",
];

impl Rule {
    /// `{"everyone": {}}`.
    pub fn everyone() -> Self {
        Self::Everyone(EveryoneRule {})
    }

    /// `{"email": {"email": …}}`.
    pub fn email(email: Email) -> Self {
        Self::Email(EmailRule { email })
    }

    /// `{"email_domain": {"domain": …}}`.
    pub fn email_domain(domain: impl Into<String>) -> Self {
        Self::EmailDomain(EmailDomainRule {
            domain: domain.into(),
        })
    }

    /// `{"oidc": {"claim_name": …, "claim_value": …}}` for any login method.
    pub fn oidc(claim_name: impl Into<String>, claim_value: impl Into<String>) -> Self {
        Self::Oidc(OidcRule {
            claim_name: claim_name.into(),
            claim_value: claim_value.into(),
            identity_provider_id: None,
        })
    }

    /// `{"ip": {"ip": …}}`.
    pub fn ip(range: IpRange) -> Self {
        Self::Ip(IpRule { ip: range })
    }

    /// `{"group": {"id": …}}`.
    pub fn group(id: impl Into<String>) -> Self {
        Self::Group(GroupRule { id: id.into() })
    }

    /// `{"geo": {"country_code": …}}`.
    pub fn geo(country_code: impl Into<String>) -> Self {
        Self::Geo(GeoRule {
            country_code: country_code.into(),
        })
    }

    /// The API name of the rule type (`email_domain`, `azureAD`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Everyone(_) => "everyone",
            Self::Email(_) => "email",
            Self::EmailDomain(_) => "email_domain",
            Self::Oidc(_) => "oidc",
            Self::Okta(_) => "okta",
            Self::AzureAd(_) => "azureAD",
            Self::Gsuite(_) => "gsuite",
            Self::EmailList(_) => "email_list",
            Self::Ip(_) => "ip",
            Self::IpList(_) => "ip_list",
            Self::LoginMethod(_) => "login_method",
            Self::AuthMethod(_) => "auth_method",
            Self::ServiceToken(_) => "service_token",
            Self::AnyValidServiceToken(_) => "any_valid_service_token",
            Self::Group(_) => "group",
            Self::Geo(_) => "geo",
        }
    }

    /// Whether the rule can only be decided once someone has signed in (it reads the identity).
    ///
    /// A `group` rule is an identity rule when any rule inside the group is, transitively; a
    /// group the catalog does not hold counts as non-identity (such a policy is refused by
    /// [`Catalog::validate_policy`] and never matches).
    pub fn is_identity(&self, catalog: &Catalog) -> bool {
        match self {
            Self::Group(rule) => catalog.group_is_identity(&rule.id),
            other => other.is_identity_selector(),
        }
    }

    /// [`Rule::is_identity`] for every rule type but `group`, which needs the catalog (and is
    /// `false` here).
    pub(crate) fn is_identity_selector(&self) -> bool {
        match self {
            Self::Email(_)
            | Self::EmailDomain(_)
            | Self::EmailList(_)
            | Self::LoginMethod(_)
            | Self::AuthMethod(_)
            | Self::Oidc(_)
            | Self::Okta(_)
            | Self::AzureAd(_)
            | Self::Gsuite(_) => true,
            Self::Everyone(_)
            | Self::Ip(_)
            | Self::IpList(_)
            | Self::Geo(_)
            | Self::ServiceToken(_)
            | Self::AnyValidServiceToken(_)
            | Self::Group(_) => false,
        }
    }

    /// Checks the rule's values; returns why it cannot be enforced.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let require = |value: &str, what: &str| {
            if value.trim().is_empty() {
                Err(format!("`{}` rule has an empty {what}", self.type_name()))
            } else {
                Ok(())
            }
        };
        match self {
            Self::Everyone(_)
            | Self::Email(_)
            | Self::Ip(_)
            | Self::LoginMethod(_)
            | Self::ServiceToken(_)
            | Self::AnyValidServiceToken(_) => Ok(()),
            Self::EmailDomain(rule) => validate_email_domain(&rule.domain),
            Self::Oidc(rule) => {
                require(&rule.claim_name, "claim_name")?;
                require(&rule.claim_value, "claim_value")
            }
            Self::Okta(rule) => require(&rule.name, "group name"),
            Self::AzureAd(rule) => require(&rule.id, "group id"),
            Self::Gsuite(rule) => require(&rule.email, "group email"),
            Self::EmailList(rule) => require(&rule.id, "list id"),
            Self::IpList(rule) => require(&rule.id, "list id"),
            Self::Group(rule) => require(&rule.id, "rule group id"),
            Self::AuthMethod(rule) => {
                let method = rule.auth_method.as_str();
                if method.is_empty() || method.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    Err(format!(
                        "`auth_method` value {method:?} is not an RFC 8176 method name; write e.g. \
                         auth_method = \"mfa\" (or hwk, otp, pwd, …)"
                    ))
                } else {
                    Ok(())
                }
            }
            Self::Geo(rule) => {
                let code = rule.country_code.as_str();
                if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
                    Ok(())
                } else {
                    Err(format!(
                        "`geo` country_code {code:?} is not an ISO 3166-1 alpha-2 code; write two \
                         letters, e.g. country_code = \"US\""
                    ))
                }
            }
        }
    }
}

/// The domain of an `email_domain` rule as compared: without surrounding space or a leading `@`.
pub(crate) fn bare_domain(domain: &str) -> &str {
    let trimmed = domain.trim();
    trimmed.strip_prefix('@').unwrap_or(trimmed)
}

fn validate_email_domain(domain: &str) -> Result<(), String> {
    let bare = bare_domain(domain);
    if bare.is_empty() {
        return Err(
            "`email_domain` rule has an empty domain; write e.g. domain = \"example.com\""
                .to_owned(),
        );
    }
    if bare.contains('@') {
        return Err(format!(
            "`email_domain` domain {domain:?} contains an '@'; give only the domain, e.g. \
             \"example.com\" (use an `email` rule for one address)"
        ));
    }
    if bare.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`email_domain` domain {domain:?} contains whitespace"
        ));
    }
    if bare.split('.').any(str::is_empty) {
        return Err(format!(
            "`email_domain` domain {domain:?} has an empty label (leading, trailing or double dot)"
        ));
    }
    Ok(())
}

impl fmt::Display for Rule {
    /// A compact one-line rendering for explanations and logs, e.g. `email_domain example.com`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idp = match self {
            Self::Everyone(_) => return f.write_str("everyone"),
            Self::Email(rule) => return write!(f, "email {}", rule.email),
            Self::EmailDomain(rule) => {
                return write!(f, "email_domain {}", bare_domain(&rule.domain));
            }
            Self::Oidc(rule) => {
                write!(f, "oidc {}={}", rule.claim_name, rule.claim_value)?;
                rule.identity_provider_id
            }
            Self::Okta(rule) => {
                write!(f, "okta group {}", rule.name)?;
                rule.identity_provider_id
            }
            Self::AzureAd(rule) => {
                write!(f, "azureAD group {}", rule.id)?;
                rule.identity_provider_id
            }
            Self::Gsuite(rule) => {
                write!(f, "gsuite group {}", rule.email)?;
                rule.identity_provider_id
            }
            Self::EmailList(rule) => return write!(f, "email_list {}", rule.id),
            Self::Ip(rule) => return write!(f, "ip {}", rule.ip),
            Self::IpList(rule) => return write!(f, "ip_list {}", rule.id),
            Self::LoginMethod(rule) => return write!(f, "login_method {}", rule.id),
            Self::AuthMethod(rule) => return write!(f, "auth_method {}", rule.auth_method),
            Self::ServiceToken(rule) => return write!(f, "service_token {}", rule.token_id),
            Self::AnyValidServiceToken(_) => return f.write_str("any_valid_service_token"),
            Self::Group(rule) => return write!(f, "group {}", rule.id),
            Self::Geo(rule) => return write!(f, "geo {}", rule.country_code),
        };
        match idp {
            Some(id) => write!(f, " (identity provider {id})"),
            None => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RuleVisitor)
    }
}

/// Reads the one-key map by hand so that unknown and not-yet-supported rule types get a message
/// naming them and listing what is supported.
struct RuleVisitor;

impl<'de> Visitor<'de> for RuleVisitor {
    type Value = Rule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a rule with exactly one rule type, e.g. { email_domain = { domain = \"example.com\" } }",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
        let supported = SUPPORTED_RULE_TYPES.join(", ");
        let Some(kind) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!(
                "empty rule; a rule holds exactly one rule type, one of: {supported}"
            )));
        };
        let rule = match kind.as_str() {
            "everyone" => Rule::Everyone(map.next_value()?),
            "email" => Rule::Email(map.next_value()?),
            "email_domain" => Rule::EmailDomain(map.next_value()?),
            "oidc" => Rule::Oidc(map.next_value()?),
            "okta" => Rule::Okta(map.next_value()?),
            "azureAD" => Rule::AzureAd(map.next_value()?),
            "gsuite" => Rule::Gsuite(map.next_value()?),
            "email_list" => Rule::EmailList(map.next_value()?),
            "ip" => Rule::Ip(map.next_value()?),
            "ip_list" => Rule::IpList(map.next_value()?),
            "login_method" => Rule::LoginMethod(map.next_value()?),
            "auth_method" => Rule::AuthMethod(map.next_value()?),
            "service_token" => Rule::ServiceToken(map.next_value()?),
            "any_valid_service_token" => Rule::AnyValidServiceToken(map.next_value()?),
            "group" => Rule::Group(map.next_value()?),
            "geo" => Rule::Geo(map.next_value()?),
            other if NOT_YET_RULE_TYPES.contains(&other) => {
                return Err(de::Error::custom(format!(
                    "rule type `{other}` is not supported yet by this version of Portcullis \
                     (a later version adds it); supported rule types: {supported}"
                )));
            }
            other => {
                let squashed = other.replace(['_', '-'], "");
                let hint = SUPPORTED_RULE_TYPES
                    .iter()
                    .find(|known| known.replace('_', "").eq_ignore_ascii_case(&squashed))
                    .map(|known| format!(" (did you mean `{known}`?)"))
                    .unwrap_or_default();
                return Err(de::Error::custom(format!(
                    "unknown rule type `{other}`{hint}; supported rule types: {supported}"
                )));
            }
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a rule holds exactly one rule type, but this one has `{kind}` and `{extra}`; \
                 write each as its own rule"
            )));
        }
        Ok(rule)
    }
}

/// A named policy: a decision and the rules that select whom it applies to.
///
/// It matches a request when at least one `include` rule matches, no `exclude` rule matches and
/// every `require` rule matches (see [`crate::evaluate`] for the order and for requests whose
/// user has not signed in yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Shown in explanations and the authentication log.
    pub name: String,
    /// What happens to identities the policy matches.
    pub decision: Decision,
    /// Any one must match (OR). At least one is required.
    #[serde(default)]
    pub include: Vec<Rule>,
    /// None may match (NOT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<Rule>,
    /// All must match (AND).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<Rule>,
    /// Lifetime of app sessions granted by this policy, as a Go duration (`30m`, `24h`); the
    /// application's session duration when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<String>,
}

impl Policy {
    /// Checks, when configuration is loaded, that this version can enforce the policy exactly
    /// as written.
    ///
    /// Refuses: an empty name, a policy without include rules, empty or malformed rule values,
    /// identity rules in a `bypass` or `non_identity` policy, and a `session_duration` that is
    /// not a Go duration. The error names the policy and says what would be valid.
    ///
    /// Rule groups and lists live in the [`Catalog`]; this check cannot see inside them, so
    /// configuration loading calls [`Catalog::validate_policy`], which runs this check too.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let fail = |reason: String| CoreError::InvalidPolicy {
            policy: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(fail("a policy needs a non-empty `name`".to_owned()));
        }
        if self.include.is_empty() {
            return Err(fail(
                "a policy needs at least one `include` rule (to match every signed-in user, \
                 write include = [{ everyone = {} }])"
                    .to_owned(),
            ));
        }
        for (section, rules) in self.sections() {
            for (position, rule) in rules.iter().enumerate() {
                rule.validate().map_err(|reason| {
                    fail(format!("{section} rule #{}: {reason}", position + 1))
                })?;
                if self.decision.is_first_phase() && rule.is_identity_selector() {
                    return Err(fail(identity_rule_refused(
                        self.decision,
                        section,
                        position,
                        &rule.to_string(),
                    )));
                }
            }
        }
        self.session_duration_parsed()?;
        Ok(())
    }

    /// Every rule of the policy with its section, include first, then exclude, then require.
    pub(crate) fn sections(&self) -> [(&'static str, &[Rule]); 3] {
        [
            ("include", &self.include),
            ("exclude", &self.exclude),
            ("require", &self.require),
        ]
    }

    /// The policy's session duration, parsed; `None` when the application's applies.
    pub fn session_duration_parsed(&self) -> Result<Option<std::time::Duration>, PolicyError> {
        self.session_duration
            .as_deref()
            .map(|text| {
                parse_go_duration(text).map_err(|err| CoreError::InvalidPolicy {
                    policy: self.name.clone(),
                    reason: format!("session_duration: {err}"),
                })
            })
            .transpose()
    }
}

/// Why an identity rule cannot stand in a Bypass or Service Auth policy, naming the rule.
pub(crate) fn identity_rule_refused(
    decision: Decision,
    section: &str,
    position: usize,
    rule: &str,
) -> String {
    format!(
        "{section} rule #{} `{rule}` is an identity rule, which a `{decision}` policy cannot use: \
         Bypass and Service Auth policies decide before anyone signs in, so they take only \
         non-identity rules (everyone, ip, ip_list, geo, service_token, \
         any_valid_service_token); use an `allow` or `deny` policy for identity rules",
        position + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(value: serde_json::Value) -> Result<Rule, String> {
        serde_json::from_value(value).map_err(|err| err.to_string())
    }

    #[test]
    fn cloudflare_json_shapes_round_trip() {
        let id = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c";
        for value in [
            json!({"everyone": {}}),
            json!({"email": {"email": "you@company.com"}}),
            json!({"email_domain": {"domain": "example.com"}}),
            json!({"oidc": {"claim_name": "roles", "claim_value": "admin"}}),
            json!({"oidc": {"claim_name": "groups", "claim_value": "eng", "identity_provider_id": id}}),
            json!({"okta": {"name": "Engineering", "identity_provider_id": id}}),
            json!({"azureAD": {"id": "fdaedb59-aaaa", "identity_provider_id": id}}),
            json!({"gsuite": {"email": "eng@example.com", "identity_provider_id": id}}),
        ] {
            let parsed = rule(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
        }
        assert_eq!(
            rule(json!({"email_domain": {"domain": "example.com"}})).unwrap(),
            Rule::email_domain("example.com")
        );
        assert_eq!(
            rule(json!({"oidc": {"claim_name": "roles", "claim_value": "admin"}})).unwrap(),
            Rule::oidc("roles", "admin")
        );
        assert_eq!(rule(json!({"everyone": {}})).unwrap(), Rule::everyone());
    }

    #[test]
    fn email_rule_normalises_and_validates() {
        let parsed = rule(json!({"email": {"email": " You@Company.com"}})).unwrap();
        assert_eq!(
            parsed,
            Rule::email(Email::parse("you@company.com").unwrap())
        );
        assert!(rule(json!({"email": {"email": ""}})).is_err());
    }

    #[test]
    fn not_yet_supported_rule_says_so() {
        let err = rule(json!({"common_name": {"common_name": "x"}})).unwrap_err();
        assert!(err.contains("`common_name`"), "{err}");
        assert!(err.contains("not supported yet"), "{err}");
        assert!(
            err.contains(
                "everyone, email, email_domain, oidc, okta, azureAD, gsuite, email_list, ip, \
                 ip_list, login_method, auth_method, service_token, any_valid_service_token, \
                 group, geo"
            ),
            "{err}"
        );
        for kind in [
            "certificate",
            "device_posture",
            "saml",
            "github-organization",
            "external_evaluation",
        ] {
            let err = rule(json!({kind: {}})).unwrap_err();
            assert!(err.contains("not supported yet"), "{kind}: {err}");
        }
        for kind in SUPPORTED_RULE_TYPES {
            assert!(!NOT_YET_RULE_TYPES.contains(kind), "{kind}");
        }
    }

    #[test]
    fn new_rule_shapes_round_trip() {
        let idp = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c";
        for value in [
            json!({"email_list": {"id": "contractors"}}),
            json!({"ip": {"ip": "192.168.100.1/24"}}),
            json!({"ip": {"ip": "2001:db8::/32"}}),
            json!({"ip": {"ip": "10.1.2.3"}}),
            json!({"ip_list": {"id": "offices"}}),
            json!({"login_method": {"id": idp}}),
            json!({"auth_method": {"auth_method": "mfa"}}),
            json!({"service_token": {"token_id": idp}}),
            json!({"any_valid_service_token": {}}),
            json!({"group": {"id": "engineers"}}),
            json!({"geo": {"country_code": "US"}}),
        ] {
            let parsed = rule(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
            policy(Decision::Allow, vec![parsed]).validate().unwrap();
        }
        assert_eq!(
            rule(json!({"geo": {"country_code": "PT"}})).unwrap(),
            Rule::geo("PT")
        );
        assert_eq!(
            rule(json!({"group": {"id": "g"}})).unwrap(),
            Rule::group("g")
        );
        assert_eq!(
            rule(json!({"ip": {"ip": "10.0.0.0/8"}})).unwrap(),
            Rule::ip(IpRange::parse("10.0.0.0/8").unwrap())
        );
    }

    #[test]
    fn new_rule_values_are_checked() {
        let err = rule(json!({"ip": {"ip": "10.0.0.0/40"}})).unwrap_err();
        assert!(err.contains("\"10.0.0.0/40\""), "{err}");
        assert!(err.contains("0 to 32"), "{err}");
        let err = rule(json!({"ip": {"ip": "intranet"}})).unwrap_err();
        assert!(err.contains("\"intranet\""), "{err}");
        assert!(rule(json!({"login_method": {"id": "github"}})).is_err());
        assert!(rule(json!({"service_token": {"token_id": "abc"}})).is_err());
        assert!(rule(json!({"any_valid_service_token": {"x": 1}})).is_err());
        assert!(rule(json!({"geo": {"country": "US"}})).is_err());
        for bad in ["USA", "U", "", "1A", "u s"] {
            let err = policy(Decision::Allow, vec![Rule::geo(bad)])
                .validate()
                .unwrap_err()
                .to_string();
            assert!(err.contains("alpha-2"), "{bad}: {err}");
        }
        policy(Decision::Allow, vec![Rule::geo("us")])
            .validate()
            .unwrap();
        for bad in ["", "m fa"] {
            let auth = Rule::AuthMethod(AuthMethodRule {
                auth_method: bad.into(),
            });
            let err = policy(Decision::Allow, vec![auth]).validate().unwrap_err();
            assert!(err.to_string().contains("RFC 8176"), "{err}");
        }
        for empty in [
            Rule::group(" "),
            rule(json!({"email_list": {"id": ""}})).unwrap(),
        ] {
            assert!(policy(Decision::Allow, vec![empty]).validate().is_err());
        }
    }

    #[test]
    fn identity_and_non_identity_rules() {
        let catalog = Catalog::empty();
        let identity = [
            json!({"email": {"email": "a@b.c"}}),
            json!({"email_domain": {"domain": "b.c"}}),
            json!({"email_list": {"id": "l"}}),
            json!({"login_method": {"id": "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c"}}),
            json!({"auth_method": {"auth_method": "mfa"}}),
            json!({"oidc": {"claim_name": "a", "claim_value": "b"}}),
            json!({"okta": {"name": "a"}}),
            json!({"azureAD": {"id": "a"}}),
            json!({"gsuite": {"email": "a@b.c"}}),
        ];
        let non_identity = [
            json!({"everyone": {}}),
            json!({"ip": {"ip": "10.0.0.0/8"}}),
            json!({"ip_list": {"id": "l"}}),
            json!({"geo": {"country_code": "US"}}),
            json!({"service_token": {"token_id": "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c"}}),
            json!({"any_valid_service_token": {}}),
        ];
        for value in identity {
            let parsed = rule(value).unwrap();
            assert!(parsed.is_identity(&catalog), "{parsed}");
            for decision in [Decision::Bypass, Decision::NonIdentity] {
                let mut p = policy(decision, vec![Rule::everyone()]);
                p.require.push(parsed.clone());
                let err = p.validate().unwrap_err().to_string();
                assert!(err.contains("require rule #1"), "{err}");
                assert!(
                    err.contains(&format!("`{parsed}` is an identity rule")),
                    "{err}"
                );
                assert!(err.contains(decision.as_str()), "{err}");
            }
            policy(Decision::Deny, vec![parsed]).validate().unwrap();
        }
        for value in non_identity {
            let parsed = rule(value).unwrap();
            assert!(!parsed.is_identity(&catalog), "{parsed}");
            for decision in [Decision::Bypass, Decision::NonIdentity] {
                policy(decision, vec![parsed.clone()]).validate().unwrap();
            }
        }
    }

    #[test]
    fn unknown_rule_names_it_and_lists_supported() {
        let err = rule(json!({"emails": {"email": "a@b.c"}})).unwrap_err();
        assert!(err.contains("unknown rule type `emails`"), "{err}");
        assert!(err.contains("supported rule types: everyone"), "{err}");
        let err = rule(json!({"azure_ad": {"id": "x"}})).unwrap_err();
        assert!(err.contains("did you mean `azureAD`"), "{err}");
    }

    #[test]
    fn malformed_rule_maps_are_refused() {
        assert!(rule(json!({})).unwrap_err().contains("empty rule"));
        let err = rule(json!({"everyone": {}, "email": {"email": "a@b.c"}})).unwrap_err();
        assert!(err.contains("exactly one rule type"), "{err}");
        // A misspelt field would otherwise silently drop the IdP restriction.
        let err = rule(
            json!({"oidc": {"claim_name": "a", "claim_value": "b", "identity_provider": "x"}}),
        )
        .unwrap_err();
        assert!(err.contains("identity_provider"), "{err}");
        assert!(rule(json!({"everyone": {"x": 1}})).is_err());
        assert!(
            rule(json!({"email_domain": {}}))
                .unwrap_err()
                .contains("domain")
        );
        assert!(rule(json!("everyone")).is_err());
    }

    #[test]
    fn toml_policy_from_the_issue_deserialises() {
        #[derive(Deserialize)]
        struct App {
            policies: Vec<Policy>,
        }
        let app: App = toml::from_str(
            r#"policies = [{ name = "staff", decision = "allow", include = [{ email_domain = { domain = "example.com" } }] }]"#,
        )
        .unwrap();
        let policy = &app.policies[0];
        assert_eq!(policy.decision, Decision::Allow);
        assert_eq!(policy.include, vec![Rule::email_domain("example.com")]);
        assert!(policy.exclude.is_empty() && policy.require.is_empty());
        policy.validate().unwrap();

        let app: App = toml::from_str(
            r#"
            [[policies]]
            name = "admins"
            decision = "deny"
            include = [{ everyone = {} }]
            exclude = [{ oidc = { claim_name = "roles", claim_value = "admin" } }]
            session_duration = "30m"
            "#,
        )
        .unwrap();
        assert_eq!(app.policies[0].exclude, vec![Rule::oidc("roles", "admin")]);
        app.policies[0].validate().unwrap();

        let app: App = toml::from_str(
            r#"policies = [{ name = "x", decision = "non_identity", include = [{ ip = { ip = "1.2.3.4/32" } }, { any_valid_service_token = {} }] }]"#,
        )
        .unwrap();
        app.policies[0].validate().unwrap();
        assert_eq!(app.policies[0].include[0].to_string(), "ip 1.2.3.4/32");

        let err = toml::from_str::<App>(
            r#"policies = [{ name = "x", decision = "allow", include = [{ saml = { attribute_name = "a" } }] }]"#,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("rule type `saml` is not supported yet"),
            "{err}"
        );
    }

    #[test]
    fn policy_unknown_fields_are_refused() {
        // `exlude` must not be ignored: the exclusion it meant would silently vanish.
        let err = serde_json::from_value::<Policy>(json!({
            "name": "p", "decision": "allow", "include": [{"everyone": {}}],
            "exlude": [{"email": {"email": "a@b.c"}}]
        }))
        .unwrap_err();
        assert!(err.to_string().contains("exlude"), "{err}");
    }

    #[test]
    fn decision_names() {
        for (text, decision) in [
            ("allow", Decision::Allow),
            ("deny", Decision::Deny),
            ("bypass", Decision::Bypass),
            ("non_identity", Decision::NonIdentity),
        ] {
            assert_eq!(
                serde_json::from_value::<Decision>(json!(text)).unwrap(),
                decision
            );
            assert_eq!(serde_json::to_value(decision).unwrap(), json!(text));
        }
        let err = serde_json::from_value::<Decision>(json!("block"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`deny`"), "{err}");
    }

    fn policy(decision: Decision, include: Vec<Rule>) -> Policy {
        Policy {
            name: "p".into(),
            decision,
            include,
            exclude: vec![],
            require: vec![],
            session_duration: None,
        }
    }

    #[test]
    fn validate_refuses_what_cannot_be_enforced() {
        policy(Decision::Allow, vec![Rule::everyone()])
            .validate()
            .unwrap();
        policy(Decision::Deny, vec![Rule::everyone()])
            .validate()
            .unwrap();

        for decision in [Decision::Bypass, Decision::NonIdentity] {
            policy(decision, vec![Rule::everyone()]).validate().unwrap();
        }
        // Cloudflare: Bypass and Service Auth take no identity selectors.
        let err = policy(
            Decision::Bypass,
            vec![Rule::email(Email::parse("a@b.c").unwrap())],
        )
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("include rule #1 `email a@b.c` is an identity rule"),
            "{err}"
        );
        assert!(err.contains("`bypass` policy cannot use"), "{err}");

        let err = policy(Decision::Allow, vec![])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one `include`"), "{err}");

        for bad in [
            Rule::email_domain(""),
            Rule::email_domain("@"),
            Rule::email_domain("  "),
            Rule::email_domain("bob@example.com"),
            Rule::email_domain("example..com"),
            Rule::oidc("", "admin"),
            Rule::oidc("roles", ""),
            Rule::Okta(OktaGroupRule {
                name: " ".into(),
                identity_provider_id: None,
            }),
            Rule::AzureAd(AzureGroupRule {
                id: "".into(),
                identity_provider_id: None,
            }),
            Rule::Gsuite(GsuiteGroupRule {
                email: "".into(),
                identity_provider_id: None,
            }),
        ] {
            let err = policy(Decision::Allow, vec![bad.clone()]).validate();
            assert!(err.is_err(), "{bad:?} accepted");
            let mut in_require = policy(Decision::Allow, vec![Rule::everyone()]);
            in_require.require.push(bad.clone());
            let err = in_require.validate().unwrap_err().to_string();
            assert!(err.contains("require rule #1"), "{err}");
        }
        policy(Decision::Allow, vec![Rule::email_domain("@Example.com")])
            .validate()
            .unwrap();

        let mut unnamed = policy(Decision::Allow, vec![Rule::everyone()]);
        unnamed.name = " ".into();
        assert!(unnamed.validate().is_err());
    }

    #[test]
    fn validate_checks_session_duration() {
        let mut p = policy(Decision::Allow, vec![Rule::everyone()]);
        p.session_duration = Some("2h45m".into());
        p.validate().unwrap();
        assert_eq!(
            p.session_duration_parsed().unwrap(),
            Some(std::time::Duration::from_secs(2 * 3600 + 45 * 60))
        );
        p.session_duration = Some("2 hours".into());
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("session_duration"), "{err}");
    }

    #[test]
    fn rules_render_compactly() {
        let id = IdpId::parse("0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c").unwrap();
        assert_eq!(Rule::everyone().to_string(), "everyone");
        assert_eq!(
            Rule::email_domain("@example.com").to_string(),
            "email_domain example.com"
        );
        assert_eq!(
            Rule::email(Email::parse("a@b.c").unwrap()).to_string(),
            "email a@b.c"
        );
        assert_eq!(Rule::oidc("roles", "admin").to_string(), "oidc roles=admin");
        assert_eq!(
            Rule::Okta(OktaGroupRule {
                name: "Eng".into(),
                identity_provider_id: Some(id)
            })
            .to_string(),
            "okta group Eng (identity provider 0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c)"
        );
    }
}
