//! The PostgreSQL backend, for several gateway nodes sharing one database.
//!
//! The schema mirrors SQLite's column for column (see `migrations/postgres`), so both backends
//! share the row conversions of [`crate::rows`] and, nearly, their SQL. What differs is what the
//! single-writer SQLite gave for free: here concurrent writers are serialised where the contract
//! requires it, with a transaction-scoped advisory lock (the seat count at login) or a row lock
//! (a SCIM group's changes). Migrations are safe when several nodes start at once: sqlx's
//! PostgreSQL migrator holds a database-wide advisory lock while it checks and applies them.
//!
//! The change feed crosses processes: every published change is also sent with `NOTIFY` on
//! [`CHANNEL`], tagged with this process's id, and a background task holds a `LISTEN` connection
//! that forwards other processes' changes to the local subscribers. When that connection is lost
//! and re-established, notifications sent in between are gone, so the task publishes
//! [`Change::Resync`] and subscribers reload everything.

mod options;
mod scim;

/// The access-object queries, shared with the other backend.
mod objects {
    use super::db_error;
    crate::rows::objects::object_queries!(sqlx::Postgres);
}

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::feed::ChangeFeed;
use crate::records::{AccessObjectRecord, ApiTokenRecord, AppRevocation, ObjectKind};
use crate::records::{
    ApplicationRecord, AuthLogQuery, AuthLogRecord, Change, IdentityRecord, LoginMethodRecord,
    LoginRecord, RevokedSession, ServiceTokenRecord, SessionRecord, SigningKeyRecord, UserRecord,
};
use crate::rows::{
    ApplicationRow, AuthLogRow, IdentityRow, LoginMethodRow, ServiceTokenRow, SessionRow,
    SigningKeyRow, UserRow, api_token_from_row, bool_int, convert_all, json_text, uuid_from,
};
use crate::scim::{
    ScimGroupPatch, ScimGroupPatched, ScimGroupRecord, ScimLogQuery, ScimLogRecord, ScimLookup,
    ScimMemberRecord, ScimUserRecord,
};
use crate::{Store, StoreError, UniqueKey};

pub(crate) use options::PgOptions;
use scim::Counted;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The notification channel the change feed travels on.
pub(crate) const CHANNEL: &str = "portcullis_changes";

/// The advisory lock that serialises seat-taking logins across every node, so that the count
/// read before the upsert cannot change under it. Any fixed number works; this one spells
/// "PTCSEATS".
const SEAT_LOCK: i64 = 0x5054_4353_4541_5453;

/// How long the listener waits before trying again after it could not (re)connect.
const LISTEN_RETRY: Duration = Duration::from_millis(500);

/// What one `NOTIFY` carries: the change, and which process made it (that process has already
/// told its own subscribers and ignores its own notifications).
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    origin: Uuid,
    change: Change,
}

pub(crate) struct PgStore {
    pool: PgPool,
    /// A separate one-connection pool for `LISTEN`, so that the listener never waits behind (or
    /// takes a connection from) queries.
    listen_pool: PgPool,
    feed: Arc<ChangeFeed>,
    /// This process's id in the notifications it sends.
    origin: Uuid,
    listener: JoinHandle<()>,
}

impl PgStore {
    /// Connects to the database `url` names, brings its schema up to date, and starts listening
    /// for other processes' changes before returning, so that a caller that loads its state
    /// after `open` misses none of them.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgOptions::parse(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(options.connect.clone())
            .await
            .map_err(|e| connect_error(&options, e))?;
        MIGRATOR.run(&pool).await?;

        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.connect.clone());
        let first = listen(&listen_pool)
            .await
            .map_err(|e| connect_error(&options, e))?;
        let feed = Arc::new(ChangeFeed::new());
        let origin = Uuid::new_v4();
        let listener = tokio::spawn(forward_notices(
            first,
            listen_pool.clone(),
            Arc::clone(&feed),
            origin,
        ));
        tracing::debug!(
            host = options.host(),
            max_connections = options.max_connections,
            statement_timeout_ms = options.statement_timeout.as_millis(),
            "postgres store opened"
        );
        Ok(Self {
            pool,
            listen_pool,
            feed,
            origin,
            listener,
        })
    }

    /// Bumps the generation counter and notifies every process (one statement), then tells this
    /// process's subscribers. Called after the change is committed. A failure is logged, not
    /// returned: the change itself is durable, and other nodes still learn of it through the
    /// generation counter they poll, or at their next full reload.
    async fn publish(&self, change: Change) {
        let notice = Notice {
            origin: self.origin,
            change,
        };
        // Serialising a `Change` cannot fail (strings, numbers and UUIDs only); should it ever,
        // the generation bump still goes out.
        let payload = serde_json::to_string(&notice).unwrap_or_default();
        if let Err(error) = sqlx::query(
            "WITH bumped AS (UPDATE generation SET value = value + 1 WHERE id = 1 RETURNING value)
             SELECT pg_notify($1, $2) FROM bumped",
        )
        .bind(CHANNEL)
        .bind(payload)
        .execute(&self.pool)
        .await
        {
            tracing::warn!(%error, "cannot announce a change to other nodes");
        }
        self.feed.publish(notice.change);
    }

    /// Starts a transaction. PostgreSQL's default isolation (read committed) is enough: the few
    /// operations that must not interleave take an explicit lock.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.map_err(db_error)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// A listener on [`CHANNEL`].
async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnection is ours to do, so that we know when it happened and can ask for a resync.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Forwards other processes' changes to this process's subscribers until the store closes.
/// After the connection was lost and is back, publishes [`Change::Resync`]: notifications sent
/// while it was down are lost for good.
async fn forward_notices(
    mut listener: PgListener,
    pool: PgPool,
    feed: Arc<ChangeFeed>,
    origin: Uuid,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                match serde_json::from_str::<Notice>(notification.payload()) {
                    Ok(notice) if notice.origin == origin => {}
                    Ok(notice) => feed.publish(notice.change),
                    // A newer Portcullis may send a change this build does not know: reloading
                    // everything covers it.
                    Err(error) => {
                        tracing::warn!(%error, "unreadable change notification; reloading");
                        feed.publish(Change::Resync);
                    }
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            lost => {
                if let Err(error) = lost {
                    tracing::warn!(%error, "change feed connection failed; reconnecting");
                } else {
                    tracing::warn!("change feed connection lost; reconnecting");
                }
                drop(listener);
                let Some(again) = reconnect(&pool).await else {
                    return;
                };
                listener = again;
                feed.publish(Change::Resync);
            }
        }
    }
}

/// A new listener, trying until one connects; `None` once the store is closed.
async fn reconnect(pool: &PgPool) -> Option<PgListener> {
    loop {
        match listen(pool).await {
            Ok(listener) => {
                tracing::info!("change feed connection re-established");
                return Some(listener);
            }
            Err(sqlx::Error::PoolClosed) => return None,
            Err(error) => {
                tracing::warn!(%error, "cannot re-establish the change feed connection");
                tokio::time::sleep(LISTEN_RETRY).await;
            }
        }
    }
}

/// A connection failure, said without the URL (it may carry a password).
fn connect_error(options: &PgOptions, e: sqlx::Error) -> StoreError {
    StoreError::Database(format!(
        "cannot connect to PostgreSQL at {}: {}",
        options.host(),
        e
    ))
}

/// Maps a driver error; uniqueness violations become [`StoreError::Conflict`] naming the rule.
fn db_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        return StoreError::Conflict(unique_key(d.constraint().unwrap_or_default()));
    }
    StoreError::Database(e.to_string())
}

/// PostgreSQL names the violated constraint; the migrations name each one.
fn unique_key(constraint: &str) -> UniqueKey {
    match constraint {
        "login_methods_name_key" => UniqueKey::LoginMethodName,
        "applications_name_key" => UniqueKey::ApplicationName,
        "applications_aud_key" => UniqueKey::ApplicationAud,
        "users_email_key" => UniqueKey::UserEmail,
        "sessions_pkey" => UniqueKey::SessionId,
        "signing_keys_pkey" => UniqueKey::SigningKeyId,
        "auth_logs_id_key" => UniqueKey::AuthLogId,
        "service_tokens_name_key" => UniqueKey::ServiceTokenName,
        "api_tokens_name_key" => UniqueKey::ApiTokenName,
        "service_tokens_client_id_key" => UniqueKey::ServiceTokenClientId,
        "scim_users_user_name_key" => UniqueKey::ScimUserName,
        "scim_groups_display_name_key" => UniqueKey::ScimGroupName,
        "scim_users_pkey" | "scim_groups_pkey" => UniqueKey::ScimResourceId,
        "scim_logs_id_key" => UniqueKey::ScimLogId,
        _ => UniqueKey::Other,
    }
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn upsert_login_method(&self, m: &LoginMethodRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_methods (id, name, kind, config, read_only, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name,
                 kind = excluded.kind,
                 config = excluded.config,
                 read_only = excluded.read_only,
                 updated_at = excluded.updated_at",
        )
        .bind(m.id.to_string())
        .bind(&m.name)
        .bind(&m.kind)
        .bind(json_text(&m.config))
        .bind(bool_int(m.read_only))
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.publish(Change::ConfigChanged).await;
        Ok(())
    }

    async fn list_login_methods(&self) -> Result<Vec<LoginMethodRecord>, StoreError> {
        let rows: Vec<LoginMethodRow> = sqlx::query_as(
            "SELECT id, name, kind, config, read_only, created_at, updated_at
             FROM login_methods ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn find_login_method_by_name(
        &self,
        name: &str,
    ) -> Result<Option<LoginMethodRecord>, StoreError> {
        let row: Option<LoginMethodRow> = sqlx::query_as(
            "SELECT id, name, kind, config, read_only, created_at, updated_at
             FROM login_methods WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(LoginMethodRecord::try_from).transpose()
    }

    async fn delete_login_method(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM login_methods WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            self.publish(Change::ConfigChanged).await;
        }
        Ok(deleted)
    }

    async fn upsert_access_object(&self, o: &AccessObjectRecord) -> Result<(), StoreError> {
        objects::upsert_object(&self.pool, o).await?;
        self.publish(Change::ConfigChanged).await;
        Ok(())
    }

    async fn list_access_objects(
        &self,
        kind: ObjectKind,
    ) -> Result<Vec<AccessObjectRecord>, StoreError> {
        objects::list_objects(&self.pool, kind).await
    }

    async fn delete_access_object(&self, kind: ObjectKind, id: &str) -> Result<bool, StoreError> {
        let deleted = objects::delete_object(&self.pool, kind, id).await?;
        if deleted {
            self.publish(Change::ConfigChanged).await;
        }
        Ok(deleted)
    }

    async fn upsert_application(&self, a: &ApplicationRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO applications
                 (id, name, aud, domain, config, read_only, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name,
                 aud = excluded.aud,
                 domain = excluded.domain,
                 config = excluded.config,
                 read_only = excluded.read_only,
                 updated_at = excluded.updated_at",
        )
        .bind(a.id.to_string())
        .bind(&a.name)
        .bind(&a.aud)
        .bind(&a.domain)
        .bind(json_text(&a.config))
        .bind(bool_int(a.read_only))
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.publish(Change::ConfigChanged).await;
        Ok(())
    }

    async fn list_applications(&self) -> Result<Vec<ApplicationRecord>, StoreError> {
        let rows: Vec<ApplicationRow> = sqlx::query_as(
            "SELECT id, name, aud, domain, config, read_only, created_at, updated_at
             FROM applications ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn find_application_by_name(
        &self,
        name: &str,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        let row: Option<ApplicationRow> = sqlx::query_as(
            "SELECT id, name, aud, domain, config, read_only, created_at, updated_at
             FROM applications WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(ApplicationRecord::try_from).transpose()
    }

    async fn delete_application(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM applications WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            self.publish(Change::ConfigChanged).await;
        }
        Ok(deleted)
    }

    async fn record_login(&self, login: &LoginRecord) -> Result<UserRecord, StoreError> {
        let identity = json_text(&login.identity);
        let mut tx = self.begin_write().await?;
        // With a seat limit, logins queue on one advisory lock (held until commit), so the seat
        // count cannot change between this read and the upsert below: concurrent logins, on any
        // node, never exceed the limit. Without one, nothing needs to wait.
        let seat_free = match login.seat_limit {
            None => true,
            Some(limit) => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(SEAT_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE seat = 1")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                (taken as u64) < limit
            }
        };
        // One statement decides between "new user" and "returning user", so two first logins
        // racing on one email cannot create two users.
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users
                 (id, email, name, created_at, updated_at, last_login_at, last_seen_identity, seat)
             VALUES ($1, $2, $3, $4, $4, $4, $5, $6)
             ON CONFLICT (email) DO UPDATE SET
                 name = COALESCE(excluded.name, users.name),
                 updated_at = excluded.updated_at,
                 last_login_at = excluded.last_login_at,
                 last_seen_identity = excluded.last_seen_identity,
                 seat = CASE WHEN users.seat = 1 THEN 1 ELSE excluded.seat END
             RETURNING id, email, name, created_at, updated_at, last_login_at,
                       last_seen_identity, seat, login_blocked_until",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(&login.email)
        .bind(&login.name)
        .bind(login.at)
        .bind(&identity)
        .bind(bool_int(seat_free))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let user = UserRecord::try_from(row)?;

        sqlx::query(
            "INSERT INTO identities (id, user_id, idp_id, identity, seen_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(user.id.to_string())
        .bind(login.idp_id.to_string())
        .bind(&identity)
        .bind(login.at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(user)
    }

    async fn set_user_seat(&self, user_id: Uuid, seat: bool, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET seat = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id.to_string())
            .bind(bool_int(seat))
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_seats(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE seat = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(n as u64)
    }

    async fn expire_seats(&self, inactive_before: i64, at: i64) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE users SET seat = 0, updated_at = $2
             WHERE seat = 1 AND COALESCE(last_login_at, created_at) < $1
             RETURNING id",
        )
        .bind(inactive_before)
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        ids.iter().map(|id| uuid_from("users.id", id)).collect()
    }

    async fn block_user_login(&self, user_id: Uuid, until: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET login_blocked_until = $2 WHERE id = $1")
            .bind(user_id.to_string())
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, name, created_at, updated_at, last_login_at, last_seen_identity, seat, login_blocked_until
             FROM users WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, name, created_at, updated_at, last_login_at, last_seen_identity, seat, login_blocked_until
             FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, email, name, created_at, updated_at, last_login_at, last_seen_identity, seat, login_blocked_until
             FROM users ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn list_user_identities(&self, user_id: Uuid) -> Result<Vec<IdentityRecord>, StoreError> {
        // Identities of one user share no insertion sequence; the id breaks ties in seen_at only
        // to keep the order stable.
        let rows: Vec<IdentityRow> = sqlx::query_as(
            "SELECT id, user_id, idp_id, identity, seen_at
             FROM identities WHERE user_id = $1 ORDER BY seen_at DESC, id DESC",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions
                 (id, user_id, idp_id, identity, created_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id)
        .bind(s.user_id.to_string())
        .bind(s.idp_id.to_string())
        .bind(json_text(&s.identity))
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.revoked_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StoreError::NotFound("user")
            } else {
                db_error(e)
            }
        })?;
        Ok(())
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id, user_id, idp_id, identity, created_at, expires_at, revoked_at
             FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(SessionRecord::try_from).transpose()
    }

    async fn revoke_session(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let expires_at: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2
             WHERE id = $1 AND revoked_at IS NULL
             RETURNING expires_at",
        )
        .bind(id)
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        match expires_at {
            Some(expires_at) => {
                self.publish(Change::SessionRevoked {
                    id: id.to_owned(),
                    expires_at,
                })
                .await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn revoke_user_sessions(&self, user_id: Uuid, at: i64) -> Result<u64, StoreError> {
        let revoked: Vec<(String, i64)> = sqlx::query_as(
            "UPDATE sessions SET revoked_at = $2
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             RETURNING id, expires_at",
        )
        .bind(user_id.to_string())
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let count = revoked.len() as u64;
        for (id, expires_at) in revoked {
            self.publish(Change::SessionRevoked { id, expires_at })
                .await;
        }
        Ok(count)
    }

    async fn list_user_sessions(
        &self,
        user_id: Uuid,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(
            "SELECT id, user_id, idp_id, identity, created_at, expires_at, revoked_at
             FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC, id",
        )
        .bind(user_id.to_string())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn list_revoked_sessions(&self, now: i64) -> Result<Vec<RevokedSession>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, expires_at FROM sessions
             WHERE revoked_at IS NOT NULL AND expires_at > $1
             ORDER BY expires_at, id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, expires_at)| RevokedSession { id, expires_at })
            .collect())
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn revoke_app_tokens(&self, app_id: Uuid, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE applications SET tokens_revoked_at = $2 WHERE id = $1")
            .bind(app_id.to_string())
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        let found = done.rows_affected() > 0;
        if found {
            self.publish(Change::AppTokensRevoked { app_id, at }).await;
        }
        Ok(found)
    }

    async fn list_app_revocations(&self) -> Result<Vec<AppRevocation>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, tokens_revoked_at FROM applications
             WHERE tokens_revoked_at IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|(id, at)| {
                Ok(AppRevocation {
                    app_id: uuid_from("applications.id", &id)?,
                    at,
                })
            })
            .collect()
    }

    async fn insert_service_token(&self, t: &ServiceTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO service_tokens
                 (id, name, client_id, secret_hash, previous_secret_hash,
                  previous_secret_expires_at, duration, expires_at, enabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(&t.client_id)
        .bind(&t.secret_hash)
        .bind(&t.previous_secret_hash)
        .bind(t.previous_secret_expires_at)
        .bind(&t.duration)
        .bind(t.expires_at)
        .bind(bool_int(t.enabled))
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.publish(Change::ServiceTokensChanged).await;
        Ok(())
    }

    async fn update_service_token(&self, t: &ServiceTokenRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE service_tokens SET
                 name = $2, client_id = $3, secret_hash = $4, previous_secret_hash = $5,
                 previous_secret_expires_at = $6, duration = $7, expires_at = $8, enabled = $9,
                 updated_at = $10
             WHERE id = $1",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(&t.client_id)
        .bind(&t.secret_hash)
        .bind(&t.previous_secret_hash)
        .bind(t.previous_secret_expires_at)
        .bind(&t.duration)
        .bind(t.expires_at)
        .bind(bool_int(t.enabled))
        .bind(t.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        let found = done.rows_affected() > 0;
        if found {
            self.publish(Change::ServiceTokensChanged).await;
        }
        Ok(found)
    }

    async fn get_service_token(&self, id: Uuid) -> Result<Option<ServiceTokenRecord>, StoreError> {
        let row: Option<ServiceTokenRow> = sqlx::query_as(
            "SELECT id, name, client_id, secret_hash, previous_secret_hash,
                    previous_secret_expires_at, duration, expires_at, enabled, created_at, updated_at
             FROM service_tokens WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(ServiceTokenRecord::try_from).transpose()
    }

    async fn list_service_tokens(&self) -> Result<Vec<ServiceTokenRecord>, StoreError> {
        let rows: Vec<ServiceTokenRow> = sqlx::query_as(
            "SELECT id, name, client_id, secret_hash, previous_secret_hash,
                    previous_secret_expires_at, duration, expires_at, enabled, created_at, updated_at
             FROM service_tokens ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn delete_service_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM service_tokens WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        let found = done.rows_affected() > 0;
        if found {
            self.publish(Change::ServiceTokensChanged).await;
        }
        Ok(found)
    }

    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, sealed_private_key, created_at, retired_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.sealed_private_key)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.publish(Change::SigningKeysChanged).await;
        Ok(())
    }

    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, alg, sealed_private_key, created_at, retired_at
             FROM signing_keys ORDER BY created_at DESC, kid DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(SigningKeyRecord::from).collect())
    }

    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE signing_keys SET retired_at = $2 WHERE kid = $1")
            .bind(kid)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("signing key"));
        }
        self.publish(Change::SigningKeysChanged).await;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("signing key"));
        }
        self.publish(Change::SigningKeysChanged).await;
        Ok(())
    }

    async fn insert_auth_log(&self, e: &AuthLogRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_logs
                 (id, ray_id, created_at, user_email, user_id, ip_address, app_uid, app_domain,
                  app_name, connection, idp_id, action, allowed, reason, country)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(e.id.to_string())
        .bind(&e.ray_id)
        .bind(e.created_at)
        .bind(&e.user_email)
        .bind(e.user_id.map(|u| u.to_string()))
        .bind(&e.ip_address)
        .bind(e.app_uid.map(|u| u.to_string()))
        .bind(&e.app_domain)
        .bind(&e.app_name)
        .bind(&e.connection)
        .bind(e.idp_id.map(|u| u.to_string()))
        .bind(&e.action)
        .bind(bool_int(e.allowed))
        .bind(&e.reason)
        .bind(&e.country)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn list_auth_logs(&self, q: &AuthLogQuery) -> Result<Vec<AuthLogRecord>, StoreError> {
        // Two fixed statements rather than SQL assembled at run time: an unset filter is a NULL
        // parameter that matches everything.
        let sql = if q.descending {
            "SELECT id, ray_id, created_at, user_email, user_id, ip_address, app_uid, app_domain,
                    app_name, connection, idp_id, action, allowed, reason, country
             FROM auth_logs
             WHERE ($1 IS NULL OR created_at >= $1)
               AND ($2 IS NULL OR created_at <= $2)
               AND ($3 IS NULL OR user_email = $3)
               AND ($4 IS NULL OR allowed = $4)
               AND ($5 IS NULL OR app_uid = $5)
             ORDER BY created_at DESC, seq DESC
             LIMIT $6"
        } else {
            "SELECT id, ray_id, created_at, user_email, user_id, ip_address, app_uid, app_domain,
                    app_name, connection, idp_id, action, allowed, reason, country
             FROM auth_logs
             WHERE ($1 IS NULL OR created_at >= $1)
               AND ($2 IS NULL OR created_at <= $2)
               AND ($3 IS NULL OR user_email = $3)
               AND ($4 IS NULL OR allowed = $4)
               AND ($5 IS NULL OR app_uid = $5)
             ORDER BY created_at ASC, seq ASC
             LIMIT $6"
        };
        let rows: Vec<AuthLogRow> = sqlx::query_as(sql)
            .bind(q.since)
            .bind(q.until)
            .bind(&q.email)
            .bind(q.allowed.map(bool_int))
            .bind(q.app_uid.map(|u| u.to_string()))
            .bind(i64::from(q.effective_limit()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }

    async fn delete_auth_logs_before(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM auth_logs WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn provision_user(
        &self,
        email: &str,
        name: Option<&str>,
        at: i64,
    ) -> Result<UserRecord, StoreError> {
        self.scim_provision_user(email, name, at).await
    }

    async fn insert_scim_user(&self, u: &ScimUserRecord) -> Result<(), StoreError> {
        self.scim_insert_user(u).await
    }

    async fn update_scim_user(&self, u: &ScimUserRecord) -> Result<bool, StoreError> {
        self.scim_update_user(u).await
    }

    async fn get_scim_user(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimUserRecord>, StoreError> {
        self.scim_get_user(idp_id, id).await
    }

    async fn find_scim_users(
        &self,
        idp_id: Uuid,
        by: &ScimLookup,
    ) -> Result<Vec<ScimUserRecord>, StoreError> {
        self.scim_find_users(idp_id, by).await
    }

    async fn list_scim_users(
        &self,
        idp_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ScimUserRecord>, StoreError> {
        self.scim_list_users(idp_id, offset, limit).await
    }

    async fn count_scim_users(&self, idp_id: Uuid) -> Result<u64, StoreError> {
        self.scim_count(Counted::Users, idp_id).await
    }

    async fn delete_scim_user(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimUserRecord>, StoreError> {
        self.scim_delete_user(idp_id, id).await
    }

    async fn scim_groups_of_member(
        &self,
        idp_id: Uuid,
        member_id: &str,
    ) -> Result<Vec<ScimGroupRecord>, StoreError> {
        PgStore::scim_groups_of_member(self, idp_id, member_id).await
    }

    async fn insert_scim_group(
        &self,
        g: &ScimGroupRecord,
        members: &[ScimMemberRecord],
    ) -> Result<(), StoreError> {
        self.scim_insert_group(g, members).await
    }

    async fn get_scim_group(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimGroupRecord>, StoreError> {
        self.scim_get_group(idp_id, id).await
    }

    async fn find_scim_groups(
        &self,
        idp_id: Uuid,
        by: &ScimLookup,
    ) -> Result<Vec<ScimGroupRecord>, StoreError> {
        self.scim_find_groups(idp_id, by).await
    }

    async fn list_scim_groups(
        &self,
        idp_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ScimGroupRecord>, StoreError> {
        self.scim_list_groups(idp_id, offset, limit).await
    }

    async fn count_scim_groups(&self, idp_id: Uuid) -> Result<u64, StoreError> {
        self.scim_count(Counted::Groups, idp_id).await
    }

    async fn list_scim_group_members(
        &self,
        group_id: &str,
    ) -> Result<Vec<ScimMemberRecord>, StoreError> {
        self.scim_group_members(group_id).await
    }

    async fn count_scim_group_members(
        &self,
        group_id: &str,
        at_most: u64,
    ) -> Result<u64, StoreError> {
        self.scim_count_members(group_id, at_most).await
    }

    async fn patch_scim_group(
        &self,
        idp_id: Uuid,
        id: &str,
        patch: &ScimGroupPatch,
    ) -> Result<ScimGroupPatched, StoreError> {
        self.scim_patch_group(idp_id, id, patch).await
    }

    async fn delete_scim_group(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.scim_delete_group(idp_id, id).await
    }

    async fn insert_scim_log(&self, e: &ScimLogRecord) -> Result<(), StoreError> {
        self.scim_insert_log(e).await
    }

    async fn list_scim_logs(&self, q: &ScimLogQuery) -> Result<Vec<ScimLogRecord>, StoreError> {
        self.scim_list_logs(q).await
    }

    async fn delete_scim_logs_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.scim_delete_logs_before(before_ms).await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.publish(Change::ConfigChanged).await;
        Ok(())
    }

    async fn insert_api_token(&self, t: &ApiTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, scope, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(&t.scope)
        .bind(t.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let row: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, name, token_hash, scope, created_at FROM api_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(api_token_from_row).transpose()
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, name, token_hash, scope, created_at FROM api_tokens ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(api_token_from_row).collect()
    }

    async fn delete_api_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        // One statement: take the lease when it is free or expired, renew it when it is ours,
        // leave it alone otherwise (then no row comes back).
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.until <= $3 OR leases.holder = excluded.holder
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now)
        .bind(until)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(taken.is_some())
    }

    async fn generation(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT value FROM generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    async fn close(&self) {
        self.listen_pool.close().await;
        self.listener.abort();
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests;
