//! CORS for protected applications: browsers send preflight `OPTIONS` requests without cookies,
//! so the gateway either lets them through to the origin (`options_preflight_bypass`) or answers
//! them itself from the application's `cors_headers`; without either they are refused like any
//! unauthenticated request. Answers to real requests get the allow-origin headers too.

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};

use crate::config::CorsConfig;
use crate::gateway::App;

/// What to do with a preflight request.
pub enum Preflight {
    /// Not a preflight, or the application does nothing special with it.
    NotHandled,
    /// Forward it to the origin without authentication.
    Forward,
    /// Answer it here.
    Answer(Response<Body>),
}

fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Decides how a request that may be a preflight is handled.
pub fn preflight(app: &App, method: &Method, headers: &HeaderMap) -> Preflight {
    if !is_preflight(method, headers) {
        return Preflight::NotHandled;
    }
    if app.options_preflight_bypass {
        return Preflight::Forward;
    }
    match &app.cors {
        Some(cors) => Preflight::Answer(answer(cors, headers)),
        None => Preflight::NotHandled,
    }
}

fn answer(cors: &CorsConfig, headers: &HeaderMap) -> Response<Body> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut resp = Response::new(Body::empty());
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    if !cors.allows_origin(origin) {
        *resp.status_mut() = StatusCode::FORBIDDEN;
        return resp;
    }
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    allow_origin(cors, origin, h);
    let methods = if cors.allow_all_methods {
        headers.get(header::ACCESS_CONTROL_REQUEST_METHOD).cloned()
    } else {
        let list: Vec<&str> = cors.allowed_methods.iter().map(Method::as_str).collect();
        HeaderValue::from_str(&list.join(", ")).ok()
    };
    if let Some(v) = methods {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    let allowed_headers = if cors.allow_all_headers {
        headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned()
    } else if cors.allowed_headers.is_empty() {
        None
    } else {
        let list: Vec<&str> = cors.allowed_headers.iter().map(|n| n.as_str()).collect();
        HeaderValue::from_str(&list.join(", ")).ok()
    };
    if let Some(v) = allowed_headers {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    if let Some(age) = cors.max_age {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    resp
}

fn allow_origin(cors: &CorsConfig, origin: &str, h: &mut HeaderMap) {
    let value = if cors.allow_all_origins && !cors.allow_credentials {
        Some(HeaderValue::from_static("*"))
    } else {
        HeaderValue::from_str(origin).ok()
    };
    if let Some(v) = value {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// Adds the allow-origin headers to the answer of a real cross-origin request from an allowed
/// origin (the origin's own CORS headers, if it sets any, win).
pub fn decorate(app: &App, request_origin: Option<&HeaderValue>, resp: &mut Response<Body>) {
    let (Some(cors), Some(origin)) = (&app.cors, request_origin) else {
        return;
    };
    let Ok(origin) = origin.to_str() else { return };
    if !cors.allows_origin(origin)
        || resp
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        return;
    }
    allow_origin(cors, origin, resp.headers_mut());
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
}
