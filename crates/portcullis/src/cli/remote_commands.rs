//! The administration commands run through a gateway's admin API (`--url`), printing what the
//! same commands print with `--config` wherever the API tells enough to do so.
//!
//! The API speaks Cloudflare's object shapes (RFC 3339 times, `access_seat`, …); this module
//! reads them into the forms the local commands print (unix seconds in JSON, dates for people).
//! Commands the API does not offer fail with [`RemoteError::LocalOnly`].

use portcullis_core::format_go_duration;
use portcullis_scim::Timestamp;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::format::{Table, count, fields, json as to_json, when, when_or};
use super::logs::{self, LogSource};
use super::remote::{Remote, RemoteError};
use super::{
    AdminCommand, ApiTokenCommand, AppCommand, CliError, KeysCommand, Output, PolicyCommand,
    ScimCommand, SessionCommand, TokenCommand, UserCommand,
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
            TokenCommand::Enable { .. } => Err(local_only("service-token enable")),
            TokenCommand::Disable { .. } => Err(local_only("service-token disable")),
            TokenCommand::Delete { token } => delete_token(remote, token, output).await,
        },
        AdminCommand::Users(command) => match command {
            UserCommand::List => list_users(remote, output).await,
            UserCommand::Show { .. } => Err(local_only("users show")),
            UserCommand::Revoke { user } => revoke_user(remote, user, now, output).await,
            UserCommand::Remove { user } => remove_user(remote, user, output).await,
        },
        AdminCommand::Sessions(SessionCommand::Revoke { .. }) => Err(local_only("sessions revoke")),
        AdminCommand::Apps(AppCommand::List) => list_apps(remote, output).await,
        AdminCommand::Apps(AppCommand::RevokeTokens { app }) => {
            revoke_app_tokens(remote, app, now, output).await
        }
        AdminCommand::Policy(PolicyCommand::Test(_)) => Err(local_only("policy test")),
        AdminCommand::Scim(ScimCommand::RefreshSecret { .. }) => {
            Err(local_only("scim refresh-secret"))
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

/// `keys rotate` through the API; the kids come from the team domain's public certs.
pub async fn rotate_keys(remote: &Remote, output: Output) -> Result<String, CliError> {
    let (previous, _) = current_key(&remote.certs().await?);
    remote.call(Method::POST, &["keys", "rotate"], None).await?;
    let (current, algs) = current_key(&remote.certs().await?);
    let kid = current.ok_or_else(|| unexpected("certs", "no public_cert.kid"))?;
    let alg = algs
        .into_iter()
        .find(|(k, _)| *k == kid)
        .map(|(_, a)| a)
        .unwrap_or_default();
    Ok(match output {
        Output::Json => to_json(&json!({"kid": kid, "alg": alg, "previous_kid": previous}))?,
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
