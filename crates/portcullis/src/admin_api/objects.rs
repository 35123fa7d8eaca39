//! Configuration objects through the API: `identity_providers`, `apps`, `policies` (reusable)
//! and `groups` (rule groups), read, created, replaced and deleted in Cloudflare's shapes.
//! Objects declared in the configuration file are listed with `read_only: true` and refuse
//! changes.

use http::{Method, StatusCode};
use portcullis_core::format_go_duration;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiError, Call, Reply};
use crate::config::IdentityUpdateBehavior;
use crate::gateway::{App, LoginMethod, Snapshot};
use crate::objects::edit::{EditError, Saved};
use crate::objects::{Kind, public_declaration};

type Answer = Result<Reply, ApiError>;

/// RFC 3339 (UTC) for a unix-seconds instant.
fn time(unix: i64) -> String {
    portcullis_scim::Timestamp::from_unix_millis(unix.saturating_mul(1000)).to_string()
}

fn edit_error(e: EditError) -> ApiError {
    match e {
        EditError::Invalid(m) => ApiError::invalid(m),
        EditError::NotFound(m) => ApiError::not_found(m),
        EditError::ReadOnly(m) => ApiError::new(StatusCode::FORBIDDEN, 12_130, m),
        EditError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, 12_009, m),
        EditError::Store(s) => ApiError::store(s),
        EditError::Internal(m) => ApiError::internal(m),
    }
}

/// Routes the object resources; `None` when the path is not one of them.
pub async fn route(call: &Call<'_>) -> Option<Answer> {
    let m = call.method;
    let answer = match call.segments.as_slice() {
        ["identity_providers"] if m == Method::GET => {
            let snapshot = call.gw.snapshot.load();
            Ok(Reply::list(
                snapshot
                    .login_methods
                    .iter()
                    .map(|l| identity_provider(call, l))
                    .collect(),
            ))
        }
        ["identity_providers"] if m == Method::POST => save(call, Kind::LoginMethod, None).await,
        ["identity_providers", id] if m == Method::GET => {
            login_method(call, id).map(|l| Reply::ok(identity_provider(call, &l)))
        }
        ["identity_providers", id] if m == Method::PUT => {
            save(call, Kind::LoginMethod, Some(id)).await
        }
        ["identity_providers", id] if m == Method::DELETE => {
            delete(call, Kind::LoginMethod, id).await
        }
        ["identity_providers", id, "test"] if m == Method::POST => test_login(call, id),
        ["identity_providers", id, "refresh_scim_secret"] if m == Method::POST => {
            refresh_scim_secret(call, id).await
        }
        ["identity_providers", id, "scim", "users"] if m == Method::GET => {
            scim_users(call, id).await
        }
        ["identity_providers", id, "scim", "groups"] if m == Method::GET => {
            scim_groups(call, id).await
        }
        ["apps"] if m == Method::GET => {
            let snapshot = call.gw.snapshot.load();
            let mut apps: Vec<Value> = snapshot
                .apps
                .iter()
                .map(|(_, a)| app(&snapshot, a))
                .collect();
            apps.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            Ok(Reply::list(apps))
        }
        ["apps"] if m == Method::POST => save(call, Kind::Application, None).await,
        ["apps", id] if m == Method::GET => {
            find_app(call, id).map(|a| Reply::ok(app(&call.gw.snapshot.load(), &a)))
        }
        ["apps", id] if m == Method::PUT => save(call, Kind::Application, Some(id)).await,
        ["apps", id] if m == Method::DELETE => delete(call, Kind::Application, id).await,
        ["apps", id, "revoke_tokens"] if m == Method::POST => revoke_tokens(call, id).await,
        ["groups"] if m == Method::GET => {
            let snapshot = call.gw.snapshot.load();
            Ok(Reply::list(
                snapshot
                    .catalog
                    .groups()
                    .map(|g| rule_group(&snapshot, &g.id))
                    .collect(),
            ))
        }
        ["groups"] if m == Method::POST => save(call, Kind::RuleGroup, None).await,
        ["groups", id] if m == Method::GET => {
            let snapshot = call.gw.snapshot.load();
            match snapshot.catalog.group(id) {
                Some(_) => Ok(Reply::ok(rule_group(&snapshot, id))),
                None => Err(ApiError::not_found(format!("no rule group `{id}`"))),
            }
        }
        ["groups", id] if m == Method::PUT => save(call, Kind::RuleGroup, Some(id)).await,
        ["groups", id] if m == Method::DELETE => delete(call, Kind::RuleGroup, id).await,
        ["policies"] if m == Method::GET => {
            let snapshot = call.gw.snapshot.load();
            Ok(Reply::list(
                snapshot
                    .policies
                    .iter()
                    .map(|p| reusable_policy(&snapshot, &p.id))
                    .collect(),
            ))
        }
        ["policies"] if m == Method::POST => save(call, Kind::Policy, None).await,
        ["policies", id] if m == Method::GET => {
            let snapshot = call.gw.snapshot.load();
            match snapshot.policy(id) {
                Some(_) => Ok(Reply::ok(reusable_policy(&snapshot, id))),
                None => Err(ApiError::not_found(format!("no reusable policy `{id}`"))),
            }
        }
        ["policies", id] if m == Method::PUT => save(call, Kind::Policy, Some(id)).await,
        ["policies", id] if m == Method::DELETE => delete(call, Kind::Policy, id).await,
        _ => return None,
    };
    Some(answer)
}

/// POST (create) or PUT (replace): answers with the object as GET shows it.
async fn save(call: &Call<'_>, kind: Kind, id: Option<&str>) -> Answer {
    let saved: Saved = call
        .gw
        .save_object(kind, id, call.body.clone())
        .await
        .map_err(edit_error)?;
    let snapshot = call.gw.snapshot.load();
    let shown = match kind {
        Kind::LoginMethod => {
            let l = login_method(call, &saved.id)?;
            let mut v = identity_provider(call, &l);
            if let Some(secret) = &saved.scim_secret {
                v["scim_config"]["secret"] = Value::String(secret.clone());
            }
            v
        }
        Kind::Application => app(&snapshot, find_app(call, &saved.id)?.as_ref()),
        Kind::Policy => reusable_policy(&snapshot, &saved.id),
        Kind::RuleGroup | Kind::List => rule_group(&snapshot, &saved.id),
    };
    let mut reply = Reply::ok(shown);
    if saved.created {
        reply.status = StatusCode::CREATED;
    }
    Ok(reply)
}

async fn delete(call: &Call<'_>, kind: Kind, id: &str) -> Answer {
    call.gw.delete_object(kind, id).await.map_err(edit_error)?;
    Ok(Reply::ok(json!({ "id": id })))
}

fn test_login(call: &Call<'_>, id: &str) -> Answer {
    let found = login_method(call, id)?;
    let url = crate::idp_test::ticket_url(call.gw, found.id.0).map_err(ApiError::internal)?;
    Ok(Reply::ok(json!({
        "url": url,
        "expires_in": 600,
        "note": "open this URL in a browser within ten minutes to run the login flow against this identity provider",
    })))
}

async fn revoke_tokens(call: &Call<'_>, id: &str) -> Answer {
    let found = find_app(call, id)?;
    call.gw
        .revoke_app_tokens(&found.name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Reply::ok(Value::Null))
}

pub(super) fn login_method(
    call: &Call<'_>,
    id: &str,
) -> Result<std::sync::Arc<LoginMethod>, ApiError> {
    let wanted = Uuid::parse_str(id)
        .map_err(|_| ApiError::invalid(format!("identity provider id: `{id}` is not an id")))?;
    call.gw
        .snapshot
        .load()
        .login_methods
        .iter()
        .find(|l| l.id.0 == wanted)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no identity provider {id}")))
}

fn identity_provider(call: &Call<'_>, l: &LoginMethod) -> Value {
    let c = l.provider.config();
    let url = |u: &Option<url::Url>| u.as_ref().map(url::Url::as_str).map(str::to_owned);
    let scim = match &l.scim {
        Some(s) => json!({
            "enabled": true,
            "user_deprovision": s.user_deprovision,
            "seat_deprovision": s.seat_deprovision,
            "identity_update_behavior": match s.identity_update_behavior {
                IdentityUpdateBehavior::Automatic => "automatic",
                IdentityUpdateBehavior::Reauth => "reauth",
                IdentityUpdateBehavior::NoAction => "no_action",
            },
            "scim_base_url": call.gw.team_url(&format!("/scim/{}/v2", l.id.0)),
        }),
        None => json!({
            "enabled": false,
            "scim_base_url": call.gw.team_url(&format!("/scim/{}/v2", l.id.0)),
        }),
    };
    let declared = public_declaration(&l.declaration);
    // `client_secret` and the SCIM secret are never returned.
    json!({
        "id": l.id.0,
        "name": l.name,
        "type": l.kind(),
        "config": {
            "client_id": c.client_id,
            "auth_url": url(&c.auth_url),
            "token_url": url(&c.token_url),
            "certs_url": url(&c.certs_url),
            "discovery_url": url(&c.discovery_url),
            "issuer": c.issuer,
            "scopes": c.scopes,
            "pkce_enabled": c.pkce_enabled,
            "email_claim_name": c.email_claim_name,
            "claims": c.claims,
            "token_endpoint_auth_method": declared["config"]["token_endpoint_auth_method"]
                .as_str()
                .unwrap_or("client_secret_basic"),
        },
        "scim_config": scim,
        "read_only": l.read_only,
        "created_at": time(l.created_at),
        "updated_at": time(l.updated_at),
    })
}

async fn refresh_scim_secret(call: &Call<'_>, id: &str) -> Answer {
    let l = login_method(call, id)?;
    if l.scim.is_none() {
        return Err(ApiError::invalid(
            "scim_config.enabled: SCIM is not enabled for this identity provider",
        ));
    }
    let secret = crate::scim_sync::regenerate_secret(call.gw.store.as_ref(), l.id.0)
        .await
        .map_err(ApiError::internal)?;
    let mut body = identity_provider(call, &l);
    body["scim_config"]["secret"] = Value::String(secret);
    Ok(Reply::ok(body))
}

fn page(call: &Call<'_>) -> Result<(u64, u64), ApiError> {
    let number = |name: &str, default: u64| -> Result<u64, ApiError> {
        match call.param(name) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::invalid(format!("{name}: `{v}` is not a positive number"))
            }),
        }
    };
    let per_page = number("per_page", 50)?.min(1000);
    Ok((number("page", 1)?, per_page))
}

fn paged(items: Vec<Value>, page: u64, per_page: u64, total: u64) -> Reply {
    let count = items.len();
    let mut reply = Reply::list(items);
    reply.result_info = Some(json!({
        "page": page, "per_page": per_page, "count": count, "total_count": total,
    }));
    // Already one page of the store's list.
    reply.pageable = false;
    reply
}

/// A query parameter and the store lookup it asks for.
type LookupParam = (&'static str, fn(String) -> portcullis_store::ScimLookup);

/// The first of Cloudflare's SCIM filter parameters the request gives, as a store lookup.
fn scim_lookup(call: &Call<'_>, params: &[LookupParam]) -> Option<portcullis_store::ScimLookup> {
    params
        .iter()
        .find_map(|(param, make)| call.param(param).map(make))
}

/// One page of a lookup's matches, and how many there are.
fn window<T>(found: Vec<T>, page: u64, per_page: u64) -> (Vec<T>, u64) {
    let total = found.len() as u64;
    let start = (page - 1).saturating_mul(per_page) as usize;
    let shown = found
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .collect();
    (shown, total)
}

fn scim_meta(created_ms: i64, modified_ms: i64, version: i64) -> Value {
    json!({
        "created": time(created_ms / 1000),
        "lastModified": time(modified_ms / 1000),
        "version": version.to_string(),
    })
}

/// `GET identity_providers/<id>/scim/users`: the users this provider provisioned, with
/// Cloudflare's filters (`cf_resource_id`, `idp_resource_id`, `username`, `email`, `name`).
async fn scim_users(call: &Call<'_>, id: &str) -> Answer {
    use portcullis_store::ScimLookup;
    let l = login_method(call, id)?;
    let (page, per_page) = page(call)?;
    let store = call.gw.store.as_ref();
    let lookup = scim_lookup(
        call,
        &[
            ("cf_resource_id", ScimLookup::Id),
            ("idp_resource_id", ScimLookup::ExternalId),
            ("username", ScimLookup::UserName),
            ("email", ScimLookup::Email),
            ("name", ScimLookup::DisplayName),
        ],
    );
    let (users, total) = match lookup {
        Some(by) => window(
            store
                .find_scim_users(l.id.0, &by)
                .await
                .map_err(ApiError::store)?,
            page,
            per_page,
        ),
        None => (
            store
                .list_scim_users(l.id.0, (page - 1) * per_page, per_page)
                .await
                .map_err(ApiError::store)?,
            store
                .count_scim_users(l.id.0)
                .await
                .map_err(ApiError::store)?,
        ),
    };
    let items = users
        .iter()
        .map(|u: &portcullis_store::ScimUserRecord| {
            json!({
                "cf_resource_id": u.id,
                "idp_resource_id": u.external_id,
                "username": u.user_name,
                "name": u.display_name,
                "email": u.emails.first(),
                "active": u.active,
                "meta": scim_meta(u.created_ms, u.modified_ms, u.version),
            })
        })
        .collect();
    Ok(paged(items, page, per_page, total))
}

/// `GET identity_providers/<id>/scim/groups`, filters `cf_resource_id`, `idp_resource_id`,
/// `name`.
async fn scim_groups(call: &Call<'_>, id: &str) -> Answer {
    use portcullis_store::ScimLookup;
    let l = login_method(call, id)?;
    let (page, per_page) = page(call)?;
    let store = call.gw.store.as_ref();
    let lookup = scim_lookup(
        call,
        &[
            ("cf_resource_id", ScimLookup::Id),
            ("idp_resource_id", ScimLookup::ExternalId),
            ("name", ScimLookup::DisplayName),
        ],
    );
    let (groups, total) = match lookup {
        Some(by) => window(
            store
                .find_scim_groups(l.id.0, &by)
                .await
                .map_err(ApiError::store)?,
            page,
            per_page,
        ),
        None => (
            store
                .list_scim_groups(l.id.0, (page - 1) * per_page, per_page)
                .await
                .map_err(ApiError::store)?,
            store
                .count_scim_groups(l.id.0)
                .await
                .map_err(ApiError::store)?,
        ),
    };
    let items = groups
        .iter()
        .map(|g: &portcullis_store::ScimGroupRecord| {
            json!({
                "cf_resource_id": g.id,
                "idp_resource_id": g.external_id,
                "displayName": g.display_name,
                "meta": scim_meta(g.created_ms, g.modified_ms, g.version),
            })
        })
        .collect();
    Ok(paged(items, page, per_page, total))
}

pub(super) fn find_app(call: &Call<'_>, id: &str) -> Result<std::sync::Arc<App>, ApiError> {
    let snapshot = call.gw.snapshot.load();
    snapshot
        .apps
        .iter()
        .map(|(_, a)| a)
        .find(|a| a.id.to_string() == id || a.aud == id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no application {id}")))
}

/// An application in Cloudflare's shape. Its `policies` are as declared: a reference to a
/// reusable policy shows that policy (`reusable: true`, its id), an inline policy shows itself;
/// each with its `precedence`.
fn app(snapshot: &Snapshot, a: &App) -> Value {
    let declared = a
        .declaration
        .get("policies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let policies: Vec<Value> = declared
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let precedence = entry
                .get("precedence")
                .cloned()
                .unwrap_or_else(|| json!(i + 1));
            let reference = entry
                .as_object()
                .and_then(crate::config::access::reference_id);
            let mut v = match reference {
                Some(id) => {
                    let mut v = reusable_policy(snapshot, id);
                    v["reusable"] = Value::Bool(true);
                    v
                }
                None => {
                    let mut v = entry.clone();
                    v["reusable"] = Value::Bool(false);
                    v
                }
            };
            v["precedence"] = precedence;
            v
        })
        .collect();
    json!({
        "id": a.id,
        "uid": a.id,
        "type": "self_hosted",
        "name": a.name,
        "domain": a.domain,
        "self_hosted_domains": [a.domain],
        "destinations": [{"type": "public", "uri": a.domain}],
        "aud": a.aud,
        "origin": a.origin.as_str(),
        "session_duration": format_go_duration(a.session_duration),
        "allowed_idps": a.allowed_idps.iter().map(|i| i.0).collect::<Vec<_>>(),
        "auto_redirect_to_identity": a.auto_redirect_to_identity,
        "policies": policies,
        "reusable_policies": a.policy_refs,
        "same_site_cookie_attribute": a.same_site.as_str().to_ascii_lowercase(),
        "http_only_cookie_attribute": a.http_only,
        "enable_binding_cookie": a.enable_binding_cookie,
        "path_cookie_attribute": a.cookie_path.is_some(),
        "options_preflight_bypass": a.options_preflight_bypass,
        "service_auth_401_redirect": a.service_auth_401_redirect,
        "read_service_tokens_from_header": a.read_service_tokens_from_header.as_ref().map(|h| h.as_str()),
        "custom_deny_message": a.custom_deny_message,
        "custom_deny_url": a.custom_deny_url.as_ref().map(url::Url::as_str),
        "custom_non_identity_deny_url": a.custom_non_identity_deny_url.as_ref().map(url::Url::as_str),
        "cors_headers": a.declaration.get("cors_headers"),
        "read_only": a.read_only,
        "created_at": time(a.created_at),
        "updated_at": time(a.updated_at),
    })
}

/// A reusable policy in Cloudflare's shape, with how many applications use it.
fn reusable_policy(snapshot: &Snapshot, id: &str) -> Value {
    let Some(p) = snapshot.policy(id) else {
        return json!({ "id": id });
    };
    let app_count = snapshot
        .apps
        .iter()
        .filter(|(_, a)| a.policy_refs.iter().any(|r| r == id))
        .count();
    let mut v = serde_json::to_value(&p.policy).unwrap_or(Value::Null);
    v["id"] = Value::String(p.id.clone());
    v["uid"] = Value::String(p.id.clone());
    v["reusable"] = Value::Bool(true);
    v["app_count"] = json!(app_count);
    v["read_only"] = Value::Bool(p.read_only);
    v["created_at"] = Value::String(time(p.created_at));
    v["updated_at"] = Value::String(time(p.updated_at));
    v
}

/// A rule group in Cloudflare's shape.
fn rule_group(snapshot: &Snapshot, id: &str) -> Value {
    let Some(g) = snapshot.catalog.group(id) else {
        return json!({ "id": id });
    };
    let entry = snapshot.rule_groups.iter().find(|e| e.id == id);
    json!({
        "id": g.id,
        "name": g.name,
        "include": g.include,
        "exclude": g.exclude,
        "require": g.require,
        "is_default": false,
        "read_only": entry.is_none_or(|e| e.read_only),
        "created_at": entry.map(|e| time(e.created_at)),
        "updated_at": entry.map(|e| time(e.updated_at)),
    })
}
