//! Policy evaluation cost: an application with 50 policies whose deciding policy is the last one
//! (every policy before it is examined in full), for identities with 1, 10 and 200 IdP groups.
//!
//! `evaluate` builds the explanation (login, session renewal, policy tester); `decide` is the
//! same verdict without it (per-request checks). `cargo bench -p portcullis-core --bench
//! evaluate` measures; `cargo test --benches` runs each once as a smoke test.

// The fixture is fixed text; a panic while building it is the right way for a benchmark to fail.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use portcullis_core::{
    Catalog, Decision, Email, Facts, Identity, IdpId, IpRange, List, ListKind, Outcome, Policy,
    Rule, RuleGroup, decide, evaluate,
};

fn main() {
    divan::main();
}

const GROUP_COUNTS: [usize; 3] = [1, 10, 200];

/// The catalog an organisation might have: a few rule groups (one nesting another), an email
/// list of 500 contractors and an IP list of office ranges.
fn catalog() -> Catalog {
    let groups = vec![
        RuleGroup {
            id: "staff".into(),
            name: "Staff".into(),
            include: vec![Rule::email_domain("example.com")],
            exclude: vec![Rule::group("contractors")],
            require: vec![],
        },
        RuleGroup {
            id: "contractors".into(),
            name: "Contractors".into(),
            include: vec![json_rule(r#"{"email_list": {"id": "contractor-emails"}}"#)],
            exclude: vec![],
            require: vec![],
        },
        RuleGroup {
            id: "sre".into(),
            name: "SRE on call".into(),
            include: vec![Rule::oidc("groups", "sre"), Rule::oidc("groups", "oncall")],
            exclude: vec![],
            require: vec![Rule::group("staff")],
        },
    ];
    let lists = vec![
        List {
            id: "contractor-emails".into(),
            name: "Contractors".into(),
            kind: ListKind::Email,
            items: (0..500).map(|i| format!("c{i}@vendor.example")).collect(),
        },
        List {
            id: "offices".into(),
            name: "Offices".into(),
            kind: ListKind::Ip,
            items: (0..20).map(|i| format!("10.{i}.0.0/16")).collect(),
        },
    ];
    Catalog::new(groups, lists).unwrap()
}

fn json_rule(text: &str) -> Rule {
    serde_json::from_str(text).unwrap()
}

/// 49 policies that do not match the benchmark identity, then the one that does.
fn policies() -> Vec<Policy> {
    let mut policies = Vec::with_capacity(50);
    for i in 0..49 {
        let (decision, include, require) = match i % 5 {
            0 => (
                Decision::Allow,
                vec![Rule::email_domain(format!("partner{i}.example"))],
                vec![],
            ),
            1 => (
                Decision::Allow,
                vec![
                    Rule::oidc("groups", format!("team-{i}")),
                    Rule::oidc("groups", format!("team-{i}-admins")),
                ],
                vec![Rule::ip(IpRange::parse("192.168.0.0/16").unwrap())],
            ),
            2 => (
                Decision::Allow,
                vec![Rule::group("sre")],
                vec![json_rule(r#"{"auth_method": {"auth_method": "mfa"}}"#)],
            ),
            3 => (Decision::Deny, vec![Rule::group("contractors")], vec![]),
            _ => (
                Decision::Allow,
                vec![Rule::oidc("department", format!("dept-{i}"))],
                vec![json_rule(r#"{"ip_list": {"id": "offices"}}"#)],
            ),
        };
        policies.push(Policy {
            name: format!("policy {i}"),
            decision,
            include,
            exclude: vec![],
            require,
            session_duration: None,
        });
    }
    policies.push(Policy {
        name: "staff from the office".into(),
        decision: Decision::Allow,
        include: vec![Rule::group("staff")],
        exclude: vec![Rule::oidc("groups", "suspended")],
        require: vec![Rule::ip(IpRange::parse("10.0.0.0/8").unwrap())],
        session_duration: None,
    });
    policies
}

fn identity(groups: usize) -> Identity {
    let fields = serde_json::json!({"department": "engineering", "roles": ["user"]});
    Identity {
        email: Email::parse("alice@example.com").unwrap(),
        name: Some("Alice".into()),
        subject: "alice".into(),
        groups: (0..groups).map(|i| format!("group-{i}")).collect(),
        oidc_fields: fields.as_object().unwrap().clone(),
        amr: vec!["pwd".into()],
        idp_id: IdpId::parse("0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c").unwrap(),
        idp_type: "oidc".into(),
    }
}

struct Setup {
    policies: Vec<Policy>,
    catalog: Catalog,
    identity: Identity,
}

fn setup(groups: usize) -> Setup {
    let setup = Setup {
        policies: policies(),
        catalog: catalog(),
        identity: identity(groups),
    };
    for policy in &setup.policies {
        setup.catalog.validate_policy(policy).unwrap();
    }
    let result = evaluate(&setup.policies, &setup.facts(), &setup.catalog);
    assert_eq!(result.outcome, Outcome::Allow);
    assert_eq!(result.matched, Some(49), "{result}");
    setup
}

impl Setup {
    fn facts(&self) -> Facts<'_> {
        Facts {
            identity: Some(&self.identity),
            ip: Some(IpAddr::V4(Ipv4Addr::new(10, 3, 2, 1))),
            country: Some("PT"),
            service_token: None,
        }
    }
}

/// With the explanation, as at login.
#[divan::bench(args = GROUP_COUNTS)]
fn evaluate_50_policies_last_decides(bencher: divan::Bencher, groups: usize) {
    let setup = setup(groups);
    bencher.bench(|| {
        evaluate(
            divan::black_box(&setup.policies),
            &setup.facts(),
            &setup.catalog,
        )
    });
}

/// Without the explanation, as on a proxied request.
#[divan::bench(args = GROUP_COUNTS)]
fn decide_50_policies_last_decides(bencher: divan::Bencher, groups: usize) {
    let setup = setup(groups);
    bencher.bench(|| {
        decide(
            divan::black_box(&setup.policies),
            &setup.facts(),
            &setup.catalog,
        )
    });
}
