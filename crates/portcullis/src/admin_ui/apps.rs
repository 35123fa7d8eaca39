//! `/admin/apps`: applications with their policies in evaluation order and "Revoke existing
//! tokens"; `/admin/policies`: every application's policies and the rule groups, as configured
//! (read-only), and the policy tester (`tester`), for one email or for every user who signed in.

use std::sync::Arc;

use askama::Template;
use http::StatusCode;
use portcullis_core::{Email, IdpId, Policy};
use serde_json::Map;

use super::Ask;
use super::page::{self, Chrome, Confirm, PageError, PageResult};
use crate::gateway::App;
use crate::respond::Branding;
use crate::tester::{self, Subject, TesterError};

/// A policy as the pages show it.
struct PolicyView {
    position: usize,
    name: String,
    decision: &'static str,
    session_duration: String,
    include: String,
    exclude: String,
    require: String,
}

fn rules_json<T: serde::Serialize>(rules: &[T]) -> String {
    if rules.is_empty() {
        return String::new();
    }
    serde_json::to_string_pretty(rules).unwrap_or_default()
}

fn policy_views(policies: &[Policy]) -> Vec<PolicyView> {
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

struct AppRow {
    id: String,
    name: String,
    domain: String,
    origin: String,
    policies: usize,
}

#[derive(Template)]
#[template(path = "admin/apps.html")]
struct ListPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<AppRow>,
}

#[derive(Template)]
#[template(path = "admin/app.html")]
struct AppPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    app: AppRow,
    aud: &'a str,
    session_duration: String,
    policies: Vec<PolicyView>,
    notice: Option<&'static str>,
}

struct GroupView {
    id: String,
    name: String,
    include: String,
    exclude: String,
    require: String,
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
    apps: Vec<(String, String, Vec<PolicyView>)>,
    groups: Vec<GroupView>,
    admin_policies: Vec<PolicyView>,
    app: &'a str,
    email: &'a str,
    groups_text: &'a str,
    all: bool,
    app_error: Option<String>,
    email_error: Option<String>,
    verdict: Option<Verdict>,
}

/// Routes `/admin/apps/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask),
        ([id], false) => details(ask, &*find(ask, id)?),
        ([id, "revoke-tokens"], true) => revoke_tokens(ask, &*find(ask, id)?).await,
        _ => Err(PageError::NotFound),
    }
}

/// Routes `/admin/policies`.
pub(crate) async fn policies_route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => policies(ask).await,
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

/// Every application once (a host may carry several patterns of one app), by name.
fn all_apps(ask: &Ask<'_>) -> Vec<Arc<App>> {
    let mut apps: Vec<Arc<App>> = ask
        .gw
        .snapshot
        .load()
        .apps
        .iter()
        .map(|(_, a)| a.clone())
        .collect();
    apps.sort_by(|a, b| a.name.cmp(&b.name));
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
    }
}

fn list(ask: &Ask<'_>) -> PageResult {
    page::render(
        StatusCode::OK,
        &ListPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            rows: all_apps(ask).iter().map(|a| app_row(a)).collect(),
        },
        &ask.ctx.request_id,
    )
}

fn details(ask: &Ask<'_>, app: &App) -> PageResult {
    let notice = (ask.query.get("done") == Some("revoked")).then_some(
        "Every token of this application issued until now is refused. Users with a valid session get a new one after their policies are checked again.",
    );
    page::render(
        StatusCode::OK,
        &AppPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            app: app_row(app),
            aud: &app.aud,
            session_duration: portcullis_core::format_go_duration(app.session_duration),
            policies: policy_views(&app.policies),
            notice,
        },
        &ask.ctx.request_id,
    )
}

async fn revoke_tokens(ask: &Ask<'_>, app: &App) -> PageResult {
    let back = format!("/admin/apps/{}", app.id);
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

async fn policies(ask: &Ask<'_>) -> PageResult {
    let gw = ask.gw;
    let apps = all_apps(ask);
    let catalog = gw.snapshot.load().catalog.clone();
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
        StatusCode::OK
    };
    page::render(
        status,
        &PoliciesPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            apps: apps
                .iter()
                .map(|a| (a.id.to_string(), a.name.clone(), policy_views(&a.policies)))
                .collect(),
            groups: catalog
                .groups()
                .map(|g| GroupView {
                    id: g.id.clone(),
                    name: g.name.clone(),
                    include: rules_json(&g.include),
                    exclude: rules_json(&g.exclude),
                    require: rules_json(&g.require),
                })
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
    catalog: &portcullis_core::Catalog,
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
