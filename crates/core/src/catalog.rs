//! Rule groups and lists: the account-wide objects that policies refer to by id.
//!
//! A [`Catalog`] is built once from configuration, validated as a whole (ids unique, items
//! well-formed, every reference resolved, no group containing itself) and then shared read-only
//! by every evaluation. Lookups it precomputes make a `group`, `email_list` or `ip_list` rule cost
//! one hash look-up (plus a scan of the list's ranges for IP lists), whatever the catalog's size.

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, excerpt};
use crate::ids::Email;
use crate::ip::IpRange;
use crate::policy::{Policy, Rule, identity_rule_refused};

/// How many levels of rule groups may sit below a group (a group referring to a group referring
/// to …). Deep enough for any hand-written configuration, shallow enough that evaluating a chain
/// (which recurses) cannot exhaust a stack.
pub const MAX_GROUP_DEPTH: usize = 16;

/// A reusable set of rules (Cloudflare's rule group, formerly Access group), referenced from
/// policies and other groups with `{"group": {"id": …}}`.
///
/// It matches with the same semantics as a policy: any `include`, no `exclude`, every `require`.
/// This is how a Require section gets an OR: require a group whose include holds the alternatives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// What `group` rules refer to; unique in the catalog.
    pub id: String,
    /// Shown in explanations.
    pub name: String,
    /// Any one must match (OR). At least one is required.
    #[serde(default)]
    pub include: Vec<Rule>,
    /// None may match (NOT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<Rule>,
    /// All must match (AND).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<Rule>,
}

impl RuleGroup {
    fn sections(&self) -> [(&'static str, &[Rule]); 3] {
        [
            ("include", &self.include),
            ("exclude", &self.exclude),
            ("require", &self.require),
        ]
    }
}

/// What a [`List`] holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// Email addresses, for `email_list` rules.
    #[serde(alias = "EMAIL")]
    Email,
    /// IP addresses and CIDR ranges, for `ip_list` rules.
    #[serde(alias = "IP")]
    Ip,
}

impl ListKind {
    /// `email` or `ip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Ip => "ip",
        }
    }
}

impl std::fmt::Display for ListKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named list of emails or IP ranges (Cloudflare's Zero Trust list), referenced from
/// `email_list` and `ip_list` rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    /// What rules refer to; unique among lists.
    pub id: String,
    /// Shown in explanations.
    pub name: String,
    /// Whether the items are emails or IP ranges.
    #[serde(rename = "type")]
    pub kind: ListKind,
    /// Emails (compared normalised: trimmed, lowercase) or IP addresses and CIDR ranges, as
    /// written.
    #[serde(default)]
    pub items: Vec<String>,
}

/// A list's items in the form its rule compares.
#[derive(Clone, Debug)]
enum Lookup {
    Emails(HashSet<Email>),
    Ips(Vec<IpNet>),
}

/// The rule groups and lists that policies may refer to, validated and indexed.
///
/// Built once at start-up (and on reload) and shared by `Arc`; evaluation only reads it.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    groups: Vec<RuleGroup>,
    group_index: HashMap<String, usize>,
    /// Per group (same order as `groups`): whether any rule inside it, transitively, is an
    /// identity rule.
    group_identity: Vec<bool>,
    lists: Vec<List>,
    list_index: HashMap<String, usize>,
    lookups: Vec<Lookup>,
}

impl Catalog {
    /// Validates and indexes rule groups and lists.
    ///
    /// Refuses: empty or duplicate ids (among groups, among lists), a list item that is not an
    /// email (email lists) or an IP address or CIDR range (IP lists), a group without include
    /// rules or with an invalid rule, a reference to a group or list that does not exist or to a
    /// list of the wrong kind, a group that contains itself (directly or through others), and
    /// nesting deeper than [`MAX_GROUP_DEPTH`]. The error names the group or list.
    pub fn new(groups: Vec<RuleGroup>, lists: Vec<List>) -> Result<Catalog, CoreError> {
        let mut list_index = HashMap::with_capacity(lists.len());
        let mut lookups = Vec::with_capacity(lists.len());
        for (position, list) in lists.iter().enumerate() {
            let fail = |reason: String| CoreError::InvalidList {
                list: list.id.clone(),
                reason,
            };
            if list.id.trim().is_empty() {
                return Err(fail(format!(
                    "list #{} (named {:?}) needs a non-empty `id`",
                    position + 1,
                    list.name
                )));
            }
            if list_index.insert(list.id.clone(), position).is_some() {
                return Err(fail(
                    "two lists have this id; list ids must be unique".to_owned(),
                ));
            }
            lookups.push(build_lookup(list).map_err(fail)?);
        }

        let mut group_index = HashMap::with_capacity(groups.len());
        for (position, group) in groups.iter().enumerate() {
            let fail = |reason: String| CoreError::InvalidRuleGroup {
                group: group.id.clone(),
                reason,
            };
            if group.id.trim().is_empty() {
                return Err(fail(format!(
                    "rule group #{} (named {:?}) needs a non-empty `id`",
                    position + 1,
                    group.name
                )));
            }
            if group_index.insert(group.id.clone(), position).is_some() {
                return Err(fail(
                    "two rule groups have this id; rule group ids must be unique".to_owned(),
                ));
            }
        }

        let mut catalog = Catalog {
            groups,
            group_index,
            group_identity: Vec::new(),
            lists,
            list_index,
            lookups,
        };
        for group in &catalog.groups {
            let fail = |reason: String| CoreError::InvalidRuleGroup {
                group: group.id.clone(),
                reason,
            };
            if group.include.is_empty() {
                return Err(fail(
                    "a rule group needs at least one `include` rule (it would match nobody)"
                        .to_owned(),
                ));
            }
            for (section, rules) in group.sections() {
                for (position, rule) in rules.iter().enumerate() {
                    rule.validate()
                        .and_then(|()| catalog.check_reference(rule))
                        .map_err(|reason| {
                            fail(format!("{section} rule #{}: {reason}", position + 1))
                        })?;
                }
            }
        }
        catalog.group_identity = catalog.resolve_groups()?;
        Ok(catalog)
    }

    /// A catalog without groups or lists, for applications whose policies refer to neither.
    pub fn empty() -> Catalog {
        Catalog::default()
    }

    /// The rule group with this id.
    pub fn group(&self, id: &str) -> Option<&RuleGroup> {
        self.group_index.get(id).map(|&index| &self.groups[index])
    }

    /// The list with this id.
    pub fn list(&self, id: &str) -> Option<&List> {
        self.list_index.get(id).map(|&index| &self.lists[index])
    }

    /// Every rule group, in the order given to [`Catalog::new`].
    pub fn groups(&self) -> impl Iterator<Item = &RuleGroup> {
        self.groups.iter()
    }

    /// Every list, in the order given to [`Catalog::new`].
    pub fn lists(&self) -> impl Iterator<Item = &List> {
        self.lists.iter()
    }

    /// Checks a policy against this catalog when configuration is loaded: everything
    /// [`Policy::validate`] checks, plus that every `group`, `email_list` and `ip_list` rule
    /// refers to something that exists and is of the right kind, and that a `bypass` or
    /// `non_identity` policy refers to no group containing identity rules.
    pub fn validate_policy(&self, policy: &Policy) -> Result<(), CoreError> {
        policy.validate()?;
        let fail = |reason: String| CoreError::InvalidPolicy {
            policy: policy.name.clone(),
            reason,
        };
        for (section, rules) in policy.sections() {
            for (position, rule) in rules.iter().enumerate() {
                self.check_reference(rule).map_err(|reason| {
                    fail(format!("{section} rule #{}: {reason}", position + 1))
                })?;
                if policy.decision.is_first_phase() && rule.is_identity(self) {
                    return Err(fail(format!(
                        "{} (the rule group contains identity rules)",
                        identity_rule_refused(
                            policy.decision,
                            section,
                            position,
                            &rule.to_string()
                        )
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the group holds an identity rule, transitively; `false` for an unknown group.
    pub(crate) fn group_is_identity(&self, id: &str) -> bool {
        self.group_index
            .get(id)
            .is_some_and(|&index| self.group_identity[index])
    }

    /// Whether `email` is in the email list `id`: `None` when there is no such email list.
    pub(crate) fn email_list_contains(&self, id: &str, email: &Email) -> Option<bool> {
        match self.lookup(id)? {
            Lookup::Emails(emails) => Some(emails.contains(email)),
            Lookup::Ips(_) => None,
        }
    }

    /// The ranges of the IP list `id`: `None` when there is no such IP list.
    pub(crate) fn ip_list(&self, id: &str) -> Option<&[IpNet]> {
        match self.lookup(id)? {
            Lookup::Ips(nets) => Some(nets),
            Lookup::Emails(_) => None,
        }
    }

    fn lookup(&self, id: &str) -> Option<&Lookup> {
        self.list_index.get(id).map(|&index| &self.lookups[index])
    }

    /// Checks that a `group`, `email_list` or `ip_list` rule refers to something of the right
    /// kind; says what is wrong otherwise.
    fn check_reference(&self, rule: &Rule) -> Result<(), String> {
        let (id, want) = match rule {
            Rule::Group(group) => {
                return if self.group_index.contains_key(&group.id) {
                    Ok(())
                } else {
                    Err(format!(
                        "rule group {:?} is not defined{}",
                        group.id,
                        known(self.groups.iter().map(|g| g.id.as_str()), "rule groups")
                    ))
                };
            }
            Rule::EmailList(list) => (&list.id, ListKind::Email),
            Rule::IpList(list) => (&list.id, ListKind::Ip),
            _ => return Ok(()),
        };
        match self.list(id) {
            None => Err(format!(
                "list {id:?} is not defined{}",
                known(
                    self.lists
                        .iter()
                        .filter(|l| l.kind == want)
                        .map(|l| l.id.as_str()),
                    &format!("{want} lists")
                )
            )),
            Some(list) if list.kind != want => Err(format!(
                "`{}` needs an {want} list, but list {id:?} holds {} items",
                rule.type_name(),
                list.kind
            )),
            Some(_) => Ok(()),
        }
    }

    /// Refuses cycles and over-deep nesting; returns, per group, whether it holds an identity
    /// rule (transitively).
    fn resolve_groups(&self) -> Result<Vec<bool>, CoreError> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Unvisited,
            Visiting,
            Done { identity: bool, height: usize },
        }
        // Depth-first, with an explicit stack so that a hostile chain cannot overflow ours.
        // Each frame: (group index, next rule to look at, identity so far, height so far).
        let mut state = vec![State::Unvisited; self.groups.len()];
        for root in 0..self.groups.len() {
            if state[root] != State::Unvisited {
                continue;
            }
            let mut stack: Vec<(usize, usize, bool, usize)> = vec![(root, 0, false, 0)];
            state[root] = State::Visiting;
            while let Some(frame) = stack.last_mut() {
                let (group, next, _, _) = *frame;
                let rules = self.group_rules(group);
                let Some(rule) = rules.get(next) else {
                    let (group, _, identity, height) = *frame;
                    if height > MAX_GROUP_DEPTH {
                        return Err(CoreError::InvalidRuleGroup {
                            group: self.groups[group].id.clone(),
                            reason: format!(
                                "rule groups nest more than {MAX_GROUP_DEPTH} deep below this one"
                            ),
                        });
                    }
                    stack.pop();
                    state[group] = State::Done { identity, height };
                    if let Some(parent) = stack.last_mut() {
                        parent.2 |= identity;
                        parent.3 = parent.3.max(height + 1);
                    }
                    continue;
                };
                frame.1 += 1;
                let Rule::Group(reference) = rule else {
                    frame.2 |= rule.is_identity_selector();
                    continue;
                };
                // Resolved by `check_reference` already.
                let Some(&child) = self.group_index.get(&reference.id) else {
                    continue;
                };
                match state[child] {
                    State::Done { identity, height } => {
                        frame.2 |= identity;
                        frame.3 = frame.3.max(height + 1);
                    }
                    State::Visiting => {
                        let start = stack.iter().position(|f| f.0 == child).unwrap_or(0);
                        let path: Vec<&str> = stack[start..]
                            .iter()
                            .map(|f| self.groups[f.0].id.as_str())
                            .chain([self.groups[child].id.as_str()])
                            .collect();
                        return Err(CoreError::InvalidRuleGroup {
                            group: self.groups[child].id.clone(),
                            reason: format!(
                                "the group contains itself ({}); a rule group cannot refer to \
                                 itself, directly or through other groups",
                                path.join(" → ")
                            ),
                        });
                    }
                    State::Unvisited => {
                        state[child] = State::Visiting;
                        stack.push((child, 0, false, 0));
                    }
                }
            }
        }
        Ok(state
            .into_iter()
            .map(|s| matches!(s, State::Done { identity: true, .. }))
            .collect())
    }

    /// The group's rules as one sequence (include, exclude, require), for the graph walk.
    fn group_rules(&self, group: usize) -> GroupRules<'_> {
        GroupRules(&self.groups[group])
    }
}

/// A group's rules addressed by one running index across its three sections.
struct GroupRules<'a>(&'a RuleGroup);

impl<'a> GroupRules<'a> {
    fn get(&self, index: usize) -> Option<&'a Rule> {
        let group = self.0;
        let (include, exclude) = (group.include.len(), group.exclude.len());
        if index < include {
            group.include.get(index)
        } else if index < include + exclude {
            group.exclude.get(index - include)
        } else {
            group.require.get(index - include - exclude)
        }
    }
}

/// Parses a list's items into the form its rule compares.
fn build_lookup(list: &List) -> Result<Lookup, String> {
    let item_error = |position: usize, err: CoreError| format!("item #{}: {err}", position + 1);
    match list.kind {
        ListKind::Email => list
            .items
            .iter()
            .enumerate()
            .map(|(position, item)| Email::parse(item).map_err(|err| item_error(position, err)))
            .collect::<Result<HashSet<_>, _>>()
            .map(Lookup::Emails),
        ListKind::Ip => list
            .items
            .iter()
            .enumerate()
            .map(|(position, item)| {
                IpRange::parse(item)
                    .map(|range| range.net())
                    .map_err(|err| item_error(position, err))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Lookup::Ips),
    }
}

/// "; defined rule groups: a, b" for an error message, or "; no rule groups are defined".
fn known<'a>(ids: impl Iterator<Item = &'a str>, what: &str) -> String {
    const SHOWN: usize = 10;
    let ids: Vec<&str> = ids.take(SHOWN + 1).collect();
    if ids.is_empty() {
        return format!("; no {what} are defined");
    }
    let mut shown: Vec<String> = ids.iter().take(SHOWN).map(|id| excerpt(id)).collect();
    if ids.len() > SHOWN {
        shown.push("…".to_owned());
    }
    format!("; defined {what}: {}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Decision;
    use serde_json::json;

    fn group(id: &str, include: Vec<Rule>) -> RuleGroup {
        RuleGroup {
            id: id.into(),
            name: format!("{id} group"),
            include,
            exclude: vec![],
            require: vec![],
        }
    }

    fn list(id: &str, kind: ListKind, items: &[&str]) -> List {
        List {
            id: id.into(),
            name: format!("{id} list"),
            kind,
            items: items.iter().map(|item| (*item).to_owned()).collect(),
        }
    }

    fn rule(value: serde_json::Value) -> Rule {
        serde_json::from_value(value).unwrap()
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

    fn error(groups: Vec<RuleGroup>, lists: Vec<List>) -> String {
        Catalog::new(groups, lists).unwrap_err().to_string()
    }

    #[test]
    fn builds_and_looks_up() {
        let catalog = Catalog::new(
            vec![
                group("staff", vec![Rule::email_domain("example.com")]),
                group("admins", vec![Rule::group("staff")]),
            ],
            vec![
                list(
                    "vips",
                    ListKind::Email,
                    &[" Boss@Example.com", "cto@example.com"],
                ),
                list("offices", ListKind::Ip, &["10.0.0.0/8", "2001:db8::1"]),
            ],
        )
        .unwrap();
        assert_eq!(catalog.group("staff").unwrap().name, "staff group");
        assert!(catalog.group("nobody").is_none());
        assert_eq!(catalog.list("offices").unwrap().kind, ListKind::Ip);
        let ids: Vec<&str> = catalog.groups().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["staff", "admins"]);
        assert_eq!(catalog.lists().count(), 2);
        // Emails are compared normalised.
        let boss = Email::parse("boss@example.com").unwrap();
        assert_eq!(catalog.email_list_contains("vips", &boss), Some(true));
        assert_eq!(catalog.email_list_contains("offices", &boss), None);
        assert_eq!(catalog.ip_list("offices").map(<[IpNet]>::len), Some(2));
        assert!(catalog.ip_list("vips").is_none());
        assert!(catalog.group_is_identity("admins"));
        assert!(!catalog.group_is_identity("nobody"));
        assert_eq!(Catalog::empty().groups().count(), 0);
    }

    #[test]
    fn serde_shapes() {
        let group: RuleGroup = serde_json::from_value(json!({
            "id": "eng", "name": "Engineering",
            "include": [{"okta": {"name": "Engineering"}}],
            "require": [{"auth_method": {"auth_method": "mfa"}}]
        }))
        .unwrap();
        assert!(group.exclude.is_empty());
        assert!(
            serde_json::from_value::<RuleGroup>(json!({
                "id": "x", "name": "x", "include": [], "exlude": []
            }))
            .is_err()
        );
        let list: List = toml::from_str(
            r#"
            id = "offices"
            name = "Offices"
            type = "ip"
            items = ["192.0.2.0/24"]
            "#,
        )
        .unwrap();
        assert_eq!(list.kind, ListKind::Ip);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!({"id": "offices", "name": "Offices", "type": "ip", "items": ["192.0.2.0/24"]})
        );
        let upper: List =
            serde_json::from_value(json!({"id": "e", "name": "E", "type": "EMAIL"})).unwrap();
        assert_eq!(upper.kind, ListKind::Email);
        assert!(
            serde_json::from_value::<List>(json!({"id": "d", "name": "D", "type": "domain"}))
                .is_err()
        );
    }

    #[test]
    fn refuses_duplicate_and_empty_ids() {
        let err = error(
            vec![
                group("a", vec![Rule::everyone()]),
                group("a", vec![Rule::everyone()]),
            ],
            vec![],
        );
        assert!(err.contains("rule group \"a\""), "{err}");
        assert!(err.contains("must be unique"), "{err}");
        let err = error(
            vec![],
            vec![
                list("l", ListKind::Ip, &[]),
                list("l", ListKind::Email, &[]),
            ],
        );
        assert!(err.contains("list \"l\""), "{err}");
        assert!(err.contains("must be unique"), "{err}");
        // A group and a list may share an id: rules say which they mean.
        Catalog::new(
            vec![group("x", vec![Rule::everyone()])],
            vec![list("x", ListKind::Ip, &[])],
        )
        .unwrap();
        assert!(error(vec![group(" ", vec![Rule::everyone()])], vec![]).contains("non-empty"));
        assert!(error(vec![], vec![list("", ListKind::Ip, &[])]).contains("non-empty"));
    }

    #[test]
    fn refuses_bad_list_items() {
        let err = error(
            vec![],
            vec![list(
                "offices",
                ListKind::Ip,
                &["10.0.0.0/8", "10.0.0.0/33"],
            )],
        );
        assert!(err.contains("list \"offices\""), "{err}");
        assert!(err.contains("item #2"), "{err}");
        assert!(err.contains("\"10.0.0.0/33\""), "{err}");
        let err = error(vec![], vec![list("vips", ListKind::Email, &["boss"])]);
        assert!(err.contains("item #1"), "{err}");
        assert!(err.contains("invalid email address \"boss\""), "{err}");
        // An email list does not take addresses, nor an IP list emails.
        assert!(Catalog::new(vec![], vec![list("e", ListKind::Email, &["10.0.0.1"])]).is_err());
        assert!(Catalog::new(vec![], vec![list("i", ListKind::Ip, &["a@b.c"])]).is_err());
    }

    #[test]
    fn refuses_unresolved_references_and_wrong_kinds() {
        let err = error(
            vec![
                group("known", vec![Rule::everyone()]),
                group("a", vec![Rule::group("missing")]),
            ],
            vec![],
        );
        assert!(err.contains("rule group \"a\": include rule #1"), "{err}");
        assert!(err.contains("\"missing\" is not defined"), "{err}");
        assert!(err.contains("defined rule groups: known, a"), "{err}");

        let offices = || list("offices", ListKind::Ip, &["10.0.0.0/8"]);
        let err = error(
            vec![group(
                "a",
                vec![rule(json!({"email_list": {"id": "offices"}}))],
            )],
            vec![offices()],
        );
        assert!(err.contains("`email_list` needs an email list"), "{err}");
        assert!(err.contains("holds ip items"), "{err}");
        let err = error(
            vec![group("a", vec![rule(json!({"ip_list": {"id": "nope"}}))])],
            vec![offices()],
        );
        assert!(
            err.contains("list \"nope\" is not defined; defined ip lists: offices"),
            "{err}"
        );
        let err = error(vec![group("a", vec![])], vec![]);
        assert!(err.contains("at least one `include`"), "{err}");
        let err = error(vec![group("a", vec![Rule::geo("USA")])], vec![]);
        assert!(err.contains("alpha-2"), "{err}");
    }

    #[test]
    fn refuses_cycles() {
        let err = error(vec![group("self", vec![Rule::group("self")])], vec![]);
        assert!(err.contains("contains itself (self → self)"), "{err}");
        let mut c = group("c", vec![Rule::everyone()]);
        c.require = vec![Rule::group("a")];
        // Not a cycle: c → a → b, and b reached twice.
        let mut b = group("b", vec![Rule::everyone()]);
        b.exclude = vec![Rule::geo("FR")];
        Catalog::new(
            vec![group("a", vec![Rule::group("b"), Rule::group("b")]), b, c],
            vec![],
        )
        .unwrap();
    }

    #[test]
    fn refuses_indirect_cycles_in_any_section() {
        let mut b = group("b", vec![Rule::everyone()]);
        b.exclude = vec![Rule::group("c")];
        let mut c = group("c", vec![Rule::everyone()]);
        c.require = vec![Rule::group("a")];
        let err = error(vec![group("a", vec![Rule::group("b")]), b, c], vec![]);
        assert!(err.contains("contains itself (a → b → c → a)"), "{err}");
    }

    #[test]
    fn limits_nesting_depth() {
        let chain = |length: usize| {
            (0..length)
                .map(|i| {
                    let inner = if i + 1 < length {
                        Rule::group(format!("g{}", i + 1))
                    } else {
                        Rule::everyone()
                    };
                    group(&format!("g{i}"), vec![inner])
                })
                .collect::<Vec<_>>()
        };
        Catalog::new(chain(MAX_GROUP_DEPTH + 1), vec![]).unwrap();
        let mut reversed = chain(MAX_GROUP_DEPTH + 1);
        reversed.reverse();
        Catalog::new(reversed, vec![]).unwrap();
        let err = error(chain(MAX_GROUP_DEPTH + 2), vec![]);
        assert!(err.contains("nest more than 16"), "{err}");
        // The check does not depend on the order the groups are listed in.
        let mut reversed = chain(MAX_GROUP_DEPTH + 2);
        reversed.reverse();
        assert!(Catalog::new(reversed, vec![]).is_err());
    }

    #[test]
    fn validate_policy_checks_references_and_identity_groups() {
        let catalog = Catalog::new(
            vec![
                group("staff", vec![Rule::email_domain("example.com")]),
                group(
                    "office",
                    vec![Rule::ip(IpRange::parse("10.0.0.0/8").unwrap())],
                ),
                group("outer", vec![Rule::everyone()]),
            ],
            vec![list("offices", ListKind::Ip, &["10.0.0.0/8"])],
        )
        .unwrap();
        catalog
            .validate_policy(&policy(Decision::Allow, vec![Rule::group("staff")]))
            .unwrap();
        catalog
            .validate_policy(&policy(Decision::Bypass, vec![Rule::group("office")]))
            .unwrap();
        catalog
            .validate_policy(&policy(
                Decision::NonIdentity,
                vec![rule(json!({"ip_list": {"id": "offices"}}))],
            ))
            .unwrap();

        let err = catalog
            .validate_policy(&policy(Decision::Allow, vec![Rule::group("nobody")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy \"p\": include rule #1"), "{err}");
        assert!(
            err.contains("rule group \"nobody\" is not defined"),
            "{err}"
        );

        let err = catalog
            .validate_policy(&policy(
                Decision::Allow,
                vec![rule(json!({"email_list": {"id": "offices"}}))],
            ))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs an email list"), "{err}");

        for decision in [Decision::Bypass, Decision::NonIdentity] {
            let err = catalog
                .validate_policy(&policy(decision, vec![Rule::group("staff")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("`group staff` is an identity rule"), "{err}");
            assert!(
                err.contains("the rule group contains identity rules"),
                "{err}"
            );
        }
        // Policy::validate's own checks run too.
        let err = catalog
            .validate_policy(&policy(Decision::Allow, vec![]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one `include`"), "{err}");
    }

    #[test]
    fn identity_propagates_through_nested_groups() {
        let mut mixed = group("mixed", vec![Rule::everyone()]);
        mixed.exclude = vec![Rule::group("deep")];
        let catalog = Catalog::new(
            vec![
                mixed,
                group("deep", vec![Rule::group("leaf")]),
                group(
                    "leaf",
                    vec![rule(json!({"auth_method": {"auth_method": "mfa"}}))],
                ),
                group("plain", vec![Rule::geo("US")]),
            ],
            vec![],
        )
        .unwrap();
        for id in ["mixed", "deep", "leaf"] {
            assert!(Rule::group(id).is_identity(&catalog), "{id}");
        }
        assert!(!Rule::group("plain").is_identity(&catalog));
    }
}
