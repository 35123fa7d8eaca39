//! `/admin/apps`: applications with their policies in evaluation order and "Revoke existing
//! tokens"; applications made here are added, edited and deleted through a form (name, domain,
//! origin, login methods, session, reusable policies with their precedence and one policy of
//! the application's own), those of the configuration file are shown read-only.

use std::sync::Arc;

use askama::Template;
use http::StatusCode;
use portcullis_core::Policy;
use serde_json::{Map, Value, json};

use super::Ask;
use super::editing::{self, Errors, segment};
use super::page::{self, Chrome, Confirm, PER_PAGE, PageError, PageResult, Pager};
use super::policies::{DECISIONS, PolicyView, decision_label, policy_views};
use super::rules::{self, RulesSection};
use crate::gateway::App;
use crate::objects::Kind;
use crate::objects::edit::EditError;
use crate::respond::Branding;

const LIST: &str = "/admin/apps";

struct AppRow {
    id: String,
    name: String,
    domain: String,
    origin: String,
    policies: usize,
    read_only: bool,
}

#[derive(Template)]
#[template(path = "admin/apps.html")]
struct ListPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<AppRow>,
    total: usize,
    pager: Pager,
    notice: Option<String>,
    error: Option<String>,
    left_out: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/app.html")]
struct AppPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    app: AppRow,
    aud: &'a str,
    session_duration: String,
    login_methods: String,
    policies: Vec<PolicyView>,
    notice: Option<&'static str>,
}

/// A login method the application may allow.
struct MethodChoice {
    id: String,
    name: String,
    checked: bool,
}

/// A reusable policy the application may use.
struct PolicyChoice {
    /// The id as a path segment (also the suffix of its precedence field).
    key: String,
    id: String,
    name: String,
    decision: &'static str,
    checked: bool,
    precedence: String,
}

/// The application form's values, as typed.
struct AppForm {
    name: String,
    domain: String,
    origin: String,
    session_duration: String,
    auto_redirect: bool,
    same_site: String,
    http_only: bool,
    custom_deny_message: String,
    custom_deny_url: String,
    login_methods: Vec<MethodChoice>,
    policies: Vec<PolicyChoice>,
    inline: bool,
    inline_name: String,
    inline_decision: String,
    inline_precedence: String,
    inline_session_duration: String,
    inline_sections: Vec<RulesSection>,
    /// Further policies of the application's own, which the form keeps as they are.
    kept: Vec<(String, Value)>,
}

impl AppForm {
    fn sections_have_errors(&self) -> bool {
        self.inline_sections.iter().any(|s| !s.errors.is_empty())
    }
}

#[derive(Template)]
#[template(path = "admin/app_form.html")]
struct FormPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    heading: String,
    action: String,
    /// The application's id, when it exists.
    id: Option<String>,
    f: AppForm,
    errors: Errors,
    decisions: &'static [(&'static str, &'static str)],
}

/// Routes `/admin/apps/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask, StatusCode::OK, None),
        (["new"], false) => form(ask, None, blank_form(ask), Errors::default()),
        (["new"], true) => submit(ask, None).await,
        ([id], false) => details(ask, &*find(ask, id)?),
        ([id, "edit"], false) => {
            let app = editable(ask, id)?;
            let f = app_form(ask, &app);
            form(ask, Some(&app), f, Errors::default())
        }
        ([id, "edit"], true) => submit(ask, Some(&*editable(ask, id)?)).await,
        ([id, "delete"], true) => delete(ask, &*editable(ask, id)?).await,
        ([id, "revoke-tokens"], true) => revoke_tokens(ask, &*find(ask, id)?).await,
        _ => Err(PageError::NotFound),
    }
}

fn find(ask: &Ask<'_>, id: &str) -> Result<Arc<App>, PageError> {
    ask.gw
        .snapshot
        .load()
        .apps
        .iter()
        .map(|(_, a)| a)
        .find(|a| a.id.to_string() == id)
        .cloned()
        .ok_or(PageError::NotFound)
}

/// An application that may be changed here (not one of the configuration file's).
fn editable(ask: &Ask<'_>, id: &str) -> Result<Arc<App>, PageError> {
    let app = find(ask, id)?;
    if app.read_only {
        return Err(PageError::BadRequest(format!(
            "{} is declared in the configuration file; change it there",
            app.name
        )));
    }
    Ok(app)
}

/// Every application once (a host may carry several patterns of one app), by name.
pub(super) fn all_apps(ask: &Ask<'_>) -> Vec<Arc<App>> {
    let mut apps: Vec<Arc<App>> = ask
        .gw
        .snapshot
        .load()
        .apps
        .iter()
        .map(|(_, a)| a.clone())
        .collect();
    apps.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    apps.dedup_by(|a, b| a.id == b.id);
    apps
}

fn app_row(a: &App) -> AppRow {
    AppRow {
        id: a.id.to_string(),
        name: a.name.clone(),
        domain: a.domain.clone(),
        origin: a.origin.to_string(),
        policies: a.policies.len(),
        read_only: a.read_only,
    }
}

fn list(ask: &Ask<'_>, status: StatusCode, error: Option<String>) -> PageResult {
    let apps = all_apps(ask);
    let number = ask.page_number();
    let start = (number - 1).saturating_mul(PER_PAGE);
    page::render(
        status,
        &ListPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            rows: apps
                .iter()
                .skip(start)
                .take(PER_PAGE)
                .map(|a| app_row(a))
                .collect(),
            total: apps.len(),
            pager: Pager::new("/admin/apps", &[], number, apps.len() > start + PER_PAGE),
            notice: editing::done_notice(ask, "application"),
            error,
            left_out: editing::left_out(ask, Kind::Application),
        },
        &ask.ctx.request_id,
    )
}

fn details(ask: &Ask<'_>, app: &App) -> PageResult {
    let notice = match ask.query.get("done") {
        Some("revoked") => Some(
            "Every token of this application issued until now is refused. Users with a valid session get a new one after their policies are checked again.",
        ),
        Some("created") => Some("The application was added; it is in force."),
        Some("saved") => Some("The application was saved; it is in force."),
        _ => None,
    };
    let login_methods = {
        let snapshot = ask.gw.snapshot.load();
        let names: Vec<String> = snapshot
            .login_methods_for(app)
            .iter()
            .map(|m| m.name.clone())
            .collect();
        if app.allowed_idps.is_empty() {
            format!("every login method ({})", names.join(", "))
        } else {
            names.join(", ")
        }
    };
    page::render(
        StatusCode::OK,
        &AppPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            app: app_row(app),
            aud: &app.aud,
            session_duration: portcullis_core::format_go_duration(app.session_duration),
            login_methods,
            policies: policy_views(&app.policies),
            notice,
        },
        &ask.ctx.request_id,
    )
}

async fn revoke_tokens(ask: &Ask<'_>, app: &App) -> PageResult {
    let back = format!("{LIST}/{}", app.id);
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &format!("Revoke every token of {}?", app.name),
                consequence: "Tokens issued until now are refused from the next request on. Users with a valid session are signed in again silently, after their policies are checked again.",
                action: &format!("{back}/revoke-tokens"),
                button: "Revoke existing tokens",
                hidden: Vec::new(),
                cancel: &back,
            },
        );
    }
    ask.gw
        .revoke_app_tokens(&app.name)
        .await
        .map_err(PageError::internal)?;
    page::see_other(ask.gw, &format!("{back}?done=revoked"))
}

// --- the form --------------------------------------------------------------------------------

fn method_choices(ask: &Ask<'_>) -> Vec<MethodChoice> {
    ask.gw
        .snapshot
        .load()
        .login_methods
        .iter()
        .map(|m| MethodChoice {
            id: m.id.0.to_string(),
            name: m.name.clone(),
            checked: false,
        })
        .collect()
}

fn policy_choices(ask: &Ask<'_>) -> Vec<PolicyChoice> {
    let mut choices: Vec<PolicyChoice> = ask
        .gw
        .snapshot
        .load()
        .policies
        .iter()
        .map(|p| PolicyChoice {
            key: segment(&p.id),
            id: p.id.clone(),
            name: p.policy.name.clone(),
            decision: decision_label(p.policy.decision.as_str()),
            checked: false,
            precedence: String::new(),
        })
        .collect();
    choices.sort_by(|a, b| a.name.cmp(&b.name));
    choices
}

fn blank_form(ask: &Ask<'_>) -> AppForm {
    let catalog = ask.gw.snapshot.load().catalog.clone();
    AppForm {
        name: String::new(),
        domain: String::new(),
        origin: String::new(),
        session_duration: "24h".into(),
        auto_redirect: false,
        same_site: "lax".into(),
        http_only: true,
        custom_deny_message: String::new(),
        custom_deny_url: String::new(),
        login_methods: method_choices(ask),
        policies: policy_choices(ask),
        inline: false,
        inline_name: String::new(),
        inline_decision: "allow".into(),
        inline_precedence: String::new(),
        inline_session_duration: String::new(),
        inline_sections: rules::sections_from_rules("inline", [&[], &[], &[]], &catalog, None),
        kept: Vec::new(),
    }
}

/// Whether an entry of an application's `policies` refers to a reusable policy (it has an id
/// and no decision) rather than being a policy of the application's own.
fn reference(entry: &Value) -> Option<&str> {
    if entry.get("decision").is_some() {
        return None;
    }
    entry.get("id").and_then(Value::as_str)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn precedence_text(entry: &Value, position: usize) -> String {
    entry
        .get("precedence")
        .and_then(Value::as_u64)
        .map(|p| p.to_string())
        .unwrap_or_else(|| (position + 1).to_string())
}

/// The form showing an application made here (from its stored declaration).
fn app_form(ask: &Ask<'_>, app: &App) -> AppForm {
    let catalog = ask.gw.snapshot.load().catalog.clone();
    let d = &app.declaration;
    let mut f = blank_form(ask);
    f.name = app.name.clone();
    f.domain = app.domain.clone();
    f.origin = match text(d, "origin") {
        o if o.is_empty() => app.origin.to_string(),
        o => o,
    };
    f.session_duration = match text(d, "session_duration") {
        s if s.is_empty() => portcullis_core::format_go_duration(app.session_duration),
        s => s,
    };
    f.auto_redirect = app.auto_redirect_to_identity;
    f.same_site = match text(d, "same_site_cookie_attribute").to_ascii_lowercase() {
        s if s.is_empty() => "lax".into(),
        s => s,
    };
    f.http_only = app.http_only;
    f.custom_deny_message = text(d, "custom_deny_message");
    f.custom_deny_url = text(d, "custom_deny_url");
    for m in &mut f.login_methods {
        m.checked = app.allowed_idps.iter().any(|id| id.0.to_string() == m.id);
    }
    let entries = d
        .get("policies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, entry) in entries.iter().enumerate() {
        if let Some(id) = reference(entry) {
            if let Some(choice) = f.policies.iter_mut().find(|c| c.id == id) {
                choice.checked = true;
                choice.precedence = precedence_text(entry, i);
            }
            continue;
        }
        let policy = serde_json::from_value::<Policy>(without_precedence(entry));
        match policy {
            Ok(p) if !f.inline => {
                f.inline = true;
                f.inline_name = p.name.clone();
                f.inline_decision = p.decision.as_str().to_owned();
                f.inline_precedence = precedence_text(entry, i);
                f.inline_session_duration = p.session_duration.clone().unwrap_or_default();
                f.inline_sections = rules::sections_from_rules(
                    "inline",
                    [&p.include, &p.exclude, &p.require],
                    &catalog,
                    None,
                );
            }
            _ => f.kept.push((text(entry, "name"), entry.clone())),
        }
    }
    f
}

fn without_precedence(entry: &Value) -> Value {
    let mut e = entry.clone();
    if let Some(map) = e.as_object_mut() {
        map.remove("precedence");
    }
    e
}

/// The form as sent; the policies of the application's own beyond the first are kept from
/// `app`.
fn form_from_request(ask: &Ask<'_>, app: Option<&App>) -> AppForm {
    let catalog = ask.gw.snapshot.load().catalog.clone();
    let field = |k: &str| ask.field(k).to_owned();
    let ticked = |k: &str| editing::ticked(ask, k);
    let allowed = editing::values(ask, "allowed_idp");
    let chosen = editing::values(ask, "policy");
    let mut login_methods = method_choices(ask);
    for m in &mut login_methods {
        m.checked = allowed.contains(&m.id.as_str());
    }
    let mut policies = policy_choices(ask);
    for p in &mut policies {
        p.checked = chosen.contains(&p.id.as_str());
        p.precedence = field(&format!("precedence_{}", p.key));
    }
    let kept = app.map(|a| app_form(ask, a).kept).unwrap_or_default();
    AppForm {
        name: field("name"),
        domain: field("domain"),
        origin: field("origin"),
        session_duration: field("session_duration"),
        auto_redirect: ticked("auto_redirect_to_identity"),
        same_site: field("same_site_cookie_attribute"),
        http_only: ticked("http_only_cookie_attribute"),
        custom_deny_message: field("custom_deny_message"),
        custom_deny_url: field("custom_deny_url"),
        login_methods,
        policies,
        inline: ticked("inline_enabled"),
        inline_name: field("inline_name"),
        inline_decision: field("inline_decision"),
        inline_precedence: field("inline_precedence"),
        inline_session_duration: field("inline_session_duration"),
        inline_sections: rules::sections_from_form(ask, "inline", &catalog, None),
        kept,
    }
}

/// What each entry of the saved `policies` is, to place errors that name `policies[i]`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Reusable,
    Inline,
    Kept,
}

/// The application's declaration from the form, starting from `base` (the stored declaration,
/// whose settings the form does not show are kept). `None` when something typed cannot be read
/// (recorded in `errors` or in the inline policy's sections).
fn declaration(
    f: &mut AppForm,
    base: Option<&Value>,
    errors: &mut Errors,
) -> Option<(Value, Vec<Entry>)> {
    let mut body: Map<String, Value> = base.and_then(Value::as_object).cloned().unwrap_or_default();
    for key in [
        "session_duration",
        "custom_deny_message",
        "custom_deny_url",
        "policies",
    ] {
        body.remove(key);
    }
    body.insert("name".into(), json!(f.name));
    body.insert("domain".into(), json!(f.domain));
    body.insert("origin".into(), json!(f.origin));
    if !f.session_duration.is_empty() {
        body.insert("session_duration".into(), json!(f.session_duration));
    }
    let allowed: Vec<&str> = f
        .login_methods
        .iter()
        .filter(|m| m.checked)
        .map(|m| m.id.as_str())
        .collect();
    body.insert("allowed_idps".into(), json!(allowed));
    body.insert("auto_redirect_to_identity".into(), json!(f.auto_redirect));
    if !f.same_site.is_empty() {
        body.insert("same_site_cookie_attribute".into(), json!(f.same_site));
    }
    body.insert("http_only_cookie_attribute".into(), json!(f.http_only));
    if !f.custom_deny_message.is_empty() {
        body.insert("custom_deny_message".into(), json!(f.custom_deny_message));
    }
    if !f.custom_deny_url.is_empty() {
        body.insert("custom_deny_url".into(), json!(f.custom_deny_url));
    }

    // Every entry gets a precedence: the one typed, or the next after the largest typed.
    let parse = |text: &str, what: &str, errors: &mut Errors| -> Option<Option<u64>> {
        if text.is_empty() {
            return Some(None);
        }
        match text.parse::<u64>() {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                errors.add(
                    "policies",
                    format!("the precedence of {what} must be a whole number, not `{text}`"),
                );
                None
            }
        }
    };
    let mut entries: Vec<(Option<u64>, Value, Entry)> = Vec::new();
    let mut readable = true;
    for p in f.policies.iter().filter(|p| p.checked) {
        match parse(&p.precedence, &format!("“{}”", p.name), errors) {
            Some(n) => entries.push((n, json!({ "id": p.id }), Entry::Reusable)),
            None => readable = false,
        }
    }
    if f.inline {
        let mut inline = Map::new();
        inline.insert("name".into(), json!(f.inline_name));
        inline.insert("decision".into(), json!(f.inline_decision));
        if !f.inline_session_duration.is_empty() {
            inline.insert("session_duration".into(), json!(f.inline_session_duration));
        }
        readable &= rules::put_rules(&mut f.inline_sections, &mut inline);
        match parse(&f.inline_precedence, "the application's own policy", errors) {
            Some(n) => entries.push((n, Value::Object(inline), Entry::Inline)),
            None => readable = false,
        }
    }
    for (_, kept) in &f.kept {
        let n = kept.get("precedence").and_then(Value::as_u64);
        entries.push((n, without_precedence(kept), Entry::Kept));
    }
    if !readable {
        return None;
    }
    let mut next = entries.iter().filter_map(|(n, _, _)| *n).max().unwrap_or(0) + 1;
    let mut kinds = Vec::with_capacity(entries.len());
    let mut list = Vec::with_capacity(entries.len());
    for (n, mut value, kind) in entries {
        let n = n.unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        value["precedence"] = json!(n);
        list.push(value);
        kinds.push(kind);
    }
    body.insert("policies".into(), Value::Array(list));
    Some((Value::Object(body), kinds))
}

/// The form field an application validation message names.
fn field_for(key: Option<&str>, text: &str, entries: &[Entry]) -> Option<String> {
    let key = key?;
    let field = match key {
        "name"
        | "domain"
        | "origin"
        | "session_duration"
        | "auto_redirect_to_identity"
        | "same_site_cookie_attribute"
        | "http_only_cookie_attribute"
        | "custom_deny_message"
        | "custom_deny_url"
        | "policies" => key.to_owned(),
        k if k.starts_with("allowed_idps") => "allowed_idps".to_owned(),
        k if k.starts_with("policies[") => {
            let index: Option<usize> = k
                .trim_start_matches("policies[")
                .split(']')
                .next()
                .and_then(|i| i.parse().ok());
            match index.and_then(|i| entries.get(i)) {
                Some(Entry::Inline) => match rules::section_named(text) {
                    Some(which) => format!("inline_{which}_rules"),
                    None if text.contains("session_duration:") => {
                        "inline_session_duration".to_owned()
                    }
                    None => "inline".to_owned(),
                },
                _ => "policies".to_owned(),
            }
        }
        _ => return None,
    };
    Some(field)
}

fn form(ask: &Ask<'_>, app: Option<&App>, f: AppForm, errors: Errors) -> PageResult {
    let status = if errors.is_empty() && !f.sections_have_errors() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let (heading, action) = match app {
        Some(a) => (format!("Edit {}", a.name), format!("{LIST}/{}/edit", a.id)),
        None => ("Add an application".to_owned(), format!("{LIST}/new")),
    };
    page::render(
        status,
        &FormPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            heading,
            action,
            id: app.map(|a| a.id.to_string()),
            f,
            errors,
            decisions: &DECISIONS,
        },
        &ask.ctx.request_id,
    )
}

async fn submit(ask: &Ask<'_>, app: Option<&App>) -> PageResult {
    let mut f = form_from_request(ask, app);
    let mut errors = Errors::default();
    let Some((body, entries)) = declaration(&mut f, app.map(|a| &a.declaration), &mut errors)
    else {
        return form(ask, app, f, errors);
    };
    let id = app.map(|a| a.id.to_string());
    match ask
        .gw
        .save_object(Kind::Application, id.as_deref(), body)
        .await
    {
        Ok(saved) => {
            let done = if saved.created { "created" } else { "saved" };
            page::see_other(ask.gw, &format!("{LIST}/{}?done={done}", saved.id))
        }
        Err(e) => {
            editing::absorb(&mut errors, e, &|key, text| field_for(key, text, &entries))?;
            form(ask, app, f, errors)
        }
    }
}

async fn delete(ask: &Ask<'_>, app: &App) -> PageResult {
    let back = format!("{LIST}/{}", app.id);
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &format!("Delete the application “{}”?", app.name),
                consequence: &format!(
                    "Portcullis stops answering for {} at once: its users can no longer reach the origin through the gateway, and its tokens are no longer accepted.",
                    app.domain
                ),
                action: &format!("{back}/delete"),
                button: "Delete the application",
                hidden: Vec::new(),
                cancel: &back,
            },
        );
    }
    match ask
        .gw
        .delete_object(Kind::Application, &app.id.to_string())
        .await
    {
        Ok(()) => page::see_other(ask.gw, &format!("{LIST}?done=deleted")),
        Err(EditError::Invalid(m) | EditError::ReadOnly(m)) => list(
            ask,
            StatusCode::CONFLICT,
            Some(format!("“{}” was not deleted: {m}", app.name)),
        ),
        Err(EditError::NotFound(_)) => Err(PageError::NotFound),
        Err(EditError::Store(e)) => Err(PageError::Store(e)),
        Err(e) => Err(PageError::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_about_a_policy_entry_go_to_the_right_part_of_the_form() {
        let entries = [Entry::Reusable, Entry::Inline];
        let f = |k: &str, t: &str| field_for(Some(k), t, &entries);
        assert_eq!(f("origin", "").as_deref(), Some("origin"));
        assert_eq!(f("allowed_idps[0]", "").as_deref(), Some("allowed_idps"));
        assert_eq!(f("policies[0].id", "").as_deref(), Some("policies"));
        assert_eq!(
            f("policies[1]", "policy \"own\": exclude rule #1: bad").as_deref(),
            Some("inline_exclude_rules")
        );
        assert_eq!(f("policies[1]", "unknown field").as_deref(), Some("inline"));
        assert_eq!(f("cors_headers.allowed_origins", ""), None);
    }
}
