//! The domain model of Portcullis: typed identifiers, the identity a login produces, Access
//! policies in Cloudflare's rule shapes and their evaluation with explanations, application
//! host/path matching, and Go-style durations.
//!
//! Policies ([`Policy`]) carry all four Cloudflare decisions (Allow, Block as `deny`, Bypass,
//! Service Auth as `non_identity`) and the rule types listed in [`SUPPORTED_RULE_TYPES`];
//! rule types this version cannot enforce are refused when read, never ignored. Rule groups and
//! email/IP lists live in a [`Catalog`] that is validated once (references resolve, no cycles)
//! and shared. [`evaluate`] takes the [`Facts`] of one request (the identity if someone has
//! signed in, the client address, country and service token) and returns an [`Outcome`] with a
//! per-rule explanation; identity rules are *unknown* before sign-in, so the gateway learns
//! whether to ask for a sign-in ([`Outcome::NeedsIdentity`]) rather than refuse.
//!
//! This crate is pure on purpose: no I/O, no async, no clock and no randomness (callers pass
//! random bytes in), so that every decision the gateway takes about who may reach what can be
//! tested, fuzzed and reasoned about in isolation. It knows nothing about HTTP, tokens, storage
//! or identity-provider protocols; those live in the crates that depend on it.

#![forbid(unsafe_code)]

mod catalog;
mod domain;
mod duration;
mod error;
mod evaluate;
mod identity;
mod ids;
mod ip;
mod policy;

pub use catalog::{Catalog, List, ListKind, MAX_GROUP_DEPTH, RuleGroup};
pub use domain::{AppRouter, DomainPattern, normalize_path};
pub use duration::{format_go_duration, parse_go_duration};
pub use error::{CoreError, DurationError, PolicyError};
pub use evaluate::{
    Evaluation, Facts, Outcome, PolicyTrace, RuleOutcome, RuleSection, RuleTrace, Verdict, decide,
    evaluate,
};
pub use identity::Identity;
pub use ids::{AppId, Aud, Email, IdpId, ServiceTokenId, SessionId, UserId};
pub use ip::IpRange;
pub use policy::{
    AnyValidServiceTokenRule, AuthMethodRule, AzureGroupRule, Decision, EmailDomainRule,
    EmailListRule, EmailRule, EveryoneRule, GeoRule, GroupRule, GsuiteGroupRule, IpListRule,
    IpRule, LoginMethodRule, OidcRule, OktaGroupRule, Policy, Rule, SUPPORTED_RULE_TYPES,
    ServiceTokenRule,
};

/// Randomised robustness checks: every parser facing configuration or the network is fed
/// generated input and must return a value or an error, never panic, and what it accepts must
/// read back unchanged. Deterministic (fixed seed) so a failure reproduces.
#[cfg(test)]
mod robustness_tests {
    use super::*;

    /// xorshift64*: enough randomness for input generation, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn text(&mut self, pieces: &[&str], max_pieces: usize) -> String {
            let count = self.below(max_pieces + 1);
            (0..count)
                .map(|_| pieces[self.below(pieces.len())])
                .collect()
        }
    }

    const PIECES: &[&str] = &[
        "a", "Z", "0", "7", ".", "..", "*", "/", "//", "@", ":", "%", "%2e", "%2F", "%4", "?", "#",
        " ", "\t", "\n", "\r", "-", "_", "~", "µ", "é", "\u{0}", "[", "]", "\"", "example", "com",
        "https://", "h", "m", "s", "ms", "ns", "us", "1", "9", ".5", "+", "x", "İ",
    ];

    #[test]
    fn parsers_never_panic_and_round_trip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let identity = Identity {
            email: Email::parse("alice@example.com").unwrap(),
            name: None,
            subject: "s".into(),
            groups: vec!["eng".into()],
            oidc_fields: serde_json::json!({"roles": ["a", 1, true, null, {"x": 1}], "n": 2})
                .as_object()
                .unwrap()
                .clone(),
            amr: vec![],
            idp_id: IdpId::from_uuid(uuid::Uuid::nil()),
            idp_type: "oidc".into(),
        };
        let mut accepted_patterns = Vec::new();
        for _ in 0..20_000 {
            let input = rng.text(PIECES, 12);

            if let Ok(email) = Email::parse(&input) {
                assert_eq!(
                    Email::parse(email.as_str()).as_ref(),
                    Ok(&email),
                    "{input:?}"
                );
                assert!(email.as_str().len() <= Email::MAX_LEN);
                assert!(!email.domain().is_empty() && !email.local_part().is_empty());
            }

            if let Ok(pattern) = DomainPattern::parse(&input) {
                let again = DomainPattern::parse(&pattern.to_string());
                assert_eq!(again.as_ref(), Ok(&pattern), "{input:?}");
                if let (Some(host), Some(path)) = (pattern.host_literal(), pattern.launch_path()) {
                    assert!(pattern.matches(host, path), "{input:?} misses its own URL");
                }
                if accepted_patterns.len() < 40 {
                    accepted_patterns.push(pattern);
                }
            }
            let host = rng.text(PIECES, 6);
            let path = rng.text(PIECES, 8);
            for pattern in &accepted_patterns {
                let _ = pattern.matches(&host, &path);
            }

            if let Ok(duration) = parse_go_duration(&input) {
                let text = format_go_duration(duration);
                assert_eq!(
                    parse_go_duration(&text),
                    Ok(duration),
                    "{input:?} -> {text}"
                );
            }

            let normal = normalize_path(&input);
            assert!(normal.starts_with('/'), "{input:?} -> {normal:?}");
            assert_eq!(normalize_path(&normal), normal, "{input:?} not idempotent");

            let _ = Aud::parse(&input);
            let _ = SessionId::parse(&input);
            let _ = IdpId::parse(&input);

            let kind = SUPPORTED_RULE_TYPES[rng.below(SUPPORTED_RULE_TYPES.len())];
            let field = [
                "email",
                "domain",
                "claim_name",
                "claim_value",
                "name",
                "id",
                "x",
                "ip",
                "auth_method",
                "token_id",
                "country_code",
            ][rng.below(11)];
            let json = format!(
                "{{\"{kind}\":{{\"{field}\":{},\"claim_value\":\"a\",\"claim_name\":\"roles\"}}}}",
                serde_json::Value::String(input.clone())
            );
            if let Ok(rule) = serde_json::from_str::<Rule>(&json) {
                let _ = rule.matches(&identity);
                let facts = Facts {
                    identity: Some(&identity),
                    ip: Some(std::net::IpAddr::from([192, 0, 2, 1])),
                    country: Some(&input),
                    service_token: None,
                };
                let _ = rule.check(&facts, &Catalog::empty());
                let text = rule.to_string();
                if rule.type_name() == "ip" {
                    // What was accepted reads back as written (trimmed).
                    let again: Rule =
                        serde_json::from_value(serde_json::to_value(&rule).unwrap()).unwrap();
                    assert_eq!(again.to_string(), text, "{input:?}");
                }
            }
            let _ = IpRange::parse(&input);
            let _ = serde_json::from_str::<Rule>(&input);
            let _ = serde_json::from_str::<Policy>(&input);
        }
        assert!(
            !accepted_patterns.is_empty(),
            "the generator never produced a valid domain"
        );
    }

    #[test]
    fn router_agrees_with_patterns() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let hosts = [
            "example.com",
            "a.example.com",
            "*.example.com",
            "a*.example.com",
            "b.org",
        ];
        let paths = ["", "/a", "/a/*", "/a*/b", "/a/b", "/b/"];
        let mut patterns = Vec::new();
        for host in hosts {
            for path in paths {
                patterns.push(DomainPattern::parse(&format!("{host}{path}")).unwrap());
            }
        }
        for _ in 0..200 {
            let count = 1 + rng.below(8);
            let mut chosen: Vec<DomainPattern> = Vec::new();
            while chosen.len() < count {
                let candidate = patterns[rng.below(patterns.len())].clone();
                if !chosen.contains(&candidate) {
                    chosen.push(candidate);
                }
            }
            let router =
                AppRouter::new(chosen.iter().cloned().enumerate().map(|(i, p)| (p, i))).unwrap();
            for _ in 0..20 {
                let host = [
                    "example.com",
                    "a.example.com",
                    "ab.example.com",
                    "b.org",
                    "x.y.example.com",
                ][rng.below(5)];
                let path =
                    ["/", "/a", "/a/", "/a/b", "/ab/b", "/b", "/b/c", "/a/x/b"][rng.below(8)];
                let any = chosen.iter().any(|p| p.matches(host, path));
                match router.route(host, path) {
                    Some(index) => assert!(chosen[*index].matches(host, path)),
                    None => assert!(!any, "{host}{path} unrouted though a domain covers it"),
                }
                assert_eq!(router.contains_url_target(host, path), any);
            }
        }
    }
}
