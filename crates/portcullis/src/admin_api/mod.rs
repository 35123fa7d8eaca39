//! The admin REST API, shaped like Cloudflare's v4 API so that code written against it works with
//! only the base URL and token changed: `<team URL>/client/v4/accounts/<account id>/access/…`,
//! answers in the `{success, errors, messages, result, result_info}` envelope.
//!
//! This module does HTTP: authentication (API tokens, read or write scope), routing, the envelope
//! and errors. What each resource returns or changes is in [`resources`], which calls the same
//! functions as the CLI (`service_tokens`, `registry`, `keys`, `scim_sync`).

mod objects;
mod resources;

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use axum::body::Body;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::gateway::Gateway;
use crate::proxy::RequestContext;

/// Where the API lives on the team domain.
pub const PREFIX: &str = "/client/v4/";

/// The OpenAPI 3.1 description of this API, kept in the repository and served at
/// `/client/v4/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../../docs/openapi.json");

/// The largest request body the API reads.
const MAX_BODY: usize = 256 * 1024;

/// Whether a team-domain request is for the admin API.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with(PREFIX) || path == "/client/v4"
}

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// An API failure: HTTP status and Cloudflare-style `errors[]` entries.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, 7003, what)
    }

    /// A request that names a field wrongly or gives it a bad value; the message names the field.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, 12_000, message)
    }

    pub fn read_only(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            12_130,
            format!(
                "{what} is declared in the configuration file (read_only) and cannot be changed through the API"
            ),
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "admin API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            10_001,
            "internal error; see the gateway's log",
        )
    }

    pub fn store(error: portcullis_store::StoreError) -> ApiError {
        match error {
            portcullis_store::StoreError::Database(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                10_503,
                "the gateway cannot reach its database; try again in a moment",
            ),
            other => ApiError::internal(other),
        }
    }
}

/// A successful answer: the result and, for lists, paging facts.
pub struct Reply {
    pub status: StatusCode,
    pub result: Value,
    pub result_info: Option<Value>,
    /// A whole list, cut to the page the request asks for (`page`, `per_page`) on the way out.
    pub pageable: bool,
}

impl Reply {
    pub fn ok(result: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            result,
            result_info: None,
            pageable: false,
        }
    }

    /// A whole list (or one already bounded by `limit`/`per_page`), paged on the way out.
    pub fn list(items: Vec<Value>) -> Reply {
        let count = items.len();
        Reply {
            status: StatusCode::OK,
            result: Value::Array(items),
            result_info: Some(json!({
                "page": 1, "per_page": count, "count": count, "total_count": count,
            })),
            pageable: true,
        }
    }

    /// Cuts a whole list to one page, as Cloudflare's API pages: `page` from 1, `per_page` items
    /// (all when absent), an empty page past the end, so that a client walking the pages (as
    /// Cloudflare's SDKs do) stops.
    fn paginate(
        mut self,
        page: Option<String>,
        per_page: Option<String>,
    ) -> Result<Reply, ApiError> {
        let Value::Array(items) = &mut self.result else {
            return Ok(self);
        };
        let number = |name: &str, text: Option<String>| -> Result<Option<usize>, ApiError> {
            text.map(|v| {
                v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::invalid(format!("{name}: `{v}` is not a positive number"))
                })
            })
            .transpose()
        };
        let page = number("page", page)?.unwrap_or(1);
        let total = items.len();
        let per_page = number("per_page", per_page)?.unwrap_or(total.max(1));
        let start = (page - 1).saturating_mul(per_page).min(total);
        let end = start.saturating_add(per_page).min(total);
        let shown: Vec<Value> = items.drain(start..end).collect();
        let count = shown.len();
        self.result = Value::Array(shown);
        self.result_info = Some(json!({
            "page": page,
            "per_page": per_page,
            "count": count,
            "total_count": total,
            "total_pages": total.div_ceil(per_page),
        }));
        Ok(self)
    }
}

/// One API request as the resources see it.
pub struct Call<'a> {
    pub gw: &'a Arc<Gateway>,
    pub method: &'a Method,
    /// Path segments after `/client/v4/accounts/<account id>/access/`.
    pub segments: Vec<&'a str>,
    pub query: Option<&'a str>,
    pub body: Value,
}

impl Call<'_> {
    /// A query parameter, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
    }
}

fn envelope(status: StatusCode, body: Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

fn failure(e: ApiError) -> Response<Body> {
    let conflict = e.status == StatusCode::CONFLICT;
    let mut resp = envelope(
        e.status,
        json!({
            "success": false,
            "errors": [{ "code": e.code, "message": e.message }],
            "messages": [],
            "result": null,
        }),
    );
    // Cloudflare's SDKs retry a 409 unless told not to; a name clash does not go away.
    if conflict {
        resp.headers_mut()
            .insert("x-should-retry", http::HeaderValue::from_static("false"));
    }
    resp
}

fn success(r: Reply) -> Response<Body> {
    let mut body = json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": r.result,
    });
    if let Some(info) = r.result_info {
        body["result_info"] = info;
    }
    envelope(r.status, body)
}

fn digest_hex(token: &str) -> String {
    hex::encode(digest(&SHA256, token.as_bytes()))
}

/// The scope of the bearer token, or why there is none.
async fn authenticate(gw: &Gateway, headers: &HeaderMap) -> Result<Scope, ApiError> {
    let unauthenticated =
        || ApiError::new(StatusCode::UNAUTHORIZED, 10_000, "Authentication error");
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthenticated)?;
    let presented = digest(&SHA256, token.as_bytes());
    if let Some(bootstrap) = &gw.admin_token_digest
        && verify_slices_are_equal(presented.as_ref(), bootstrap).is_ok()
    {
        return Ok(Scope::Write);
    }
    let found = gw
        .store
        .find_api_token(&hex::encode(presented.as_ref()))
        .await
        .map_err(ApiError::store)?;
    found
        .and_then(|t| Scope::parse(&t.scope))
        .ok_or_else(unauthenticated)
}

async fn read_body(req: Request<Incoming>) -> Result<Value, ApiError> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                10_413,
                format!("request body larger than {MAX_BODY} bytes"),
            )
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("request body is not JSON: {e}")))
}

/// Answers one admin API request.
pub async fn handle(
    gw: &Arc<Gateway>,
    ctx: &RequestContext,
    req: Request<Incoming>,
) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    if path == "/client/v4/openapi.json" && method == Method::GET {
        let mut resp = envelope(StatusCode::OK, Value::Null);
        *resp.body_mut() = Body::from(OPENAPI);
        return resp;
    }
    let scope = match authenticate(gw, req.headers()).await {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    if method != Method::GET && method != Method::HEAD && scope != Scope::Write {
        return failure(ApiError::new(
            StatusCode::FORBIDDEN,
            10_003,
            "this token is read-only; changes need a token with the write scope",
        ));
    }
    let body = if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        match read_body(req).await {
            Ok(b) => b,
            Err(e) => return failure(e),
        }
    } else {
        Value::Null
    };
    let rest = path.trim_start_matches("/client/v4").trim_matches('/');
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let answer = match segments.as_slice() {
        ["accounts"] if method == Method::GET => Ok(Reply::list(vec![json!({
            "id": gw.account_id,
            "name": gw.organization.name.clone().unwrap_or_else(|| "Portcullis".into()),
            "type": "standard",
        })])),
        ["accounts", account] if method == Method::GET && *account == gw.account_id => {
            Ok(Reply::ok(json!({
                "id": gw.account_id,
                "name": gw.organization.name.clone().unwrap_or_else(|| "Portcullis".into()),
                "type": "standard",
            })))
        }
        ["accounts", account, "access", rest @ ..] if *account == gw.account_id => {
            let call = Call {
                gw,
                method: &method,
                segments: rest.to_vec(),
                query: query.as_deref(),
                body,
            };
            resources::route(&call).await
        }
        ["accounts", _, ..] => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            9_109,
            "Unauthorized to access requested resource (unknown account id; GET /client/v4/accounts lists it)",
        )),
        _ => Err(ApiError::not_found(format!("no route for {method} {path}"))),
    };
    tracing::info!(request_id = %ctx.request_id, %method, path = %path, scope = scope.as_str(), ok = answer.is_ok(), "admin API");
    let param = |name: &str| {
        query.as_deref().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
    };
    let answer = match answer {
        Ok(reply) if reply.pageable => reply.paginate(param("page"), param("per_page")),
        other => other,
    };
    match answer {
        Ok(reply) => success(reply),
        Err(e) => failure(e),
    }
}

/// Creates an API token in the store and returns it (to show once).
pub async fn create_api_token(
    store: &dyn portcullis_store::Store,
    name: &str,
    scope: Scope,
    now: i64,
) -> Result<(portcullis_store::ApiTokenRecord, String), ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name: must not be empty"));
    }
    let token = crate::seal::random_token::<32>().map_err(ApiError::internal)?;
    let record = portcullis_store::ApiTokenRecord {
        id: uuid::Uuid::new_v4(),
        name: name.to_owned(),
        token_hash: digest_hex(&token),
        scope: scope.as_str().to_owned(),
        created_at: now,
    };
    match store.insert_api_token(&record).await {
        Ok(()) => Ok((record, token)),
        Err(portcullis_store::StoreError::Conflict(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            12_409,
            format!("name: an API token named `{name}` already exists"),
        )),
        Err(e) => Err(ApiError::store(e)),
    }
}

/// The digest the gateway keeps of the bootstrap token from the configuration.
pub fn bootstrap_digest(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}
