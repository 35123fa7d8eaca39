//! `portcullis users …`, `sessions revoke` and `apps revoke-tokens`: the registry as an
//! administrator sees and changes it.

use portcullis_store::{AuthLogRecord, SessionRecord, Store, UserRecord};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::format::{Table, count, fields, json, when, when_or};
use super::{CliError, Output, find_app};
use crate::access::StoredIdentity;
use crate::config::Config;
use crate::registry::{self, RELOGIN_BLOCK_SECS, RegistryError};

/// A user as the list and the detail view show them (the stored identity only in the detail).
#[derive(Serialize)]
struct UserView<'a> {
    id: Uuid,
    email: &'a str,
    name: Option<&'a str>,
    seat: bool,
    created_at: i64,
    last_login_at: Option<i64>,
    login_blocked_until: Option<i64>,
}

fn user_view(u: &UserRecord) -> UserView<'_> {
    UserView {
        id: u.id,
        email: &u.email,
        name: u.name.as_deref(),
        seat: u.seat,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
        login_blocked_until: u.login_blocked_until,
    }
}

/// A session without its copy of the identity (the user's detail already has it).
#[derive(Serialize)]
struct SessionView<'a> {
    id: &'a str,
    idp_id: Uuid,
    created_at: i64,
    expires_at: i64,
}

fn session_view(s: &SessionRecord) -> SessionView<'_> {
    SessionView {
        id: &s.id,
        idp_id: s.idp_id,
        created_at: s.created_at,
        expires_at: s.expires_at,
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// `users list`.
pub async fn list(store: &dyn Store, output: Output) -> Result<String, CliError> {
    let users = store.list_users().await?;
    if output == Output::Json {
        return json(&users.iter().map(user_view).collect::<Vec<_>>());
    }
    if users.is_empty() {
        return Ok("No users yet: a user is recorded at their first login.\n".into());
    }
    let mut table = Table::new(&["EMAIL", "NAME", "SEAT", "LAST LOGIN"]);
    for u in &users {
        table.row(vec![
            u.email.clone(),
            dash(u.name.as_deref()),
            yes_no(u.seat),
            when_or(u.last_login_at, "never"),
        ]);
    }
    let seats = users.iter().filter(|u| u.seat).count() as u64;
    let mut text = table.render(0);
    text.push_str(&format!(
        "\n{}, {} taken.\n",
        count(users.len() as u64, "user"),
        count(seats, "seat")
    ));
    Ok(text)
}

/// `users show <email|id>`.
pub async fn show(
    store: &dyn Store,
    who: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let view = registry::view_user(store, who, now).await?;
    let user = &view.user;
    let last = user
        .last_seen_identity
        .clone()
        .and_then(|v| serde_json::from_value::<StoredIdentity>(v).ok());
    if output == Output::Json {
        return json(&json!({
            "user": user_view(user),
            "last_identity": last,
            "active_sessions": view.active_sessions.iter().map(session_view).collect::<Vec<_>>(),
            "recent_failed_logins": view.recent_failed_logins,
        }));
    }
    let mut pairs = vec![
        ("Email", user.email.clone()),
        ("ID", user.id.to_string()),
        ("Name", dash(user.name.as_deref())),
        ("Seat", yes_no(user.seat)),
        ("Created", when(user.created_at)),
        ("Last login", when_or(user.last_login_at, "never")),
    ];
    if let Some(until) = user.login_blocked_until.filter(|until| *until > now) {
        pairs.push(("Login blocked", format!("until {}", when(until))));
    }
    if let Some(last) = &last {
        let i = &last.identity;
        pairs.push(("Last IP", last.ip.clone()));
        if !i.groups.is_empty() {
            pairs.push(("Groups", i.groups.join(", ")));
        }
        if !i.amr.is_empty() {
            pairs.push(("Auth methods", i.amr.join(", ")));
        }
    }
    let mut text = fields(&pairs);
    text.push_str(&sessions_text(&view.active_sessions));
    text.push_str(&failures_text(&view.recent_failed_logins));
    Ok(text)
}

fn sessions_text(sessions: &[SessionRecord]) -> String {
    if sessions.is_empty() {
        return "\nNo active sessions.\n".into();
    }
    let mut table = Table::new(&["SESSION", "STARTED", "EXPIRES"]);
    for s in sessions {
        table.row(vec![s.id.clone(), when(s.created_at), when(s.expires_at)]);
    }
    format!(
        "\nActive sessions ({}):\n{}",
        sessions.len(),
        table.render(2)
    )
}

fn failures_text(failures: &[AuthLogRecord]) -> String {
    if failures.is_empty() {
        return "\nNo recent failed logins.\n".into();
    }
    let mut table = Table::new(&["WHEN", "APPLICATION", "IP", "REASON"]);
    for f in failures {
        table.row(vec![
            when(f.created_at),
            dash(f.app_name.as_deref()),
            dash(f.ip_address.as_deref()),
            dash(f.reason.as_deref()),
        ]);
    }
    format!(
        "\nRecent failed logins ({}):\n{}",
        failures.len(),
        table.render(2)
    )
}

/// `users revoke <email|id>`.
pub async fn revoke(
    store: &dyn Store,
    who: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let (user, ended) = registry::revoke_user(store, who, now).await?;
    let blocked_until = now + RELOGIN_BLOCK_SECS;
    if output == Output::Json {
        return json(&json!({
            "user": user_view(&user),
            "sessions_ended": ended,
            "login_blocked_until": blocked_until,
        }));
    }
    Ok(format!(
        "Revoked {}: {} ended; their tokens are refused from now on.\n\
         Signing in again is blocked for {RELOGIN_BLOCK_SECS} s (until {}). The seat is kept; \
         `portcullis users remove` frees it.\n",
        user.email,
        count(ended, "session"),
        when(blocked_until),
    ))
}

/// `users remove <email|id>`.
pub async fn remove(
    store: &dyn Store,
    who: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let (user, ended) = registry::remove_user(store, who, now).await?;
    if output == Output::Json {
        return json(&json!({
            "user": user_view(&user),
            "sessions_ended": ended,
            "seat_freed": user.seat,
        }));
    }
    let seat = if user.seat {
        "the seat is free"
    } else {
        "they held no seat"
    };
    Ok(format!(
        "Removed {}: {seat} and {} ended. The record stays; a later login takes a seat again.\n",
        user.email,
        count(ended, "session"),
    ))
}

/// `sessions revoke <session id>`.
pub async fn revoke_session(
    store: &dyn Store,
    id: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let id = id.trim();
    registry::revoke_session(store, id, now).await?;
    if output == Output::Json {
        return json(&json!({"revoked_session": id}));
    }
    Ok(format!(
        "Session {id} revoked: every token issued from it is refused from now on.\n"
    ))
}

/// `apps revoke-tokens <app>`.
pub async fn revoke_app_tokens(
    config: &Config,
    store: &dyn Store,
    app: &str,
    now: i64,
    output: Output,
) -> Result<String, CliError> {
    let name = &find_app(config, app)?.name;
    let app_id = match registry::revoke_app_tokens(store, name, now).await {
        Ok(id) => id,
        Err(RegistryError::UnknownApp(_)) => return Err(CliError::AppNotRecorded(name.clone())),
        Err(e) => return Err(e.into()),
    };
    if output == Output::Json {
        return json(&json!({"application": name, "id": app_id, "revoked_before": now}));
    }
    Ok(format!(
        "Every token of `{name}` issued until {} is refused. Users whose session is still valid \
         get a new token once their policies are checked again; service tokens are not affected.\n",
        when(now)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tester::tests::{config, identity, sign_in, store};
    use portcullis_store::{ApplicationRecord, AuthLogRecord};
    use serde_json::Value;

    const NOW: i64 = 1_700_000_000;

    async fn with_sessions(store: &dyn Store) -> UserRecord {
        let user = sign_in(
            store,
            identity("ann@example.com", &["eng"], &["pwd", "mfa"]),
            "10.0.0.8",
            NOW - 600,
        )
        .await;
        for (id, start) in [("sess-a", NOW - 600), ("sess-b", NOW - 60)] {
            store
                .create_session(&SessionRecord {
                    id: id.into(),
                    user_id: user.id,
                    idp_id: Uuid::new_v4(),
                    identity: json!({}),
                    created_at: start,
                    expires_at: start + 86_400,
                    revoked_at: None,
                })
                .await
                .unwrap();
        }
        store
            .insert_auth_log(&AuthLogRecord {
                id: Uuid::new_v4(),
                ray_id: "r1".into(),
                created_at: NOW - 3600,
                user_email: Some("ann@example.com".into()),
                user_id: Some(user.id),
                ip_address: Some("192.0.2.4".into()),
                app_uid: None,
                app_domain: Some("wiki.localhost".into()),
                app_name: Some("wiki".into()),
                connection: "oidc".into(),
                idp_id: None,
                action: "login".into(),
                allowed: false,
                reason: Some("no policy matched".into()),
                country: None,
            })
            .await
            .unwrap();
        user
    }

    #[tokio::test]
    async fn list_and_show_a_user() {
        let store = store().await;
        let s = store.as_ref();
        assert!(
            list(s, Output::Human)
                .await
                .unwrap()
                .starts_with("No users yet")
        );
        let user = with_sessions(s).await;
        sign_in(s, identity("bob@example.com", &[], &[]), "10.0.0.9", NOW).await;

        let listed = list(s, Output::Human).await.unwrap();
        assert_eq!(
            listed,
            "EMAIL            NAME  SEAT  LAST LOGIN\n\
             ann@example.com  ann   yes   2023-11-14 22:03 UTC\n\
             bob@example.com  bob   yes   2023-11-14 22:13 UTC\n\
             \n2 users, 2 seats taken.\n"
        );
        let as_json: Value = serde_json::from_str(&list(s, Output::Json).await.unwrap()).unwrap();
        assert_eq!(as_json[0]["email"], "ann@example.com");
        assert_eq!(as_json[1]["seat"], true);

        let shown = show(s, "ANN@example.com", NOW, Output::Human)
            .await
            .unwrap();
        for expected in [
            "Email         ann@example.com\n",
            &format!("ID            {}\n", user.id),
            "Groups        eng\n",
            "Auth methods  pwd, mfa\n",
            "Last IP       10.0.0.8\n",
            "Active sessions (2):\n  SESSION  STARTED               EXPIRES\n  sess-b   2023-11-14 22:12 UTC  2023-11-15 22:12 UTC\n",
            "Recent failed logins (1):\n",
            "wiki         192.0.2.4  no policy matched\n",
        ] {
            assert!(shown.contains(expected), "no {expected:?} in\n{shown}");
        }
        let as_json: Value = serde_json::from_str(
            &show(s, &user.id.to_string(), NOW, Output::Json)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(as_json["active_sessions"].as_array().unwrap().len(), 2);
        assert_eq!(as_json["last_identity"]["identity"]["groups"][0], "eng");
        assert_eq!(
            as_json["recent_failed_logins"][0]["reason"],
            "no policy matched"
        );

        let err = show(s, "nobody@example.com", NOW, Output::Human)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, "no user with email or id `nobody@example.com`");
    }

    #[tokio::test]
    async fn revoke_ends_sessions_and_blocks_logins_remove_frees_the_seat() {
        let store = store().await;
        let s = store.as_ref();
        let user = with_sessions(s).await;
        let revoked = revoke(s, "ann@example.com", NOW, Output::Human)
            .await
            .unwrap();
        assert!(
            revoked.starts_with("Revoked ann@example.com: 2 sessions ended"),
            "{revoked}"
        );
        assert!(revoked.contains("blocked for 60 s"), "{revoked}");
        assert!(s.list_user_sessions(user.id, NOW).await.unwrap().is_empty());
        let shown = show(s, "ann@example.com", NOW, Output::Human)
            .await
            .unwrap();
        assert!(
            shown.contains("Login blocked  until 2023-11-14 22:14 UTC"),
            "{shown}"
        );
        assert!(shown.contains("Seat           yes"), "{shown}");
        assert!(shown.contains("No active sessions."), "{shown}");

        let removed = remove(s, "ann@example.com", NOW, Output::Json)
            .await
            .unwrap();
        let removed: Value = serde_json::from_str(&removed).unwrap();
        assert_eq!(removed["seat_freed"], true);
        assert_eq!(removed["sessions_ended"], 0);
        assert!(!s.get_user(user.id).await.unwrap().unwrap().seat);
        let again = remove(s, "ann@example.com", NOW, Output::Human)
            .await
            .unwrap();
        assert_eq!(
            again,
            "Removed ann@example.com: they held no seat and 0 sessions ended. The record stays; \
             a later login takes a seat again.\n"
        );
    }

    #[tokio::test]
    async fn one_session_and_one_application() {
        let config = config();
        let store = store().await;
        let s = store.as_ref();
        let user = with_sessions(s).await;
        let text = revoke_session(s, "sess-a", NOW, Output::Human)
            .await
            .unwrap();
        assert!(text.starts_with("Session sess-a revoked"), "{text}");
        assert_eq!(s.list_user_sessions(user.id, NOW).await.unwrap().len(), 1);
        let err = revoke_session(s, "sess-a", NOW, Output::Human)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, "no active session `sess-a`");

        let err = revoke_app_tokens(&config, s, "wikki", NOW, Output::Human)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("configured: `wiki`, `status`"), "{err}");
        let err = revoke_app_tokens(&config, s, "wiki", NOW, Output::Human)
            .await
            .unwrap_err();
        assert!(matches!(err, CliError::AppNotRecorded(_)), "{err}");

        // Once the gateway has recorded the application, its tokens can be revoked.
        let app_id = Uuid::new_v4();
        s.upsert_application(&ApplicationRecord {
            id: app_id,
            name: "wiki".into(),
            aud: "a".repeat(64),
            domain: "wiki.localhost".into(),
            config: json!({}),
            read_only: true,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
        let done: Value = serde_json::from_str(
            &revoke_app_tokens(&config, s, "Wiki", NOW, Output::Json)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(done["application"], "wiki");
        let revocations = s.list_app_revocations().await.unwrap();
        assert_eq!((revocations[0].app_id, revocations[0].at), (app_id, NOW));
    }
}
