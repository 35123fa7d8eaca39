//! Every error response of the gateway is produced here: the user-facing page for browsers,
//! a small JSON body for other clients, both carrying the request id. Also the login chooser
//! page and redirects.

use askama::Template;
use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Response, StatusCode};

/// Everything that can end a request without reaching the origin.
#[derive(Debug, Clone)]
pub enum Failure {
    /// No valid token and not a browser navigation.
    Unauthenticated,
    /// The application's policies refused the identity.
    AccessDenied {
        message: Option<String>,
        /// Who was refused, shown so they can tell which account they used.
        email: Option<String>,
    },
    /// The login state was missing, damaged, expired, or from another browser.
    InvalidSession,
    /// The ID token carried no usable email.
    MissingEmail {
        tried: Vec<String>,
        present: Vec<String>,
    },
    /// The IdP answered with an error or a token we refuse.
    IdentityProvider {
        detail: String,
    },
    /// The IdP sent the user back with an OAuth error.
    IdentityProviderRefused {
        error: String,
        description: Option<String>,
    },
    BadRequest(String),
    NoApplication {
        host: String,
    },
    OriginUnreachable,
    Internal,
    NotFound,
    LoggedOut,
    /// Refused by a non-identity rule (address, country, service token).
    Forbidden {
        aud: String,
    },
    /// An administrator revoked the user moments ago; logins are blocked for a minute.
    RecentlyRevoked {
        retry_after: i64,
    },
    /// Every seat is taken and this user has none.
    NoSeat,
    /// The database cannot be reached: logins and writes wait for it; valid tokens still work.
    Unavailable,
    /// The identity provider deactivated this user over SCIM, though it let them sign in.
    Deprovisioned,
}

impl Failure {
    /// The failure a store error becomes: the database being unreachable or failing is a 503
    /// that clears by itself; stored data that cannot be read is an internal error.
    pub fn from_store(error: &portcullis_store::StoreError) -> Failure {
        match error {
            portcullis_store::StoreError::Database(_) => Failure::Unavailable,
            _ => Failure::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Unauthenticated => StatusCode::UNAUTHORIZED,
            Failure::AccessDenied { .. }
            | Failure::MissingEmail { .. }
            | Failure::Forbidden { .. }
            | Failure::RecentlyRevoked { .. }
            | Failure::NoSeat
            | Failure::Deprovisioned => StatusCode::FORBIDDEN,
            Failure::InvalidSession
            | Failure::BadRequest(_)
            | Failure::IdentityProviderRefused { .. } => StatusCode::BAD_REQUEST,
            Failure::IdentityProvider { .. } | Failure::OriginUnreachable => {
                StatusCode::BAD_GATEWAY
            }
            Failure::NoApplication { .. } | Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::LoggedOut => StatusCode::OK,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Failure::Unauthenticated => "Sign-in required",
            Failure::AccessDenied { .. } => "Access denied",
            Failure::InvalidSession => "Invalid session",
            Failure::MissingEmail { .. } => "No email address from the identity provider",
            Failure::IdentityProvider { .. } | Failure::IdentityProviderRefused { .. } => {
                "Sign-in failed"
            }
            Failure::BadRequest(_) => "Bad request",
            Failure::NoApplication { .. } | Failure::NotFound => "Not found",
            Failure::OriginUnreachable => "Application unavailable",
            Failure::Internal => "Something went wrong",
            Failure::LoggedOut => "Logged out",
            Failure::Forbidden { .. } => "Forbidden",
            Failure::RecentlyRevoked { .. } => "Access revoked",
            Failure::NoSeat => "No seat available",
            Failure::Unavailable => "Temporarily unavailable",
            Failure::Deprovisioned => "Account deactivated",
        }
    }

    /// The sentence a user reads.
    pub fn message(&self) -> String {
        match self {
            Failure::Unauthenticated => "This application requires you to sign in.".into(),
            Failure::AccessDenied { message, .. } => message
                .clone()
                .unwrap_or_else(|| "That account does not have access".into()),
            Failure::InvalidSession => "Invalid session. Please try logging in again".into(),
            Failure::MissingEmail { tried, .. } => format!(
                "The identity provider did not send an email address in the ID token (looked for the claim {}).",
                tried
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", then ")
            ),
            Failure::IdentityProvider { .. } => {
                "Failed to fetch user/group information from the identity provider".into()
            }
            Failure::IdentityProviderRefused { .. } => {
                "The identity provider did not sign you in.".into()
            }
            Failure::BadRequest(what) => format!("The request is not valid: {what}."),
            Failure::NoApplication { host } => format!("No application is configured for {host}."),
            Failure::NotFound => "There is nothing here.".into(),
            Failure::OriginUnreachable => {
                "The application's server did not answer. Try again in a moment.".into()
            }
            Failure::Internal => "The gateway could not complete this request.".into(),
            Failure::LoggedOut => "You have been logged out of every application.".into(),
            Failure::Forbidden { .. } => "Forbidden. You don't have permission to view this. Please contact your system administrator.".into(),
            Failure::RecentlyRevoked { retry_after } => format!(
                "An administrator has just revoked your access. You cannot sign in again for {} second{}.",
                retry_after,
                if *retry_after == 1 { "" } else { "s" }
            ),
            Failure::Unavailable => "Signing in is not possible right now because the gateway cannot reach its database. Try again in a minute; if you are already signed in, your applications keep working.".into(),
            Failure::NoSeat => "Your organization has used all of its seats, so new users cannot sign in. Ask your administrator to free a seat.".into(),
            Failure::Deprovisioned => "Your organization's identity provider has deactivated your account, so you cannot sign in. Ask your administrator if you think this is a mistake.".into(),
        }
    }

    /// Extra lines shown under the message (never secrets or claim values).
    fn details(&self) -> Vec<String> {
        match self {
            Failure::MissingEmail { present, .. } => vec![
                format!("Claims present in the ID token: {}", present.join(", ")),
                "Ask your administrator to add an email claim to the ID token, or to set `email_claim_name` to the claim that carries it.".into(),
            ],
            Failure::IdentityProvider { detail } => vec![detail.clone()],
            Failure::AccessDenied { email: Some(e), .. } => vec![format!("Signed in as {e}.")],
            Failure::Forbidden { .. } => vec![
                "The request was refused on its network address, country or service credentials, not on who you are.".into(),
            ],
            Failure::IdentityProviderRefused { error, description } => {
                let mut v = vec![format!("Error: {error}")];
                v.extend(description.clone());
                v
            }
            _ => Vec::new(),
        }
    }
}

/// How the organization's pages look (`[organization]` in the configuration).
#[derive(Debug, Clone, Default)]
pub struct Branding {
    /// Shown at the top of every page instead of "Portcullis".
    pub org_name: Option<String>,
    /// A `data:` URI, so that pages make no outside request.
    pub logo: Option<String>,
    /// Checked CSS colours.
    pub background: Option<String>,
    pub text: Option<String>,
    pub header: Option<String>,
    pub footer: Option<String>,
}

impl Branding {
    pub(crate) fn name(&self) -> &str {
        self.org_name.as_deref().unwrap_or("Portcullis")
    }
}

/// The look of pages rendered without a gateway at hand (the default).
static DEFAULT_BRANDING: Branding = Branding {
    org_name: None,
    logo: None,
    background: None,
    text: None,
    header: None,
    footer: None,
};

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    brand: &'a Branding,
    title: &'a str,
    message: &'a str,
    details: Vec<String>,
    link: Option<(String, String)>,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    brand: &'a Branding,
    app_name: &'a str,
    methods: Vec<(String, String)>,
    request_id: &'a str,
}

/// Whether the client prefers an HTML page.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn with_common_headers(mut resp: Response<Body>, request_id: &str) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    resp
}

/// An HTML page of ours with the security headers every page carries.
pub fn html_page(status: StatusCode, body: String, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    with_common_headers(resp, request_id)
}

/// The response for a failure: a page for browsers, JSON otherwise.
pub fn failure(f: &Failure, as_html: bool, request_id: &str) -> Response<Body> {
    failure_with_link(f, as_html, request_id, None)
}

/// Like [`failure`], with a link for the user to follow (e.g. "Try again").
pub fn failure_with_link(
    f: &Failure,
    as_html: bool,
    request_id: &str,
    link: Option<(String, String)>,
) -> Response<Body> {
    failure_branded(f, as_html, request_id, link, &DEFAULT_BRANDING)
}

/// Like [`failure_with_link`], in the organization's look (block pages, login refusals).
pub fn failure_branded(
    f: &Failure,
    as_html: bool,
    request_id: &str,
    link: Option<(String, String)>,
    brand: &Branding,
) -> Response<Body> {
    let status = f.status();
    let message = f.message();
    if as_html {
        let page = MessagePage {
            brand,
            title: f.title(),
            message: &message,
            details: f.details(),
            link,
            request_id,
        };
        match page.render() {
            Ok(body) => html_page(status, body, request_id),
            Err(error) => {
                tracing::error!(%error, "page rendering failed");
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                    request_id,
                )
            }
        }
    } else {
        let mut body = serde_json::json!({
            "message": message,
            "status_code": status.as_u16(),
            "ray_id": request_id,
            "details": f.details(),
        });
        // Cloudflare's non-browser 403 names the application's AUD.
        if let Failure::Forbidden { aud } = f {
            body["aud"] = serde_json::Value::String(aud.clone());
        }
        json(status, &body, request_id)
    }
}

fn plain(status: StatusCode, text: &'static str, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    with_common_headers(resp, request_id)
}

/// A JSON answer.
pub fn json(status: StatusCode, body: &serde_json::Value, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    with_common_headers(resp, request_id)
}

/// The login method chooser.
pub fn login_page(
    brand: &Branding,
    app_name: &str,
    methods: Vec<(String, String)>,
    request_id: &str,
) -> Response<Body> {
    let page = LoginPage {
        brand,
        app_name,
        methods,
        request_id,
    };
    match page.render() {
        Ok(body) => html_page(StatusCode::OK, body, request_id),
        Err(_) => failure(&Failure::Internal, false, request_id),
    }
}

/// A `302 Found` to `location`.
pub fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(resp: Response<Body>) -> String {
        String::from_utf8(
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn block_page_uses_cloudflare_default_text_and_escapes() {
        let resp = failure(
            &Failure::AccessDenied {
                message: None,
                email: None,
            },
            true,
            "rid1",
        );
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(
            body(resp)
                .await
                .contains("That account does not have access")
        );
        let resp = failure(
            &Failure::AccessDenied {
                message: Some("<script>alert(1)</script>".into()),
                email: None,
            },
            true,
            "rid1",
        );
        let b = body(resp).await;
        assert!(!b.contains("<script>alert"), "{b}");
    }

    #[tokio::test]
    async fn branding_shows_name_logo_and_colours_and_escapes_text() {
        let brand = Branding {
            org_name: Some("Acme <Corp>".into()),
            logo: Some("data:image/png;base64,AAAA".into()),
            background: Some("#102030".into()),
            text: Some("white".into()),
            header: Some("Welcome".into()),
            footer: Some("Need help? Call IT.".into()),
        };
        let b = body(login_page(
            &brand,
            "Wiki",
            vec![("IdP".into(), "/go".into())],
            "r",
        ))
        .await;
        assert!(
            b.contains("Acme &#60;Corp&#62;") || b.contains("Acme &lt;Corp&gt;"),
            "{b}"
        );
        assert!(b.contains("src=\"data:image/png;base64,AAAA\""), "{b}");
        assert!(b.contains("background: #102030"), "{b}");
        assert!(
            b.contains("Welcome") && b.contains("Need help? Call IT."),
            "{b}"
        );
        let plain = body(login_page(&Branding::default(), "Wiki", vec![], "r")).await;
        assert!(
            plain.contains("Portcullis") && !plain.contains("<img"),
            "{plain}"
        );
    }

    #[tokio::test]
    async fn forbidden_json_carries_the_aud() {
        let j = body(failure(
            &Failure::Forbidden { aud: "ab12".into() },
            false,
            "r",
        ))
        .await;
        assert!(
            j.contains("\"aud\":\"ab12\"") && j.contains("\"status_code\":403"),
            "{j}"
        );
    }

    #[tokio::test]
    async fn missing_email_names_claims_but_no_values() {
        let f = Failure::MissingEmail {
            tried: vec!["mail".into(), "email".into(), "upn".into()],
            present: vec!["iss".into(), "sub".into(), "name".into()],
        };
        let b = body(failure(&f, true, "r")).await;
        assert!(b.contains("`mail`") && b.contains("iss, sub, name"), "{b}");
        let j = body(failure(&f, false, "r")).await;
        assert!(j.contains("\"status_code\":403"), "{j}");
    }
}
