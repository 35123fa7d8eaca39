//! `/admin/rule-groups`: rule groups (named sets of rules that policies include with a `group`
//! rule), added, edited and deleted through the policy form without a decision; those of the
//! configuration file read-only.

use askama::Template;
use http::StatusCode;
use portcullis_core::{Catalog, Rule, RuleGroup};
use serde_json::{Map, Value, json};

use super::Ask;
use super::editing::{self, Errors, decode_segment, segment};
use super::page::{self, Chrome, Confirm, PageError, PageResult};
use super::policies::{RulesForm, RulesFormPage, rules_field_for, rules_line};
use super::rules;
use crate::objects::Kind;
use crate::objects::edit::EditError;
use crate::respond::Branding;

const LIST: &str = "/admin/rule-groups";

struct Row {
    id: String,
    path: String,
    name: String,
    include: String,
    exclude: String,
    require: String,
    read_only: bool,
}

#[derive(Template)]
#[template(path = "admin/rule_groups.html")]
struct ListPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<Row>,
    notice: Option<String>,
    error: Option<String>,
    left_out: Vec<String>,
}

/// Routes `/admin/rule-groups/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask, StatusCode::OK, None),
        (["new"], false) => {
            let catalog = catalog(ask);
            let f = RulesForm {
                name: String::new(),
                decision: String::new(),
                session_duration: String::new(),
                sections: rules::sections_from_rules("", [&[], &[], &[]], &catalog, None),
            };
            form(ask, None, f, Errors::default())
        }
        (["new"], true) => submit(ask, None).await,
        ([id], false) => {
            let (group, read_only) = find(ask, id)?;
            let f = RulesForm {
                name: group.name.clone(),
                decision: String::new(),
                session_duration: String::new(),
                sections: rules::sections_from_rules(
                    "",
                    [&group.include, &group.exclude, &group.require],
                    &catalog(ask),
                    Some(&group.id),
                ),
            };
            form(ask, Some((&group.id, read_only)), f, Errors::default())
        }
        ([id], true) => {
            let (group, read_only) = find(ask, id)?;
            submit(ask, Some((&group.id, read_only))).await
        }
        ([id, "delete"], true) => {
            let (group, _) = find(ask, id)?;
            delete(ask, &group).await
        }
        _ => Err(PageError::NotFound),
    }
}

fn catalog(ask: &Ask<'_>) -> std::sync::Arc<Catalog> {
    ask.gw.snapshot.load().catalog.clone()
}

/// A rule group in force, by the path segment of its id, and whether it is read-only.
fn find(ask: &Ask<'_>, segment: &str) -> Result<(RuleGroup, bool), PageError> {
    let id = decode_segment(segment).ok_or(PageError::NotFound)?;
    let snapshot = ask.gw.snapshot.load();
    let group = snapshot.catalog.group(&id).ok_or(PageError::NotFound)?;
    let read_only = snapshot
        .rule_groups
        .iter()
        .find(|e| e.id == id)
        .is_none_or(|e| e.read_only);
    Ok((group.clone(), read_only))
}

fn refers_to(rules: &[Rule], id: &str) -> bool {
    rules
        .iter()
        .any(|r| matches!(r, Rule::Group(g) if g.id == id))
}

/// What uses rule group `id`: reusable policies, applications and other groups.
fn used_by(ask: &Ask<'_>, id: &str) -> Vec<String> {
    let snapshot = ask.gw.snapshot.load();
    let mut users = Vec::new();
    let policy_uses = |p: &portcullis_core::Policy| {
        refers_to(&p.include, id) || refers_to(&p.exclude, id) || refers_to(&p.require, id)
    };
    for p in snapshot.policies.iter().filter(|p| policy_uses(&p.policy)) {
        users.push(format!("policy {}", p.policy.name));
    }
    for a in super::apps::all_apps(ask) {
        if a.policies.iter().any(policy_uses) {
            users.push(format!("application {}", a.name));
        }
    }
    for g in snapshot.catalog.groups().filter(|g| g.id != id) {
        if refers_to(&g.include, id) || refers_to(&g.exclude, id) || refers_to(&g.require, id) {
            users.push(format!("rule group {}", g.name));
        }
    }
    users
}

fn list(ask: &Ask<'_>, status: StatusCode, error: Option<String>) -> PageResult {
    let rows = {
        let snapshot = ask.gw.snapshot.load();
        snapshot
            .catalog
            .groups()
            .map(|g| Row {
                id: g.id.clone(),
                path: segment(&g.id),
                name: g.name.clone(),
                include: rules_line(&g.include),
                exclude: rules_line(&g.exclude),
                require: rules_line(&g.require),
                read_only: snapshot
                    .rule_groups
                    .iter()
                    .find(|e| e.id == g.id)
                    .is_none_or(|e| e.read_only),
            })
            .collect()
    };
    page::render(
        status,
        &ListPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            rows,
            notice: editing::done_notice(ask, "rule group"),
            error,
            left_out: editing::left_out(ask, Kind::RuleGroup),
        },
        &ask.ctx.request_id,
    )
}

fn form(ask: &Ask<'_>, group: Option<(&str, bool)>, f: RulesForm, errors: Errors) -> PageResult {
    let (heading, action, delete_action, read_only, users) = match group {
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
            "Add a rule group".to_owned(),
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
        noun: "rule group",
        back: (LIST, "Rule groups"),
        action,
        delete_action,
        read_only,
        is_policy: false,
        decisions: &[],
        f,
        errors,
        used_by: users,
    }
    .show(&ask.ctx.request_id)
}

async fn submit(ask: &Ask<'_>, group: Option<(&str, bool)>) -> PageResult {
    let catalog = catalog(ask);
    let own_id = group.map(|(id, _)| id);
    let mut f = RulesForm {
        name: ask.field("name").to_owned(),
        decision: String::new(),
        session_duration: String::new(),
        sections: rules::sections_from_form(ask, "", &catalog, own_id),
    };
    let mut errors = Errors::default();
    let mut body = Map::new();
    body.insert("name".into(), json!(f.name));
    if !rules::put_rules(&mut f.sections, &mut body) {
        return form(ask, group, f, errors);
    }
    match ask
        .gw
        .save_object(Kind::RuleGroup, own_id, Value::Object(body))
        .await
    {
        Ok(saved) => {
            let done = if saved.created { "created" } else { "saved" };
            page::see_other(ask.gw, &format!("{LIST}?done={done}"))
        }
        Err(e) => {
            // The catalog names a group by its id; a new group's id is not known here.
            let own = match own_id {
                Some(id) => format!("rule group {id:?}"),
                None => "rule group \"".to_owned(),
            };
            editing::absorb(&mut errors, e, &|key, text| {
                rules_field_for(key, text, &own)
            })?;
            form(ask, group, f, errors)
        }
    }
}

async fn delete(ask: &Ask<'_>, group: &RuleGroup) -> PageResult {
    let path = format!("{LIST}/{}/delete", segment(&group.id));
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &format!("Delete the rule group “{}”?", group.name),
                consequence: "It is removed at once. A policy or group that still refers to it must be changed first.",
                action: &path,
                button: "Delete the rule group",
                hidden: Vec::new(),
                cancel: LIST,
            },
        );
    }
    match ask.gw.delete_object(Kind::RuleGroup, &group.id).await {
        Ok(()) => page::see_other(ask.gw, &format!("{LIST}?done=deleted")),
        Err(EditError::Invalid(m) | EditError::ReadOnly(m)) => list(
            ask,
            StatusCode::CONFLICT,
            Some(format!("“{}” was not deleted: {m}", group.name)),
        ),
        Err(EditError::NotFound(_)) => Err(PageError::NotFound),
        Err(EditError::Store(e)) => Err(PageError::Store(e)),
        Err(e) => Err(PageError::internal(e)),
    }
}
