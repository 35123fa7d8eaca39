//! The administration commands run through a gateway's admin API (`--url`), printing what the
//! same commands print with `--config` wherever the API tells enough to do so.
//!
//! The API speaks Cloudflare's object shapes (RFC 3339 times, `access_seat`, …); this module
//! reads them into the forms the local commands print (unix seconds in JSON, dates for people).
//! Commands the API does not offer fail with [`RemoteError::LocalOnly`]. The object commands
//! (`idp`, `apps`, `policies`, `groups`) are in [`super::objects`].

use portcullis_core::{Outcome, format_go_duration};
use portcullis_scim::Timestamp;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::format::{Table, count, fields, json as to_json, when, when_or};
use super::logs::{self, LogSource};
use super::objects::{self, Kind};
use super::policy::{self as local_policy, Shown, Tested};
use super::remote::{Remote, RemoteError};
use super::{
    AdminCommand, ApiTokenCommand, AppCommand, CliError, IdpCommand, KeysCommand, ObjectAction,
    Output, PolicyCommand, PolicyTestArgs, ScimCommand, SessionCommand, TokenCommand, UserCommand,
};
use crate::registry::RELOGIN_BLOCK_SECS;
use crate::service_tokens::{Lifetime, ROTATION_GRACE};

/// Runs an administration command through the admin API at `now` (unix seconds, this machine's
/// clock; used to say whether a token has expired) and returns what to print.
pub async fn execute(
    remote: &Remote,
    command: &AdminCommand,
    output: Output,
    now: i64,
) -> Result<String, CliError> {
    match command {
        AdminCommand::ServiceToken(command) => match command {
            TokenCommand::Create { name, duration } => {
                create_token(remote, name, *duration, now, output).await
            }
            TokenCommand::List => list_tokens(remote, now, output).await,
            TokenCommand::Refresh { token } => refresh_token(remote, token, now, output).await,
            TokenCommand::Rotate { token } => rotate_token(remote, token, now, output).await,
            TokenCommand::Enable { token } => {
                set_token_enabled(remote, token, true, now, output).await
            }
            TokenCommand::Disable { token } => {
                set_token_enabled(remote, token, false, now, output).await
            }
            TokenCommand::Delete { token } => delete_token(remote, token, output).await,
        },
        AdminCommand::Users(command) => match command {
            UserCommand::List => list_users(remote, output).await,
            UserCommand::Show { user } => show_user(remote, user, output).await,
            UserCommand::Revoke { user } => revoke_user(remote, user, now, output).await,
            UserCommand::Remove { user } => remove_user(remote, user, output).await,
        },
        AdminCommand::Sessions(SessionCommand::Revoke { session }) => {
            revoke_session(remote, session, output).await
        }
        AdminCommand::Apps(AppCommand::RevokeTokens { app }) => {
            revoke_app_tokens(remote, app, now, output).await
        }
        AdminCommand::Apps(command) => {
            let action = command.object_action().unwrap_or(ObjectAction::List);
            objects::run(remote, Kind::App, action, output).await
        }
        AdminCommand::Idp(IdpCommand::Test { idp }) => {
            objects::test_login_method(remote, idp, output).await
        }
        AdminCommand::Idp(command) => {
            let action = command.object_action().unwrap_or(ObjectAction::List);
            objects::run(remote, Kind::LoginMethod, action, output).await
        }
        AdminCommand::Policy(PolicyCommand::Test(args)) => {
            test_policies(remote, args, output).await
        }
        AdminCommand::Policy(command) => {
            let action = command.object_action().unwrap_or(ObjectAction::List);
            objects::run(remote, Kind::Policy, action, output).await
        }
        AdminCommand::Groups(command) => {
            objects::run(remote, Kind::Group, command.object_action(), output).await
        }
        AdminCommand::Scim(ScimCommand::RefreshSecret { login_method }) => {
            refresh_scim_secret(remote, login_method, output).await
        }
        AdminCommand::ApiToken(command) => Err(local_only(match command {
            ApiTokenCommand::Create { .. } => "api-token create",
            ApiTokenCommand::List => "api-token list",
            ApiTokenCommand::Delete { .. } => "api-token delete",
        })),
        AdminCommand::Keys(KeysCommand::Rotate) => rotate_keys(remote, output).await,
        AdminCommand::Logs(command) => logs::show(LogSource::Remote(remote), command, output).await,
    }
}

fn local_only(command: &'static str) -> CliError {
    RemoteError::LocalOnly(command).into()
}

fn unexpected(what: &str, e: impl std::fmt::Display) -> CliError {
    RemoteError::Unexpected(format!("{what}: {e}")).into()
}

fn parse<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, CliError> {
    serde_json::from_value(value).map_err(|e| unexpected(what, e))
}

/// Unix seconds of an RFC 3339 time from the API.
fn unix(field: &str, text: &str) -> Result<i64, CliError> {
    Timestamp::parse_rfc3339(text)
        .map(|t| t.unix_millis().div_euclid(1000))
        .ok_or_else(|| unexpected(field, format!("`{text}` is not an RFC 3339 time")))
}

fn unix_opt(field: &str, text: Option<&str>) -> Result<Option<i64>, CliError> {
    text.map(|t| unix(field, t)).transpose()
}

// Sessions.

/// `sessions revoke <session id>`: finds the user whose active sessions hold it, then ends it
/// with `DELETE users/<id>/active_sessions/<session id>`.
async fn revoke_session(
    remote: &Remote,
    session: &str,
    output: Output,
) -> Result<String, CliError> {
    let users = remote.get(&["users"], &[]).await?;
    for user in users.as_array().into_iter().flatten() {
        let Some(id) = user["id"].as_str() else {
            continue;
        };
        let sessions = remote.get(&["users", id, "active_sessions"], &[]).await?;
        let held = sessions
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["metadata"]["nonce"].as_str() == Some(session));
        if held {
            let ended = remote
                .call(
                    Method::DELETE,
                    &["users", id, "active_sessions", session],
                    None,
                )
                .await?;
            let email = user["email"].as_str().unwrap_or_default();
            if output == Output::Json {
                return to_json(&json!({"session": session, "user": email, "ended": ended}));
            }
            return Ok(format!(
                "Ended session {session} of {email}: its tokens are refused from now on.\n"
            ));
        }
    }
    Err(RemoteError::NotFound(format!(
        "no active session {session} (ended, expired, or never issued); `portcullis users show <email>` lists a user's sessions"
    ))
    .into())
}

// Service tokens.

/// A service token as the API returns it.
#[derive(Deserialize)]
struct ApiToken {
    id: Uuid,
    name: String,
    client_id: String,
    duration: String,
    expires_at: Option<String>,
    created_at: String,
    updated_at: String,
    enabled: bool,
    client_secret: Option<String>,
}

/// A token as `service-token … --json` prints it in both modes.
#[derive(Serialize)]
struct TokenView {
    id: Uuid,
    name: String,
    client_id: String,
    duration: String,
    expires_at: Option<i64>,
    enabled: bool,
    status: &'static str,
    created_at: i64,
    updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl TokenView {
    fn from_api(t: ApiToken, now: i64) -> Result<TokenView, CliError> {
        let expires_at = unix_opt("expires_at", t.expires_at.as_deref())?;
        let status = if !t.enabled {
            "disabled"
        } else if expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        };
        Ok(TokenView {
            id: t.id,
            name: t.name,
            client_id: t.client_id,
            duration: t.duration,
            expires_at,
            enabled: t.enabled,
            status,
            created_at: unix("created_at", &t.created_at)?,
            updated_at: unix("updated_at", &t.updated_at)?,
            client_secret: t.client_secret,
        })
    }
}

async fn tokens(remote: &Remote, now: i64) -> Result<Vec<TokenView>, CliError> {
    let rows: Vec<ApiToken> = parse(
        "service_tokens",
        remote.get(&["service_tokens"], &[]).await?,
    )?;
    rows.into_iter()
        .map(|t| TokenView::from_api(t, now))
        .collect()
}

/// Finds a token by id, name or client id.
async fn find_token(remote: &Remote, token: &str, now: i64) -> Result<TokenView, CliError> {
    let token = token.trim();
    tokens(remote, now)
        .await?
        .into_iter()
        .find(|t| t.id.to_string() == token || t.name == token || t.client_id == token)
        .ok_or_else(|| CliError::UnknownToken(token.to_owned()))
}

/// The one-time display of a secret, as the local command prints it.
fn secret_text(token: &TokenView, intro: String, output: Output) -> Result<String, CliError> {
    if output == Output::Json {
        return to_json(token);
    }
    let secret = token.client_secret.clone().unwrap_or_default();
    let mut text = intro;
    text.push_str(&fields(&[
        ("Client ID", token.client_id.clone()),
        ("Client Secret", secret.clone()),
        ("Expires", when_or(token.expires_at, "never")),
    ]));
    text.push_str(
        "\nThe secret will not be shown again: store it now.\n\
         Clients send both headers with each request:\n",
    );
    text.push_str(&format!(
        "  CF-Access-Client-Id: {}\n  CF-Access-Client-Secret: {secret}\n",
        token.client_id
    ));
    Ok(text)
}

/// `service-token create <name> [--duration]` through the API.
pub async fn create_token(
    remote: &Remote,
    name: &str,
    lifetime: Lifetime,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let duration = match lifetime {
        Lifetime::For(d) => format_go_duration(d),
        Lifetime::Forever => "forever".to_owned(),
    };
    let body = json!({"name": name, "duration": duration});
    let created: ApiToken = parse(
        "service_tokens",
        remote
            .call(Method::POST, &["service_tokens"], Some(&body))
            .await?,
    )?;
    let token = TokenView::from_api(created, now)?;
    let intro = format!(
        "Created service token `{}` (id {}, valid for {}).\n\n",
        token.name, token.id, token.duration
    );
    secret_text(&token, intro, output)
}

/// `service-token list` through the API.
pub async fn list_tokens(remote: &Remote, now: i64, output: Output) -> Result<String, CliError> {
    let mut all = tokens(remote, now).await?;
    if output == Output::Json {
        return to_json(&all);
    }
    if all.is_empty() {
        return Ok(
            "No service tokens. Create one with `portcullis service-token create <name>`.\n".into(),
        );
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let mut table = Table::new(&["NAME", "CLIENT ID", "STATUS", "EXPIRES", "ID"]);
    for t in &all {
        table.row(vec![
            t.name.clone(),
            t.client_id.clone(),
            t.status.to_owned(),
            when_or(t.expires_at, "never"),
            t.id.to_string(),
        ]);
    }
    Ok(table.render(0))
}

/// `service-token refresh <token>` through the API.
pub async fn refresh_token(
    remote: &Remote,
    token: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let found = find_token(remote, token, now).await?;
    let id = found.id.to_string();
    let refreshed: ApiToken = parse(
        "service_tokens",
        remote
            .call(Method::POST, &["service_tokens", &id, "refresh"], None)
            .await?,
    )?;
    let t = TokenView::from_api(refreshed, now)?;
    if output == Output::Json {
        return to_json(&t);
    }
    Ok(match t.expires_at {
        Some(at) => format!(
            "Service token `{}` refreshed: it now expires {}.\n",
            t.name,
            when(at)
        ),
        None => format!(
            "Service token `{}` never expires; nothing to refresh.\n",
            t.name
        ),
    })
}

/// `service-token rotate <token>` through the API.
pub async fn rotate_token(
    remote: &Remote,
    token: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let found = find_token(remote, token, now).await?;
    let id = found.id.to_string();
    let rotated: ApiToken = parse(
        "service_tokens",
        remote
            .call(Method::POST, &["service_tokens", &id, "rotate"], None)
            .await?,
    )?;
    let t = TokenView::from_api(rotated, now)?;
    let intro = format!(
        "Rotated the secret of service token `{}`. The previous secret keeps working until {}.\n\n",
        t.name,
        when(now + ROTATION_GRACE.as_secs() as i64)
    );
    secret_text(&t, intro, output)
}

/// `service-token enable|disable <token>` through the API (`PUT service_tokens/<id>` with
/// `enabled`). The answer is checked: a gateway whose API ignores `enabled` leaves the token
/// as it was, and the command then says so instead of reporting a change.
pub async fn set_token_enabled(
    remote: &Remote,
    token: &str,
    enabled: bool,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let found = find_token(remote, token, now).await?;
    let id = found.id.to_string();
    let changed: ApiToken = parse(
        "service_tokens",
        remote
            .call(
                Method::PUT,
                &["service_tokens", &id],
                Some(&json!({ "enabled": enabled })),
            )
            .await?,
    )?;
    let t = TokenView::from_api(changed, now)?;
    if t.enabled != enabled {
        return Err(RemoteError::Unsupported(format!(
            "the gateway's admin API left service token `{}` {} (its PUT service_tokens/<id> does not change `enabled`); run `service-token {}` with --config",
            t.name,
            if t.enabled { "enabled" } else { "disabled" },
            if enabled { "enable" } else { "disable" },
        ))
        .into());
    }
    if output == Output::Json {
        return to_json(&t);
    }
    Ok(if enabled {
        format!(
            "Service token `{}` enabled: its secret is accepted again.\n",
            t.name
        )
    } else {
        format!(
            "Service token `{}` disabled: its secrets are refused from now on.\n",
            t.name
        )
    })
}

/// `service-token delete <token>` through the API.
pub async fn delete_token(
    remote: &Remote,
    token: &str,
    output: Output,
) -> Result<String, CliError> {
    let found = find_token(remote, token, 0).await?;
    let id = found.id.to_string();
    remote
        .call(Method::DELETE, &["service_tokens", &id], None)
        .await?;
    if output == Output::Json {
        return to_json(&json!({"deleted": found.id, "name": found.name}));
    }
    Ok(format!(
        "Service token `{}` deleted: its secrets are refused from now on.\n",
        found.name
    ))
}

// Users.

/// A user as the API returns it.
#[derive(Deserialize)]
struct ApiUser {
    id: Uuid,
    email: String,
    name: Option<String>,
    access_seat: bool,
    last_successful_login: Option<String>,
    created_at: String,
}

/// A user as `users list --json` prints it in both modes (the API does not tell whether a
/// login is blocked).
#[derive(Serialize)]
struct UserView {
    id: Uuid,
    email: String,
    name: Option<String>,
    seat: bool,
    created_at: i64,
    last_login_at: Option<i64>,
}

async fn users(remote: &Remote) -> Result<Vec<UserView>, CliError> {
    let rows: Vec<ApiUser> = parse("users", remote.get(&["users"], &[]).await?)?;
    rows.into_iter()
        .map(|u| {
            Ok(UserView {
                id: u.id,
                created_at: unix("created_at", &u.created_at)?,
                last_login_at: unix_opt(
                    "last_successful_login",
                    u.last_successful_login.as_deref(),
                )?,
                email: u.email,
                name: u.name,
                seat: u.access_seat,
            })
        })
        .collect()
}

/// Finds a user by email (ignoring case) or id.
async fn find_user(remote: &Remote, who: &str) -> Result<UserView, CliError> {
    let who = who.trim();
    users(remote)
        .await?
        .into_iter()
        .find(|u| u.email.eq_ignore_ascii_case(who) || u.id.to_string() == who)
        .ok_or_else(|| {
            RemoteError::Api(format!(
                "no user `{who}`; `portcullis users list` shows them"
            ))
            .into()
        })
}

/// `users list` through the API.
pub async fn list_users(remote: &Remote, output: Output) -> Result<String, CliError> {
    let all = users(remote).await?;
    if output == Output::Json {
        return to_json(&all);
    }
    if all.is_empty() {
        return Ok("No users yet: a user is recorded at their first login.\n".into());
    }
    let mut table = Table::new(&["EMAIL", "NAME", "SEAT", "LAST LOGIN"]);
    for u in &all {
        table.row(vec![
            u.email.clone(),
            u.name.clone().unwrap_or_else(|| "-".to_owned()),
            if u.seat { "yes" } else { "no" }.to_owned(),
            when_or(u.last_login_at, "never"),
        ]);
    }
    let seats = all.iter().filter(|u| u.seat).count() as u64;
    let mut text = table.render(0);
    text.push_str(&format!(
        "\n{}, {} taken.\n",
        count(all.len() as u64, "user"),
        count(seats, "seat")
    ));
    Ok(text)
}

/// `users revoke <email|id>` through the API (`organizations/revoke_user`).
pub async fn revoke_user(
    remote: &Remote,
    who: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    // The API takes an email; an id is looked up first.
    let email = if Uuid::parse_str(who.trim()).is_ok() {
        find_user(remote, who).await?.email
    } else {
        who.trim().to_lowercase()
    };
    remote
        .call(
            Method::POST,
            &["organizations", "revoke_user"],
            Some(&json!({"email": email})),
        )
        .await?;
    let blocked_until = now + RELOGIN_BLOCK_SECS;
    if output == Output::Json {
        return to_json(&json!({"revoked": email, "login_blocked_until": blocked_until}));
    }
    Ok(format!(
        "Revoked {email}: their sessions ended; their tokens are refused from now on.\n\
         Signing in again is blocked for {RELOGIN_BLOCK_SECS} s (until about {}). The seat is kept; \
         `portcullis users remove` frees it.\n",
        when(blocked_until),
    ))
}

/// How many recent failed logins `users show` lists, as it does with --config.
const RECENT_FAILURES: u32 = 5;

/// A session as `GET users/<id>/active_sessions` lists it (Cloudflare's shape; `nonce` is the
/// session id).
#[derive(Deserialize)]
struct ApiSession {
    metadata: ApiSessionMetadata,
}

#[derive(Deserialize)]
struct ApiSessionMetadata {
    nonce: String,
    iat: i64,
    expires: i64,
}

/// A refused login as `GET users/<id>/failed_logins` lists it.
#[derive(Deserialize)]
struct ApiFailure {
    metadata: ApiFailureMetadata,
}

#[derive(Deserialize)]
struct ApiFailureMetadata {
    app_name: Option<String>,
    ip_address: Option<String>,
    reason: Option<String>,
    created_at: String,
}

#[derive(Serialize)]
struct SessionView {
    id: String,
    created_at: i64,
    expires_at: i64,
}

#[derive(Serialize)]
struct FailureView {
    created_at: i64,
    app_name: Option<String>,
    ip_address: Option<String>,
    reason: Option<String>,
}

fn dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_owned()
}

/// The names in an identity document's `groups` (`[{id, name}]`).
fn group_names(identity: &Value) -> Vec<String> {
    identity["groups"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| g["name"].as_str().or_else(|| g["id"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The identity of a user's last sign-in (`GET users/<id>/last_seen_identity`), or `None` when
/// they have never signed in.
async fn last_identity(remote: &Remote, id: Uuid) -> Result<Option<Value>, CliError> {
    match remote
        .get(&["users", &id.to_string(), "last_seen_identity"], &[])
        .await
    {
        Ok(identity) => Ok(Some(identity)),
        Err(RemoteError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `users show <email|id>` through the API: the user, the identity of their last sign-in, their
/// active sessions and their recent failed logins. (The API does not say whether signing in is
/// blocked after a revocation, which --config shows.)
pub async fn show_user(remote: &Remote, who: &str, output: Output) -> Result<String, CliError> {
    let user = find_user(remote, who).await?;
    let id = user.id.to_string();
    let sessions: Vec<ApiSession> = parse(
        "active_sessions",
        remote.get(&["users", &id, "active_sessions"], &[]).await?,
    )?;
    let sessions: Vec<SessionView> = sessions
        .into_iter()
        .map(|s| SessionView {
            id: s.metadata.nonce,
            created_at: s.metadata.iat,
            expires_at: s.metadata.expires,
        })
        .collect();
    let failures: Vec<ApiFailure> = parse(
        "failed_logins",
        remote
            .get(
                &["users", &id, "failed_logins"],
                &[("limit", RECENT_FAILURES.to_string())],
            )
            .await?,
    )?;
    let failures = failures
        .into_iter()
        .map(|f| {
            Ok(FailureView {
                created_at: unix("failed_logins.created_at", &f.metadata.created_at)?,
                app_name: f.metadata.app_name,
                ip_address: f.metadata.ip_address,
                reason: f.metadata.reason,
            })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let identity = last_identity(remote, user.id).await?;
    if output == Output::Json {
        return to_json(&json!({
            "user": user,
            "last_identity": identity,
            "active_sessions": sessions,
            "recent_failed_logins": failures,
        }));
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let mut pairs = vec![
        ("Email", user.email.clone()),
        ("ID", user.id.to_string()),
        ("Name", dash(user.name.as_deref())),
        ("Seat", yes_no(user.seat)),
        ("Created", when(user.created_at)),
        ("Last login", when_or(user.last_login_at, "never")),
    ];
    if let Some(identity) = &identity {
        pairs.push(("Last IP", dash(identity["ip"].as_str())));
        let groups = group_names(identity);
        if !groups.is_empty() {
            pairs.push(("Groups", groups.join(", ")));
        }
        let amr = strings(&identity["amr"]);
        if !amr.is_empty() {
            pairs.push(("Auth methods", amr.join(", ")));
        }
    }
    let mut text = fields(&pairs);
    if sessions.is_empty() {
        text.push_str("\nNo active sessions.\n");
    } else {
        let mut table = Table::new(&["SESSION", "STARTED", "EXPIRES"]);
        for s in &sessions {
            table.row(vec![s.id.clone(), when(s.created_at), when(s.expires_at)]);
        }
        text.push_str(&format!(
            "\nActive sessions ({}):\n{}",
            sessions.len(),
            table.render(2)
        ));
    }
    if failures.is_empty() {
        text.push_str("\nNo recent failed logins.\n");
    } else {
        let mut table = Table::new(&["WHEN", "APPLICATION", "IP", "REASON"]);
        for f in &failures {
            table.row(vec![
                when(f.created_at),
                dash(f.app_name.as_deref()),
                dash(f.ip_address.as_deref()),
                dash(f.reason.as_deref()),
            ]);
        }
        text.push_str(&format!(
            "\nRecent failed logins ({}):\n{}",
            failures.len(),
            table.render(2)
        ));
    }
    Ok(text)
}

/// `users remove <email|id>` through the API (`PATCH seats`, which also ends the sessions).
pub async fn remove_user(remote: &Remote, who: &str, output: Output) -> Result<String, CliError> {
    let user = find_user(remote, who).await?;
    let body = json!([{"seat_uid": user.id, "access_seat": false, "gateway_seat": false}]);
    remote.call(Method::PATCH, &["seats"], Some(&body)).await?;
    if output == Output::Json {
        return to_json(&json!({"user": user, "seat_freed": user.seat}));
    }
    let seat = if user.seat {
        "the seat is free"
    } else {
        "they held no seat"
    };
    Ok(format!(
        "Removed {}: {seat} and their sessions ended. The record stays; a later login takes a seat again.\n",
        user.email
    ))
}

// Applications.

/// An application as `apps list --json` prints it in both modes.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct AppView {
    pub(crate) id: Option<Uuid>,
    pub(crate) name: String,
    pub(crate) domain: String,
    pub(crate) origin: String,
    pub(crate) aud: Option<String>,
}

/// The `apps list` answer, in either mode.
pub(crate) fn apps_text(mut apps: Vec<AppView>, output: Output) -> Result<String, CliError> {
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    if output == Output::Json {
        return to_json(&apps);
    }
    if apps.is_empty() {
        return Ok("No applications.\n".into());
    }
    let mut table = Table::new(&["NAME", "DOMAIN", "ORIGIN", "AUD"]);
    for a in &apps {
        table.row(vec![
            a.name.clone(),
            a.domain.clone(),
            a.origin.clone(),
            a.aud
                .clone()
                .unwrap_or_else(|| "(not yet recorded)".to_owned()),
        ]);
    }
    Ok(table.render(0))
}

async fn apps(remote: &Remote) -> Result<Vec<AppView>, CliError> {
    parse("apps", remote.get(&["apps"], &[]).await?)
}

/// `apps list` through the API.
pub async fn list_apps(remote: &Remote, output: Output) -> Result<String, CliError> {
    apps_text(apps(remote).await?, output)
}

/// `apps revoke-tokens <name|id|aud>` through the API.
pub async fn revoke_app_tokens(
    remote: &Remote,
    app: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let all = apps(remote).await?;
    let wanted = app.trim();
    let found = all
        .iter()
        .find(|a| {
            a.name == wanted
                || a.id.is_some_and(|id| id.to_string() == wanted)
                || a.aud.as_deref() == Some(wanted)
        })
        .or_else(|| all.iter().find(|a| a.name.eq_ignore_ascii_case(wanted)))
        .ok_or_else(|| CliError::UnknownApp {
            name: wanted.to_owned(),
            known: if all.is_empty() {
                "none".to_owned()
            } else {
                all.iter()
                    .map(|a| format!("`{}`", a.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })?;
    let id = found
        .id
        .ok_or_else(|| unexpected("apps", format!("application `{}` has no id", found.name)))?;
    remote
        .call(
            Method::POST,
            &["apps", &id.to_string(), "revoke_tokens"],
            None,
        )
        .await?;
    let name = &found.name;
    if output == Output::Json {
        return to_json(&json!({"application": name, "id": id, "revoked_before": now}));
    }
    Ok(format!(
        "Every token of `{name}` issued until {} is refused. Users whose session is still valid \
         get a new token once their policies are checked again; service tokens are not affected.\n",
        when(now)
    ))
}

// Policy tests.

/// The fields of a policy object (what `POST policy-tests` accepts inline).
const POLICY_FIELDS: [&str; 6] = [
    "name",
    "decision",
    "include",
    "exclude",
    "require",
    "session_duration",
];

/// An application's policies as `POST policy-tests` takes them, in precedence order: a reusable
/// policy (`reusable: true`, or only an id) as the reference `{id}`, a policy written out in the
/// application with only a policy's fields.
pub fn policies_to_test(app: &Value) -> Result<Vec<Value>, CliError> {
    let listed = app
        .get("policies")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected("apps", "an application without `policies`"))?;
    let mut ordered: Vec<(u64, &Value)> = listed
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let precedence = p.get("precedence").and_then(Value::as_u64);
            (precedence.unwrap_or(i as u64 + 1), p)
        })
        .collect();
    ordered.sort_by_key(|(precedence, _)| *precedence);
    ordered
        .into_iter()
        .map(|(_, p)| match (p.get("decision"), p.get("id")) {
            (_, Some(id)) if p.get("reusable") == Some(&Value::Bool(true)) => {
                Ok(json!({ "id": id }))
            }
            (Some(_), _) => Ok(Value::Object(
                POLICY_FIELDS
                    .iter()
                    .filter_map(|f| Some(((*f).to_owned(), p.get(*f)?.clone())))
                    .collect(),
            )),
            (None, Some(id)) => Ok(json!({ "id": id })),
            (None, None) => Err(unexpected(
                "apps",
                "a policy with neither a decision nor an id",
            )),
        })
        .collect()
}

/// The decision of a policy test's entry for a user: `outcome` is the decision, or an object
/// that holds it as `outcome` or `decision`.
fn entry_outcome(entry: &Value) -> Result<Outcome, CliError> {
    let outcome = &entry["outcome"];
    let text = outcome
        .as_str()
        .or_else(|| outcome["outcome"].as_str())
        .or_else(|| outcome["decision"].as_str())
        .ok_or_else(|| unexpected("policy-tests", "a user's entry without an outcome"))?;
    [
        Outcome::Allow,
        Outcome::Deny,
        Outcome::Bypass,
        Outcome::ServiceAuth,
        Outcome::NeedsIdentity,
        Outcome::DefaultDeny,
    ]
    .into_iter()
    .find(|o| o.as_str() == text)
    .ok_or_else(|| unexpected("policy-tests", format!("unknown outcome `{text}`")))
}

/// The explanation of a policy test's entry for a user, as lines of text, when the gateway
/// gives one (`explanation`, beside `outcome` or inside it).
fn entry_explanation(entry: &Value) -> Option<String> {
    let text = entry["explanation"]
        .as_str()
        .or_else(|| entry["outcome"]["explanation"].as_str())?;
    let mut text = text.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Some(text)
}

/// The user entries of a policy test run by the gateway on the application `app`'s policies.
async fn run_policy_test(remote: &Remote, app: &Value) -> Result<(Value, Vec<Value>), CliError> {
    let policies = policies_to_test(app)?;
    let summary = remote
        .call(
            Method::POST,
            &["policy-tests"],
            Some(&json!({ "policies": policies })),
        )
        .await?;
    let id = summary["id"]
        .as_str()
        .ok_or_else(|| unexpected("policy-tests", "no id"))?
        .to_owned();
    let users = match remote.get(&["policy-tests", &id, "users"], &[]).await? {
        Value::Array(users) => users,
        _ => return Err(unexpected("policy-tests", "the users are not a list")),
    };
    Ok((summary, users))
}

/// `policy test <app> (<email> | --all-users)` through the API (`POST policy-tests`): the
/// gateway tests every user who has signed in, with their last sign-in, as the tester does
/// with --config. An identity described with attribute flags can only be tested with
/// --config, since the API tests known users only.
pub async fn test_policies(
    remote: &Remote,
    args: &PolicyTestArgs,
    output: Output,
) -> Result<String, CliError> {
    if args.describes_identity() {
        return Err(local_only(
            "policy test with --group, --claim, --amr, --ip or --country",
        ));
    }
    let app = objects::find(remote, Kind::App, &args.app).await?;
    let app_name = app["name"].as_str().unwrap_or(&args.app).to_owned();
    if app["policies"].as_array().is_some_and(Vec::is_empty) {
        return Err(CliError::Api(format!(
            "application `{app_name}` has no policies, so it denies every request"
        )));
    }
    let (summary, entries) = run_policy_test(remote, &app).await?;
    let Some(email) = &args.email else {
        return all_users_text(&app_name, &summary, &entries, output);
    };
    let entry = entries
        .iter()
        .find(|e| {
            e["email"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case(email.as_str()))
        })
        .ok_or_else(|| {
            CliError::Api(format!(
                "{email} has not signed in, so the gateway cannot test their last sign-in; \
                 to test an identity described with --group, --claim, … use --config"
            ))
        })?;
    let outcome = entry_outcome(entry)?;
    let user = find_user(remote, email.as_str()).await?;
    let identity = last_identity(remote, user.id)
        .await?
        .ok_or_else(|| unexpected("last_seen_identity", "a tested user without one"))?;
    let idp_id = identity["idp"]["id"].as_str().unwrap_or_default();
    let login_method = match objects::find(remote, Kind::LoginMethod, idp_id).await {
        Ok(found) => found["name"].as_str().unwrap_or(idp_id).to_owned(),
        Err(CliError::UnknownObject { .. }) => idp_id.to_owned(),
        Err(e) => return Err(e),
    };
    // The tester takes the country of the user's latest allowed login from the log.
    let latest = remote
        .get(
            &["logs", "access_requests"],
            &[
                ("email", email.as_str().to_owned()),
                ("allowed", "true".to_owned()),
                ("limit", "1".to_owned()),
            ],
        )
        .await?;
    let country = latest[0]["country"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let signed_in_at = identity["iat"]
        .as_i64()
        .ok_or_else(|| unexpected("last_seen_identity", "no iat"))?;
    let ip = identity["ip"]
        .as_str()
        .filter(|ip| !ip.is_empty())
        .map(str::to_owned);
    let explanation = entry_explanation(entry);
    if output == Output::Json {
        return to_json(&json!({
            "application": app_name,
            "source": "last_sign_in",
            "signed_in_at": signed_in_at,
            "identity": identity,
            "login_method": login_method,
            "ip": ip,
            "country": country,
            "outcome": outcome,
            "allowed": outcome.allowed(),
            "explanation": explanation,
        }));
    }
    let claims = identity["oidc_fields"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    Ok(local_policy::single_text(&Shown {
        application: &app_name,
        tested: &Tested::LastSignIn { signed_in_at },
        email: identity["email"].as_str().unwrap_or(email.as_str()),
        login_method: &login_method,
        groups: &group_names(&identity),
        claims: &claims,
        amr: &strings(&identity["amr"]),
        ip,
        country: country.as_deref(),
        outcome,
        explanation: explanation.as_deref().unwrap_or(
            "(this gateway's policy test does not explain the decision; \
             `portcullis policy test` with --config does)\n",
        ),
    }))
}

/// `policy test <app> --all-users` from the gateway's counts and entries.
fn all_users_text(
    app: &str,
    summary: &Value,
    entries: &[Value],
    output: Output,
) -> Result<String, CliError> {
    let mut users = Vec::with_capacity(entries.len());
    for entry in entries {
        users.push(crate::tester::UserOutcome {
            email: entry["email"].as_str().unwrap_or_default().to_owned(),
            outcome: entry_outcome(entry)?,
            explanation: entry["explanation"].as_str().unwrap_or_default().to_owned(),
        });
    }
    let allowed = users.iter().filter(|u| u.outcome.allowed()).count();
    let errored = summary["users_errored"].as_u64().unwrap_or(0);
    let tested = crate::tester::Summary {
        total: users.len(),
        allowed,
        denied: users.len() - allowed,
        // The API counts the users it could not test but does not name them.
        unreadable: Vec::new(),
        users,
    };
    if output == Output::Json {
        return to_json(&json!({
            "application": app,
            "summary": tested,
            "not_tested": errored,
        }));
    }
    let mut text = local_policy::summary_text(app, &tested);
    if errored > 0 {
        text.push_str(&format!(
            "\nNot tested: {} (their last sign-in was stored by another version).\n",
            count(errored, "user")
        ));
    }
    Ok(text)
}

// SCIM.

/// `scim refresh-secret <login method>` through the API.
pub async fn refresh_scim_secret(
    remote: &Remote,
    wanted: &str,
    output: Output,
) -> Result<String, CliError> {
    let found = objects::find(remote, Kind::LoginMethod, wanted).await?;
    let id = found["id"]
        .as_str()
        .ok_or_else(|| unexpected("identity_providers", "no id"))?;
    let name = found["name"].as_str().unwrap_or(id);
    let answer = remote
        .call(
            Method::POST,
            &["identity_providers", id, "refresh_scim_secret"],
            None,
        )
        .await?;
    let scim = &answer["scim_config"];
    let secret = scim["secret"]
        .as_str()
        .ok_or_else(|| unexpected("refresh_scim_secret", "no scim_config.secret"))?;
    let base_url = scim["scim_base_url"].as_str().unwrap_or("-");
    Ok(match output {
        Output::Json => to_json(&json!({
            "login_method": name,
            "id": id,
            "scim_base_url": base_url,
            "secret": secret,
        }))?,
        Output::Human => format!(
            "New SCIM secret for `{name}` (shown only this once; the old one no longer works):\n\n  \
             SCIM endpoint: {base_url}\n  SCIM secret:   {secret}\n\n\
             Enter both in the identity provider's provisioning settings.\n"
        ),
    })
}

// Keys.

/// The current kid and the algorithm of each published key, from the public certs.
fn current_key(certs: &Value) -> (Option<String>, Vec<(String, String)>) {
    let current = certs["public_cert"]["kid"].as_str().map(str::to_owned);
    let algs = certs["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| {
                    Some((k["kid"].as_str()?.to_owned(), k["alg"].as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    (current, algs)
}

/// `keys rotate` through the API; the kids come from the public certs at --url when it serves
/// them (the team URL does, an `admin_listen` address does not).
pub async fn rotate_keys(remote: &Remote, output: Output) -> Result<String, CliError> {
    // A gateway with `server.admin_listen` serves only the API at --url, without the certs;
    // the rotation is then reported from the API's answer alone.
    let before = remote.certs().await.ok();
    let rotated = remote.call(Method::POST, &["keys", "rotate"], None).await?;
    let rotated_at = rotated["last_key_rotation_at"].as_str().map(str::to_owned);
    let after = match before {
        Some(_) => Some(remote.certs().await?),
        None => None,
    };
    let previous = before.and_then(|certs| current_key(&certs).0);
    let Some((current, algs)) = after.map(|certs| current_key(&certs)) else {
        return Ok(match output {
            Output::Json => to_json(&json!({
                "kid": null, "alg": null, "previous_kid": null, "rotated_at": rotated_at,
            }))?,
            Output::Human => format!(
                "Signing key rotated{}.\n\nRunning gateways sign with the new key within about a \
                 second. {} serves only the admin API, so the key ids are not shown here; the \
                 team domain publishes them at /cdn-cgi/access/certs.\n",
                rotated_at.map_or_else(String::new, |at| format!(" at {at}")),
                remote.base(),
            ),
        });
    };
    let kid = current.ok_or_else(|| unexpected("certs", "no public_cert.kid"))?;
    let alg = algs
        .into_iter()
        .find(|(k, _)| *k == kid)
        .map(|(_, a)| a)
        .unwrap_or_default();
    Ok(match output {
        Output::Json => to_json(&json!({
            "kid": kid, "alg": alg, "previous_kid": previous, "rotated_at": rotated_at,
        }))?,
        Output::Human => {
            let mut text = String::from("Signing key rotated.\n\n");
            text.push_str(&fields(&[
                ("New kid", kid),
                ("Algorithm", alg),
                (
                    "Previous kid",
                    previous.map_or_else(
                        || "none".to_owned(),
                        |p| format!("{p} (still accepted until the next rotation)"),
                    ),
                ),
            ]));
            text.push_str("\nRunning gateways sign with the new key within about a second.\n");
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_tokens_read_into_the_local_shape() {
        let api: ApiToken = serde_json::from_value(json!({
            "id": "6f1c3d4e-0000-4000-8000-000000000001",
            "name": "ci",
            "client_id": "abc.access",
            "duration": "8760h",
            "expires_at": "2024-11-13T22:13:20Z",
            "created_at": "2023-11-14T22:13:20Z",
            "updated_at": "2023-11-14T22:13:20Z",
            "enabled": true,
        }))
        .unwrap();
        let view = TokenView::from_api(api, 1_700_000_000).unwrap();
        assert_eq!(view.status, "active");
        assert_eq!(view.expires_at, Some(1_731_536_000));
        let text = to_json(&view).unwrap();
        assert!(!text.contains("client_secret"), "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["created_at"],
            1_700_000_000
        );
        let api: ApiToken = serde_json::from_value(json!({
            "id": "6f1c3d4e-0000-4000-8000-000000000001", "name": "ci", "client_id": "abc",
            "duration": "1h", "expires_at": "2023-11-14T22:13:20Z",
            "created_at": "2023-11-14T21:13:20Z", "updated_at": "2023-11-14T21:13:20Z",
            "enabled": true,
        }))
        .unwrap();
        assert_eq!(
            TokenView::from_api(api, 1_700_000_000).unwrap().status,
            "expired"
        );
    }

    #[test]
    fn commands_the_api_lacks_say_where_to_run_them() {
        let err = local_only("policy test").to_string();
        assert_eq!(
            err,
            "`policy test` is not available through the admin API; run it with --config on a machine that has the configuration"
        );
    }

    #[test]
    fn an_apps_policies_are_sent_for_testing_in_precedence_order() {
        let app = json!({"name": "wiki", "policies": [
            {"id": "staff", "precedence": 2},
            {"name": "no contractors", "decision": "deny", "precedence": 1,
             "include": [{"group": {"id": "contractors"}}], "id": "ignored", "read_only": true},
            {"id": "p3", "name": "bypass health", "decision": "bypass", "precedence": 3,
             "include": [{"everyone": {}}], "session_duration": "1h", "reusable": false},
            {"id": "eng", "name": "engineers", "decision": "allow", "precedence": 4,
             "include": [{"everyone": {}}], "reusable": true, "app_count": 2},
        ]});
        assert_eq!(
            policies_to_test(&app).unwrap(),
            vec![
                json!({"name": "no contractors", "decision": "deny",
                       "include": [{"group": {"id": "contractors"}}]}),
                json!({"id": "staff"}),
                json!({"name": "bypass health", "decision": "bypass",
                       "include": [{"everyone": {}}], "session_duration": "1h"}),
                json!({"id": "eng"}),
            ]
        );
        assert!(policies_to_test(&json!({"policies": [{"precedence": 1}]})).is_err());
        assert!(policies_to_test(&json!({"name": "x"})).is_err());
    }

    #[test]
    fn a_tested_users_entry_gives_the_decision_and_any_explanation() {
        let plain = json!({"email": "a@example.com", "status": "approved", "outcome": "allow"});
        assert_eq!(entry_outcome(&plain).unwrap(), Outcome::Allow);
        assert_eq!(entry_explanation(&plain), None);
        let explained = json!({"email": "a@example.com", "outcome": {
            "outcome": "default_deny", "explanation": "access denied: no policy matched"}});
        assert_eq!(entry_outcome(&explained).unwrap(), Outcome::DefaultDeny);
        assert_eq!(
            entry_explanation(&explained).as_deref(),
            Some("access denied: no policy matched\n")
        );
        let beside = json!({"outcome": "service_auth", "explanation": "line 1\nline 2\n"});
        assert_eq!(entry_outcome(&beside).unwrap(), Outcome::ServiceAuth);
        assert_eq!(
            entry_explanation(&beside).as_deref(),
            Some("line 1\nline 2\n")
        );
        assert!(entry_outcome(&json!({"outcome": "maybe"})).is_err());
        assert!(entry_outcome(&json!({})).is_err());
    }

    #[test]
    fn the_current_key_comes_from_the_certs() {
        let certs = json!({
            "keys": [{"kid": "new", "alg": "ES256"}, {"kid": "old", "alg": "RS256"}],
            "public_cert": {"kid": "new", "cert": "…"},
        });
        let (kid, algs) = current_key(&certs);
        assert_eq!(kid.as_deref(), Some("new"));
        assert_eq!(algs[0], ("new".to_owned(), "ES256".to_owned()));
        assert_eq!(current_key(&json!({})), (None, vec![]));
    }

    #[test]
    fn app_lists_are_sorted_tables() {
        let apps = vec![
            AppView {
                id: None,
                name: "wiki".into(),
                domain: "wiki.example.com".into(),
                origin: "http://10.0.0.2/".into(),
                aud: None,
            },
            AppView {
                id: Some(Uuid::nil()),
                name: "status".into(),
                domain: "status.example.com".into(),
                origin: "http://10.0.0.3/".into(),
                aud: Some("ab12".into()),
            },
        ];
        let text = apps_text(apps, Output::Human).unwrap();
        assert_eq!(
            text,
            "NAME    DOMAIN              ORIGIN            AUD\n\
             status  status.example.com  http://10.0.0.3/  ab12\n\
             wiki    wiki.example.com    http://10.0.0.2/  (not yet recorded)\n"
        );
        assert_eq!(apps_text(vec![], Output::Json).unwrap(), "[]\n");
    }
}
