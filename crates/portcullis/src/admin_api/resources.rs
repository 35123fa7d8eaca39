//! What each admin API resource returns or changes, in Cloudflare's object shapes and field
//! names. Objects declared in the configuration file carry `read_only: true`.

use http::{Method, StatusCode};
use portcullis_core::format_go_duration;
use portcullis_scim::Timestamp;
use portcullis_store::{AuthLogQuery, ScimLogQuery, ServiceTokenRecord, UserRecord};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiError, Call, Reply};
use crate::access::{StoredIdentity, identity_document};
use crate::service_tokens::{self, Lifetime, ServiceTokenError};

type Answer = Result<Reply, ApiError>;

/// RFC 3339 (UTC) for a unix-seconds instant, as Cloudflare's API writes times.
fn time(unix: i64) -> String {
    Timestamp::from_unix_millis(unix.saturating_mul(1000)).to_string()
}

fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    Timestamp::parse_rfc3339(text)
        .map(|t| t.unix_millis().div_euclid(1000))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{field}: `{text}` is not an RFC 3339 time such as 2026-01-31T12:00:00Z"
            ))
        })
}

fn uuid(field: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::invalid(format!("{field}: `{text}` is not an id")))
}

fn limit(call: &Call<'_>, default: u32) -> Result<u32, ApiError> {
    match call.param("limit").or_else(|| call.param("per_page")) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::invalid(format!("limit: `{v}` is not a positive number"))),
    }
}

fn descending(call: &Call<'_>) -> Result<bool, ApiError> {
    match call.param("direction").as_deref() {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(other) => Err(ApiError::invalid(format!(
            "direction: `{other}` is not `asc` or `desc`"
        ))),
    }
}

/// Routes `…/access/<resource>/…`.
pub async fn route(call: &Call<'_>) -> Answer {
    let m = call.method;
    if let Some(answer) = super::objects::route(call).await {
        return answer;
    }
    match call.segments.as_slice() {
        ["policy-tests"] if m == Method::POST => policy_test(call).await,
        ["policy-tests", id] if m == Method::GET => {
            let summary = find_policy_test(call, id)?;
            Ok(Reply::ok(policy_test_summary(id, &summary)))
        }
        ["policy-tests", id, "users"] if m == Method::GET => {
            let summary = find_policy_test(call, id)?;
            Ok(Reply::list(
                summary
                    .users
                    .iter()
                    .map(|u| {
                        json!({
                            "email": u.email,
                            "status": if u.outcome.allowed() { "approved" } else { "blocked" },
                            "outcome": u.outcome,
                            "explanation": u.explanation,
                        })
                    })
                    .collect(),
            ))
        }
        ["service_tokens", rest @ ..] => service_token_route(call, rest).await,
        ["organizations"] if m == Method::GET => Ok(Reply::ok(organization(call))),
        ["organizations", "revoke_user"] if m == Method::POST => revoke_user(call).await,
        ["keys"] if m == Method::GET => Ok(Reply::ok(keys(call))),
        ["keys"] if m == Method::PUT => {
            if call.gw.server.key_rotation_interval_declared {
                return Err(ApiError::read_only(
                    "the key rotation interval (server.key_rotation_interval)",
                ));
            }
            let days = match call.body.get("key_rotation_interval_days") {
                Some(Value::Number(n)) => n.as_u64().filter(|d| (1..=365).contains(d)),
                _ => None,
            }
            .ok_or_else(|| {
                ApiError::invalid(
                    "key_rotation_interval_days: required, a whole number of days from 1 to 365",
                )
            })?;
            call.gw
                .set_rotation_interval(std::time::Duration::from_secs(days * 86_400))
                .await
                .map_err(ApiError::store)?;
            Ok(Reply::ok(keys(call)))
        }
        ["keys", "rotate"] if m == Method::POST => {
            call.gw.rotate_keys().await.map_err(ApiError::internal)?;
            Ok(Reply::ok(keys(call)))
        }
        ["users"] if m == Method::GET => {
            let users = call.gw.store.list_users().await.map_err(ApiError::store)?;
            Ok(Reply::list(users.iter().map(user).collect()))
        }
        ["users", id, "active_sessions"] if m == Method::GET => active_sessions(call, id).await,
        ["users", id, "active_sessions", nonce] if m == Method::GET => {
            let (user, session) = user_session(call, id, nonce).await?;
            Ok(Reply::ok(session_json(
                &user,
                &session,
                call.gw.clock.now(),
            )))
        }
        ["users", id, "active_sessions", nonce] if m == Method::DELETE => {
            let (user, session) = user_session(call, id, nonce).await?;
            call.gw
                .revoke_session(&session.id)
                .await
                .map_err(ApiError::internal)?;
            Ok(Reply::ok(session_json(
                &user,
                &session,
                call.gw.clock.now(),
            )))
        }
        ["users", id, "last_seen_identity"] if m == Method::GET => {
            let u = find_user(call, id).await?;
            let stored: StoredIdentity = u
                .last_seen_identity
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| ApiError::not_found("this user has not signed in yet"))?;
            Ok(Reply::ok(identity_document(
                &stored,
                &call.gw.account_id,
                u.id,
            )))
        }
        ["users", id, "failed_logins"] if m == Method::GET => failed_logins(call, id).await,
        ["seats"] if m == Method::PATCH => seats(call).await,
        ["logs", "access_requests"] if m == Method::GET => access_requests(call).await,
        ["logs", "scim", "updates"] if m == Method::GET => scim_updates(call).await,
        _ => Err(ApiError::not_found(format!(
            "no route for {} …/access/{}",
            m,
            call.segments.join("/")
        ))),
    }
}

/// How many policy test results a node keeps for `GET policy-tests/<id>`.
const KEPT_POLICY_TESTS: usize = 50;

/// `POST policy-tests` `{policies: [{id} | {name, decision, include, …}]}`: evaluates the
/// policies, in that order, for every user who has signed in (their last sign-in), at once.
async fn policy_test(call: &Call<'_>) -> Answer {
    let Some(Value::Array(items)) = call.body.get("policies") else {
        return Err(ApiError::invalid(
            "policies: required, a list of {id} references or policy objects",
        ));
    };
    if items.is_empty() {
        return Err(ApiError::invalid("policies: must not be empty"));
    }
    let gw = call.gw;
    let catalog = gw.snapshot.load().catalog.clone();
    let mut policies = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let is_reference = item.get("id").is_some() && item.get("decision").is_none();
        if is_reference {
            let id = item["id"].as_str().unwrap_or_default();
            let snapshot = gw.snapshot.load();
            let found = snapshot.policy(id).ok_or_else(|| {
                ApiError::invalid(format!("policies[{i}].id: no reusable policy `{id}`"))
            })?;
            policies.push(found.policy.clone());
        } else {
            let policy: portcullis_core::Policy = serde_json::from_value(item.clone())
                .map_err(|e| ApiError::invalid(format!("policies[{i}]: {e}")))?;
            catalog
                .validate_policy(&policy)
                .map_err(|e| ApiError::invalid(format!("policies[{i}]: {e}")))?;
            policies.push(policy);
        }
    }
    let summary = crate::tester::test_all_users(gw.store.as_ref(), &policies, &catalog)
        .await
        .map_err(|e| match e {
            crate::tester::TesterError::Store(s) => ApiError::store(s),
            other => ApiError::internal(other),
        })?;
    let id = Uuid::new_v4().to_string();
    let summary = std::sync::Arc::new(summary);
    if let Ok(mut kept) = gw.policy_tests.lock() {
        if kept.len() >= KEPT_POLICY_TESTS {
            kept.pop_front();
        }
        kept.push_back((id.clone(), summary.clone()));
    }
    Ok(Reply::ok(policy_test_summary(&id, &summary)))
}

fn find_policy_test(
    call: &Call<'_>,
    id: &str,
) -> Result<std::sync::Arc<crate::tester::Summary>, ApiError> {
    call.gw
        .policy_tests
        .lock()
        .ok()
        .and_then(|kept| kept.iter().find(|(k, _)| k == id).map(|(_, s)| s.clone()))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no policy test {id} on this node (results are kept in memory, the last {KEPT_POLICY_TESTS})"
            ))
        })
}

fn policy_test_summary(id: &str, s: &crate::tester::Summary) -> Value {
    let total = s.total + s.unreadable.len();
    let percent = |n: usize| {
        if total == 0 {
            0.0
        } else {
            (n as f64 * 1000.0 / total as f64).round() / 10.0
        }
    };
    json!({
        "id": id,
        "status": "complete",
        "total_users": total,
        "users_approved": s.allowed,
        "users_blocked": s.denied,
        "users_errored": s.unreadable.len(),
        "percent_approved": percent(s.allowed),
        "percent_blocked": percent(s.denied),
        "percent_errored": percent(s.unreadable.len()),
        "percent_users_processed": 100,
    })
}

fn service_token(t: &ServiceTokenRecord) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "client_id": t.client_id,
        "duration": t.duration,
        "expires_at": t.expires_at.map(time),
        "created_at": time(t.created_at),
        "updated_at": time(t.updated_at),
        "enabled": t.enabled,
    })
}

fn token_error(e: ServiceTokenError) -> ApiError {
    match e {
        ServiceTokenError::NotFound(id) => ApiError::not_found(format!("no service token {id}")),
        ServiceTokenError::NameTaken(name) => ApiError::new(
            StatusCode::CONFLICT,
            12_409,
            format!("name: a service token named `{name}` already exists"),
        ),
        ServiceTokenError::Duration(_) | ServiceTokenError::EmptyName => {
            ApiError::invalid(e.to_string())
        }
        ServiceTokenError::Store(s) => ApiError::store(s),
        ServiceTokenError::Random => ApiError::internal(e),
    }
}

fn body_str<'b>(call: &'b Call<'_>, field: &str) -> Result<Option<&'b str>, ApiError> {
    match call.body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("{field}: must be a string"))),
    }
}

async fn service_token_route(call: &Call<'_>, rest: &[&str]) -> Answer {
    let gw = call.gw;
    let store = gw.store.as_ref();
    let now = gw.clock.now();
    let m = call.method;
    let answer = match rest {
        [] if m == Method::GET => {
            let all = store.list_service_tokens().await.map_err(ApiError::store)?;
            return Ok(Reply::list(all.iter().map(service_token).collect()));
        }
        [] if m == Method::POST => {
            let name =
                body_str(call, "name")?.ok_or_else(|| ApiError::invalid("name: required"))?;
            let lifetime = match body_str(call, "duration")? {
                Some(d) => Lifetime::parse(d).map_err(token_error)?,
                None => Lifetime::For(service_tokens::DEFAULT_DURATION),
            };
            let issued = service_tokens::create(store, name, lifetime, now)
                .await
                .map_err(token_error)?;
            let mut v = service_token(&issued.record);
            v["client_secret"] = Value::String(issued.client_secret);
            Reply {
                status: StatusCode::CREATED,
                ..Reply::ok(v)
            }
        }
        [id] if m == Method::GET => {
            let t = store
                .get_service_token(uuid("service token id", id)?)
                .await
                .map_err(ApiError::store)?
                .ok_or_else(|| ApiError::not_found(format!("no service token {id}")))?;
            return Ok(Reply::ok(service_token(&t)));
        }
        [id] if m == Method::PUT => {
            let mut t = store
                .get_service_token(uuid("service token id", id)?)
                .await
                .map_err(ApiError::store)?
                .ok_or_else(|| ApiError::not_found(format!("no service token {id}")))?;
            if let Some(name) = body_str(call, "name")? {
                if name.trim().is_empty() {
                    return Err(ApiError::invalid("name: must not be empty"));
                }
                t.name = name.trim().to_owned();
            }
            if let Some(d) = body_str(call, "duration")? {
                let lifetime = Lifetime::parse(d).map_err(token_error)?;
                t.duration = d.trim().to_owned();
                t.expires_at = match lifetime {
                    Lifetime::For(d) => Some(t.created_at + d.as_secs() as i64),
                    Lifetime::Forever => None,
                };
            }
            match call.body.get("enabled") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(on)) => t.enabled = *on,
                Some(_) => return Err(ApiError::invalid("enabled: must be true or false")),
            }
            t.updated_at = now;
            match store.update_service_token(&t).await {
                Ok(true) => Reply::ok(service_token(&t)),
                Ok(false) => return Err(ApiError::not_found(format!("no service token {id}"))),
                Err(portcullis_store::StoreError::Conflict(_)) => {
                    return Err(token_error(ServiceTokenError::NameTaken(t.name)));
                }
                Err(e) => return Err(ApiError::store(e)),
            }
        }
        [id] if m == Method::DELETE => {
            let id = uuid("service token id", id)?;
            let t = store
                .get_service_token(id)
                .await
                .map_err(ApiError::store)?
                .ok_or_else(|| ApiError::not_found(format!("no service token {id}")))?;
            store
                .delete_service_token(id)
                .await
                .map_err(ApiError::store)?;
            Reply::ok(service_token(&t))
        }
        [id, "refresh"] if m == Method::POST => {
            let t = service_tokens::refresh(store, uuid("service token id", id)?, now)
                .await
                .map_err(token_error)?;
            Reply::ok(service_token(&t))
        }
        [id, "rotate"] if m == Method::POST => {
            let issued = service_tokens::rotate(store, uuid("service token id", id)?, now)
                .await
                .map_err(token_error)?;
            let mut v = service_token(&issued.record);
            v["client_secret"] = Value::String(issued.client_secret);
            Reply::ok(v)
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "no route for {m} …/access/service_tokens/{}",
                rest.join("/")
            )));
        }
    };
    // This node applies the change before answering; others follow the change feed.
    gw.reload_service_tokens().await;
    Ok(answer)
}

fn organization(call: &Call<'_>) -> Value {
    let gw = call.gw;
    let o = &gw.organization;
    json!({
        "name": o.name,
        "auth_domain": gw.server.team_domain,
        "session_duration": format_go_duration(gw.server.session_duration),
        "user_seat_expiration_inactive_time": o.seat_expiry.map(format_go_duration),
        "seat_limit": o.seat_limit,
        "login_design": {
            "background_color": o.design.background_color,
            "text_color": o.design.text_color,
            "header_text": o.design.header_text,
            "footer_text": o.design.footer_text,
        },
        "is_ui_read_only": true,
        "ui_read_only_toggle_reason": "declared in the configuration file",
    })
}

async fn revoke_user(call: &Call<'_>) -> Answer {
    let email = body_str(call, "email")?.ok_or_else(|| ApiError::invalid("email: required"))?;
    match call.gw.revoke_user(email).await {
        Ok(_) => Ok(Reply::ok(Value::Bool(true))),
        Err(crate::registry::RegistryError::UnknownUser(_)) => {
            Err(ApiError::not_found(format!("email: no user `{email}`")))
        }
        Err(crate::registry::RegistryError::Store(e)) => Err(ApiError::store(e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn keys(call: &Call<'_>) -> Value {
    let gw = call.gw;
    let interval = gw.rotation_interval().as_secs() as i64;
    let created = gw.keys.load().current_created_at();
    let next = (created + interval - gw.clock.now()).max(0);
    json!({
        "key_rotation_interval_days": interval / 86_400,
        "last_key_rotation_at": time(created),
        "days_until_next_rotation": next / 86_400,
    })
}

fn user(u: &UserRecord) -> Value {
    json!({
        "id": u.id,
        "uid": u.id,
        "email": u.email,
        "name": u.name,
        "access_seat": u.seat,
        "gateway_seat": false,
        "seat_uid": u.id,
        "active_device_count": 0,
        "last_successful_login": u.last_login_at.map(time),
        "created_at": time(u.created_at),
        "updated_at": time(u.updated_at),
    })
}

async fn find_user(call: &Call<'_>, id: &str) -> Result<UserRecord, ApiError> {
    call.gw
        .store
        .get_user(uuid("user id", id)?)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))
}

async fn active_sessions(call: &Call<'_>, id: &str) -> Answer {
    let u = find_user(call, id).await?;
    let now = call.gw.clock.now();
    let sessions = call
        .gw
        .store
        .list_user_sessions(u.id, now)
        .await
        .map_err(ApiError::store)?;
    Ok(Reply::list(
        sessions.iter().map(|s| session_json(&u, s, now)).collect(),
    ))
}

/// One active session of the user, by its nonce (the session id).
async fn user_session(
    call: &Call<'_>,
    id: &str,
    nonce: &str,
) -> Result<(UserRecord, portcullis_store::SessionRecord), ApiError> {
    let u = find_user(call, id).await?;
    let now = call.gw.clock.now();
    let session = call
        .gw
        .store
        .list_user_sessions(u.id, now)
        .await
        .map_err(ApiError::store)?
        .into_iter()
        .find(|s| s.id == nonce)
        .ok_or_else(|| ApiError::not_found(format!("no active session {nonce} of this user")))?;
    Ok((u, session))
}

/// A session in Cloudflare's active-session shape.
fn session_json(u: &UserRecord, s: &portcullis_store::SessionRecord, now: i64) -> Value {
    json!({
        "expiration": s.expires_at,
        "name": u.email,
        "metadata": {
            "apps": {},
            "expires": s.expires_at,
            "iat": s.created_at,
            "nonce": s.id,
            "ttl": s.expires_at - now,
        },
    })
}

async fn failed_logins(call: &Call<'_>, id: &str) -> Answer {
    let u = find_user(call, id).await?;
    let logs = call
        .gw
        .store
        .list_auth_logs(&AuthLogQuery {
            email: Some(u.email.clone()),
            allowed: Some(false),
            limit: limit(call, 25)?,
            ..AuthLogQuery::default()
        })
        .await
        .map_err(ApiError::store)?;
    Ok(Reply::list(
        logs.iter()
            .map(|l| {
                json!({
                    "expiration": l.created_at,
                    "metadata": {
                        "app_name": l.app_name,
                        "app_uid": l.app_uid,
                        "ip_address": l.ip_address,
                        "reason": l.reason,
                        "ray_id": l.ray_id,
                        "created_at": time(l.created_at),
                    },
                })
            })
            .collect(),
    ))
}

/// `PATCH seats`: `[{seat_uid, access_seat, gateway_seat}]`; taking a seat away also ends the
/// user's sessions (as removing a user does).
async fn seats(call: &Call<'_>) -> Answer {
    let Value::Array(items) = &call.body else {
        return Err(ApiError::invalid(
            "body: must be a list of {seat_uid, access_seat, gateway_seat}",
        ));
    };
    let gw = call.gw;
    let now = gw.clock.now();
    let mut changed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let seat_uid = item
            .get("seat_uid")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid(format!("[{i}].seat_uid: required")))?;
        let access = item
            .get("access_seat")
            .and_then(Value::as_bool)
            .ok_or_else(|| {
                ApiError::invalid(format!("[{i}].access_seat: must be true or false"))
            })?;
        let id = uuid(&format!("[{i}].seat_uid"), seat_uid)?;
        if access {
            if !gw
                .store
                .set_user_seat(id, true, now)
                .await
                .map_err(ApiError::store)?
            {
                return Err(ApiError::not_found(format!("[{i}].seat_uid: no user {id}")));
            }
        } else {
            gw.remove_user(&id.to_string()).await.map_err(|e| match e {
                crate::registry::RegistryError::UnknownUser(_) => {
                    ApiError::not_found(format!("[{i}].seat_uid: no user {id}"))
                }
                other => ApiError::internal(other),
            })?;
        }
        changed.push(json!({"seat_uid": id, "access_seat": access, "gateway_seat": false}));
    }
    Ok(Reply::list(changed))
}

async fn access_requests(call: &Call<'_>) -> Answer {
    let q = AuthLogQuery {
        since: call
            .param("since")
            .map(|t| parse_time("since", &t))
            .transpose()?,
        until: call
            .param("until")
            .map(|t| parse_time("until", &t))
            .transpose()?,
        email: call.param("email").map(|e| e.to_lowercase()),
        allowed: match call.param("allowed").as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "allowed: `{other}` is not true or false"
                )));
            }
        },
        app_uid: call
            .param("app_uid")
            .map(|a| uuid("app_uid", &a))
            .transpose()?,
        limit: limit(call, 25)?,
        descending: descending(call)?,
    };
    let logs = call
        .gw
        .store
        .list_auth_logs(&q)
        .await
        .map_err(ApiError::store)?;
    Ok(Reply::list(
        logs.iter()
            .map(|l| {
                json!({
                    "user_email": l.user_email,
                    "ip_address": l.ip_address,
                    "app_uid": l.app_uid,
                    "app_domain": l.app_domain,
                    "action": l.action,
                    "connection": l.connection,
                    "allowed": l.allowed,
                    "created_at": time(l.created_at),
                    "ray_id": l.ray_id,
                    "country": l.country,
                    "reason": l.reason,
                })
            })
            .collect(),
    ))
}

async fn scim_updates(call: &Call<'_>) -> Answer {
    let millis = |field: &str| {
        call.param(field)
            .map(|t| parse_time(field, &t).map(|s| s * 1000))
            .transpose()
    };
    let q = ScimLogQuery {
        idp_id: call
            .param("idp_id")
            .or_else(|| call.param("idp_id[]"))
            .map(|i| uuid("idp_id", &i))
            .transpose()?,
        since_ms: millis("since")?,
        until_ms: millis("until")?,
        request_method: call.param("request_method").map(|m| m.to_uppercase()),
        resource_type: call.param("resource_type").map(|t| t.to_uppercase()),
        user_email: call.param("resource_user_email"),
        group_name: call.param("resource_group_name"),
        resource_id: call.param("cf_resource_id"),
        external_id: call.param("idp_resource_id"),
        success: match call.param("status").as_deref() {
            None => None,
            Some("SUCCESS") => Some(true),
            Some("FAILURE") => Some(false),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "status: `{other}` is not SUCCESS or FAILURE"
                )));
            }
        },
        limit: limit(call, 25)?,
        descending: descending(call)?,
    };
    let logs = call
        .gw
        .store
        .list_scim_logs(&q)
        .await
        .map_err(ApiError::store)?;
    Ok(Reply::list(
        logs.iter()
            .map(|l| {
                json!({
                    "cf_resource_id": l.resource_id,
                    "error_description": l.error_description,
                    "idp_id": l.idp_id,
                    "idp_resource_id": l.external_id,
                    "logged_at": Timestamp::from_unix_millis(l.logged_ms).to_string(),
                    "request_body": l.request_body.as_ref().map(Value::to_string),
                    "request_method": l.request_method,
                    "resource_group_name": l.group_name,
                    "resource_type": l.resource_type,
                    "resource_user_email": l.user_email,
                    "status": if l.success { "SUCCESS" } else { "FAILURE" },
                })
            })
            .collect(),
    ))
}
