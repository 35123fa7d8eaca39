//! SCIM rows as the portable schema stores them, their conversion to records, and the small
//! rules about member lists and email keys that every backend applies the same way.

use std::collections::HashSet;

use super::{bool_from, json_from, uuid_from};
use crate::StoreError;
use crate::scim::{ScimGroupRecord, ScimLogRecord, ScimUserRecord};

#[derive(sqlx::FromRow)]
pub(crate) struct ScimUserRow {
    pub(crate) id: String,
    idp_id: String,
    user_name: String,
    external_id: Option<String>,
    display_name_key: Option<String>,
    active: i64,
    attributes: String,
    registry_user_id: Option<String>,
    created_ms: i64,
    modified_ms: i64,
    version: i64,
}

impl ScimUserRow {
    pub(crate) fn into_record(self, emails: Vec<String>) -> Result<ScimUserRecord, StoreError> {
        let attributes = json_from("scim_users.attributes", &self.attributes)?;
        // The display name is kept verbatim in the attributes; the column holds its index key.
        let display_name = attributes
            .get("displayName")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or(self.display_name_key);
        Ok(ScimUserRecord {
            id: self.id,
            idp_id: uuid_from("scim_users.idp_id", &self.idp_id)?,
            user_name: self.user_name,
            external_id: self.external_id,
            display_name,
            emails,
            active: bool_from("scim_users.active", self.active)?,
            attributes,
            registry_user_id: self
                .registry_user_id
                .map(|id| uuid_from("scim_users.registry_user_id", &id))
                .transpose()?,
            created_ms: self.created_ms,
            modified_ms: self.modified_ms,
            version: self.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ScimGroupRow {
    id: String,
    idp_id: String,
    display_name: String,
    external_id: Option<String>,
    created_ms: i64,
    modified_ms: i64,
    version: i64,
}

impl TryFrom<ScimGroupRow> for ScimGroupRecord {
    type Error = StoreError;
    fn try_from(r: ScimGroupRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            idp_id: uuid_from("scim_groups.idp_id", &r.idp_id)?,
            display_name: r.display_name,
            external_id: r.external_id,
            created_ms: r.created_ms,
            modified_ms: r.modified_ms,
            version: r.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ScimLogRow {
    id: String,
    idp_id: String,
    logged_ms: i64,
    request_method: String,
    resource_type: String,
    user_email: Option<String>,
    group_name: Option<String>,
    resource_id: Option<String>,
    external_id: Option<String>,
    success: i64,
    error_description: Option<String>,
    request_body: Option<String>,
}

impl TryFrom<ScimLogRow> for ScimLogRecord {
    type Error = StoreError;
    fn try_from(r: ScimLogRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid_from("scim_logs.id", &r.id)?,
            idp_id: uuid_from("scim_logs.idp_id", &r.idp_id)?,
            logged_ms: r.logged_ms,
            request_method: r.request_method,
            resource_type: r.resource_type,
            user_email: r.user_email,
            group_name: r.group_name,
            resource_id: r.resource_id,
            external_id: r.external_id,
            success: bool_from("scim_logs.success", r.success)?,
            error_description: r.error_description,
            request_body: r
                .request_body
                .map(|b| json_from("scim_logs.request_body", &b))
                .transpose()?,
        })
    }
}

/// Lower-case email values without repeats, as the email index holds them.
pub(crate) fn email_keys(emails: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    emails
        .iter()
        .map(|e| e.to_lowercase())
        .filter(|e| seen.insert(e.clone()))
        .collect()
}

/// Records that `id`'s membership flipped; a member added then removed in one request has not
/// changed.
pub(crate) fn flip(changed: &mut Vec<String>, ids: Vec<String>) {
    for id in ids {
        match changed.iter().position(|c| *c == id) {
            Some(at) => {
                changed.swap_remove(at);
            }
            None => changed.push(id),
        }
    }
}

// ----- SQL shared by the SQLite and PostgreSQL backends -------------------------------------

// Column lists as macros: sqlx takes only static SQL, which `concat!` keeps static.
macro_rules! user_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, idp_id, user_name, external_id, display_name_key, active, attributes, \
             registry_user_id, created_ms, modified_ms, version FROM scim_users ",
            $rest
        )
    };
}
macro_rules! group_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, idp_id, display_name, external_id, created_ms, modified_ms, version \
             FROM scim_groups ",
            $rest
        )
    };
}
macro_rules! log_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, idp_id, logged_ms, request_method, resource_type, user_email, group_name, \
             resource_id, external_id, success, error_description, request_body FROM scim_logs ",
            $rest
        )
    };
}

pub(crate) use {group_select, log_select, user_select};

/// The SCIM email and membership writes, the same SQL on both backends: each backend expands
/// this inside its `scim` module with its own database type (and its own `db_error`, `email_keys`
/// and record types in scope), instead of keeping a copy.
macro_rules! scim_writes {
    ($db:ty) => {
        async fn write_emails(
            tx: &mut Transaction<'static, $db>,
            u: &ScimUserRecord,
        ) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM scim_user_emails WHERE user_id = $1")
                .bind(&u.id)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            for email in email_keys(&u.emails) {
                sqlx::query(
                    "INSERT INTO scim_user_emails (user_id, idp_id, email) VALUES ($1, $2, $3)",
                )
                .bind(&u.id)
                .bind(u.idp_id.to_string())
                .bind(email)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
            Ok(())
        }

        /// Adds members that are not there yet; returns the ids actually added.
        async fn add_members(
            tx: &mut Transaction<'static, $db>,
            group_id: &str,
            members: &[ScimMemberRecord],
        ) -> Result<Vec<String>, StoreError> {
            let mut added = Vec::new();
            for m in members {
                let inserted: Option<String> = sqlx::query_scalar(
                    "INSERT INTO scim_group_members (group_id, member_id, display, kind)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (group_id, member_id) DO NOTHING
                     RETURNING member_id",
                )
                .bind(group_id)
                .bind(&m.value)
                .bind(&m.display)
                .bind(&m.kind)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
                added.extend(inserted);
            }
            Ok(added)
        }

        async fn remove_members(
            tx: &mut Transaction<'static, $db>,
            group_id: &str,
            ids: &[String],
        ) -> Result<Vec<String>, StoreError> {
            let mut removed = Vec::new();
            for id in ids {
                let gone: Option<String> = sqlx::query_scalar(
                    "DELETE FROM scim_group_members WHERE group_id = $1 AND member_id = $2
                     RETURNING member_id",
                )
                .bind(group_id)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
                removed.extend(gone);
            }
            Ok(removed)
        }

        async fn remove_all_members(
            tx: &mut Transaction<'static, $db>,
            group_id: &str,
        ) -> Result<Vec<String>, StoreError> {
            sqlx::query_scalar(
                "DELETE FROM scim_group_members WHERE group_id = $1 RETURNING member_id",
            )
            .bind(group_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)
        }
    };
}
pub(crate) use scim_writes;
