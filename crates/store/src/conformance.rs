//! The behaviour every [`Store`] backend must have, as one suite of async functions.
//!
//! Each function takes a freshly migrated, empty store that nothing else is using, exercises one
//! area through the trait only, and panics (via assertions) on the first difference. A backend runs
//! them all with [`conformance_tests!`](crate::conformance_tests), so SQLite and the later
//! PostgreSQL backend are held to the same contract. [`durability`] is the exception: it takes a URL
//! because it must close and reopen the database.
//!
//! Change-feed assertions wait for events (with a timeout) rather than peeking, and prove that an
//! operation published *nothing* by publishing a different, known event afterwards and checking it
//! is the next one, so a backend whose feed is asynchronous (LISTEN/NOTIFY) passes too.

// This module is a test suite that a backend's tests call; its assertions are meant to panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast::Receiver;
use uuid::Uuid;

use crate::{
    AccessObjectRecord, ApiTokenRecord, AppRevocation, ApplicationRecord, AuthLogQuery,
    AuthLogRecord, Change, LoginMethodRecord, LoginRecord, MAX_AUTH_LOG_LIMIT, MAX_SCIM_LOG_LIMIT,
    ObjectKind, RevokedSession, ScimGroupPatch, ScimGroupPatched, ScimGroupRecord, ScimLogQuery,
    ScimLogRecord, ScimLookup, ScimMemberRecord, ScimMembersStep, ScimUserRecord,
    ServiceTokenRecord, SessionRecord, SigningKeyRecord, Store, StoreError, UniqueKey, UserRecord,
};

/// Generates one `#[tokio::test]` per conformance function. `$fresh` is an async fn returning a
/// value that is `AsRef<dyn Store>` (e.g. `Arc<dyn Store>`, or a guard that also deletes a
/// temporary database when dropped) for a new, empty store; each test gets its own.
///
/// `conformance_tests!(optional $fresh)` is for a backend that is not always at hand (a database
/// server): `$fresh` returns an `Option`, and a test whose store is `None` passes without running
/// (`$fresh` says why).
#[macro_export]
macro_rules! conformance_tests {
    (optional $fresh:path) => {
        $crate::conformance_tests!(@list optional $fresh);
    };
    ($fresh:path) => {
        $crate::conformance_tests!(@list required $fresh);
    };
    (@list $mode:ident $fresh:path) => {
        $crate::conformance_tests!(@each $mode $fresh;
            login_methods, applications, users_and_identities, concurrent_first_logins,
            sessions, session_revocation, signing_keys, auth_logs, auth_log_limit_cap, settings,
            stored_values_round_trip, seats, login_block, user_sessions, app_revocation,
            service_tokens, generation, leases, api_tokens, access_objects, scim_provision_user, scim_users, scim_lookups,
            scim_groups, scim_concurrent_member_adds, scim_logs);
    };
    (@each $mode:ident $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(handle) = $crate::conformance_tests!(@fresh $mode $fresh) else {
                    return;
                };
                let store: &dyn $crate::Store = ::std::convert::AsRef::as_ref(&handle);
                $crate::conformance::$name(store).await;
                store.close().await;
            }
        )*
    };
    (@fresh required $fresh:path) => {
        ::std::option::Option::Some($fresh().await)
    };
    (@fresh optional $fresh:path) => {
        $fresh().await
    };
}

/// How long to wait for a change that must come.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The next change on the feed, failing the test if none arrives in time.
async fn next_change(rx: &mut Receiver<Change>) -> Change {
    tokio::time::timeout(CHANGE_TIMEOUT, rx.recv())
        .await
        .expect("timed out waiting for a change")
        .expect("change feed closed or lagged")
}

/// Publishes a `ConfigChanged` through a settings write.
async fn config_sentinel(store: &dyn Store) {
    store
        .put_setting("conformance.sentinel", &Uuid::new_v4().to_string())
        .await
        .unwrap();
}

/// Publishes a `SigningKeysChanged` by inserting a throw-away key.
async fn keys_sentinel(store: &dyn Store) {
    store
        .insert_signing_key(&SigningKeyRecord {
            kid: format!("sentinel-{}", Uuid::new_v4()),
            alg: "RS256".into(),
            sealed_private_key: vec![1],
            created_at: 0,
            retired_at: None,
        })
        .await
        .unwrap();
}

fn login_method(name: &str, at: i64) -> LoginMethodRecord {
    LoginMethodRecord {
        id: Uuid::new_v4(),
        name: name.into(),
        kind: "oidc".into(),
        config: json!({
            "client_id": "portcullis",
            "client_secret": {"sealed": "b64-ciphertext"},
            "discovery_url": "http://127.0.0.1:9000/.well-known/openid-configuration",
            "pkce_enabled": true,
            "claims": ["employee_id", "roles"],
        }),
        read_only: false,
        created_at: at,
        updated_at: at,
    }
}

fn application(name: &str, aud_digit: char, at: i64) -> ApplicationRecord {
    ApplicationRecord {
        id: Uuid::new_v4(),
        name: name.into(),
        aud: std::iter::repeat_n(aud_digit, 64).collect(),
        domain: format!("{name}.localhost"),
        config: json!({
            "origin": "http://127.0.0.1:8090",
            "session_duration": "24h",
            "policies": [{"name": "staff", "decision": "allow",
                          "include": [{"email_domain": {"domain": "example.com"}}]}],
        }),
        read_only: false,
        created_at: at,
        updated_at: at,
    }
}

fn login(email: &str, name: Option<&str>, idp_id: Uuid, at: i64) -> LoginRecord {
    LoginRecord {
        email: email.into(),
        name: name.map(Into::into),
        idp_id,
        identity: json!({"email": email, "idp": {"id": idp_id, "type": "oidc"}, "at": at}),
        at,
        seat_limit: None,
    }
}

async fn user(store: &dyn Store, email: &str) -> UserRecord {
    store
        .record_login(&login(email, None, Uuid::new_v4(), 10))
        .await
        .unwrap()
}

fn session(id: &str, user_id: Uuid, created_at: i64, expires_at: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        user_id,
        idp_id: Uuid::new_v4(),
        identity: json!({"email": "someone@example.com", "groups": ["a", "b"]}),
        created_at,
        expires_at,
        revoked_at: None,
    }
}

fn conflict(result: Result<(), StoreError>) -> UniqueKey {
    match result {
        Err(StoreError::Conflict(key)) => key,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Login methods: upsert, list, find, update keeping `created_at`, name uniqueness, delete, and
/// the change feed.
pub async fn login_methods(store: &dyn Store) {
    let mut rx = store.subscribe();
    assert!(store.list_login_methods().await.unwrap().is_empty());

    let mut example = login_method("Example IdP", 1000);
    example.read_only = true;
    let another = login_method("Another IdP", 1100);
    store.upsert_login_method(&example).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    store.upsert_login_method(&another).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);

    assert_eq!(
        store.list_login_methods().await.unwrap(),
        vec![another.clone(), example.clone()],
        "listed by name"
    );
    assert_eq!(
        store
            .find_login_method_by_name("Example IdP")
            .await
            .unwrap(),
        Some(example.clone())
    );
    assert_eq!(
        store
            .find_login_method_by_name("example idp")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_login_method_by_name("nope").await.unwrap(), None);

    // Upserting the same id replaces everything but the creation time.
    let renamed = LoginMethodRecord {
        name: "Renamed IdP".into(),
        config: json!({"client_id": "other"}),
        read_only: false,
        created_at: 9999,
        updated_at: 2000,
        ..example.clone()
    };
    store.upsert_login_method(&renamed).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    let stored = store
        .find_login_method_by_name("Renamed IdP")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        LoginMethodRecord {
            created_at: 1000,
            ..renamed.clone()
        }
    );
    assert_eq!(
        store
            .find_login_method_by_name("Example IdP")
            .await
            .unwrap(),
        None
    );

    // A name belongs to one login method, whether the clash comes from a new one or a rename.
    let clash = login_method("Another IdP", 3000);
    assert_eq!(
        conflict(store.upsert_login_method(&clash).await),
        UniqueKey::LoginMethodName
    );
    let rename_clash = LoginMethodRecord {
        name: "Another IdP".into(),
        ..stored.clone()
    };
    assert_eq!(
        conflict(store.upsert_login_method(&rename_clash).await),
        UniqueKey::LoginMethodName
    );
    assert_eq!(
        store.list_login_methods().await.unwrap(),
        vec![another.clone(), stored.clone()]
    );

    assert!(store.delete_login_method(another.id).await.unwrap());
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    assert!(!store.delete_login_method(another.id).await.unwrap());
    // Neither the refused writes nor the second delete published anything.
    keys_sentinel(store).await;
    assert_eq!(next_change(&mut rx).await, Change::SigningKeysChanged);
    assert_eq!(store.list_login_methods().await.unwrap(), vec![stored]);
}

/// Applications: the same contract as login methods, with two unique fields (name and aud).
pub async fn applications(store: &dyn Store) {
    let mut rx = store.subscribe();
    assert!(store.list_applications().await.unwrap().is_empty());

    let whoami = application("whoami", 'a', 1000);
    let mut grafana = application("grafana", 'b', 1000);
    grafana.read_only = true;
    store.upsert_application(&whoami).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    store.upsert_application(&grafana).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    assert_eq!(
        store.list_applications().await.unwrap(),
        vec![grafana.clone(), whoami.clone()]
    );
    assert_eq!(
        store.find_application_by_name("whoami").await.unwrap(),
        Some(whoami.clone())
    );
    assert_eq!(
        store.find_application_by_name("WHOAMI").await.unwrap(),
        None
    );

    let updated = ApplicationRecord {
        domain: "whoami.example.com/app".into(),
        config: json!({"origin": "http://127.0.0.1:9999"}),
        created_at: 5,
        updated_at: 2000,
        ..whoami.clone()
    };
    store.upsert_application(&updated).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    let stored = ApplicationRecord {
        created_at: 1000,
        ..updated
    };
    assert_eq!(
        store.find_application_by_name("whoami").await.unwrap(),
        Some(stored.clone())
    );

    let same_name = application("whoami", 'c', 3000);
    assert_eq!(
        conflict(store.upsert_application(&same_name).await),
        UniqueKey::ApplicationName
    );
    let same_aud = ApplicationRecord {
        aud: grafana.aud.clone(),
        ..application("new-app", 'c', 3000)
    };
    assert_eq!(
        conflict(store.upsert_application(&same_aud).await),
        UniqueKey::ApplicationAud
    );
    let aud_steal = ApplicationRecord {
        aud: grafana.aud.clone(),
        ..stored.clone()
    };
    assert_eq!(
        conflict(store.upsert_application(&aud_steal).await),
        UniqueKey::ApplicationAud
    );
    assert_eq!(store.list_applications().await.unwrap().len(), 2);

    assert!(store.delete_application(grafana.id).await.unwrap());
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    assert!(!store.delete_application(grafana.id).await.unwrap());
    assert!(!store.delete_application(Uuid::new_v4()).await.unwrap());
    keys_sentinel(store).await;
    assert_eq!(next_change(&mut rx).await, Change::SigningKeysChanged);
    assert_eq!(store.list_applications().await.unwrap(), vec![stored]);
    // The freed name and aud can be used again.
    let reuse = ApplicationRecord {
        aud: grafana.aud.clone(),
        ..application("grafana", 'x', 4000)
    };
    store.upsert_application(&reuse).await.unwrap();
}

/// The user registry: the first login creates the user, later ones update the same user, every
/// login is appended to the identity history.
pub async fn users_and_identities(store: &dyn Store) {
    assert!(store.list_users().await.unwrap().is_empty());
    let idp = Uuid::new_v4();
    let other_idp = Uuid::new_v4();

    let first_login = login("alice@example.com", Some("Alice"), idp, 1000);
    let first = store.record_login(&first_login).await.unwrap();
    assert_eq!(first.email, "alice@example.com");
    assert_eq!(first.name.as_deref(), Some("Alice"));
    assert_eq!(
        (first.created_at, first.updated_at, first.last_login_at),
        (1000, 1000, Some(1000))
    );
    assert_eq!(first.last_seen_identity, Some(first_login.identity.clone()));
    assert!(first.seat);

    // The caller normalised "Alice@Example.COM" before calling: same user, name kept when the
    // IdP sent none.
    let second_login = login("alice@example.com", None, other_idp, 2000);
    let second = store.record_login(&second_login).await.unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.name.as_deref(), Some("Alice"));
    assert_eq!(
        (second.created_at, second.updated_at, second.last_login_at),
        (1000, 2000, Some(2000))
    );
    assert_eq!(
        second.last_seen_identity,
        Some(second_login.identity.clone())
    );

    let third_login = login("alice@example.com", Some("Alice Liddell"), idp, 3000);
    let third = store.record_login(&third_login).await.unwrap();
    assert_eq!(third.id, first.id);
    assert_eq!(third.name.as_deref(), Some("Alice Liddell"));

    assert_eq!(store.get_user(first.id).await.unwrap(), Some(third.clone()));
    assert_eq!(
        store.find_user_by_email("alice@example.com").await.unwrap(),
        Some(third.clone())
    );
    assert_eq!(store.get_user(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        store.find_user_by_email("carol@example.com").await.unwrap(),
        None
    );

    let bob = store
        .record_login(&login("bob@example.com", None, idp, 1500))
        .await
        .unwrap();
    assert_ne!(bob.id, first.id);
    assert_eq!(bob.name, None);
    assert_eq!(store.list_users().await.unwrap(), vec![third, bob.clone()]);

    let history = store.list_user_identities(first.id).await.unwrap();
    let seen: Vec<(Uuid, i64, serde_json::Value)> = history
        .iter()
        .map(|i| (i.idp_id, i.seen_at, i.identity.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (idp, 3000, third_login.identity),
            (other_idp, 2000, second_login.identity),
            (idp, 1000, first_login.identity),
        ],
        "newest first"
    );
    assert!(history.iter().all(|i| i.user_id == first.id));
    let mut ids: Vec<Uuid> = history.iter().map(|i| i.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each identity entry has its own id");
    assert_eq!(store.list_user_identities(bob.id).await.unwrap().len(), 1);
    assert!(
        store
            .list_user_identities(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
}

/// First logins racing on one email create exactly one user and keep every identity.
pub async fn concurrent_first_logins(store: &dyn Store) {
    let idp = Uuid::new_v4();
    let email = "race@example.com";
    let logins: Vec<LoginRecord> = ["A", "B", "C", "D", "E", "F"]
        .iter()
        .zip(100..)
        .map(|(name, at)| login(email, Some(name), idp, at))
        .collect();
    let (a, b, c, d, e, f) = tokio::join!(
        store.record_login(&logins[0]),
        store.record_login(&logins[1]),
        store.record_login(&logins[2]),
        store.record_login(&logins[3]),
        store.record_login(&logins[4]),
        store.record_login(&logins[5]),
    );
    let ids: Vec<Uuid> = [a, b, c, d, e, f]
        .into_iter()
        .map(|r| r.expect("concurrent login").id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one user: {ids:?}");
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    assert_eq!(store.list_user_identities(ids[0]).await.unwrap().len(), 6);
}

/// Sessions: create, read back, id uniqueness, and the reference to the user.
pub async fn sessions(store: &dyn Store) {
    let alice = user(store, "alice@example.com").await;
    let s = session("nonce-7f3a", alice.id, 1000, 1000 + 86_400);
    store.create_session(&s).await.unwrap();
    assert_eq!(
        store.get_session("nonce-7f3a").await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(store.get_session("NONCE-7F3A").await.unwrap(), None);
    assert_eq!(store.get_session("unknown").await.unwrap(), None);

    let again = session("nonce-7f3a", alice.id, 2000, 3000);
    assert_eq!(
        conflict(store.create_session(&again).await),
        UniqueKey::SessionId
    );
    assert_eq!(store.get_session("nonce-7f3a").await.unwrap(), Some(s));

    let orphan = session("nonce-orphan", Uuid::new_v4(), 1000, 2000);
    assert!(matches!(
        store.create_session(&orphan).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.get_session("nonce-orphan").await.unwrap(), None);

    // A session stored already revoked keeps its revocation.
    let revoked = SessionRecord {
        revoked_at: Some(1500),
        ..session("nonce-revoked", alice.id, 1000, 5000)
    };
    store.create_session(&revoked).await.unwrap();
    assert_eq!(
        store.get_session("nonce-revoked").await.unwrap(),
        Some(revoked)
    );
}

/// Revocation: one session, all of a user's sessions, the start-up list, expiry clean-up, and the
/// events that keep every node's revocation set current.
pub async fn session_revocation(store: &dyn Store) {
    let mut rx = store.subscribe();
    let alice = user(store, "alice@example.com").await;
    let bob = user(store, "bob@example.com").await;
    for s in [
        session("a-1", alice.id, 100, 10_000),
        session("a-2", alice.id, 100, 20_000),
        session("a-expired", alice.id, 100, 500),
        session("b-1", bob.id, 100, 30_000),
    ] {
        store.create_session(&s).await.unwrap();
    }

    assert!(store.revoke_session("a-1", 1000).await.unwrap());
    assert_eq!(
        next_change(&mut rx).await,
        Change::SessionRevoked {
            id: "a-1".into(),
            expires_at: 10_000
        }
    );
    assert_eq!(
        store.get_session("a-1").await.unwrap().unwrap().revoked_at,
        Some(1000)
    );
    // Revoking again changes nothing and says so; so does an unknown id.
    assert!(!store.revoke_session("a-1", 1500).await.unwrap());
    assert!(!store.revoke_session("unknown", 1500).await.unwrap());
    config_sentinel(store).await;
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    assert_eq!(
        store.get_session("a-1").await.unwrap().unwrap().revoked_at,
        Some(1000)
    );

    assert_eq!(
        store.list_revoked_sessions(1000).await.unwrap(),
        vec![RevokedSession {
            id: "a-1".into(),
            expires_at: 10_000
        }]
    );

    // Only alice's live sessions: a-1 is already revoked, a-expired has expired, b-1 is bob's.
    assert_eq!(store.revoke_user_sessions(alice.id, 2000).await.unwrap(), 1);
    assert_eq!(
        next_change(&mut rx).await,
        Change::SessionRevoked {
            id: "a-2".into(),
            expires_at: 20_000
        }
    );
    config_sentinel(store).await;
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    assert_eq!(
        store.get_session("b-1").await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(
        store
            .get_session("a-expired")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(store.revoke_user_sessions(alice.id, 2500).await.unwrap(), 0);
    assert_eq!(
        store
            .revoke_user_sessions(Uuid::new_v4(), 2500)
            .await
            .unwrap(),
        0
    );

    let revoked = |id: &str, expires_at| RevokedSession {
        id: id.into(),
        expires_at,
    };
    assert_eq!(
        store.list_revoked_sessions(2000).await.unwrap(),
        vec![revoked("a-1", 10_000), revoked("a-2", 20_000)]
    );
    // A revocation matters only until the session would have expired anyway.
    assert_eq!(
        store.list_revoked_sessions(10_000).await.unwrap(),
        vec![revoked("a-2", 20_000)]
    );
    assert!(
        store
            .list_revoked_sessions(20_000)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(store.delete_expired_sessions(10_000).await.unwrap(), 2);
    assert_eq!(store.get_session("a-1").await.unwrap(), None);
    assert_eq!(store.get_session("a-expired").await.unwrap(), None);
    assert!(store.get_session("a-2").await.unwrap().is_some());
    assert!(store.get_session("b-1").await.unwrap().is_some());
    assert_eq!(store.delete_expired_sessions(10_000).await.unwrap(), 0);
}

/// Signing keys: insert, newest-first listing, retire, delete, kid uniqueness, events.
pub async fn signing_keys(store: &dyn Store) {
    let mut rx = store.subscribe();
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let old = SigningKeyRecord {
        kid: "kid-old".into(),
        alg: "RS256".into(),
        // Arbitrary bytes, including NUL and 0xFF, must come back untouched.
        sealed_private_key: vec![0, 255, 1, 254, 0, 0, 42],
        created_at: 1000,
        retired_at: None,
    };
    let new = SigningKeyRecord {
        kid: "kid-new".into(),
        alg: "ES256".into(),
        sealed_private_key: (0..=255).collect(),
        created_at: 2000,
        retired_at: None,
    };
    store.insert_signing_key(&old).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::SigningKeysChanged);
    store.insert_signing_key(&new).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::SigningKeysChanged);
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![new.clone(), old.clone()]
    );

    assert_eq!(
        conflict(store.insert_signing_key(&old).await),
        UniqueKey::SigningKeyId
    );

    store.retire_signing_key("kid-old", 3000).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::SigningKeysChanged);
    let retired = SigningKeyRecord {
        retired_at: Some(3000),
        ..old.clone()
    };
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![new.clone(), retired]
    );

    assert!(matches!(
        store.retire_signing_key("unknown", 3000).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_signing_key("unknown").await,
        Err(StoreError::NotFound(_))
    ));
    // Failed writes publish nothing.
    config_sentinel(store).await;
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);

    store.delete_signing_key("kid-old").await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::SigningKeysChanged);
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![new]);
}

fn auth_log(at: i64, email: Option<&str>, allowed: bool, app_uid: Option<Uuid>) -> AuthLogRecord {
    AuthLogRecord {
        id: Uuid::new_v4(),
        ray_id: format!("ray-{}", Uuid::new_v4().simple()),
        created_at: at,
        user_email: email.map(Into::into),
        user_id: email.map(|_| Uuid::new_v4()),
        ip_address: Some("203.0.113.7".into()),
        app_uid,
        app_domain: app_uid.map(|_| "whoami.localhost".into()),
        app_name: app_uid.map(|_| "whoami".into()),
        connection: "oidc".into(),
        idp_id: Some(Uuid::new_v4()),
        action: "login".into(),
        allowed,
        reason: (!allowed).then(|| "That account does not have access".into()),
        country: Some("NL".into()),
    }
}

/// The authentication log: every field round-trips, filters combine, order and limit hold,
/// retention deletes.
pub async fn auth_logs(store: &dyn Store) {
    let app1 = Uuid::new_v4();
    let app2 = Uuid::new_v4();
    let l1 = auth_log(100, Some("alice@example.com"), true, Some(app1));
    let l2 = auth_log(200, Some("bob@example.com"), false, Some(app1));
    // Same second as l2, written after it.
    let l3 = auth_log(200, Some("alice@example.com"), false, Some(app2));
    let l4 = auth_log(300, Some("alice@example.com"), true, Some(app2));
    // An attempt that failed before any identity or app was known: every optional field empty.
    let l5 = AuthLogRecord {
        user_email: None,
        user_id: None,
        ip_address: None,
        app_uid: None,
        app_domain: None,
        app_name: None,
        idp_id: None,
        reason: Some("missing email claim".into()),
        country: None,
        ..auth_log(400, None, false, None)
    };
    let all = [&l1, &l2, &l3, &l4, &l5];
    for l in all {
        store.insert_auth_log(l).await.unwrap();
    }
    assert_eq!(
        conflict(store.insert_auth_log(&l1).await),
        UniqueKey::AuthLogId
    );

    let list = |q: AuthLogQuery| async move { store.list_auth_logs(&q).await.unwrap() };
    let asc = AuthLogQuery {
        descending: false,
        limit: MAX_AUTH_LOG_LIMIT,
        ..AuthLogQuery::default()
    };
    let expect = |records: &[&AuthLogRecord]| -> Vec<AuthLogRecord> {
        records.iter().map(|r| (*r).clone()).collect()
    };

    assert_eq!(
        list(AuthLogQuery::default()).await,
        expect(&[&l5, &l4, &l3, &l2, &l1])
    );
    assert_eq!(list(asc.clone()).await, expect(&all));
    assert_eq!(
        list(AuthLogQuery {
            since: Some(200),
            until: Some(300),
            ..asc.clone()
        })
        .await,
        expect(&[&l2, &l3, &l4]),
        "since and until are inclusive"
    );
    assert_eq!(
        list(AuthLogQuery {
            email: Some("alice@example.com".into()),
            ..AuthLogQuery::default()
        })
        .await,
        expect(&[&l4, &l3, &l1])
    );
    assert_eq!(
        list(AuthLogQuery {
            allowed: Some(false),
            ..asc.clone()
        })
        .await,
        expect(&[&l2, &l3, &l5])
    );
    assert_eq!(
        list(AuthLogQuery {
            allowed: Some(true),
            ..asc.clone()
        })
        .await,
        expect(&[&l1, &l4])
    );
    assert_eq!(
        list(AuthLogQuery {
            app_uid: Some(app2),
            ..asc.clone()
        })
        .await,
        expect(&[&l3, &l4])
    );
    assert_eq!(
        list(AuthLogQuery {
            email: Some("alice@example.com".into()),
            allowed: Some(false),
            since: Some(150),
            ..asc.clone()
        })
        .await,
        expect(&[&l3])
    );
    assert!(
        list(AuthLogQuery {
            email: Some("nobody@example.com".into()),
            ..asc.clone()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(AuthLogQuery {
            limit: 2,
            ..AuthLogQuery::default()
        })
        .await,
        expect(&[&l5, &l4])
    );
    assert_eq!(
        list(AuthLogQuery {
            limit: 2,
            ..asc.clone()
        })
        .await,
        expect(&[&l1, &l2])
    );
    assert!(
        list(AuthLogQuery {
            limit: 0,
            ..asc.clone()
        })
        .await
        .is_empty()
    );

    assert_eq!(store.delete_auth_logs_before(200).await.unwrap(), 1);
    assert_eq!(list(asc.clone()).await, expect(&[&l2, &l3, &l4, &l5]));
    assert_eq!(store.delete_auth_logs_before(200).await.unwrap(), 0);
}

/// A query never returns more than [`MAX_AUTH_LOG_LIMIT`] records, whatever it asks for.
pub async fn auth_log_limit_cap(store: &dyn Store) {
    let total = MAX_AUTH_LOG_LIMIT as usize + 5;
    for i in 0..total {
        store
            .insert_auth_log(&auth_log(i as i64, Some("x@example.com"), true, None))
            .await
            .unwrap();
    }
    let got = store
        .list_auth_logs(&AuthLogQuery {
            limit: u32::MAX,
            descending: false,
            ..AuthLogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(got.len(), MAX_AUTH_LOG_LIMIT as usize);
    assert_eq!(got.first().map(|l| l.created_at), Some(0));
}

/// Settings: absent until put, replaced by a later put, each put published.
pub async fn settings(store: &dyn Store) {
    let mut rx = store.subscribe();
    assert_eq!(store.get_setting("account_id").await.unwrap(), None);
    store.put_setting("account_id", "acc-1").await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    assert_eq!(
        store.get_setting("account_id").await.unwrap().as_deref(),
        Some("acc-1")
    );
    store.put_setting("account_id", "acc-2").await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    assert_eq!(
        store.get_setting("account_id").await.unwrap().as_deref(),
        Some("acc-2")
    );
    store.put_setting("empty", "").await.unwrap();
    assert_eq!(
        store.get_setting("empty").await.unwrap().as_deref(),
        Some("")
    );
    assert_eq!(store.get_setting("Account_ID").await.unwrap(), None);
}

/// Values that tempt a backend to mangle them come back as written: unicode, quotes, nested and
/// large JSON, extreme instants.
pub async fn stored_values_round_trip(store: &dyn Store) {
    let identity = json!({
        "name": "Zoë \"Z\" O'Brien — 東京",
        "groups": ["a'; DROP TABLE users; --", "", "ünïcode"],
        "nested": {"deep": [[1, 2.5, -3], {"k": null, "t": true}], "big": 9_007_199_254_740_993_u64},
        "blob": "x".repeat(64 * 1024),
    });
    let u = store
        .record_login(&LoginRecord {
            email: "zoë@例え.jp".into(),
            name: Some("Zoë O'Brien".into()),
            idp_id: Uuid::new_v4(),
            identity: identity.clone(),
            at: i64::MAX,
            seat_limit: None,
        })
        .await
        .unwrap();
    let stored = store.get_user(u.id).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_identity, Some(identity.clone()));
    assert_eq!(stored.last_login_at, Some(i64::MAX));
    assert_eq!(stored.name.as_deref(), Some("Zoë O'Brien"));
    assert_eq!(
        store
            .find_user_by_email("zoë@例え.jp")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(u.id)
    );

    let s = SessionRecord {
        id: "weird id ' \" ; --".into(),
        identity,
        created_at: i64::MIN,
        ..session("x", u.id, 0, 1)
    };
    store.create_session(&s).await.unwrap();
    assert_eq!(store.get_session(&s.id).await.unwrap(), Some(s));
}

/// Seats: a login takes one while fewer than the limit are taken, a seated user keeps theirs
/// whatever the limit, freeing and expiring seats, and concurrent logins never exceed the limit.
pub async fn seats(store: &dyn Store) {
    let idp = Uuid::new_v4();
    let limited = |email: &str, at: i64| LoginRecord {
        seat_limit: Some(2),
        ..login(email, None, idp, at)
    };
    let a = store
        .record_login(&limited("a@example.com", 10))
        .await
        .unwrap();
    let b = store
        .record_login(&limited("b@example.com", 20))
        .await
        .unwrap();
    assert!(a.seat && b.seat);
    assert_eq!(store.count_seats().await.unwrap(), 2);

    // The third user is recorded (the registry knows who tried) but gets no seat.
    let c = store
        .record_login(&limited("c@example.com", 30))
        .await
        .unwrap();
    assert!(!c.seat, "{c:?}");
    assert_eq!(store.count_seats().await.unwrap(), 2);
    // A seated user logging in again keeps the seat at the limit, and even below a lower one.
    let again = store
        .record_login(&LoginRecord {
            seat_limit: Some(1),
            ..login("a@example.com", None, idp, 40)
        })
        .await
        .unwrap();
    assert!(again.seat);

    // Freeing a seat lets the waiting user in.
    assert!(store.set_user_seat(b.id, false, 50).await.unwrap());
    assert!(!store.get_user(b.id).await.unwrap().unwrap().seat);
    let c = store
        .record_login(&limited("c@example.com", 60))
        .await
        .unwrap();
    assert!(c.seat);
    assert!(
        !store
            .set_user_seat(Uuid::new_v4(), false, 60)
            .await
            .unwrap()
    );

    // Seat expiry frees the seats of users whose last login is older than the cut-off.
    let expired = store.expire_seats(45, 70).await.unwrap();
    assert_eq!(expired, vec![a.id]);
    assert!(!store.get_user(a.id).await.unwrap().unwrap().seat);
    assert!(store.get_user(c.id).await.unwrap().unwrap().seat);
    assert_eq!(store.count_seats().await.unwrap(), 1);

    // Twenty concurrent first logins under a limit of five: exactly five seats.
    let logins: Vec<LoginRecord> = (0..20)
        .map(|n| LoginRecord {
            seat_limit: Some(6),
            ..login(&format!("racer{n}@example.com"), None, idp, 100)
        })
        .collect();
    let tasks = logins.iter().map(|l| store.record_login(l)).collect();
    let seated = futures_join_all(tasks)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().seat)
        .count();
    assert_eq!(seated, 5);
    assert_eq!(store.count_seats().await.unwrap(), 6);
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in out.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.unwrap()).collect()
}

/// The re-login block an administrator's revocation sets is stored and read back.
pub async fn login_block(store: &dyn Store) {
    let u = user(store, "blocked@example.com").await;
    assert_eq!(u.login_blocked_until, None);
    assert!(store.block_user_login(u.id, 1_000).await.unwrap());
    assert_eq!(
        store
            .get_user(u.id)
            .await
            .unwrap()
            .unwrap()
            .login_blocked_until,
        Some(1_000)
    );
    // A later login does not clear it: the caller compares it with the time.
    let again = store
        .record_login(&login("blocked@example.com", None, Uuid::new_v4(), 20))
        .await
        .unwrap();
    assert_eq!(again.login_blocked_until, Some(1_000));
    assert!(!store.block_user_login(Uuid::new_v4(), 1).await.unwrap());
}

/// A user's active sessions: neither revoked nor expired, newest first, nobody else's.
pub async fn user_sessions(store: &dyn Store) {
    let u = user(store, "sessions@example.com").await;
    let other = user(store, "other@example.com").await;
    store
        .create_session(&session("old", u.id, 10, 1_000))
        .await
        .unwrap();
    store
        .create_session(&session("new", u.id, 20, 1_000))
        .await
        .unwrap();
    store
        .create_session(&session("gone", u.id, 5, 50))
        .await
        .unwrap();
    store
        .create_session(&session("cut", u.id, 15, 1_000))
        .await
        .unwrap();
    store
        .create_session(&session("theirs", other.id, 30, 1_000))
        .await
        .unwrap();
    store.revoke_session("cut", 60).await.unwrap();
    let ids: Vec<String> = store
        .list_user_sessions(u.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec!["new".to_owned(), "old".to_owned()]);
}

/// Revoking an application's tokens is stored, listed, published, and survives a config upsert.
pub async fn app_revocation(store: &dyn Store) {
    let app = application("revocable", 'e', 1);
    store.upsert_application(&app).await.unwrap();
    let mut rx = store.subscribe();
    assert!(store.revoke_app_tokens(app.id, 500).await.unwrap());
    assert_eq!(
        next_change(&mut rx).await,
        Change::AppTokensRevoked {
            app_id: app.id,
            at: 500
        }
    );
    assert!(!store.revoke_app_tokens(Uuid::new_v4(), 500).await.unwrap());
    config_sentinel(store).await;
    assert_eq!(next_change(&mut rx).await, Change::ConfigChanged);
    // Re-applying the configuration file must not forget the revocation.
    store
        .upsert_application(&ApplicationRecord {
            updated_at: 600,
            ..app.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.list_app_revocations().await.unwrap(),
        vec![AppRevocation {
            app_id: app.id,
            at: 500
        }]
    );
}

fn service_token(name: &str, client_id: &str) -> ServiceTokenRecord {
    ServiceTokenRecord {
        id: Uuid::new_v4(),
        name: name.into(),
        client_id: client_id.into(),
        secret_hash: "ab".repeat(32),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        duration: "8760h".into(),
        expires_at: Some(31_536_000),
        enabled: true,
        created_at: 1,
        updated_at: 1,
    }
}

/// Service tokens: insert, get, list by name, update keeping `created_at`, uniqueness of name
/// and client id, delete, and the change feed.
pub async fn service_tokens(store: &dyn Store) {
    let mut rx = store.subscribe();
    let ci = service_token("ci", "c1.access");
    store.insert_service_token(&ci).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ServiceTokensChanged);
    let backup = ServiceTokenRecord {
        expires_at: None,
        duration: "forever".into(),
        ..service_token("backup", "c2.access")
    };
    store.insert_service_token(&backup).await.unwrap();
    assert_eq!(next_change(&mut rx).await, Change::ServiceTokensChanged);
    assert_eq!(
        store.get_service_token(ci.id).await.unwrap(),
        Some(ci.clone())
    );
    assert_eq!(
        store.list_service_tokens().await.unwrap(),
        vec![backup.clone(), ci.clone()]
    );

    assert_eq!(
        conflict(
            store
                .insert_service_token(&service_token("ci", "c3.access"))
                .await
        ),
        UniqueKey::ServiceTokenName
    );
    assert_eq!(
        conflict(
            store
                .insert_service_token(&service_token("other", "c1.access"))
                .await
        ),
        UniqueKey::ServiceTokenClientId
    );

    let rotated = ServiceTokenRecord {
        secret_hash: "cd".repeat(32),
        previous_secret_hash: Some(ci.secret_hash.clone()),
        previous_secret_expires_at: Some(99),
        enabled: false,
        updated_at: 7,
        ..ci.clone()
    };
    assert!(store.update_service_token(&rotated).await.unwrap());
    assert_eq!(next_change(&mut rx).await, Change::ServiceTokensChanged);
    assert_eq!(store.get_service_token(ci.id).await.unwrap(), Some(rotated));
    assert!(
        !store
            .update_service_token(&service_token("ghost", "c9.access"))
            .await
            .unwrap()
    );

    assert!(store.delete_service_token(ci.id).await.unwrap());
    assert_eq!(next_change(&mut rx).await, Change::ServiceTokensChanged);
    assert!(!store.delete_service_token(ci.id).await.unwrap());
    assert_eq!(store.get_service_token(ci.id).await.unwrap(), None);
    assert_eq!(store.list_service_tokens().await.unwrap(), vec![backup]);
}

/// The generation moves with every write that publishes a change, and only with those.
pub async fn generation(store: &dyn Store) {
    let g0 = store.generation().await.unwrap();
    user(store, "quiet@example.com").await;
    assert_eq!(
        store.generation().await.unwrap(),
        g0,
        "a login publishes nothing"
    );
    config_sentinel(store).await;
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0);
    let u = user(store, "loud@example.com").await;
    store
        .create_session(&session("s", u.id, 1, 1_000))
        .await
        .unwrap();
    store.revoke_session("s", 2).await.unwrap();
    assert!(store.generation().await.unwrap() > g1);
}

/// Leases: one holder at a time, renewable by its holder, free to take once expired, and
/// exactly one winner when nodes race for a free lease.
pub async fn leases(store: &dyn Store) {
    assert!(
        store
            .try_lease("rotation", "node-a", 100, 160)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lease("rotation", "node-b", 120, 180)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("rotation", "node-a", 150, 210)
            .await
            .unwrap(),
        "renewal"
    );
    assert!(
        !store
            .try_lease("rotation", "node-b", 200, 260)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("rotation", "node-b", 210, 270)
            .await
            .unwrap(),
        "expired: taken"
    );
    assert!(
        !store
            .try_lease("rotation", "node-a", 220, 280)
            .await
            .unwrap()
    );
    assert!(
        store.try_lease("seats", "node-a", 220, 280).await.unwrap(),
        "leases are per name"
    );

    let nodes: Vec<String> = (0..8).map(|n| format!("racer-{n}")).collect();
    let tries = nodes
        .iter()
        .map(|n| store.try_lease("race", n, 1_000, 1_060))
        .collect();
    let winners = futures_join_all(tries)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(winners, 1);
}

/// Admin API tokens: insert, find by digest, list by name, name uniqueness, delete.
pub async fn api_tokens(store: &dyn Store) {
    let token = |name: &str, digit: char| ApiTokenRecord {
        id: Uuid::new_v4(),
        name: name.into(),
        token_hash: std::iter::repeat_n(digit, 64).collect(),
        scope: "write".into(),
        created_at: 5,
    };
    let ops = token("ops", 'a');
    let reader = ApiTokenRecord {
        scope: "read".into(),
        ..token("dashboards", 'b')
    };
    store.insert_api_token(&ops).await.unwrap();
    store.insert_api_token(&reader).await.unwrap();
    assert_eq!(
        store.find_api_token(&ops.token_hash).await.unwrap(),
        Some(ops.clone())
    );
    assert_eq!(store.find_api_token(&"c".repeat(64)).await.unwrap(), None);
    assert_eq!(
        store.list_api_tokens().await.unwrap(),
        vec![reader.clone(), ops.clone()]
    );
    assert_eq!(
        conflict(store.insert_api_token(&token("ops", 'd')).await),
        UniqueKey::ApiTokenName
    );
    assert!(store.delete_api_token(ops.id).await.unwrap());
    assert!(!store.delete_api_token(ops.id).await.unwrap());
    assert_eq!(store.find_api_token(&ops.token_hash).await.unwrap(), None);
}

/// Reusable policies, rule groups and lists: one id space per kind, upsert keeps `created_at`,
/// every write tells subscribers.
pub async fn access_objects(store: &dyn Store) {
    let mut feed = store.subscribe();
    let object = |kind, id: &str, at| AccessObjectRecord {
        kind,
        id: id.into(),
        name: format!("{id} name"),
        config: json!({"decision": "allow", "include": [{"everyone": {}}]}),
        read_only: false,
        created_at: at,
        updated_at: at,
    };
    let staff = object(ObjectKind::Policy, "staff", 10);
    let same_id_group = AccessObjectRecord {
        config: json!({"include": [{"email_domain": {"domain": "example.com"}}]}),
        read_only: true,
        ..object(ObjectKind::RuleGroup, "staff", 11)
    };
    store.upsert_access_object(&staff).await.unwrap();
    assert_eq!(next_change(&mut feed).await, Change::ConfigChanged);
    store.upsert_access_object(&same_id_group).await.unwrap();
    store
        .upsert_access_object(&object(ObjectKind::Policy, "admins", 12))
        .await
        .unwrap();
    let policies = store.list_access_objects(ObjectKind::Policy).await.unwrap();
    let ids: Vec<&str> = policies.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["admins", "staff"]);
    assert_eq!(policies[1], staff);
    assert_eq!(
        store
            .list_access_objects(ObjectKind::RuleGroup)
            .await
            .unwrap(),
        vec![same_id_group.clone()]
    );
    assert!(
        store
            .list_access_objects(ObjectKind::List)
            .await
            .unwrap()
            .is_empty()
    );

    let edited = AccessObjectRecord {
        name: "Staff only".into(),
        config: json!({"decision": "deny", "include": [{"everyone": {}}]}),
        created_at: 99,
        updated_at: 20,
        ..staff.clone()
    };
    store.upsert_access_object(&edited).await.unwrap();
    let after = store.list_access_objects(ObjectKind::Policy).await.unwrap();
    assert_eq!(
        after[1],
        AccessObjectRecord {
            created_at: 10,
            ..edited
        }
    );

    let mut feed = store.subscribe();
    assert!(
        store
            .delete_access_object(ObjectKind::Policy, "staff")
            .await
            .unwrap()
    );
    assert_eq!(next_change(&mut feed).await, Change::ConfigChanged);
    assert!(
        !store
            .delete_access_object(ObjectKind::Policy, "staff")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .list_access_objects(ObjectKind::RuleGroup)
            .await
            .unwrap(),
        vec![same_id_group],
        "deleting a policy leaves the rule group of the same id"
    );
}

/// Everything written before the store is closed is there after it is opened again, and opening
/// an already migrated database works. `url` names a persistent database that is empty at first.
pub async fn durability(url: &str) {
    let idp = login_method("Example IdP", 1);
    let app = application("whoami", 'd', 2);
    let key = SigningKeyRecord {
        kid: "durable-kid".into(),
        alg: "EdDSA".into(),
        sealed_private_key: vec![9; 48],
        created_at: 3,
        retired_at: None,
    };
    let log = auth_log(5, Some("alice@example.com"), true, Some(app.id));

    let (user, session_record) = {
        let store = crate::open(url).await.unwrap();
        let store = store.as_ref();
        store.upsert_login_method(&idp).await.unwrap();
        store.upsert_application(&app).await.unwrap();
        let user = store
            .record_login(&login("alice@example.com", Some("Alice"), idp.id, 4))
            .await
            .unwrap();
        let s = session("durable-nonce", user.id, 4, i64::MAX);
        store.create_session(&s).await.unwrap();
        assert!(store.revoke_session(&s.id, 6).await.unwrap());
        store.insert_signing_key(&key).await.unwrap();
        store.insert_auth_log(&log).await.unwrap();
        store
            .put_setting("account_id", "acc-durable")
            .await
            .unwrap();
        store.close().await;
        (
            user,
            SessionRecord {
                revoked_at: Some(6),
                ..s
            },
        )
    };

    let store = crate::open(url).await.unwrap();
    let store = store.as_ref();
    assert_eq!(store.list_login_methods().await.unwrap(), vec![idp]);
    assert_eq!(store.list_applications().await.unwrap(), vec![app]);
    assert_eq!(store.list_users().await.unwrap(), vec![user.clone()]);
    assert_eq!(store.list_user_identities(user.id).await.unwrap().len(), 1);
    assert_eq!(
        store.get_session("durable-nonce").await.unwrap(),
        Some(session_record)
    );
    assert_eq!(
        store.list_revoked_sessions(100).await.unwrap(),
        vec![RevokedSession {
            id: "durable-nonce".into(),
            expires_at: i64::MAX
        }]
    );
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![key]);
    assert_eq!(
        store
            .list_auth_logs(&AuthLogQuery::default())
            .await
            .unwrap(),
        vec![log]
    );
    assert_eq!(
        store.get_setting("account_id").await.unwrap().as_deref(),
        Some("acc-durable")
    );
    store.close().await;
}

// ----- SCIM provisioning -------------------------------------------------------------------------

fn scim_user(idp: Uuid, id: &str, user_name: &str, emails: &[&str]) -> ScimUserRecord {
    ScimUserRecord {
        id: id.into(),
        idp_id: idp,
        user_name: user_name.into(),
        external_id: Some(format!("ext-{id}")),
        display_name: Some(format!("Name of {id}")),
        emails: emails.iter().map(|e| e.to_string()).collect(),
        active: true,
        attributes: json!({"userName": user_name, "displayName": format!("Name of {id}")}),
        registry_user_id: None,
        created_ms: 1_000,
        modified_ms: 1_000,
        version: 1,
    }
}

fn scim_group(idp: Uuid, id: &str, name: &str) -> ScimGroupRecord {
    ScimGroupRecord {
        id: id.into(),
        idp_id: idp,
        display_name: name.into(),
        external_id: Some(format!("ext-{id}")),
        created_ms: 1_000,
        modified_ms: 1_000,
        version: 1,
    }
}

fn member(id: &str) -> ScimMemberRecord {
    ScimMemberRecord {
        value: id.into(),
        display: None,
        kind: None,
    }
}

fn member_ids(members: &[ScimMemberRecord]) -> Vec<&str> {
    members.iter().map(|m| m.value.as_str()).collect()
}

fn patched(result: ScimGroupPatched) -> (ScimGroupRecord, Vec<String>) {
    match result {
        ScimGroupPatched::Done {
            group,
            mut changed_members,
        } => {
            changed_members.sort();
            (group, changed_members)
        }
        other => panic!("expected the patch to apply, got {other:?}"),
    }
}

/// A SCIM-provisioned registry user exists before any login, has no seat, and is the very user
/// a later login updates.
pub async fn scim_provision_user(store: &dyn Store) {
    let u = store
        .provision_user("new@example.com", Some("New Person"), 5)
        .await
        .unwrap();
    assert_eq!(u.email, "new@example.com");
    assert_eq!(u.name.as_deref(), Some("New Person"));
    assert!(!u.seat);
    assert_eq!(u.last_login_at, None);
    let again = store
        .provision_user("new@example.com", Some("Other"), 6)
        .await
        .unwrap();
    assert_eq!(again.id, u.id);
    assert_eq!(again.name.as_deref(), Some("New Person"));
    let logged_in = store
        .record_login(&login("new@example.com", None, Uuid::new_v4(), 7))
        .await
        .unwrap();
    assert_eq!(logged_in.id, u.id);
    assert!(logged_in.seat);
    assert_eq!(logged_in.last_login_at, Some(7));
}

/// SCIM users: insert, get, update with the version check, userName uniqueness per provider
/// (case-insensitively), providers kept apart, paging, counting, delete.
pub async fn scim_users(store: &dyn Store) {
    let idp = Uuid::new_v4();
    let other_idp = Uuid::new_v4();
    let registry = store
        .provision_user("ann@example.com", None, 1)
        .await
        .unwrap();
    let mut ann = scim_user(idp, "u1", "Ann@Example.com", &["Ann@Example.com"]);
    ann.registry_user_id = Some(registry.id);
    store.insert_scim_user(&ann).await.unwrap();
    ann.emails = vec!["ann@example.com".into()];
    assert_eq!(
        store.get_scim_user(idp, "u1").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(store.get_scim_user(other_idp, "u1").await.unwrap(), None);

    let clash = scim_user(idp, "u2", "ann@EXAMPLE.com", &[]);
    assert_eq!(
        conflict(store.insert_scim_user(&clash).await),
        UniqueKey::ScimUserName
    );
    assert_eq!(
        conflict(
            store
                .insert_scim_user(&scim_user(idp, "u1", "x@example.com", &[]))
                .await
        ),
        UniqueKey::ScimResourceId
    );
    // Another provider may use the same userName.
    store
        .insert_scim_user(&scim_user(other_idp, "o1", "ann@example.com", &[]))
        .await
        .unwrap();

    let mut changed = ann.clone();
    changed.active = false;
    changed.version = 2;
    changed.modified_ms = 2_000;
    changed.emails = vec!["ann@example.com".into(), "ann.alt@example.com".into()];
    assert!(store.update_scim_user(&changed).await.unwrap());
    // A second writer that read version 1 loses instead of overwriting.
    assert!(!store.update_scim_user(&changed).await.unwrap());
    let stored = store.get_scim_user(idp, "u1").await.unwrap().unwrap();
    assert!(!stored.active);
    assert_eq!(stored.version, 2);
    assert_eq!(stored.created_ms, 1_000);
    assert_eq!(stored.modified_ms, 2_000);
    assert_eq!(stored.emails, ["ann.alt@example.com", "ann@example.com"]);
    assert_eq!(stored.registry_user_id, Some(registry.id));

    store
        .insert_scim_user(&scim_user(idp, "u2", "bob@example.com", &[]))
        .await
        .unwrap();
    let mut rename = store.get_scim_user(idp, "u2").await.unwrap().unwrap();
    rename.user_name = "ANN@example.com".into();
    rename.version = 2;
    assert!(matches!(
        store.update_scim_user(&rename).await,
        Err(StoreError::Conflict(UniqueKey::ScimUserName))
    ));
    assert!(
        !store
            .update_scim_user(&scim_user(idp, "nobody", "n@example.com", &[]))
            .await
            .unwrap()
    );

    assert_eq!(store.count_scim_users(idp).await.unwrap(), 2);
    assert_eq!(store.count_scim_users(other_idp).await.unwrap(), 1);
    let page: Vec<String> = store
        .list_scim_users(idp, 1, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(page, ["u2"]);
    assert_eq!(store.list_scim_users(idp, 0, 1).await.unwrap().len(), 1);

    let deleted = store.delete_scim_user(idp, "u1").await.unwrap().unwrap();
    assert_eq!(deleted.id, "u1");
    assert_eq!(store.delete_scim_user(idp, "u1").await.unwrap(), None);
    assert_eq!(store.get_scim_user(idp, "u1").await.unwrap(), None);
    // The registry user stays.
    assert!(store.get_user(registry.id).await.unwrap().is_some());
    // The userName is free again.
    store
        .insert_scim_user(&scim_user(idp, "u3", "ann@example.com", &[]))
        .await
        .unwrap();
}

/// Indexed lookups of SCIM users and groups: id and externalId exactly, userName, displayName
/// and every email value case-insensitively, each within its provider.
pub async fn scim_lookups(store: &dyn Store) {
    let idp = Uuid::new_v4();
    let other_idp = Uuid::new_v4();
    store
        .insert_scim_user(&scim_user(
            idp,
            "u1",
            "Ann@Example.com",
            &["Ann@Example.com", "a2@x.org"],
        ))
        .await
        .unwrap();
    store
        .insert_scim_user(&scim_user(
            idp,
            "u2",
            "bob@example.com",
            &["bob@example.com"],
        ))
        .await
        .unwrap();
    store
        .insert_scim_user(&scim_user(
            other_idp,
            "o1",
            "ann@example.com",
            &["ann@example.com"],
        ))
        .await
        .unwrap();
    let ids = |found: Vec<ScimUserRecord>| found.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let find = |by: ScimLookup| async move { store.find_scim_users(idp, &by).await.unwrap() };
    assert_eq!(
        ids(find(ScimLookup::UserName("ANN@example.COM".into())).await),
        ["u1"]
    );
    assert_eq!(
        ids(find(ScimLookup::Email("A2@X.ORG".into())).await),
        ["u1"]
    );
    assert_eq!(
        ids(find(ScimLookup::Email("bob@example.com".into())).await),
        ["u2"]
    );
    assert_eq!(
        ids(find(ScimLookup::ExternalId("ext-u2".into())).await),
        ["u2"]
    );
    assert!(
        find(ScimLookup::ExternalId("EXT-U2".into()))
            .await
            .is_empty()
    );
    assert_eq!(ids(find(ScimLookup::Id("u1".into())).await), ["u1"]);
    assert!(find(ScimLookup::Id("U1".into())).await.is_empty());
    assert_eq!(
        ids(find(ScimLookup::DisplayName("name OF u2".into())).await),
        ["u2"]
    );

    store
        .insert_scim_group(&scim_group(idp, "g1", "Engineering"), &[])
        .await
        .unwrap();
    store
        .insert_scim_group(&scim_group(other_idp, "g2", "Engineering"), &[])
        .await
        .unwrap();
    let groups = |by: ScimLookup| async move {
        store
            .find_scim_groups(idp, &by)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        groups(ScimLookup::DisplayName("engineering".into())).await,
        ["g1"]
    );
    assert_eq!(
        groups(ScimLookup::ExternalId("ext-g1".into())).await,
        ["g1"]
    );
    assert_eq!(groups(ScimLookup::Id("g1".into())).await, ["g1"]);
    assert!(
        groups(ScimLookup::UserName("engineering".into()))
            .await
            .is_empty()
    );
}

/// Groups: create with members, displayName uniqueness, member steps (idempotent add, remove of
/// listed ids only, remove all, replace), the version and If-Match check, rename, the groups of
/// a member, deleting a user drops their memberships, deleting a group.
pub async fn scim_groups(store: &dyn Store) {
    let idp = Uuid::new_v4();
    store
        .insert_scim_group(&scim_group(idp, "g1", "Eng"), &[member("u1"), member("u2")])
        .await
        .unwrap();
    assert_eq!(
        conflict(
            store
                .insert_scim_group(&scim_group(idp, "g2", "ENG"), &[])
                .await
        ),
        UniqueKey::ScimGroupName
    );
    store
        .insert_scim_group(&scim_group(idp, "g2", "Ops"), &[member("u1")])
        .await
        .unwrap();
    assert_eq!(store.count_scim_groups(idp).await.unwrap(), 2);
    assert_eq!(store.list_scim_groups(idp, 0, 10).await.unwrap().len(), 2);
    let members = store.list_scim_group_members("g1").await.unwrap();
    assert_eq!(member_ids(&members), ["u1", "u2"]);
    assert_eq!(store.count_scim_group_members("g1", 10).await.unwrap(), 2);
    assert_eq!(store.count_scim_group_members("g1", 1).await.unwrap(), 1);
    assert_eq!(
        store.count_scim_group_members("nothing", 10).await.unwrap(),
        0
    );

    let patch = |members: Vec<ScimMembersStep>| ScimGroupPatch {
        members,
        at_ms: 5_000,
        ..ScimGroupPatch::default()
    };
    // Adding an existing member changes nothing for it (JumpCloud repeats adds).
    let (group, changed) = patched(
        store
            .patch_scim_group(
                idp,
                "g1",
                &patch(vec![ScimMembersStep::Add(vec![member("u2"), member("u3")])]),
            )
            .await
            .unwrap(),
    );
    assert_eq!(changed, ["u3"]);
    assert_eq!(group.version, 2);
    assert_eq!(group.modified_ms, 5_000);
    let (_, changed) = patched(
        store
            .patch_scim_group(
                idp,
                "g1",
                &patch(vec![ScimMembersStep::Remove(vec![
                    "u1".into(),
                    "nobody".into(),
                ])]),
            )
            .await
            .unwrap(),
    );
    assert_eq!(changed, ["u1"]);
    assert_eq!(
        member_ids(&store.list_scim_group_members("g1").await.unwrap()),
        ["u2", "u3"]
    );
    let (_, changed) = patched(
        store
            .patch_scim_group(
                idp,
                "g1",
                &patch(vec![ScimMembersStep::ReplaceAll(vec![
                    member("u3"),
                    member("u4"),
                ])]),
            )
            .await
            .unwrap(),
    );
    assert_eq!(changed, ["u2", "u4"]);
    // Add then remove in one request: no change for that member.
    let (_, changed) = patched(
        store
            .patch_scim_group(
                idp,
                "g1",
                &patch(vec![
                    ScimMembersStep::Add(vec![member("u9")]),
                    ScimMembersStep::Remove(vec!["u9".into()]),
                ]),
            )
            .await
            .unwrap(),
    );
    assert!(changed.is_empty());

    let stale = ScimGroupPatch {
        display_name: Some("Renamed".into()),
        expected_version: Some(1),
        ..patch(vec![])
    };
    assert_eq!(
        store.patch_scim_group(idp, "g1", &stale).await.unwrap(),
        ScimGroupPatched::VersionMismatch
    );
    assert_eq!(
        store
            .patch_scim_group(Uuid::new_v4(), "g1", &stale)
            .await
            .unwrap(),
        ScimGroupPatched::NotFound
    );
    let current = store.get_scim_group(idp, "g1").await.unwrap().unwrap();
    let rename = ScimGroupPatch {
        display_name: Some("Engineering".into()),
        external_id: Some(None),
        expected_version: Some(current.version),
        ..patch(vec![])
    };
    let (group, changed) = patched(store.patch_scim_group(idp, "g1", &rename).await.unwrap());
    assert!(changed.is_empty());
    assert_eq!(group.display_name, "Engineering");
    assert_eq!(group.external_id, None);
    assert_eq!(group.version, current.version + 1);
    let clash = ScimGroupPatch {
        display_name: Some("ops".into()),
        ..patch(vec![])
    };
    assert!(matches!(
        store.patch_scim_group(idp, "g1", &clash).await,
        Err(StoreError::Conflict(UniqueKey::ScimGroupName))
    ));

    let of_u3: Vec<String> = store
        .scim_groups_of_member(idp, "u3")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.display_name)
        .collect();
    assert_eq!(of_u3, ["Engineering"]);
    store
        .insert_scim_user(&scim_user(idp, "u3", "u3@example.com", &[]))
        .await
        .unwrap();
    let before = store
        .get_scim_group(idp, "g1")
        .await
        .unwrap()
        .unwrap()
        .version;
    store.delete_scim_user(idp, "u3").await.unwrap().unwrap();
    assert_eq!(
        member_ids(&store.list_scim_group_members("g1").await.unwrap()),
        ["u4"]
    );
    assert_eq!(
        store
            .get_scim_group(idp, "g1")
            .await
            .unwrap()
            .unwrap()
            .version,
        before + 1
    );

    let (_, changed) = patched(
        store
            .patch_scim_group(idp, "g1", &patch(vec![ScimMembersStep::RemoveAll]))
            .await
            .unwrap(),
    );
    assert_eq!(changed, ["u4"]);
    assert!(
        store
            .list_scim_group_members("g1")
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        store.delete_scim_group(idp, "g2").await.unwrap(),
        Some(vec!["u1".to_string()])
    );
    assert_eq!(store.delete_scim_group(idp, "g2").await.unwrap(), None);
    assert_eq!(store.get_scim_group(idp, "g2").await.unwrap(), None);
    assert!(
        store
            .list_scim_group_members("g2")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Concurrent member adds to one group (two PATCHes racing) lose nothing.
pub async fn scim_concurrent_member_adds(store: &dyn Store) {
    let idp = Uuid::new_v4();
    store
        .insert_scim_group(&scim_group(idp, "g", "Big"), &[])
        .await
        .unwrap();
    let patches: Vec<ScimGroupPatch> = (0..8)
        .map(|i| ScimGroupPatch {
            members: vec![ScimMembersStep::Add(
                (0..5).map(|j| member(&format!("u{i}-{j}"))).collect(),
            )],
            at_ms: 10,
            ..ScimGroupPatch::default()
        })
        .collect();
    let tasks = patches
        .iter()
        .map(|p| store.patch_scim_group(idp, "g", p))
        .collect();
    for result in futures_join_all(tasks).await {
        patched(result.unwrap());
    }
    assert_eq!(store.list_scim_group_members("g").await.unwrap().len(), 40);
    assert_eq!(
        store
            .get_scim_group(idp, "g")
            .await
            .unwrap()
            .unwrap()
            .version,
        9
    );
}

fn scim_log(idp: Uuid, at: i64, method: &str, success: bool) -> ScimLogRecord {
    ScimLogRecord {
        id: Uuid::new_v4(),
        idp_id: idp,
        logged_ms: at,
        request_method: method.into(),
        resource_type: "USER".into(),
        user_email: Some("Ann@Example.com".into()),
        group_name: None,
        resource_id: Some("u1".into()),
        external_id: Some("ext-1".into()),
        success,
        error_description: (!success).then(|| "userName is required".into()),
        request_body: Some(json!({"userName": "ann@example.com"})),
    }
}

/// The provisioning log: every filter, the time range, order, the cap, retention.
pub async fn scim_logs(store: &dyn Store) {
    let idp = Uuid::new_v4();
    let other_idp = Uuid::new_v4();
    let first = scim_log(idp, 100, "POST", true);
    store.insert_scim_log(&first).await.unwrap();
    assert_eq!(
        conflict(store.insert_scim_log(&first).await),
        UniqueKey::ScimLogId
    );
    store
        .insert_scim_log(&scim_log(idp, 200, "PATCH", false))
        .await
        .unwrap();
    let mut group = scim_log(idp, 300, "PATCH", true);
    group.resource_type = "GROUP".into();
    group.user_email = None;
    group.group_name = Some("Engineering".into());
    group.resource_id = Some("g1".into());
    store.insert_scim_log(&group).await.unwrap();
    store
        .insert_scim_log(&scim_log(other_idp, 150, "POST", true))
        .await
        .unwrap();

    let q = |f: fn(&mut ScimLogQuery)| {
        let mut q = ScimLogQuery {
            idp_id: Some(idp),
            ..ScimLogQuery::default()
        };
        f(&mut q);
        q
    };
    let times =
        |records: Vec<ScimLogRecord>| records.iter().map(|r| r.logged_ms).collect::<Vec<_>>();
    assert_eq!(
        times(store.list_scim_logs(&q(|_| {})).await.unwrap()),
        [300, 200, 100]
    );
    let ascending = store
        .list_scim_logs(&q(|q| q.descending = false))
        .await
        .unwrap();
    assert_eq!(ascending[0], first);
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| q.success = Some(false)))
                .await
                .unwrap()
        ),
        [200]
    );
    let failed = store
        .list_scim_logs(&q(|q| q.success = Some(false)))
        .await
        .unwrap();
    assert_eq!(
        failed[0].error_description.as_deref(),
        Some("userName is required")
    );
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| q.request_method = Some("PATCH".into())))
                .await
                .unwrap()
        ),
        [300, 200]
    );
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| q.resource_type = Some("GROUP".into())))
                .await
                .unwrap()
        ),
        [300]
    );
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| q.group_name = Some("engineering".into())))
                .await
                .unwrap()
        ),
        [300]
    );
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| q.user_email = Some("ann@example.com".into())))
                .await
                .unwrap()
        ),
        [200, 100]
    );
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| q.resource_id = Some("g1".into())))
                .await
                .unwrap()
        ),
        [300]
    );
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| q.external_id = Some("ext-1".into())))
                .await
                .unwrap()
        ),
        [300, 200, 100]
    );
    assert_eq!(
        times(
            store
                .list_scim_logs(&q(|q| {
                    q.since_ms = Some(150);
                    q.until_ms = Some(250);
                }))
                .await
                .unwrap()
        ),
        [200]
    );
    assert_eq!(
        times(store.list_scim_logs(&q(|q| q.limit = 1)).await.unwrap()),
        [300]
    );
    let all = ScimLogQuery::default();
    assert_eq!(store.list_scim_logs(&all).await.unwrap().len(), 4);
    let capped = ScimLogQuery {
        limit: 5_000,
        ..ScimLogQuery::default()
    };
    assert_eq!(capped.effective_limit(), MAX_SCIM_LOG_LIMIT);
    assert_eq!(store.delete_scim_logs_before(200).await.unwrap(), 2);
    assert_eq!(times(store.list_scim_logs(&all).await.unwrap()), [300, 200]);
}
