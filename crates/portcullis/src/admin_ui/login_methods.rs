//! `/admin/login-methods`: each login method with its type, SCIM status and endpoint, a **Test**
//! link that runs the real login flow in a new window (`idp_test`), and regenerating the SCIM
//! secret (shown once). Login methods are declared in the configuration file: read-only here.

use askama::Template;
use http::StatusCode;
use uuid::Uuid;

use super::Ask;
use super::page::{self, Chrome, Confirm, PageError, PageResult};
use crate::respond::Branding;

struct Row {
    id: Uuid,
    name: String,
    kind: &'static str,
    client_id: String,
    issuer: String,
    scim_endpoint: Option<String>,
    test_url: String,
}

#[derive(Template)]
#[template(path = "admin/login_methods.html")]
struct ListPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "admin/scim_secret.html")]
struct SecretPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    name: &'a str,
    endpoint: &'a str,
    secret: &'a str,
}

/// Routes `/admin/login-methods/…`.
pub(crate) async fn route(ask: &Ask<'_>, rest: &[&str]) -> PageResult {
    match (rest, ask.is_post()) {
        ([], false) => list(ask),
        ([id, "scim-secret"], true) => {
            let id = Uuid::parse_str(id).map_err(|_| PageError::NotFound)?;
            regenerate(ask, id).await
        }
        _ => Err(PageError::NotFound),
    }
}

fn scim_endpoint(ask: &Ask<'_>, id: Uuid) -> String {
    ask.gw.team_url(&format!("/scim/{id}/v2"))
}

fn list(ask: &Ask<'_>) -> PageResult {
    let gw = ask.gw;
    let methods = gw.snapshot.load().login_methods.clone();
    let mut rows = Vec::with_capacity(methods.len());
    for m in &methods {
        let c = m.provider.config();
        rows.push(Row {
            id: m.id.0,
            name: m.name.clone(),
            kind: m.kind(),
            client_id: c.client_id.clone(),
            issuer: c
                .issuer
                .clone()
                .or_else(|| c.discovery_url.as_ref().map(|u| u.to_string()))
                .unwrap_or_default(),
            scim_endpoint: m.scim.as_ref().map(|_| scim_endpoint(ask, m.id.0)),
            // A fresh ten-minute link each time the page is shown.
            test_url: crate::idp_test::ticket_url(gw, m.id.0).map_err(PageError::internal)?,
        });
    }
    page::render(
        StatusCode::OK,
        &ListPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            rows,
        },
        &ask.ctx.request_id,
    )
}

async fn regenerate(ask: &Ask<'_>, id: Uuid) -> PageResult {
    let gw = ask.gw;
    let method = gw
        .snapshot
        .load()
        .login_methods
        .iter()
        .find(|m| m.id.0 == id)
        .cloned()
        .ok_or(PageError::NotFound)?;
    if method.scim.is_none() {
        return Err(PageError::BadRequest(format!(
            "SCIM is not enabled for {}",
            method.name
        )));
    }
    if !ask.confirmed() {
        return page::confirm(
            ask.chrome,
            &Confirm {
                question: &format!("Regenerate the SCIM secret of {}?", method.name),
                consequence: "The current secret stops working at once: the identity provider's provisioning fails until you paste the new secret into it.",
                action: &format!("/admin/login-methods/{id}/scim-secret"),
                button: "Regenerate the secret",
                hidden: Vec::new(),
                cancel: "/admin/login-methods",
            },
        );
    }
    let secret = crate::scim_sync::regenerate_secret(gw.store.as_ref(), id)
        .await
        .map_err(PageError::internal)?;
    page::render(
        StatusCode::OK,
        &SecretPage {
            brand: &gw.branding,
            chrome: ask.chrome,
            name: &method.name,
            endpoint: &scim_endpoint(ask, id),
            secret: &secret,
        },
        &ask.ctx.request_id,
    )
}
