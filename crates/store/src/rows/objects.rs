//! Reusable policies, rule groups and lists: their row, and the queries both backends run on it
//! (the SQL is portable, so it is written once and expanded per backend by [`object_queries!`]).

use super::{bool_from, json_from};
use crate::StoreError;
use crate::records::{AccessObjectRecord, ObjectKind};

#[derive(sqlx::FromRow)]
pub(crate) struct AccessObjectRow {
    kind: String,
    id: String,
    name: String,
    config: String,
    read_only: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AccessObjectRow> for AccessObjectRecord {
    type Error = StoreError;
    fn try_from(r: AccessObjectRow) -> Result<Self, StoreError> {
        Ok(Self {
            kind: ObjectKind::parse(&r.kind).ok_or_else(|| {
                StoreError::Corrupt(format!("access_objects.kind `{}` is unknown", r.kind))
            })?,
            id: r.id,
            name: r.name,
            config: json_from("access_objects.config", &r.config)?,
            read_only: bool_from("access_objects.read_only", r.read_only)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Expands to `upsert_object`, `list_objects` and `delete_object` for one sqlx database type;
/// the caller provides `db_error` in scope.
macro_rules! object_queries {
    ($db:ty) => {
        pub(crate) async fn upsert_object(
            pool: &sqlx::Pool<$db>,
            o: &$crate::records::AccessObjectRecord,
        ) -> Result<(), $crate::StoreError> {
            sqlx::query(
                "INSERT INTO access_objects
                     (kind, id, name, config, read_only, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (kind, id) DO UPDATE SET
                     name = excluded.name,
                     config = excluded.config,
                     read_only = excluded.read_only,
                     updated_at = excluded.updated_at",
            )
            .bind(o.kind.as_str())
            .bind(&o.id)
            .bind(&o.name)
            .bind($crate::rows::json_text(&o.config))
            .bind($crate::rows::bool_int(o.read_only))
            .bind(o.created_at)
            .bind(o.updated_at)
            .execute(pool)
            .await
            .map_err(db_error)?;
            Ok(())
        }

        pub(crate) async fn list_objects(
            pool: &sqlx::Pool<$db>,
            kind: $crate::records::ObjectKind,
        ) -> Result<Vec<$crate::records::AccessObjectRecord>, $crate::StoreError> {
            let rows: Vec<$crate::rows::objects::AccessObjectRow> = sqlx::query_as(
                "SELECT kind, id, name, config, read_only, created_at, updated_at
                 FROM access_objects WHERE kind = $1 ORDER BY id",
            )
            .bind(kind.as_str())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.into_iter().map(TryFrom::try_from).collect()
        }

        pub(crate) async fn delete_object(
            pool: &sqlx::Pool<$db>,
            kind: $crate::records::ObjectKind,
            id: &str,
        ) -> Result<bool, $crate::StoreError> {
            let done = sqlx::query("DELETE FROM access_objects WHERE kind = $1 AND id = $2")
                .bind(kind.as_str())
                .bind(id)
                .execute(pool)
                .await
                .map_err(db_error)?;
            Ok(done.rows_affected() > 0)
        }
    };
}
pub(crate) use object_queries;
