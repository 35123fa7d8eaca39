//! Policy evaluation with an explanation of every decision.
//!
//! [`evaluate`] decides what happens to one request of an application: it takes the
//! application's policies in Cloudflare's order (Service Auth and Bypass first, then Allow and
//! Block, each group top to bottom), stops at the first that matches, and records how every
//! examined rule fared. The record feeds the authentication log, the block page's details and
//! the policy tester, so it is built on every call; [`decide`] gives the same verdict without it
//! for hot paths that only need the outcome.
//!
//! Rules are three-valued. Before sign-in an identity rule (email, IdP group, …) is *unknown*
//! rather than false: a policy that hinges on one cannot be decided yet, and the evaluation asks
//! for a sign-in ([`Outcome::NeedsIdentity`]) instead of guessing. Non-identity facts that are
//! missing (no client address, no country) make their rules plainly not match: they will not
//! become known by signing in.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{Catalog, ListKind};
use crate::identity::Identity;
use crate::ids::{Email, IdpId, ServiceTokenId};
use crate::ip::net_contains;
use crate::policy::{Decision, Policy, Rule, bare_domain};

/// What is known about a request when its policies are evaluated.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts<'a> {
    /// Who signed in; `None` before sign-in, which makes identity rules unknown.
    pub identity: Option<&'a Identity>,
    /// The client address, as the gateway determined it.
    pub ip: Option<IpAddr>,
    /// The client's ISO 3166-1 alpha-2 country, from a trusted header; `None` when unknown.
    pub country: Option<&'a str>,
    /// A valid, enabled service token presented with this request (the gateway checks the
    /// secret and the token's state before saying so).
    pub service_token: Option<ServiceTokenId>,
}

impl<'a> Facts<'a> {
    /// Facts holding only a signed-in identity (no address, country or service token).
    pub fn signed_in(identity: &'a Identity) -> Self {
        Self {
            identity: Some(identity),
            ..Self::default()
        }
    }
}

/// Which list of a policy (or rule group) a rule came from.
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

/// How a rule, a rule group or a policy fared against a request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    /// It matches.
    Match,
    /// It does not match.
    NoMatch,
    /// It cannot be decided until someone signs in.
    Unknown,
}

impl RuleOutcome {
    /// `matched`, `not matched` or `unknown`, as explanations say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "matched",
            Self::NoMatch => "not matched",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for RuleOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to the request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An Allow policy matched a signed-in user: the request goes through.
    Allow,
    /// A Block (`deny`) policy matched: the request is refused.
    Deny,
    /// A Bypass policy matched: the request goes through without any Access check.
    Bypass,
    /// A Service Auth (`non_identity`) policy matched: the request goes through on its
    /// non-identity credentials (a service token).
    ServiceAuth,
    /// An Allow or Block policy depends on who the user is, or an Allow policy matched before
    /// anyone signed in (Allow always needs a signed-in user; Bypass and Service Auth are the
    /// ways in without one): the user must sign in, then the policies are evaluated again.
    NeedsIdentity,
    /// No policy matched: Access denies by default.
    DefaultDeny,
}

impl Outcome {
    /// The serde spelling (`allow`, `service_auth`, `needs_identity`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Bypass => "bypass",
            Self::ServiceAuth => "service_auth",
            Self::NeedsIdentity => "needs_identity",
            Self::DefaultDeny => "default_deny",
        }
    }

    /// Whether the request may reach the application: Allow, Bypass or Service Auth.
    pub fn allowed(self) -> bool {
        matches!(self, Self::Allow | Self::Bypass | Self::ServiceAuth)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one rule fared against the request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct RuleTrace {
    /// The list the rule belongs to.
    pub section: RuleSection,
    /// The rule, rendered compactly (`email_domain example.com`).
    pub rule: String,
    /// How the rule itself fared (for an exclude rule, a match rules the policy out).
    pub outcome: RuleOutcome,
    /// Why the rule did not match, or why it is unknown; `None` when it matched. Holds only
    /// values that were compared (emails, group names, addresses, countries), never secrets.
    pub reason: Option<String>,
    /// Whether the rule is an identity rule (decided by who signed in, not by the request).
    pub identity: bool,
    /// For a `group` rule, how each of the group's own rules fared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Vec<RuleTrace>>,
}

/// How one policy fared against the request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct PolicyTrace {
    /// The policy's name.
    pub name: String,
    /// The policy's decision.
    pub decision: Decision,
    /// The policy's index (0-based) in the slice given to [`evaluate`].
    pub position: usize,
    /// Whether the policy applies to the request.
    pub outcome: RuleOutcome,
    /// Every rule of the policy, include first, then exclude, then require.
    pub rules: Vec<RuleTrace>,
}

impl PolicyTrace {
    /// Whether an identity rule counted against the user here: for an Allow policy that did not
    /// match, an identity rule among those that kept it from matching; for a Block policy that
    /// matched, an identity rule among those that made it match.
    fn failed_on_identity(&self) -> bool {
        let identity = |section: RuleSection, outcome: RuleOutcome| {
            self.rules
                .iter()
                .any(|r| r.identity && r.section == section && r.outcome == outcome)
        };
        match (self.decision, self.outcome) {
            (Decision::Allow, RuleOutcome::NoMatch) => {
                let included = self
                    .rules
                    .iter()
                    .any(|r| r.section == RuleSection::Include && r.outcome == RuleOutcome::Match);
                (!included && identity(RuleSection::Include, RuleOutcome::NoMatch))
                    || identity(RuleSection::Exclude, RuleOutcome::Match)
                    || identity(RuleSection::Require, RuleOutcome::NoMatch)
            }
            (Decision::Deny, RuleOutcome::Match) => {
                identity(RuleSection::Include, RuleOutcome::Match)
                    || identity(RuleSection::Require, RuleOutcome::Match)
            }
            _ => false,
        }
    }
}

/// The outcome of [`evaluate`] and how it was reached.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Evaluation {
    /// What happens to the request.
    pub outcome: Outcome,
    /// Index, in the slice given to [`evaluate`], of the policy that decided; set for Allow,
    /// Deny, Bypass and ServiceAuth, `None` otherwise.
    pub matched: Option<usize>,
    /// One entry per policy examined, in evaluation order (Bypass and Service Auth first), up to
    /// and including the one that decided or could not be decided.
    pub explanation: Vec<PolicyTrace>,
}

impl Evaluation {
    /// Whether the request may reach the application (Allow, Bypass or Service Auth).
    pub fn allowed(&self) -> bool {
        self.outcome.allowed()
    }

    /// The trace of the policy that decided, if one did.
    pub fn deciding_policy(&self) -> Option<&PolicyTrace> {
        let position = self.matched?;
        self.explanation
            .iter()
            .rev()
            .find(|p| p.position == position)
    }

    /// Whether a refusal is about who the user is, so the identity-denied page applies rather
    /// than the non-identity one: the outcome is Deny or DefaultDeny and some examined Allow or
    /// Block policy failed on an identity rule (an Allow kept out by an email rule, a Block
    /// matched by a group rule, …).
    pub fn denied_by_identity(&self) -> bool {
        matches!(self.outcome, Outcome::Deny | Outcome::DefaultDeny)
            && self
                .explanation
                .iter()
                .any(|policy| !policy.decision.is_first_phase() && policy.failed_on_identity())
    }
}

/// The outcome of [`decide`]: [`Evaluation`] without the explanation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct Verdict {
    /// What happens to the request.
    pub outcome: Outcome,
    /// As [`Evaluation::matched`].
    pub matched: Option<usize>,
}

/// Decides what happens to a request for an application guarded by `policies`.
///
/// Called at login, at app-session renewal and, for applications whose Allow or Block policies
/// hold non-identity rules, on proxied requests. Service Auth and Bypass policies are examined
/// first, then Allow and Block, each in slice order; the first policy that matches decides. An
/// Allow or Block policy that cannot be decided before sign-in, or an Allow that matches before
/// sign-in, ends the evaluation with [`Outcome::NeedsIdentity`]; when nothing matches, access is
/// denied ([`Outcome::DefaultDeny`]). With `facts.identity` set, the outcome is never
/// NeedsIdentity. Group and list references that `catalog` does not resolve never match.
pub fn evaluate(policies: &[Policy], facts: &Facts<'_>, catalog: &Catalog) -> Evaluation {
    let mut explanation = Vec::new();
    let verdict = run(policies, facts, |policy, position| {
        let trace = policy.explain(position, facts, catalog);
        let outcome = trace.outcome;
        explanation.push(trace);
        outcome
    });
    Evaluation {
        outcome: verdict.outcome,
        matched: verdict.matched,
        explanation,
    }
}

/// [`evaluate`] without building the explanation: the same verdict, no allocation, and each
/// policy stops at the first rule that settles it.
pub fn decide(policies: &[Policy], facts: &Facts<'_>, catalog: &Catalog) -> Verdict {
    run(policies, facts, |policy, _| policy.check(facts, catalog))
}

/// The policy order and the stopping rules shared by [`evaluate`] and [`decide`].
fn run(
    policies: &[Policy],
    facts: &Facts<'_>,
    mut judge: impl FnMut(&Policy, usize) -> RuleOutcome,
) -> Verdict {
    let indexed = || policies.iter().enumerate();
    let first = indexed().filter(|(_, p)| p.decision.is_first_phase());
    let second = indexed().filter(|(_, p)| !p.decision.is_first_phase());
    let verdict = |outcome, matched| Verdict { outcome, matched };
    for (position, policy) in first.chain(second) {
        let outcome = judge(policy, position);
        match (policy.decision, outcome) {
            (_, RuleOutcome::NoMatch) => {}
            // Only a group with identity rules can be unknown here, and validation refuses it;
            // were one to slip through, skipping it withholds rather than grants access.
            (Decision::Bypass | Decision::NonIdentity, RuleOutcome::Unknown) => {}
            (Decision::Allow | Decision::Deny, RuleOutcome::Unknown) => {
                return verdict(Outcome::NeedsIdentity, None);
            }
            (Decision::Bypass, RuleOutcome::Match) => {
                return verdict(Outcome::Bypass, Some(position));
            }
            (Decision::NonIdentity, RuleOutcome::Match) => {
                return verdict(Outcome::ServiceAuth, Some(position));
            }
            (Decision::Deny, RuleOutcome::Match) => return verdict(Outcome::Deny, Some(position)),
            (Decision::Allow, RuleOutcome::Match) if facts.identity.is_none() => {
                return verdict(Outcome::NeedsIdentity, None);
            }
            (Decision::Allow, RuleOutcome::Match) => {
                return verdict(Outcome::Allow, Some(position));
            }
        }
    }
    verdict(Outcome::DefaultDeny, None)
}

impl Policy {
    /// How this one policy fares against the request, without an explanation.
    pub fn check(&self, facts: &Facts<'_>, catalog: &Catalog) -> RuleOutcome {
        let sets = Sections {
            include: &self.include,
            exclude: &self.exclude,
            require: &self.require,
        };
        sets.evaluate(facts, catalog, None).outcome
    }

    /// How this one policy fares against the request, rule by rule (every rule is evaluated so
    /// the trace is complete); `position` is recorded as the policy's index.
    pub fn explain(&self, position: usize, facts: &Facts<'_>, catalog: &Catalog) -> PolicyTrace {
        let sets = Sections {
            include: &self.include,
            exclude: &self.exclude,
            require: &self.require,
        };
        let mut rules =
            Vec::with_capacity(self.include.len() + self.exclude.len() + self.require.len());
        let outcome = sets.evaluate(facts, catalog, Some(&mut rules)).outcome;
        PolicyTrace {
            name: self.name.clone(),
            decision: self.decision,
            position,
            outcome,
            rules,
        }
    }
}

/// The include/exclude/require lists of a policy or a rule group.
struct Sections<'a> {
    include: &'a [Rule],
    exclude: &'a [Rule],
    require: &'a [Rule],
}

/// Why a set of sections did not match, for the reason of a `group` rule.
#[derive(Clone, Copy, Debug)]
enum SectionFailure {
    NoInclude,
    Excluded,
    RequireFailed,
}

/// The combined outcome of a policy's or group's sections.
struct Combined {
    outcome: RuleOutcome,
    failure: Option<SectionFailure>,
}

impl<'a> Sections<'a> {
    /// Include any, exclude none, require all, in three-valued logic: a definite failure of any
    /// section decides NoMatch, otherwise any unknown leaves the whole unknown.
    ///
    /// With a trace sink every rule is evaluated and recorded; without one, evaluation stops as
    /// soon as the outcome is settled.
    fn evaluate(
        &self,
        facts: &Facts<'a>,
        catalog: &'a Catalog,
        mut trace: Option<&mut Vec<RuleTrace>>,
    ) -> Combined {
        let tracing = trace.is_some();
        let settled = |failure| Combined {
            outcome: RuleOutcome::NoMatch,
            failure: Some(failure),
        };
        let mut unknown = false;
        let mut failure = None;

        let mut included = RuleOutcome::NoMatch;
        for rule in self.include {
            match record(
                RuleSection::Include,
                rule,
                facts,
                catalog,
                trace.as_deref_mut(),
            ) {
                RuleOutcome::Match => {
                    included = RuleOutcome::Match;
                    if !tracing {
                        break;
                    }
                }
                RuleOutcome::Unknown if included == RuleOutcome::NoMatch => {
                    included = RuleOutcome::Unknown;
                }
                _ => {}
            }
        }
        match included {
            RuleOutcome::NoMatch if !tracing => return settled(SectionFailure::NoInclude),
            RuleOutcome::NoMatch => failure = Some(SectionFailure::NoInclude),
            RuleOutcome::Unknown => unknown = true,
            RuleOutcome::Match => {}
        }

        for rule in self.exclude {
            match record(
                RuleSection::Exclude,
                rule,
                facts,
                catalog,
                trace.as_deref_mut(),
            ) {
                RuleOutcome::Match if !tracing => return settled(SectionFailure::Excluded),
                RuleOutcome::Match => {
                    failure.get_or_insert(SectionFailure::Excluded);
                }
                RuleOutcome::Unknown => unknown = true,
                RuleOutcome::NoMatch => {}
            }
        }

        for rule in self.require {
            match record(
                RuleSection::Require,
                rule,
                facts,
                catalog,
                trace.as_deref_mut(),
            ) {
                RuleOutcome::NoMatch if !tracing => return settled(SectionFailure::RequireFailed),
                RuleOutcome::NoMatch => {
                    failure.get_or_insert(SectionFailure::RequireFailed);
                }
                RuleOutcome::Unknown => unknown = true,
                RuleOutcome::Match => {}
            }
        }

        match failure {
            Some(failure) => settled(failure),
            None if unknown => Combined {
                outcome: RuleOutcome::Unknown,
                failure: None,
            },
            None => Combined {
                outcome: RuleOutcome::Match,
                failure: None,
            },
        }
    }
}

/// Evaluates one rule and, with a trace sink, records how it fared.
fn record<'a>(
    section: RuleSection,
    rule: &'a Rule,
    facts: &Facts<'a>,
    catalog: &'a Catalog,
    trace: Option<&mut Vec<RuleTrace>>,
) -> RuleOutcome {
    let Some(trace) = trace else {
        return rule.evaluate(facts, catalog, None).outcome();
    };
    let mut nested = matches!(rule, Rule::Group(_)).then(Vec::new);
    let check = rule.evaluate(facts, catalog, nested.as_mut());
    let outcome = check.outcome();
    trace.push(RuleTrace {
        section,
        rule: rule.to_string(),
        outcome,
        reason: check.reason(),
        identity: rule.is_identity(catalog),
        group: nested,
    });
    outcome
}

/// How one rule fared, with the reason kept unformatted until an explanation needs it.
enum Check<'a> {
    Match,
    NoMatch(Why<'a>),
    Unknown,
}

impl Check<'_> {
    fn outcome(&self) -> RuleOutcome {
        match self {
            Self::Match => RuleOutcome::Match,
            Self::NoMatch(_) => RuleOutcome::NoMatch,
            Self::Unknown => RuleOutcome::Unknown,
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Self::Match => None,
            Self::NoMatch(why) => Some(why.to_string()),
            Self::Unknown => Some(Why::NeedsSignIn.to_string()),
        }
    }
}

impl<'a> From<Result<(), Why<'a>>> for Check<'a> {
    fn from(result: Result<(), Why<'a>>) -> Self {
        match result {
            Ok(()) => Self::Match,
            Err(why) => Self::NoMatch(why),
        }
    }
}

/// Why a rule did not match (or is unknown), naming only the values compared.
enum Why<'a> {
    NeedsSignIn,
    EmailIs {
        have: &'a Email,
        want: &'a Email,
    },
    EmailDomainIs {
        have: &'a str,
        want: &'a str,
    },
    NoGroups,
    NoGroupEqual(&'a str),
    NotMember(&'a str),
    ClaimMissing(&'a str),
    ClaimNoElement {
        name: &'a str,
        want: &'a str,
    },
    ClaimObject(&'a str),
    ClaimNull(&'a str),
    ClaimNotEqual {
        name: &'a str,
        want: &'a str,
    },
    OtherIdp {
        have: IdpId,
        want: IdpId,
    },
    ListUndefined {
        id: &'a str,
        kind: ListKind,
    },
    NotInEmailList {
        email: &'a Email,
        list: &'a str,
    },
    AddressUnknown,
    AddressOutside {
        address: IpAddr,
        range: &'a str,
    },
    AddressNotInList {
        address: IpAddr,
        list: &'a str,
    },
    OtherLoginMethod {
        have: IdpId,
        want: IdpId,
    },
    NoAuthMethods,
    AuthMethodMissing {
        have: &'a [String],
        want: &'a str,
    },
    NoServiceToken,
    OtherServiceToken {
        have: ServiceTokenId,
        want: ServiceTokenId,
    },
    CountryUnknown,
    CountryIs {
        have: &'a str,
        want: &'a str,
    },
    GroupUndefined(&'a str),
    GroupFailed {
        name: &'a str,
        failure: SectionFailure,
    },
}

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeedsSignIn => f.write_str("needs sign-in"),
            Self::EmailIs { have, want } => write!(f, "email is {have}, not {want}"),
            Self::EmailDomainIs { have, want } => write!(f, "email domain is {have}, not {want}"),
            Self::NoGroups => f.write_str("identity has no groups"),
            Self::NoGroupEqual(want) => write!(f, "no group equal to `{want}`"),
            Self::NotMember(want) => write!(f, "not a member of group `{want}`"),
            Self::ClaimMissing(name) => write!(f, "claim `{name}` not present"),
            Self::ClaimNoElement { name, want } => {
                write!(f, "claim `{name}` has no element equal to `{want}`")
            }
            Self::ClaimObject(name) => {
                write!(f, "claim `{name}` is an object, which never equals a value")
            }
            Self::ClaimNull(name) => write!(f, "claim `{name}` is null"),
            Self::ClaimNotEqual { name, want } => {
                write!(f, "claim `{name}` is not equal to `{want}`")
            }
            Self::OtherIdp { have, want } => write!(
                f,
                "signed in with identity provider {have}, the rule is for {want}"
            ),
            Self::ListUndefined { id, kind } => write!(f, "{kind} list `{id}` is not defined"),
            Self::NotInEmailList { email, list } => {
                write!(f, "email {email} is not in list `{list}`")
            }
            Self::AddressUnknown => f.write_str("client address unknown"),
            Self::AddressOutside { address, range } => {
                write!(f, "client address {address} is not in {range}")
            }
            Self::AddressNotInList { address, list } => {
                write!(
                    f,
                    "client address {address} is in no range of list `{list}`"
                )
            }
            Self::OtherLoginMethod { have, want } => {
                write!(f, "signed in with identity provider {have}, not {want}")
            }
            Self::NoAuthMethods => {
                f.write_str("the identity provider reported no authentication methods (amr)")
            }
            Self::AuthMethodMissing { have, want } => {
                f.write_str("authentication methods (amr) are ")?;
                for (index, method) in have.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(method)?;
                }
                write!(f, "; `{want}` is not among them")
            }
            Self::NoServiceToken => f.write_str("no valid service token presented"),
            Self::OtherServiceToken { have, want } => {
                write!(f, "service token {have} presented, the rule is for {want}")
            }
            Self::CountryUnknown => f.write_str("client country unknown"),
            Self::CountryIs { have, want } => write!(f, "client country is {have}, not {want}"),
            Self::GroupUndefined(id) => write!(f, "rule group `{id}` is not defined"),
            Self::GroupFailed { name, failure } => {
                write!(f, "rule group `{name}`: ")?;
                f.write_str(match failure {
                    SectionFailure::NoInclude => "no include rule matched",
                    SectionFailure::Excluded => "an exclude rule matched",
                    SectionFailure::RequireFailed => "a require rule did not match",
                })
            }
        }
    }
}

impl Rule {
    /// How the rule fares against the request: unknown only for identity rules before sign-in
    /// (and for groups that hinge on one). A `group`, `email_list` or `ip_list` reference that
    /// `catalog` does not resolve never matches.
    pub fn check(&self, facts: &Facts<'_>, catalog: &Catalog) -> RuleOutcome {
        self.evaluate(facts, catalog, None).outcome()
    }

    /// Whether the rule matches a signed-in `identity`, with no request facts and no catalog (a
    /// shortcut for identity rules; `ip`, `geo`, list, group and service token rules never
    /// match this way).
    pub fn matches(&self, identity: &Identity) -> bool {
        self.check(&Facts::signed_in(identity), &Catalog::empty()) == RuleOutcome::Match
    }

    /// Evaluates the rule; for a `group` rule, records the group's own rules into `nested`.
    fn evaluate<'a>(
        &'a self,
        facts: &Facts<'a>,
        catalog: &'a Catalog,
        nested: Option<&mut Vec<RuleTrace>>,
    ) -> Check<'a> {
        if let Self::Group(rule) = self {
            let Some(group) = catalog.group(&rule.id) else {
                return Check::NoMatch(Why::GroupUndefined(&rule.id));
            };
            let sets = Sections {
                include: &group.include,
                exclude: &group.exclude,
                require: &group.require,
            };
            let combined = sets.evaluate(facts, catalog, nested);
            return match (combined.outcome, combined.failure) {
                (RuleOutcome::Match, _) => Check::Match,
                (RuleOutcome::Unknown, _) => Check::Unknown,
                (RuleOutcome::NoMatch, failure) => Check::NoMatch(Why::GroupFailed {
                    name: display_name(&group.name, &group.id),
                    failure: failure.unwrap_or(SectionFailure::NoInclude),
                }),
            };
        }
        if self.is_identity_selector() {
            match facts.identity {
                Some(identity) => self.check_identity(identity, catalog).into(),
                None => Check::Unknown,
            }
        } else {
            self.check_request(facts, catalog).into()
        }
    }

    /// Checks a non-identity rule against the request's facts.
    fn check_request<'a>(&'a self, facts: &Facts<'a>, catalog: &'a Catalog) -> Result<(), Why<'a>> {
        match self {
            Self::Everyone(_) => Ok(()),
            Self::Ip(rule) => {
                let address = facts.ip.ok_or(Why::AddressUnknown)?;
                if rule.ip.contains(address) {
                    Ok(())
                } else {
                    Err(Why::AddressOutside {
                        address,
                        range: rule.ip.as_str(),
                    })
                }
            }
            Self::IpList(rule) => {
                let nets = catalog.ip_list(&rule.id).ok_or(Why::ListUndefined {
                    id: &rule.id,
                    kind: ListKind::Ip,
                })?;
                let address = facts.ip.ok_or(Why::AddressUnknown)?;
                if nets.iter().any(|net| net_contains(net, address)) {
                    Ok(())
                } else {
                    Err(Why::AddressNotInList {
                        address,
                        list: list_name(catalog, &rule.id),
                    })
                }
            }
            Self::Geo(rule) => {
                let have = facts.country.ok_or(Why::CountryUnknown)?;
                let want = rule.country_code.as_str();
                if have.trim().eq_ignore_ascii_case(want) {
                    Ok(())
                } else {
                    Err(Why::CountryIs { have, want })
                }
            }
            Self::ServiceToken(rule) => match facts.service_token {
                Some(have) if have == rule.token_id => Ok(()),
                Some(have) => Err(Why::OtherServiceToken {
                    have,
                    want: rule.token_id,
                }),
                None => Err(Why::NoServiceToken),
            },
            Self::AnyValidServiceToken(_) => match facts.service_token {
                Some(_) => Ok(()),
                None => Err(Why::NoServiceToken),
            },
            // Identity rules and groups are dispatched before this point; an identity rule
            // reaching here has no identity to match.
            _ => Err(Why::NeedsSignIn),
        }
    }

    /// Checks an identity rule against the signed-in identity.
    fn check_identity<'a>(
        &'a self,
        identity: &'a Identity,
        catalog: &'a Catalog,
    ) -> Result<(), Why<'a>> {
        match self {
            Self::Email(rule) => {
                if identity.email == rule.email {
                    Ok(())
                } else {
                    Err(Why::EmailIs {
                        have: &identity.email,
                        want: &rule.email,
                    })
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
                    Err(Why::EmailDomainIs { have, want })
                }
            }
            Self::EmailList(rule) => match catalog.email_list_contains(&rule.id, &identity.email) {
                Some(true) => Ok(()),
                Some(false) => Err(Why::NotInEmailList {
                    email: &identity.email,
                    list: list_name(catalog, &rule.id),
                }),
                None => Err(Why::ListUndefined {
                    id: &rule.id,
                    kind: ListKind::Email,
                }),
            },
            Self::LoginMethod(rule) => {
                if identity.idp_id == rule.id {
                    Ok(())
                } else {
                    Err(Why::OtherLoginMethod {
                        have: identity.idp_id,
                        want: rule.id,
                    })
                }
            }
            Self::AuthMethod(rule) => {
                let want = rule.auth_method.as_str();
                if identity.amr.iter().any(|method| method == want) {
                    Ok(())
                } else if identity.amr.is_empty() {
                    Err(Why::NoAuthMethods)
                } else {
                    Err(Why::AuthMethodMissing {
                        have: &identity.amr,
                        want,
                    })
                }
            }
            Self::Oidc(rule) => {
                check_idp(rule.identity_provider_id, identity)?;
                let (name, want) = (rule.claim_name.as_str(), rule.claim_value.as_str());
                if name.eq_ignore_ascii_case("groups") {
                    return if identity.groups.iter().any(|group| group == want) {
                        Ok(())
                    } else if identity.groups.is_empty() {
                        Err(Why::NoGroups)
                    } else {
                        Err(Why::NoGroupEqual(want))
                    };
                }
                match identity.oidc_fields.get(name) {
                    None => Err(Why::ClaimMissing(name)),
                    Some(Value::Array(items)) => {
                        if items.iter().any(|item| scalar_equals(item, want)) {
                            Ok(())
                        } else {
                            Err(Why::ClaimNoElement { name, want })
                        }
                    }
                    Some(Value::Object(_)) => Err(Why::ClaimObject(name)),
                    Some(Value::Null) => Err(Why::ClaimNull(name)),
                    Some(value) => {
                        if scalar_equals(value, want) {
                            Ok(())
                        } else {
                            Err(Why::ClaimNotEqual { name, want })
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
            // Non-identity rules and groups are dispatched before this point.
            _ => Err(Why::NeedsSignIn),
        }
    }
}

/// A catalog object's name for explanations, or its id when the name is blank.
fn display_name<'a>(name: &'a str, id: &'a str) -> &'a str {
    if name.trim().is_empty() { id } else { name }
}

fn list_name<'a>(catalog: &'a Catalog, id: &'a str) -> &'a str {
    catalog
        .list(id)
        .map_or(id, |list| display_name(&list.name, &list.id))
}

fn check_idp(restriction: Option<IdpId>, identity: &Identity) -> Result<(), Why<'static>> {
    match restriction {
        Some(want) if want != identity.idp_id => Err(Why::OtherIdp {
            have: identity.idp_id,
            want,
        }),
        _ => Ok(()),
    }
}

fn group_member<'a>(
    identity: &Identity,
    is_wanted: impl Fn(&str) -> bool,
    wanted: &'a str,
) -> Result<(), Why<'a>> {
    if identity.groups.iter().any(|group| is_wanted(group)) {
        Ok(())
    } else if identity.groups.is_empty() {
        Err(Why::NoGroups)
    } else {
        Err(Why::NotMember(wanted))
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
    /// policy (positions counted from 1) with each rule and, where it failed, why; a group
    /// rule's own rules are indented below it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.explanation.last();
        match (self.outcome, self.deciding_policy()) {
            (outcome, Some(policy)) => writeln!(
                f,
                "access {} by policy {:?} ({}, position {})",
                if outcome.allowed() {
                    "allowed"
                } else {
                    "denied"
                },
                policy.name,
                policy.decision,
                policy.position + 1,
            )?,
            (Outcome::NeedsIdentity, _) => match last {
                Some(policy) if policy.outcome == RuleOutcome::Match => writeln!(
                    f,
                    "sign-in needed: policy {:?} ({}, position {}) matched, and an allow policy \
                     admits signed-in users only",
                    policy.name,
                    policy.decision,
                    policy.position + 1
                )?,
                Some(policy) => writeln!(
                    f,
                    "sign-in needed: policy {:?} ({}, position {}) depends on who the user is",
                    policy.name,
                    policy.decision,
                    policy.position + 1
                )?,
                None => writeln!(f, "sign-in needed")?,
            },
            _ if self.explanation.is_empty() => {
                writeln!(f, "access denied: the application has no policies")?
            }
            _ => writeln!(f, "access denied: no policy matched")?,
        }
        for policy in &self.explanation {
            writeln!(
                f,
                "policy {:?} ({}, position {}): {}",
                policy.name,
                policy.decision,
                policy.position + 1,
                match policy.outcome {
                    RuleOutcome::Unknown => "undecided (needs sign-in)",
                    outcome => outcome.as_str(),
                }
            )?;
            write_rules(f, &policy.rules, 1, "policy")?;
        }
        Ok(())
    }
}

fn write_rules(
    f: &mut fmt::Formatter<'_>,
    rules: &[RuleTrace],
    depth: usize,
    owner: &str,
) -> fmt::Result {
    for rule in rules {
        write!(
            f,
            "{:width$}{} {}: ",
            "",
            rule.section,
            rule.rule,
            width = depth * 2
        )?;
        let reason = rule.reason.as_deref().unwrap_or("no reason recorded");
        match (rule.section, rule.outcome) {
            (RuleSection::Exclude, RuleOutcome::Match) => {
                writeln!(f, "matched, so the {owner} does not apply")?
            }
            (_, RuleOutcome::Match) => writeln!(f, "matched")?,
            (_, outcome) => writeln!(f, "{outcome} ({reason})")?,
        }
        if let Some(nested) = &rule.group {
            write_rules(f, nested, depth + 1, "group")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{List, RuleGroup};
    use crate::ip::IpRange;
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
        let catalog = Catalog::empty();
        let check = rule.evaluate(&Facts::signed_in(identity), &catalog, None);
        assert_eq!(check.outcome(), RuleOutcome::NoMatch);
        check.reason().unwrap()
    }

    fn policy_matches(policy: &Policy, identity: &Identity) -> bool {
        policy.check(&Facts::signed_in(identity), &Catalog::empty()) == RuleOutcome::Match
    }

    /// Evaluates for a signed-in identity with no other facts and an empty catalog, checking
    /// on the way that `decide` agrees with `evaluate`.
    fn eval(policies: &[Policy], identity: &Identity) -> Evaluation {
        eval_with(policies, &Facts::signed_in(identity), &Catalog::empty())
    }

    fn eval_with(policies: &[Policy], facts: &Facts<'_>, catalog: &Catalog) -> Evaluation {
        let evaluation = evaluate(policies, facts, catalog);
        let verdict = decide(policies, facts, catalog);
        assert_eq!(verdict.outcome, evaluation.outcome);
        assert_eq!(verdict.matched, evaluation.matched);
        evaluation
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
        assert!(policy_matches(&p, &alice()), "one include suffices");

        p.exclude = vec![
            Rule::oidc("department", "HR"),
            Rule::oidc("contractor", "false"),
        ];
        assert!(
            !policy_matches(&p, &alice()),
            "any exclude rules the policy out"
        );
        p.exclude = vec![Rule::oidc("department", "HR")];
        assert!(policy_matches(&p, &alice()));

        p.require = vec![
            Rule::email_domain("example.com"),
            Rule::oidc("groups", "Engineering"),
        ];
        assert!(policy_matches(&p, &alice()));
        p.require.push(Rule::oidc("groups", "Finance"));
        assert!(!policy_matches(&p, &alice()), "every require must match");

        p.require.clear();
        p.include = vec![Rule::email_domain("other.org")];
        assert!(!policy_matches(&p, &alice()), "no include matched");
        p.include.clear();
        assert!(
            !policy_matches(&p, &alice()),
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

        let result = eval(
            &[deny_contractors.clone(), staff.clone(), block_alice.clone()],
            &alice(),
        );
        assert!(result.allowed());
        assert_eq!(result.matched, Some(1));
        assert_eq!(
            result.explanation.len(),
            2,
            "later policies are not examined"
        );

        let result = eval(&[block_alice.clone(), staff.clone()], &alice());
        assert!(!result.allowed());
        assert_eq!(result.matched, Some(0));

        let result = eval(std::slice::from_ref(&staff), &identity("bob@other.org"));
        assert!(!result.allowed());
        assert_eq!(result.matched, None);
        assert_eq!(result.explanation.len(), 1);

        let result = eval(&[], &alice());
        assert!(!result.allowed() && result.matched.is_none());
        assert_eq!(result.outcome, Outcome::DefaultDeny);
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
        let result = eval(&[staff], &alice());
        let trace = &result.explanation[0];
        assert_eq!(trace.rules.len(), 3);
        assert_eq!(trace.rules[0].section, RuleSection::Include);
        assert_eq!(trace.rules[0].rule, "email_domain example.com");
        assert_eq!(trace.rules[0].outcome, RuleOutcome::Match);
        assert!(trace.rules[0].reason.is_none() && trace.rules[0].identity);
        assert_eq!(trace.rules[1].section, RuleSection::Exclude);
        assert_eq!(trace.rules[1].outcome, RuleOutcome::Match);
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

        let allowed = eval(
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

    // ---- selectors added with the catalog: match, no match, unknown ----

    const TOKEN: &str = "5b7c1e4a-0d2f-4c6b-8a9e-3f1d2c4b6a8e";
    const OTHER_TOKEN: &str = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";

    fn rule(value: serde_json::Value) -> Rule {
        serde_json::from_value(value).unwrap()
    }

    fn catalog() -> Catalog {
        let group = |id: &str, include: Vec<Rule>, require: Vec<Rule>| RuleGroup {
            id: id.into(),
            name: format!("{id} people"),
            include,
            exclude: vec![],
            require,
        };
        let list = |id: &str, kind, items: &[&str]| List {
            id: id.into(),
            name: format!("{id} list"),
            kind,
            items: items.iter().map(|item| (*item).to_owned()).collect(),
        };
        Catalog::new(
            vec![
                group("staff", vec![Rule::email_domain("example.com")], vec![]),
                group(
                    "office",
                    vec![rule(json!({"ip_list": {"id": "offices"}}))],
                    vec![],
                ),
                // Require inside a group: both must hold.
                group(
                    "admins",
                    vec![Rule::group("staff")],
                    vec![Rule::oidc("roles", "admin"), Rule::geo("PT")],
                ),
            ],
            vec![
                list(
                    "vips",
                    ListKind::Email,
                    &["Alice@Example.com", "boss@example.com"],
                ),
                list("offices", ListKind::Ip, &["192.0.2.0/24", "2001:db8::/32"]),
            ],
        )
        .unwrap()
    }

    fn full_facts(identity: Option<&Identity>) -> Facts<'_> {
        Facts {
            identity,
            ip: Some("192.0.2.10".parse().unwrap()),
            country: Some("pt"),
            service_token: Some(ServiceTokenId::parse(TOKEN).unwrap()),
        }
    }

    /// The outcome and reason of one rule.
    fn judge(rule: &Rule, facts: &Facts<'_>, catalog: &Catalog) -> (RuleOutcome, Option<String>) {
        let check = rule.evaluate(facts, catalog, None);
        assert_eq!(rule.check(facts, catalog), check.outcome());
        (check.outcome(), check.reason())
    }

    #[test]
    fn every_selector_matches_misses_and_waits_for_sign_in() {
        let catalog = catalog();
        let alice = alice();
        let bob = identity("bob@other.org");
        let mut bob = bob;
        bob.amr = vec!["pwd".into(), "otp".into()];
        bob.idp_id = IdpId::parse(OTHER_IDP).unwrap();
        bob.groups.clear();
        let mut alice_mfa = alice.clone();
        alice_mfa.amr = vec!["pwd".into(), "mfa".into()];

        let signed_in = full_facts(Some(&alice_mfa));
        let bob_facts = Facts {
            identity: Some(&bob),
            ip: Some("198.51.100.1".parse().unwrap()),
            country: Some("FR"),
            service_token: Some(ServiceTokenId::parse(OTHER_TOKEN).unwrap()),
        };
        let anonymous = full_facts(None);

        // (rule, reason for bob, identity rule?)
        let cases: Vec<(Rule, &str, bool)> = vec![
            (
                Rule::email(Email::parse("alice@example.com").unwrap()),
                "email is bob@other.org, not alice@example.com",
                true,
            ),
            (
                Rule::email_domain("example.com"),
                "email domain is other.org, not example.com",
                true,
            ),
            (
                rule(json!({"email_list": {"id": "vips"}})),
                "email bob@other.org is not in list `vips list`",
                true,
            ),
            (
                rule(json!({"login_method": {"id": IDP}})),
                "signed in with identity provider 11111111-2222-3333-4444-555555555555, not \
                 0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c",
                true,
            ),
            (
                rule(json!({"auth_method": {"auth_method": "mfa"}})),
                "authentication methods (amr) are pwd, otp; `mfa` is not among them",
                true,
            ),
            (
                Rule::oidc("groups", "Engineering"),
                "identity has no groups",
                true,
            ),
            (
                rule(json!({"okta": {"name": "Engineering"}})),
                "identity has no groups",
                true,
            ),
            (
                rule(json!({"azureAD": {"id": "fdaedb59-aaaa"}})),
                "identity has no groups",
                true,
            ),
            (
                rule(json!({"gsuite": {"email": "eng@example.com"}})),
                "identity has no groups",
                true,
            ),
            (
                Rule::ip(IpRange::parse("192.0.2.0/24").unwrap()),
                "client address 198.51.100.1 is not in 192.0.2.0/24",
                false,
            ),
            (
                rule(json!({"ip_list": {"id": "offices"}})),
                "client address 198.51.100.1 is in no range of list `offices list`",
                false,
            ),
            (Rule::geo("PT"), "client country is FR, not PT", false),
            (
                rule(json!({"service_token": {"token_id": TOKEN}})),
                "service token 9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d presented, the rule is for \
                 5b7c1e4a-0d2f-4c6b-8a9e-3f1d2c4b6a8e",
                false,
            ),
            (
                Rule::group("staff"),
                "rule group `staff people`: no include rule matched",
                true,
            ),
            (
                Rule::group("office"),
                "rule group `office people`: no include rule matched",
                false,
            ),
        ];
        for (rule, reason, identity) in cases {
            assert_eq!(rule.is_identity(&catalog), identity, "{rule}");
            assert_eq!(
                judge(&rule, &signed_in, &catalog),
                (RuleOutcome::Match, None),
                "{rule}"
            );
            assert_eq!(
                judge(&rule, &bob_facts, &catalog),
                (RuleOutcome::NoMatch, Some(reason.to_owned())),
                "{rule}"
            );
            let before_sign_in = judge(&rule, &anonymous, &catalog);
            if identity {
                assert_eq!(
                    before_sign_in,
                    (RuleOutcome::Unknown, Some("needs sign-in".to_owned())),
                    "{rule}"
                );
            } else {
                assert_eq!(before_sign_in, (RuleOutcome::Match, None), "{rule}");
            }
        }

        // The selectors that never depend on who signed in.
        for facts in [&signed_in, &anonymous, &bob_facts] {
            assert_eq!(
                judge(&Rule::everyone(), facts, &catalog).0,
                RuleOutcome::Match
            );
            assert_eq!(
                judge(
                    &rule(json!({"any_valid_service_token": {}})),
                    facts,
                    &catalog
                )
                .0,
                RuleOutcome::Match
            );
        }
        let no_token = Facts {
            service_token: None,
            ..signed_in
        };
        for token_rule in [
            rule(json!({"any_valid_service_token": {}})),
            rule(json!({"service_token": {"token_id": TOKEN}})),
        ] {
            assert_eq!(
                judge(&token_rule, &no_token, &catalog),
                (
                    RuleOutcome::NoMatch,
                    Some("no valid service token presented".to_owned())
                )
            );
        }
    }

    #[test]
    fn missing_request_facts_do_not_match() {
        let catalog = catalog();
        let alice = alice();
        let facts = Facts::signed_in(&alice);
        for (rule, reason) in [
            (
                Rule::ip(IpRange::parse("0.0.0.0/0").unwrap()),
                "client address unknown",
            ),
            (
                rule(json!({"ip_list": {"id": "offices"}})),
                "client address unknown",
            ),
            (Rule::geo("US"), "client country unknown"),
        ] {
            assert_eq!(
                judge(&rule, &facts, &catalog),
                (RuleOutcome::NoMatch, Some(reason.to_owned()))
            );
            // Not unknown even before sign-in: signing in would not tell the address.
            assert_eq!(
                judge(&rule, &Facts::default(), &catalog).0,
                RuleOutcome::NoMatch
            );
        }
        let mut no_amr = alice.clone();
        no_amr.amr.clear();
        assert_eq!(
            judge(
                &rule(json!({"auth_method": {"auth_method": "mfa"}})),
                &Facts::signed_in(&no_amr),
                &catalog
            )
            .1
            .unwrap(),
            "the identity provider reported no authentication methods (amr)"
        );
    }

    #[test]
    fn unresolved_references_never_match() {
        let alice = alice();
        let facts = full_facts(Some(&alice));
        let empty = Catalog::empty();
        for (rule, reason) in [
            (Rule::group("staff"), "rule group `staff` is not defined"),
            (
                rule(json!({"email_list": {"id": "vips"}})),
                "email list `vips` is not defined",
            ),
            (
                rule(json!({"ip_list": {"id": "offices"}})),
                "ip list `offices` is not defined",
            ),
        ] {
            assert_eq!(
                judge(&rule, &facts, &empty),
                (RuleOutcome::NoMatch, Some(reason.to_owned()))
            );
        }
        // A list of the other kind is not a substitute.
        assert_eq!(
            judge(
                &rule(json!({"ip_list": {"id": "vips"}})),
                &facts,
                &catalog()
            )
            .0,
            RuleOutcome::NoMatch
        );
    }

    #[test]
    fn ip_rules_match_ipv4_mapped_clients_and_ipv6() {
        let catalog = catalog();
        let office = rule(json!({"ip_list": {"id": "offices"}}));
        let single = Rule::ip(IpRange::parse("192.0.2.10").unwrap());
        for (address, expected) in [
            ("::ffff:192.0.2.10", RuleOutcome::Match),
            ("192.0.2.10", RuleOutcome::Match),
            ("2001:db8::5", RuleOutcome::Match),
            ("192.0.3.1", RuleOutcome::NoMatch),
        ] {
            let facts = Facts {
                ip: Some(address.parse().unwrap()),
                ..Facts::default()
            };
            assert_eq!(judge(&office, &facts, &catalog).0, expected, "{address}");
            let single_expected = if address.ends_with("192.0.2.10") {
                RuleOutcome::Match
            } else {
                RuleOutcome::NoMatch
            };
            assert_eq!(
                judge(&single, &facts, &catalog).0,
                single_expected,
                "{address}"
            );
        }
    }

    #[test]
    fn country_is_compared_case_insensitively() {
        let catalog = Catalog::empty();
        for country in ["US", "us", "uS"] {
            let facts = Facts {
                country: Some(country),
                ..Facts::default()
            };
            assert_eq!(
                judge(&Rule::geo("Us"), &facts, &catalog).0,
                RuleOutcome::Match
            );
            assert_eq!(
                judge(&Rule::geo("CA"), &facts, &catalog).0,
                RuleOutcome::NoMatch
            );
        }
    }

    // ---- policies: three-valued combination and Cloudflare's order ----

    fn named(name: &str, decision: Decision, include: Vec<Rule>) -> Policy {
        policy(name, decision, include)
    }

    #[test]
    fn cloudflare_documented_order() {
        // Allow A, Block B, Service Auth C, Bypass D, Allow E → C, D, A, B, E.
        let nobody = || vec![Rule::geo("AQ")];
        let policies = [
            named("A", Decision::Allow, nobody()),
            named("B", Decision::Deny, nobody()),
            named("C", Decision::NonIdentity, nobody()),
            named("D", Decision::Bypass, nobody()),
            named("E", Decision::Allow, vec![Rule::everyone()]),
        ];
        let alice = alice();
        let facts = Facts {
            country: Some("PT"),
            ..Facts::signed_in(&alice)
        };
        let result = eval_with(&policies, &facts, &Catalog::empty());
        let order: Vec<&str> = result.explanation.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(order, ["C", "D", "A", "B", "E"]);
        let positions: Vec<usize> = result.explanation.iter().map(|p| p.position).collect();
        assert_eq!(positions, [2, 3, 0, 1, 4]);
        assert_eq!(result.outcome, Outcome::Allow);
        assert_eq!(result.matched, Some(4));
        assert_eq!(result.deciding_policy().unwrap().name, "E");

        // A Bypass further down the list still comes before every Allow and Block.
        let policies = [
            named("block all", Decision::Deny, vec![Rule::everyone()]),
            named("bypass", Decision::Bypass, vec![Rule::geo("PT")]),
        ];
        let result = eval_with(&policies, &facts, &Catalog::empty());
        assert_eq!(result.outcome, Outcome::Bypass);
        assert_eq!(result.matched, Some(1));
        assert_eq!(result.explanation.len(), 1);
        assert!(result.allowed());

        // Service Auth before Bypass when listed first, and without anyone signed in.
        let token = ServiceTokenId::parse(TOKEN).unwrap();
        let policies = [
            named("bypass", Decision::Bypass, vec![Rule::geo("PT")]),
            named(
                "robots",
                Decision::NonIdentity,
                vec![rule(json!({"service_token": {"token_id": TOKEN}}))],
            ),
        ];
        let robot = Facts {
            service_token: Some(token),
            ..Facts::default()
        };
        let result = eval_with(&policies, &robot, &Catalog::empty());
        assert_eq!(result.outcome, Outcome::ServiceAuth);
        assert_eq!(result.matched, Some(1));
        assert!(result.allowed());
    }

    #[test]
    fn allow_and_block_need_a_signed_in_user_when_they_depend_on_one() {
        let catalog = catalog();
        let staff = named(
            "staff",
            Decision::Allow,
            vec![Rule::email_domain("example.com")],
        );
        let block_fr = named("no FR", Decision::Deny, vec![Rule::geo("FR")]);
        let from = |country| Facts {
            country: Some(country),
            ..Facts::default()
        };

        // Non-identity Block decided before sign-in when it comes first.
        let result = eval_with(&[block_fr.clone(), staff.clone()], &from("FR"), &catalog);
        assert_eq!(result.outcome, Outcome::Deny);
        assert!(
            !result.denied_by_identity(),
            "a country block is not about identity"
        );
        // Otherwise the identity rule stops the evaluation.
        let result = eval_with(&[block_fr.clone(), staff.clone()], &from("PT"), &catalog);
        assert_eq!(result.outcome, Outcome::NeedsIdentity);
        assert_eq!(result.matched, None);
        assert_eq!(result.explanation.len(), 2);
        assert_eq!(result.explanation[1].outcome, RuleOutcome::Unknown);
        assert!(!result.allowed() && !result.denied_by_identity());
        let text = result.to_string();
        assert!(
            text.starts_with(
                "sign-in needed: policy \"staff\" (allow, position 2) depends on who the user is\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("policy \"staff\" (allow, position 2): undecided (needs sign-in)"),
            "{text}"
        );
        assert!(
            text.contains("  include email_domain example.com: unknown (needs sign-in)"),
            "{text}"
        );

        // An Allow that matches on non-identity rules alone still needs a sign-in.
        let office = named("office", Decision::Allow, vec![Rule::group("office")]);
        let in_office = Facts {
            ip: Some("192.0.2.1".parse().unwrap()),
            ..Facts::default()
        };
        let result = eval_with(std::slice::from_ref(&office), &in_office, &catalog);
        assert_eq!(result.outcome, Outcome::NeedsIdentity);
        assert_eq!(result.explanation[0].outcome, RuleOutcome::Match);
        assert!(result.to_string().contains("admits signed-in users only"));
        let alice = alice();
        let signed_in = Facts {
            identity: Some(&alice),
            ..in_office
        };
        assert_eq!(
            eval_with(&[office], &signed_in, &catalog).outcome,
            Outcome::Allow
        );

        // A non-identity policy that does not match is passed over before sign-in.
        let result = eval_with(&[block_fr, staff], &from("PT"), &catalog);
        assert_eq!(result.explanation[0].outcome, RuleOutcome::NoMatch);
    }

    #[test]
    fn unknown_exclude_needs_identity_unless_already_settled() {
        let catalog = Catalog::empty();
        let mut p = named("office", Decision::Allow, vec![Rule::geo("PT")]);
        p.exclude = vec![Rule::email(Email::parse("mallory@example.com").unwrap())];
        let pt = Facts {
            country: Some("PT"),
            ..Facts::default()
        };
        assert_eq!(p.check(&pt, &catalog), RuleOutcome::Unknown);
        let result = eval_with(std::slice::from_ref(&p), &pt, &catalog);
        assert_eq!(result.outcome, Outcome::NeedsIdentity);
        assert_eq!(result.explanation[0].rules[1].outcome, RuleOutcome::Unknown);

        // Not included: the unknown exclude does not matter.
        let fr = Facts {
            country: Some("FR"),
            ..Facts::default()
        };
        assert_eq!(p.check(&fr, &catalog), RuleOutcome::NoMatch);
        assert_eq!(
            eval_with(std::slice::from_ref(&p), &fr, &catalog).outcome,
            Outcome::DefaultDeny
        );
        // Already excluded by a match: the unknown one does not matter either.
        p.exclude.push(Rule::geo("PT"));
        assert_eq!(p.check(&pt, &catalog), RuleOutcome::NoMatch);
        assert_eq!(p.explain(0, &pt, &catalog).outcome, RuleOutcome::NoMatch);

        // After sign-in the exclude decides.
        let mallory = identity("mallory@example.com");
        let alice = alice();
        p.exclude.pop();
        for (who, expected) in [(&mallory, Outcome::DefaultDeny), (&alice, Outcome::Allow)] {
            let facts = Facts {
                identity: Some(who),
                ..pt
            };
            assert_eq!(
                eval_with(std::slice::from_ref(&p), &facts, &catalog).outcome,
                expected
            );
        }
    }

    #[test]
    fn require_needs_every_value() {
        let catalog = catalog();
        let alice = alice();
        let pt = Facts {
            country: Some("PT"),
            ..Facts::signed_in(&alice)
        };
        let fr = Facts {
            country: Some("FR"),
            ..Facts::signed_in(&alice)
        };
        // Two require rules: both must hold.
        let mut p = named("p", Decision::Allow, vec![Rule::everyone()]);
        p.require = vec![Rule::oidc("roles", "admin"), Rule::geo("PT")];
        assert_eq!(p.check(&pt, &catalog), RuleOutcome::Match);
        assert_eq!(p.check(&fr, &catalog), RuleOutcome::NoMatch);
        p.require = vec![Rule::oidc("roles", "owner"), Rule::geo("PT")];
        assert_eq!(p.check(&pt, &catalog), RuleOutcome::NoMatch);

        // A group's require: staff, admin role and Portugal, all of them.
        let admins = named("admins", Decision::Allow, vec![Rule::group("admins")]);
        assert_eq!(admins.check(&pt, &catalog), RuleOutcome::Match);
        assert_eq!(admins.check(&fr, &catalog), RuleOutcome::NoMatch);
        let mut user = alice.clone();
        user.oidc_fields.insert("roles".into(), json!(["user"]));
        let facts = Facts {
            identity: Some(&user),
            ..pt
        };
        assert_eq!(admins.check(&facts, &catalog), RuleOutcome::NoMatch);
        let trace = admins.explain(0, &fr, &catalog);
        assert_eq!(
            trace.rules[0].reason.as_deref(),
            Some("rule group `admins people`: a require rule did not match")
        );
        let nested = trace.rules[0].group.as_ref().unwrap();
        assert_eq!(nested.len(), 3);
        assert_eq!(nested[0].rule, "group staff");
        assert!(nested[0].group.is_some());
        assert_eq!(nested[2].section, RuleSection::Require);
        assert_eq!(
            nested[2].reason.as_deref(),
            Some("client country is FR, not PT")
        );

        // Putting the alternatives in a group's include makes an OR inside a require.
        let either = Catalog::new(
            vec![RuleGroup {
                id: "iberia".into(),
                name: "Iberia".into(),
                include: vec![Rule::geo("PT"), Rule::geo("ES")],
                exclude: vec![],
                require: vec![],
            }],
            vec![],
        )
        .unwrap();
        let mut p = named("p", Decision::Allow, vec![Rule::everyone()]);
        p.require = vec![Rule::group("iberia")];
        assert_eq!(p.check(&pt, &either), RuleOutcome::Match);
        assert_eq!(p.check(&fr, &either), RuleOutcome::NoMatch);
    }

    #[test]
    fn denied_by_identity_tells_the_pages_apart() {
        let catalog = catalog();
        let bob = identity("bob@other.org");
        let alice = alice();
        let staff = named(
            "staff",
            Decision::Allow,
            vec![Rule::email_domain("example.com")],
        );
        let mut office_staff = staff.clone();
        office_staff.require = vec![rule(json!({"ip_list": {"id": "offices"}}))];
        let at = |identity, address: &str| Facts {
            identity: Some(identity),
            ip: Some(address.parse().unwrap()),
            country: None,
            service_token: None,
        };

        // Wrong person: the identity page.
        let result = eval_with(
            std::slice::from_ref(&office_staff),
            &at(&bob, "192.0.2.1"),
            &catalog,
        );
        assert_eq!(result.outcome, Outcome::DefaultDeny);
        assert!(result.denied_by_identity());
        // Right person, wrong place: the non-identity page.
        let result = eval_with(
            std::slice::from_ref(&office_staff),
            &at(&alice, "198.51.100.1"),
            &catalog,
        );
        assert_eq!(result.outcome, Outcome::DefaultDeny);
        assert!(!result.denied_by_identity());
        // An identity-based Block.
        let block_alice = named(
            "no alice",
            Decision::Deny,
            vec![rule(json!({"email_list": {"id": "vips"}}))],
        );
        let result = eval_with(
            &[block_alice.clone(), staff.clone()],
            &at(&alice, "192.0.2.1"),
            &catalog,
        );
        assert_eq!(result.outcome, Outcome::Deny);
        assert!(result.denied_by_identity());
        // An excluded identity.
        let mut not_bob = named("not bob", Decision::Allow, vec![Rule::everyone()]);
        not_bob.exclude = vec![Rule::email(Email::parse("bob@other.org").unwrap())];
        let result = eval_with(&[not_bob], &at(&bob, "192.0.2.1"), &catalog);
        assert!(result.denied_by_identity());
        // Allowed is never denied.
        let result = eval_with(&[staff], &at(&alice, "192.0.2.1"), &catalog);
        assert!(result.allowed() && !result.denied_by_identity());
    }

    #[test]
    fn explanation_nests_group_rules() {
        let catalog = catalog();
        let alice = alice();
        let facts = Facts {
            country: Some("ES"),
            ..Facts::signed_in(&alice)
        };
        let admins = named("admins", Decision::Allow, vec![Rule::group("admins")]);
        let result = eval_with(&[admins], &facts, &catalog);
        let text = result.to_string();
        let expected = "\
access denied: no policy matched
policy \"admins\" (allow, position 1): not matched
  include group admins: not matched (rule group `admins people`: a require rule did not match)
    include group staff: matched
      include email_domain example.com: matched
    require oidc roles=admin: matched
    require geo PT: not matched (client country is ES, not PT)
";
        assert_eq!(text, expected);
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["outcome"], "default_deny");
        assert_eq!(json["explanation"][0]["rules"][0]["identity"], true);
        assert_eq!(
            json["explanation"][0]["rules"][0]["group"][2]["outcome"],
            "no_match"
        );
    }

    #[test]
    fn outcome_names() {
        for (outcome, name, allowed) in [
            (Outcome::Allow, "allow", true),
            (Outcome::Deny, "deny", false),
            (Outcome::Bypass, "bypass", true),
            (Outcome::ServiceAuth, "service_auth", true),
            (Outcome::NeedsIdentity, "needs_identity", false),
            (Outcome::DefaultDeny, "default_deny", false),
        ] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), json!(name));
            assert_eq!(outcome.to_string(), name);
            assert_eq!(outcome.allowed(), allowed);
        }
        assert_eq!(
            serde_json::to_value(RuleOutcome::NoMatch).unwrap(),
            json!("no_match")
        );
    }
}
