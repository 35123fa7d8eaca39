//! The data plane for application domains: a request meets these phases in order, each one
//! function below.
//!
//! 1. [`strip_identity_headers`] — drop every client-supplied `Cf-Access-*` header (after taking
//!    the `cf-access-token` value) so nobody can pose as an authenticated user to the origin.
//! 2. [`authenticate`] — find a valid application token (cookie `CF_Authorization` or header
//!    `cf-access-token`): cached signature check, issuer, type, audience, expiry, revocation.
//!    No database access.
//! 3. [`crate::enforce::admit`] — a valid token still needs its binding cookie (when the app
//!    asks for one) and, when the app's policies look at the request (IP, country, service
//!    token), to pass them again for this request.
//! 4. [`crate::enforce::without_token`] — no usable token: Bypass and Service Auth policies
//!    (service tokens) may let the request in, non-identity rules may refuse it; otherwise
//!    [`unauthenticated`]: browsers are redirected to the team domain login, other clients get
//!    401.
//! 5. [`forward`] — send the request to the origin with `Cf-Access-Jwt-Assertion` and
//!    `Cf-Access-Authenticated-User-Email` (none for Bypass), minus the binding cookie, over a
//!    keep-alive pool; stream both bodies; hand WebSocket (and other) upgrades over to a byte
//!    pipe.
//!
//! CORS preflight requests are settled before phase 2 ([`crate::cors`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::cookies;
use crate::gateway::{App, Gateway};
use crate::request_id::RequestId;
use crate::respond::{self, Failure};
use crate::tokens::VerifiedApp;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Keep-alive connection pools to origins (HTTP and HTTPS).
pub struct OriginClient {
    client: Client<Connector, Incoming>,
}

impl OriginClient {
    pub fn new() -> OriginClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_platform_verifier()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        OriginClient { client }
    }
}

impl Default for OriginClient {
    fn default() -> Self {
        Self::new()
    }
}

/// The origin URI of a request: the app's origin, its base path, then the request's path and
/// query. Without a base path the request's path is reused as it is (no copy).
fn origin_uri(app: &App, uri: &Uri) -> Option<Uri> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(app.origin_scheme.clone());
    parts.authority = Some(app.origin_authority.clone());
    let request_pq = uri.path_and_query().cloned();
    parts.path_and_query = match (app.origin_base.is_empty(), request_pq) {
        (true, Some(pq)) => Some(pq),
        (_, pq) => {
            let pq = pq.as_ref().map(|p| p.as_str()).unwrap_or("/");
            Some(format!("{}{pq}", app.origin_base).parse().ok()?)
        }
    };
    Uri::from_parts(parts).ok()
}

/// Per-request facts the phases share.
pub struct RequestContext {
    pub request_id: RequestId,
    pub peer: SocketAddr,
    /// The peer address as a header value (made once per connection), for `X-Forwarded-For`.
    pub peer_ip: HeaderValue,
    pub host: String,
    /// The client's address for rules and logs (the peer, or behind trusted proxies the
    /// forwarded address).
    pub client_ip: IpAddr,
    /// The client's country from the trusted header, upper-case.
    pub country: Option<String>,
}

const CF_ACCESS_PREFIX: &str = "cf-access-";
const TOKEN_HEADER: &str = "cf-access-token";
const JWT_ASSERTION: HeaderName = HeaderName::from_static("cf-access-jwt-assertion");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const USER_EMAIL: HeaderName = HeaderName::from_static("cf-access-authenticated-user-email");

/// Phase 1. Removes every `Cf-Access-*` header; returns the `cf-access-token` value, if any.
pub fn strip_identity_headers(headers: &mut HeaderMap) -> Option<String> {
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(CF_ACCESS_PREFIX))
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
    }
    token
}

/// Phase 2. The first presented token that is valid for `app`, with the token text.
pub fn authenticate(
    gw: &Gateway,
    app: &App,
    headers: &HeaderMap,
    header_token: Option<&str>,
) -> Option<Arc<VerifiedApp>> {
    let ring = gw.keys.load();
    let now = gw.clock.now();
    let candidates = header_token
        .into_iter()
        .chain(cookies::values(headers, cookies::AUTH_COOKIE));
    for token in candidates {
        match gw.token_cache.verify_app(
            &ring,
            token,
            &gw.server.team_url,
            (&app.aud, app.id),
            now,
            &gw.revoked,
        ) {
            Ok(verified) => return Some(verified),
            Err(error) => tracing::debug!(%error, app = %app.name, "token refused"),
        }
    }
    None
}

/// Whether a request comes from a browser that can follow a login redirect.
pub fn is_browser_navigation(method: &Method, headers: &HeaderMap) -> bool {
    let xhr = headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("xmlhttprequest"));
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    (method == Method::GET || method == Method::HEAD) && html && !xhr
}

/// The URL the browser asked for, as it sees it.
pub fn public_url(gw: &Gateway, host: &str, uri: &Uri) -> String {
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{}{pq}", gw.server.url_for_host(host))
}

/// Phase 3. Redirect browsers to the login; refuse everything else with 401.
pub fn unauthenticated(
    gw: &Gateway,
    ctx: &RequestContext,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    if is_browser_navigation(method, headers) {
        let target = public_url(gw, &ctx.host, uri);
        let login = gw.team_url(&format!(
            "/cdn-cgi/access/login/{}?redirect_url={}",
            ctx.host,
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        ));
        return respond::redirect(&login);
    }
    respond::failure(
        &Failure::Unauthenticated,
        respond::wants_html(headers),
        &ctx.request_id,
    )
}

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        remove_connection_listed(headers);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Headers named in `Connection` are hop-by-hop too.
fn remove_connection_listed(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
}

fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    if connection_upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Phase 4. Sends the request to the app's origin and streams the answer back.
pub async fn forward(
    gw: &Gateway,
    app: &App,
    ctx: &RequestContext,
    mut req: Request<Incoming>,
    verified: Option<&VerifiedApp>,
) -> Response<Body> {
    let upgrade = upgrade_protocol(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    let Some(uri) = origin_uri(app, &parts.uri) else {
        return respond::failure(
            &Failure::BadRequest("request target".into()),
            respond::wants_html(&parts.headers),
            &ctx.request_id,
        );
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let headers = &mut parts.headers;
    remove_hop_by_hop(headers);
    if let Some(proto) = &upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, proto.clone());
    }
    // HTTP/2 requests carry the host in `:authority` only; origins expect `Host`.
    if !headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&ctx.host)
    {
        headers.insert(header::HOST, host);
    }
    let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) => HeaderValue::from_str(&format!("{prev}, {}", ctx.peer.ip())).ok(),
        None => Some(ctx.peer_ip.clone()),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    let proto = if gw.server.is_https() {
        "https"
    } else {
        "http"
    };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(verified) = verified {
        headers.insert(JWT_ASSERTION, verified.assertion.clone());
        if !verified.claims.email.is_empty() {
            headers.insert(USER_EMAIL, verified.email.clone());
        }
    }
    if app.enable_binding_cookie {
        crate::cookies::remove(headers, crate::cookies::BINDING_COOKIE);
    }

    let response = match gw
        .origins
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(request_id = %ctx.request_id, app = %app.name, %error, "origin unreachable");
            return respond::failure(&Failure::OriginUnreachable, true, &ctx.request_id);
        }
    };

    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let (parts, body) = response.into_parts();
        let mut origin_response = Response::from_parts(parts.clone(), body);
        let origin_upgrade = hyper::upgrade::on(&mut origin_response);
        let request_id = ctx.request_id;
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, origin_upgrade) {
                Ok((client, origin)) => {
                    let mut client = TokioIo::new(client);
                    let mut origin = TokioIo::new(origin);
                    if let Err(error) =
                        tokio::io::copy_bidirectional(&mut client, &mut origin).await
                    {
                        tracing::debug!(%request_id, %error, "upgraded connection ended");
                    }
                }
                Err(error) => tracing::debug!(%request_id, %error, "upgrade failed"),
            }
        });
        return Response::from_parts(parts, Body::empty());
    }

    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_every_cf_access_header_and_keeps_the_token() {
        let mut h = HeaderMap::new();
        h.insert(
            "cf-access-authenticated-user-email",
            HeaderValue::from_static("ceo@example.com"),
        );
        h.insert(
            "Cf-Access-Jwt-Assertion",
            HeaderValue::from_static("forged"),
        );
        h.insert("cf-access-token", HeaderValue::from_static("a.b.c"));
        h.insert("cf-access-client-id", HeaderValue::from_static("x"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        assert_eq!(strip_identity_headers(&mut h).as_deref(), Some("a.b.c"));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn browser_detection() {
        let mut h = HeaderMap::new();
        h.insert(
            "accept",
            HeaderValue::from_static("text/html,application/xhtml+xml"),
        );
        assert!(is_browser_navigation(&Method::GET, &h));
        assert!(!is_browser_navigation(&Method::POST, &h));
        h.insert(
            "x-requested-with",
            HeaderValue::from_static("XMLHttpRequest"),
        );
        assert!(!is_browser_navigation(&Method::GET, &h));
        assert!(!is_browser_navigation(&Method::GET, &HeaderMap::new()));
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
