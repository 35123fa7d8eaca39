//! Persistence for Portcullis: login methods, applications, the user registry and identity history,
//! sessions and their revocation, signing keys, the authentication log and small settings, behind
//! one [`Store`] trait, plus a change feed that tells every node what to reload.
//!
//! This is the only crate that knows SQL. Callers open a store with [`open`] and see nothing but the
//! trait and the plain records of [`records`], whichever backend is behind it: SQLite for one
//! node, PostgreSQL for several nodes sharing one database; the `conformance` suite (feature
//! `conformance`) states the behaviour both share. It deliberately does not validate what it stores (email normalisation, config
//! shapes, AUD format are the caller's), does not seal or unseal secrets, and is never called on the
//! request hot path: nodes hold snapshots and keep them current through [`Store::subscribe`].

mod error;
mod feed;
mod postgres;
pub mod records;
mod rows;
pub mod scim;
mod sqlite;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

use std::sync::Arc;

use uuid::Uuid;

pub use error::{StoreError, UniqueKey};
pub use records::{
    AccessObjectRecord, ApiTokenRecord, AppRevocation, ApplicationRecord, AuthLogQuery,
    AuthLogRecord, Change, IdentityRecord, LoginMethodRecord, LoginRecord, MAX_AUTH_LOG_LIMIT,
    ObjectKind, RevokedSession, ServiceTokenRecord, SessionRecord, SigningKeyRecord, UserRecord,
};
pub use scim::{
    MAX_SCIM_LOG_LIMIT, ScimGroupPatch, ScimGroupPatched, ScimGroupRecord, ScimLogQuery,
    ScimLogRecord, ScimLookup, ScimMemberRecord, ScimMembersStep, ScimUserRecord,
};

/// Opens the store a database URL names, creating and migrating the database when needed.
///
/// Called once at start-up. Accepted URLs:
/// - `sqlite://path/to/file.db` (also `sqlite:path`; the file and its parent directory are created
///   when missing) and `sqlite::memory:` (a private database that lives as long as the returned
///   store; for tests);
/// - `postgres://user:password@host:port/database` (also `postgresql://`), for several nodes on
///   one database. The database must exist; its tables are created. Besides what PostgreSQL
///   clients understand (`sslmode=require|verify-ca|verify-full`, `sslrootcert=/path/ca.pem`,
///   `application_name`...), the query string may set `max_connections` (default 10),
///   `min_connections` (default 0), `acquire_timeout` (how long a query waits for a free
///   connection, default `5s`) and `statement_timeout` (default `10s`, `0s` for none);
///   durations take `ms`, `s` or `m`. Changes made by any process on the database reach this
///   store's subscribers through `LISTEN`/`NOTIFY`.
///
/// Fails with [`StoreError::InvalidUrl`] for anything else (the message never repeats a
/// password), with [`StoreError::Database`] when the database cannot be reached, and with
/// [`StoreError::Migration`] when the schema is newer than this build.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        // The URL itself is not repeated: it may carry a password.
        Err(StoreError::InvalidUrl(
            "expected sqlite://path/to/file.db, sqlite::memory: or postgres://user@host/database"
                .into(),
        ))
    }
}

/// Everything Portcullis persists. Implementations are cheap to share (`Arc<dyn Store>`) and safe
/// to call concurrently; every method is one atomic unit, and a method that returned `Ok` has
/// made its write durable.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // ----- login methods -------------------------------------------------------------------------

    /// Creates the login method, or replaces the one with the same id (keeping its `created_at`).
    /// Called when the configuration file is applied and by the admin API. Publishes
    /// [`Change::ConfigChanged`]; fails with [`UniqueKey::LoginMethodName`] when another login
    /// method has the name.
    async fn upsert_login_method(&self, m: &LoginMethodRecord) -> Result<(), StoreError>;

    /// All login methods, by name. Called to build the configuration snapshot.
    async fn list_login_methods(&self) -> Result<Vec<LoginMethodRecord>, StoreError>;

    /// The login method with exactly this name, if any.
    async fn find_login_method_by_name(
        &self,
        name: &str,
    ) -> Result<Option<LoginMethodRecord>, StoreError>;

    /// Removes a login method; returns whether it existed. Identities and sessions that came
    /// through it are kept. Publishes [`Change::ConfigChanged`] when something was removed.
    async fn delete_login_method(&self, id: Uuid) -> Result<bool, StoreError>;

    // ----- applications --------------------------------------------------------------------------

    /// Creates the application, or replaces the one with the same id (keeping its `created_at`).
    /// Publishes [`Change::ConfigChanged`]; fails with [`UniqueKey::ApplicationName`] or
    /// [`UniqueKey::ApplicationAud`] when another application has the name or the AUD.
    async fn upsert_application(&self, a: &ApplicationRecord) -> Result<(), StoreError>;

    /// All applications, by name. Called to build the configuration snapshot.
    async fn list_applications(&self) -> Result<Vec<ApplicationRecord>, StoreError>;

    /// The application with exactly this name, if any.
    async fn find_application_by_name(
        &self,
        name: &str,
    ) -> Result<Option<ApplicationRecord>, StoreError>;

    /// Removes an application; returns whether it existed. Publishes [`Change::ConfigChanged`]
    /// when something was removed.
    async fn delete_application(&self, id: Uuid) -> Result<bool, StoreError>;

    // ----- reusable policies, rule groups, lists ------------------------------------------------

    /// Creates the object, or replaces the one of the same kind and id (keeping its
    /// `created_at`). Publishes [`Change::ConfigChanged`].
    async fn upsert_access_object(&self, o: &AccessObjectRecord) -> Result<(), StoreError>;

    /// Every object of one kind, by id.
    async fn list_access_objects(
        &self,
        kind: ObjectKind,
    ) -> Result<Vec<AccessObjectRecord>, StoreError>;

    /// Removes an object; returns whether it existed. Publishes [`Change::ConfigChanged`] when
    /// something was removed.
    async fn delete_access_object(&self, kind: ObjectKind, id: &str) -> Result<bool, StoreError>;

    // ----- users and identities ------------------------------------------------------------------

    /// Records a successful login, atomically: creates the user on the first login with this email
    /// (a new id), otherwise updates its name (when the login carries one), `last_login_at`,
    /// `updated_at` and last-seen identity; gives the user a seat unless they have none and
    /// `seat_limit` users already hold one (the returned record then has `seat == false` and the
    /// caller refuses the login); appends the identity to the user's history. Concurrent first
    /// logins with one email yield one user, and concurrent logins never exceed the seat limit.
    /// Returns the user as stored afterwards.
    async fn record_login(&self, login: &LoginRecord) -> Result<UserRecord, StoreError>;

    /// Gives or takes a user's seat (an administrator removing a user frees it). Returns `false`
    /// for an unknown user.
    async fn set_user_seat(&self, user_id: Uuid, seat: bool, at: i64) -> Result<bool, StoreError>;

    /// How many users hold a seat.
    async fn count_seats(&self) -> Result<u64, StoreError>;

    /// Frees the seat of every user whose last login was before `inactive_before` (never-logged-in
    /// users count from their creation); returns their ids. Called by the daily seat-expiry job.
    async fn expire_seats(&self, inactive_before: i64, at: i64) -> Result<Vec<Uuid>, StoreError>;

    /// Refuses the user's logins until `until` (an administrator revoked them). Returns `false`
    /// for an unknown user.
    async fn block_user_login(&self, user_id: Uuid, until: i64) -> Result<bool, StoreError>;

    /// The user with this id, if any.
    async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;

    /// The user with exactly this (normalised) email, if any.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    /// All users, by email.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// A user's identity history, newest first (empty for an unknown user).
    async fn list_user_identities(&self, user_id: Uuid) -> Result<Vec<IdentityRecord>, StoreError>;

    // ----- sessions ------------------------------------------------------------------------------

    /// Stores a new global session at login. Fails with [`UniqueKey::SessionId`] when the id is
    /// taken and with [`StoreError::NotFound`] when the user does not exist.
    async fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError>;

    /// The session with this id, revoked or expired ones included (the caller judges), if any.
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Revokes a session at logout. Returns `true` and publishes [`Change::SessionRevoked`] when
    /// this call revoked it; `false` when the session is unknown or already revoked.
    async fn revoke_session(&self, id: &str, at: i64) -> Result<bool, StoreError>;

    /// Revokes every session of a user that is neither revoked nor expired at `at`; returns how
    /// many, and publishes one [`Change::SessionRevoked`] for each.
    async fn revoke_user_sessions(&self, user_id: Uuid, at: i64) -> Result<u64, StoreError>;

    /// A user's sessions that are neither revoked nor expired at `now`, newest first. Called by the
    /// registry views.
    async fn list_user_sessions(
        &self,
        user_id: Uuid,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Sessions revoked and not yet expired at `now`. Called at start-up to fill the in-memory
    /// revocation set that the change feed keeps current afterwards.
    async fn list_revoked_sessions(&self, now: i64) -> Result<Vec<RevokedSession>, StoreError>;

    /// Removes sessions that expired at or before `now`, revoked or not; returns how many.
    /// Called periodically.
    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError>;

    // ----- application-wide revocation -----------------------------------------------------------

    /// Refuses every application token of the application issued at or before `at` ("revoke
    /// existing tokens"). Publishes [`Change::AppTokensRevoked`]; returns `false` for an unknown
    /// application.
    async fn revoke_app_tokens(&self, app_id: Uuid, at: i64) -> Result<bool, StoreError>;

    /// Every application's latest token revocation. Called at start-up and on resynchronisation.
    async fn list_app_revocations(&self) -> Result<Vec<AppRevocation>, StoreError>;

    // ----- service tokens ------------------------------------------------------------------------

    /// Stores a new service token. Publishes [`Change::ServiceTokensChanged`]; fails with
    /// [`UniqueKey::ServiceTokenName`] or [`UniqueKey::ServiceTokenClientId`] on a clash.
    async fn insert_service_token(&self, t: &ServiceTokenRecord) -> Result<(), StoreError>;

    /// Replaces a service token (refresh, rotate, enable, disable, rename), keeping its
    /// `created_at`. Publishes [`Change::ServiceTokensChanged`]; returns `false` when unknown.
    async fn update_service_token(&self, t: &ServiceTokenRecord) -> Result<bool, StoreError>;

    /// The service token with this id, if any.
    async fn get_service_token(&self, id: Uuid) -> Result<Option<ServiceTokenRecord>, StoreError>;

    /// All service tokens, by name. Called at start-up and whenever they change: nodes keep them
    /// in memory to check credentials without the database.
    async fn list_service_tokens(&self) -> Result<Vec<ServiceTokenRecord>, StoreError>;

    /// Deletes a service token (its credentials stop working). Publishes
    /// [`Change::ServiceTokensChanged`]; returns `false` when unknown.
    async fn delete_service_token(&self, id: Uuid) -> Result<bool, StoreError>;

    // ----- signing keys --------------------------------------------------------------------------

    /// Stores a new signing key (its private part sealed by the caller). Publishes
    /// [`Change::SigningKeysChanged`]; fails with [`UniqueKey::SigningKeyId`] when the kid is taken.
    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> Result<(), StoreError>;

    /// All signing keys, newest first: the first unretired one signs, the others still verify.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Marks a key as no longer signing (it is still published). Publishes
    /// [`Change::SigningKeysChanged`]; [`StoreError::NotFound`] for an unknown kid.
    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<(), StoreError>;

    /// Removes a key for good once no token it signed can still be valid. Publishes
    /// [`Change::SigningKeysChanged`]; [`StoreError::NotFound`] for an unknown kid.
    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError>;

    // ----- authentication log --------------------------------------------------------------------

    /// Appends one authentication attempt, allowed or not. Fails with [`UniqueKey::AuthLogId`]
    /// when the id was already recorded.
    async fn insert_auth_log(&self, e: &AuthLogRecord) -> Result<(), StoreError>;

    /// Reads the log: records matching every filter of the query, ordered by creation time
    /// (ties in insertion order), at most [`AuthLogQuery::effective_limit`] of them.
    async fn list_auth_logs(&self, q: &AuthLogQuery) -> Result<Vec<AuthLogRecord>, StoreError>;

    /// Retention: removes records created before `before`; returns how many.
    async fn delete_auth_logs_before(&self, before: i64) -> Result<u64, StoreError>;

    // ----- SCIM provisioning ---------------------------------------------------------------------

    /// Puts a user a SCIM client provisioned into the registry before their first login: creates
    /// them with this (normalised) email, without a seat (a login takes one), or returns the
    /// existing user, whose name is filled in when it had none. Concurrent calls with one email
    /// yield one user.
    async fn provision_user(
        &self,
        email: &str,
        name: Option<&str>,
        at: i64,
    ) -> Result<UserRecord, StoreError>;

    /// Stores a new SCIM user. Fails with [`UniqueKey::ScimUserName`] when the provider already
    /// has a user whose userName equals this one case-insensitively, and with
    /// [`UniqueKey::ScimResourceId`] when the id is taken.
    async fn insert_scim_user(&self, u: &ScimUserRecord) -> Result<(), StoreError>;

    /// Replaces a SCIM user (PUT, PATCH) whose stored version is `u.version - 1`, keeping its
    /// `created_ms`. Returns `false`, changing nothing, when the provider has no such user or
    /// someone else changed it first (the caller re-reads). Fails with
    /// [`UniqueKey::ScimUserName`] when the new userName is another user's.
    async fn update_scim_user(&self, u: &ScimUserRecord) -> Result<bool, StoreError>;

    /// The provider's SCIM user with this id, if any.
    async fn get_scim_user(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimUserRecord>, StoreError>;

    /// The provider's SCIM users that have this indexed value (list filters, login linking), in
    /// creation order. `DisplayName` and `Email` compare case-insensitively.
    async fn find_scim_users(
        &self,
        idp_id: Uuid,
        by: &ScimLookup,
    ) -> Result<Vec<ScimUserRecord>, StoreError>;

    /// One page of the provider's SCIM users in creation order.
    async fn list_scim_users(
        &self,
        idp_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ScimUserRecord>, StoreError>;

    /// How many SCIM users the provider has.
    async fn count_scim_users(&self, idp_id: Uuid) -> Result<u64, StoreError>;

    /// Deletes a SCIM user and its memberships in the provider's groups (whose versions move);
    /// returns the user as it was, or `None` when the provider has no such user. The registry
    /// user it was linked to stays.
    async fn delete_scim_user(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimUserRecord>, StoreError>;

    /// The provider's groups that have `member_id` as a direct member, by display name. Called at
    /// login (automatic identity updates) and to render a user's `groups`.
    async fn scim_groups_of_member(
        &self,
        idp_id: Uuid,
        member_id: &str,
    ) -> Result<Vec<ScimGroupRecord>, StoreError>;

    /// Stores a new group with its members, in one transaction. Fails with
    /// [`UniqueKey::ScimGroupName`] when the provider has a group of that displayName
    /// (case-insensitively) and with [`UniqueKey::ScimResourceId`] when the id is taken.
    async fn insert_scim_group(
        &self,
        g: &ScimGroupRecord,
        members: &[ScimMemberRecord],
    ) -> Result<(), StoreError>;

    /// The provider's group with this id, without members.
    async fn get_scim_group(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimGroupRecord>, StoreError>;

    /// The provider's groups that have this indexed value (`Id`, `ExternalId`, `DisplayName`;
    /// other lookups find nothing), without members.
    async fn find_scim_groups(
        &self,
        idp_id: Uuid,
        by: &ScimLookup,
    ) -> Result<Vec<ScimGroupRecord>, StoreError>;

    /// One page of the provider's groups in creation order, without members.
    async fn list_scim_groups(
        &self,
        idp_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ScimGroupRecord>, StoreError>;

    /// How many groups the provider has.
    async fn count_scim_groups(&self, idp_id: Uuid) -> Result<u64, StoreError>;

    /// A group's direct members, by member id.
    async fn list_scim_group_members(
        &self,
        group_id: &str,
    ) -> Result<Vec<ScimMemberRecord>, StoreError>;

    /// How many direct members a group has, counting no further than `at_most` (so that asking
    /// "more than a thousand?" of a huge group stays cheap).
    async fn count_scim_group_members(
        &self,
        group_id: &str,
        at_most: u64,
    ) -> Result<u64, StoreError>;

    /// Changes a group (PATCH, and PUT as a full replacement) in one transaction that holds the
    /// write lock, so concurrent changes of one group are serialised and none is lost. Member
    /// steps touch only the members they name: adding or removing one member costs the same
    /// whatever the group's size. The version moves by one. Fails with
    /// [`UniqueKey::ScimGroupName`] when a rename clashes.
    async fn patch_scim_group(
        &self,
        idp_id: Uuid,
        id: &str,
        patch: &ScimGroupPatch,
    ) -> Result<ScimGroupPatched, StoreError>;

    /// Deletes a group; returns the ids of its former members, or `None` when the provider has
    /// no such group.
    async fn delete_scim_group(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<Vec<String>>, StoreError>;

    /// Appends one record to the provisioning log. Fails with [`UniqueKey::ScimLogId`] when the
    /// id was already recorded.
    async fn insert_scim_log(&self, e: &ScimLogRecord) -> Result<(), StoreError>;

    /// Reads the provisioning log: records matching every filter of the query, ordered by time
    /// (ties in insertion order), at most [`ScimLogQuery::effective_limit`] of them.
    async fn list_scim_logs(&self, q: &ScimLogQuery) -> Result<Vec<ScimLogRecord>, StoreError>;

    /// Retention: removes records logged before `before_ms`; returns how many.
    async fn delete_scim_logs_before(&self, before_ms: i64) -> Result<u64, StoreError>;

    // ----- settings ------------------------------------------------------------------------------

    /// A small setting (account id, sealing-key check value...), if set.
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets or replaces a setting. Publishes [`Change::ConfigChanged`].
    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;

    // ----- change feed and lifecycle -------------------------------------------------------------

    // ----- admin API tokens ----------------------------------------------------------------------

    /// Stores a new API token. Fails with [`UniqueKey::ApiTokenName`] when the name is taken.
    async fn insert_api_token(&self, t: &ApiTokenRecord) -> Result<(), StoreError>;

    /// The API token whose digest is `token_hash`, if any. Called for each admin API request.
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError>;

    /// All API tokens, by name.
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError>;

    /// Deletes an API token (it stops working at once); `false` when unknown.
    async fn delete_api_token(&self, id: Uuid) -> Result<bool, StoreError>;

    /// Takes or renews the lease `name` for `holder` until `until`: granted when nobody holds it,
    /// when the holder's lease ended at or before `now`, or when `holder` already holds it.
    /// Returns whether `holder` holds it now. Called by scheduled jobs (key rotation, seat
    /// expiry) so that one node of a cluster runs each.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError>;

    /// A number that grows with every write that publishes a [`Change`]. Another process (a CLI,
    /// a second node without a shared feed) polls it and reloads its state when it moves.
    async fn generation(&self) -> Result<i64, StoreError>;

    /// A receiver of every change committed from now on. Called at start-up by each component
    /// that keeps in-memory state; a receiver that lags (`RecvError::Lagged`) has missed events
    /// and must reload everything it holds.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change>;

    /// Closes the database connections, waiting for them to finish. Called at shutdown; the store
    /// refuses work afterwards.
    async fn close(&self);
}
