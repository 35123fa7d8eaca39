//! `/admin`: how many of each object the gateway has, with links to their pages.

use askama::Template;
use http::StatusCode;

use super::Ask;
use super::page::{self, Chrome, PageResult};
use crate::respond::Branding;

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct Dashboard<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    counts: Vec<(&'static str, String, &'static str)>,
}

/// The dashboard.
pub(crate) async fn page(ask: &Ask<'_>) -> PageResult {
    let gw = ask.gw;
    let (login_methods, apps, groups) = {
        let snapshot = gw.snapshot.load();
        (
            snapshot.login_methods.len(),
            snapshot.apps.iter().count(),
            snapshot.catalog.groups().count(),
        )
    };
    let users = gw.store.list_users().await?.len();
    let seats = gw.store.count_seats().await?;
    let tokens = gw.store.list_service_tokens().await?.len();
    let seat_text = match gw.organization.seat_limit {
        Some(limit) => format!("{seats} of {limit}"),
        None => seats.to_string(),
    };
    let counts = vec![
        (
            "Login methods",
            login_methods.to_string(),
            "/admin/login-methods",
        ),
        ("Applications", apps.to_string(), "/admin/apps"),
        ("Rule groups", groups.to_string(), "/admin/rule-groups"),
        (
            "Service tokens",
            tokens.to_string(),
            "/admin/service-tokens",
        ),
        ("Users", users.to_string(), "/admin/users"),
        ("Seats in use", seat_text, "/admin/users"),
    ];
    page::render(
        StatusCode::OK,
        &Dashboard {
            brand: &gw.branding,
            chrome: ask.chrome,
            counts,
        },
        &ask.ctx.request_id,
    )
}
