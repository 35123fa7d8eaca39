//! The `/cdn-cgi/access/*` endpoints and the login flow.
//!
//! Team domain: `login/<app host>` (IdP chooser or straight to the IdP), `callback` (code
//! exchange, ID-token validation, claim mapping, user registry, policy decision, global session),
//! `certs`, `get-identity`, `logout`. Application domains: `authorized` (sets the app cookie from
//! a freshly minted token and returns to the original URL), `get-identity`, `logout`.
//!
//! The login state between the redirect to the IdP and the callback lives in a sealed,
//! short-lived cookie scoped to the callback path and named after the `state`, so that several
//! logins in one browser do not trample each other and any node can finish a login that another
//! started.

use std::sync::Arc;

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use portcullis_core::{Email, Facts, Identity, IdpId, evaluate};
use portcullis_oidc::{OidcError, PendingLogin};
use portcullis_store::{AuthLogRecord, LoginRecord, SessionRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use crate::config::SameSite;
use crate::cookies::{self, AUTH_COOKIE, BINDING_COOKIE, CookieAttrs};
use crate::gateway::{App, Gateway, LoginMethod};
use crate::proxy::{self, RequestContext};
use crate::respond::{self, Failure};
use crate::seal::random_token;
use crate::tokens::{AppClaims, OrgClaims, TYPE_APP, TYPE_ORG, verify_org};

const PREFIX: &str = "/cdn-cgi/access/";
const LOGIN_COOKIE_PREFIX: &str = "CF_Login_";
const LOGIN_SEAL: &str = "login-flow";
/// How long a user may take at the IdP.
const LOGIN_TTL: i64 = 600;

fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn with_cookie(mut resp: Response<Body>, cookie: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn team_cookie_attrs(gw: &Gateway) -> CookieAttrs<'static> {
    CookieAttrs {
        secure: gw.server.is_https(),
        http_only: true,
        same_site: SameSite::Lax,
        path: "/",
    }
}

/// The app cookie's attributes: the app's SameSite and HttpOnly choices, scoped to its path when
/// it asks for that.
pub(crate) fn app_cookie_attrs<'a>(gw: &Gateway, app: &'a App) -> CookieAttrs<'a> {
    CookieAttrs {
        secure: gw.server.is_https(),
        http_only: app.http_only,
        same_site: app.same_site,
        path: app.cookie_path.as_deref().unwrap_or("/"),
    }
}

/// The binding cookie: like the app cookie, but never readable by scripts.
pub(crate) fn binding_cookie_attrs<'a>(gw: &Gateway, app: &'a App) -> CookieAttrs<'a> {
    CookieAttrs {
        http_only: true,
        ..app_cookie_attrs(gw, app)
    }
}

/// Whether the path is one of ours on any domain.
pub fn is_access_path(path: &str) -> bool {
    path.starts_with(PREFIX)
}

// ---------------------------------------------------------------------------------------------
// Team domain.

/// Requests to the team domain.
pub async fn team(gw: Arc<Gateway>, ctx: RequestContext, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let html = respond::wants_html(req.headers());
    let Some(rest) = path.strip_prefix(PREFIX) else {
        if path == "/" {
            return respond::failure_with_link(
                &Failure::NotFound,
                true,
                &ctx.request_id,
                Some((
                    gw.team_url("/cdn-cgi/access/get-identity"),
                    "Show my identity".into(),
                )),
            );
        }
        return respond::failure(&Failure::NotFound, html, &ctx.request_id);
    };
    let method = req.method().clone();
    match (rest, &method) {
        ("certs", &Method::GET | &Method::HEAD) => certs(&gw, &ctx),
        ("callback", &Method::GET) => callback(&gw, &ctx, req.uri(), req.headers()).await,
        ("get-identity", &Method::GET) => {
            let session = org_session(&gw, req.headers());
            identity_response(&gw, &ctx, session.map(|c| c.identity_nonce)).await
        }
        ("logout", &Method::GET | &Method::POST) => {
            if let Some(claims) = org_session(&gw, req.headers()) {
                revoke(&gw, &claims.identity_nonce, claims.exp).await;
            }
            let resp = respond::failure(&Failure::LoggedOut, true, &ctx.request_id);
            with_cookie(resp, &cookies::clear(AUTH_COOKIE, team_cookie_attrs(&gw)))
        }
        ("login", &Method::GET) => login(&gw, &ctx, None, req.uri(), req.headers()).await,
        (p, &Method::GET) if p.starts_with("test/") => {
            crate::idp_test::start(&gw, &ctx, &p["test/".len()..]).await
        }
        (p, &Method::GET) if p.starts_with("login/") => {
            let host = p["login/".len()..].to_ascii_lowercase();
            login(&gw, &ctx, Some(host), req.uri(), req.headers()).await
        }
        _ => respond::failure(&Failure::NotFound, html, &ctx.request_id),
    }
}

fn certs(gw: &Gateway, ctx: &RequestContext) -> Response<Body> {
    let mut resp = Response::new(Body::from(gw.keys.load().certs_document()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("x-request-id", v);
    }
    resp
}

/// The valid global session of the browser, if any.
fn org_session(gw: &Gateway, headers: &HeaderMap) -> Option<OrgClaims> {
    let ring = gw.keys.load();
    let now = gw.clock.now();
    cookies::values(headers, AUTH_COOKIE)
        .find_map(|t| verify_org(&ring, t, &gw.server.team_url, now, &gw.revoked).ok())
}

/// Where the browser wants to go, checked against the application's domains (no open redirects).
fn checked_target(
    gw: &Gateway,
    host_hint: Option<&str>,
    redirect_url: Option<&str>,
) -> Result<(Arc<App>, Url), Failure> {
    let snapshot = gw.snapshot.load();
    let url = match (redirect_url, host_hint) {
        (Some(u), _) => {
            Url::parse(u).map_err(|_| Failure::BadRequest("redirect_url is not a URL".into()))?
        }
        (None, Some(h)) => Url::parse(&format!("{}/", gw.server.url_for_host(h)))
            .map_err(|_| Failure::BadRequest("application host".into()))?,
        (None, None) => return Err(Failure::BadRequest("redirect_url is missing".into())),
    };
    let expected_prefix = url.host_str().map(|h| gw.server.url_for_host(h));
    let origin = url.origin().ascii_serialization();
    if expected_prefix.as_deref() != Some(origin.as_str()) {
        return Err(Failure::BadRequest(
            "redirect_url is not on an application of this gateway".into(),
        ));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if let Some(h) = host_hint
        && h != host
    {
        return Err(Failure::BadRequest(
            "redirect_url does not belong to the application being signed in to".into(),
        ));
    }
    let app = snapshot
        .apps
        .route(&host, url.path())
        .cloned()
        .ok_or_else(|| {
            Failure::BadRequest("redirect_url is not on an application of this gateway".into())
        })?;
    Ok((app, url))
}

async fn login(
    gw: &Gateway,
    ctx: &RequestContext,
    host: Option<String>,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    let html = respond::wants_html(headers);
    let (app, target) = match checked_target(
        gw,
        host.as_deref(),
        query_param(uri, "redirect_url").as_deref(),
    ) {
        Ok(t) => t,
        Err(f) => return respond::failure(&f, html, &ctx.request_id),
    };
    // Single sign-on: a valid global session mints the app token without the IdP.
    if let Some(org) = org_session(gw, headers) {
        match gw.store.get_session(&org.identity_nonce).await {
            Ok(Some(session))
                if session.revoked_at.is_none() && app.allows_idp(IdpId(session.idp_id)) =>
            {
                if let Ok(identity) =
                    serde_json::from_value::<StoredIdentity>(session.identity.clone())
                {
                    return grant(
                        gw,
                        ctx,
                        &app,
                        &target,
                        identity,
                        &session.id,
                        session.user_id,
                        "sso",
                    )
                    .await;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(request_id = %ctx.request_id, %error, "session lookup failed");
                return respond::failure(&Failure::from_store(&error), html, &ctx.request_id);
            }
        }
    }
    let snapshot = gw.snapshot.load();
    let methods = snapshot.login_methods_for(&app);
    let chosen = query_param(uri, "idp")
        .and_then(|id| Uuid::parse_str(&id).ok())
        .and_then(|id| methods.iter().find(|m| m.id.0 == id).cloned());
    let method = match chosen {
        Some(m) => m,
        None if methods.len() == 1 => methods[0].clone(),
        None => {
            let links = methods
                .iter()
                .map(|m| {
                    let href = format!(
                        "{}/cdn-cgi/access/login/{}?redirect_url={}&idp={}",
                        gw.server.team_url,
                        encode(target.host_str().unwrap_or_default()),
                        encode(target.as_str()),
                        m.id.0
                    );
                    (m.name.clone(), href)
                })
                .collect();
            return respond::login_page(&gw.branding, &app.name, links, &ctx.request_id);
        }
    };
    start_login(gw, ctx, &app, &target, &method).await
}

/// What the sealed login cookie carries across the IdP round trip.
#[derive(Serialize, Deserialize)]
struct LoginFlow {
    pending: PendingLogin,
    idp: Uuid,
    aud: String,
    target: String,
    expires: i64,
    /// A test of the login method: the callback shows the outcome instead of signing in.
    #[serde(default)]
    test: bool,
    /// A sign-in to the web admin UI: the callback sets only the global session and returns to
    /// `target` (a team-domain `/admin` URL) without minting an application token.
    #[serde(default)]
    admin: bool,
}

fn login_cookie_name(state: &str) -> String {
    let short: String = state
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    format!("{LOGIN_COOKIE_PREFIX}{short}")
}

async fn start_login(
    gw: &Gateway,
    ctx: &RequestContext,
    app: &App,
    target: &Url,
    method: &LoginMethod,
) -> Response<Body> {
    start_flow(gw, ctx, method, app.aud.clone(), target.to_string(), false).await
}

/// Sends the browser to the IdP with a new authorization request, keeping the pending login in a
/// sealed cookie for the callback. `test` marks a login method test (no sign-in at the end).
pub(crate) async fn start_flow(
    gw: &Gateway,
    ctx: &RequestContext,
    method: &LoginMethod,
    aud: String,
    target: String,
    test: bool,
) -> Response<Body> {
    seal_and_redirect(gw, ctx, method, aud, target, test, false).await
}

/// Sends the browser to the IdP to sign in to the web admin UI; after the callback it returns to
/// `admin_path` (a path under `/admin`, with its query) holding only the global session.
pub(crate) async fn start_admin_flow(
    gw: &Gateway,
    ctx: &RequestContext,
    method: &LoginMethod,
    admin_path: &str,
) -> Response<Body> {
    let target = gw.team_url(admin_path);
    seal_and_redirect(gw, ctx, method, String::new(), target, false, true).await
}

async fn seal_and_redirect(
    gw: &Gateway,
    ctx: &RequestContext,
    method: &LoginMethod,
    aud: String,
    target: String,
    test: bool,
    admin: bool,
) -> Response<Body> {
    let callback = gw.team_url("/cdn-cgi/access/callback");
    let request = match method.provider.authorization_request(&callback).await {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(request_id = %ctx.request_id, idp = %method.name, %error, "cannot start login");
            return respond::failure(
                &Failure::IdentityProvider {
                    detail: error.to_string(),
                },
                true,
                &ctx.request_id,
            );
        }
    };
    let flow = LoginFlow {
        pending: request.pending,
        idp: method.id.0,
        aud,
        target,
        expires: gw.clock.now() + LOGIN_TTL,
        test,
        admin,
    };
    let sealed = match serde_json::to_vec(&flow)
        .map_err(|_| ())
        .and_then(|b| gw.sealer.seal(LOGIN_SEAL, &b).map_err(|_| ()))
    {
        Ok(s) => s,
        Err(()) => return respond::failure(&Failure::Internal, true, &ctx.request_id),
    };
    let mut cookie = format!(
        "{}={sealed}; Path=/cdn-cgi/access/callback; Max-Age={LOGIN_TTL}; HttpOnly; SameSite=Lax",
        login_cookie_name(&flow.pending.state)
    );
    if gw.server.is_https() {
        cookie.push_str("; Secure");
    }
    with_cookie(respond::redirect(request.url.as_str()), &cookie)
}

/// The identity kept with a session: what get-identity answers and what policies see again at
/// single sign-on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredIdentity {
    pub identity: Identity,
    pub ip: String,
    pub iat: i64,
}

fn present_claims(claims: &portcullis_oidc::IdTokenClaims) -> Vec<String> {
    let mut names: Vec<String> = claims.0.keys().cloned().collect();
    names.sort();
    names
}

async fn callback(
    gw: &Gateway,
    ctx: &RequestContext,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    let state = query_param(uri, "state").unwrap_or_default();
    let cookie_name = login_cookie_name(&state);
    let flow = cookies::first(headers, &cookie_name)
        .and_then(|sealed| gw.sealer.open(LOGIN_SEAL, sealed).ok())
        .and_then(|plain| serde_json::from_slice::<LoginFlow>(&plain).ok())
        .filter(|f| f.expires > gw.clock.now() && f.pending.state_matches(&state));
    let clear =
        format!("{cookie_name}=; Path=/cdn-cgi/access/callback; Max-Age=0; HttpOnly; SameSite=Lax");
    let Some(flow) = flow else {
        log_attempt(
            gw,
            ctx,
            None,
            None,
            None,
            None,
            false,
            Some("invalid or expired login state".into()),
        )
        .await;
        return with_cookie(
            respond::failure(&Failure::InvalidSession, true, &ctx.request_id),
            &clear,
        );
    };
    let snapshot = gw.snapshot.load();
    if flow.test {
        let Some(method) = snapshot.login_method(IdpId(flow.idp)).cloned() else {
            return with_cookie(
                respond::failure(&Failure::InvalidSession, true, &ctx.request_id),
                &clear,
            );
        };
        let resp = crate::idp_test::finish(gw, ctx, uri, &flow.pending, &method).await;
        return with_cookie(resp, &clear);
    }
    let app = snapshot.apps_by_aud.get(&flow.aud).cloned();
    let method = snapshot.login_method(IdpId(flow.idp)).cloned();
    let (app, Some(method)) = (app, method) else {
        return with_cookie(
            respond::failure(&Failure::InvalidSession, true, &ctx.request_id),
            &clear,
        );
    };
    if app.is_none() && !flow.admin {
        return with_cookie(
            respond::failure(&Failure::InvalidSession, true, &ctx.request_id),
            &clear,
        );
    }
    let resp = finish_login(gw, ctx, uri, &flow, app.as_ref(), &method).await;
    with_cookie(resp, &clear)
}

#[allow(clippy::too_many_arguments)]
async fn log_attempt(
    gw: &Gateway,
    ctx: &RequestContext,
    app: Option<&App>,
    method: Option<&LoginMethod>,
    email: Option<&str>,
    user_id: Option<Uuid>,
    allowed: bool,
    reason: Option<String>,
) {
    let record = AuthLogRecord {
        id: Uuid::new_v4(),
        ray_id: ctx.request_id.to_string(),
        created_at: gw.clock.now(),
        user_email: email.map(str::to_owned),
        user_id,
        ip_address: Some(ctx.client_ip.to_string()),
        app_uid: app.map(|a| a.id),
        app_domain: app.map(|a| a.domain.clone()),
        app_name: app.map(|a| a.name.clone()),
        connection: method.map(|m| m.kind().to_owned()).unwrap_or_default(),
        idp_id: method.map(|m| m.id.0),
        action: "login".into(),
        allowed,
        reason,
        country: ctx.country.clone(),
    };
    if let Err(error) = gw.store.insert_auth_log(&record).await {
        tracing::error!(request_id = %ctx.request_id, %error, "cannot write the authentication log");
    }
    tracing::info!(
        request_id = %ctx.request_id,
        app = app.map(|a| a.name.as_str()),
        user = email,
        allowed,
        reason = record.reason.as_deref(),
        "login attempt"
    );
}

/// Logs a login attempt that failed before an identity existed and answers with its page.
async fn refuse(
    gw: &Gateway,
    ctx: &RequestContext,
    app: Option<&Arc<App>>,
    method: &LoginMethod,
    reason: String,
    failure: Failure,
) -> Response<Body> {
    log_attempt(
        gw,
        ctx,
        app.map(|a| &**a),
        Some(method),
        None,
        None,
        false,
        Some(reason),
    )
    .await;
    respond::failure(&failure, true, &ctx.request_id)
}

async fn finish_login(
    gw: &Gateway,
    ctx: &RequestContext,
    uri: &http::Uri,
    flow: &LoginFlow,
    app: Option<&Arc<App>>,
    method: &LoginMethod,
) -> Response<Body> {
    if let Some(error) = query_param(uri, "error") {
        let description = query_param(uri, "error_description");
        log_attempt(
            gw,
            ctx,
            app.map(|a| &**a),
            Some(method),
            None,
            None,
            false,
            Some(format!("identity provider returned error `{error}`")),
        )
        .await;
        let f = Failure::IdentityProviderRefused { error, description };
        return respond::failure_with_link(
            &f,
            true,
            &ctx.request_id,
            Some((flow.target.clone(), "Try again".into())),
        );
    }
    let Some(code) = query_param(uri, "code") else {
        return respond::failure(
            &Failure::BadRequest("the callback has no `code`".into()),
            true,
            &ctx.request_id,
        );
    };
    let callback = gw.team_url("/cdn-cgi/access/callback");
    let claims = match method
        .provider
        .exchange_code(&code, &callback, &flow.pending, gw.clock.system_time())
        .await
    {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(request_id = %ctx.request_id, idp = %method.name, %error, "login failed at the identity provider step");
            return refuse(
                gw,
                ctx,
                app,
                method,
                error.to_string(),
                Failure::IdentityProvider {
                    detail: error.to_string(),
                },
            )
            .await;
        }
    };
    let mapped = match method.provider.map_identity(&claims) {
        Ok(m) => m,
        Err(OidcError::MissingEmail { tried, present }) => {
            return refuse(
                gw,
                ctx,
                app,
                method,
                format!("no email claim (tried {})", tried.join(", ")),
                Failure::MissingEmail { tried, present },
            )
            .await;
        }
        Err(error) => {
            return refuse(
                gw,
                ctx,
                app,
                method,
                error.to_string(),
                Failure::IdentityProvider {
                    detail: error.to_string(),
                },
            )
            .await;
        }
    };
    let email = match Email::parse(&mapped.email) {
        Ok(e) => e,
        Err(_) => {
            let reason = format!("claim `{}` is not an email address", mapped.email_claim);
            return refuse(
                gw,
                ctx,
                app,
                method,
                reason,
                Failure::MissingEmail {
                    tried: vec![mapped.email_claim.clone()],
                    present: present_claims(&claims),
                },
            )
            .await;
        }
    };
    let mut identity = Identity {
        email,
        name: mapped.name,
        subject: mapped.subject,
        groups: mapped.groups,
        oidc_fields: mapped.oidc_fields,
        amr: mapped.amr,
        idp_id: method.id,
        idp_type: method.kind().to_owned(),
    };
    if let Err(refusal) = crate::scim_sync::at_login(gw, method, &mut identity).await {
        let email = identity.email.as_str().to_owned();
        log_attempt(
            gw,
            ctx,
            app.map(|a| &**a),
            Some(method),
            Some(&email),
            None,
            false,
            Some(refusal.to_string()),
        )
        .await;
        let failure = match refusal {
            crate::scim_sync::Refusal::Deactivated => Failure::Deprovisioned,
            crate::scim_sync::Refusal::Store(error) => Failure::from_store(&error),
        };
        return respond::failure_branded(&failure, true, &ctx.request_id, None, &gw.branding);
    }
    let now = gw.clock.now();
    let stored = StoredIdentity {
        identity,
        ip: ctx.client_ip.to_string(),
        iat: now,
    };
    let stored_json = match serde_json::to_value(&stored) {
        Ok(v) => v,
        Err(_) => return respond::failure(&Failure::Internal, true, &ctx.request_id),
    };
    let user = match gw
        .store
        .record_login(&LoginRecord {
            email: stored.identity.email.as_str().to_owned(),
            name: stored.identity.name.clone(),
            idp_id: method.id.0,
            identity: stored_json.clone(),
            at: now,
            seat_limit: gw.organization.seat_limit,
        })
        .await
    {
        Ok(u) => u,
        Err(error) => {
            tracing::error!(request_id = %ctx.request_id, %error, "cannot record the login");
            return respond::failure(&Failure::from_store(&error), true, &ctx.request_id);
        }
    };
    let email = stored.identity.email.as_str();
    if let Some(until) = user.login_blocked_until.filter(|until| *until > now) {
        let reason = "an administrator revoked this user's sessions; signing in again is blocked for a minute".to_owned();
        log_attempt(
            gw,
            ctx,
            app.map(|a| &**a),
            Some(method),
            Some(email),
            Some(user.id),
            false,
            Some(reason),
        )
        .await;
        return respond::failure_branded(
            &Failure::RecentlyRevoked {
                retry_after: until - now,
            },
            true,
            &ctx.request_id,
            None,
            &gw.branding,
        );
    }
    if !user.seat {
        let reason = format!(
            "no seat left: all {} seats are taken",
            gw.organization.seat_limit.unwrap_or_default()
        );
        log_attempt(
            gw,
            ctx,
            app.map(|a| &**a),
            Some(method),
            Some(email),
            Some(user.id),
            false,
            Some(reason),
        )
        .await;
        return respond::failure_branded(
            &Failure::NoSeat,
            true,
            &ctx.request_id,
            None,
            &gw.branding,
        );
    }
    let Ok(session_id) = random_token::<12>() else {
        return respond::failure(&Failure::Internal, true, &ctx.request_id);
    };
    let expires_at = now + gw.server.session_duration.as_secs() as i64;
    let session = SessionRecord {
        id: session_id.clone(),
        user_id: user.id,
        idp_id: method.id.0,
        identity: stored_json,
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    if let Err(error) = gw.store.create_session(&session).await {
        tracing::error!(request_id = %ctx.request_id, %error, "cannot create the session");
        return respond::failure(&Failure::from_store(&error), true, &ctx.request_id);
    }
    let org = OrgClaims {
        aud: vec![gw.server.team_domain.clone()],
        email: stored.identity.email.as_str().to_owned(),
        exp: expires_at,
        iat: now,
        nbf: now,
        iss: gw.server.team_url.clone(),
        kind: TYPE_ORG.into(),
        identity_nonce: session_id.clone(),
        sub: user.id.to_string(),
        account_id: gw.account_id.clone(),
    };
    let org_token = match gw.keys.load().current().sign(&org) {
        Ok(t) => t,
        Err(_) => return respond::failure(&Failure::Internal, true, &ctx.request_id),
    };
    let org_cookie = cookies::set(
        AUTH_COOKIE,
        &org_token,
        expires_at - now,
        team_cookie_attrs(gw),
    );
    let Ok(target) = Url::parse(&flow.target) else {
        return respond::failure(&Failure::InvalidSession, true, &ctx.request_id);
    };
    let resp = match app {
        Some(app) => grant(gw, ctx, app, &target, stored, &session_id, user.id, "idp").await,
        // An admin UI sign-in: the UI itself decides, on every request, who is an administrator.
        None => {
            let email = stored.identity.email.as_str();
            log_attempt(
                gw,
                ctx,
                None,
                Some(method),
                Some(email),
                Some(user.id),
                true,
                None,
            )
            .await;
            respond::redirect(target.as_str())
        }
    };
    with_cookie(resp, &org_cookie)
}

/// Evaluates the app's policies for an identity and, when allowed, mints the app token and sends
/// the browser to the app domain's `authorized` endpoint.
#[allow(clippy::too_many_arguments)]
async fn grant(
    gw: &Gateway,
    ctx: &RequestContext,
    app: &App,
    target: &Url,
    stored: StoredIdentity,
    session_id: &str,
    user_id: Uuid,
    via: &str,
) -> Response<Body> {
    let snapshot = gw.snapshot.load();
    let method = snapshot.login_method(stored.identity.idp_id).cloned();
    let email = stored.identity.email.as_str().to_owned();
    let facts = Facts {
        identity: Some(&stored.identity),
        ip: Some(ctx.client_ip),
        country: ctx.country.as_deref(),
        service_token: None,
    };
    let evaluation = evaluate(&app.policies, &facts, &snapshot.catalog);
    if !evaluation.allowed() {
        let explanation = evaluation.to_string();
        tracing::info!(request_id = %ctx.request_id, app = %app.name, user = %email, via, explanation = %explanation, "access denied by policy");
        log_attempt(
            gw,
            ctx,
            Some(app),
            method.as_deref(),
            Some(&email),
            Some(user_id),
            false,
            Some(explanation),
        )
        .await;
        if !evaluation.denied_by_identity() {
            // Refused on the address, country or a service-token rule, not on who they are.
            if let Some(url) = &app.custom_non_identity_deny_url {
                return respond::redirect(url.as_str());
            }
            return respond::failure_branded(
                &Failure::Forbidden {
                    aud: app.aud.clone(),
                },
                true,
                &ctx.request_id,
                None,
                &gw.branding,
            );
        }
        if let Some(url) = &app.custom_deny_url {
            return respond::redirect(url.as_str());
        }
        return respond::failure_branded(
            &Failure::AccessDenied {
                message: app.custom_deny_message.clone(),
                email: Some(email),
            },
            true,
            &ctx.request_id,
            Some((
                gw.team_url("/cdn-cgi/access/logout"),
                "Sign out to use another account".into(),
            )),
            &gw.branding,
        );
    }
    // The policy that let the user in may shorten (or lengthen) the app session.
    let lifetime = evaluation
        .matched
        .and_then(|i| app.policies.get(i))
        .and_then(|p| p.session_duration_parsed().ok().flatten())
        .unwrap_or(app.session_duration);
    gw.identities
        .insert(session_id.to_owned(), Arc::new(stored.identity.clone()));
    let now = gw.clock.now();
    let custom = method
        .as_ref()
        .map(|m| {
            m.provider
                .config()
                .claims
                .iter()
                .filter_map(|c| {
                    stored
                        .identity
                        .oidc_fields
                        .get(c)
                        .map(|v| (c.clone(), v.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let claims = AppClaims {
        aud: vec![app.aud.clone()],
        email: email.clone(),
        exp: now + lifetime.as_secs() as i64,
        iat: now,
        nbf: now,
        iss: gw.server.team_url.clone(),
        kind: TYPE_APP.into(),
        identity_nonce: session_id.to_owned(),
        sub: user_id.to_string(),
        common_name: None,
        country: ctx.country.clone(),
        custom,
    };
    let token = match gw.keys.load().current().sign(&claims) {
        Ok(t) => t,
        Err(_) => return respond::failure(&Failure::Internal, true, &ctx.request_id),
    };
    log_attempt(
        gw,
        ctx,
        Some(app),
        method.as_deref(),
        Some(&email),
        Some(user_id),
        true,
        None,
    )
    .await;
    let host = target.host_str().unwrap_or_default();
    let authorized = format!(
        "{}/cdn-cgi/access/authorized?token={}&redirect_url={}",
        gw.server.url_for_host(host),
        encode(&token),
        encode(target.as_str())
    );
    respond::redirect(&authorized)
}

// ---------------------------------------------------------------------------------------------
// Application domains.

/// `/cdn-cgi/access/*` on an application domain. A host may carry several applications (by
/// path): `authorized` finds its application from `redirect_url`, the others from the token.
pub async fn app_endpoint(
    gw: Arc<Gateway>,
    ctx: RequestContext,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let html = respond::wants_html(req.headers());
    let header_token = proxy::strip_identity_headers(req.headers_mut());
    let rest = req.uri().path()[PREFIX.len()..].to_owned();
    let method = req.method().clone();
    let snapshot = gw.snapshot.load();
    let apps: Vec<Arc<App>> = snapshot
        .apps
        .iter()
        .filter(|(pattern, _)| pattern.matches_host(&ctx.host))
        .map(|(_, app)| app.clone())
        .collect();
    let session = || {
        apps.iter().find_map(|app| {
            proxy::authenticate(&gw, app, req.headers(), header_token.as_deref())
                .map(|v| (app.clone(), v))
        })
    };
    match (rest.as_str(), &method) {
        ("authorized", &Method::GET) => authorized(&gw, &ctx, req.uri()),
        ("get-identity", &Method::GET) => {
            let nonce = session().map(|(_, v)| v.claims.identity_nonce.clone());
            identity_response(&gw, &ctx, nonce).await
        }
        ("logout", &Method::GET | &Method::POST) => {
            let found = session();
            if let Some((_, verified)) = &found {
                revoke(&gw, &verified.claims.identity_nonce, verified.claims.exp).await;
            }
            let mut resp = respond::failure(&Failure::LoggedOut, true, &ctx.request_id);
            for app in &apps {
                resp = with_cookie(
                    resp,
                    &cookies::clear(AUTH_COOKIE, app_cookie_attrs(&gw, app)),
                );
                if app.enable_binding_cookie {
                    resp = with_cookie(
                        resp,
                        &cookies::clear(BINDING_COOKIE, binding_cookie_attrs(&gw, app)),
                    );
                }
            }
            resp
        }
        _ => respond::failure(&Failure::NotFound, html, &ctx.request_id),
    }
}

fn authorized(gw: &Gateway, ctx: &RequestContext, uri: &http::Uri) -> Response<Body> {
    let token = query_param(uri, "token").unwrap_or_default();
    let redirect_url = query_param(uri, "redirect_url");
    let (app, target) = match checked_target(gw, Some(&ctx.host), redirect_url.as_deref()) {
        Ok(found) => found,
        Err(_) => {
            return respond::failure(
                &Failure::BadRequest("redirect_url is not on this application".into()),
                true,
                &ctx.request_id,
            );
        }
    };
    let ring = gw.keys.load();
    let now = gw.clock.now();
    let verified = match gw.token_cache.verify_app(
        &ring,
        &token,
        &gw.server.team_url,
        (&app.aud, app.id),
        now,
        &gw.revoked,
    ) {
        Ok(c) => c,
        Err(error) => {
            tracing::info!(request_id = %ctx.request_id, app = %app.name, %error, "authorized endpoint refused a token");
            return respond::failure_with_link(
                &Failure::InvalidSession,
                true,
                &ctx.request_id,
                Some((target.to_string(), "Sign in again".into())),
            );
        }
    };
    let max_age = verified.claims.exp - now;
    let cookie = cookies::set(AUTH_COOKIE, &token, max_age, app_cookie_attrs(gw, &app));
    let resp = with_cookie(respond::redirect(target.as_str()), &cookie);
    if app.enable_binding_cookie {
        let binding = crate::enforce::binding_value(gw, &token);
        return with_cookie(
            resp,
            &cookies::set(
                BINDING_COOKIE,
                &binding,
                max_age,
                binding_cookie_attrs(gw, &app),
            ),
        );
    }
    resp
}

async fn revoke(gw: &Gateway, session_id: &str, token_exp: i64) {
    let expires_at = match gw.store.get_session(session_id).await {
        Ok(Some(s)) => s.expires_at.max(token_exp),
        _ => token_exp,
    };
    gw.revoked.insert(session_id.to_owned(), expires_at);
    if let Err(error) = gw.store.revoke_session(session_id, gw.clock.now()).await {
        tracing::error!(%error, "cannot record the session revocation");
    }
}

/// Cloudflare's get-identity document for a session.
async fn identity_response(
    gw: &Gateway,
    ctx: &RequestContext,
    session: Option<String>,
) -> Response<Body> {
    let Some(session_id) = session else {
        return respond::failure(&Failure::Unauthenticated, false, &ctx.request_id);
    };
    let record = match gw.store.get_session(&session_id).await {
        Ok(Some(r)) if r.revoked_at.is_none() => r,
        Ok(_) => return respond::failure(&Failure::Unauthenticated, false, &ctx.request_id),
        Err(error) => {
            tracing::error!(request_id = %ctx.request_id, %error, "session lookup failed");
            return respond::failure(&Failure::from_store(&error), false, &ctx.request_id);
        }
    };
    let Ok(stored) = serde_json::from_value::<StoredIdentity>(record.identity) else {
        return respond::failure(&Failure::Internal, false, &ctx.request_id);
    };
    let body = identity_document(&stored, &gw.account_id, record.user_id);
    respond::json(StatusCode::OK, &body, &ctx.request_id)
}

/// The identity in Cloudflare's `get-identity` shape.
pub fn identity_document(stored: &StoredIdentity, account_id: &str, user_id: Uuid) -> Value {
    let i = &stored.identity;
    json!({
        "id": i.subject,
        "name": i.name.clone().unwrap_or_default(),
        "email": i.email.as_str(),
        "amr": i.amr,
        "oidc_fields": i.oidc_fields,
        "groups": i.groups.iter().map(|g| json!({"id": g, "name": g})).collect::<Vec<_>>(),
        "idp": {"id": i.idp_id.0, "type": i.idp_type},
        "geo": {"country": ""},
        "user_uuid": user_id,
        "account_id": account_id,
        "iat": stored.iat,
        "ip": stored.ip,
        "auth_status": "NONE",
        "common_name": "",
        "service_token_id": "",
        "service_token_status": false,
        "is_warp": false,
        "is_gateway": false,
        "version": 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_cookie_names_are_cookie_safe() {
        let n = login_cookie_name("ab-_cd;=, ef0123456789xyzXYZ");
        assert!(n.starts_with(LOGIN_COOKIE_PREFIX));
        assert!(
            n[LOGIN_COOKIE_PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_eq!(n.len(), LOGIN_COOKIE_PREFIX.len() + 16);
    }
}
