//! Listeners (plain HTTP and TLS through rustls, HTTP/1.1 and HTTP/2 on both) and the first
//! routing step: by host, to the team domain, an application, or a "no such application" page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::access;
use crate::cors::Preflight;
use crate::enforce::Admission;
use crate::gateway::Gateway;
use crate::proxy::{self, RequestContext};
use crate::request_id::RequestId;
use crate::respond::{self, Failure};

/// Builds the TLS acceptor from PEM files (certificate chain and private key).
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, String> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| format!("{}: {e}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE block found", cert.display()));
    }
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).map_err(|e| format!("{}: {e}", key.display()))?,
    ))
    .map_err(|e| format!("{}: {e}", key.display()))?
    .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(64 * 1024);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(64 * 1024)
        .max_concurrent_streams(256);
    b
}

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The team domain and the applications.
    Public,
    /// The admin API alone (`server.admin_listen`), whatever the Host header says.
    Admin,
}

/// Accepts connections until the listener fails; each connection is served on its own task.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    role: Role,
) -> std::io::Result<()> {
    let builder = Arc::new(builder());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let peer_ip = HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
            let service =
                service_fn(move |req| handle(gw.clone(), role, peer, peer_ip.clone(), req));
            let result = match tls {
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                    Err(error) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                },
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

/// The request's host, lower-case, without port.
fn request_host(req: &Request<Incoming>) -> Option<String> {
    let raw = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))?;
    let host = match raw.rfind(':') {
        Some(i) if !raw[i..].contains(']') => &raw[..i],
        _ => raw,
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

fn normalize_request_path(req: &mut Request<Incoming>) -> Result<(), Failure> {
    let path = req.uri().path();
    let normal = portcullis_core::normalize_path(path);
    if normal == path {
        return Ok(());
    }
    let rebuilt = match req.uri().query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal.into_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        rebuilt
            .parse()
            .map_err(|_| Failure::BadRequest("request path".into()))?,
    );
    *req.uri_mut() =
        http::Uri::from_parts(parts).map_err(|_| Failure::BadRequest("request path".into()))?;
    Ok(())
}

/// One request, from the first byte to the response head.
async fn handle(
    gw: Arc<Gateway>,
    role: Role,
    peer: SocketAddr,
    peer_ip: HeaderValue,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let request_id = RequestId::next();
    let Some(host) = request_host(&req) else {
        return Ok(respond::failure(
            &Failure::BadRequest("the Host header is missing".into()),
            false,
            &request_id,
        ));
    };
    let (client_ip, country) = crate::enforce::client_facts(&gw, peer, req.headers());
    let ctx = RequestContext {
        request_id,
        peer,
        peer_ip,
        host,
        client_ip,
        country,
    };
    if role == Role::Admin {
        if crate::admin_api::is_api_path(req.uri().path()) {
            return Ok(crate::admin_api::handle(&gw, &ctx, req).await);
        }
        return Ok(respond::failure(&Failure::NotFound, false, &ctx.request_id));
    }
    if ctx.host == gw.server.team_domain {
        if crate::scim_api::is_scim_path(req.uri().path()) {
            return Ok(crate::scim_api::handle(gw, ctx, req).await);
        }
        // With a separate admin listener, the team domain does not answer the admin API.
        if gw.server.admin_listen.is_none() && crate::admin_api::is_api_path(req.uri().path()) {
            return Ok(crate::admin_api::handle(&gw, &ctx, req).await);
        }
        if crate::admin_ui::is_admin_path(req.uri().path()) {
            return Ok(crate::admin_ui::handle(&gw, &ctx, req).await);
        }
        return Ok(access::team(gw, ctx, req).await);
    }
    // Route and forward one spelling of the path, so `/public/../admin` cannot be judged by
    // the public app's policy and then reach the admin page.
    if let Err(failure) = normalize_request_path(&mut req) {
        return Ok(respond::failure(
            &failure,
            respond::wants_html(req.headers()),
            &ctx.request_id,
        ));
    }
    if access::is_access_path(req.uri().path()) && gw.snapshot.load().apps.covers_host(&ctx.host) {
        return Ok(access::app_endpoint(gw, ctx, req).await);
    }
    let app = gw
        .snapshot
        .load()
        .apps
        .route(&ctx.host, req.uri().path())
        .cloned();
    let Some(app) = app else {
        let html = respond::wants_html(req.headers());
        return Ok(respond::failure(
            &Failure::NoApplication {
                host: ctx.host.clone(),
            },
            html,
            &ctx.request_id,
        ));
    };
    let credentials = crate::enforce::take_credentials(req.headers_mut(), &app);
    let header_token = proxy::strip_identity_headers(req.headers_mut());
    match crate::cors::preflight(&app, req.method(), req.headers()) {
        Preflight::NotHandled => {}
        Preflight::Forward => return Ok(proxy::forward(&gw, &app, &ctx, req, None).await),
        Preflight::Answer(resp) => return Ok(resp),
    }
    let request_origin = app
        .cors
        .as_ref()
        .and_then(|_| req.headers().get(http::header::ORIGIN).cloned());
    let mut resp = match proxy::authenticate(&gw, &app, req.headers(), header_token.as_deref()) {
        Some(verified) => {
            match crate::enforce::admit(&gw, &app, &ctx, req.headers(), &verified).await {
                Admission::Admit => proxy::forward(&gw, &app, &ctx, req, Some(&verified)).await,
                Admission::Refuse(resp) => resp,
                Admission::AsIfNoToken => {
                    crate::enforce::without_token(&gw, &app, &ctx, req, credentials).await
                }
            }
        }
        None => crate::enforce::without_token(&gw, &app, &ctx, req, credentials).await,
    };
    crate::cors::decorate(&app, request_origin.as_ref(), &mut resp);
    Ok(resp)
}
