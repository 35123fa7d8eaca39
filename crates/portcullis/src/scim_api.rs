//! The SCIM 2.0 HTTP endpoint of each login method with SCIM enabled:
//! `<team URL>/scim/<idp id>/v2/...`.
//!
//! This is the adapter between HTTP and `scim_resources`: it finds the login method, checks the
//! bearer secret, bounds and parses the body, routes by method and path, writes the
//! provisioning log, and turns every outcome into an `application/scim+json` response (errors as
//! RFC 7644 §3.12 bodies, in this one place). It decides nothing about users or groups.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use portcullis_scim::schema::{
    resource_type_document, resource_types_list, schema_document, schemas_list,
    service_provider_config,
};
use portcullis_scim::{Limits, ListQuery, ScimError};
use portcullis_store::ScimLogRecord;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::gateway::{Gateway, LoginMethod};
use crate::proxy::RequestContext;
use crate::scim_resources::{self as resources, LogFacts, Reply, Scope};

/// Where the SCIM endpoints live on the team domain.
pub const PREFIX: &str = "/scim/";

const SCIM_JSON: &str = "application/scim+json";

/// The path segment of a search by POST (RFC 7644 §3.4.3).
const SEARCH: &str = ".search";

/// Whether a team-domain request is for the SCIM endpoint.
pub fn is_scim_path(path: &str) -> bool {
    path.starts_with(PREFIX)
}

/// The request bounds every SCIM endpoint enforces and advertises.
pub fn limits() -> Limits {
    Limits::default()
}

/// Answers one SCIM request.
pub async fn handle(
    gw: Arc<Gateway>,
    ctx: RequestContext,
    req: Request<Incoming>,
) -> Response<Body> {
    let limits = limits();
    let path = req.uri().path().to_owned();
    let Some((method, rest)) = route_login_method(&gw, &path) else {
        return error(&ScimError::not_found("SCIM endpoint", &path), &ctx);
    };
    if let Err(refusal) = authorized(&gw, &method, req.headers()).await {
        return error(&refusal, &ctx);
    }
    let http_method = req.method().clone();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let if_match = req
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match read_body(req, limits.max_payload_bytes).await {
        Ok(body) => body,
        Err(e) => return error(&e, &ctx),
    };
    let scope = Scope {
        gw: &gw,
        method: &method,
        base: gw.team_url(&format!("{PREFIX}{}/v2", method.id.0)),
        limits,
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // Writes are logged; a search is a read, though it comes as a POST.
    let logged = matches!(
        http_method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && !segments
        .last()
        .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH));
    let mut facts = LogFacts::default();
    let outcome = dispatch(
        &scope,
        &http_method,
        &segments,
        &query,
        if_match.as_deref(),
        &body,
        &mut facts,
    )
    .await;
    if logged && let Some(resource_type) = resource_type(&segments) {
        log_request(
            &scope,
            &http_method,
            resource_type,
            facts,
            &body,
            outcome.as_ref().err(),
        )
        .await;
    }
    match outcome {
        Ok(reply) => respond(reply, &ctx),
        Err(e) => {
            if e.status >= 500 {
                tracing::error!(request_id = %ctx.request_id, detail = %e.detail, "SCIM request failed");
            } else {
                tracing::info!(request_id = %ctx.request_id, status = e.status, detail = %e.detail, "SCIM request refused");
            }
            error(&e, &ctx)
        }
    }
}

/// `/scim/<idp id>/v2/<rest>` → the login method (with SCIM enabled) and `<rest>`.
fn route_login_method(gw: &Gateway, path: &str) -> Option<(Arc<LoginMethod>, String)> {
    let rest = path.strip_prefix(PREFIX)?;
    let (idp, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let rest = rest.strip_prefix("v2")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let id = Uuid::parse_str(idp).ok()?;
    let snapshot = gw.snapshot.load();
    let method = snapshot
        .login_methods
        .iter()
        .find(|m| m.id.0 == id && m.scim.is_some())?
        .clone();
    Some((method, rest.to_owned()))
}

/// `Authorization: Bearer <secret>`, or the bare secret (Okta's header-auth apps send that).
/// A database that cannot be read is a 503, not a 401: identity providers take a 401 for a wrong
/// secret and stop provisioning, while they retry a 503.
async fn authorized(
    gw: &Gateway,
    method: &LoginMethod,
    headers: &HeaderMap,
) -> Result<(), ScimError> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ScimError::unauthorized());
    };
    let value = value.trim();
    let secret = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    };
    if secret.is_empty() {
        return Err(ScimError::unauthorized());
    }
    match crate::scim_sync::secret_matches(gw.store.as_ref(), method.id.0, secret).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ScimError::unauthorized()),
        Err(error) => {
            tracing::error!(%error, "SCIM: cannot read the secret digest");
            Err(ScimError::new(
                503,
                None,
                "the gateway cannot reach its database; retry later",
            ))
        }
    }
}

/// The body as JSON (`Null` when empty), refused beyond `max` bytes.
async fn read_body(req: Request<Incoming>, max: usize) -> Result<Value, ScimError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ScimError::payload_too_large(max));
    }
    let bytes = Limited::new(req.into_body(), max)
        .collect()
        .await
        .map_err(|_| ScimError::payload_too_large(max))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
}

fn needs_body(body: &Value) -> Result<&Value, ScimError> {
    if body.is_object() {
        Ok(body)
    } else {
        Err(ScimError::invalid_syntax("a JSON object body is required"))
    }
}

fn method_not_allowed(method: &Method) -> ScimError {
    ScimError::new(405, None, format!("{method} is not supported here"))
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    scope: &Scope<'_>,
    method: &Method,
    segments: &[&str],
    query: &str,
    if_match: Option<&str>,
    body: &Value,
    facts: &mut LogFacts,
) -> Result<Reply, ScimError> {
    let base = &scope.base;
    let ok = |body: Value| Reply {
        status: 200,
        body: Some(body),
        etag: None,
        location: None,
    };
    let first = segments.first().map(|s| s.to_ascii_lowercase());
    match (first.as_deref(), &segments[1.min(segments.len())..], method) {
        (Some("serviceproviderconfig"), [], &Method::GET) => {
            Ok(ok(service_provider_config(base, &scope.limits)))
        }
        (Some("resourcetypes"), [], &Method::GET) => Ok(ok(resource_types_list(base))),
        (Some("resourcetypes"), [name], &Method::GET) => resource_type_document(name, base)
            .map(ok)
            .ok_or_else(|| ScimError::not_found("ResourceType", name)),
        (Some("schemas"), [], &Method::GET) => Ok(ok(schemas_list(base))),
        (Some("schemas"), [id], &Method::GET) => schema_document(id, base)
            .map(ok)
            .ok_or_else(|| ScimError::not_found("Schema", id)),
        (Some("users"), [], &Method::GET) => {
            resources::list_users(scope, &ListQuery::parse(query, &scope.limits)?).await
        }
        (Some("users"), [search], &Method::POST) if search.eq_ignore_ascii_case(SEARCH) => {
            let q = ListQuery::from_search_request(needs_body(body)?, &scope.limits)?;
            resources::list_users(scope, &q).await
        }
        (Some("users"), [], &Method::POST) => {
            resources::create_user(scope, needs_body(body)?, facts).await
        }
        (Some("users"), [id], &Method::GET) => resources::get_user(scope, id, query).await,
        (Some("users"), [id], &Method::PUT) => {
            resources::replace_user(scope, id, needs_body(body)?, if_match, facts).await
        }
        (Some("users"), [id], &Method::PATCH) => {
            resources::patch_user(scope, id, needs_body(body)?, if_match, query, facts).await
        }
        (Some("users"), [id], &Method::DELETE) => {
            resources::delete_user(scope, id, if_match, facts).await
        }
        (Some("groups"), [], &Method::GET) => {
            resources::list_groups(scope, &ListQuery::parse(query, &scope.limits)?).await
        }
        (Some("groups"), [search], &Method::POST) if search.eq_ignore_ascii_case(SEARCH) => {
            let q = ListQuery::from_search_request(needs_body(body)?, &scope.limits)?;
            resources::list_groups(scope, &q).await
        }
        (Some("groups"), [], &Method::POST) => {
            resources::create_group(scope, needs_body(body)?, facts).await
        }
        (Some("groups"), [id], &Method::GET) => resources::get_group(scope, id, query).await,
        (Some("groups"), [id], &Method::PUT) => {
            resources::replace_group(scope, id, needs_body(body)?, if_match, facts).await
        }
        (Some("groups"), [id], &Method::PATCH) => {
            resources::patch_group(scope, id, needs_body(body)?, if_match, query, facts).await
        }
        (Some("groups"), [id], &Method::DELETE) => {
            resources::delete_group(scope, id, if_match, facts).await
        }
        (Some("bulk"), [], _) => Err(ScimError::not_implemented("/Bulk")),
        // A search across Users and Groups at once would need one sort order and one paging
        // over two collections; RFC 7644 §3.4.3 lets a server answer 501 instead.
        (Some(SEARCH), [], &Method::POST) => Err(ScimError::not_implemented(
            "POST /.search across resource types (search /Users/.search or /Groups/.search)",
        )),
        (Some("me"), [], _) => Err(ScimError::not_implemented("/Me")),
        (Some("users" | "groups"), [] | [_], other) => Err(method_not_allowed(other)),
        (Some("serviceproviderconfig" | "resourcetypes" | "schemas"), [] | [_], other) => {
            Err(method_not_allowed(other))
        }
        _ => Err(ScimError::new(
            404,
            None,
            format!("no SCIM endpoint at /{}", segments.join("/")),
        )),
    }
}

/// `USER` or `GROUP` for the provisioning log; `None` for discovery endpoints.
fn resource_type(segments: &[&str]) -> Option<&'static str> {
    match segments.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("users") => Some("USER"),
        Some("groups") => Some("GROUP"),
        _ => None,
    }
}

/// The request body as the log keeps it: every `password` (and a PATCH value aimed at it)
/// removed.
pub fn redact(body: &Value) -> Value {
    match body {
        Value::Object(map) => {
            let aims_at_password = map.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("path")
                    && v.as_str()
                        .is_some_and(|p| p.eq_ignore_ascii_case("password"))
            });
            let kept: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("password"))
                .filter(|(k, _)| !(aims_at_password && k.eq_ignore_ascii_case("value")))
                .map(|(k, v)| (k.clone(), redact(v)))
                .collect();
            Value::Object(kept)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// Records a write request in the provisioning log. Writes of the log never fail the request.
async fn log_request(
    scope: &Scope<'_>,
    method: &Method,
    resource_type: &str,
    facts: LogFacts,
    body: &Value,
    failure: Option<&ScimError>,
) {
    let record = ScimLogRecord {
        id: Uuid::new_v4(),
        idp_id: scope.method.id.0,
        logged_ms: scope
            .gw
            .clock
            .system_time()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        request_method: method.as_str().to_owned(),
        resource_type: resource_type.to_owned(),
        user_email: facts.user_email,
        group_name: facts.group_name,
        resource_id: facts.resource_id,
        external_id: facts.external_id,
        success: failure.is_none(),
        error_description: failure.map(|e| e.detail.clone()),
        request_body: (!body.is_null()).then(|| redact(body)),
    };
    if let Err(error) = scope.gw.store.insert_scim_log(&record).await {
        tracing::error!(%error, "cannot write the SCIM provisioning log");
    }
}

fn base_response(status: u16, body: Option<&Value>, ctx: &RequestContext) -> Response<Body> {
    let mut resp = match body {
        Some(body) => Response::new(Body::from(body.to_string())),
        None => Response::new(Body::empty()),
    };
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    if body.is_some() {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id.to_string()) {
        h.insert("x-request-id", v);
    }
    resp
}

fn respond(reply: Reply, ctx: &RequestContext) -> Response<Body> {
    let mut resp = base_response(reply.status, reply.body.as_ref(), ctx);
    let h = resp.headers_mut();
    if let Some(v) = reply.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, v);
    }
    resp
}

/// The one place SCIM errors become responses.
fn error(e: &ScimError, ctx: &RequestContext) -> Response<Body> {
    let mut resp = base_response(e.status, Some(&e.to_body()), ctx);
    if e.status == 401 {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"SCIM\""),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_removes_passwords_everywhere() {
        let body = json!({
            "userName": "ann@example.com",
            "password": "hunter2",
            "Operations": [
                {"op": "replace", "path": "password", "value": "s3cret"},
                {"op": "replace", "value": {"PassWord": "x", "active": false}}
            ]
        });
        let shown = redact(&body);
        let text = shown.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(!text.contains("\"x\""), "{text}");
        assert_eq!(shown["userName"], "ann@example.com");
        assert_eq!(shown["Operations"][1]["value"]["active"], false);
    }

    #[test]
    fn only_scim_paths_are_routed_here() {
        assert!(is_scim_path("/scim/abc/v2/Users"));
        assert!(!is_scim_path("/cdn-cgi/access/login"));
        assert!(!is_scim_path("/scimx"));
    }

    #[test]
    fn resource_types_for_the_log() {
        assert_eq!(resource_type(&["Users", "1"]), Some("USER"));
        assert_eq!(resource_type(&["groups"]), Some("GROUP"));
        assert_eq!(resource_type(&["Schemas"]), None);
    }
}
