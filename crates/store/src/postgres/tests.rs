//! The conformance suite and the multi-node behaviour on a real PostgreSQL.
//!
//! Runs only when `PORTCULLIS_TEST_POSTGRES` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`): each test creates its own database from that
//! URL and drops it afterwards, so tests run in parallel and leave nothing behind. Without the
//! variable every test here passes after printing that it was skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::broadcast::Receiver;

use super::*;
use crate::ScimMembersStep;
use crate::conformance;

const ENV: &str = "PORTCULLIS_TEST_POSTGRES";

/// A database created for one test, dropped (with any connection left to it) when this goes.
struct TempDb {
    /// The server's URL as the environment gave it, to connect for CREATE/DROP DATABASE.
    admin_url: String,
    name: String,
    url: String,
}

impl TempDb {
    /// A new, empty database; `None` (after saying so) when no server is configured.
    async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var(ENV) else {
            eprintln!("{ENV} is not set: PostgreSQL test skipped");
            return None;
        };
        let name = format!("portcullis_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    async fn open(&self) -> Arc<dyn Store> {
        crate::open(&self.url).await.unwrap()
    }

    /// A plain connection to the test database, for what the store does not offer.
    async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own removes the database.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .unwrap();
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// A store on its own database; the database goes when this does.
struct TempStore {
    store: Arc<dyn Store>,
    _db: TempDb,
}

impl AsRef<dyn Store> for TempStore {
    fn as_ref(&self) -> &(dyn Store + 'static) {
        self.store.as_ref()
    }
}

async fn fresh_store() -> Option<TempStore> {
    let db = TempDb::create().await?;
    Some(TempStore {
        store: db.open().await,
        _db: db,
    })
}

mod conformance_suite {
    crate::conformance_tests!(optional super::fresh_store);
}

/// Within how long another node's change must arrive: the goal is well under a second.
const PROPAGATION: Duration = Duration::from_secs(1);

async fn next_within(rx: &mut Receiver<Change>, limit: Duration) -> Change {
    tokio::time::timeout(limit, rx.recv())
        .await
        .expect("no change arrived in time")
        .expect("change feed closed or lagged")
}

fn login(email: &str, at: i64, seat_limit: Option<u64>) -> LoginRecord {
    LoginRecord {
        email: email.into(),
        name: None,
        idp_id: Uuid::nil(),
        identity: json!({ "email": email }),
        at,
        seat_limit,
    }
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    conformance::durability(&db.url).await;
}

/// A change made through one store reaches another store's subscribers on the same database
/// within a second, and the store that made it tells its own subscribers exactly once.
#[tokio::test]
async fn changes_reach_other_nodes_once() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    let a = db.open().await;
    let b = db.open().await;
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();

    let user = b
        .record_login(&login("x@example.com", 1, None))
        .await
        .unwrap();
    b.create_session(&SessionRecord {
        id: "nonce-1".into(),
        user_id: user.id,
        idp_id: Uuid::nil(),
        identity: json!({}),
        created_at: 1,
        expires_at: 1_000,
        revoked_at: None,
    })
    .await
    .unwrap();
    let started = Instant::now();
    assert!(b.revoke_session("nonce-1", 2).await.unwrap());
    let revoked = Change::SessionRevoked {
        id: "nonce-1".into(),
        expires_at: 1_000,
    };
    assert_eq!(next_within(&mut on_a, PROPAGATION).await, revoked);
    eprintln!("propagation to the other node: {:?}", started.elapsed());
    assert_eq!(next_within(&mut on_b, PROPAGATION).await, revoked);

    // The next change on b's feed is the next write, not an echo of the revocation.
    b.put_setting("k", "v").await.unwrap();
    assert_eq!(
        next_within(&mut on_b, PROPAGATION).await,
        Change::ConfigChanged
    );
    assert_eq!(
        next_within(&mut on_a, PROPAGATION).await,
        Change::ConfigChanged
    );
    // And the generation counter moved for everyone.
    assert_eq!(a.generation().await.unwrap(), b.generation().await.unwrap());
    assert!(a.generation().await.unwrap() >= 2);
    a.close().await;
    b.close().await;
}

/// When the listening connection is killed, the store reconnects, tells its subscribers to
/// reload everything, and hears other nodes' changes again.
#[tokio::test]
async fn a_lost_listener_reconnects_and_asks_for_a_resync() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    let a = db.open().await;
    let b = db.open().await;
    let mut on_a = a.subscribe();

    let mut admin = db.connect().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    // Both stores listen.
    assert_eq!(killed, [true, true]);
    assert_eq!(
        next_within(&mut on_a, Duration::from_secs(5)).await,
        Change::Resync
    );

    // Wait until b's listener is back as well, then a change made on b reaches a again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if listening == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "listeners did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.put_setting("after", "reconnect").await.unwrap();
    assert_eq!(
        next_within(&mut on_a, PROPAGATION).await,
        Change::ConfigChanged
    );
    a.close().await;
    b.close().await;
}

/// Three nodes starting at once on an empty database: one migrates, the others wait for it,
/// and all three work.
#[tokio::test]
async fn concurrent_start_ups_migrate_once() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    let (a, b, c) = tokio::join!(
        crate::open(&db.url),
        crate::open(&db.url),
        crate::open(&db.url)
    );
    let stores = [a.unwrap(), b.unwrap(), c.unwrap()];
    let mut conn = db.connect().await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
    for (i, store) in stores.iter().enumerate() {
        store.put_setting(&format!("node{i}"), "up").await.unwrap();
    }
    assert_eq!(
        stores[0].get_setting("node2").await.unwrap().as_deref(),
        Some("up")
    );
    for store in &stores {
        store.close().await;
    }
}

/// Logins through two nodes at once never hand out more seats than the limit.
#[tokio::test]
async fn seat_limit_holds_across_nodes() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    let a = db.open().await;
    let b = db.open().await;
    let logins: Vec<LoginRecord> = (0..30)
        .map(|i| login(&format!("u{i}@example.com"), i, Some(7)))
        .collect();
    let (on_a, on_b) = logins.split_at(15);
    let (ra, rb) = tokio::join!(
        async {
            let mut seated = 0;
            let results = futures_all(on_a.iter().map(|l| a.record_login(l)).collect()).await;
            for r in results {
                seated += u64::from(r.unwrap().seat);
            }
            seated
        },
        async {
            let mut seated = 0;
            let results = futures_all(on_b.iter().map(|l| b.record_login(l)).collect()).await;
            for r in results {
                seated += u64::from(r.unwrap().seat);
            }
            seated
        }
    );
    assert_eq!(ra + rb, 7);
    assert_eq!(a.count_seats().await.unwrap(), 7);
    a.close().await;
    b.close().await;
}

/// Two nodes PATCH one SCIM group at the same time, a thousand single-member adds each: no
/// member is lost and every change moved the version once.
#[tokio::test]
async fn concurrent_group_patches_from_two_nodes_lose_nothing() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    let a = db.open().await;
    let b = db.open().await;
    let idp = Uuid::new_v4();
    a.insert_scim_group(
        &ScimGroupRecord {
            id: "g".into(),
            idp_id: idp,
            display_name: "Everyone".into(),
            external_id: None,
            created_ms: 1,
            modified_ms: 1,
            version: 1,
        },
        &[],
    )
    .await
    .unwrap();

    /// One node's share: `lanes` concurrent streams of single-member PATCHes.
    async fn adds(store: &dyn Store, idp: Uuid, node: &str, count: usize, lanes: usize) {
        let per_lane = count / lanes;
        let streams = (0..lanes).map(|lane| async move {
            for i in 0..per_lane {
                let patch = ScimGroupPatch {
                    members: vec![ScimMembersStep::Add(vec![ScimMemberRecord {
                        value: format!("{node}-{lane}-{i}"),
                        display: None,
                        kind: None,
                    }])],
                    at_ms: 2,
                    ..ScimGroupPatch::default()
                };
                let done = store.patch_scim_group(idp, "g", &patch).await.unwrap();
                assert!(matches!(done, ScimGroupPatched::Done { .. }), "{done:?}");
            }
        });
        futures_all(streams.collect()).await;
    }
    tokio::join!(
        adds(a.as_ref(), idp, "a", 1000, 4),
        adds(b.as_ref(), idp, "b", 1000, 4)
    );
    assert_eq!(a.list_scim_group_members("g").await.unwrap().len(), 2000);
    assert_eq!(
        b.get_scim_group(idp, "g").await.unwrap().unwrap().version,
        2001
    );
    a.close().await;
    b.close().await;
}

/// Every pooled connection runs with the statement timeout the URL asked for.
#[tokio::test]
async fn connections_carry_the_statement_timeout() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    let store = PgStore::open(&format!("{}?statement_timeout=1500ms", db.url))
        .await
        .unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(shown, "1500ms");
    // And it is enforced.
    let slow = sqlx::query("SELECT pg_sleep(3)").execute(&store.pool).await;
    assert!(slow.is_err());
    store.close().await;
}

/// A uniqueness violation names the rule on PostgreSQL as on SQLite: every constraint name the
/// mapping knows exists in the schema.
#[tokio::test]
async fn every_mapped_constraint_exists() {
    let Some(db) = TempDb::create().await else {
        return;
    };
    let store = db.open().await;
    let mut conn = db.connect().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT conname::text FROM pg_constraint WHERE contype IN ('u', 'p')")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mapped: Vec<&String> = names
        .iter()
        .filter(|n| unique_key(n) != UniqueKey::Other)
        .collect();
    // Fourteen rules, one of them (a SCIM resource id) on two tables.
    assert_eq!(mapped.len(), 15, "{mapped:?}");
    store.close().await;
}

/// Runs futures concurrently on the current task.
async fn futures_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut results = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.extend(done.into_iter().flatten());
    results
}

/// Connecting to a server that is not there fails with a message that names where, never the
/// password. Needs no server.
#[tokio::test]
async fn connection_failures_do_not_leak_the_password() {
    let url = "postgres://portcullis:hunter2@127.0.0.1:1/portcullis?acquire_timeout=1s";
    match crate::open(url).await {
        Err(StoreError::Database(message)) => {
            assert!(message.contains("127.0.0.1:1/portcullis"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
        Err(other) => panic!("expected a database error, got {other}"),
        Ok(_) => panic!("connected to nothing"),
    }
}
