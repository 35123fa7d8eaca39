//! The web admin UI: server-rendered HTML pages under `/admin` on the team domain, with forms
//! and no JavaScript, so that it works under the pages' strict CSP and without outside assets.
//!
//! This module decides who may use the UI and guards every form: an administrator is a user
//! with a valid global session (the team-domain `CF_Authorization` cookie) whom the `[admin]`
//! policies allow, or whose email was made an administrator through the setup step. Every POST
//! carries a CSRF token derived from the session id. The pages themselves live in the sibling
//! modules, one group each, and call the same functions as the admin API and the CLI; nothing
//! here decides a policy or changes data on its own.

mod apps;
mod dashboard;
mod discovery;
mod editing;
mod form;
mod login_methods;
mod logs;
mod page;
mod policies;
mod rule_groups;
mod rules;
pub mod setup;
mod tokens;
mod users;

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use axum::body::Body;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use portcullis_core::{Facts, Outcome, evaluate};
use portcullis_store::StoreError;

use crate::access::StoredIdentity;
use crate::cookies::{self, AUTH_COOKIE};
use crate::gateway::Gateway;
use crate::proxy::RequestContext;
use crate::respond;
use crate::tokens::verify_org;

pub(crate) use form::Ask;
pub(crate) use page::{Chrome, PageError};

/// Where the UI lives on the team domain.
pub const PREFIX: &str = "/admin";

/// The largest form body the UI reads.
const MAX_FORM: usize = 64 * 1024;

/// The name of the CSRF field of every form.
pub const CSRF_FIELD: &str = "csrf";

/// Whether a team-domain request is for the admin UI.
pub fn is_admin_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/admin/")
}

/// A signed-in user's global session, as the UI sees it.
pub(crate) struct Session {
    pub id: String,
    pub identity: StoredIdentity,
}

/// The valid, unrevoked global session of the browser, if any.
async fn signed_in(gw: &Gateway, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
    let now = gw.clock.now();
    let claims = {
        let ring = gw.keys.load();
        cookies::values(headers, AUTH_COOKIE)
            .find_map(|t| verify_org(&ring, t, &gw.server.team_url, now, &gw.revoked).ok())
    };
    let Some(claims) = claims else {
        return Ok(None);
    };
    let Some(record) = gw.store.get_session(&claims.identity_nonce).await? else {
        return Ok(None);
    };
    if record.revoked_at.is_some() || record.expires_at <= now {
        return Ok(None);
    }
    Ok(serde_json::from_value::<StoredIdentity>(record.identity)
        .ok()
        .map(|identity| Session {
            id: record.id,
            identity,
        }))
}

/// The CSRF token of a session: an HMAC of its id under the gateway's shared key (with a
/// purpose prefix, so it can never equal a binding cookie).
pub(crate) fn csrf_token(gw: &Gateway, session_id: &str) -> String {
    let mut message = b"admin-ui-csrf\0".to_vec();
    message.extend_from_slice(session_id.as_bytes());
    hex::encode(hmac::sign(&gw.binding_key, &message).as_ref())
}

fn csrf_matches(gw: &Gateway, session_id: &str, presented: Option<&str>) -> bool {
    let expected = csrf_token(gw, session_id);
    presented.is_some_and(|p| verify_slices_are_equal(p.as_bytes(), expected.as_bytes()).is_ok())
}

/// Whether the signed-in user is an administrator: made one through the setup step, or allowed
/// by an Allow policy of `[admin]` (evaluated with their identity, address and country).
async fn is_admin(
    gw: &Gateway,
    ctx: &RequestContext,
    session: &Session,
) -> Result<bool, StoreError> {
    let identity = &session.identity.identity;
    if setup::admin_emails(gw.store.as_ref())
        .await?
        .iter()
        .any(|e| e == identity.email.as_str())
    {
        return Ok(true);
    }
    if gw.admin_policies.is_empty() {
        return Ok(false);
    }
    let facts = Facts {
        identity: Some(identity),
        ip: Some(ctx.client_ip),
        country: ctx.country.as_deref(),
        service_token: None,
    };
    let catalog = gw.snapshot.load().catalog.clone();
    Ok(evaluate(&gw.admin_policies, &facts, &catalog).outcome == Outcome::Allow)
}

/// Sends a browser without a session to sign in (chooser, or straight to the only login
/// method), to come back to `back_to` afterwards.
fn sign_in_links(gw: &Gateway, back_to: &str) -> Vec<(String, String)> {
    gw.snapshot
        .load()
        .login_methods
        .iter()
        .map(|m| {
            let href = format!(
                "{}/admin/login?idp={}&next={}",
                gw.server.team_url,
                m.id.0,
                form::encode(back_to)
            );
            (m.name.clone(), href)
        })
        .collect()
}

async fn sign_in(gw: &Gateway, ctx: &RequestContext, back_to: &str) -> Response<Body> {
    let methods = gw.snapshot.load().login_methods.clone();
    if let [only] = methods.as_slice() {
        return crate::access::start_admin_flow(gw, ctx, only, back_to).await;
    }
    respond::login_page(
        &gw.branding,
        "the admin console",
        sign_in_links(gw, back_to),
        &ctx.request_id,
    )
}

/// `GET /admin/login?idp=…&next=…`: the chooser's links; `next` must be an admin UI path.
async fn start_login(gw: &Gateway, ctx: &RequestContext, ask: &form::Query) -> Response<Body> {
    let next = ask
        .get("next")
        .filter(|n| is_admin_path(n.split('?').next().unwrap_or_default()))
        .unwrap_or(PREFIX);
    let snapshot = gw.snapshot.load();
    let chosen = ask
        .get("idp")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .and_then(|id| {
            snapshot
                .login_methods
                .iter()
                .find(|m| m.id.0 == id)
                .cloned()
        });
    match chosen {
        Some(method) => crate::access::start_admin_flow(gw, ctx, &method, next).await,
        None => sign_in(gw, ctx, next).await,
    }
}

async fn read_form(req: Request<Incoming>) -> Option<Vec<(String, String)>> {
    let bytes = Limited::new(req.into_body(), MAX_FORM)
        .collect()
        .await
        .ok()?
        .to_bytes();
    Some(
        url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// Answers one admin UI request.
pub async fn handle(
    gw: &Arc<Gateway>,
    ctx: &RequestContext,
    req: Request<Incoming>,
) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let query = form::Query::parse(req.uri().query());
    let reading = method == Method::GET || method == Method::HEAD;
    if !reading && method != Method::POST {
        return page::error(gw, ctx, None, &PageError::MethodNotAllowed);
    }
    if path == "/admin/login" && reading {
        return start_login(gw, ctx, &query).await;
    }
    let session = match signed_in(gw, req.headers()).await {
        Ok(s) => s,
        Err(e) => return page::error(gw, ctx, None, &PageError::Store(e)),
    };
    let Some(session) = session else {
        if reading {
            return sign_in(gw, ctx, &path_and_query).await;
        }
        return page::error(gw, ctx, None, &PageError::SessionEnded);
    };
    let csrf = csrf_token(gw, &session.id);
    let form = if reading {
        Vec::new()
    } else {
        let Some(form) = read_form(req).await else {
            return page::error(
                gw,
                ctx,
                None,
                &PageError::BadRequest("the form is too large".into()),
            );
        };
        let presented = form
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str());
        if !csrf_matches(gw, &session.id, presented) {
            tracing::warn!(request_id = %ctx.request_id, path = %path, "admin UI form refused: CSRF token missing or wrong");
            return page::error(gw, ctx, None, &PageError::Csrf);
        }
        form
    };
    let email = session.identity.identity.email.as_str().to_owned();
    let chrome = Chrome {
        brand: &gw.branding,
        email: &email,
        csrf: &csrf,
        request_id: &ctx.request_id,
    };
    let ask = Ask {
        gw,
        ctx,
        method: &method,
        query,
        form,
        chrome: &chrome,
    };
    if path == "/admin/setup" {
        return page::finish(gw, ctx, Some(&chrome), setup::page(&ask, &session).await);
    }
    match is_admin(gw, ctx, &session).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(request_id = %ctx.request_id, user = %email, "admin UI refused a signed-in user who is not an administrator");
            return page::not_an_admin(gw, ctx, &email);
        }
        Err(e) => return page::error(gw, ctx, None, &PageError::Store(e)),
    }
    let rest = path.trim_start_matches(PREFIX).trim_matches('/');
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let answer = match segments.as_slice() {
        [] => dashboard::page(&ask).await,
        ["service-tokens", rest @ ..] => tokens::route(&ask, rest).await,
        ["users", rest @ ..] => users::route(&ask, rest).await,
        ["logs", rest @ ..] => logs::route(&ask, rest).await,
        ["apps", rest @ ..] => apps::route(&ask, rest).await,
        ["policies", rest @ ..] => policies::route(&ask, rest).await,
        ["rule-groups", rest @ ..] => rule_groups::route(&ask, rest).await,
        ["login-methods", rest @ ..] => login_methods::route(&ask, rest).await,
        _ => Err(PageError::NotFound),
    };
    if !reading {
        tracing::info!(request_id = %ctx.request_id, user = %email, path = %path, ok = answer.is_ok(), "admin UI change");
    }
    page::finish(gw, ctx, Some(&chrome), answer)
}
