use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::conformance;

/// A store on a new database file in its own temporary directory, removed when dropped.
struct TempFileStore {
    store: Arc<dyn Store>,
    dir: PathBuf,
}

impl AsRef<dyn Store> for TempFileStore {
    fn as_ref(&self) -> &(dyn Store + 'static) {
        self.store.as_ref()
    }
}

impl Drop for TempFileStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("portcullis-store-test-{}", Uuid::new_v4()))
}

fn file_url(dir: &Path) -> String {
    format!(
        "sqlite://{}",
        dir.join("nested").join("portcullis.db").display()
    )
}

async fn fresh_file_store() -> TempFileStore {
    let dir = temp_dir();
    let store = crate::open(&file_url(&dir)).await.unwrap();
    TempFileStore { store, dir }
}

async fn fresh_memory_store() -> Arc<dyn Store> {
    crate::open("sqlite::memory:").await.unwrap()
}

mod file {
    crate::conformance_tests!(super::fresh_file_store);
}

mod memory {
    crate::conformance_tests!(super::fresh_memory_store);
}

#[tokio::test]
async fn file_data_survives_close_and_reopen() {
    let dir = temp_dir();
    conformance::durability(&file_url(&dir)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn creates_the_database_file_and_its_directories() {
    let dir = temp_dir();
    let db = dir.join("nested").join("portcullis.db");
    assert!(!dir.exists());
    let store = crate::open(&file_url(&dir)).await.unwrap();
    assert!(db.is_file());
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The connection settings that durability and integrity rest on hold on every pooled connection.
#[tokio::test]
async fn file_connections_use_wal_full_sync_and_foreign_keys() {
    let dir = temp_dir();
    let store = SqliteStore::open(&file_url(&dir)).await.unwrap();
    // Hold every connection at once so that each one is checked, not the same one again.
    let mut conns = Vec::new();
    for _ in 0..FILE_CONNECTIONS {
        conns.push(store.pool.acquire().await.unwrap());
    }
    for conn in &mut conns {
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "synchronous must be FULL");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(busy, BUSY_TIMEOUT.as_millis() as i64);
    }
    drop(conns);
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn memory_stores_are_separate() {
    let a = fresh_memory_store().await;
    let b = fresh_memory_store().await;
    a.put_setting("k", "a").await.unwrap();
    assert_eq!(b.get_setting("k").await.unwrap(), None);
    assert_eq!(a.get_setting("k").await.unwrap().as_deref(), Some("a"));
}

#[tokio::test]
async fn other_schemes_are_refused_without_echoing_the_url() {
    for url in ["mysql://root:hunter2@localhost/x", "portcullis.db", ""] {
        match crate::open(url).await {
            Err(StoreError::InvalidUrl(message)) => {
                assert!(!message.contains("hunter2"), "{message}");
            }
            Err(other) => panic!("{url}: expected InvalidUrl, got {other}"),
            Ok(_) => panic!("{url}: opened"),
        }
    }
}

/// Deleting a user takes their identity history and sessions along (no orphans can be left to
/// be matched by a later user with a recycled id).
#[tokio::test]
async fn deleting_a_user_cascades_to_identities_and_sessions() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    let user = store
        .record_login(&LoginRecord {
            email: "alice@example.com".into(),
            name: None,
            idp_id: Uuid::new_v4(),
            identity: serde_json::json!({}),
            at: 1,
            seat_limit: None,
        })
        .await
        .unwrap();
    store
        .create_session(&SessionRecord {
            id: "s".into(),
            user_id: user.id,
            idp_id: Uuid::new_v4(),
            identity: serde_json::json!({}),
            created_at: 1,
            expires_at: 100,
            revoked_at: None,
        })
        .await
        .unwrap();
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user.id.to_string())
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(store.get_session("s").await.unwrap(), None);
    assert!(
        store
            .list_user_identities(user.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A database written by a newer Portcullis is refused rather than used with the wrong schema.
#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let dir = temp_dir();
    let url = file_url(&dir);
    let store = SqliteStore::open(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations
             (version, description, success, checksum, execution_time)
         VALUES (99999999, 'from the future', 1, x'00', 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    store.close().await;
    assert!(matches!(
        SqliteStore::open(&url).await,
        Err(StoreError::Migration(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A row the store did not write correctly is reported, not turned into a made-up value.
#[tokio::test]
async fn corrupt_rows_are_reported() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    sqlx::query(
        "INSERT INTO users (id, email, created_at, updated_at, seat)
         VALUES ('not-a-uuid', 'x@example.com', 1, 1, 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    assert!(matches!(
        store.list_users().await,
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn unique_violations_name_the_rule() {
    assert_eq!(
        unique_key("UNIQUE constraint failed: applications.aud"),
        UniqueKey::ApplicationAud
    );
    assert_eq!(
        unique_key("UNIQUE constraint failed: login_methods.name"),
        UniqueKey::LoginMethodName
    );
    assert_eq!(unique_key("something else"), UniqueKey::Other);
}

#[test]
fn memory_urls_are_recognised() {
    assert!(is_memory_url("sqlite::memory:"));
    assert!(is_memory_url("sqlite://:memory:"));
    assert!(is_memory_url("sqlite://x?mode=memory"));
    assert!(!is_memory_url("sqlite://data/portcullis.db"));
    assert!(!is_memory_url("sqlite:portcullis.db"));
}
