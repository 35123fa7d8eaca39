//! SCIM users, groups, members and the provisioning log in PostgreSQL.
//!
//! The same one-row-per-membership layout as SQLite. Where SQLite serialises writers with its
//! single write lock, here a group change first locks the group's row (`SELECT ... FOR UPDATE`):
//! concurrent PATCHes of one group, from any node, queue on that lock and none is lost, while
//! changes of different groups run side by side.

use std::collections::HashSet;

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{PgStore, db_error};
use crate::StoreError;
use crate::records::UserRecord;
use crate::rows::scim::{ScimGroupRow, ScimLogRow, ScimUserRow, email_keys, flip};
use crate::rows::scim::{group_select, log_select, user_select};
use crate::rows::{UserRow, bool_int, convert_all, json_text};
use crate::scim::{
    ScimGroupPatch, ScimGroupPatched, ScimGroupRecord, ScimLogQuery, ScimLogRecord, ScimLookup,
    ScimMemberRecord, ScimMembersStep, ScimUserRecord,
};

crate::rows::scim::scim_writes!(Postgres);

impl PgStore {
    pub(super) async fn scim_provision_user(
        &self,
        email: &str,
        name: Option<&str>,
        at: i64,
    ) -> Result<UserRecord, StoreError> {
        // One statement, so that a login racing the provisioning cannot create a second user.
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (id, email, name, created_at, updated_at, seat)
             VALUES ($1, $2, $3, $4, $4, 0)
             ON CONFLICT (email) DO UPDATE SET name = COALESCE(users.name, excluded.name)
             RETURNING id, email, name, created_at, updated_at, last_login_at,
                       last_seen_identity, seat, login_blocked_until",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(email)
        .bind(name)
        .bind(at)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        UserRecord::try_from(row)
    }

    pub(super) async fn scim_insert_user(&self, u: &ScimUserRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO scim_users (id, idp_id, user_name, user_name_key, external_id,
                 display_name_key, active, attributes, registry_user_id, created_ms, modified_ms,
                 version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&u.id)
        .bind(u.idp_id.to_string())
        .bind(&u.user_name)
        .bind(u.user_name.to_lowercase())
        .bind(&u.external_id)
        .bind(u.display_name.as_ref().map(|d| d.to_lowercase()))
        .bind(bool_int(u.active))
        .bind(json_text(&u.attributes))
        .bind(u.registry_user_id.map(|id| id.to_string()))
        .bind(u.created_ms)
        .bind(u.modified_ms)
        .bind(u.version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        write_emails(&mut tx, u).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn scim_update_user(&self, u: &ScimUserRecord) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE scim_users SET user_name = $3, user_name_key = $4, external_id = $5,
                 display_name_key = $6, active = $7, attributes = $8, registry_user_id = $9,
                 modified_ms = $10, version = $11
             WHERE id = $1 AND idp_id = $2 AND version = $11 - 1",
        )
        .bind(&u.id)
        .bind(u.idp_id.to_string())
        .bind(&u.user_name)
        .bind(u.user_name.to_lowercase())
        .bind(&u.external_id)
        .bind(u.display_name.as_ref().map(|d| d.to_lowercase()))
        .bind(bool_int(u.active))
        .bind(json_text(&u.attributes))
        .bind(u.registry_user_id.map(|id| id.to_string()))
        .bind(u.modified_ms)
        .bind(u.version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        write_emails(&mut tx, u).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn user_emails(&self, id: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT email FROM scim_user_emails WHERE user_id = $1 ORDER BY email")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)
    }

    /// Rows to records, with their email values.
    async fn with_emails(&self, rows: Vec<ScimUserRow>) -> Result<Vec<ScimUserRecord>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let emails = self.user_emails(&row.id).await?;
            out.push(row.into_record(emails)?);
        }
        Ok(out)
    }

    pub(super) async fn scim_get_user(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimUserRecord>, StoreError> {
        let row: Option<ScimUserRow> =
            sqlx::query_as(user_select!("WHERE id = $1 AND idp_id = $2"))
                .bind(id)
                .bind(idp_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(self.with_emails(row.into_iter().collect()).await?.pop())
    }

    pub(super) async fn scim_find_users(
        &self,
        idp_id: Uuid,
        by: &ScimLookup,
    ) -> Result<Vec<ScimUserRecord>, StoreError> {
        let (sql, value) = match by {
            ScimLookup::Id(v) => (
                user_select!("WHERE idp_id = $1 AND id = $2 ORDER BY created_ms, id"),
                v.clone(),
            ),
            ScimLookup::ExternalId(v) => (
                user_select!("WHERE idp_id = $1 AND external_id = $2 ORDER BY created_ms, id"),
                v.clone(),
            ),
            ScimLookup::UserName(v) => (
                user_select!("WHERE idp_id = $1 AND user_name_key = $2 ORDER BY created_ms, id"),
                v.to_lowercase(),
            ),
            ScimLookup::DisplayName(v) => (
                user_select!("WHERE idp_id = $1 AND display_name_key = $2 ORDER BY created_ms, id"),
                v.to_lowercase(),
            ),
            ScimLookup::Email(v) => (
                user_select!(
                    "WHERE idp_id = $1 AND id IN
                         (SELECT user_id FROM scim_user_emails WHERE idp_id = $1 AND email = $2)
                     ORDER BY created_ms, id"
                ),
                v.to_lowercase(),
            ),
        };
        let rows: Vec<ScimUserRow> = sqlx::query_as(sql)
            .bind(idp_id.to_string())
            .bind(value)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        self.with_emails(rows).await
    }

    pub(super) async fn scim_list_users(
        &self,
        idp_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ScimUserRecord>, StoreError> {
        let rows: Vec<ScimUserRow> = sqlx::query_as(user_select!(
            "WHERE idp_id = $1 ORDER BY created_ms, id LIMIT $2 OFFSET $3"
        ))
        .bind(idp_id.to_string())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        self.with_emails(rows).await
    }

    pub(super) async fn scim_count(&self, table: Counted, idp_id: Uuid) -> Result<u64, StoreError> {
        let sql = match table {
            Counted::Users => "SELECT COUNT(*) FROM scim_users WHERE idp_id = $1",
            Counted::Groups => "SELECT COUNT(*) FROM scim_groups WHERE idp_id = $1",
        };
        let n: i64 = sqlx::query_scalar(sql)
            .bind(idp_id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(n as u64)
    }

    pub(super) async fn scim_delete_user(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimUserRecord>, StoreError> {
        let Some(user) = self.scim_get_user(idp_id, id).await? else {
            return Ok(None);
        };
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM scim_users WHERE id = $1 AND idp_id = $2")
            .bind(id)
            .bind(idp_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        // The groups that listed the user change (a new version), then lose the member. Their
        // rows are locked first, in id order, so that this cannot deadlock with a group change
        // or another deletion that locks the same groups.
        sqlx::query(
            "SELECT id FROM scim_groups
             WHERE idp_id = $2
               AND id IN (SELECT group_id FROM scim_group_members WHERE member_id = $1)
             ORDER BY id FOR UPDATE",
        )
        .bind(id)
        .bind(idp_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "UPDATE scim_groups SET version = version + 1
             WHERE idp_id = $2
               AND id IN (SELECT group_id FROM scim_group_members WHERE member_id = $1)",
        )
        .bind(id)
        .bind(idp_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "DELETE FROM scim_group_members
             WHERE member_id = $1
               AND group_id IN (SELECT id FROM scim_groups WHERE idp_id = $2)",
        )
        .bind(id)
        .bind(idp_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(user))
    }

    pub(super) async fn scim_groups_of_member(
        &self,
        idp_id: Uuid,
        member_id: &str,
    ) -> Result<Vec<ScimGroupRecord>, StoreError> {
        let rows: Vec<ScimGroupRow> = sqlx::query_as(
            "SELECT g.id, g.idp_id, g.display_name, g.external_id, g.created_ms, g.modified_ms,
                    g.version
             FROM scim_group_members m JOIN scim_groups g ON g.id = m.group_id
             WHERE m.member_id = $1 AND g.idp_id = $2
             ORDER BY g.display_name_key",
        )
        .bind(member_id)
        .bind(idp_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    pub(super) async fn scim_insert_group(
        &self,
        g: &ScimGroupRecord,
        members: &[ScimMemberRecord],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO scim_groups (id, idp_id, display_name, display_name_key, external_id,
                 created_ms, modified_ms, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&g.id)
        .bind(g.idp_id.to_string())
        .bind(&g.display_name)
        .bind(g.display_name.to_lowercase())
        .bind(&g.external_id)
        .bind(g.created_ms)
        .bind(g.modified_ms)
        .bind(g.version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        add_members(&mut tx, &g.id, members).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn scim_get_group(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<ScimGroupRecord>, StoreError> {
        let row: Option<ScimGroupRow> =
            sqlx::query_as(group_select!("WHERE id = $1 AND idp_id = $2"))
                .bind(id)
                .bind(idp_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        row.map(ScimGroupRecord::try_from).transpose()
    }

    pub(super) async fn scim_find_groups(
        &self,
        idp_id: Uuid,
        by: &ScimLookup,
    ) -> Result<Vec<ScimGroupRecord>, StoreError> {
        let (sql, value) = match by {
            ScimLookup::Id(v) => (
                group_select!("WHERE idp_id = $1 AND id = $2 ORDER BY created_ms, id"),
                v.clone(),
            ),
            ScimLookup::ExternalId(v) => (
                group_select!("WHERE idp_id = $1 AND external_id = $2 ORDER BY created_ms, id"),
                v.clone(),
            ),
            ScimLookup::DisplayName(v) => (
                group_select!(
                    "WHERE idp_id = $1 AND display_name_key = $2 ORDER BY created_ms, id"
                ),
                v.to_lowercase(),
            ),
            ScimLookup::UserName(_) | ScimLookup::Email(_) => return Ok(Vec::new()),
        };
        let rows: Vec<ScimGroupRow> = sqlx::query_as(sql)
            .bind(idp_id.to_string())
            .bind(value)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }

    pub(super) async fn scim_list_groups(
        &self,
        idp_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<ScimGroupRecord>, StoreError> {
        let rows: Vec<ScimGroupRow> = sqlx::query_as(group_select!(
            "WHERE idp_id = $1 ORDER BY created_ms, id LIMIT $2 OFFSET $3"
        ))
        .bind(idp_id.to_string())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    pub(super) async fn scim_group_members(
        &self,
        group_id: &str,
    ) -> Result<Vec<ScimMemberRecord>, StoreError> {
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT member_id, display, kind FROM scim_group_members
             WHERE group_id = $1 ORDER BY member_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(value, display, kind)| ScimMemberRecord {
                value,
                display,
                kind,
            })
            .collect())
    }

    pub(super) async fn scim_count_members(
        &self,
        group_id: &str,
        at_most: u64,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM
                 (SELECT 1 FROM scim_group_members WHERE group_id = $1 LIMIT $2) AS counted",
        )
        .bind(group_id)
        .bind(i64::try_from(at_most).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(n as u64)
    }

    pub(super) async fn scim_patch_group(
        &self,
        idp_id: Uuid,
        id: &str,
        patch: &ScimGroupPatch,
    ) -> Result<ScimGroupPatched, StoreError> {
        let mut tx = self.begin_write().await?;
        let version: Option<i64> =
            // The row lock serialises every change of this group, whichever node makes it.
            sqlx::query_scalar(
                "SELECT version FROM scim_groups WHERE id = $1 AND idp_id = $2 FOR UPDATE",
            )
                .bind(id)
                .bind(idp_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let Some(version) = version else {
            return Ok(ScimGroupPatched::NotFound);
        };
        if patch.expected_version.is_some_and(|v| v != version) {
            return Ok(ScimGroupPatched::VersionMismatch);
        }
        let mut changed = Vec::new();
        for step in &patch.members {
            match step {
                ScimMembersStep::Add(members) => {
                    let added = add_members(&mut tx, id, members).await?;
                    flip(&mut changed, added);
                }
                ScimMembersStep::Remove(ids) => {
                    let removed = remove_members(&mut tx, id, ids).await?;
                    flip(&mut changed, removed);
                }
                ScimMembersStep::RemoveAll => {
                    let removed = remove_all_members(&mut tx, id).await?;
                    flip(&mut changed, removed);
                }
                ScimMembersStep::ReplaceAll(members) => {
                    let removed = remove_all_members(&mut tx, id).await?;
                    let added = add_members(&mut tx, id, members).await?;
                    // Members in both lists kept their membership.
                    let kept: HashSet<&String> = removed.iter().collect();
                    let readded: HashSet<&String> = added.iter().collect();
                    let flipped: Vec<String> = removed
                        .iter()
                        .filter(|r| !readded.contains(r))
                        .chain(added.iter().filter(|a| !kept.contains(a)))
                        .cloned()
                        .collect();
                    flip(&mut changed, flipped);
                }
            }
        }
        let row: ScimGroupRow = sqlx::query_as(
            "UPDATE scim_groups SET
                 display_name = COALESCE($3, display_name),
                 display_name_key = COALESCE($4, display_name_key),
                 external_id = CASE WHEN $5 = 1 THEN $6 ELSE external_id END,
                 modified_ms = $7,
                 version = version + 1
             WHERE id = $1 AND idp_id = $2
             RETURNING id, idp_id, display_name, external_id, created_ms, modified_ms, version",
        )
        .bind(id)
        .bind(idp_id.to_string())
        .bind(&patch.display_name)
        .bind(patch.display_name.as_ref().map(|d| d.to_lowercase()))
        .bind(bool_int(patch.external_id.is_some()))
        .bind(patch.external_id.clone().flatten())
        .bind(patch.at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(ScimGroupPatched::Done {
            group: ScimGroupRecord::try_from(row)?,
            changed_members: changed,
        })
    }

    pub(super) async fn scim_delete_group(
        &self,
        idp_id: Uuid,
        id: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM scim_groups WHERE id = $1 AND idp_id = $2 FOR UPDATE",
        )
        .bind(id)
        .bind(idp_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if found.is_none() {
            return Ok(None);
        }
        let members = remove_all_members(&mut tx, id).await?;
        sqlx::query("DELETE FROM scim_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(members))
    }

    pub(super) async fn scim_insert_log(&self, e: &ScimLogRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scim_logs (id, idp_id, logged_ms, request_method, resource_type,
                 user_email, group_name, resource_id, external_id, success, error_description,
                 request_body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(e.id.to_string())
        .bind(e.idp_id.to_string())
        .bind(e.logged_ms)
        .bind(&e.request_method)
        .bind(&e.resource_type)
        .bind(&e.user_email)
        .bind(&e.group_name)
        .bind(&e.resource_id)
        .bind(&e.external_id)
        .bind(bool_int(e.success))
        .bind(&e.error_description)
        .bind(e.request_body.as_ref().map(json_text))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    pub(super) async fn scim_list_logs(
        &self,
        q: &ScimLogQuery,
    ) -> Result<Vec<ScimLogRecord>, StoreError> {
        // One fixed statement per direction; an unset filter is a NULL parameter.
        macro_rules! filtered {
            () => {
                log_select!(
                    "WHERE ($1 IS NULL OR idp_id = $1)
                       AND ($2 IS NULL OR logged_ms >= $2)
                       AND ($3 IS NULL OR logged_ms <= $3)
                       AND ($4 IS NULL OR request_method = $4)
                       AND ($5 IS NULL OR resource_type = $5)
                       AND ($6 IS NULL OR LOWER(user_email) = LOWER($6))
                       AND ($7 IS NULL OR LOWER(group_name) = LOWER($7))
                       AND ($8 IS NULL OR resource_id = $8)
                       AND ($9 IS NULL OR external_id = $9)
                       AND ($10 IS NULL OR success = $10)
                     ORDER BY "
                )
            };
        }
        let sql = if q.descending {
            concat!(filtered!(), "logged_ms DESC, seq DESC LIMIT $11")
        } else {
            concat!(filtered!(), "logged_ms ASC, seq ASC LIMIT $11")
        };
        let rows: Vec<ScimLogRow> = sqlx::query_as(sql)
            .bind(q.idp_id.map(|u| u.to_string()))
            .bind(q.since_ms)
            .bind(q.until_ms)
            .bind(&q.request_method)
            .bind(&q.resource_type)
            .bind(&q.user_email)
            .bind(&q.group_name)
            .bind(&q.resource_id)
            .bind(&q.external_id)
            .bind(q.success.map(bool_int))
            .bind(i64::from(q.effective_limit()))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        convert_all(rows)
    }

    pub(super) async fn scim_delete_logs_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM scim_logs WHERE logged_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}

/// Which SCIM table [`PgStore::scim_count`] counts.
#[derive(Clone, Copy)]
pub(super) enum Counted {
    Users,
    Groups,
}
