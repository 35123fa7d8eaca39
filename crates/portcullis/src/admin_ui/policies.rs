//! `/admin/policies`: reusable policies (added, edited and deleted through a form; those of the
//! configuration file read-only), the policy tester (`tester`, for one email or for every user
//! who signed in), and every application's policies in evaluation order.
//!
//! The form (`admin/policy_form.html`) is shared with rule groups, which have the same rules and
//! no decision.

use askama::Template;
use http::StatusCode;
use portcullis_core::{Catalog, Email, IdpId, Policy, Rule};
use serde_json::{Map, Value, json};

use super::Ask;
use super::editing::{self, Errors, decode_segment, segment};
use super::page::{self, Chrome, Confirm, PageError, PageResult};
use super::rules::{self, RulesSection};
use crate::gateway::App;
use crate::objects::edit::EditError;
use crate::objects::{Kind, ReusablePolicy};
use crate::respond::Branding;
use crate::tester::{self, Subject, TesterError};

const LIST: &str = "/admin/policies";

/// A policy as the pages show it.
pub(super) struct PolicyView {
    pub position: usize,
    pub name: String,
    pub decision: &'static str,
    pub session_duration: String,
    pub include: String,
    pub exclude: String,
    pub require: String,
}

/// Rules as pretty JSON (empty when there are none).
pub(super) fn rules_json<T: serde::Serialize>(rules: &[T]) -> String {
    if rules.is_empty() {
        return String::new();
    }
    serde_json::to_string_pretty(rules).unwrap_or_default()
}

pub(super) fn policy_views(policies: &[Policy]) -> Vec<PolicyView> {
    policies
        .iter()
        .enumerate()
        .map(|(i, p)| PolicyView {
            position: i + 1,
            name: p.name.clone(),
            decision: p.decision.as_str(),
            session_duration: p.session_duration.clone().unwrap_or_default(),
            include: rules_json(&p.include),
            exclude: rules_json(&p.exclude),
            require: rules_json(&p.require),
        })
        .collect()
}

/// Rules in one line (`email a@example.com, group eng`).
pub(super) fn rules_line(rules: &[Rule]) -> String {
    rules
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The decisions a policy may have: the API's name and the dashboard's.
pub(super) const DECISIONS: [(&str, &str); 4] = [
    ("allow", "Allow"),
    ("deny", "Block"),
    ("bypass", "Bypass"),
    ("non_identity", "Service Auth"),
];

/// The dashboard's name of a decision.
pub(super) fn decision_label(decision: &str) -> &'static str {
    DECISIONS
        .iter()
        .find(|(d, _)| *d == decision)
        .map(|(_, l)| *l)
        .unwrap_or("?")
}

struct ReusableRow {
    /// The id as a path segment.
    path: String,
    name: String,
    decision: &'static str,
    include: String,
    used_by: usize,
    read_only: bool,
}

/// The tester's answer.
enum Verdict {
    One {
        allowed: bool,
        /// What was tested: the user's last sign-in, or the attributes typed in.
        basis: String,
        explanation: String,
    },
    All {
        allowed: usize,
        total: usize,
        users: Vec<(String, bool, String)>,
    },
}

#[derive(Template)]
#[template(path = "admin/policies.html")]
struct PoliciesPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    reusable: Vec<ReusableRow>,
    notice: Option<String>,
    error: Option<String>,
    left_out: Vec<String>,
    apps: Vec<(String, String, Vec<PolicyView>)>,
    admin_policies: Vec<PolicyView>,
    app: &'a str,
    email: &'a str,
    groups_text: &'a str,
    all: bool,
    app_error: Option<String>,
    email_error: Option<String>,
    verdict: Option<Verdict>,
}

/// The values of the policy or rule-group form, as typed.
pub(super) struct RulesForm {
    pub name: String,
    pub decision: String,
    pub session_duration: String,
    pub sections: Vec<RulesSection>,
}

impl RulesForm {
    /// Whether a section found a mistake before saving.
    pub fn sections_have_errors(&self) -> bool {
        self.sections.iter().any(|s| !s.errors.is_empty())
    }
}

/// The policy or rule-group form.
#[derive(Template)]
#[template(path = "admin/policy_form.html")]
pub(super) struct RulesFormPage<'a> {
    pub brand: &'a Branding,
    pub chrome: &'a Chrome<'a>,
    pub heading: String,
    /// `reusable policy` or `rule group`.
    pub noun: &'static str,
    /// The list page, and its name.
    pub back: (&'static str, &'static str),
    pub action: String,
    /// Where Delete posts, when the object exists and may be deleted.
    pub delete_action: Option<String>,
    pub read_only: bool,
    /// Policies have a decision and a session duration; rule groups do not.
    pub is_policy: bool,
    pub decisions: &'static [(&'static str, &'static str)],
    pub f: RulesForm,
    pub errors: Errors,
    /// The applications (or, for a rule group, the policies and groups) that use it.
    pub used_by: Vec<String>,
}

impl RulesFormPage<'_> {
    pub fn show(&self, request_id: &str) -> PageResult {
        let status = if self.errors.is_empty() && !self.f.sections_have_errors() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        page::render(status, self, request_id)
    }
}

/// The form field of a policy or rule-group validation message: its key (`name`,
/// `session_duration`), or the section the message of the object itself names (`policy "p":
/// include rule #2: …`); `own` is how such a message starts.
pub(super) fn rules_field_for(key: Option<&str>, text: &str, own: &str) -> Option<String> {
    match key {
        Some("name") => Some("name".into()),
        Some("decision") => Some("decision".into()),
        Some("session_duration") => Some("session_duration".into()),
        Some(section @ ("include" | "exclude" | "require")) => Some(format!("{section}_rules")),
        Some(_) => None,
        None if text.starts_with(own) => {
            if let Some(which) = rules::section_named(text) {
                Some(format!("{which}_rules"))
            } else if text.contains("session_duration:") {
                Some("session_duration".into())
            } else if text.contains("non-empty `name`") {
                Some("name".into())
            } else {
                None
            }
        }
        None => None,
    }
}

/// Routes `/admin/policies/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask, StatusCode::OK, None).await,
        (["new"], false) => {
            let catalog = ask.gw.snapshot.load().catalog.clone();
            let f = RulesForm {
                name: String::new(),
                decision: "allow".into(),
                session_duration: String::new(),
                sections: rules::sections_from_rules("", [&[], &[], &[]], &catalog, None),
            };
            form(ask, None, f, Errors::default())
        }
        (["new"], true) => submit(ask, None).await,
        ([id], false) => {
            let (id, found) = find(ask, id)?;
            let catalog = ask.gw.snapshot.load().catalog.clone();
            let p = &found.policy;
            let f = RulesForm {
                name: p.name.clone(),
                decision: p.decision.as_str().to_owned(),
                session_duration: p.session_duration.clone().unwrap_or_default(),
                sections: rules::sections_from_rules(
                    "",
                    [&p.include, &p.exclude, &p.require],
                    &catalog,
                    None,
                ),
            };
            form(ask, Some((&id, found.read_only)), f, Errors::default())
        }
        ([id], true) => {
            let (id, found) = find(ask, id)?;
            submit(ask, Some((&id, found.read_only))).await
        }
        ([id, "delete"], true) => {
            let (id, found) = find(ask, id)?;
            delete(ask, &id, &found.policy.name).await
        }
        _ => Err(PageError::NotFound),
    }
}

/// A reusable policy in force, by the path segment of its id.
fn find(ask: &Ask<'_>, segment: &str) -> Result<(String, PolicySummary), PageError> {
    let id = decode_segment(segment).ok_or(PageError::NotFound)?;
    let snapshot = ask.gw.snapshot.load();
    let found = snapshot.policy(&id).ok_or(PageError::NotFound)?;
    Ok((id, PolicySummary::of(found)))
}

/// What the handlers need of a reusable policy (the snapshot is not held across awaits).
struct PolicySummary {
    policy: Policy,
    read_only: bool,
}

impl PolicySummary {
    fn of(p: &ReusablePolicy) -> Self {
        PolicySummary {
            policy: p.policy.clone(),
            read_only: p.read_only,
        }
    }
}

/// The names of the applications that use reusable policy `id`.
fn used_by(ask: &Ask<'_>, id: &str) -> Vec<String> {
    super::apps::all_apps(ask)
        .iter()
        .filter(|a| a.policy_refs.iter().any(|r| r == id))
        .map(|a| a.name.clone())
        .collect()
}

fn form(ask: &Ask<'_>, policy: Option<(&str, bool)>, f: RulesForm, errors: Errors) -> PageResult {
    let (heading, action, delete_action, read_only, users) = match policy {
        Some((id, read_only)) => {
            let path = format!("{LIST}/{}", segment(id));
            let heading = if read_only {
                f.name.clone()
            } else {
                format!("Edit {}", f.name)
            };
            let delete = (!read_only).then(|| format!("{path}/delete"));
            (heading, path, delete, read_only, used_by(ask, id))
        }
        None => (
            "Add a reusable policy".to_owned(),
            format!("{LIST}/new"),
            None,
            false,
            Vec::new(),
        ),
    };
    RulesFormPage {
        brand: &ask.gw.branding,
        chrome: ask.chrome,
        heading,
        noun: "reusable policy",
        back: (LIST, "Policies"),
        action,
        delete_action,
        read_only,
        is_policy: true,
        decisions: &DECISIONS,
        f,
        errors,
        used_by: users,
    }
    .show(&ask.ctx.request_id)
}

/// The policy's declaration from the form; `None` when a section has mistakes (recorded in it).
pub(super) fn policy_declaration(f: &mut RulesForm) -> Option<Map<String, Value>> {
    let mut body = Map::new();
    body.insert("name".into(), json!(f.name));
    body.insert("decision".into(), json!(f.decision));
    if !f.session_duration.is_empty() {
        body.insert("session_duration".into(), json!(f.session_duration));
    }
    rules::put_rules(&mut f.sections, &mut body).then_some(body)
}

async fn submit(ask: &Ask<'_>, policy: Option<(&str, bool)>) -> PageResult {
    let catalog = ask.gw.snapshot.load().catalog.clone();
    let mut f = RulesForm {
        name: ask.field("name").to_owned(),
        decision: ask.field("decision").to_owned(),
        session_duration: ask.field("session_duration").to_owned(),
        sections: rules::sections_from_form(ask, "", &catalog, None),
    };
    let mut errors = Errors::default();
    let Some(body) = policy_declaration(&mut f) else {
        return form(ask, policy, f, errors);
    };
    let id = policy.map(|(id, _)| id);
    match ask
        .gw
        .save_object(Kind::Policy, id, Value::Object(body))
        .await
    {
        Ok(saved) => {
            let done = if saved.created { "created" } else { "saved" };
            page::see_other(ask.gw, &format!("{LIST}?done={done}"))
        }
        Err(e) => {
            let own = format!("policy {:?}", f.name);
            editing::absorb(&mut errors, e, &|key, text| {
                rules_field_for(key, text, &own)
            })?;
            form(ask, policy, f, errors)
        }
    }
}

async fn delete(ask: &Ask<'_>, id: &str, name: &str) -> PageResult {
    let path = format!("{LIST}/{}/delete", segment(id));
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &format!("Delete the reusable policy “{name}”?"),
                consequence: "It is removed at once. An application that still uses it must be changed first.",
                action: &path,
                button: "Delete the policy",
                hidden: Vec::new(),
                cancel: LIST,
            },
        );
    }
    match ask.gw.delete_object(Kind::Policy, id).await {
        Ok(()) => page::see_other(ask.gw, &format!("{LIST}?done=deleted")),
        Err(EditError::Invalid(m) | EditError::ReadOnly(m)) => {
            list(
                ask,
                StatusCode::CONFLICT,
                Some(format!("“{name}” was not deleted: {m}")),
            )
            .await
        }
        Err(EditError::NotFound(_)) => Err(PageError::NotFound),
        Err(EditError::Store(e)) => Err(PageError::Store(e)),
        Err(e) => Err(PageError::internal(e)),
    }
}

async fn list(ask: &Ask<'_>, status: StatusCode, error: Option<String>) -> PageResult {
    let gw = ask.gw;
    let apps = super::apps::all_apps(ask);
    let (catalog, reusable) = {
        let snapshot = gw.snapshot.load();
        let mut rows: Vec<ReusableRow> = snapshot
            .policies
            .iter()
            .map(|p| ReusableRow {
                path: segment(&p.id),
                name: p.policy.name.clone(),
                decision: decision_label(p.policy.decision.as_str()),
                include: rules_line(&p.policy.include),
                used_by: apps
                    .iter()
                    .filter(|a| a.policy_refs.iter().any(|r| r == &p.id))
                    .count(),
                read_only: p.read_only,
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        (snapshot.catalog.clone(), rows)
    };
    let q = &ask.query;
    let app_id = q.get("app").unwrap_or_default();
    let email = q.get("email").unwrap_or_default().trim();
    let groups_text = q.get("groups").unwrap_or_default();
    let all = q.get("all") == Some("yes");
    let submitted = q.get("app").is_some();
    let mut app_error = None;
    let mut email_error = None;
    let mut verdict = None;
    if submitted {
        let app = apps.iter().find(|a| a.id.to_string() == app_id);
        if app.is_none() {
            app_error = Some("Choose an application.".to_owned());
        }
        let parsed = if all {
            None
        } else if email.is_empty() {
            email_error = Some("Type an email, or tick “test all users”.".to_owned());
            None
        } else {
            match Email::parse(email) {
                Ok(e) => Some(e),
                Err(_) => {
                    email_error = Some(format!("`{email}` is not an email address."));
                    None
                }
            }
        };
        if let Some(app) = app {
            let store = gw.store.as_ref();
            if all {
                let summary = tester::test_all_users(store, &app.policies, &catalog)
                    .await
                    .map_err(tester_failure)?;
                verdict = Some(Verdict::All {
                    allowed: summary.allowed,
                    total: summary.total,
                    users: summary
                        .users
                        .into_iter()
                        .map(|u| (u.email, u.outcome.allowed(), u.outcome.to_string()))
                        .collect(),
                });
            } else if let Some(email) = parsed {
                let groups: Vec<String> = groups_text
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect();
                verdict = Some(test_one(ask, app, &catalog, email, groups).await?);
            }
        }
    }
    let status = if app_error.is_some() || email_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    page::render(
        status,
        &PoliciesPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            reusable,
            notice: editing::done_notice(ask, "reusable policy"),
            error,
            left_out: editing::left_out(ask, Kind::Policy),
            apps: apps
                .iter()
                .map(|a| (a.id.to_string(), a.name.clone(), policy_views(&a.policies)))
                .collect(),
            admin_policies: policy_views(&gw.admin_policies),
            app: app_id,
            email,
            groups_text,
            all,
            app_error,
            email_error,
            verdict,
        },
        &ask.ctx.request_id,
    )
}

fn tester_failure(e: TesterError) -> PageError {
    match e {
        TesterError::Store(s) => PageError::Store(s),
        other => PageError::internal(other),
    }
}

/// One email: with no groups typed, the user's last sign-in when there is one; otherwise the
/// attributes typed in (email and groups, through the app's first login method).
async fn test_one(
    ask: &Ask<'_>,
    app: &App,
    catalog: &Catalog,
    email: Email,
    groups: Vec<String>,
) -> Result<Verdict, PageError> {
    let store = ask.gw.store.as_ref();
    if groups.is_empty() {
        match tester::test_user(store, &app.policies, catalog, email.as_str()).await {
            Ok(t) => {
                return Ok(Verdict::One {
                    allowed: t.evaluation.allowed(),
                    basis: format!(
                        "{}'s last sign-in ({}, from {})",
                        t.user.email,
                        page::time(t.signed_in_at),
                        t.ip.map(|i| i.to_string())
                            .unwrap_or_else(|| "an unknown address".into())
                    ),
                    explanation: t.evaluation.to_string(),
                });
            }
            Err(TesterError::Registry(_) | TesterError::NeverSignedIn(_)) => {}
            Err(e) => return Err(tester_failure(e)),
        }
    }
    let idp_id = {
        let snapshot = ask.gw.snapshot.load();
        snapshot
            .login_methods_for(app)
            .first()
            .map(|m| m.id)
            .unwrap_or(IdpId(uuid::Uuid::nil()))
    };
    let basis = if groups.is_empty() {
        format!("{email} (never signed in; no groups, no address, no country)")
    } else {
        format!("{email} in groups {}", groups.join(", "))
    };
    let subject = Subject {
        email,
        name: None,
        groups,
        oidc_fields: Map::new(),
        amr: Vec::new(),
        idp_id,
        ip: None,
        country: None,
    };
    let evaluation = tester::test_subject(&app.policies, catalog, &subject);
    Ok(Verdict::One {
        allowed: evaluation.allowed(),
        basis,
        explanation: evaluation.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_messages_go_next_to_their_field() {
        let own = "policy \"p\"";
        let f = |key: Option<&str>, text: &str| rules_field_for(key, text, own);
        assert_eq!(f(Some("name"), "required").as_deref(), Some("name"));
        assert_eq!(
            f(None, "policy \"p\": require rule #1: `geo` country_code").as_deref(),
            Some("require_rules")
        );
        assert_eq!(
            f(None, "policy \"p\": session_duration: invalid duration").as_deref(),
            Some("session_duration")
        );
        // Another object's problem stays at the top.
        assert_eq!(
            f(
                None,
                "application \"wiki\": `policies[0]`: policy \"p\": include rule #1"
            ),
            None
        );
    }
}
