//! The rules part of the policy and rule-group forms: for each of include, exclude and require,
//! simple fields for the common selectors (everyone, emails, email domains, IdP groups, rule
//! groups, IP ranges, countries) and an "advanced" JSON field that, when filled, is used as it
//! is. Rules the simple fields cannot show (a login-method rule, a claim other than `groups`, …)
//! put the whole section in the JSON field, so that editing never drops a rule.

use portcullis_core::{Catalog, Email, IpRange, Rule};
use serde_json::{Value, json};

use super::Ask;
use super::editing::{Errors, items, words};

/// The claim whose values are the identity's IdP groups.
const GROUPS_CLAIM: &str = "groups";

/// A rule group that a section may refer to.
pub(crate) struct GroupChoice {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

/// A text field of a section, as the template shows it.
pub(crate) struct TextField<'a> {
    pub name: &'static str,
    pub label: &'static str,
    pub value: &'a str,
    /// Static HTML.
    pub help: &'static str,
}

/// One section (include, exclude or require) of a policy or rule group, as typed.
pub(crate) struct RulesSection {
    /// The prefix of the section's field names (`include`, `inline_include`, …).
    pub key: String,
    /// `include`, `exclude` or `require`.
    pub which: &'static str,
    pub everyone: bool,
    pub emails: String,
    pub domains: String,
    pub groups: String,
    pub ips: String,
    pub countries: String,
    pub rule_groups: Vec<GroupChoice>,
    pub json: String,
    /// Errors of the section's own fields (`emails`, `json`, …), found before saving.
    pub errors: Errors,
}

/// The three sections' names, in the order the forms show them.
pub(crate) const SECTIONS: [&str; 3] = ["include", "exclude", "require"];

impl RulesSection {
    pub fn title(&self) -> &'static str {
        match self.which {
            "include" => "Include — any of these",
            "exclude" => "Exclude — none of these",
            _ => "Require — all of these",
        }
    }

    pub fn help(&self) -> &'static str {
        match self.which {
            "include" => {
                "A request matches when it matches any one rule here. At least one rule is needed."
            }
            "exclude" => {
                "A request that matches any rule here does not match, whatever else it matches."
            }
            _ => "A request must match every rule here as well.",
        }
    }

    /// The section's text fields, in the order the form shows them.
    pub fn text_fields(&self) -> [TextField<'_>; 5] {
        [
            TextField {
                name: "emails",
                label: "Emails",
                value: &self.emails,
                help: "Comma-separated addresses.",
            },
            TextField {
                name: "domains",
                label: "Emails ending in",
                value: &self.domains,
                help: "Domains, e.g. <code>example.com</code>.",
            },
            TextField {
                name: "groups",
                label: "Identity provider groups",
                value: &self.groups,
                help: "Comma-separated group names, from the <code>groups</code> claim.",
            },
            TextField {
                name: "ips",
                label: "IP ranges",
                value: &self.ips,
                help: "Addresses or CIDR ranges, e.g. <code>10.0.0.0/8</code>.",
            },
            TextField {
                name: "countries",
                label: "Countries",
                value: &self.countries,
                help: "Two-letter codes, e.g. <code>DE, FR</code>.",
            },
        ]
    }

    /// Whether anything is filled in (the form then shows the section open).
    pub fn is_filled(&self) -> bool {
        self.everyone
            || !self.emails.is_empty()
            || !self.domains.is_empty()
            || !self.groups.is_empty()
            || !self.ips.is_empty()
            || !self.countries.is_empty()
            || !self.json.is_empty()
            || self.rule_groups.iter().any(|g| g.checked)
            || !self.errors.is_empty()
    }

    /// The name of one of the section's fields (`include_emails`).
    pub fn field(&self, name: &str) -> String {
        format!("{}_{name}", self.key)
    }

    fn empty(prefix: &str, which: &'static str, groups: Vec<GroupChoice>) -> Self {
        RulesSection {
            key: if prefix.is_empty() {
                which.to_owned()
            } else {
                format!("{prefix}_{which}")
            },
            which,
            everyone: false,
            emails: String::new(),
            domains: String::new(),
            groups: String::new(),
            ips: String::new(),
            countries: String::new(),
            rule_groups: groups,
            json: String::new(),
            errors: Errors::default(),
        }
    }

    /// The section showing `rules`. `prefix` tells the sections of several policies apart on
    /// one form; `own_group` is the rule group being edited (it cannot refer to itself).
    pub fn from_rules(
        prefix: &str,
        which: &'static str,
        rules: &[Rule],
        catalog: &Catalog,
        own_group: Option<&str>,
    ) -> Self {
        let mut s = Self::empty(prefix, which, group_choices(catalog, own_group));
        let mut emails = Vec::new();
        let mut domains = Vec::new();
        let mut groups = Vec::new();
        let mut ips = Vec::new();
        let mut countries = Vec::new();
        let mut simple = true;
        for rule in rules {
            match rule {
                Rule::Everyone(_) => s.everyone = true,
                Rule::Email(r) => emails.push(r.email.to_string()),
                Rule::EmailDomain(r) => domains.push(r.domain.clone()),
                Rule::Oidc(r)
                    if r.claim_name == GROUPS_CLAIM
                        && r.identity_provider_id.is_none()
                        && !r.claim_value.contains(',') =>
                {
                    groups.push(r.claim_value.clone())
                }
                Rule::Ip(r) => ips.push(r.ip.to_string()),
                Rule::Geo(r) => countries.push(r.country_code.clone()),
                Rule::Group(r) => match s.rule_groups.iter_mut().find(|g| g.id == r.id) {
                    Some(g) => g.checked = true,
                    None => simple = false,
                },
                _ => simple = false,
            }
        }
        if simple {
            s.emails = emails.join(", ");
            s.domains = domains.join(", ");
            s.groups = groups.join(", ");
            s.ips = ips.join(", ");
            s.countries = countries.join(", ");
        } else {
            s.everyone = false;
            for g in &mut s.rule_groups {
                g.checked = false;
            }
            s.json = serde_json::to_string_pretty(rules).unwrap_or_default();
        }
        s
    }

    /// The section as the form sent it.
    pub fn from_form(
        ask: &Ask<'_>,
        prefix: &str,
        which: &'static str,
        catalog: &Catalog,
        own_group: Option<&str>,
    ) -> Self {
        let mut s = Self::empty(prefix, which, group_choices(catalog, own_group));
        let ticked: Vec<&str> = super::editing::values(ask, &s.field("group"));
        for g in &mut s.rule_groups {
            g.checked = ticked.contains(&g.id.as_str());
        }
        s.everyone = super::editing::ticked(ask, &s.field("everyone"));
        s.emails = ask.field(&s.field("emails")).to_owned();
        s.domains = ask.field(&s.field("domains")).to_owned();
        s.groups = ask.field(&s.field("groups")).to_owned();
        s.ips = ask.field(&s.field("ips")).to_owned();
        s.countries = ask.field(&s.field("countries")).to_owned();
        s.json = ask.field(&s.field("json")).to_owned();
        s
    }

    /// The rules in Cloudflare's JSON shape; `None` (with the errors recorded next to their
    /// fields) when something typed cannot be read.
    pub fn rules(&mut self) -> Option<Vec<Value>> {
        if !self.json.is_empty() {
            return self.json_rules();
        }
        let mut rules = Vec::new();
        if self.everyone {
            rules.push(json!({ "everyone": {} }));
        }
        for e in words(&self.emails) {
            match Email::parse(&e) {
                Ok(email) => rules.push(json!({ "email": { "email": email.as_str() } })),
                Err(_) => self
                    .errors
                    .add("emails", format!("`{e}` is not an email address")),
            }
        }
        for d in words(&self.domains) {
            let bare = d.trim_start_matches('@');
            if bare.is_empty() || bare.contains('@') {
                self.errors.add(
                    "domains",
                    format!("`{d}` is not an email domain; write e.g. example.com"),
                );
            } else {
                rules.push(json!({ "email_domain": { "domain": bare } }));
            }
        }
        for g in items(&self.groups) {
            rules.push(json!({ "oidc": { "claim_name": GROUPS_CLAIM, "claim_value": g } }));
        }
        for g in self.rule_groups.iter().filter(|g| g.checked) {
            rules.push(json!({ "group": { "id": g.id } }));
        }
        for ip in words(&self.ips) {
            match IpRange::parse(&ip) {
                Ok(range) => rules.push(json!({ "ip": { "ip": range.to_string() } })),
                Err(_) => self.errors.add(
                    "ips",
                    format!("`{ip}` is not an IP address or range; write e.g. 10.0.0.0/8"),
                ),
            }
        }
        for c in words(&self.countries) {
            if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
                rules.push(json!({ "geo": { "country_code": c.to_ascii_uppercase() } }));
            } else {
                self.errors.add(
                    "countries",
                    format!("`{c}` is not a two-letter country code; write e.g. DE"),
                );
            }
        }
        self.errors.is_empty().then_some(rules)
    }

    /// The advanced field: a JSON array of rules, each checked so that a mistake is named here.
    fn json_rules(&mut self) -> Option<Vec<Value>> {
        let parsed: Value = match serde_json::from_str(&self.json) {
            Ok(v) => v,
            Err(e) => {
                self.errors.add(
                    "json",
                    format!("not JSON: {e}; write an array such as [{{\"everyone\": {{}}}}]"),
                );
                return None;
            }
        };
        let Value::Array(rules) = parsed else {
            self.errors.add(
                "json",
                "must be an array of rules, e.g. [{\"email\": {\"email\": \"a@example.com\"}}]",
            );
            return None;
        };
        for (i, rule) in rules.iter().enumerate() {
            if let Err(e) = serde_json::from_value::<Rule>(rule.clone()) {
                self.errors.add("json", format!("rule #{}: {e}", i + 1));
            }
        }
        self.errors.is_empty().then_some(rules)
    }
}

fn group_choices(catalog: &Catalog, own_group: Option<&str>) -> Vec<GroupChoice> {
    catalog
        .groups()
        .filter(|g| Some(g.id.as_str()) != own_group)
        .map(|g| GroupChoice {
            id: g.id.clone(),
            name: g.name.clone(),
            checked: false,
        })
        .collect()
}

/// The three sections of a policy or rule group as the form sent them.
pub(crate) fn sections_from_form(
    ask: &Ask<'_>,
    prefix: &str,
    catalog: &Catalog,
    own_group: Option<&str>,
) -> Vec<RulesSection> {
    SECTIONS
        .iter()
        .map(|which| RulesSection::from_form(ask, prefix, which, catalog, own_group))
        .collect()
}

/// The three sections showing a policy's or rule group's rules.
pub(crate) fn sections_from_rules(
    prefix: &str,
    [include, exclude, require]: [&[Rule]; 3],
    catalog: &Catalog,
    own_group: Option<&str>,
) -> Vec<RulesSection> {
    vec![
        RulesSection::from_rules(prefix, "include", include, catalog, own_group),
        RulesSection::from_rules(prefix, "exclude", exclude, catalog, own_group),
        RulesSection::from_rules(prefix, "require", require, catalog, own_group),
    ]
}

/// Puts the sections' rules into a declaration (`include`, `exclude`, `require`; empty ones
/// left out). `false` when a section has errors.
pub(crate) fn put_rules(
    sections: &mut [RulesSection],
    body: &mut serde_json::Map<String, Value>,
) -> bool {
    let mut ok = true;
    for s in sections.iter_mut() {
        match s.rules() {
            Some(rules) if rules.is_empty() => {}
            Some(rules) => {
                body.insert(s.which.to_owned(), Value::Array(rules));
            }
            None => ok = false,
        }
    }
    ok
}

/// The section a policy validation message is about (`include rule #2: …`), if it names one.
pub(crate) fn section_named(message: &str) -> Option<&'static str> {
    SECTIONS.into_iter().find(|which| {
        message.contains(&format!("{which} rule #")) || message.contains(&format!("`{which}` rule"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(
            vec![portcullis_core::RuleGroup {
                id: "eng".into(),
                name: "Engineering".into(),
                include: vec![Rule::email_domain("example.com")],
                exclude: vec![],
                require: vec![],
            }],
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn simple_rules_fill_the_fields_and_come_back_the_same() {
        let rules = vec![
            Rule::everyone(),
            Rule::email(Email::parse("a@example.com").unwrap()),
            Rule::email_domain("example.org"),
            Rule::oidc("groups", "Site Admins"),
            Rule::group("eng"),
            Rule::ip(IpRange::parse("10.0.0.0/8").unwrap()),
            Rule::geo("DE"),
        ];
        let mut s = RulesSection::from_rules("", "include", &rules, &catalog(), None);
        assert!(s.json.is_empty());
        assert_eq!(s.groups, "Site Admins");
        assert!(s.rule_groups[0].checked);
        let back: Vec<Rule> = s
            .rules()
            .unwrap()
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        for r in &rules {
            assert!(back.contains(r), "{r} lost");
        }
        assert_eq!(back.len(), rules.len());
    }

    #[test]
    fn a_rule_without_a_simple_field_puts_the_section_in_json() {
        let rules = vec![Rule::everyone(), Rule::oidc("department", "sales")];
        let mut s = RulesSection::from_rules("", "require", &rules, &catalog(), None);
        assert!(!s.everyone && s.emails.is_empty());
        assert!(s.json.contains("department"), "{}", s.json);
        assert_eq!(s.rules().unwrap().len(), 2);
    }

    #[test]
    fn bad_input_is_named_next_to_its_field() {
        let mut s = RulesSection::from_rules("", "include", &[], &catalog(), None);
        s.emails = "ok@example.com, nope".into();
        s.ips = "10.0.0.0/33".into();
        s.countries = "Germany".into();
        assert!(s.rules().is_none());
        assert!(s.errors.get("emails").unwrap().contains("`nope`"));
        assert!(s.errors.get("ips").is_some());
        assert!(s.errors.get("countries").is_some());
        let mut s = RulesSection::from_rules("", "include", &[], &catalog(), None);
        s.json = "[{\"emial\": {}}]".into();
        assert!(s.rules().is_none());
        assert!(s.errors.get("json").unwrap().contains("rule #1"));
        s.errors = Errors::default();
        s.json = "{".into();
        assert!(s.rules().is_none());
        assert!(s.errors.get("json").unwrap().starts_with("not JSON"));
    }

    #[test]
    fn a_rule_group_cannot_refer_to_itself() {
        let s = RulesSection::from_rules("", "include", &[], &catalog(), Some("eng"));
        assert!(s.rule_groups.is_empty());
    }

    #[test]
    fn policy_messages_are_placed_in_their_section() {
        assert_eq!(
            section_named("policy \"p\": exclude rule #1: `geo` country_code"),
            Some("exclude")
        );
        assert_eq!(
            section_named("policy \"p\": a policy needs at least one `include` rule (to …)"),
            Some("include")
        );
        assert_eq!(section_named("policy \"p\": session_duration: bad"), None);
    }
}
