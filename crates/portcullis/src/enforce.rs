//! The policy decisions made on every request to an application, as opposed to at sign-in
//! (`access`): the client facts non-identity rules look at, what a request with a valid token
//! must still pass ([`admit`]), and what happens to a request without one ([`without_token`]):
//! Bypass, Service Auth with a service token, a non-identity denial, or the login.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use portcullis_core::{Evaluation, Facts, Identity, Outcome, decide, evaluate};
use portcullis_store::AuthLogRecord;
use uuid::Uuid;

use crate::access::StoredIdentity;
use crate::cookies::{self, BINDING_COOKIE};
use crate::gateway::{App, Gateway};
use crate::proxy::{self, RequestContext};
use crate::respond::{self, Failure};
use crate::service_tokens::{self, Authenticated};
use crate::tokens::{AppClaims, TYPE_APP, VerifiedApp};

/// The client's address and country as non-identity rules and logs see them.
///
/// The address is the connection's peer, unless the peer is a trusted proxy: then the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. The country comes only from the
/// configured header, as two ASCII letters, and (when `trusted_proxies` is set) only when a
/// trusted proxy sent the request.
pub fn client_facts(
    gw: &Gateway,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> (IpAddr, Option<String>) {
    let trusted = &gw.server.trusted_proxies;
    let mut ip = peer.ip();
    if !trusted.is_empty() && trusted.iter().any(|r| r.contains(ip)) {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            let Ok(addr) = hop.parse::<IpAddr>() else {
                break;
            };
            ip = addr;
            if !trusted.iter().any(|r| r.contains(addr)) {
                break;
            }
        }
    }
    // The country header is believed only from where it can be trusted: any peer when no
    // proxies are listed (the operator put a proxy in front that sets it), otherwise only a
    // listed proxy, so a client talking to the gateway directly cannot choose its country.
    let peer_trusted = trusted.is_empty() || trusted.iter().any(|r| r.contains(peer.ip()));
    let country = gw
        .server
        .country_header
        .as_ref()
        .filter(|_| peer_trusted)
        .and_then(|name| {
            let v = headers.get(name)?.to_str().ok()?.trim();
            (v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()))
                .then(|| v.to_ascii_uppercase())
        });
    (ip, country)
}

fn facts<'a>(ctx: &'a RequestContext, identity: Option<&'a Identity>) -> Facts<'a> {
    Facts {
        identity,
        ip: Some(ctx.client_ip),
        country: ctx.country.as_deref(),
        service_token: None,
    }
}

/// The binding cookie value for an app token: an HMAC of the token under the gateway's binding
/// key, so it cannot be derived from the token and needs no storage.
pub fn binding_value(gw: &Gateway, token: &str) -> String {
    let tag = aws_lc_rs::hmac::sign(&gw.binding_key, token.as_bytes());
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

fn binding_ok(gw: &Gateway, headers: &HeaderMap, token: &str) -> bool {
    cookies::values(headers, BINDING_COOKIE).any(|presented| {
        URL_SAFE_NO_PAD.decode(presented).is_ok_and(|tag| {
            aws_lc_rs::hmac::verify(&gw.binding_key, token.as_bytes(), &tag).is_ok()
        })
    })
}

/// What a request with a valid application token is allowed to do.
pub enum Admission {
    /// Forward it with the token's identity.
    Admit,
    /// The token does not count (a service-token token on an app without Allow policies): treat
    /// the request as if it had none.
    AsIfNoToken,
    /// Refuse it with this response.
    Refuse(Response<Body>),
}

/// The identity behind a session: from this node's cache, else once from the store.
async fn session_identity(gw: &Gateway, session: &str) -> Option<Arc<Identity>> {
    if let Some(identity) = gw.identities.get(session) {
        return Some(identity);
    }
    let record = gw.store.get_session(session).await.ok().flatten()?;
    if record.revoked_at.is_some() {
        return None;
    }
    let stored: StoredIdentity = serde_json::from_value(record.identity).ok()?;
    let identity = Arc::new(stored.identity);
    gw.identities.insert(session.to_owned(), identity.clone());
    Some(identity)
}

/// Checks what a valid token does not settle by itself: the binding cookie, whether a token
/// minted from a service token may be reused, and, when the app's policies look at the request
/// (IP, country, service token), those policies again for this request.
pub async fn admit(
    gw: &Gateway,
    app: &App,
    ctx: &RequestContext,
    headers: &HeaderMap,
    verified: &VerifiedApp,
) -> Admission {
    if app.enable_binding_cookie && !binding_ok(gw, headers, verified.token()) {
        tracing::debug!(request_id = %ctx.request_id, app = %app.name, "token without its binding cookie");
        return Admission::AsIfNoToken;
    }
    let claims = &verified.claims;
    if let Some(client_id) = &claims.common_name {
        // Cloudflare: the token from a service token is reusable only when the app has an Allow
        // policy; otherwise the credentials go with every request.
        if !app.has_allow_policy {
            return Admission::AsIfNoToken;
        }
        let Some(token_id) = gw.service_tokens.active_id(client_id, gw.clock.now()) else {
            return Admission::AsIfNoToken;
        };
        let mut f = facts(ctx, None);
        f.service_token = Some(token_id);
        let catalog = gw.snapshot.load().catalog.clone();
        // The verdict alone on the hot path; the explanation only for a refusal.
        return match decide(&app.policies, &f, &catalog).outcome {
            Outcome::ServiceAuth | Outcome::Bypass => Admission::Admit,
            _ => {
                let evaluation = evaluate(&app.policies, &f, &catalog);
                Admission::Refuse(
                    non_identity_denied(gw, app, ctx, headers, None, &evaluation).await,
                )
            }
        };
    }
    if !app.has_request_rules {
        return Admission::Admit;
    }
    let Some(identity) = session_identity(gw, &claims.identity_nonce).await else {
        return Admission::AsIfNoToken;
    };
    let f = facts(ctx, Some(&identity));
    let catalog = gw.snapshot.load().catalog.clone();
    if decide(&app.policies, &f, &catalog).outcome.allowed() {
        return Admission::Admit;
    }
    let evaluation = evaluate(&app.policies, &f, &catalog);
    Admission::Refuse(
        non_identity_denied(gw, app, ctx, headers, Some(&claims.email), &evaluation).await,
    )
}

/// A request without a usable token: Bypass and Service Auth policies may let it in before
/// anyone signs in, non-identity rules may refuse it outright; otherwise it goes to the login.
pub async fn without_token(
    gw: &Gateway,
    app: &Arc<App>,
    ctx: &RequestContext,
    req: Request<Incoming>,
    credentials: Option<(String, String)>,
) -> Response<Body> {
    if !app.decides_before_login {
        return login_or_401(gw, app, ctx, &req);
    }
    let now = gw.clock.now();
    let mut service: Option<Authenticated> = None;
    if let Some((client_id, secret)) = &credentials {
        match gw.service_tokens.verify(client_id, secret, now) {
            Ok(authenticated) => service = Some(authenticated),
            Err(refusal) => {
                log_decision(
                    gw,
                    ctx,
                    app,
                    None,
                    Some(client_id),
                    false,
                    refusal.to_string(),
                )
                .await;
            }
        }
    }
    let mut f = facts(ctx, None);
    f.service_token = service.as_ref().map(|s| s.id);
    let catalog = gw.snapshot.load().catalog.clone();
    // Every request of a Bypass or Service Auth app comes through here: the verdict alone (no
    // explanation strings) unless something is logged.
    let verdict = decide(&app.policies, &f, &catalog);
    match verdict.outcome {
        // Bypass: no Access at all, and (as Cloudflare does) nothing logged.
        Outcome::Bypass => proxy::forward(gw, app, ctx, req, None).await,
        Outcome::ServiceAuth => match service {
            Some(service) => service_auth(gw, app, ctx, req, &service, verdict.matched, &f).await,
            // A Service Auth policy on non-identity rules alone (e.g. an address range): no
            // credential was presented, so there is no authentication to log per request.
            None => proxy::forward(gw, app, ctx, req, None).await,
        },
        // Nothing let the request in and the app takes service tokens: ask for credentials (or
        // a login) rather than showing a refusal that a credential would have avoided.
        Outcome::DefaultDeny if app.has_service_auth => login_or_401(gw, app, ctx, &req),
        Outcome::Deny | Outcome::DefaultDeny => {
            let evaluation = evaluate(&app.policies, &f, &catalog);
            let client_id = service.as_ref().map(|s| s.client_id.as_str());
            non_identity_denied(gw, app, ctx, req.headers(), client_id, &evaluation).await
        }
        Outcome::Allow | Outcome::NeedsIdentity => login_or_401(gw, app, ctx, &req),
    }
}

fn login_or_401(
    gw: &Gateway,
    app: &App,
    ctx: &RequestContext,
    req: &Request<Incoming>,
) -> Response<Body> {
    if app.service_auth_401_redirect {
        return respond::failure(
            &Failure::Unauthenticated,
            respond::wants_html(req.headers()),
            &ctx.request_id,
        );
    }
    proxy::unauthenticated(gw, ctx, req.method(), req.uri(), req.headers())
}

/// Lets a request in on a service token: mints (or reuses) the app token for it, forwards with
/// it, and hands it to the client as a cookie when the app allows reusing it.
async fn service_auth(
    gw: &Gateway,
    app: &App,
    ctx: &RequestContext,
    req: Request<Incoming>,
    service: &Authenticated,
    matched: Option<usize>,
    facts: &Facts<'_>,
) -> Response<Body> {
    let (verified, minted) = match service_assertion(gw, app, service, matched) {
        Ok(v) => v,
        Err(error) => {
            tracing::error!(request_id = %ctx.request_id, %error, "cannot sign a service token assertion");
            return respond::failure(&Failure::Internal, false, &ctx.request_id);
        }
    };
    // An authentication event is the issuance of a token, not every request that re-presents the
    // credentials (clients of Service-Auth-only apps send them each time).
    if minted {
        let explanation = evaluate(&app.policies, facts, &gw.snapshot.load().catalog).to_string();
        log_decision(
            gw,
            ctx,
            app,
            None,
            Some(&service.client_id),
            true,
            explanation,
        )
        .await;
    }
    let now = gw.clock.now();
    let mut resp = proxy::forward(gw, app, ctx, req, Some(&verified)).await;
    if app.has_allow_policy {
        let attrs = crate::access::app_cookie_attrs(gw, app);
        let max_age = verified.claims.exp - now;
        let mut set = vec![cookies::set(
            cookies::AUTH_COOKIE,
            verified.token(),
            max_age,
            attrs,
        )];
        if app.enable_binding_cookie {
            set.push(cookies::set(
                BINDING_COOKIE,
                &binding_value(gw, verified.token()),
                max_age,
                crate::access::binding_cookie_attrs(gw, app),
            ));
        }
        for c in set {
            if let Ok(v) = http::HeaderValue::from_str(&c) {
                resp.headers_mut().append(http::header::SET_COOKIE, v);
            }
        }
    }
    resp
}

/// The app token for a service token, re-signed only when the cached one nears its expiry
/// (signing costs far more than a lookup, and headers-only clients call on every request).
/// Also says whether it was minted now.
fn service_assertion(
    gw: &Gateway,
    app: &App,
    service: &Authenticated,
    matched: Option<usize>,
) -> Result<(Arc<VerifiedApp>, bool), String> {
    let now = gw.clock.now();
    let key = (app.id, service.id.0);
    if let Some(cached) = gw.service_assertions.get(&key)
        && cached.claims.exp - now > 60
        && gw
            .revoked
            .app_revoked_at(app.id)
            .is_none_or(|at| cached.claims.iat > at)
    {
        return Ok((cached, false));
    }
    let lifetime = matched
        .and_then(|i| app.policies.get(i))
        .and_then(|p| p.session_duration_parsed().ok().flatten())
        .unwrap_or(app.session_duration);
    let claims = AppClaims {
        aud: vec![app.aud.clone()],
        email: String::new(),
        exp: now + lifetime.as_secs().max(60) as i64,
        iat: now,
        nbf: now,
        iss: gw.server.team_url.clone(),
        kind: TYPE_APP.into(),
        identity_nonce: String::new(),
        sub: String::new(),
        common_name: Some(service.client_id.clone()),
        country: None,
        custom: Default::default(),
    };
    let token = gw
        .keys
        .load()
        .current()
        .sign(&claims)
        .map_err(|e| e.to_string())?;
    let verified = Arc::new(VerifiedApp::new(&token, claims).map_err(|e| e.to_string())?);
    gw.service_assertions.insert(key, verified.clone());
    Ok((verified, true))
}

/// Refuses a request on a non-identity rule (address, country, service token): the app's
/// redirect, or the 403 page / Cloudflare's JSON body.
async fn non_identity_denied(
    gw: &Gateway,
    app: &App,
    ctx: &RequestContext,
    headers: &HeaderMap,
    who: Option<&str>,
    evaluation: &Evaluation,
) -> Response<Body> {
    let explanation = evaluation.to_string();
    log_decision(gw, ctx, app, who, None, false, explanation).await;
    if let Some(url) = &app.custom_non_identity_deny_url {
        return respond::redirect(url.as_str());
    }
    respond::failure_branded(
        &Failure::Forbidden {
            aud: app.aud.clone(),
        },
        respond::wants_html(headers),
        &ctx.request_id,
        None,
        &gw.branding,
    )
}

/// Writes one authentication log row for a decision taken on a request (service token, or a
/// non-identity rule), with the policy explanation as the reason.
async fn log_decision(
    gw: &Gateway,
    ctx: &RequestContext,
    app: &App,
    email: Option<&str>,
    service_client_id: Option<&str>,
    allowed: bool,
    reason: String,
) {
    let record = AuthLogRecord {
        id: Uuid::new_v4(),
        ray_id: ctx.request_id.to_string(),
        created_at: gw.clock.now(),
        user_email: email.map(str::to_owned),
        user_id: None,
        ip_address: Some(ctx.client_ip.to_string()),
        app_uid: Some(app.id),
        app_domain: Some(app.domain.clone()),
        app_name: Some(app.name.clone()),
        connection: if service_client_id.is_some() {
            "service_token".into()
        } else {
            "non_identity".into()
        },
        idp_id: None,
        action: "login".into(),
        allowed,
        reason: Some(match service_client_id {
            Some(id) => format!("service token {id}: {reason}"),
            None => reason,
        }),
        country: ctx.country.clone(),
    };
    tracing::info!(
        request_id = %ctx.request_id,
        app = %app.name,
        allowed,
        service_token = service_client_id,
        "request decision"
    );
    // Written in the background: the request does not wait for the database.
    let store = gw.store.clone();
    let request_id = ctx.request_id;
    tokio::spawn(async move {
        if let Err(error) = store.insert_auth_log(&record).await {
            tracing::error!(%request_id, %error, "cannot write the authentication log");
        }
    });
}

/// Takes the service-token credentials out of the request (they must not reach the origin).
pub fn take_credentials(headers: &mut HeaderMap, app: &App) -> Option<(String, String)> {
    let found = service_tokens::presented(headers, app.read_service_tokens_from_header.as_ref());
    if found.is_some()
        && let Some(name) = &app.read_service_tokens_from_header
    {
        headers.remove(name);
    }
    found
}
