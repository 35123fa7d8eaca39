//! The plain data of SCIM provisioning: users, groups, membership changes and the provisioning
//! log, as every backend reads and writes them.
//!
//! The store knows no SCIM protocol: attributes arrive as the JSON the protocol layer
//! canonicalised, with the few values it must index (userName, externalId, emails, displayName)
//! pulled out by the caller. Instants here are unix **milliseconds**, the precision of SCIM's
//! `meta.created` and `meta.lastModified`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A SCIM User of one identity provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScimUserRecord {
    /// Our SCIM id (case-exact, unique across providers).
    pub id: String,
    pub idp_id: Uuid,
    /// Verbatim; unique per provider, compared case-insensitively.
    pub user_name: String,
    /// The identity provider's id for the user (case-exact).
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// Every email value, for `emails.value eq` lookups (compared case-insensitively); read back
    /// lower-case and sorted (the verbatim values are in `attributes`).
    pub emails: Vec<String>,
    /// `false` once the identity provider deactivated the user.
    pub active: bool,
    /// The canonical SCIM attributes (no `id`, `meta` or `schemas`).
    pub attributes: Value,
    /// The registry user this SCIM user stands for, linked by userName or primary email.
    pub registry_user_id: Option<Uuid>,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// Starts at 1 and grows with every change (the ETag).
    pub version: i64,
}

/// A SCIM Group of one identity provider, without its members (they may be many).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimGroupRecord {
    pub id: String,
    pub idp_id: Uuid,
    /// Unique per provider, compared case-insensitively.
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub version: i64,
}

/// One direct member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimMemberRecord {
    /// The member's SCIM id as the client sent it; it may name a user not provisioned yet.
    pub value: String,
    pub display: Option<String>,
    /// `User` or `Group` when the client said.
    pub kind: Option<String>,
}

/// An indexed attribute to find SCIM users or groups by; values compare as the SCIM schema says
/// (`id` and `externalId` exactly, the others case-insensitively).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScimLookup {
    Id(String),
    ExternalId(String),
    UserName(String),
    DisplayName(String),
    /// Any of the user's email values.
    Email(String),
}

/// One step of a group membership change, run in request order inside one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScimMembersStep {
    /// Adds these members; an existing member is left as it is (adds are idempotent).
    Add(Vec<ScimMemberRecord>),
    /// Removes these member ids; absent ones are ignored.
    Remove(Vec<String>),
    /// Removes every member.
    RemoveAll,
    /// Makes the member list exactly this.
    ReplaceAll(Vec<ScimMemberRecord>),
}

/// What a group PATCH changes, applied atomically by [`crate::Store::patch_scim_group`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimGroupPatch {
    pub display_name: Option<String>,
    /// `Some(None)` removes the external id.
    pub external_id: Option<Option<String>>,
    pub members: Vec<ScimMembersStep>,
    /// Refuse the change unless the group is at this version (`If-Match`).
    pub expected_version: Option<i64>,
    /// When the change happens (the new `modified_ms`).
    pub at_ms: i64,
}

/// The result of a group PATCH.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScimGroupPatched {
    /// No such group for this provider.
    NotFound,
    /// The group is not at `expected_version`; nothing was changed.
    VersionMismatch,
    /// Applied: the group afterwards, and the member ids whose membership changed (added or
    /// removed), so that the caller can act on exactly those users.
    Done {
        group: ScimGroupRecord,
        changed_members: Vec<String>,
    },
}

/// One SCIM request, as the provisioning log shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScimLogRecord {
    pub id: Uuid,
    pub idp_id: Uuid,
    /// Unix milliseconds.
    pub logged_ms: i64,
    /// `POST`, `PUT`, `PATCH`, `DELETE` (or `GET`).
    pub request_method: String,
    /// `USER` or `GROUP`.
    pub resource_type: String,
    pub user_email: Option<String>,
    pub group_name: Option<String>,
    /// Our SCIM id of the resource.
    pub resource_id: Option<String>,
    /// The identity provider's id of the resource (`externalId`).
    pub external_id: Option<String>,
    /// `SUCCESS` when true, `FAILURE` otherwise.
    pub success: bool,
    pub error_description: Option<String>,
    /// The request body with secrets (such as `password`) removed.
    pub request_body: Option<Value>,
}

/// The most records one [`crate::Store::list_scim_logs`] call returns.
pub const MAX_SCIM_LOG_LIMIT: u32 = 1000;

/// Which provisioning log records to read. Every filter that is set must match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimLogQuery {
    pub idp_id: Option<Uuid>,
    /// Records logged at or after this instant (unix milliseconds).
    pub since_ms: Option<i64>,
    /// Records logged at or before this instant (unix milliseconds).
    pub until_ms: Option<i64>,
    pub request_method: Option<String>,
    pub resource_type: Option<String>,
    /// Compared case-insensitively.
    pub user_email: Option<String>,
    /// Compared case-insensitively.
    pub group_name: Option<String>,
    pub resource_id: Option<String>,
    pub external_id: Option<String>,
    pub success: Option<bool>,
    /// How many records at most; values above [`MAX_SCIM_LOG_LIMIT`] mean that cap.
    pub limit: u32,
    /// Newest first when set, oldest first otherwise.
    pub descending: bool,
}

impl ScimLogQuery {
    /// The limit a backend applies: the requested one, capped at [`MAX_SCIM_LOG_LIMIT`].
    pub fn effective_limit(&self) -> u32 {
        self.limit.min(MAX_SCIM_LOG_LIMIT)
    }
}

impl Default for ScimLogQuery {
    /// No filter, the newest 100 records first.
    fn default() -> Self {
        Self {
            idp_id: None,
            since_ms: None,
            until_ms: None,
            request_method: None,
            resource_type: None,
            user_email: None,
            group_name: None,
            resource_id: None,
            external_id: None,
            success: None,
            limit: 100,
            descending: true,
        }
    }
}
