//! Rows as the portable schema stores them (TEXT ids and JSON, INTEGER instants and booleans), and
//! their conversion to and from the records of the API.
//!
//! Nothing here names a backend: the row types decode from any sqlx row whose columns have these
//! plain types, so every backend shares the same conversions and the same corruption checks.

use serde_json::Value;
use uuid::Uuid;

pub(crate) mod objects;
pub(crate) mod scim;

use crate::StoreError;
use crate::records::{
    ApplicationRecord, AuthLogRecord, IdentityRecord, LoginMethodRecord, ServiceTokenRecord,
    SessionRecord, SigningKeyRecord, UserRecord,
};

pub(crate) fn uuid_from(column: &'static str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Corrupt(format!("{column} is not a UUID")))
}

fn opt_uuid_from(column: &'static str, text: Option<String>) -> Result<Option<Uuid>, StoreError> {
    text.map(|t| uuid_from(column, &t)).transpose()
}

pub(crate) fn json_from(column: &'static str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("{column} is not a JSON document")))
}

/// The text form a JSON document is stored in.
pub(crate) fn json_text(value: &Value) -> String {
    // Serialising a `Value` cannot fail: its map keys are strings and it holds no foreign types.
    value.to_string()
}

pub(crate) fn bool_from(column: &'static str, n: i64) -> Result<bool, StoreError> {
    match n {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(StoreError::Corrupt(format!("{column} is not 0 or 1"))),
    }
}

pub(crate) fn bool_int(b: bool) -> i64 {
    i64::from(b)
}

#[derive(sqlx::FromRow)]
pub(crate) struct LoginMethodRow {
    id: String,
    name: String,
    kind: String,
    config: String,
    read_only: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<LoginMethodRow> for LoginMethodRecord {
    type Error = StoreError;
    fn try_from(r: LoginMethodRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid_from("login_methods.id", &r.id)?,
            name: r.name,
            kind: r.kind,
            config: json_from("login_methods.config", &r.config)?,
            read_only: bool_from("login_methods.read_only", r.read_only)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApplicationRow {
    id: String,
    name: String,
    aud: String,
    domain: String,
    config: String,
    read_only: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ApplicationRow> for ApplicationRecord {
    type Error = StoreError;
    fn try_from(r: ApplicationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid_from("applications.id", &r.id)?,
            name: r.name,
            aud: r.aud,
            domain: r.domain,
            config: json_from("applications.config", &r.config)?,
            read_only: bool_from("applications.read_only", r.read_only)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    name: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
    last_seen_identity: Option<String>,
    seat: i64,
    login_blocked_until: Option<i64>,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid_from("users.id", &r.id)?,
            email: r.email,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_login_at: r.last_login_at,
            last_seen_identity: r
                .last_seen_identity
                .map(|t| json_from("users.last_seen_identity", &t))
                .transpose()?,
            seat: bool_from("users.seat", r.seat)?,
            login_blocked_until: r.login_blocked_until,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IdentityRow {
    id: String,
    user_id: String,
    idp_id: String,
    identity: String,
    seen_at: i64,
}

impl TryFrom<IdentityRow> for IdentityRecord {
    type Error = StoreError;
    fn try_from(r: IdentityRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid_from("identities.id", &r.id)?,
            user_id: uuid_from("identities.user_id", &r.user_id)?,
            idp_id: uuid_from("identities.idp_id", &r.idp_id)?,
            identity: json_from("identities.identity", &r.identity)?,
            seen_at: r.seen_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: String,
    user_id: String,
    idp_id: String,
    identity: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            user_id: uuid_from("sessions.user_id", &r.user_id)?,
            idp_id: uuid_from("sessions.idp_id", &r.idp_id)?,
            identity: json_from("sessions.identity", &r.identity)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    kid: String,
    alg: String,
    sealed_private_key: Vec<u8>,
    created_at: i64,
    retired_at: Option<i64>,
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(r: SigningKeyRow) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            sealed_private_key: r.sealed_private_key,
            created_at: r.created_at,
            retired_at: r.retired_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuthLogRow {
    id: String,
    ray_id: String,
    created_at: i64,
    user_email: Option<String>,
    user_id: Option<String>,
    ip_address: Option<String>,
    app_uid: Option<String>,
    app_domain: Option<String>,
    app_name: Option<String>,
    connection: String,
    idp_id: Option<String>,
    action: String,
    allowed: i64,
    reason: Option<String>,
    country: Option<String>,
}

impl TryFrom<AuthLogRow> for AuthLogRecord {
    type Error = StoreError;
    fn try_from(r: AuthLogRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid_from("auth_logs.id", &r.id)?,
            ray_id: r.ray_id,
            created_at: r.created_at,
            user_email: r.user_email,
            user_id: opt_uuid_from("auth_logs.user_id", r.user_id)?,
            ip_address: r.ip_address,
            app_uid: opt_uuid_from("auth_logs.app_uid", r.app_uid)?,
            app_domain: r.app_domain,
            app_name: r.app_name,
            connection: r.connection,
            idp_id: opt_uuid_from("auth_logs.idp_id", r.idp_id)?,
            action: r.action,
            allowed: bool_from("auth_logs.allowed", r.allowed)?,
            reason: r.reason,
            country: r.country,
        })
    }
}

/// Converts every row, failing on the first corrupt one.
pub(crate) fn convert_all<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_values_are_reported_not_guessed() {
        assert!(matches!(
            uuid_from("users.id", "not-a-uuid"),
            Err(StoreError::Corrupt(m)) if m.contains("users.id")
        ));
        assert!(matches!(
            json_from("sessions.identity", "{"),
            Err(StoreError::Corrupt(_))
        ));
        // Only 0 and 1 are booleans: anything else means the row was not written by us.
        assert!(matches!(
            bool_from("users.seat", 2),
            Err(StoreError::Corrupt(_))
        ));
        assert!(!bool_from("users.seat", 0).unwrap());
        assert!(bool_from("users.seat", 1).unwrap());
    }

    #[test]
    fn uuids_are_stored_hyphenated_lowercase() {
        let id = Uuid::parse_str("0F5E2C1A-7B3D-4E8F-9A6C-2D4B8E1F3A7C").unwrap();
        assert_eq!(id.to_string(), "0f5e2c1a-7b3d-4e8f-9a6c-2d4b8e1f3a7c");
        assert_eq!(uuid_from("x", &id.to_string()).unwrap(), id);
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ServiceTokenRow {
    id: String,
    name: String,
    client_id: String,
    secret_hash: String,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<i64>,
    duration: String,
    expires_at: Option<i64>,
    enabled: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ServiceTokenRow> for ServiceTokenRecord {
    type Error = StoreError;
    fn try_from(r: ServiceTokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid_from("service_tokens.id", &r.id)?,
            name: r.name,
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            previous_secret_hash: r.previous_secret_hash,
            previous_secret_expires_at: r.previous_secret_expires_at,
            duration: r.duration,
            expires_at: r.expires_at,
            enabled: bool_from("service_tokens.enabled", r.enabled)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// An `api_tokens` row as `(id, name, token_hash, scope, created_at)`.
pub(crate) fn api_token_from_row(
    (id, name, token_hash, scope, created_at): (String, String, String, String, i64),
) -> Result<crate::records::ApiTokenRecord, StoreError> {
    Ok(crate::records::ApiTokenRecord {
        id: uuid_from("api_tokens.id", &id)?,
        name,
        token_hash,
        scope,
        created_at,
    })
}
