//! Access policies in Cloudflare's API shapes, and their validation.
//!
//! The serde shapes are the contract shared by the configuration file, the docs and (later) the
//! admin API: `{ name = "staff", decision = "allow", include = [{ email_domain = { domain =
//! "example.com" } }] }` in TOML reads the same as Cloudflare's JSON. Anything this version cannot
//! enforce is refused when the configuration is read, never silently ignored: an ignored `exclude`
//! or `require` would grant access that the operator meant to withhold.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::duration::parse_go_duration;
use crate::error::{CoreError, PolicyError};
use crate::ids::{Email, IdpId};

/// What a matching policy does (Cloudflare's API `decision`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Users who match reach the application ("Allow").
    Allow,
    /// Users who match are refused ("Block" in Cloudflare's dashboard).
    Deny,
    /// Access enforcement is switched off for matching requests. Not supported yet.
    Bypass,
    /// Only non-identity credentials (service tokens, mTLS) are checked ("Service Auth"). Not
    /// supported yet.
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

    /// Whether this version of Portcullis can enforce the decision.
    pub fn is_supported(self) -> bool {
        matches!(self, Self::Allow | Self::Deny)
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

/// Body of the `everyone` rule: matches every signed-in user.
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
];

/// Cloudflare rule types that exist but that this version cannot enforce yet: they are refused
/// with a message saying so, rather than the one for a misspelt name.
const NOT_YET_RULE_TYPES: &[&str] = &[
    "ip",
    "ip_list",
    "geo",
    "service_token",
    "any_valid_service_token",
    "common_name",
    "certificate",
    "device_posture",
    "login_method",
    "auth_method",
    "email_list",
    "group",
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
        }
    }

    /// Checks the rule's values; returns why it cannot be enforced.
    fn validate(&self) -> Result<(), String> {
        let require = |value: &str, what: &str| {
            if value.trim().is_empty() {
                Err(format!("`{}` rule has an empty {what}", self.type_name()))
            } else {
                Ok(())
            }
        };
        match self {
            Self::Everyone(_) | Self::Email(_) => Ok(()),
            Self::EmailDomain(rule) => validate_email_domain(&rule.domain),
            Self::Oidc(rule) => {
                require(&rule.claim_name, "claim_name")?;
                require(&rule.claim_value, "claim_value")
            }
            Self::Okta(rule) => require(&rule.name, "group name"),
            Self::AzureAd(rule) => require(&rule.id, "group id"),
            Self::Gsuite(rule) => require(&rule.email, "group email"),
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
/// It matches an identity when at least one `include` rule matches, no `exclude` rule matches and
/// every `require` rule matches.
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
    /// Refuses: an empty name, a policy without include rules, the `bypass` and `non_identity`
    /// decisions (not supported yet), empty rule values, and a `session_duration` that is not a
    /// Go duration. The error names the policy and says what would be valid.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let fail = |reason: String| CoreError::InvalidPolicy {
            policy: self.name.clone(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(fail("a policy needs a non-empty `name`".to_owned()));
        }
        if !self.decision.is_supported() {
            return Err(fail(format!(
                "decision `{}` is not supported yet by this version of Portcullis (a later \
                 version adds Bypass and Service Auth); use `allow` or `deny`",
                self.decision
            )));
        }
        if self.include.is_empty() {
            return Err(fail(
                "a policy needs at least one `include` rule (to match every signed-in user, \
                 write include = [{ everyone = {} }])"
                    .to_owned(),
            ));
        }
        let sections = [
            ("include", &self.include),
            ("exclude", &self.exclude),
            ("require", &self.require),
        ];
        for (section, rules) in sections {
            for (position, rule) in rules.iter().enumerate() {
                rule.validate().map_err(|reason| {
                    fail(format!("{section} rule #{}: {reason}", position + 1))
                })?;
            }
        }
        self.session_duration_parsed()?;
        Ok(())
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
        let err = rule(json!({"ip": {"ip": "1.2.3.4/32"}})).unwrap_err();
        assert!(err.contains("`ip`"), "{err}");
        assert!(err.contains("not supported yet"), "{err}");
        assert!(
            err.contains("everyone, email, email_domain, oidc, okta, azureAD, gsuite"),
            "{err}"
        );
        for kind in ["geo", "service_token", "group", "login_method"] {
            let err = rule(json!({kind: {}})).unwrap_err();
            assert!(err.contains("not supported yet"), "{kind}: {err}");
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

        let err = toml::from_str::<App>(
            r#"policies = [{ name = "x", decision = "allow", include = [{ ip = { ip = "1.2.3.4/32" } }] }]"#,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("rule type `ip` is not supported yet"), "{err}");
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
            let err = policy(decision, vec![Rule::everyone()])
                .validate()
                .unwrap_err();
            let text = err.to_string();
            assert!(text.contains("not supported yet"), "{text}");
            assert!(text.contains(decision.as_str()), "{text}");
        }

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
