//! Policy evaluation with an explanation of every decision.
//!
//! Runs at login and when an app session is renewed, never per proxied request, so the
//! explanation is always built: the authentication log, the block page's details and the policy
//! tester all read it.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::identity::Identity;
use crate::ids::IdpId;
use crate::policy::{Decision, Policy, Rule, bare_domain};

/// Which list of a policy a rule came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSection {
    /// Any one must match.
    Include,
    /// None may match.
    Exclude,
    /// All must match.
    Require,
}

impl RuleSection {
    /// `include`, `exclude` or `require`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Include => "include",
            Self::Exclude => "exclude",
            Self::Require => "require",
        }
    }
}

impl fmt::Display for RuleSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one rule fared against the identity.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct RuleTrace {
    /// The list the rule belongs to.
    pub section: RuleSection,
    /// The rule, rendered compactly (`email_domain example.com`).
    pub rule: String,
    /// Whether the rule itself matched (for an exclude rule, a match rules the policy out).
    pub matched: bool,
    /// Why the rule did not match; `None` when it did.
    pub reason: Option<String>,
}

/// How one policy fared against the identity.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct PolicyTrace {
    /// The policy's name.
    pub name: String,
    /// The policy's decision.
    pub decision: Decision,
    /// Whether the policy applies to the identity.
    pub matched: bool,
    /// Set when the policy was not evaluated, saying why (an unsupported decision).
    pub skipped: Option<String>,
    /// Every rule of the policy, include first, then exclude, then require.
    pub rules: Vec<RuleTrace>,
}

/// The outcome of [`evaluate`]: the decision and how it was reached.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Evaluation {
    /// Whether the identity may reach the application.
    pub allowed: bool,
    /// Index (in the evaluated slice) of the policy that decided; `None` when no policy matched
    /// and access was denied by default.
    pub matched: Option<usize>,
    /// One entry per policy examined, in order, up to and including the deciding one; entry `i`
    /// describes policy `i`.
    pub explanation: Vec<PolicyTrace>,
}

impl Evaluation {
    /// The trace of the policy that decided, if one did.
    pub fn deciding_policy(&self) -> Option<&PolicyTrace> {
        self.matched.and_then(|index| self.explanation.get(index))
    }
}

/// Decides whether `identity` may reach an application guarded by `policies`.
///
/// Called at login and at app-session renewal. Allow and Deny policies are taken in order and the
/// first that matches decides; when none matches, access is denied (Access is deny-by-default).
/// Policies with decisions this version does not enforce (which [`Policy::validate`] refuses at
/// start-up) are skipped, which can only withhold access, never grant it.
pub fn evaluate(policies: &[Policy], identity: &Identity) -> Evaluation {
    let mut explanation = Vec::with_capacity(policies.len());
    for (index, policy) in policies.iter().enumerate() {
        let trace = policy.evaluate(identity);
        let matched = trace.matched;
        explanation.push(trace);
        if matched {
            return Evaluation {
                allowed: policy.decision == Decision::Allow,
                matched: Some(index),
                explanation,
            };
        }
    }
    Evaluation {
        allowed: false,
        matched: None,
        explanation,
    }
}

impl Policy {
    /// Evaluates this one policy against `identity`, rule by rule (every rule is evaluated so the
    /// trace is complete). A policy whose decision is not supported never matches.
    pub fn evaluate(&self, identity: &Identity) -> PolicyTrace {
        if !self.decision.is_supported() {
            return PolicyTrace {
                name: self.name.clone(),
                decision: self.decision,
                matched: false,
                skipped: Some(format!(
                    "decision `{}` is not supported yet by this version; policy skipped",
                    self.decision
                )),
                rules: Vec::new(),
            };
        }
        let mut rules =
            Vec::with_capacity(self.include.len() + self.exclude.len() + self.require.len());
        let sections = [
            (RuleSection::Include, &self.include),
            (RuleSection::Exclude, &self.exclude),
            (RuleSection::Require, &self.require),
        ];
        let (mut any_include, mut any_exclude, mut all_require) = (false, false, true);
        for (section, list) in sections {
            for rule in list {
                let outcome = rule.check(identity);
                let matched = outcome.is_ok();
                match section {
                    RuleSection::Include => any_include |= matched,
                    RuleSection::Exclude => any_exclude |= matched,
                    RuleSection::Require => all_require &= matched,
                }
                rules.push(RuleTrace {
                    section,
                    rule: rule.to_string(),
                    matched,
                    reason: outcome.err(),
                });
            }
        }
        PolicyTrace {
            name: self.name.clone(),
            decision: self.decision,
            // An empty include list matches nobody: `any` over nothing is false.
            matched: any_include && !any_exclude && all_require,
            skipped: None,
            rules,
        }
    }
}

impl Rule {
    /// Whether the rule matches `identity`.
    pub fn matches(&self, identity: &Identity) -> bool {
        self.check(identity).is_ok()
    }

    /// `Ok` when the rule matches; otherwise why not, naming only the values compared.
    fn check(&self, identity: &Identity) -> Result<(), String> {
        match self {
            Self::Everyone(_) => Ok(()),
            Self::Email(rule) => {
                if identity.email == rule.email {
                    Ok(())
                } else {
                    Err(format!("email is {}, not {}", identity.email, rule.email))
                }
            }
            Self::EmailDomain(rule) => {
                let want = bare_domain(&rule.domain);
                let have = identity.email.domain();
                // The identity's domain is already lowercase; lowering the rule's side char by
                // char avoids an allocation per comparison.
                if want.chars().flat_map(char::to_lowercase).eq(have.chars()) {
                    Ok(())
                } else {
                    Err(format!("email domain is {have}, not {want}"))
                }
            }
            Self::Oidc(rule) => {
                check_idp(rule.identity_provider_id, identity)?;
                let (name, want) = (rule.claim_name.as_str(), rule.claim_value.as_str());
                if name.eq_ignore_ascii_case("groups") {
                    return if identity.groups.iter().any(|group| group == want) {
                        Ok(())
                    } else if identity.groups.is_empty() {
                        Err("identity has no groups".to_owned())
                    } else {
                        Err(format!("no group equal to `{want}`"))
                    };
                }
                match identity.oidc_fields.get(name) {
                    None => Err(format!("claim `{name}` not present")),
                    Some(Value::Array(items)) => {
                        if items.iter().any(|item| scalar_equals(item, want)) {
                            Ok(())
                        } else {
                            Err(format!("claim `{name}` has no element equal to `{want}`"))
                        }
                    }
                    Some(Value::Object(_)) => Err(format!(
                        "claim `{name}` is an object, which never equals a value"
                    )),
                    Some(Value::Null) => Err(format!("claim `{name}` is null")),
                    Some(value) => {
                        if scalar_equals(value, want) {
                            Ok(())
                        } else {
                            Err(format!("claim `{name}` is not equal to `{want}`"))
                        }
                    }
                }
            }
            Self::Okta(rule) => {
                check_idp(rule.identity_provider_id, identity)?;
                group_member(identity, |group| group == rule.name, &rule.name)
            }
            Self::AzureAd(rule) => {
                check_idp(rule.identity_provider_id, identity)?;
                group_member(identity, |group| group == rule.id, &rule.id)
            }
            Self::Gsuite(rule) => {
                check_idp(rule.identity_provider_id, identity)?;
                let want = rule.email.trim();
                group_member(
                    identity,
                    |group| {
                        want.chars()
                            .flat_map(char::to_lowercase)
                            .eq(group.chars().flat_map(char::to_lowercase))
                    },
                    want,
                )
            }
        }
    }
}

fn check_idp(restriction: Option<IdpId>, identity: &Identity) -> Result<(), String> {
    match restriction {
        Some(id) if id != identity.idp_id => Err(format!(
            "signed in with identity provider {}, the rule is for {id}",
            identity.idp_id
        )),
        _ => Ok(()),
    }
}

fn group_member(
    identity: &Identity,
    is_wanted: impl Fn(&str) -> bool,
    wanted: &str,
) -> Result<(), String> {
    if identity.groups.iter().any(|group| is_wanted(group)) {
        Ok(())
    } else if identity.groups.is_empty() {
        Err("identity has no groups".to_owned())
    } else {
        Err(format!("not a member of group `{wanted}`"))
    }
}

/// Compares a claim value with a policy's text: strings as they are, numbers and booleans by their
/// JSON text (so `claim_value = "42"` matches the number 42); nested arrays and objects never.
fn scalar_equals(value: &Value, want: &str) -> bool {
    match value {
        Value::String(text) => text == want,
        Value::Bool(flag) => want == if *flag { "true" } else { "false" },
        Value::Number(number) => number.to_string() == want,
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

impl fmt::Display for Evaluation {
    /// A multi-line account for logs and the policy tester: the verdict, then each examined
    /// policy with each rule and, where it failed, why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.deciding_policy() {
            Some(policy) => writeln!(
                f,
                "access {} by policy {:?} ({}, position {})",
                if self.allowed { "allowed" } else { "denied" },
                policy.name,
                policy.decision,
                self.matched.map_or(0, |index| index + 1),
            )?,
            None if self.explanation.is_empty() => {
                writeln!(f, "access denied: the application has no policies")?
            }
            None => writeln!(f, "access denied: no policy matched")?,
        }
        for (index, policy) in self.explanation.iter().enumerate() {
            write!(
                f,
                "policy {:?} ({}, position {}): ",
                policy.name,
                policy.decision,
                index + 1
            )?;
            if let Some(skipped) = &policy.skipped {
                writeln!(f, "{skipped}")?;
                continue;
            }
            writeln!(
                f,
                "{}",
                if policy.matched {
                    "matched"
                } else {
                    "not matched"
                }
            )?;
            for rule in &policy.rules {
                write!(f, "  {} {}: ", rule.section, rule.rule)?;
                match (rule.section, rule.matched) {
                    (RuleSection::Exclude, true) => {
                        writeln!(f, "matched, so the policy does not apply")?
                    }
                    (_, true) => writeln!(f, "matched")?,
                    (_, false) => writeln!(
                        f,
                        "not matched ({})",
                        rule.reason.as_deref().unwrap_or("no reason recorded")
                    )?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Email;
    use crate::policy::{AzureGroupRule, GsuiteGroupRule, OidcRule, OktaGroupRule};
    use serde_json::json;

    const IDP: &str = "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c";
    const OTHER_IDP: &str = "11111111-2222-3333-4444-555555555555";

    fn identity(email: &str) -> Identity {
        let fields = json!({
            "roles": ["user", "admin"],
            "department": "Sales",
            "employee_id": 42,
            "contractor": false,
            "manager": {"id": "x"},
            "nothing": null,
            "nested": [["admin"]],
        });
        Identity {
            email: Email::parse(email).unwrap(),
            name: Some("Alice".into()),
            subject: "sub-1".into(),
            groups: vec![
                "Engineering".into(),
                "fdaedb59-aaaa".into(),
                "Eng@Example.com".into(),
            ],
            oidc_fields: fields.as_object().unwrap().clone(),
            amr: vec!["pwd".into()],
            idp_id: IdpId::parse(IDP).unwrap(),
            idp_type: "oidc".into(),
        }
    }

    fn alice() -> Identity {
        identity("alice@example.com")
    }

    fn policy(name: &str, decision: Decision, include: Vec<Rule>) -> Policy {
        Policy {
            name: name.into(),
            decision,
            include,
            exclude: vec![],
            require: vec![],
            session_duration: None,
        }
    }

    fn reason(rule: &Rule, identity: &Identity) -> String {
        rule.check(identity).unwrap_err()
    }

    #[test]
    fn everyone_matches() {
        assert!(Rule::everyone().matches(&alice()));
    }

    #[test]
    fn email_rule_compares_normalised_addresses() {
        let rule = Rule::email(Email::parse("ALICE@example.com").unwrap());
        assert!(rule.matches(&alice()));
        let bob = identity("bob@example.com");
        assert_eq!(
            reason(&rule, &bob),
            "email is bob@example.com, not alice@example.com"
        );
    }

    #[test]
    fn email_domain_rule_is_exact_and_case_insensitive() {
        for domain in [
            "example.com",
            "@example.com",
            "EXAMPLE.com",
            " example.com ",
        ] {
            assert!(Rule::email_domain(domain).matches(&alice()), "{domain}");
        }
        // Neither a look-alike suffix nor a subdomain nor a parent domain matches.
        for email in [
            "mallory@evil-example.com",
            "eve@sub.example.com",
            "carol@com",
        ] {
            assert!(
                !Rule::email_domain("example.com").matches(&identity(email)),
                "{email}"
            );
        }
        assert_eq!(
            reason(&Rule::email_domain("example.com"), &identity("x@other.org")),
            "email domain is other.org, not example.com"
        );
    }

    #[test]
    fn oidc_rule_matches_scalar_claims() {
        assert!(Rule::oidc("department", "Sales").matches(&alice()));
        assert!(!Rule::oidc("department", "sales").matches(&alice()));
        assert!(!Rule::oidc("Department", "Sales").matches(&alice()));
        assert!(Rule::oidc("employee_id", "42").matches(&alice()));
        assert!(!Rule::oidc("employee_id", "4").matches(&alice()));
        assert!(Rule::oidc("contractor", "false").matches(&alice()));
        assert_eq!(
            reason(&Rule::oidc("department", "HR"), &alice()),
            "claim `department` is not equal to `HR`"
        );
        assert_eq!(
            reason(&Rule::oidc("missing", "x"), &alice()),
            "claim `missing` not present"
        );
        assert!(reason(&Rule::oidc("manager", "x"), &alice()).contains("object"));
        assert!(!Rule::oidc("nothing", "null").matches(&alice()));
    }

    #[test]
    fn oidc_rule_matches_any_element_of_multi_record_claims() {
        assert!(Rule::oidc("roles", "admin").matches(&alice()));
        assert!(Rule::oidc("roles", "user").matches(&alice()));
        assert_eq!(
            reason(&Rule::oidc("roles", "owner"), &alice()),
            "claim `roles` has no element equal to `owner`"
        );
        // Whole-value comparison: no substring or prefix matching.
        assert!(!Rule::oidc("roles", "adm").matches(&alice()));
        assert!(!Rule::oidc("roles", "user,admin").matches(&alice()));
        // Only one level of array is flattened.
        assert!(!Rule::oidc("nested", "admin").matches(&alice()));
    }

    #[test]
    fn oidc_groups_claim_reads_identity_groups() {
        for name in ["groups", "Groups", "GROUPS"] {
            assert!(Rule::oidc(name, "Engineering").matches(&alice()), "{name}");
        }
        assert_eq!(
            reason(&Rule::oidc("groups", "Sales"), &alice()),
            "no group equal to `Sales`"
        );
        let mut lonely = alice();
        lonely.groups.clear();
        assert_eq!(
            reason(&Rule::oidc("groups", "Sales"), &lonely),
            "identity has no groups"
        );
    }

    #[test]
    fn identity_provider_restriction_is_enforced() {
        let other = IdpId::parse(OTHER_IDP).unwrap();
        let own = IdpId::parse(IDP).unwrap();
        let restricted = |idp| {
            Rule::Oidc(OidcRule {
                claim_name: "roles".into(),
                claim_value: "admin".into(),
                identity_provider_id: Some(idp),
            })
        };
        assert!(restricted(own).matches(&alice()));
        assert!(!restricted(other).matches(&alice()));
        assert!(reason(&restricted(other), &alice()).contains(OTHER_IDP));
        let okta = |idp| {
            Rule::Okta(OktaGroupRule {
                name: "Engineering".into(),
                identity_provider_id: Some(idp),
            })
        };
        assert!(okta(own).matches(&alice()));
        assert!(!okta(other).matches(&alice()));
        let azure = |idp| {
            Rule::AzureAd(AzureGroupRule {
                id: "fdaedb59-aaaa".into(),
                identity_provider_id: Some(idp),
            })
        };
        assert!(azure(own).matches(&alice()));
        assert!(!azure(other).matches(&alice()));
        let gsuite = |idp| {
            Rule::Gsuite(GsuiteGroupRule {
                email: "eng@example.com".into(),
                identity_provider_id: Some(idp),
            })
        };
        assert!(gsuite(own).matches(&alice()));
        assert!(!gsuite(other).matches(&alice()));
    }

    #[test]
    fn idp_group_shapes_match_identity_groups() {
        let okta = |name: &str| {
            Rule::Okta(OktaGroupRule {
                name: name.into(),
                identity_provider_id: None,
            })
        };
        assert!(okta("Engineering").matches(&alice()));
        assert!(!okta("engineering").matches(&alice()));
        assert_eq!(
            reason(&okta("Sales"), &alice()),
            "not a member of group `Sales`"
        );
        let azure = |id: &str| {
            Rule::AzureAd(AzureGroupRule {
                id: id.into(),
                identity_provider_id: None,
            })
        };
        assert!(azure("fdaedb59-aaaa").matches(&alice()));
        assert!(!azure("fdaedb59").matches(&alice()));
        let gsuite = |email: &str| {
            Rule::Gsuite(GsuiteGroupRule {
                email: email.into(),
                identity_provider_id: None,
            })
        };
        assert!(gsuite("ENG@example.com").matches(&alice()));
        assert!(!gsuite("ops@example.com").matches(&alice()));
    }

    #[test]
    fn include_is_or_exclude_is_not_require_is_and() {
        let mut p = policy(
            "p",
            Decision::Allow,
            vec![
                Rule::email_domain("other.org"),
                Rule::oidc("roles", "admin"),
            ],
        );
        assert!(p.evaluate(&alice()).matched, "one include suffices");

        p.exclude = vec![
            Rule::oidc("department", "HR"),
            Rule::oidc("contractor", "false"),
        ];
        assert!(
            !p.evaluate(&alice()).matched,
            "any exclude rules the policy out"
        );
        p.exclude = vec![Rule::oidc("department", "HR")];
        assert!(p.evaluate(&alice()).matched);

        p.require = vec![
            Rule::email_domain("example.com"),
            Rule::oidc("groups", "Engineering"),
        ];
        assert!(p.evaluate(&alice()).matched);
        p.require.push(Rule::oidc("groups", "Finance"));
        assert!(!p.evaluate(&alice()).matched, "every require must match");

        p.require.clear();
        p.include = vec![Rule::email_domain("other.org")];
        assert!(!p.evaluate(&alice()).matched, "no include matched");
        p.include.clear();
        assert!(
            !p.evaluate(&alice()).matched,
            "an empty include list matches nobody"
        );
    }

    #[test]
    fn first_matching_policy_decides() {
        let deny_contractors = {
            let mut p = policy(
                "no contractors",
                Decision::Deny,
                vec![Rule::oidc("contractor", "true")],
            );
            p.exclude = vec![];
            p
        };
        let staff = policy(
            "staff",
            Decision::Allow,
            vec![Rule::email_domain("example.com")],
        );
        let block_alice = policy(
            "block alice",
            Decision::Deny,
            vec![Rule::email(Email::parse("alice@example.com").unwrap())],
        );

        let result = evaluate(
            &[deny_contractors.clone(), staff.clone(), block_alice.clone()],
            &alice(),
        );
        assert!(result.allowed);
        assert_eq!(result.matched, Some(1));
        assert_eq!(
            result.explanation.len(),
            2,
            "later policies are not examined"
        );

        let result = evaluate(&[block_alice.clone(), staff.clone()], &alice());
        assert!(!result.allowed);
        assert_eq!(result.matched, Some(0));

        let result = evaluate(std::slice::from_ref(&staff), &identity("bob@other.org"));
        assert!(!result.allowed);
        assert_eq!(result.matched, None);
        assert_eq!(result.explanation.len(), 1);

        let result = evaluate(&[], &alice());
        assert!(!result.allowed && result.matched.is_none());
    }

    #[test]
    fn unsupported_decisions_never_grant_access() {
        let bypass = policy("bypass", Decision::Bypass, vec![Rule::everyone()]);
        let service = policy("service", Decision::NonIdentity, vec![Rule::everyone()]);
        let result = evaluate(&[bypass, service], &alice());
        assert!(!result.allowed);
        assert_eq!(result.matched, None);
        assert!(result.explanation[0].skipped.is_some());
        assert!(!result.explanation[1].matched);
    }

    #[test]
    fn explanation_names_rules_and_reasons() {
        let mut staff = policy(
            "staff",
            Decision::Allow,
            vec![Rule::email_domain("example.com")],
        );
        staff.require = vec![Rule::oidc("roles", "owner")];
        staff.exclude = vec![Rule::oidc("department", "Sales")];
        let result = evaluate(&[staff], &alice());
        let trace = &result.explanation[0];
        assert_eq!(trace.rules.len(), 3);
        assert_eq!(trace.rules[0].section, RuleSection::Include);
        assert_eq!(trace.rules[0].rule, "email_domain example.com");
        assert!(trace.rules[0].matched && trace.rules[0].reason.is_none());
        assert_eq!(trace.rules[1].section, RuleSection::Exclude);
        assert!(trace.rules[1].matched);
        assert_eq!(trace.rules[2].section, RuleSection::Require);
        assert_eq!(
            trace.rules[2].reason.as_deref(),
            Some("claim `roles` has no element equal to `owner`")
        );

        let text = result.to_string();
        assert!(
            text.starts_with("access denied: no policy matched\n"),
            "{text}"
        );
        assert!(
            text.contains("policy \"staff\" (allow, position 1): not matched"),
            "{text}"
        );
        assert!(
            text.contains("  include email_domain example.com: matched"),
            "{text}"
        );
        assert!(
            text.contains("  exclude oidc department=Sales: matched, so the policy does not apply"),
            "{text}"
        );
        assert!(
            text.contains("  require oidc roles=owner: not matched (claim `roles` has no element equal to `owner`)"),
            "{text}"
        );
        // Claim values other than the ones compared never appear.
        for secret in ["user", "42", "Engineering", "fdaedb59", "Alice", "sub-1"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }

        let allowed = evaluate(
            &[policy("staff", Decision::Allow, vec![Rule::everyone()])],
            &alice(),
        );
        assert!(
            allowed
                .to_string()
                .starts_with("access allowed by policy \"staff\" (allow, position 1)")
        );
        assert_eq!(
            allowed.deciding_policy().map(|p| p.name.as_str()),
            Some("staff")
        );
    }
}
