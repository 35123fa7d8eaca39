//! `/admin/users`: the user registry (paginated), one user's seat, sessions and recent failed
//! logins, and revoking or removing a user or ending one session. Changes go through the
//! gateway's registry actions, which apply them to this node before answering.

use askama::Template;
use http::StatusCode;
use uuid::Uuid;

use super::Ask;
use super::page::{self, Chrome, Confirm, PER_PAGE, PageError, PageResult, Pager};
use crate::registry::{self, RegistryError};
use crate::respond::Branding;

struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    seat: bool,
    last_login: String,
    created: String,
}

struct SessionRow {
    id: String,
    created: String,
    expires: String,
}

struct FailureRow {
    at: String,
    app: String,
    ip: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct ListPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<UserRow>,
    total: usize,
    pager: Pager,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    user: UserRow,
    blocked_until: Option<String>,
    sessions: Vec<SessionRow>,
    failures: Vec<FailureRow>,
    notice: Option<&'static str>,
}

/// Routes `/admin/users/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask).await,
        ([id], false) => user(ask, parse(id)?).await,
        ([id, action @ ("revoke" | "remove")], true) => act(ask, parse(id)?, action).await,
        ([id, "sessions", session, "revoke"], true) => end_session(ask, parse(id)?, session).await,
        _ => Err(PageError::NotFound),
    }
}

fn parse(id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError::NotFound)
}

fn registry_failure(e: RegistryError) -> PageError {
    match e {
        RegistryError::Store(s) => PageError::Store(s),
        RegistryError::UnknownUser(_)
        | RegistryError::UnknownSession(_)
        | RegistryError::UnknownApp(_) => PageError::NotFound,
    }
}

fn row(u: &portcullis_store::UserRecord) -> UserRow {
    UserRow {
        id: u.id,
        email: u.email.clone(),
        name: u.name.clone().unwrap_or_default(),
        seat: u.seat,
        last_login: u
            .last_login_at
            .map(page::time)
            .unwrap_or_else(|| "never".into()),
        created: page::time(u.created_at),
    }
}

async fn list(ask: &Ask<'_>) -> PageResult {
    let mut users = ask.gw.store.list_users().await?;
    users.sort_by(|a, b| a.email.cmp(&b.email));
    let number = ask.page_number();
    let start = (number - 1).saturating_mul(PER_PAGE);
    let rows: Vec<UserRow> = users.iter().skip(start).take(PER_PAGE).map(row).collect();
    let more = users.len() > start + PER_PAGE;
    page::render(
        StatusCode::OK,
        &ListPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            rows,
            total: users.len(),
            pager: Pager::new("/admin/users", &[], number, more),
        },
        &ask.ctx.request_id,
    )
}

async fn user(ask: &Ask<'_>, id: Uuid) -> PageResult {
    let gw = ask.gw;
    let now = gw.clock.now();
    let view = registry::view_user(gw.store.as_ref(), &id.to_string(), now)
        .await
        .map_err(registry_failure)?;
    let notice = match ask.query.get("done") {
        Some("revoked") => {
            Some("Every session of this user was ended; signing in again is blocked for a minute.")
        }
        Some("removed") => {
            Some("The user was removed: their seat is free and their sessions ended.")
        }
        Some("session") => Some("The session was ended."),
        _ => None,
    };
    page::render(
        StatusCode::OK,
        &UserPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            blocked_until: view
                .user
                .login_blocked_until
                .filter(|t| *t > now)
                .map(page::time),
            user: row(&view.user),
            sessions: view
                .active_sessions
                .iter()
                .map(|s| SessionRow {
                    id: s.id.clone(),
                    created: page::time(s.created_at),
                    expires: page::time(s.expires_at),
                })
                .collect(),
            failures: view
                .recent_failed_logins
                .iter()
                .map(|l| FailureRow {
                    at: page::time(l.created_at),
                    app: l.app_name.clone().unwrap_or_default(),
                    ip: l.ip_address.clone().unwrap_or_default(),
                    reason: l.reason.clone().unwrap_or_default(),
                })
                .collect(),
            notice,
        },
        &ask.ctx.request_id,
    )
}

async fn act(ask: &Ask<'_>, id: Uuid, action: &str) -> PageResult {
    let gw = ask.gw;
    let user = registry::find_user(gw.store.as_ref(), &id.to_string())
        .await
        .map_err(registry_failure)?;
    let back = format!("/admin/users/{id}");
    if !ask.confirmed() {
        let (question, consequence, button) = if action == "revoke" {
            (
                format!("Revoke {}?", user.email),
                "Every session of this user ends now: their next request to any application is refused, and signing in again is blocked for a minute. Their seat is kept.",
                "Revoke",
            )
        } else {
            (
                format!("Remove {}?", user.email),
                "Their seat is freed and every session ends now. They take a seat again if they sign in later.",
                "Remove",
            )
        };
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &question,
                consequence,
                action: &format!("{back}/{action}"),
                button,
                hidden: Vec::new(),
                cancel: &back,
            },
        );
    }
    let who = id.to_string();
    let done = if action == "revoke" {
        gw.revoke_user(&who).await.map_err(registry_failure)?;
        "revoked"
    } else {
        gw.remove_user(&who).await.map_err(registry_failure)?;
        "removed"
    };
    page::see_other(gw, &format!("{back}?done={done}"))
}

async fn end_session(ask: &Ask<'_>, id: Uuid, session: &str) -> PageResult {
    let gw = ask.gw;
    let back = format!("/admin/users/{id}");
    let owned = gw
        .store
        .get_session(session)
        .await?
        .is_some_and(|s| s.user_id == id);
    if !owned {
        return Err(PageError::NotFound);
    }
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: "End this session?",
                consequence: "Every application token minted from this session is refused from the next request on.",
                action: &format!("{back}/sessions/{session}/revoke"),
                button: "End the session",
                hidden: Vec::new(),
                cancel: &back,
            },
        );
    }
    gw.revoke_session(session).await.map_err(registry_failure)?;
    page::see_other(gw, &format!("{back}?done=session"))
}
