//! The plain data the store reads and writes.
//!
//! Every backend speaks these types and nothing else: ids are [`Uuid`]s (or opaque strings where the
//! protocol fixes them, such as session ids and key ids), instants are unix seconds, JSON documents
//! are [`serde_json::Value`]s. Validation (email normalisation, AUD format, config shape) is the
//! caller's job; the store keeps what it is given and enforces only uniqueness and references.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// An identity provider ("login method" in Cloudflare's API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginMethodRecord {
    pub id: Uuid,
    /// Unique among login methods.
    pub name: String,
    /// The provider type, e.g. `"oidc"`.
    pub kind: String,
    /// The provider's configuration, with its secrets already sealed by the caller.
    pub config: Value,
    /// Set for providers declared in the configuration file, which the admin API must not edit.
    pub read_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A protected application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationRecord {
    pub id: Uuid,
    /// Unique among applications.
    pub name: String,
    /// The application's audience tag (64 hex digits), unique among applications.
    pub aud: String,
    pub domain: String,
    /// Everything else about the application (origin, policies, cookie settings...).
    pub config: Value,
    pub read_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What kind of shared access object an [`AccessObjectRecord`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A reusable policy, referenced by applications.
    Policy,
    /// A rule group, referenced by `group` rules.
    RuleGroup,
    /// An email or IP list, referenced by `email_list` and `ip_list` rules.
    List,
}

impl ObjectKind {
    /// The value of the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::RuleGroup => "rule_group",
            Self::List => "list",
        }
    }

    /// The kind a `kind` column holds.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "policy" => Some(Self::Policy),
            "rule_group" => Some(Self::RuleGroup),
            "list" => Some(Self::List),
            _ => None,
        }
    }
}

/// A reusable policy, rule group or list: its declaration as JSON, in the configuration file's
/// shape. The id is unique per kind; what it refers to is the caller's business.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessObjectRecord {
    pub kind: ObjectKind,
    pub id: String,
    pub name: String,
    pub config: Value,
    /// Set for objects declared in the configuration file, which the admin API must not edit.
    pub read_only: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the login flow knows about one successful login, handed to [`crate::Store::record_login`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginRecord {
    /// Already normalised (lowercase) by the caller; it is the user's key.
    pub email: String,
    /// The display name from the IdP, when it sent one. `None` keeps the stored name.
    pub name: Option<String>,
    pub idp_id: Uuid,
    /// The identity as get-identity will show it.
    pub identity: Value,
    /// When the login happened.
    pub at: i64,
    /// The most users that may hold a seat at once; `None` means no limit. A user who has no
    /// seat gets one only while fewer users hold one.
    pub seat_limit: Option<u64>,
}

/// A user of the registry: one per email address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
    pub last_seen_identity: Option<Value>,
    /// Whether the user occupies a seat; a login takes one while seats are left.
    pub seat: bool,
    /// Logins are refused until this instant (set when an administrator revokes the user).
    pub login_blocked_until: Option<i64>,
}

/// One entry of a user's identity history: which IdP vouched for them, with what, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentityRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub idp_id: Uuid,
    pub identity: Value,
    pub seen_at: i64,
}

/// A global session, created at login. Its id is the `identity_nonce` of every token minted from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: Uuid,
    pub idp_id: Uuid,
    pub identity: Value,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A session that was revoked before its expiry: what each node keeps in its in-memory revocation
/// set until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevokedSession {
    pub id: String,
    pub expires_at: i64,
}

/// A service token: machine credentials (client id and secret) that Service Auth policies accept.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceTokenRecord {
    pub id: Uuid,
    /// Unique among service tokens.
    pub name: String,
    /// Unique among service tokens; sent as `CF-Access-Client-Id`.
    pub client_id: String,
    /// SHA-256 of the secret, hex. The secret itself is never stored.
    pub secret_hash: String,
    /// The digest of the secret before the last rotation, accepted until
    /// `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    /// The lifetime chosen at creation, as a Go duration (`8760h`) or `forever`.
    pub duration: String,
    /// `None` for a token that never expires.
    pub expires_at: Option<i64>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

// Digests are not secrets, but they are useless in a log line.
impl std::fmt::Debug for ServiceTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("duration", &self.duration)
            .field("expires_at", &self.expires_at)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// An admin API token: its digest and what it may do.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub id: Uuid,
    /// Unique among API tokens.
    pub name: String,
    /// SHA-256 of the token, hex. The token itself is never stored.
    pub token_hash: String,
    /// `read` or `write`.
    pub scope: String,
    pub created_at: i64,
}

impl std::fmt::Debug for ApiTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// All application tokens of an application issued at or before `at` are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRevocation {
    pub app_id: Uuid,
    pub at: i64,
}

/// A key that signs our tokens.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// JOSE algorithm name, e.g. `"RS256"`.
    pub alg: String,
    /// The private key, sealed by the caller before it reaches the store.
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
    /// When the key stopped signing; it is still published for verification until deleted.
    pub retired_at: Option<i64>,
}

// Sealed bytes are useless in a log line and only make it long; show their size instead.
impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field(
                "sealed_private_key",
                &format_args!("<{} sealed bytes>", self.sealed_private_key.len()),
            )
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// One authentication attempt, with the fields Cloudflare's access log shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthLogRecord {
    pub id: Uuid,
    /// The request id of the attempt.
    pub ray_id: String,
    pub created_at: i64,
    pub user_email: Option<String>,
    pub user_id: Option<Uuid>,
    pub ip_address: Option<String>,
    pub app_uid: Option<Uuid>,
    pub app_domain: Option<String>,
    pub app_name: Option<String>,
    /// The identity provider type, e.g. `"oidc"`.
    pub connection: String,
    pub idp_id: Option<Uuid>,
    /// What was attempted, e.g. `"login"`.
    pub action: String,
    pub allowed: bool,
    /// Why the attempt was refused, when it was.
    pub reason: Option<String>,
    pub country: Option<String>,
}

/// The most records one [`crate::Store::list_auth_logs`] call returns.
pub const MAX_AUTH_LOG_LIMIT: u32 = 1000;

/// Which authentication log records to read. Every filter that is set must match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLogQuery {
    /// Records created at or after this instant.
    pub since: Option<i64>,
    /// Records created at or before this instant.
    pub until: Option<i64>,
    /// Exact (already normalised) user email.
    pub email: Option<String>,
    pub allowed: Option<bool>,
    pub app_uid: Option<Uuid>,
    /// How many records to return at most; values above [`MAX_AUTH_LOG_LIMIT`] mean that cap.
    pub limit: u32,
    /// Newest first when set, oldest first otherwise.
    pub descending: bool,
}

impl AuthLogQuery {
    /// The limit a backend applies: the requested one, capped at [`MAX_AUTH_LOG_LIMIT`].
    pub fn effective_limit(&self) -> u32 {
        self.limit.min(MAX_AUTH_LOG_LIMIT)
    }
}

impl Default for AuthLogQuery {
    /// No filter, the newest 100 records first.
    fn default() -> Self {
        Self {
            since: None,
            until: None,
            email: None,
            allowed: None,
            app_uid: None,
            limit: 100,
            descending: true,
        }
    }
}

/// Something that changed in the store and that every node must apply to its in-memory state.
/// Published only after the change is committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// Tokens carrying this `identity_nonce` must be refused until `expires_at`.
    SessionRevoked { id: String, expires_at: i64 },
    /// Login methods, applications or settings changed: rebuild the configuration snapshot.
    ConfigChanged,
    /// Signing keys were added, retired or removed: reload the key set.
    SigningKeysChanged,
    /// Application tokens of `app_id` issued at or before `at` must be refused.
    AppTokensRevoked { app_id: Uuid, at: i64 },
    /// Service tokens were created, changed or deleted: reload them.
    ServiceTokensChanged,
    /// Changes may have been missed (the connection that carries other nodes' changes was lost
    /// and is back): reload everything. Published by the store itself, never by a write.
    Resync,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_log_limit_is_capped() {
        let q = AuthLogQuery {
            limit: 5000,
            ..AuthLogQuery::default()
        };
        assert_eq!(q.effective_limit(), MAX_AUTH_LOG_LIMIT);
        let q = AuthLogQuery {
            limit: 7,
            ..AuthLogQuery::default()
        };
        assert_eq!(q.effective_limit(), 7);
    }

    #[test]
    fn signing_key_debug_hides_the_sealed_bytes() {
        let k = SigningKeyRecord {
            kid: "k1".into(),
            alg: "RS256".into(),
            sealed_private_key: vec![0xAB; 40],
            created_at: 1,
            retired_at: None,
        };
        let shown = format!("{k:?}");
        assert!(shown.contains("<40 sealed bytes>"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn change_serialises_with_a_type_tag() {
        // The PostgreSQL change feed will carry this form across nodes.
        let c = Change::SessionRevoked {
            id: "n1".into(),
            expires_at: 9,
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "session_revoked", "id": "n1", "expires_at": 9})
        );
        assert_eq!(serde_json::from_value::<Change>(json).unwrap(), c);
    }
}
