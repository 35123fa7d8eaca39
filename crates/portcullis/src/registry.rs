//! What administrators do to users and sessions: revoke a user, remove a user (free the seat),
//! revoke one session, revoke every token of an application, and look a user up with their
//! active sessions and recent failed logins.
//!
//! These work on the store alone, so the CLI can run them beside a running gateway: the store's
//! change feed (same process) or generation counter (other processes) carries the effect to
//! every node, which then refuses the revoked tokens on their next request.

use portcullis_store::{AuthLogQuery, AuthLogRecord, SessionRecord, Store, StoreError, UserRecord};
use uuid::Uuid;

/// How long a user whom an administrator revoked cannot log in again (Cloudflare: about a
/// minute), so that a login racing the revocation cannot undo it.
pub const RELOGIN_BLOCK_SECS: i64 = 60;

/// How many recent failed logins a user view shows (Cloudflare shows five recent attempts).
const RECENT_FAILURES: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no user with email or id `{0}`")]
    UnknownUser(String),
    #[error("no application named `{0}`")]
    UnknownApp(String),
    #[error("no active session `{0}`")]
    UnknownSession(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Finds a user by id or (case-insensitively) by email.
pub async fn find_user(store: &dyn Store, who: &str) -> Result<UserRecord, RegistryError> {
    let who = who.trim();
    let found = match Uuid::parse_str(who) {
        Ok(id) => store.get_user(id).await?,
        Err(_) => store.find_user_by_email(&who.to_lowercase()).await?,
    };
    found.ok_or_else(|| RegistryError::UnknownUser(who.to_owned()))
}

/// Ends every session of the user and refuses their logins for [`RELOGIN_BLOCK_SECS`]. The seat
/// is kept (Cloudflare: revoking is not removing). Returns how many sessions ended.
pub async fn revoke_user(
    store: &dyn Store,
    who: &str,
    now: i64,
) -> Result<(UserRecord, u64), RegistryError> {
    let user = find_user(store, who).await?;
    // Block first: a login finishing between the two writes must not get a fresh session.
    store
        .block_user_login(user.id, now + RELOGIN_BLOCK_SECS)
        .await?;
    let ended = store.revoke_user_sessions(user.id, now).await?;
    Ok((user, ended))
}

/// Removes the user: frees the seat and ends every session. The record stays (the registry keeps
/// its history); a later login takes a seat again.
pub async fn remove_user(
    store: &dyn Store,
    who: &str,
    now: i64,
) -> Result<(UserRecord, u64), RegistryError> {
    let user = find_user(store, who).await?;
    store.set_user_seat(user.id, false, now).await?;
    let ended = store.revoke_user_sessions(user.id, now).await?;
    Ok((user, ended))
}

/// Ends one session (every token minted from it).
pub async fn revoke_session(store: &dyn Store, id: &str, now: i64) -> Result<(), RegistryError> {
    if store.revoke_session(id, now).await? {
        Ok(())
    } else {
        Err(RegistryError::UnknownSession(id.to_owned()))
    }
}

/// Refuses every token of the application issued until now ("Revoke existing tokens"). Users
/// with a valid global session get a new token silently, after their policies are re-checked.
pub async fn revoke_app_tokens(
    store: &dyn Store,
    app_name: &str,
    now: i64,
) -> Result<Uuid, RegistryError> {
    let app = store
        .find_application_by_name(app_name)
        .await?
        .ok_or_else(|| RegistryError::UnknownApp(app_name.to_owned()))?;
    store.revoke_app_tokens(app.id, now).await?;
    Ok(app.id)
}

/// A user as the registry shows them.
#[derive(Debug)]
pub struct UserView {
    pub user: UserRecord,
    pub active_sessions: Vec<SessionRecord>,
    pub recent_failed_logins: Vec<AuthLogRecord>,
}

pub async fn view_user(store: &dyn Store, who: &str, now: i64) -> Result<UserView, RegistryError> {
    let user = find_user(store, who).await?;
    let active_sessions = store.list_user_sessions(user.id, now).await?;
    let recent_failed_logins = store
        .list_auth_logs(&AuthLogQuery {
            email: Some(user.email.clone()),
            allowed: Some(false),
            limit: RECENT_FAILURES,
            ..AuthLogQuery::default()
        })
        .await?;
    Ok(UserView {
        user,
        active_sessions,
        recent_failed_logins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_store::LoginRecord;
    use serde_json::json;
    use std::sync::Arc;

    async fn with_user() -> (Arc<dyn Store>, UserRecord) {
        let store = portcullis_store::open("sqlite::memory:").await.unwrap();
        let user = store
            .record_login(&LoginRecord {
                email: "alice@example.com".into(),
                name: None,
                idp_id: Uuid::new_v4(),
                identity: json!({}),
                at: 10,
                seat_limit: None,
            })
            .await
            .unwrap();
        for id in ["s1", "s2"] {
            store
                .create_session(&SessionRecord {
                    id: id.into(),
                    user_id: user.id,
                    idp_id: Uuid::new_v4(),
                    identity: json!({}),
                    created_at: 10,
                    expires_at: 1_000,
                    revoked_at: None,
                })
                .await
                .unwrap();
        }
        (store, user)
    }

    #[tokio::test]
    async fn revoking_a_user_ends_sessions_blocks_logins_and_keeps_the_seat() {
        let (store, user) = with_user().await;
        let (found, ended) = revoke_user(store.as_ref(), "Alice@Example.com", 100)
            .await
            .unwrap();
        assert_eq!((found.id, ended), (user.id, 2));
        let after = store.get_user(user.id).await.unwrap().unwrap();
        assert_eq!(after.login_blocked_until, Some(100 + RELOGIN_BLOCK_SECS));
        assert!(after.seat);
        assert!(
            store
                .list_user_sessions(user.id, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            revoke_user(store.as_ref(), "nobody@example.com", 100).await,
            Err(RegistryError::UnknownUser(_))
        ));
    }

    #[tokio::test]
    async fn removing_a_user_frees_the_seat_and_ends_sessions() {
        let (store, user) = with_user().await;
        let (_, ended) = remove_user(store.as_ref(), &user.id.to_string(), 100)
            .await
            .unwrap();
        assert_eq!(ended, 2);
        assert!(!store.get_user(user.id).await.unwrap().unwrap().seat);
        let view = view_user(store.as_ref(), "alice@example.com", 100)
            .await
            .unwrap();
        assert!(view.active_sessions.is_empty());
    }

    #[tokio::test]
    async fn one_session_and_unknown_ones() {
        let (store, user) = with_user().await;
        revoke_session(store.as_ref(), "s1", 100).await.unwrap();
        assert!(matches!(
            revoke_session(store.as_ref(), "s1", 100).await,
            Err(RegistryError::UnknownSession(_))
        ));
        let view = view_user(store.as_ref(), "alice@example.com", 100)
            .await
            .unwrap();
        assert_eq!(view.active_sessions.len(), 1);
        assert_eq!(view.user.id, user.id);
        assert!(matches!(
            revoke_app_tokens(store.as_ref(), "nope", 1).await,
            Err(RegistryError::UnknownApp(_))
        ));
    }
}
