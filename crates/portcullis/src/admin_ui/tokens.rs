//! `/admin/service-tokens`: list, create (the secret shown once), refresh, rotate (the new secret
//! shown once), enable or disable, delete. Changes go through `service_tokens`, as the admin API
//! and the CLI do, and this node applies them before answering.

use askama::Template;
use http::StatusCode;
use portcullis_store::ServiceTokenRecord;
use uuid::Uuid;

use super::Ask;
use super::page::{self, Chrome, Confirm, PageError, PageResult};
use crate::respond::Branding;
use crate::service_tokens::{self, Issued, Lifetime, ServiceTokenError};

/// One row of the list, ready to show.
struct Row {
    id: Uuid,
    name: String,
    client_id: String,
    duration: String,
    expires: String,
    enabled: bool,
    updated: String,
}

impl Row {
    fn of(t: &ServiceTokenRecord) -> Row {
        Row {
            id: t.id,
            name: t.name.clone(),
            client_id: t.client_id.clone(),
            duration: t.duration.clone(),
            expires: t
                .expires_at
                .map(page::time)
                .unwrap_or_else(|| "never".into()),
            enabled: t.enabled,
            updated: page::time(t.updated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/service_tokens.html")]
struct ListPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<Row>,
    notice: Option<&'static str>,
    name: &'a str,
    duration: &'a str,
    name_error: Option<String>,
    duration_error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/service_token_secret.html")]
struct SecretPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    heading: &'a str,
    name: &'a str,
    client_id: &'a str,
    client_secret: &'a str,
}

/// Routes `/admin/service-tokens/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask, StatusCode::OK, "", "8760h", None, None).await,
        ([], true) => create(ask).await,
        ([id, action], true) => {
            let id = Uuid::parse_str(id).map_err(|_| PageError::NotFound)?;
            act(ask, id, action).await
        }
        _ => Err(PageError::NotFound),
    }
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "refreshed" => Some("The token was refreshed: it now expires one duration from now."),
        "enabled" => Some("The token was enabled."),
        "disabled" => {
            Some("The token was disabled: its secrets are refused until it is enabled again.")
        }
        "deleted" => Some("The token was deleted."),
        _ => None,
    }
}

async fn list(
    ask: &Ask<'_>,
    status: StatusCode,
    name: &str,
    duration: &str,
    name_error: Option<String>,
    duration_error: Option<String>,
) -> PageResult {
    let mut tokens = ask.gw.store.list_service_tokens().await?;
    tokens.sort_by(|a, b| a.name.cmp(&b.name));
    page::render(
        status,
        &ListPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            rows: tokens.iter().map(Row::of).collect(),
            notice: notice(ask.query.get("done")),
            name,
            duration,
            name_error,
            duration_error,
        },
        &ask.ctx.request_id,
    )
}

fn secret_page(ask: &Ask<'_>, heading: &str, issued: &Issued) -> PageResult {
    page::render(
        StatusCode::OK,
        &SecretPage {
            brand: &ask.gw.branding,
            chrome: ask.chrome,
            heading,
            name: &issued.record.name,
            client_id: &issued.record.client_id,
            client_secret: &issued.client_secret,
        },
        &ask.ctx.request_id,
    )
}

fn token_failure(e: ServiceTokenError) -> PageError {
    match e {
        ServiceTokenError::NotFound(_) => PageError::NotFound,
        ServiceTokenError::Store(s) => PageError::Store(s),
        other => PageError::internal(other),
    }
}

async fn create(ask: &Ask<'_>) -> PageResult {
    let name = ask.field("name");
    let duration = ask.field("duration");
    let lifetime = if duration.is_empty() {
        Ok(Lifetime::For(service_tokens::DEFAULT_DURATION))
    } else {
        Lifetime::parse(duration)
    };
    let name_error = name.is_empty().then(|| "Give the token a name.".to_owned());
    let lifetime = match (lifetime, name_error) {
        (Ok(l), None) => l,
        (lifetime, name_error) => {
            let duration_error = lifetime.err().map(|e| format!("{e}."));
            return list(
                ask,
                StatusCode::BAD_REQUEST,
                name,
                duration,
                name_error,
                duration_error,
            )
            .await;
        }
    };
    let gw = ask.gw;
    match service_tokens::create(gw.store.as_ref(), name, lifetime, gw.clock.now()).await {
        Ok(issued) => {
            gw.resync().await;
            secret_page(ask, "Service token created", &issued)
        }
        Err(e @ (ServiceTokenError::NameTaken(_) | ServiceTokenError::EmptyName)) => {
            let error = Some(format!("{e}; choose another name."));
            list(ask, StatusCode::BAD_REQUEST, name, duration, error, None).await
        }
        Err(e) => Err(token_failure(e)),
    }
}

async fn act(ask: &Ask<'_>, id: Uuid, action: &str) -> PageResult {
    let gw = ask.gw;
    let store = gw.store.as_ref();
    let now = gw.clock.now();
    let token = store
        .get_service_token(id)
        .await?
        .ok_or(PageError::NotFound)?;
    let action_path = format!("/admin/service-tokens/{id}/{action}");
    let confirmation = |question: &str, consequence: &str, button: &str| {
        page::confirm(
            ask.chrome,
            &Confirm {
                question,
                consequence,
                action: &action_path,
                button,
                hidden: Vec::new(),
                cancel: "/admin/service-tokens",
            },
        )
    };
    let done = match action {
        "refresh" => {
            service_tokens::refresh(store, id, now)
                .await
                .map_err(token_failure)?;
            "refreshed"
        }
        "enable" | "disable" => {
            let enable = action == "enable";
            service_tokens::set_enabled(store, id, enable, now)
                .await
                .map_err(token_failure)?;
            if enable { "enabled" } else { "disabled" }
        }
        "rotate" if !ask.confirmed() => {
            return confirmation(
                &format!("Rotate the secret of “{}”?", token.name),
                "A new secret is made and shown once; the current one keeps working for one more hour so that clients can switch.",
                "Rotate the secret",
            );
        }
        "rotate" => {
            let issued = service_tokens::rotate(store, id, now)
                .await
                .map_err(token_failure)?;
            gw.resync().await;
            return secret_page(ask, "Secret rotated", &issued);
        }
        "delete" if !ask.confirmed() => {
            return confirmation(
                &format!("Delete “{}”?", token.name),
                "Clients using this token are refused from now on. This cannot be undone.",
                "Delete the token",
            );
        }
        "delete" => {
            store.delete_service_token(id).await?;
            "deleted"
        }
        _ => return Err(PageError::NotFound),
    };
    gw.resync().await;
    page::see_other(gw, &format!("/admin/service-tokens?done={done}"))
}
