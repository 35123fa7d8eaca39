//! Properties of evaluation that must hold for every policy set and request, checked on
//! generated input (proptest): exclusions win, includes only widen, nothing panics, and a
//! signed-in user is never asked to sign in.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::catalog::{List, RuleGroup};
use crate::ip::IpRange;

const IDPS: [&str; 2] = [
    "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c",
    "11111111-2222-3333-4444-555555555555",
];
const TOKENS: [&str; 2] = [
    "5b7c1e4a-0d2f-4c6b-8a9e-3f1d2c4b6a8e",
    "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
];
const EMAILS: [&str; 4] = [
    "alice@example.com",
    "bob@example.com",
    "carol@other.org",
    "boss@example.com",
];
const GROUPS: [&str; 4] = ["eng", "ops", "admin", "Sales"];
const AMR: [&str; 3] = ["pwd", "mfa", "otp"];
const ADDRESSES: [&str; 6] = [
    "192.0.2.7",
    "::ffff:192.0.2.7",
    "198.51.100.1",
    "2001:db8::1",
    "10.1.2.3",
    "::1",
];
const RANGES: [&str; 5] = [
    "192.0.2.0/24",
    "10.0.0.0/8",
    "2001:db8::/32",
    "198.51.100.1",
    "0.0.0.0/0",
];
const COUNTRIES: [&str; 4] = ["PT", "us", "FR", "XX"];
const CATALOG_GROUPS: [&str; 5] = ["staff", "office", "admins", "mixed", "robots"];

fn catalog() -> Catalog {
    let group = |id: &str, include: Vec<Rule>, exclude: Vec<Rule>, require: Vec<Rule>| RuleGroup {
        id: id.into(),
        name: id.into(),
        include,
        exclude,
        require,
    };
    let rule = |value| serde_json::from_value::<Rule>(value).unwrap();
    Catalog::new(
        vec![
            group(
                "staff",
                vec![Rule::email_domain("example.com")],
                vec![],
                vec![],
            ),
            group(
                "office",
                vec![rule(json!({"ip_list": {"id": "offices"}}))],
                vec![],
                vec![],
            ),
            group(
                "admins",
                vec![Rule::group("staff")],
                vec![],
                vec![Rule::oidc("groups", "admin")],
            ),
            group(
                "mixed",
                vec![Rule::geo("PT"), Rule::group("office")],
                vec![Rule::group("staff")],
                vec![],
            ),
            group(
                "robots",
                vec![rule(json!({"any_valid_service_token": {}}))],
                vec![],
                vec![Rule::group("office")],
            ),
        ],
        vec![
            List {
                id: "vips".into(),
                name: "VIPs".into(),
                kind: ListKind::Email,
                items: vec!["boss@example.com".into(), "alice@example.com".into()],
            },
            List {
                id: "offices".into(),
                name: "Offices".into(),
                kind: ListKind::Ip,
                items: vec!["192.0.2.0/24".into(), "2001:db8::/48".into()],
            },
        ],
    )
    .unwrap()
}

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(items)
}

fn subset(items: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(items, 0..=items.len())
        .prop_map(|chosen| chosen.into_iter().map(str::to_owned).collect())
}

fn identity() -> impl Strategy<Value = Identity> {
    (
        pick(&EMAILS),
        subset(&GROUPS),
        subset(&AMR),
        pick(&IDPS),
        prop_oneof![Just(json!(["admin"])), Just(json!("user")), Just(json!(7))],
    )
        .prop_map(|(email, groups, amr, idp, roles)| Identity {
            email: Email::parse(email).unwrap(),
            name: None,
            subject: "subject".into(),
            groups,
            oidc_fields: json!({ "roles": roles }).as_object().unwrap().clone(),
            amr,
            idp_id: IdpId::parse(idp).unwrap(),
            idp_type: "oidc".into(),
        })
}

/// Request facts without the identity (which the caller lends).
#[derive(Clone, Debug)]
struct Request {
    ip: Option<IpAddr>,
    country: Option<&'static str>,
    service_token: Option<ServiceTokenId>,
}

impl Request {
    fn facts<'a>(&'a self, identity: Option<&'a Identity>) -> Facts<'a> {
        Facts {
            identity,
            ip: self.ip,
            country: self.country,
            service_token: self.service_token,
        }
    }
}

fn request() -> impl Strategy<Value = Request> {
    (
        proptest::option::of(pick(&ADDRESSES)),
        proptest::option::of(pick(&COUNTRIES)),
        proptest::option::of(pick(&TOKENS)),
    )
        .prop_map(|(ip, country, token)| Request {
            ip: ip.map(|text| text.parse().unwrap()),
            country,
            service_token: token.map(|text| ServiceTokenId::parse(text).unwrap()),
        })
}

fn rule() -> impl Strategy<Value = Rule> {
    let parse = |value: serde_json::Value| serde_json::from_value::<Rule>(value).unwrap();
    prop_oneof![
        Just(Rule::everyone()),
        pick(&EMAILS).prop_map(|email| Rule::email(Email::parse(email).unwrap())),
        pick(&["example.com", "other.org", "@Example.COM"][..]).prop_map(Rule::email_domain),
        pick(&["vips", "offices", "missing"][..])
            .prop_map(move |id| parse(json!({"email_list": {"id": id}}))),
        pick(&RANGES).prop_map(|range| Rule::ip(IpRange::parse(range).unwrap())),
        pick(&["offices", "vips"][..]).prop_map(move |id| parse(json!({"ip_list": {"id": id}}))),
        pick(&IDPS).prop_map(move |id| parse(json!({"login_method": {"id": id}}))),
        pick(&AMR).prop_map(move |method| parse(json!({"auth_method": {"auth_method": method}}))),
        pick(&TOKENS).prop_map(move |id| parse(json!({"service_token": {"token_id": id}}))),
        Just(parse(json!({"any_valid_service_token": {}}))),
        pick(&CATALOG_GROUPS).prop_map(Rule::group),
        Just(Rule::group("undefined")),
        pick(&COUNTRIES).prop_map(Rule::geo),
        (pick(&["groups", "roles"][..]), pick(&GROUPS))
            .prop_map(|(name, value)| Rule::oidc(name, value)),
        pick(&GROUPS).prop_map(move |name| parse(json!({"okta": {"name": name}}))),
        pick(&GROUPS).prop_map(move |id| parse(json!({"azureAD": {"id": id}}))),
    ]
}

fn decision() -> impl Strategy<Value = Decision> {
    pick(&[
        Decision::Allow,
        Decision::Deny,
        Decision::Bypass,
        Decision::NonIdentity,
    ])
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        decision(),
        proptest::collection::vec(rule(), 0..3),
        proptest::collection::vec(rule(), 0..2),
        proptest::collection::vec(rule(), 0..2),
    )
        .prop_map(|(decision, include, exclude, require)| Policy {
            name: format!("{decision} policy"),
            decision,
            include,
            exclude,
            require,
            session_duration: None,
        })
}

fn policies() -> impl Strategy<Value = Vec<Policy>> {
    proptest::collection::vec(policy(), 0..6)
}

/// Every rule outcome in a trace, nested groups included.
fn outcomes(rules: &[RuleTrace]) -> Vec<RuleOutcome> {
    rules
        .iter()
        .flat_map(|rule| {
            std::iter::once(rule.outcome).chain(outcomes(rule.group.as_deref().unwrap_or(&[])))
        })
        .collect()
}

proptest! {
    #[test]
    fn a_matching_exclude_always_wins(
        mut policy in policy(),
        excluded in rule(),
        identity in proptest::option::of(identity()),
        request in request(),
    ) {
        let catalog = catalog();
        let facts = request.facts(identity.as_ref());
        if excluded.check(&facts, &catalog) == RuleOutcome::Match {
            let position = policy.exclude.len().min(1);
            policy.exclude.insert(position, excluded);
            prop_assert_eq!(policy.check(&facts, &catalog), RuleOutcome::NoMatch);
            prop_assert_eq!(policy.explain(0, &facts, &catalog).outcome, RuleOutcome::NoMatch);
            let result = evaluate(std::slice::from_ref(&policy), &facts, &catalog);
            prop_assert_eq!(result.matched, None);
        }
        policy.exclude.push(Rule::everyone());
        prop_assert_eq!(policy.check(&facts, &catalog), RuleOutcome::NoMatch);
    }

    #[test]
    fn adding_an_include_never_removes_access(
        mut policies in policies(),
        added in rule(),
        target in any::<prop::sample::Index>(),
        identity in proptest::option::of(identity()),
        request in request(),
    ) {
        let catalog = catalog();
        let facts = request.facts(identity.as_ref());
        let before = evaluate(&policies, &facts, &catalog);
        let widened: Vec<usize> = policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.decision != Decision::Deny)
            .map(|(index, _)| index)
            .collect();
        if !widened.is_empty() {
            let index = widened[target.index(widened.len())];
            policies[index].include.push(added);
            let after = evaluate(&policies, &facts, &catalog);
            if before.allowed() {
                prop_assert!(after.allowed(), "before:\n{}after:\n{}", before, after);
            }
        }
    }

    #[test]
    fn evaluation_never_panics_and_agrees_with_decide(
        policies in policies(),
        identity in proptest::option::of(identity()),
        request in request(),
    ) {
        let catalog = catalog();
        let facts = request.facts(identity.as_ref());
        let result = evaluate(&policies, &facts, &catalog);
        let verdict = decide(&policies, &facts, &catalog);
        prop_assert_eq!(verdict.outcome, result.outcome);
        prop_assert_eq!(verdict.matched, result.matched);
        prop_assert!(result.explanation.len() <= policies.len());
        if let Some(position) = result.matched {
            let deciding = result.deciding_policy().unwrap();
            prop_assert_eq!(deciding.position, position);
            prop_assert_eq!(deciding.outcome, RuleOutcome::Match);
        }
        let text = result.to_string();
        prop_assert!(!text.is_empty());
        prop_assert!(!text.contains("no reason recorded"), "{}", text);
        serde_json::to_string(&result).unwrap();
        let _ = result.denied_by_identity();
        // Evaluation order: every first-phase policy before any other.
        let phases: Vec<bool> = result
            .explanation
            .iter()
            .map(|p| p.decision.is_first_phase())
            .collect();
        prop_assert!(phases.windows(2).all(|w| w[0] || !w[1]));
    }

    #[test]
    fn a_signed_in_user_is_never_asked_to_sign_in(
        policies in policies(),
        identity in identity(),
        request in request(),
    ) {
        let catalog = catalog();
        let facts = request.facts(Some(&identity));
        let result = evaluate(&policies, &facts, &catalog);
        prop_assert_ne!(result.outcome, Outcome::NeedsIdentity);
        for policy in &result.explanation {
            prop_assert_ne!(policy.outcome, RuleOutcome::Unknown);
            prop_assert!(!outcomes(&policy.rules).contains(&RuleOutcome::Unknown));
        }
    }

    #[test]
    fn only_identity_rules_are_unknown(rule in rule(), request in request()) {
        let catalog = catalog();
        let outcome = rule.check(&request.facts(None), &catalog);
        if outcome == RuleOutcome::Unknown {
            prop_assert!(rule.is_identity(&catalog), "{}", rule);
        }
    }
}
