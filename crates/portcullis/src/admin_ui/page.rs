//! What every admin UI page shares: the chrome (navigation, the signed-in administrator, the
//! CSRF token), rendering, the error and confirmation pages, and pagination.

use askama::Template;
use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use portcullis_store::StoreError;

use super::form::encode;
use crate::gateway::Gateway;
use crate::proxy::RequestContext;
use crate::respond::{self, Branding};

/// Rows per page of every long list.
pub(crate) const PER_PAGE: usize = 50;

/// The frame around every page.
pub(crate) struct Chrome<'a> {
    pub brand: &'a Branding,
    /// The signed-in administrator.
    pub email: &'a str,
    /// The CSRF token every form carries.
    pub csrf: &'a str,
    pub request_id: &'a str,
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("There is nothing here.")]
    NotFound,
    #[error("This address only answers GET and POST.")]
    MethodNotAllowed,
    #[error("The request is not valid: {0}.")]
    BadRequest(String),
    #[error(
        "This form was refused: it did not carry the right security token. Reload the page and try again."
    )]
    Csrf,
    #[error("Your session has ended. Sign in again and repeat the change.")]
    SessionEnded,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("Something went wrong; the gateway's log has the details.")]
    Internal(String),
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Csrf | PageError::SessionEnded => StatusCode::FORBIDDEN,
            PageError::Store(StoreError::Database(_)) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Store(_) | PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            PageError::Store(StoreError::Database(_)) => {
                "The gateway cannot reach its database; try again in a moment.".into()
            }
            PageError::Store(_) => {
                "Something went wrong; the gateway's log has the details.".into()
            }
            other => other.to_string(),
        }
    }

    /// An internal failure, logged here with its cause (which the page does not show).
    pub fn internal(error: impl std::fmt::Display) -> PageError {
        tracing::error!(%error, "admin UI request failed");
        PageError::Internal(error.to_string())
    }
}

/// What a page handler answers.
pub(crate) type PageResult = Result<Response<Body>, PageError>;

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage<'a> {
    brand: &'a Branding,
    chrome: Option<&'a Chrome<'a>>,
    title: &'a str,
    message: &'a str,
    link: Option<(String, String)>,
    request_id: &'a str,
}

/// Renders a template as an HTML page with the gateway's security headers.
pub(crate) fn render<T: Template>(status: StatusCode, page: &T, request_id: &str) -> PageResult {
    let body = page.render().map_err(PageError::internal)?;
    Ok(respond::html_page(status, body, request_id))
}

/// A `303 See Other` to an admin UI path, after a change.
pub(crate) fn see_other(gw: &Gateway, path: &str) -> PageResult {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let location = HeaderValue::from_str(&gw.team_url(path)).map_err(PageError::internal)?;
    resp.headers_mut().insert(header::LOCATION, location);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn message(
    gw: &Gateway,
    ctx: &RequestContext,
    chrome: Option<&Chrome<'_>>,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(String, String)>,
) -> Response<Body> {
    let page = MessagePage {
        brand: &gw.branding,
        chrome,
        title,
        message: text,
        link,
        request_id: &ctx.request_id,
    };
    match render(status, &page, &ctx.request_id) {
        Ok(resp) => resp,
        Err(_) => respond::failure(&respond::Failure::Internal, true, &ctx.request_id),
    }
}

/// The page for a failure.
pub(crate) fn error(
    gw: &Gateway,
    ctx: &RequestContext,
    chrome: Option<&Chrome<'_>>,
    e: &PageError,
) -> Response<Body> {
    let title = match e {
        PageError::NotFound => "Not found",
        PageError::Csrf | PageError::SessionEnded => "Forbidden",
        PageError::BadRequest(_) => "Bad request",
        _ => "Something went wrong",
    };
    message(gw, ctx, chrome, e.status(), title, &e.message(), None)
}

/// A page handler's answer, or its failure's page.
pub(crate) fn finish(
    gw: &Gateway,
    ctx: &RequestContext,
    chrome: Option<&Chrome<'_>>,
    answer: PageResult,
) -> Response<Body> {
    answer.unwrap_or_else(|e| error(gw, ctx, chrome, &e))
}

/// The 403 for a signed-in user who is not an administrator.
pub(crate) fn not_an_admin(gw: &Gateway, ctx: &RequestContext, email: &str) -> Response<Body> {
    message(
        gw,
        ctx,
        None,
        StatusCode::FORBIDDEN,
        "Not an administrator",
        &format!(
            "You are signed in as {email}, who is not an administrator of this gateway. \
             Sign out to use another account."
        ),
        Some((gw.team_url("/cdn-cgi/access/logout"), "Sign out".to_owned())),
    )
}

#[derive(Template)]
#[template(path = "admin/confirm.html")]
struct ConfirmPage<'a> {
    brand: &'a Branding,
    chrome: &'a Chrome<'a>,
    question: &'a str,
    consequence: &'a str,
    action: &'a str,
    button: &'a str,
    hidden: &'a [(String, String)],
    cancel: &'a str,
}

/// What a destructive action shows before it is confirmed.
pub(crate) struct Confirm<'a> {
    pub question: &'a str,
    /// What will happen, in a sentence.
    pub consequence: &'a str,
    /// The admin UI path the confirmed form posts to.
    pub action: &'a str,
    pub button: &'a str,
    /// Fields to post again (besides `csrf` and `confirm`).
    pub hidden: Vec<(String, String)>,
    /// Where "Cancel" goes.
    pub cancel: &'a str,
}

/// The confirmation page of a destructive action; the form posts again with `confirm=yes`.
pub(crate) fn confirm(chrome: &Chrome<'_>, c: &Confirm<'_>) -> PageResult {
    render(
        StatusCode::OK,
        &ConfirmPage {
            brand: chrome.brand,
            chrome,
            question: c.question,
            consequence: c.consequence,
            action: c.action,
            button: c.button,
            hidden: &c.hidden,
            cancel: c.cancel,
        },
        chrome.request_id,
    )
}

/// Previous/next links of a paginated list.
pub(crate) struct Pager {
    pub page: usize,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// Links for `page` of a list at `path` filtered by `params` (empty values left out), when
    /// a further page exists (`more`).
    pub fn new(path: &str, params: &[(&str, &str)], page: usize, more: bool) -> Pager {
        let link = |p: usize| {
            let mut q: Vec<String> = params
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            q.push(format!("page={p}"));
            format!("{path}?{}", q.join("&"))
        };
        Pager {
            page,
            previous: (page > 1).then(|| link(page - 1)),
            next: more.then(|| link(page + 1)),
        }
    }
}

/// A unix-seconds instant as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn time(unix: i64) -> String {
    let t = portcullis_scim::Timestamp::from_unix_millis(unix.saturating_mul(1000)).to_string();
    // RFC 3339 `2026-01-31T12:00:00Z` (maybe with fractions) read more easily with a space.
    let t = t.trim_end_matches('Z');
    let t = t.split('.').next().unwrap_or(t);
    format!("{} UTC", t.replacen('T', " ", 1))
}
