//! `/admin/logs`: the authentication log (filter by email, outcome, application and time range)
//! and `/admin/logs/scim`: the SCIM provisioning log (filter by login method, status and
//! resource type). Newest first, paginated; the store answers at most its cap of entries per
//! query, so deep pages need a narrower time range.

use askama::Template;
use http::StatusCode;
use portcullis_scim::Timestamp;
use portcullis_store::{AuthLogQuery, MAX_AUTH_LOG_LIMIT, ScimLogQuery};
use uuid::Uuid;

use super::Ask;
use super::page::{self, Chrome, PER_PAGE, PageError, PageResult, Pager};
use crate::respond::Branding;

struct AuthRow {
    at: String,
    email: String,
    app: String,
    allowed: bool,
    ip: String,
    country: String,
    reason: String,
    ray_id: String,
}

struct ScimRow {
    at: String,
    idp: String,
    method: String,
    resource_type: String,
    resource: String,
    success: bool,
    error: String,
}

#[derive(Template)]
#[template(path = "admin/logs.html")]
struct AuthPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<AuthRow>,
    pager: Pager,
    email: &'a str,
    allowed: &'a str,
    app: &'a str,
    since: &'a str,
    until: &'a str,
    apps: Vec<(String, String)>,
    since_error: Option<String>,
    until_error: Option<String>,
    capped: bool,
}

#[derive(Template)]
#[template(path = "admin/scim_logs.html")]
struct ScimPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<ScimRow>,
    pager: Pager,
    idp: &'a str,
    status: &'a str,
    kind: &'a str,
    idps: Vec<(String, String)>,
    capped: bool,
}

/// Routes `/admin/logs/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => auth_log(ask).await,
        (["scim"], false) => scim_log(ask).await,
        _ => Err(PageError::NotFound),
    }
}

/// A time the filter form sent: `YYYY-MM-DDTHH:MM` (a `datetime-local` field, read as UTC) or
/// RFC 3339; unix seconds.
fn parse_time(text: &str) -> Result<i64, String> {
    let full = if text.len() == 16 {
        format!("{text}:00Z")
    } else {
        text.to_owned()
    };
    Timestamp::parse_rfc3339(&full)
        .map(|t| t.unix_millis().div_euclid(1000))
        .ok_or_else(|| format!("`{text}` is not a time; write it as 2026-01-31T12:00 (UTC)."))
}

/// How many entries to fetch for page `number` (one more than shown, to know if a next page
/// exists), within the store's cap; and whether the cap cut the list.
fn window(number: usize) -> (u32, bool) {
    let wanted = number.saturating_mul(PER_PAGE).saturating_add(1);
    let cap = MAX_AUTH_LOG_LIMIT as usize;
    (wanted.min(cap) as u32, wanted > cap)
}

async fn auth_log(ask: &Ask<'_>) -> PageResult {
    let gw = ask.gw;
    let q = &ask.query;
    let email = q.get("email").unwrap_or_default().trim();
    let allowed = q.get("allowed").unwrap_or_default();
    let app = q.get("app").unwrap_or_default();
    let since = q.get("since").unwrap_or_default().trim();
    let until = q.get("until").unwrap_or_default().trim();
    let since_value = (!since.is_empty()).then(|| parse_time(since)).transpose();
    let until_value = (!until.is_empty()).then(|| parse_time(until)).transpose();
    let apps: Vec<(String, String)> = {
        let snapshot = gw.snapshot.load();
        let mut apps: Vec<(String, String)> = snapshot
            .apps
            .iter()
            .map(|(_, a)| (a.id.to_string(), a.name.clone()))
            .collect();
        apps.sort_by(|a, b| a.1.cmp(&b.1));
        apps.dedup();
        apps
    };
    let number = ask.page_number();
    let (limit, capped) = window(number);
    let (rows, more, since_error, until_error, status) = match (&since_value, &until_value) {
        (Ok(since_value), Ok(until_value)) => {
            let query = AuthLogQuery {
                since: *since_value,
                until: *until_value,
                email: (!email.is_empty()).then(|| email.to_lowercase()),
                allowed: match allowed {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                },
                app_uid: Uuid::parse_str(app).ok(),
                limit,
                descending: true,
            };
            let logs = gw.store.list_auth_logs(&query).await?;
            let start = (number - 1) * PER_PAGE;
            let rows = logs
                .iter()
                .skip(start)
                .take(PER_PAGE)
                .map(|l| AuthRow {
                    at: page::time(l.created_at),
                    email: l.user_email.clone().unwrap_or_default(),
                    app: l.app_name.clone().unwrap_or_default(),
                    allowed: l.allowed,
                    ip: l.ip_address.clone().unwrap_or_default(),
                    country: l.country.clone().unwrap_or_default(),
                    reason: l.reason.clone().unwrap_or_default(),
                    ray_id: l.ray_id.clone(),
                })
                .collect();
            (
                rows,
                logs.len() > start + PER_PAGE,
                None,
                None,
                StatusCode::OK,
            )
        }
        _ => (
            Vec::new(),
            false,
            since_value.as_ref().err().cloned(),
            until_value.as_ref().err().cloned(),
            StatusCode::BAD_REQUEST,
        ),
    };
    let params = [
        ("email", email),
        ("allowed", allowed),
        ("app", app),
        ("since", since),
        ("until", until),
    ];
    page::render(
        status,
        &AuthPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            rows,
            pager: Pager::new("/admin/logs", &params, number, more),
            email,
            allowed,
            app,
            since,
            until,
            apps,
            since_error,
            until_error,
            capped: capped && !more,
        },
        &ask.ctx.request_id,
    )
}

async fn scim_log(ask: &Ask<'_>) -> PageResult {
    let gw = ask.gw;
    let q = &ask.query;
    let idp = q.get("idp").unwrap_or_default();
    let status = q.get("status").unwrap_or_default();
    let kind = q.get("type").unwrap_or_default();
    let methods: Vec<(Uuid, String)> = gw
        .snapshot
        .load()
        .login_methods
        .iter()
        .map(|m| (m.id.0, m.name.clone()))
        .collect();
    let number = ask.page_number();
    let (limit, capped) = window(number);
    let query = ScimLogQuery {
        idp_id: Uuid::parse_str(idp).ok(),
        resource_type: match kind {
            "USER" | "GROUP" => Some(kind.to_owned()),
            _ => None,
        },
        success: match status {
            "SUCCESS" => Some(true),
            "FAILURE" => Some(false),
            _ => None,
        },
        limit,
        descending: true,
        ..ScimLogQuery::default()
    };
    let logs = gw.store.list_scim_logs(&query).await?;
    let start = (number - 1) * PER_PAGE;
    let name_of = |id: Uuid| {
        methods
            .iter()
            .find(|(m, _)| *m == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let rows = logs
        .iter()
        .skip(start)
        .take(PER_PAGE)
        .map(|l| ScimRow {
            at: page::time(l.logged_ms.div_euclid(1000)),
            idp: name_of(l.idp_id),
            method: l.request_method.clone(),
            resource_type: l.resource_type.clone(),
            resource: l
                .user_email
                .clone()
                .or_else(|| l.group_name.clone())
                .or_else(|| l.resource_id.clone())
                .unwrap_or_default(),
            success: l.success,
            error: l.error_description.clone().unwrap_or_default(),
        })
        .collect();
    let more = logs.len() > start + PER_PAGE;
    let params = [("idp", idp), ("status", status), ("type", kind)];
    page::render(
        StatusCode::OK,
        &ScimPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            rows,
            pager: Pager::new("/admin/logs/scim", &params, number, more),
            idp,
            status,
            kind,
            idps: methods
                .iter()
                .map(|(id, name)| (id.to_string(), name.clone()))
                .collect(),
            capped: capped && !more,
        },
        &ask.ctx.request_id,
    )
}
