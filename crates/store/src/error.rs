//! The one error type of the store.

use std::fmt;

/// What went wrong in a store operation. Messages never carry secrets: no bound values, no
/// credentials from a database URL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write would have broken a uniqueness rule; the variant says which one.
    #[error("{0} is already taken")]
    Conflict(UniqueKey),
    /// The operation names something that does not exist (e.g. a session for an unknown user,
    /// retiring an unknown key).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed or refused the operation.
    #[error("database error: {0}")]
    Database(String),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database URL is malformed or names a backend this build does not have.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// A stored value could not be read back into its type (e.g. a malformed UUID or JSON document).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The uniqueness rules the schema enforces, so that callers can say precisely what clashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UniqueKey {
    LoginMethodName,
    ApplicationName,
    ApplicationAud,
    UserEmail,
    SessionId,
    SigningKeyId,
    AuthLogId,
    ServiceTokenName,
    ServiceTokenClientId,
    ApiTokenName,
    /// A SCIM user's userName, unique per identity provider (case-insensitively).
    ScimUserName,
    /// A SCIM group's displayName, unique per identity provider (case-insensitively).
    ScimGroupName,
    /// A SCIM resource id.
    ScimResourceId,
    ScimLogId,
    /// A rule not listed above (e.g. a primary key a caller chose).
    Other,
}

impl fmt::Display for UniqueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LoginMethodName => "login method name",
            Self::ApplicationName => "application name",
            Self::ApplicationAud => "application aud",
            Self::UserEmail => "user email",
            Self::SessionId => "session id",
            Self::SigningKeyId => "signing key id",
            Self::AuthLogId => "authentication log id",
            Self::ServiceTokenName => "service token name",
            Self::ServiceTokenClientId => "service token client id",
            Self::ApiTokenName => "API token name",
            Self::ScimUserName => "SCIM userName",
            Self::ScimGroupName => "SCIM group displayName",
            Self::ScimResourceId => "SCIM resource id",
            Self::ScimLogId => "SCIM log id",
            Self::Other => "a unique value",
        })
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(e.to_string())
    }
}
